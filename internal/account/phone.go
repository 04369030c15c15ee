package account

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/gatehouse/gatehouse"
	"github.com/gatehouse/gatehouse/internal/phone"
	"github.com/gatehouse/gatehouse/internal/records"
)

// SMS is a text message to queue. Its fields are those of sms.Outgoing, in the same order, so that
// the wiring can convert one into the other.
type SMS struct {
	To      string            // the recipient in E.164
	Purpose string            // the message's template: one of the SMS* purposes
	Locale  string            // a language tag; unknown ones fall back to English
	Data    map[string]string // the template's fields (SMSKey*)
	// ExpiresAt stops the message from going out after this time (the code in it has expired);
	// zero for notices.
	ExpiresAt time.Time
}

// SMSQueue enqueues a text message in the transaction of the change that causes it, so that the
// message exists if and only if the change commits. A nil tx means that no change goes with the
// message: it is enqueued on its own, and QueueSMS returns once it is written (the queue writes
// concurrent messages together). The program wires it to sms.Queue with the seal.Sealer that keeps
// the codes unreadable in the job table (the package does not import internal/sms, whose providers
// speak HTTP).
type SMSQueue interface {
	QueueSMS(ctx context.Context, tx records.Tx, m SMS) error
}

// SMSQueueFunc adapts a function to SMSQueue.
type SMSQueueFunc func(ctx context.Context, tx records.Tx, m SMS) error

// QueueSMS calls f.
func (f SMSQueueFunc) QueueSMS(ctx context.Context, tx records.Tx, m SMS) error { return f(ctx, tx, m) }

// The purposes (templates) of the text messages the Service sends; they name internal/sms's
// templates.
const (
	SMSRegister           = "register"             // the sign-up code
	SMSLogin              = "login"                // the passwordless sign-in code
	SMSPhoneChange        = "phone_change"         // the code that confirms a new number, sent to it
	SMSPhoneChangedNotice = "phone_changed_notice" // to the old number, once the number has changed
	SMSAccountExists      = "account_exists"       // to a number someone tried to sign up with
)

// The data keys of the text message templates.
const (
	SMSKeyApp     = "App"
	SMSKeyCode    = "Code"
	SMSKeyMinutes = "Minutes"
)

// normalizeRegion upper-cases a two-letter region code; "" stays "".
func normalizeRegion(r string) (string, bool) {
	r = strings.ToUpper(strings.TrimSpace(r))
	if r == "" {
		return "", true
	}
	if len(r) != 2 || r[0] < 'A' || r[0] > 'Z' || r[1] < 'A' || r[1] > 'Z' {
		return "", false
	}
	return r, true
}

// parsePhone parses a phone number as typed, in the default region. A failure is phone.Parse's
// EINVALID invalid_phone error, with field renamed when it is not "phone".
func (s *Service) parsePhone(input, field string) (phone.Number, error) {
	n, err := phone.Parse(input, s.opts.DefaultRegion)
	if err != nil {
		if ge, ok := err.(*gatehouse.Error); ok && field != phone.Field {
			c := *ge
			c.Field = field
			return phone.Number{}, &c
		}
		return phone.Number{}, err
	}
	return n, nil
}

// phoneLookupKey returns the form under which a sign-in identifier that is not an email address is
// looked up: its E.164 form when it parses as a phone number, so that "+965 5000 0000",
// "0096550000000" and "+96550000000" name one account. An identifier already in E.164 form that the
// phone metadata does not accept (a number range the metadata does not know yet, an account
// imported with one) is looked up as it is. Anything else names no account.
func (s *Service) phoneLookupKey(id string) (string, bool) {
	if n, err := phone.Parse(id, s.opts.DefaultRegion); err == nil {
		return n.E164, true
	}
	if isE164(id) {
		return id, true
	}
	return "", false
}

// isE164 reports whether s is "+" and 7 to 15 digits, the first not zero.
func isE164(s string) bool {
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

// codeSMS builds the text message that carries a one-time code valid for ttl.
func (s *Service) codeSMS(to, purpose, locale, code string, ttl time.Duration) SMS {
	minutes := max(int((ttl+time.Minute-1)/time.Minute), 1)
	return SMS{
		To:      to,
		Purpose: purpose,
		Locale:  locale,
		Data: map[string]string{
			SMSKeyApp:     s.opts.AppName,
			SMSKeyCode:    code,
			SMSKeyMinutes: strconv.Itoa(minutes),
		},
		ExpiresAt: s.nowUTC().Add(ttl),
	}
}

// noticeSMS builds a text message without a code.
func (s *Service) noticeSMS(to, purpose, locale string) SMS {
	return SMS{To: to, Purpose: purpose, Locale: locale, Data: map[string]string{SMSKeyApp: s.opts.AppName}}
}

// queueSMS enqueues m in tx, or on its own when tx is nil.
func (s *Service) queueSMS(ctx context.Context, tx records.Tx, m SMS) error {
	if err := s.sms.QueueSMS(ctx, tx, m); err != nil {
		return fmt.Errorf("queue %s sms to %s: %w", m.Purpose, phone.Mask(m.To), err)
	}
	return nil
}
