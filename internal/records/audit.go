package records

import (
	"context"

	"github.com/gatehouse/gatehouse"
)

// AuditWriter appends to the audit log (never updates or deletes).
type AuditWriter interface {
	InsertAuditEvent(ctx context.Context, e *gatehouse.AuditEvent) error
}

// MailDeliveryWriter records an email when it is queued (in the transaction that queues it).
type MailDeliveryWriter interface {
	CreateMailDelivery(ctx context.Context, d *gatehouse.MailDelivery) error
}

// MailDeliveries records what happened to each email, for the sending job and for operators.
type MailDeliveries interface {
	MailDeliveryWriter
	// UpdateMailDelivery stores Status, Attempts, LastError, ProviderMessageID, UpdatedAt and SentAt.
	UpdateMailDelivery(ctx context.Context, d *gatehouse.MailDelivery) error
	GetMailDelivery(ctx context.Context, id string) (*gatehouse.MailDelivery, error)
	// ListMailDeliveries returns the newest deliveries first.
	ListMailDeliveries(ctx context.Context, limit int) ([]*gatehouse.MailDelivery, error)
}
