package storetest

import (
	"context"
	"errors"
	"fmt"
	"math"
	"reflect"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse"
	"github.com/gatehouse/gatehouse/internal/records"
)

// AuditStore is what the audit suite needs of an adapter: the records store, its migrations, and a
// way to read one audit event back (records.Store only appends to the log; the query API comes
// later). GetAuditEvent returns records.ErrNotFound for an unknown id.
type AuditStore interface {
	RecordsStore
	GetAuditEvent(ctx context.Context, id string) (*gatehouse.AuditEvent, error)
}

// RunAudit runs the contract of the audit log (records.AuditWriter) and of the mail delivery records
// (records.MailDeliveryWriter, records.MailDeliveries). newDatabase makes a fresh, empty, isolated
// database for each subtest, as for RunRecords; the handles it opens must be AuditStores.
//
// The contract: times come back in UTC, truncated to the microsecond (PostgreSQL's precision); empty
// strings come back empty; an audit event's Data comes back as decoded JSON (numbers as float64,
// nested objects as map[string]any, arrays as []any) and an empty Data as nil.
func RunAudit(t *testing.T, newDatabase func(t *testing.T) RecordsOpener) {
	t.Helper()
	for _, tc := range []struct {
		name string
		fn   func(t *testing.T, s AuditStore)
	}{
		{"Audit/InsertOutsideTx", auditInsertOutsideTx},
		{"Audit/InsertInTx", auditInsertInTx},
		{"Audit/RollbackLeavesNothing", auditRollback},
		{"Audit/MinimalEvent", auditMinimal},
		{"Audit/DataRoundTrip", auditDataRoundTrip},
		{"Audit/TimeTruncatedToMicroseconds", auditTimePrecision},
		{"Audit/DuplicateID", auditDuplicateID},
		{"Audit/Invalid", auditInvalid},
		{"Audit/UnknownID", auditUnknownID},
		{"Mail/CreateGet", mailCreateGet},
		{"Mail/CreateInTx", mailCreateInTx},
		{"Mail/RollbackLeavesNothing", mailRollback},
		{"Mail/UpdatedAtDefaultsToCreatedAt", mailUpdatedAtDefault},
		{"Mail/Update", mailUpdate},
		{"Mail/UnknownID", mailUnknownID},
		{"Mail/DuplicateID", mailDuplicateID},
		{"Mail/Invalid", mailInvalid},
		{"Mail/ListNewestFirst", mailListNewestFirst},
		{"Mail/ListEmpty", mailListEmpty},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := recordsOpenMigrated(t, newDatabase(t), RecordsOptions{})
			as, ok := s.(AuditStore)
			if !ok {
				t.Fatalf("%T has no GetAuditEvent method: it is not a storetest.AuditStore", s)
			}
			tc.fn(t, as)
		})
	}
}

// auditBase is a whole-microsecond time, so that events built from it round-trip exactly.
var auditBase = time.Date(2031, 5, 6, 7, 8, 9, 123456000, time.UTC)

func auditSample(id string) *gatehouse.AuditEvent {
	return &gatehouse.AuditEvent{
		ID:        id,
		Action:    "session.login_failed",
		Outcome:   "failure",
		Reason:    "invalid_password",
		ActorID:   "0190a1b2-0000-7000-8000-00000000000a",
		SubjectID: "0190a1b2-0000-7000-8000-00000000000b",
		SessionID: "0190a1b2-0000-7000-8000-00000000000c",
		IP:        "2001:db8::1",
		UserAgent: "Mozilla/5.0 (X11; Linux x86_64) Firefox/140.0",
		RequestID: "req-123",
		Data:      map[string]any{"identifier_kind": "email", "attempt": 3.0},
		CreatedAt: auditBase,
	}
}

func auditGet(t *testing.T, s AuditStore, id string) *gatehouse.AuditEvent {
	t.Helper()
	e, err := s.GetAuditEvent(recordsCtx(t), id)
	recordsMust(t, "GetAuditEvent "+id, err)
	return e
}

// auditWantEqual compares two events field by field, times with Equal.
func auditWantEqual(t *testing.T, got, want *gatehouse.AuditEvent) {
	t.Helper()
	g, w := *got, *want
	if !g.CreatedAt.Equal(w.CreatedAt) || g.CreatedAt.Location() != time.UTC {
		t.Errorf("event %s: CreatedAt = %v, want %v in UTC", w.ID, g.CreatedAt, w.CreatedAt)
	}
	g.CreatedAt, w.CreatedAt = time.Time{}, time.Time{}
	if !reflect.DeepEqual(g, w) {
		t.Errorf("event read back:\n got %#v\nwant %#v", g, w)
	}
}

func auditInsertOutsideTx(t *testing.T, s AuditStore) {
	e := auditSample("a1")
	recordsMust(t, "InsertAuditEvent", s.InsertAuditEvent(recordsCtx(t), e))
	auditWantEqual(t, auditGet(t, s, "a1"), auditSample("a1"))
}

func auditInsertInTx(t *testing.T, s AuditStore) {
	ctx := recordsCtx(t)
	recordsMust(t, "InTx", s.InTx(ctx, func(ctx context.Context, tx records.Tx) error {
		if err := tx.PutMeta(ctx, "k", "v"); err != nil {
			return err
		}
		return tx.InsertAuditEvent(ctx, auditSample("a1"))
	}))
	auditWantEqual(t, auditGet(t, s, "a1"), auditSample("a1"))
}

func auditRollback(t *testing.T, s AuditStore) {
	ctx := recordsCtx(t)
	boom := errors.New("boom")
	err := s.InTx(ctx, func(ctx context.Context, tx records.Tx) error {
		if err := tx.InsertAuditEvent(ctx, auditSample("a1")); err != nil {
			return err
		}
		return boom
	})
	recordsWantIs(t, "InTx returning an error", err, boom)
	_, err = s.GetAuditEvent(ctx, "a1")
	recordsWantIs(t, "GetAuditEvent after rollback", err, records.ErrNotFound)
}

// auditMinimal stores an anonymous event with only the required fields: the empty ones come back
// empty, and an empty Data comes back nil.
func auditMinimal(t *testing.T, s AuditStore) {
	ctx := recordsCtx(t)
	for id, data := range map[string]map[string]any{"nil-data": nil, "empty-data": {}} {
		e := &gatehouse.AuditEvent{ID: id, Action: "account.registered", Outcome: "success", Data: data, CreatedAt: auditBase}
		recordsMust(t, "InsertAuditEvent", s.InsertAuditEvent(ctx, e))
		want := *e
		want.Data = nil
		auditWantEqual(t, auditGet(t, s, id), &want)
	}
}

func auditDataRoundTrip(t *testing.T, s AuditStore) {
	ctx := recordsCtx(t)
	for i, tc := range []struct {
		name      string
		data      map[string]any
		want      map[string]any
		wantMatch func(map[string]any) bool
	}{
		{
			name: "scalars",
			data: map[string]any{"s": "text", "i": 42, "i64": int64(1) << 40, "f": 1.5, "yes": true, "no": false, "null": nil},
			want: map[string]any{"s": "text", "i": 42.0, "i64": float64(int64(1) << 40), "f": 1.5, "yes": true, "no": false, "null": nil},
		},
		{
			name: "nested",
			data: map[string]any{
				"changed": []string{"name", "locale"},
				"before":  map[string]any{"name": "Ann", "roles": []any{"user"}},
				"empty":   map[string]any{},
				"list":    []any{},
			},
			want: map[string]any{
				"changed": []any{"name", "locale"},
				"before":  map[string]any{"name": "Ann", "roles": []any{"user"}},
				"empty":   map[string]any{},
				"list":    []any{},
			},
		},
		{
			name: "text that needs escaping",
			data: map[string]any{"quote": `a "b" \c`, "unicode": "ключ ✓ 🔐", "html": "<script>&</script>", "nl": "a\nb\tc", "key with spaces": "x"},
			want: map[string]any{"quote": `a "b" \c`, "unicode": "ключ ✓ 🔐", "html": "<script>&</script>", "nl": "a\nb\tc", "key with spaces": "x"},
		},
		{
			name: "struct values encode as JSON objects",
			data: map[string]any{"at": auditBase, "who": struct {
				ID string `json:"id"`
			}{"x"}},
			want: map[string]any{"at": auditBase.Format(time.RFC3339Nano), "who": map[string]any{"id": "x"}},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			id := fmt.Sprintf("data-%d", i)
			e := auditSample(id)
			e.Data = tc.data
			recordsMust(t, "InsertAuditEvent", s.InsertAuditEvent(ctx, e))
			got := auditGet(t, s, id)
			if !reflect.DeepEqual(got.Data, tc.want) {
				t.Errorf("Data read back:\n got %#v\nwant %#v", got.Data, tc.want)
			}
		})
	}
}

func auditTimePrecision(t *testing.T, s AuditStore) {
	ctx := recordsCtx(t)
	local := time.FixedZone("UTC+5:30", 5*3600+1800)
	e := auditSample("a1")
	e.CreatedAt = time.Date(2031, 5, 6, 12, 38, 9, 123456789, local)
	recordsMust(t, "InsertAuditEvent", s.InsertAuditEvent(ctx, e))
	got := auditGet(t, s, "a1")
	want := time.Date(2031, 5, 6, 7, 8, 9, 123456000, time.UTC)
	if !got.CreatedAt.Equal(want) || got.CreatedAt.Location() != time.UTC {
		t.Errorf("CreatedAt = %v, want %v (UTC, truncated to the microsecond)", got.CreatedAt, want)
	}
}

func auditDuplicateID(t *testing.T, s AuditStore) {
	ctx := recordsCtx(t)
	recordsMust(t, "InsertAuditEvent", s.InsertAuditEvent(ctx, auditSample("a1")))
	dup := auditSample("a1")
	dup.Action = "session.logout"
	recordsWantIs(t, "InsertAuditEvent with a taken id", s.InsertAuditEvent(ctx, dup), records.ErrConflict)
	if got := auditGet(t, s, "a1"); got.Action != "session.login_failed" {
		t.Errorf("the duplicate replaced the event: action %q", got.Action)
	}
}

// auditInvalid checks that events missing a required field, with an outcome other than success or
// failure, or with Data that cannot be JSON are refused and leave nothing behind.
func auditInvalid(t *testing.T, s AuditStore) {
	ctx := recordsCtx(t)
	for _, tc := range []struct {
		name   string
		change func(e *gatehouse.AuditEvent)
	}{
		{"no action", func(e *gatehouse.AuditEvent) { e.Action = "" }},
		{"no outcome", func(e *gatehouse.AuditEvent) { e.Outcome = "" }},
		{"unknown outcome", func(e *gatehouse.AuditEvent) { e.Outcome = "maybe" }},
		{"no time", func(e *gatehouse.AuditEvent) { e.CreatedAt = time.Time{} }},
		{"data with a NaN", func(e *gatehouse.AuditEvent) { e.Data = map[string]any{"x": math.NaN()} }},
		{"data with a channel", func(e *gatehouse.AuditEvent) { e.Data = map[string]any{"x": make(chan int)} }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := auditSample("bad")
			tc.change(e)
			if err := s.InsertAuditEvent(ctx, e); err == nil {
				t.Fatal("InsertAuditEvent succeeded")
			}
			_, err := s.GetAuditEvent(ctx, "bad")
			recordsWantIs(t, "GetAuditEvent of the refused event", err, records.ErrNotFound)
		})
	}
	if err := s.InsertAuditEvent(ctx, &gatehouse.AuditEvent{Action: "a", Outcome: "success", CreatedAt: auditBase}); err == nil {
		t.Error("InsertAuditEvent without an id succeeded")
	}
}

func auditUnknownID(t *testing.T, s AuditStore) {
	ctx := recordsCtx(t)
	recordsMust(t, "InsertAuditEvent", s.InsertAuditEvent(ctx, auditSample("a1")))
	for _, id := range []string{"a2", "", "not a uuid at all ✗"} {
		_, err := s.GetAuditEvent(ctx, id)
		recordsWantIs(t, fmt.Sprintf("GetAuditEvent(%q)", id), err, records.ErrNotFound)
	}
}

func mailSample(id string, created time.Time) *gatehouse.MailDelivery {
	return &gatehouse.MailDelivery{
		ID:        id,
		To:        "Ann Example <ann@example.com>",
		Template:  "verify_email",
		Subject:   "Confirm your email address ✓",
		Status:    gatehouse.MailQueued,
		CreatedAt: created,
		UpdatedAt: created,
	}
}

func mailGet(t *testing.T, s AuditStore, id string) *gatehouse.MailDelivery {
	t.Helper()
	d, err := s.GetMailDelivery(recordsCtx(t), id)
	recordsMust(t, "GetMailDelivery "+id, err)
	return d
}

// mailWantEqual compares two deliveries field by field, times with Equal and in UTC.
func mailWantEqual(t *testing.T, got, want *gatehouse.MailDelivery) {
	t.Helper()
	g, w := *got, *want
	for _, tt := range []struct {
		name      string
		got, want *time.Time
	}{
		{"CreatedAt", &g.CreatedAt, &w.CreatedAt},
		{"UpdatedAt", &g.UpdatedAt, &w.UpdatedAt},
		{"SentAt", &g.SentAt, &w.SentAt},
	} {
		if !tt.got.Equal(*tt.want) || tt.got.IsZero() != tt.want.IsZero() || (!tt.got.IsZero() && tt.got.Location() != time.UTC) {
			t.Errorf("delivery %s: %s = %v, want %v in UTC", w.ID, tt.name, *tt.got, *tt.want)
		}
		*tt.got, *tt.want = time.Time{}, time.Time{}
	}
	if g != w {
		t.Errorf("delivery read back:\n got %#v\nwant %#v", g, w)
	}
}

func mailCreateGet(t *testing.T, s AuditStore) {
	ctx := recordsCtx(t)
	d := mailSample("m1", auditBase)
	d.Status, d.Attempts, d.LastError, d.ProviderMessageID = gatehouse.MailFailed, 2, "421 4.7.0 try again later", "<abc@mx>"
	d.UpdatedAt, d.SentAt = auditBase.Add(time.Minute), auditBase.Add(30*time.Second)
	want := *d
	recordsMust(t, "CreateMailDelivery", s.CreateMailDelivery(ctx, d))
	mailWantEqual(t, mailGet(t, s, "m1"), &want)
}

func mailCreateInTx(t *testing.T, s AuditStore) {
	ctx := recordsCtx(t)
	recordsMust(t, "InTx", s.InTx(ctx, func(ctx context.Context, tx records.Tx) error {
		if err := tx.PutMeta(ctx, "k", "v"); err != nil {
			return err
		}
		return tx.CreateMailDelivery(ctx, mailSample("m1", auditBase))
	}))
	mailWantEqual(t, mailGet(t, s, "m1"), mailSample("m1", auditBase))
}

func mailRollback(t *testing.T, s AuditStore) {
	ctx := recordsCtx(t)
	boom := errors.New("boom")
	err := s.InTx(ctx, func(ctx context.Context, tx records.Tx) error {
		if err := tx.CreateMailDelivery(ctx, mailSample("m1", auditBase)); err != nil {
			return err
		}
		return boom
	})
	recordsWantIs(t, "InTx returning an error", err, boom)
	_, err = s.GetMailDelivery(ctx, "m1")
	recordsWantIs(t, "GetMailDelivery after rollback", err, records.ErrNotFound)
	list, err := s.ListMailDeliveries(ctx, 10)
	recordsMust(t, "ListMailDeliveries", err)
	if len(list) != 0 {
		t.Errorf("ListMailDeliveries after rollback = %d deliveries, want 0", len(list))
	}
}

func mailUpdatedAtDefault(t *testing.T, s AuditStore) {
	ctx := recordsCtx(t)
	d := mailSample("m1", auditBase)
	d.UpdatedAt = time.Time{}
	recordsMust(t, "CreateMailDelivery", s.CreateMailDelivery(ctx, d))
	if !d.UpdatedAt.Equal(auditBase) {
		t.Errorf("after CreateMailDelivery, UpdatedAt = %v, want CreatedAt %v", d.UpdatedAt, auditBase)
	}
	mailWantEqual(t, mailGet(t, s, "m1"), mailSample("m1", auditBase))
}

func mailUpdate(t *testing.T, s AuditStore) {
	ctx := recordsCtx(t)
	d := mailSample("m1", auditBase)
	other := mailSample("m2", auditBase)
	recordsMust(t, "CreateMailDelivery", s.CreateMailDelivery(ctx, d))
	recordsMust(t, "CreateMailDelivery", s.CreateMailDelivery(ctx, other))

	// A failed attempt, then a successful one that clears the error.
	d.Status, d.Attempts, d.LastError, d.UpdatedAt = gatehouse.MailFailed, 1, "dial tcp: connection refused", auditBase.Add(time.Second)
	recordsMust(t, "UpdateMailDelivery (failed)", s.UpdateMailDelivery(ctx, d))
	mailWantEqual(t, mailGet(t, s, "m1"), d)

	d.Status, d.Attempts, d.LastError, d.ProviderMessageID = gatehouse.MailSent, 2, "", "<0190@mail.example.com>"
	d.UpdatedAt, d.SentAt = auditBase.Add(time.Minute), auditBase.Add(time.Minute)
	changed := *d
	// Fields UpdateMailDelivery does not store stay as created.
	d.To, d.Template, d.Subject, d.CreatedAt = "x@example.com", "other", "other", auditBase.Add(time.Hour)
	recordsMust(t, "UpdateMailDelivery (sent)", s.UpdateMailDelivery(ctx, d))
	mailWantEqual(t, mailGet(t, s, "m1"), &changed)
	mailWantEqual(t, mailGet(t, s, "m2"), other)
}

func mailUnknownID(t *testing.T, s AuditStore) {
	ctx := recordsCtx(t)
	recordsMust(t, "CreateMailDelivery", s.CreateMailDelivery(ctx, mailSample("m1", auditBase)))
	_, err := s.GetMailDelivery(ctx, "m2")
	recordsWantIs(t, "GetMailDelivery of an unknown id", err, records.ErrNotFound)
	_, err = s.GetMailDelivery(ctx, "not a uuid ✗")
	recordsWantIs(t, "GetMailDelivery of a malformed id", err, records.ErrNotFound)
	err = s.UpdateMailDelivery(ctx, mailSample("m2", auditBase))
	recordsWantIs(t, "UpdateMailDelivery of an unknown id", err, records.ErrNotFound)
}

func mailDuplicateID(t *testing.T, s AuditStore) {
	ctx := recordsCtx(t)
	recordsMust(t, "CreateMailDelivery", s.CreateMailDelivery(ctx, mailSample("m1", auditBase)))
	err := s.CreateMailDelivery(ctx, mailSample("m1", auditBase.Add(time.Second)))
	recordsWantIs(t, "CreateMailDelivery with a taken id", err, records.ErrConflict)
}

func mailInvalid(t *testing.T, s AuditStore) {
	ctx := recordsCtx(t)
	for _, tc := range []struct {
		name   string
		change func(d *gatehouse.MailDelivery)
	}{
		{"no id", func(d *gatehouse.MailDelivery) { d.ID = "" }},
		{"no time", func(d *gatehouse.MailDelivery) { d.CreatedAt = time.Time{} }},
		{"unknown status", func(d *gatehouse.MailDelivery) { d.Status = "bounced" }},
		{"negative attempts", func(d *gatehouse.MailDelivery) { d.Attempts = -1 }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := mailSample("bad", auditBase)
			tc.change(d)
			if err := s.CreateMailDelivery(ctx, d); err == nil {
				t.Fatal("CreateMailDelivery succeeded")
			}
		})
	}
	list, err := s.ListMailDeliveries(ctx, 10)
	recordsMust(t, "ListMailDeliveries", err)
	if len(list) != 0 {
		t.Errorf("ListMailDeliveries = %d deliveries, want none stored", len(list))
	}
	recordsMust(t, "CreateMailDelivery", s.CreateMailDelivery(ctx, mailSample("m1", auditBase)))
	d := mailSample("m1", auditBase)
	d.Status = "bounced"
	if err := s.UpdateMailDelivery(ctx, d); err == nil {
		t.Error("UpdateMailDelivery to an unknown status succeeded")
	}
	if got := mailGet(t, s, "m1"); got.Status != gatehouse.MailQueued {
		t.Errorf("status after a refused update = %q, want %q", got.Status, gatehouse.MailQueued)
	}
	for _, limit := range []int{0, -1} {
		if _, err := s.ListMailDeliveries(ctx, limit); err == nil {
			t.Errorf("ListMailDeliveries(%d) succeeded", limit)
		}
	}
}

// mailListNewestFirst creates deliveries out of order, two of them at the same instant (ordered
// then by id, newest first), and lists them whole and in part.
func mailListNewestFirst(t *testing.T, s AuditStore) {
	ctx := recordsCtx(t)
	at := func(minutes int) time.Time { return auditBase.Add(time.Duration(minutes) * time.Minute) }
	for _, d := range []*gatehouse.MailDelivery{
		mailSample("m3", at(2)),
		mailSample("m1", at(0)),
		mailSample("m5", at(3)),
		mailSample("m4", at(3)),
		mailSample("m2", at(1)),
	} {
		recordsMust(t, "CreateMailDelivery", s.CreateMailDelivery(ctx, d))
	}
	// An update does not move a delivery: the order is by creation.
	d := mailSample("m1", at(0))
	d.Status, d.UpdatedAt, d.SentAt = gatehouse.MailSent, at(10), at(10)
	recordsMust(t, "UpdateMailDelivery", s.UpdateMailDelivery(ctx, d))

	for _, tc := range []struct {
		limit int
		want  []string
	}{
		{1, []string{"m5"}},
		{3, []string{"m5", "m4", "m3"}},
		{5, []string{"m5", "m4", "m3", "m2", "m1"}},
		{100, []string{"m5", "m4", "m3", "m2", "m1"}},
	} {
		list, err := s.ListMailDeliveries(ctx, tc.limit)
		recordsMust(t, "ListMailDeliveries", err)
		var ids []string
		for _, d := range list {
			ids = append(ids, d.ID)
		}
		if !reflect.DeepEqual(ids, tc.want) {
			t.Errorf("ListMailDeliveries(%d) = %v, want %v", tc.limit, ids, tc.want)
		}
	}
	list, err := s.ListMailDeliveries(ctx, 5)
	recordsMust(t, "ListMailDeliveries", err)
	mailWantEqual(t, list[4], d)
}

func mailListEmpty(t *testing.T, s AuditStore) {
	list, err := s.ListMailDeliveries(recordsCtx(t), 10)
	recordsMust(t, "ListMailDeliveries", err)
	if len(list) != 0 {
		t.Errorf("ListMailDeliveries on an empty store = %d deliveries", len(list))
	}
}
