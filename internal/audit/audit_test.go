package audit_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"os/exec"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/gatehouse/gatehouse"
	"github.com/gatehouse/gatehouse/internal/audit"
	"github.com/gatehouse/gatehouse/internal/records"
)

// memoryLog is a records.AuditWriter that keeps what it is given, or fails with err.
type memoryLog struct {
	mu     sync.Mutex
	events []gatehouse.AuditEvent
	err    error
}

var _ records.AuditWriter = (*memoryLog)(nil)

func (m *memoryLog) InsertAuditEvent(_ context.Context, e *gatehouse.AuditEvent) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.err != nil {
		return m.err
	}
	m.events = append(m.events, *e)
	return nil
}

func (m *memoryLog) only(t *testing.T) gatehouse.AuditEvent {
	t.Helper()
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(m.events) != 1 {
		t.Fatalf("%d events written, want 1", len(m.events))
	}
	return m.events[0]
}

var now = time.Date(2031, 2, 3, 4, 5, 6, 7, time.FixedZone("CET", 3600))

// newRecorder returns a recorder with a fixed clock and ids, logging JSON into the returned buffer.
func newRecorder() (*audit.Recorder, *bytes.Buffer) {
	var buf bytes.Buffer
	logger := slog.New(slog.NewJSONHandler(&buf, nil))
	n := 0
	return audit.NewRecorder(logger, func() time.Time { return now }, func() string {
		n++
		return "id-" + string(rune('0'+n))
	}), &buf
}

// logLines decodes the JSON lines logged.
func logLines(t *testing.T, buf *bytes.Buffer) []map[string]any {
	t.Helper()
	var lines []map[string]any
	for _, l := range strings.Split(strings.TrimSpace(buf.String()), "\n") {
		if l == "" {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("log line %q: %v", l, err)
		}
		lines = append(lines, m)
	}
	return lines
}

func TestRecordFillsTheEvent(t *testing.T) {
	rec, _ := newRecorder()
	w := &memoryLog{}
	ctx := audit.WithRequest(context.Background(), audit.RequestMeta{RequestID: "req-1", IP: "192.0.2.7", UserAgent: "curl/8.0"})
	err := rec.Record(ctx, w, gatehouse.AuditEvent{
		Action:    audit.ActionSessionLogin,
		ActorID:   "acc-1",
		SubjectID: "acc-1",
		SessionID: "ses-1",
		Data:      map[string]any{"amr": []string{"pwd"}},
	})
	if err != nil {
		t.Fatalf("Record: %v", err)
	}
	want := gatehouse.AuditEvent{
		ID:        "id-1",
		Action:    "session.login",
		Outcome:   audit.OutcomeSuccess,
		ActorID:   "acc-1",
		SubjectID: "acc-1",
		SessionID: "ses-1",
		IP:        "192.0.2.7",
		UserAgent: "curl/8.0",
		RequestID: "req-1",
		Data:      map[string]any{"amr": []any{"pwd"}}, // as JSON gives it back
		CreatedAt: now.UTC(),
	}
	got := w.only(t)
	if !reflect.DeepEqual(got, want) {
		t.Errorf("event written:\n got %#v\nwant %#v", got, want)
	}
	if got.CreatedAt.Location() != time.UTC {
		t.Errorf("CreatedAt in %v, want UTC", got.CreatedAt.Location())
	}
}

func TestRecordKeepsWhatTheCallerSet(t *testing.T) {
	rec, _ := newRecorder()
	w := &memoryLog{}
	ctx := audit.WithRequest(context.Background(), audit.RequestMeta{RequestID: "req-ctx", IP: "192.0.2.7", UserAgent: "ctx-agent"})
	at := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	e := gatehouse.AuditEvent{
		ID: "given", Action: audit.ActionSessionRevoked, Outcome: audit.OutcomeSuccess,
		RequestID: "req-given", IP: "198.51.100.1", UserAgent: "given-agent", CreatedAt: at,
	}
	if err := rec.Record(ctx, w, e); err != nil {
		t.Fatalf("Record: %v", err)
	}
	if got := w.only(t); !reflect.DeepEqual(got, e) {
		t.Errorf("event written:\n got %#v\nwant %#v", got, e)
	}
}

// TestCleaning checks that client-sent text cannot make an event unstorable: invalid UTF-8 and NUL
// bytes become U+FFFD, long fields are cut at a character boundary, and Data is its JSON round trip.
func TestCleaning(t *testing.T) {
	rec, _ := newRecorder()
	w := &memoryLog{}
	long := strings.Repeat("a", audit.MaxFieldBytes-1) + "é" // é straddles the limit
	ctx := audit.WithRequest(context.Background(), audit.RequestMeta{UserAgent: long, IP: "192.0.2.1\x00"})
	type detail struct {
		Kind string `json:"kind"`
	}
	err := rec.Record(ctx, w, gatehouse.AuditEvent{
		Action: audit.ActionSessionLoginFailed,
		Reason: "bad\xffreason",
		Data: map[string]any{
			"identifier": "ann\x00@example.com",
			"literal":    `\u0000 stays text`,
			"bytes":      "\xfe\xff",
			"n":          7,
			"detail":     detail{"email"},
			"nul\x00key": true,
		},
	})
	if err != nil {
		t.Fatalf("Record: %v", err)
	}
	got := w.only(t)
	if want := strings.Repeat("a", audit.MaxFieldBytes-1); got.UserAgent != want {
		t.Errorf("UserAgent is %d bytes, want cut to %d at a character boundary", len(got.UserAgent), len(want))
	}
	if got.IP != "192.0.2.1\uFFFD" || got.Reason != "bad\uFFFDreason" {
		t.Errorf("IP %q, Reason %q: want NUL and invalid bytes replaced", got.IP, got.Reason)
	}
	want := map[string]any{
		"identifier":   "ann\uFFFD@example.com",
		"literal":      `\u0000 stays text`,
		"bytes":        "\uFFFD\uFFFD",
		"n":            7.0,
		"detail":       map[string]any{"kind": "email"},
		"nul\uFFFDkey": true,
	}
	if !reflect.DeepEqual(got.Data, want) {
		t.Errorf("Data = %#v, want %#v", got.Data, want)
	}
}

func TestUnencodableData(t *testing.T) {
	rec, buf := newRecorder()
	w := &memoryLog{}
	err := rec.Record(context.Background(), w, gatehouse.AuditEvent{Action: audit.ActionAccountUpdated, Data: map[string]any{"f": func() {}}})
	if err == nil {
		t.Fatal("Record with a func in Data succeeded")
	}
	if len(w.events) != 0 || buf.Len() != 0 {
		t.Errorf("a refused event was written or logged")
	}
}

func TestRecordWithoutRequest(t *testing.T) {
	rec, _ := newRecorder()
	w := &memoryLog{}
	if err := rec.Record(context.Background(), w, gatehouse.AuditEvent{Action: audit.ActionAccountDeleted}); err != nil {
		t.Fatalf("Record: %v", err)
	}
	got := w.only(t)
	if got.RequestID != "" || got.IP != "" || got.UserAgent != "" {
		t.Errorf("event outside a request = %+v, want no request fields", got)
	}
}

func TestOutcome(t *testing.T) {
	for _, tc := range []struct {
		name    string
		outcome string
		reason  string
		want    string
		wantErr bool
	}{
		{"empty without reason is success", "", "", audit.OutcomeSuccess, false},
		{"empty with reason is failure", "", "invalid_credentials", audit.OutcomeFailure, false},
		{"explicit success", audit.OutcomeSuccess, "", audit.OutcomeSuccess, false},
		{"explicit failure", audit.OutcomeFailure, "", audit.OutcomeFailure, false},
		{"explicit success with a reason", audit.OutcomeSuccess, "mfa_skipped", audit.OutcomeSuccess, false},
		{"unknown", "partial", "", "", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec, buf := newRecorder()
			w := &memoryLog{}
			err := rec.Record(context.Background(), w, gatehouse.AuditEvent{Action: audit.ActionSessionLoginFailed, Outcome: tc.outcome, Reason: tc.reason})
			if tc.wantErr {
				if err == nil {
					t.Fatal("Record succeeded")
				}
				if len(w.events) != 0 || buf.Len() != 0 {
					t.Errorf("a refused event was written (%d) or logged (%q)", len(w.events), buf.String())
				}
				return
			}
			if err != nil {
				t.Fatalf("Record: %v", err)
			}
			if got := w.only(t).Outcome; got != tc.want {
				t.Errorf("Outcome = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestRecordRequiresAnAction(t *testing.T) {
	rec, buf := newRecorder()
	w := &memoryLog{}
	if err := rec.Record(context.Background(), w, gatehouse.AuditEvent{ActorID: "a"}); err == nil {
		t.Fatal("Record without an action succeeded")
	}
	if len(w.events) != 0 || buf.Len() != 0 {
		t.Errorf("a refused event was written or logged")
	}
}

func TestLogLine(t *testing.T) {
	rec, buf := newRecorder()
	ctx := audit.WithRequest(context.Background(), audit.RequestMeta{RequestID: "req-9", IP: "192.0.2.7", UserAgent: "agent"})
	err := rec.Record(ctx, &memoryLog{}, gatehouse.AuditEvent{
		Action:    audit.ActionSessionLoginFailed,
		Reason:    "invalid_credentials",
		SubjectID: "acc-2",
		Data:      map[string]any{"identifier": "secret-identifier@example.com", "attempt": 3, "code": "123456"},
	})
	if err != nil {
		t.Fatalf("Record: %v", err)
	}
	lines := logLines(t, buf)
	if len(lines) != 1 {
		t.Fatalf("%d log lines, want 1: %s", len(lines), buf)
	}
	l := lines[0]
	for k, want := range map[string]any{
		"level":      "INFO",
		"msg":        "audit event",
		"audit_id":   "id-1",
		"action":     "session.login_failed",
		"outcome":    "failure",
		"reason":     "invalid_credentials",
		"subject_id": "acc-2",
		"request_id": "req-9",
		"data_keys":  []any{"attempt", "code", "identifier"},
	} {
		if !reflect.DeepEqual(l[k], want) {
			t.Errorf("log %s = %#v, want %#v", k, l[k], want)
		}
	}
	for _, absent := range []string{"actor_id", "session_id"} {
		if _, ok := l[absent]; ok {
			t.Errorf("log has %s although the event has none", absent)
		}
	}
	for _, secret := range []string{"secret-identifier", "123456"} {
		if strings.Contains(buf.String(), secret) {
			t.Errorf("log line contains the Data value %q: %s", secret, buf)
		}
	}
}

func TestWriteFailure(t *testing.T) {
	rec, buf := newRecorder()
	boom := errors.New("database is down")
	err := rec.Record(context.Background(), &memoryLog{err: boom}, gatehouse.AuditEvent{
		Action: audit.ActionTokenReuseDetected, SubjectID: "acc-3", Data: map[string]any{"family": "secret-family"},
	})
	if !errors.Is(err, boom) {
		t.Fatalf("Record = %v, want it to wrap the store's error", err)
	}
	lines := logLines(t, buf)
	if len(lines) != 1 {
		t.Fatalf("%d log lines, want 1: %s", len(lines), buf)
	}
	l := lines[0]
	if l["level"] != "ERROR" || l["action"] != "token.reuse_detected" || l["subject_id"] != "acc-3" ||
		!strings.Contains(l["err"].(string), "database is down") {
		t.Errorf("log line = %v, want the event at error level with the error", l)
	}
	if strings.Contains(buf.String(), "secret-family") {
		t.Errorf("log line contains a Data value: %s", buf)
	}
}

func TestDefaults(t *testing.T) {
	rec := audit.NewRecorder(nil, nil, nil)
	w := &memoryLog{}
	before := time.Now()
	for range 2 {
		if err := rec.Record(context.Background(), w, gatehouse.AuditEvent{Action: audit.ActionAccountRegistered}); err != nil {
			t.Fatalf("Record: %v", err)
		}
	}
	after := time.Now()
	if w.events[0].ID == w.events[1].ID {
		t.Errorf("two events got the same id %s", w.events[0].ID)
	}
	for _, e := range w.events {
		id, err := uuid.Parse(e.ID)
		if err != nil || id.Version() != 7 {
			t.Errorf("ID %q is not a UUIDv7 (%v)", e.ID, err)
		}
		if e.CreatedAt.Before(before.Truncate(time.Microsecond)) || e.CreatedAt.After(after) || e.CreatedAt.Location() != time.UTC {
			t.Errorf("CreatedAt %v not the current UTC time", e.CreatedAt)
		}
	}
}

func TestRequestFrom(t *testing.T) {
	if got := audit.RequestFrom(context.Background()); got != (audit.RequestMeta{}) {
		t.Errorf("RequestFrom(empty context) = %+v, want zero", got)
	}
	m := audit.RequestMeta{RequestID: "r", IP: "192.0.2.1", UserAgent: "ua"}
	ctx := audit.WithRequest(context.Background(), m)
	if got := audit.RequestFrom(ctx); got != m {
		t.Errorf("RequestFrom = %+v, want %+v", got, m)
	}
	inner := audit.WithRequest(ctx, audit.RequestMeta{RequestID: "r2"})
	if got := audit.RequestFrom(inner); got.RequestID != "r2" || got.IP != "" {
		t.Errorf("RequestFrom(inner) = %+v, want the inner metadata only", got)
	}
}

func TestActionNames(t *testing.T) {
	got := []string{
		audit.ActionAccountRegistered, audit.ActionAccountRegisterExistingEmail, audit.ActionAccountEmailVerified,
		audit.ActionAccountUpdated, audit.ActionAccountDeleted, audit.ActionSessionLogin, audit.ActionSessionLoginFailed,
		audit.ActionSessionLogout, audit.ActionSessionRevoked, audit.ActionTokenReuseDetected,
	}
	want := []string{
		"account.registered", "account.register_existing_email", "account.email_verified",
		"account.updated", "account.deleted", "session.login", "session.login_failed",
		"session.logout", "session.revoked", "token.reuse_detected",
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("action names = %v, want %v (stored names never change)", got, want)
	}
}

// TestNoAdapterDependencies keeps the package a domain package: no HTTP, SQL or Redis code in its
// (non-test) dependency graph. (database/sql/driver, the interfaces package that uuid implements, is
// no SQL code.)
func TestNoAdapterDependencies(t *testing.T) {
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skip("go tool not on PATH; install Go to run this check")
	}
	out, err := exec.Command(goTool, "list", "-deps", ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go list -deps: %v\n%s", err, out)
	}
	for _, dep := range strings.Fields(string(out)) {
		for _, banned := range []string{"net/http", "database/sql", "github.com/jackc/pgx", "modernc.org/sqlite", "github.com/redis/",
			"github.com/gatehouse/gatehouse/internal/postgres", "github.com/gatehouse/gatehouse/internal/sqlite",
			"github.com/gatehouse/gatehouse/internal/redis", "github.com/gatehouse/gatehouse/internal/httpapi"} {
			if dep == banned || (dep != "database/sql/driver" && strings.HasPrefix(dep, strings.TrimSuffix(banned, "/")+"/")) {
				t.Errorf("internal/audit depends on %s", dep)
			}
		}
	}
}
