package sqlite

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse"
	"github.com/gatehouse/gatehouse/internal/audit"
	"github.com/gatehouse/gatehouse/internal/records"
	"github.com/gatehouse/gatehouse/internal/storetest"
)

var _ storetest.AuditStore = (*DB)(nil)

func TestAudit(t *testing.T) { storetest.RunAudit(t, newDatabase) }

// TestAuditAppendOnly checks that the table itself refuses to change a recorded event.
func TestAuditAppendOnly(t *testing.T) {
	db := openMigrated(t, filepath.Join(t.TempDir(), "g.db"), time.Second)
	ctx := t.Context()
	if _, err := db.write.ExecContext(ctx, `INSERT INTO audit_events (id, action, outcome, created_at)
		VALUES ('a1', 'session.login', 'success', '2031-01-01T00:00:00.000000Z')`); err != nil {
		t.Fatal(err)
	}
	if _, err := db.write.ExecContext(ctx, "UPDATE audit_events SET outcome = 'failure' WHERE id = 'a1'"); err == nil {
		t.Error("UPDATE of an audit event succeeded")
	}
	e, err := db.GetAuditEvent(ctx, "a1")
	if err != nil || e.Outcome != "success" {
		t.Errorf("GetAuditEvent = %+v, %v; want the event unchanged", e, err)
	}
}

// TestRecorderEventsAreStorable records, through the audit recorder, an event full of client-sent
// text the database could refuse (invalid UTF-8, NUL bytes, a huge user agent), in a transaction and
// outside one: both are stored.
func TestRecorderEventsAreStorable(t *testing.T) {
	db := openMigrated(t, filepath.Join(t.TempDir(), "g.db"), time.Second)
	ctx := audit.WithRequest(t.Context(), audit.RequestMeta{RequestID: "req-1", IP: "192.0.2.1", UserAgent: "agent\xff\x00" + strings.Repeat("x", 1<<16)})
	rec := audit.NewRecorder(nil, nil, nil)
	e := gatehouse.AuditEvent{
		Action: audit.ActionSessionLoginFailed,
		Reason: "invalid_credentials",
		Data:   map[string]any{"identifier": "ann\x00\xfe@example.com", "nested": map[string]any{"k\x00": []any{"\x00"}}},
	}
	if err := rec.Record(ctx, db, e); err != nil {
		t.Fatalf("Record outside a transaction: %v", err)
	}
	if err := db.InTx(ctx, func(ctx context.Context, tx records.Tx) error { return rec.Record(ctx, tx, e) }); err != nil {
		t.Fatalf("Record in a transaction: %v", err)
	}
}
