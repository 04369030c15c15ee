package sms

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/gatehouse/gatehouse/internal/requestid"
)

// Message is one text message ready to send.
type Message struct {
	To   string // the recipient in E.164 ("+96550000000")
	Text string
	// ID identifies the message across retries: a provider that supports it (the webhook's
	// webhook-id) drops a second delivery with the same ID. Optional: "" gives each Send its own.
	// Letters, digits and ". _ : -" only, at most 128 (a UUID fits).
	ID string
	// Purpose names the template the text came from ("login"); optional, passed on by the webhook
	// provider so that a gateway can route or price by purpose.
	Purpose string
}

// Sender hands a text message to a provider. It returns the provider's identifier of the message
// once the provider has accepted it. An error that wraps ErrPermanent means that sending the same
// message again would be refused again; any other error may succeed on a later attempt.
type Sender interface {
	Send(ctx context.Context, m Message) (providerID string, err error)
}

// ErrPermanent is wrapped by errors for which the message was refused for good (an invalid
// number, bad credentials, a message the provider will not carry): the job ends instead of
// retrying.
var ErrPermanent = errors.New("sms: refused for good")

// MaxTextLen is the longest text a sender accepts, in characters: Twilio's limit, ten concatenated
// segments and more. The templates stay far below it.
const MaxTextLen = 1600

// ProviderError is a provider's answer that was not a success. Its text is for logs and for the
// queue's record of failed attempts; it is never shown to clients.
type ProviderError struct {
	Provider  string // "twilio", "webhook"
	Status    int    // the HTTP status of the answer
	Code      string // the provider's error code (Twilio's "21211"); "" when it gave none
	Message   string // the provider's error text, bounded and stripped of control characters
	Permanent bool   // sending again would be refused again (see Is)
}

func (e *ProviderError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s: HTTP %d", e.Provider, e.Status)
	if e.Code != "" {
		fmt.Fprintf(&b, ", code %s", e.Code)
	}
	if e.Message != "" {
		b.WriteString(": ")
		b.WriteString(e.Message)
	}
	if e.Permanent {
		b.WriteString(" (permanent)")
	}
	return b.String()
}

// Is makes errors.Is(err, ErrPermanent) true for a permanent refusal.
func (e *ProviderError) Is(target error) bool {
	return target == ErrPermanent && e.Permanent
}

// permanentStatus reports whether an HTTP status refuses a message for good: every 4xx but 429
// (too many requests) and 408 (the provider timed out reading the request), which say "later".
func permanentStatus(status int) bool {
	return status >= 400 && status < 500 && status != 429 && status != 408
}

// checkMessage validates what every sender needs: an E.164 recipient and a text within bounds. A
// failure wraps ErrPermanent: the same message would fail the same way again.
func checkMessage(m Message) error {
	if !validE164(m.To) {
		return fmt.Errorf("invalid message: the recipient is not an E.164 number: %w", ErrPermanent)
	}
	if strings.TrimSpace(m.Text) == "" {
		return fmt.Errorf("invalid message: empty text: %w", ErrPermanent)
	}
	if !utf8.ValidString(m.Text) || utf8.RuneCountInString(m.Text) > MaxTextLen {
		return fmt.Errorf("invalid message: the text is not UTF-8 or longer than %d characters: %w", MaxTextLen, ErrPermanent)
	}
	if m.ID != "" && !requestid.Valid(m.ID) {
		// It travels in a header: the request id's narrow alphabet keeps it a safe token.
		return fmt.Errorf("invalid message: the id is not 1 to %d letters, digits or . _ : -: %w", requestid.MaxLen, ErrPermanent)
	}
	return nil
}

// validE164 reports whether s has the form of an E.164 number: "+", a digit other than zero, and
// 6 to 14 more digits (the shortest numbers in service have 7 digits with their country code).
// Whether the number exists is phone.Parse's job, done when the number was entered.
func validE164(s string) bool {
	if len(s) < 8 || len(s) > 16 || s[0] != '+' || s[1] < '1' || s[1] > '9' {
		return false
	}
	for i := 2; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}
