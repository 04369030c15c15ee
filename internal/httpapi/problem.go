package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gatehouse/gatehouse"
	"github.com/gatehouse/gatehouse/internal/ephemeral"
	"github.com/gatehouse/gatehouse/internal/otp"
	"github.com/gatehouse/gatehouse/internal/phone"
	"github.com/gatehouse/gatehouse/internal/records"
	"github.com/gatehouse/gatehouse/internal/requestid"
)

// ProblemTypeBase prefixes a problem's code to make its `type` URI, one per code
// ("https://gatehouse.dev/problems/not_found"). The URI identifies the kind of problem; docs/api.md
// describes each code.
const ProblemTypeBase = "https://gatehouse.dev/problems/"

// Reasons (gatehouse.Error.Reason) that choose a status of their own; every other reason keeps the
// status of its error code and only becomes the problem's `code`.
const (
	// ReasonValidationFailed marks an EINVALID error about well-formed input that breaks a rule (a
	// short password, a malformed email address): 422 rather than 400. Wrap several field errors in
	// one with errors.Join to report them all.
	ReasonValidationFailed = "validation_failed"
	// ReasonUnsupportedMediaType marks a body that is not application/json: 415.
	ReasonUnsupportedMediaType = "unsupported_media_type"
	// ReasonRequestTooLarge marks a body over the configured limit: 413.
	ReasonRequestTooLarge = "request_too_large"
)

// Problem is an RFC 9457 problem details object, the body of every error response.
type Problem struct {
	Type      string       `json:"type"`
	Title     string       `json:"title"`
	Status    int          `json:"status"`
	Detail    string       `json:"detail,omitempty"`
	Code      string       `json:"code"`
	RequestID string       `json:"request_id"`
	Timestamp time.Time    `json:"timestamp"`
	Errors    []FieldError `json:"errors,omitempty"`
}

// FieldError names one offending input of a request.
type FieldError struct {
	Field   string `json:"field"`
	Message string `json:"message"`
}

// internalDetail is all a client learns about a 500: the cause is logged with the request id.
const internalDetail = "An internal error occurred. Quote the request id when you report it."

// statusFor maps an error code, refined by its reason, to an HTTP status. This function is the only
// place where codes become statuses.
func statusFor(code, reason string) int {
	if strings.HasPrefix(reason, "password_") { // a password policy rule failed (password.Policy)
		return http.StatusUnprocessableEntity
	}
	switch reason {
	case ReasonValidationFailed, phone.Reason:
		return http.StatusUnprocessableEntity
	case ReasonUnsupportedMediaType:
		return http.StatusUnsupportedMediaType
	case ReasonRequestTooLarge:
		return http.StatusRequestEntityTooLarge
	}
	switch code {
	case gatehouse.EINVALID:
		return http.StatusBadRequest
	case gatehouse.EUNAUTHENTICATED:
		return http.StatusUnauthorized
	case gatehouse.EFORBIDDEN:
		return http.StatusForbidden
	case gatehouse.ENOTFOUND:
		return http.StatusNotFound
	case gatehouse.ECONFLICT:
		return http.StatusConflict
	case gatehouse.ERATELIMITED:
		return http.StatusTooManyRequests
	case gatehouse.EUNAVAILABLE:
		return http.StatusServiceUnavailable
	default:
		return http.StatusInternalServerError
	}
}

// The headers of a refusal by a rate limit: Retry-After (RFC 9110) and the IETF RateLimit header
// fields (draft-ietf-httpapi-ratelimit-headers).
const (
	headerRetryAfter      = "Retry-After"
	headerRateLimitPolicy = "RateLimit-Policy"
	headerRateLimit       = "RateLimit"
)

// otpUnavailableRetryAfter is the Retry-After of a 503 otp_unavailable (the ephemeral store that
// holds the codes and counters is down): long enough not to hammer it, short enough for a blip.
const otpUnavailableRetryAfter = 5 * time.Second

// rateLimitError is an error that carries the headers of a refusal by a limit: the OTP engine's
// *otp.LimitError (cooldown, quotas, SMS budget).
type rateLimitError interface {
	RetryAfterSeconds() int
	RateLimitPolicyField() string
	RateLimitField() string
}

// setRetryHeaders sets the headers that tell a refused client when to come back: from a limit error
// in err's tree, Retry-After and, when it names a quota, RateLimit-Policy and RateLimit; for a 503
// otp_unavailable, a short Retry-After. It reports whether err is a limit's refusal (an expected
// answer, not a fault, even when it is a 503).
func setRetryHeaders(h http.Header, err error, reason string) (limited bool) {
	var rl rateLimitError
	if errors.As(err, &rl) {
		h.Set(headerRetryAfter, strconv.Itoa(max(rl.RetryAfterSeconds(), 1)))
		if v := rl.RateLimitPolicyField(); v != "" {
			h.Set(headerRateLimitPolicy, v)
		}
		if v := rl.RateLimitField(); v != "" {
			h.Set(headerRateLimit, v)
		}
		return true
	}
	if reason == otp.ReasonUnavailable {
		h.Set(headerRetryAfter, strconv.Itoa(int(otpUnavailableRetryAfter/time.Second)))
	}
	return false
}

// statusClientClosedRequest is what the access log and metrics record when the client went away
// before an answer was ready (the status nginx made common; the client never sees it).
const statusClientClosedRequest = 499

// writeError answers a request with the problem that err describes. The status comes from err's
// gatehouse.Error code (statusFor); the problem's code is the error's Reason when set, else its
// Code; the detail is the error's client-safe Message, except for internal errors, which get a
// generic text. Every *gatehouse.Error in err's tree (errors.Join) that names a Field becomes an
// entry of `errors`. A refusal by a limit (the OTP engine's *otp.LimitError) also gets Retry-After
// and the RateLimit headers (setRetryHeaders). A 5xx is logged with its cause, once, here, and sent
// to Sentry, unless it is a limit's refusal (the spent SMS budget).
func (s *Server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	if err == nil {
		err = errors.New("writeError called with a nil error")
	}
	st := stateFrom(r.Context())
	if ctxErr := r.Context().Err(); ctxErr != nil && errors.Is(err, context.Canceled) {
		// The client is gone; nobody reads the answer and nothing is broken.
		s.logger.LogAttrs(r.Context(), slog.LevelInfo, "request cancelled by the client",
			slog.String("request_id", requestid.FromContext(r.Context())))
		s.writeProblem(w, r, Problem{Status: statusClientClosedRequest, Code: "client_closed_request",
			Detail: "The request was cancelled."})
		return
	}

	err = classifyStoreError(err)
	code, reason := gatehouse.EINTERNAL, ""
	var ge *gatehouse.Error
	if errors.As(err, &ge) {
		code, reason = ge.Code, ge.Reason
	}
	p := Problem{Status: statusFor(code, reason), Code: code}
	if reason != "" {
		p.Code = reason
	}
	switch {
	case ge == nil && errors.Is(err, context.DeadlineExceeded):
		// A bare timeout from below (a dependency too slow): unavailable, not a bug.
		p.Status, p.Code = http.StatusServiceUnavailable, gatehouse.EUNAVAILABLE
		p.Detail = "A service gatehouse depends on did not answer in time. Try again later."
	case p.Status == http.StatusInternalServerError:
		p.Code = gatehouse.EINTERNAL
		p.Detail = internalDetail
	default:
		p.Detail = gatehouse.ErrorMessage(err)
		p.Errors = fieldErrors(err, nil)
	}
	if p.Status == http.StatusUnauthorized && w.Header().Get("WWW-Authenticate") == "" {
		w.Header().Set("WWW-Authenticate", "Bearer")
	}
	// A limit's refusal is policy at work, not a fault: even its 503 (the SMS budget is spent, which
	// the OTP engine logs and counts once when it trips) is neither an error log line nor a report.
	limited := setRetryHeaders(w.Header(), err, reason)
	if limited && p.Status >= 500 {
		markExpected5xx(r.Context())
	}

	if p.Status >= 500 && !limited {
		s.logger.LogAttrs(r.Context(), slog.LevelError, "request failed",
			slog.String("request_id", requestid.FromContext(r.Context())),
			slog.String("method", r.Method),
			slog.String("route", routeOf(st)),
			slog.Int("status", p.Status),
			slog.String("code", p.Code),
			slog.Any("err", err))
		if st == nil || !st.markReported() {
			s.sentry.reportError(r, st, err, p.Status)
		}
	} else {
		s.logger.LogAttrs(r.Context(), slog.LevelDebug, "request refused",
			slog.String("request_id", requestid.FromContext(r.Context())),
			slog.Int("status", p.Status),
			slog.String("code", p.Code),
			slog.Any("err", err))
	}
	s.writeProblem(w, r, p)
}

func routeOf(st *requestState) string {
	if st == nil {
		return ""
	}
	return st.route()
}

// fieldErrors collects the Field and Message of every *gatehouse.Error in err's tree, following both
// Unwrap() error and Unwrap() []error.
func fieldErrors(err error, out []FieldError) []FieldError {
	if err == nil {
		return out
	}
	if ge, ok := err.(*gatehouse.Error); ok && ge.Field != "" {
		msg := ge.Message
		if msg == "" {
			msg = ge.Code
		}
		out = append(out, FieldError{Field: ge.Field, Message: msg})
	}
	switch u := err.(type) {
	case interface{ Unwrap() []error }:
		for _, e := range u.Unwrap() {
			out = fieldErrors(e, out)
		}
	case interface{ Unwrap() error }:
		out = fieldErrors(u.Unwrap(), out)
	}
	return out
}

// writeProblem writes p, filling in what every problem carries: type, title, request id, time.
func (s *Server) writeProblem(w http.ResponseWriter, r *http.Request, p Problem) {
	if p.Code == "" {
		p.Code = gatehouse.EINTERNAL
	}
	if p.Type == "" {
		p.Type = ProblemTypeBase + p.Code
	}
	if p.Title == "" {
		p.Title = http.StatusText(p.Status)
		if p.Status == statusClientClosedRequest {
			p.Title = "Client Closed Request"
		}
	}
	p.RequestID = requestid.FromContext(r.Context())
	p.Timestamp = s.now().UTC()
	body, err := json.Marshal(p)
	if err != nil {
		// A Problem holds only strings, numbers and a time: it always marshals.
		panic("httpapi: marshal problem: " + err.Error())
	}
	h := w.Header()
	h.Set("Content-Type", "application/problem+json")
	h.Set("Cache-Control", "no-store")
	h.Del("Content-Length")
	w.WriteHeader(p.Status)
	_, _ = w.Write(append(body, '\n'))
}

// classifyStoreError gives a store error that reached the HTTP layer unclassified the meaning the
// store gave it: a conflict that a concurrent request created (two sign-ups racing for one address)
// is a 409, a timeout a 503 — not a 500.
func classifyStoreError(err error) error {
	var ge *gatehouse.Error
	if errors.As(err, &ge) {
		return err
	}
	switch {
	case errors.Is(err, records.ErrConflict):
		return gatehouse.Wrap(gatehouse.ECONFLICT, "The change clashes with a concurrent one; try again.", err)
	case errors.Is(err, records.ErrTimeout), errors.Is(err, ephemeral.ErrUnavailable):
		return gatehouse.Wrap(gatehouse.EUNAVAILABLE, "A service gatehouse depends on is unavailable. Try again shortly.", err)
	}
	return err
}
