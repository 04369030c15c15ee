// Package gatehouse holds the vocabulary shared by every part of the service: the one error type with
// its stable codes. Domain packages, adapters and the HTTP layer all speak in these terms; only the HTTP
// layer turns them into status codes and RFC 9457 problem responses.
package gatehouse

import (
	"errors"
	"fmt"
)

// Error codes. They are part of the public contract (the problem response's `code` is derived from
// them) and never change meaning.
const (
	EINVALID         = "invalid"         // the request is malformed or fails validation (400/422)
	EUNAUTHENTICATED = "unauthenticated" // no or bad credentials (401)
	EFORBIDDEN       = "forbidden"       // authenticated but not allowed (403)
	ENOTFOUND        = "not_found"       // the resource does not exist, or is not the caller's (404)
	ECONFLICT        = "conflict"        // the change clashes with existing state (409)
	ERATELIMITED     = "rate_limited"    // a limit was reached (429)
	EUNAVAILABLE     = "unavailable"     // a dependency is down; fail closed (503)
	EINTERNAL        = "internal"        // a bug or an unexpected failure (500)
)

// Error is the one error type of the service. Code is one of the E* constants; Message is safe to show
// to a client; Reason is an optional finer machine word (for example "email_not_verified") that the HTTP
// layer uses as the problem's `code` when set; Field names the offending input when there is one; Err is
// the wrapped cause, which is logged but never shown.
type Error struct {
	Code    string
	Reason  string
	Message string
	Field   string
	Err     error
}

func (e *Error) Error() string {
	msg := e.Message
	if msg == "" {
		msg = e.Code
	}
	if e.Err != nil {
		return fmt.Sprintf("%s: %v", msg, e.Err)
	}
	return msg
}

func (e *Error) Unwrap() error { return e.Err }

// Errorf returns an *Error with the given code and a client-safe formatted message.
func Errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// Wrap returns an *Error with the given code and message whose cause is err.
func Wrap(code, message string, err error) *Error {
	return &Error{Code: code, Message: message, Err: err}
}

// ErrorCode returns the code of the first *Error in err's chain, EINTERNAL for any other non-nil
// error, and "" for nil.
func ErrorCode(err error) string {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return EINTERNAL
}

// ErrorMessage returns the client-safe message of the first *Error in err's chain, or a generic text.
func ErrorMessage(err error) string {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) && e.Message != "" {
		return e.Message
	}
	return "An internal error occurred."
}
