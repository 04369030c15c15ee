package gatehouse

import "time"

// AuditEvent is one entry of the append-only security log: who did what to whom, from where.
type AuditEvent struct {
	ID        string // UUIDv7
	Action    string // e.g. "account.registered", "session.login_failed", "token.reuse_detected"
	Outcome   string // "success" or "failure"
	Reason    string // machine word for failures, e.g. "invalid_password"
	ActorID   string // account that acted; "" for anonymous
	SubjectID string // account acted upon; "" when unknown
	SessionID string
	IP        string
	UserAgent string
	RequestID string
	Data      map[string]any // small, non-secret details
	CreatedAt time.Time
}

// MailDelivery is the delivery record of one outgoing email, for operators.
type MailDelivery struct {
	ID                string // UUIDv7
	To                string
	Template          string
	Subject           string
	Status            string // "queued", "sent", "failed"
	Attempts          int
	LastError         string // the provider's reason for the last failure
	ProviderMessageID string
	CreatedAt         time.Time
	UpdatedAt         time.Time
	SentAt            time.Time
}

// Mail delivery statuses.
const (
	MailQueued = "queued"
	MailSent   = "sent"
	MailFailed = "failed"
)
