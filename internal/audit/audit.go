// Package audit owns the security log: the one Recorder through which every security event (sign-up,
// verification, sign-in success and failure, refresh-token reuse, logout, session revocation, account
// changes) is written to the append-only store (records.AuditWriter) and to the service log, stamped
// with an id, the time and the request it came from. The query API comes later; events are recorded
// from day one.
package audit

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"

	"github.com/gatehouse/gatehouse"
	"github.com/gatehouse/gatehouse/internal/records"
)

// Outcomes of an event.
const (
	OutcomeSuccess = "success"
	OutcomeFailure = "failure"
)

// Actions. The name is "<what>.<happened>"; it is stored and later filtered on, so a name never
// changes meaning once released.
const (
	// ActionAccountRegistered: an account was created by sign-up.
	ActionAccountRegistered = "account.registered"
	// ActionAccountRegisterExistingEmail: someone tried to sign up with an email that already has an
	// account; its owner was told by email. Subject is that account.
	ActionAccountRegisterExistingEmail = "account.register_existing_email"
	// ActionAccountEmailVerified: an account's email was verified.
	ActionAccountEmailVerified = "account.email_verified"
	// ActionAccountUpdated: an account's profile was changed (Data names the changed fields).
	ActionAccountUpdated = "account.updated"
	// ActionAccountDeleted: an account was (soft) deleted.
	ActionAccountDeleted = "account.deleted"
	// ActionSessionLogin: a successful sign-in created a session.
	ActionSessionLogin = "session.login"
	// ActionSessionLoginFailed: a sign-in failed; Reason says why (for example "invalid_credentials",
	// "email_not_verified", "account_locked").
	ActionSessionLoginFailed = "session.login_failed"
	// ActionSessionLogout: a session was ended by its owner signing out.
	ActionSessionLogout = "session.logout"
	// ActionSessionRevoked: a session was revoked (from the session list, or by another event).
	ActionSessionRevoked = "session.revoked"
	// ActionTokenReuseDetected: a refresh token that had already been rotated was presented again; its
	// family and session were revoked.
	ActionTokenReuseDetected = "token.reuse_detected"
	// ActionAccountVerificationResent: a verification email was sent again on request.
	ActionAccountVerificationResent = "account.verification_resent"
)

// RequestMeta is what the audit log records of the request that caused an event.
type RequestMeta struct {
	RequestID string
	IP        string // the client's address, as the HTTP layer resolved it behind trusted proxies
	UserAgent string
}

type requestKey struct{}

// WithRequest returns a copy of ctx that carries m; the HTTP layer calls it once per request so that
// every event recorded while serving the request names it.
func WithRequest(ctx context.Context, m RequestMeta) context.Context {
	return context.WithValue(ctx, requestKey{}, m)
}

// RequestFrom returns the request metadata ctx carries, or the zero RequestMeta when there is none
// (a job, a command-line action).
func RequestFrom(ctx context.Context) RequestMeta {
	m, _ := ctx.Value(requestKey{}).(RequestMeta)
	return m
}

// Recorder stamps and writes audit events. It is safe for concurrent use.
type Recorder struct {
	logger *slog.Logger
	now    func() time.Time
	newID  func() (string, error)
}

// NewRecorder returns a Recorder that logs each event to logger (nil: discard), stamps it with now
// (nil: time.Now) and names it with newID (nil: a UUIDv7).
func NewRecorder(logger *slog.Logger, now func() time.Time, newID func() string) *Recorder {
	r := &Recorder{logger: logger, now: now, newID: newUUIDv7}
	if r.logger == nil {
		r.logger = slog.New(slog.DiscardHandler)
	}
	if r.now == nil {
		r.now = time.Now
	}
	if newID != nil {
		r.newID = func() (string, error) { return newID(), nil }
	}
	return r
}

func newUUIDv7() (string, error) {
	id, err := uuid.NewV7()
	if err != nil {
		return "", fmt.Errorf("new event id: %w", err)
	}
	return id.String(), nil
}

// Record completes e and writes it through w: the store itself for an event of its own, or the
// transaction of the change the event describes, so that the event is committed or rolled back with
// it. Record fills what the caller left empty: ID, CreatedAt (UTC), Outcome (failure when there is a
// Reason, success otherwise), and RequestID, IP and UserAgent from the request in ctx (see
// WithRequest). Action is required and Outcome must be OutcomeSuccess or OutcomeFailure.
//
// Text that reaches the log can come from clients (a user agent, an identifier in Data), and a value
// one store refuses must not let a client keep its actions out of the log. So Record makes every
// event storable in both stores: string fields are made valid UTF-8 without NUL bytes (each offending
// byte becomes U+FFFD) and cut to MaxFieldBytes; Data is replaced by its JSON round trip (numbers
// become float64, structs maps, as the stores give them back), with NUL characters in it replaced
// too. Data that cannot be encoded as JSON is an error.
//
// Record also logs the event at info level, as one line with the action, outcome, reason, actor,
// subject, session and request ids and the names (never the values) of the Data keys, which may hold
// details that are not for the service log. When the write fails the line is logged at error level
// with the error, so that a security event is never lost silently, and the error is returned. The
// line is logged when the write succeeds, which inside a transaction is before the commit: a
// transaction that rolls back afterwards leaves the line without a stored event.
func (r *Recorder) Record(ctx context.Context, w records.AuditWriter, e gatehouse.AuditEvent) error {
	if e.Action == "" {
		return fmt.Errorf("record audit event: no action")
	}
	if e.Outcome == "" {
		e.Outcome = OutcomeSuccess
		if e.Reason != "" {
			e.Outcome = OutcomeFailure
		}
	}
	if e.Outcome != OutcomeSuccess && e.Outcome != OutcomeFailure {
		return fmt.Errorf("record audit event %s: outcome %q, want %q or %q", e.Action, e.Outcome, OutcomeSuccess, OutcomeFailure)
	}
	if e.ID == "" {
		id, err := r.newID()
		if err != nil {
			return fmt.Errorf("record audit event %s: %w", e.Action, err)
		}
		e.ID = id
	}
	if e.CreatedAt.IsZero() {
		e.CreatedAt = r.now()
	}
	e.CreatedAt = e.CreatedAt.UTC()
	req := RequestFrom(ctx)
	if e.RequestID == "" {
		e.RequestID = req.RequestID
	}
	if e.IP == "" {
		e.IP = req.IP
	}
	if e.UserAgent == "" {
		e.UserAgent = req.UserAgent
	}
	for _, f := range []*string{&e.ID, &e.Action, &e.Outcome, &e.Reason, &e.ActorID, &e.SubjectID, &e.SessionID, &e.IP, &e.UserAgent, &e.RequestID} {
		*f = cleanText(*f)
	}
	if len(e.Data) > 0 {
		data, err := cleanData(e.Data)
		if err != nil {
			return fmt.Errorf("record audit event %s: %w", e.Action, err)
		}
		e.Data = data
	}

	if err := w.InsertAuditEvent(ctx, &e); err != nil {
		err = fmt.Errorf("record audit event %s (%s): %w", e.ID, e.Action, err)
		r.logger.LogAttrs(ctx, slog.LevelError, "audit event not stored", append(logAttrs(&e), slog.Any("err", err))...)
		return err
	}
	r.logger.LogAttrs(ctx, slog.LevelInfo, "audit event", logAttrs(&e)...)
	return nil
}

// logAttrs describes e for the service log. Empty fields are left out; of Data only the sorted key
// names appear.
func logAttrs(e *gatehouse.AuditEvent) []slog.Attr {
	attrs := []slog.Attr{
		slog.String("audit_id", e.ID),
		slog.String("action", e.Action),
		slog.String("outcome", e.Outcome),
	}
	for _, f := range []struct{ key, value string }{
		{"reason", e.Reason},
		{"actor_id", e.ActorID},
		{"subject_id", e.SubjectID},
		{"session_id", e.SessionID},
		{"request_id", e.RequestID},
	} {
		if f.value != "" {
			attrs = append(attrs, slog.String(f.key, f.value))
		}
	}
	if len(e.Data) > 0 {
		keys := make([]string, 0, len(e.Data))
		for k := range e.Data {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		attrs = append(attrs, slog.Any("data_keys", keys))
	}
	return attrs
}

// MaxFieldBytes bounds each string field of a recorded event: a client-sent user agent can be as long
// as the HTTP layer's header limit, and the log must not grow by that much per request.
const MaxFieldBytes = 1024

// cleanText makes s valid UTF-8 without NUL bytes, at most MaxFieldBytes long (cut at a character
// boundary).
func cleanText(s string) string {
	if !utf8.ValidString(s) {
		s = strings.ToValidUTF8(s, "\uFFFD")
	}
	if strings.IndexByte(s, 0) >= 0 {
		s = strings.ReplaceAll(s, "\x00", "\uFFFD")
	}
	if len(s) > MaxFieldBytes {
		cut := MaxFieldBytes
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		s = s[:cut]
	}
	return s
}

// cleanData returns data's JSON round trip with every escaped NUL (\u0000, which PostgreSQL's jsonb
// refuses) turned into U+FFFD. encoding/json already turns invalid UTF-8 into U+FFFD.
func cleanData(data map[string]any) (map[string]any, error) {
	b, err := json.Marshal(data)
	if err != nil {
		return nil, fmt.Errorf("encode data: %w", err)
	}
	if bytes.Contains(b, []byte(`\u0000`)) {
		b = replaceNULEscapes(b)
	}
	var out map[string]any
	if err := json.Unmarshal(b, &out); err != nil {
		return nil, fmt.Errorf("decode data: %w", err)
	}
	return out, nil
}

// replaceNULEscapes rewrites each \u0000 escape in the JSON text b as \ufffd. It walks the escapes
// one by one, so an escaped backslash followed by "u0000" (the text \u0000 itself) is left alone.
func replaceNULEscapes(b []byte) []byte {
	out := make([]byte, 0, len(b))
	for i := 0; i < len(b); i++ {
		if b[i] != '\\' || i+1 >= len(b) {
			out = append(out, b[i])
			continue
		}
		if b[i+1] == 'u' && i+6 <= len(b) && string(b[i+2:i+6]) == "0000" {
			out = append(out, `\ufffd`...)
			i += 5
			continue
		}
		out = append(out, b[i], b[i+1])
		i++
	}
	return out
}
