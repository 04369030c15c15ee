package sqlite

// TEMPORARY: replaced by the audit slice in this session.

import (
	"context"
	"time"

	"github.com/gatehouse/gatehouse"
	"github.com/gatehouse/gatehouse/internal/token"
)

var (
	_ = time.Now
	_ token.StoredKey
	_ gatehouse.Account
)

func (db *DB) InsertAuditEvent(ctx context.Context, e *gatehouse.AuditEvent) error { return errPending }

func (t *tx) InsertAuditEvent(ctx context.Context, e *gatehouse.AuditEvent) error { return errPending }

func (db *DB) CreateMailDelivery(ctx context.Context, d *gatehouse.MailDelivery) error {
	return errPending
}

func (t *tx) CreateMailDelivery(ctx context.Context, d *gatehouse.MailDelivery) error {
	return errPending
}

func (db *DB) UpdateMailDelivery(ctx context.Context, d *gatehouse.MailDelivery) error {
	return errPending
}

func (db *DB) GetMailDelivery(ctx context.Context, id string) (*gatehouse.MailDelivery, error) {
	return nil, errPending
}

func (db *DB) ListMailDeliveries(ctx context.Context, limit int) ([]*gatehouse.MailDelivery, error) {
	return nil, errPending
}
