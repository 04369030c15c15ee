package mail

import (
	"context"
	"errors"
	"fmt"
	"net/mail"
	"strings"
)

// Envelope is one email ready to send.
type Envelope struct {
	From    string // the sender: an address, with or without a display name ("Example <no-reply@example.com>")
	To      string // the recipient's bare address
	ToName  string // the recipient's display name, optional; encoded, never parsed
	Subject string
	Text    string // the text/plain part
	HTML    string // the text/html part; optional
	// Headers are extra header fields (such as "Auto-Submitted"). Names must be plain field names
	// that do not replace the fields the sender writes itself (From, To, Subject, Date, Message-ID,
	// MIME and Content fields, ...); values must not contain line breaks.
	Headers map[string]string
}

// Sender hands an email to a provider. It returns the provider's identifier of the message (for
// SMTP, the Message-ID header it generated) once the provider has accepted it.
type Sender interface {
	Send(ctx context.Context, env Envelope) (providerID string, err error)
}

// ErrRejected wraps errors for which the provider refused the message for good (a 5xx reply to
// the recipient): sending it again would only repeat the refusal.
var ErrRejected = errors.New("mail: message rejected by the provider")

// errInvalidEnvelope wraps every validation failure of an Envelope.
var errInvalidEnvelope = errors.New("invalid envelope")

// reservedHeaders are the fields a sender writes itself; Envelope.Headers may not set them.
var reservedHeaders = map[string]bool{
	"from": true, "sender": true, "to": true, "cc": true, "bcc": true, "reply-to": true,
	"subject": true, "date": true, "message-id": true, "mime-version": true,
	"return-path": true, "received": true,
}

// checkedEnvelope is an Envelope whose addresses are parsed and whose fields are safe to write.
type checkedEnvelope struct {
	from *mail.Address
	to   *mail.Address
	Envelope
}

// check validates env: parsable addresses, and no line breaks where a line break could start a
// new header field. Display names are kept as given: they are written RFC 2047-encoded when they
// need to be, which cannot break the header.
func (env Envelope) check() (checkedEnvelope, error) {
	from, err := mail.ParseAddress(env.From)
	if err != nil {
		return checkedEnvelope{}, fmt.Errorf("%w: From %q: %w", errInvalidEnvelope, env.From, err)
	}
	to, err := parseBareAddress(env.To)
	if err != nil {
		return checkedEnvelope{}, fmt.Errorf("%w: To: %w", errInvalidEnvelope, err)
	}
	to.Name = env.ToName
	if hasLineBreak(env.Subject) {
		return checkedEnvelope{}, fmt.Errorf("%w: the subject contains a line break", errInvalidEnvelope)
	}
	for name, value := range env.Headers {
		if !validFieldName(name) || reservedHeaders[strings.ToLower(name)] || strings.HasPrefix(strings.ToLower(name), "content-") {
			return checkedEnvelope{}, fmt.Errorf("%w: header field %q may not be set", errInvalidEnvelope, name)
		}
		if hasLineBreak(value) {
			return checkedEnvelope{}, fmt.Errorf("%w: header field %q contains a line break", errInvalidEnvelope, name)
		}
	}
	if env.Text == "" && env.HTML == "" {
		return checkedEnvelope{}, fmt.Errorf("%w: no body", errInvalidEnvelope)
	}
	return checkedEnvelope{from: from, to: to, Envelope: env}, nil
}

// parseBareAddress parses an address without a display name ("user@example.com").
func parseBareAddress(s string) (*mail.Address, error) {
	a, err := mail.ParseAddress(s)
	if err != nil {
		return nil, fmt.Errorf("address %q: %w", s, err)
	}
	if a.Name != "" || a.Address != strings.TrimSpace(s) {
		return nil, fmt.Errorf("address %q: want a bare address without a display name", s)
	}
	return a, nil
}

func hasLineBreak(s string) bool { return strings.ContainsAny(s, "\r\n") }

// validFieldName reports whether s is an RFC 5322 field name: printable ASCII but the colon.
func validFieldName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 33 || c > 126 || c == ':' {
			return false
		}
	}
	return true
}
