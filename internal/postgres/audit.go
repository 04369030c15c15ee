package postgres

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/gatehouse/gatehouse"
	"github.com/gatehouse/gatehouse/internal/records"
)

var (
	_ records.AuditWriter        = (*tx)(nil)
	_ records.MailDeliveryWriter = (*tx)(nil)
	_ records.MailDeliveries     = (*DB)(nil)
)

// InsertAuditEvent appends e to the audit log outside any transaction. See insertAuditEvent for what
// is stored.
func (db *DB) InsertAuditEvent(ctx context.Context, e *gatehouse.AuditEvent) error {
	return insertAuditEvent(ctx, db.pool, e)
}

// InsertAuditEvent appends e to the audit log in the transaction.
func (t *tx) InsertAuditEvent(ctx context.Context, e *gatehouse.AuditEvent) error {
	return insertAuditEvent(ctx, t.tx, e)
}

// insertAuditEvent stores e. ID, Action, Outcome and CreatedAt are required. CreatedAt is kept to the
// microsecond (timestamptz); empty strings are stored as NULL; Data is stored as a jsonb object, NULL
// when empty, and must therefore be encodable as JSON.
func insertAuditEvent(ctx context.Context, q querier, e *gatehouse.AuditEvent) error {
	args, err := auditEventArgs(e)
	if err != nil {
		return err
	}
	if _, err := q.Exec(ctx, insertAuditEventSQL, args...); err != nil {
		return fmt.Errorf("postgres: insert audit event %s (%s): %w", e.ID, e.Action, translateCtx(ctx, err))
	}
	return nil
}

const insertAuditEventSQL = `INSERT INTO audit_events
	(id, action, outcome, reason, actor_id, subject_id, session_id, ip, user_agent, request_id, data, created_at)
	VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11::jsonb, $12)`

// auditEventArgs checks e and returns the parameters of insertAuditEventSQL.
func auditEventArgs(e *gatehouse.AuditEvent) ([]any, error) {
	if e.ID == "" || e.Action == "" || e.Outcome == "" || e.CreatedAt.IsZero() {
		return nil, fmt.Errorf("postgres: insert audit event %q (%s): ID, Action, Outcome and CreatedAt are required", e.ID, e.Action)
	}
	var data any
	if len(e.Data) > 0 {
		b, err := json.Marshal(e.Data)
		if err != nil {
			return nil, fmt.Errorf("postgres: insert audit event %s (%s): encode data: %w", e.ID, e.Action, err)
		}
		data = string(b)
	}
	return []any{e.ID, e.Action, e.Outcome, nullText(e.Reason), nullText(e.ActorID),
		nullText(e.SubjectID), nullText(e.SessionID), nullText(e.IP), nullText(e.UserAgent),
		nullText(e.RequestID), data, e.CreatedAt}, nil
}

// GetAuditEvent reads one audit event, or records.ErrNotFound. Data comes back as decoded JSON: numbers
// are float64, nested objects map[string]any, and an empty Data comes back nil. (The audit query API
// will list events; this reads one back, for operators and for the contract tests.)
func (db *DB) GetAuditEvent(ctx context.Context, id string) (*gatehouse.AuditEvent, error) {
	const q = `SELECT id, action, outcome, coalesce(reason, ''), coalesce(actor_id, ''), coalesce(subject_id, ''),
		coalesce(session_id, ''), coalesce(ip, ''), coalesce(user_agent, ''), coalesce(request_id, ''), data::text, created_at
		FROM audit_events WHERE id = $1`
	var e gatehouse.AuditEvent
	var data *string
	err := db.pool.QueryRow(ctx, q, id).Scan(&e.ID, &e.Action, &e.Outcome, &e.Reason, &e.ActorID, &e.SubjectID,
		&e.SessionID, &e.IP, &e.UserAgent, &e.RequestID, &data, timeDest{&e.CreatedAt})
	if err != nil {
		return nil, fmt.Errorf("postgres: get audit event %s: %w", id, translateCtx(ctx, err))
	}
	if data != nil {
		if err := json.Unmarshal([]byte(*data), &e.Data); err != nil {
			return nil, fmt.Errorf("postgres: get audit event %s: decode data: %w", id, err)
		}
	}
	return &e, nil
}

// CreateMailDelivery records an email outside any transaction.
func (db *DB) CreateMailDelivery(ctx context.Context, d *gatehouse.MailDelivery) error {
	return createMailDelivery(ctx, db.pool, d)
}

// CreateMailDelivery records an email in the transaction that queues it.
func (t *tx) CreateMailDelivery(ctx context.Context, d *gatehouse.MailDelivery) error {
	return createMailDelivery(ctx, t.tx, d)
}

// createMailDelivery stores d. ID and CreatedAt are required; a zero UpdatedAt is set to CreatedAt
// (in d too). Times are kept to the microsecond; empty LastError and ProviderMessageID are NULL.
// A status other than queued, sent or failed violates a CHECK constraint.
func createMailDelivery(ctx context.Context, q querier, d *gatehouse.MailDelivery) error {
	if d.ID == "" || d.CreatedAt.IsZero() {
		return fmt.Errorf("postgres: create mail delivery %q: ID and CreatedAt are required", d.ID)
	}
	if d.UpdatedAt.IsZero() {
		d.UpdatedAt = d.CreatedAt
	}
	const stmt = `INSERT INTO mail_deliveries
		(id, recipient, template, subject, status, attempts, last_error, provider_message_id, created_at, updated_at, sent_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)`
	_, err := q.Exec(ctx, stmt, d.ID, d.To, d.Template, d.Subject, d.Status, d.Attempts,
		nullText(d.LastError), nullText(d.ProviderMessageID),
		d.CreatedAt, d.UpdatedAt, timeArg(d.SentAt))
	if err != nil {
		return fmt.Errorf("postgres: create mail delivery %s: %w", d.ID, translateCtx(ctx, err))
	}
	return nil
}

// UpdateMailDelivery stores Status, Attempts, LastError, ProviderMessageID, UpdatedAt and SentAt;
// records.ErrNotFound when there is no such delivery.
func (db *DB) UpdateMailDelivery(ctx context.Context, d *gatehouse.MailDelivery) error {
	const stmt = `UPDATE mail_deliveries
		SET status = $1, attempts = $2, last_error = $3, provider_message_id = $4, updated_at = $5, sent_at = $6
		WHERE id = $7`
	tag, err := db.pool.Exec(ctx, stmt, d.Status, d.Attempts, nullText(d.LastError),
		nullText(d.ProviderMessageID), d.UpdatedAt, timeArg(d.SentAt), d.ID)
	if err != nil {
		return fmt.Errorf("postgres: update mail delivery %s: %w", d.ID, translateCtx(ctx, err))
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("postgres: update mail delivery %s: %w", d.ID, records.ErrNotFound)
	}
	return nil
}

const mailDeliveryColumns = `id, recipient, template, subject, status, attempts, coalesce(last_error, ''),
	coalesce(provider_message_id, ''), created_at, updated_at, sent_at`

// GetMailDelivery reads one delivery, or records.ErrNotFound.
func (db *DB) GetMailDelivery(ctx context.Context, id string) (*gatehouse.MailDelivery, error) {
	d, err := scanMailDelivery(db.pool.QueryRow(ctx, "SELECT "+mailDeliveryColumns+" FROM mail_deliveries WHERE id = $1", id))
	if err != nil {
		return nil, fmt.Errorf("postgres: get mail delivery %s: %w", id, translateCtx(ctx, err))
	}
	return d, nil
}

// ListMailDeliveries returns at most limit deliveries, newest first (ties broken by id, newest
// first). A limit below 1 is an error.
func (db *DB) ListMailDeliveries(ctx context.Context, limit int) ([]*gatehouse.MailDelivery, error) {
	if limit < 1 {
		return nil, fmt.Errorf("postgres: list mail deliveries: limit %d, want at least 1", limit)
	}
	rows, err := db.pool.Query(ctx,
		"SELECT "+mailDeliveryColumns+" FROM mail_deliveries ORDER BY created_at DESC, id DESC LIMIT $1", limit)
	if err != nil {
		return nil, fmt.Errorf("postgres: list mail deliveries: %w", translateCtx(ctx, err))
	}
	defer rows.Close()
	var out []*gatehouse.MailDelivery
	for rows.Next() {
		d, err := scanMailDelivery(rows)
		if err != nil {
			return nil, fmt.Errorf("postgres: list mail deliveries: %w", translateCtx(ctx, err))
		}
		out = append(out, d)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("postgres: list mail deliveries: %w", translateCtx(ctx, err))
	}
	return out, nil
}

func scanMailDelivery(row pgx.Row) (*gatehouse.MailDelivery, error) {
	var d gatehouse.MailDelivery
	if err := row.Scan(&d.ID, &d.To, &d.Template, &d.Subject, &d.Status, &d.Attempts, &d.LastError,
		&d.ProviderMessageID, timeDest{&d.CreatedAt}, timeDest{&d.UpdatedAt}, timeDest{&d.SentAt}); err != nil {
		return nil, err
	}
	return &d, nil
}
