package session_test

import (
	"context"
	"crypto/sha256"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/gatehouse/gatehouse"
	"github.com/gatehouse/gatehouse/internal/ephemeral"
	"github.com/gatehouse/gatehouse/internal/memory"
	"github.com/gatehouse/gatehouse/internal/postgres"
	"github.com/gatehouse/gatehouse/internal/records"
	"github.com/gatehouse/gatehouse/internal/session"
	"github.com/gatehouse/gatehouse/internal/sqlite"
	"github.com/gatehouse/gatehouse/internal/testdb"
)

// clock is a settable time source shared by the service, the ephemeral store (memory) and the
// revocation checkers, so that tests move time instead of waiting.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func newClock() *clock {
	return &clock{now: time.Date(2030, 6, 1, 12, 0, 0, 0, time.UTC)}
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// auditLog is an AuditRecorder that writes each event through the transaction, as the real one
// does, and keeps a copy to look at.
type auditLog struct {
	mu     sync.Mutex
	events []gatehouse.AuditEvent
}

func (a *auditLog) Record(ctx context.Context, w records.AuditWriter, e gatehouse.AuditEvent) error {
	if err := w.InsertAuditEvent(ctx, &e); err != nil {
		return err
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	a.events = append(a.events, e)
	return nil
}

// actions returns the actions recorded about the session, in order.
func (a *auditLog) actions(sessionID string) []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	var out []string
	for _, e := range a.events {
		if e.SessionID == sessionID {
			out = append(out, e.Action)
		}
	}
	return out
}

func (a *auditLog) find(action, sessionID string) (gatehouse.AuditEvent, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, e := range a.events {
		if e.Action == action && e.SessionID == sessionID {
			return e, true
		}
	}
	return gatehouse.AuditEvent{}, false
}

// env is one backend pair with a service over it.
type env struct {
	store records.Store
	eph   ephemeral.Store
	clock *clock
	audit *auditLog
	svc   *session.Service
}

// backend opens a fresh, migrated records store and an empty ephemeral store, both closed when the
// test ends.
type backend struct {
	name string
	open func(t testing.TB, c *clock) (records.Store, ephemeral.Store)
}

// backends are SQLite with the in-memory store always, and PostgreSQL with Redis when both test
// servers are configured.
func backends() []backend {
	return []backend{
		{"sqlite+memory", openSQLiteMemory},
		{"postgres+redis", openPostgresRedis},
	}
}

func openSQLiteMemory(t testing.TB, c *clock) (records.Store, ephemeral.Store) {
	t.Helper()
	db, _ := testdb.SQLite(t, sqlite.Options{})
	eph := memory.New(c.Now)
	t.Cleanup(func() { _ = eph.Close() })
	return db, eph
}

func openPostgresRedis(t testing.TB, _ *clock) (records.Store, ephemeral.Store) {
	t.Helper()
	db, _ := testdb.Postgres(t, postgres.Options{MaxConns: 8})
	return db, testdb.Redis(t)
}

// testOptions are the service options of the tests: short lifetimes are not needed, the clock moves.
func testOptions(c *clock, a *auditLog) session.Options {
	return session.Options{Audit: a, Now: c.Now}
}

// eachBackend runs fn on every backend, each subtest with its own stores.
func eachBackend(t *testing.T, fn func(t *testing.T, e *env)) {
	t.Helper()
	for _, b := range backends() {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			fn(t, newEnv(t, b))
		})
	}
}

func newEnv(t testing.TB, b backend) *env {
	t.Helper()
	c := newClock()
	store, eph := b.open(t, c)
	a := &auditLog{}
	svc, err := session.NewService(store, eph, testOptions(c, a))
	if err != nil {
		t.Fatalf("NewService: %v", err)
	}
	return &env{store: store, eph: eph, clock: c, audit: a, svc: svc}
}

// account stores an active account and returns its id.
func (e *env) account(t testing.TB) string {
	t.Helper()
	id := uuid.Must(uuid.NewV7()).String()
	now := e.clock.Now()
	err := e.store.InTx(t.Context(), func(ctx context.Context, tx records.Tx) error {
		return tx.CreateAccount(ctx, &gatehouse.Account{
			ID: id, Status: gatehouse.AccountActive, Roles: []string{"user"}, Name: "Test", Locale: "en",
			Email: "t-" + id + "@example.com", CreatedAt: now, UpdatedAt: now,
		})
	})
	if err != nil {
		t.Fatalf("CreateAccount: %v", err)
	}
	return id
}

var firefox = session.ClientMeta{
	UserAgent: "Mozilla/5.0 (X11; Linux x86_64; rv:120.0) Gecko/20100101 Firefox/120.0",
	IP:        "192.0.2.10",
	Location:  "Lisbon, PT",
	AMR:       []string{"pwd"},
}

// start signs the account in and returns the session and its first refresh token.
func (e *env) start(t testing.TB, accountID string) (*gatehouse.Session, string) {
	t.Helper()
	var (
		sess *gatehouse.Session
		tok  string
	)
	err := e.store.InTx(t.Context(), func(ctx context.Context, tx records.Tx) error {
		var err error
		sess, tok, err = e.svc.Start(ctx, tx, accountID, firefox)
		return err
	})
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	return sess, tok
}

// refresh rotates tok and fails the test on an error.
func (e *env) refresh(t testing.TB, tok string) (*gatehouse.Session, string) {
	t.Helper()
	sess, next, err := e.svc.Refresh(t.Context(), tok, firefox)
	if err != nil {
		t.Fatalf("Refresh: %v", err)
	}
	return sess, next
}

// token reads the stored refresh token with the hash of tok.
func (e *env) token(t testing.TB, tok string) (*gatehouse.RefreshToken, error) {
	t.Helper()
	var rt *gatehouse.RefreshToken
	err := e.store.InTx(t.Context(), func(ctx context.Context, tx records.Tx) error {
		var err error
		rt, err = tx.GetRefreshTokenForUpdate(ctx, hash(tok))
		return err
	})
	return rt, err
}

func hash(tok string) []byte {
	h := sha256.Sum256([]byte(tok))
	return h[:]
}

// wantReason fails unless err is an *gatehouse.Error with the code and reason.
func wantReason(t testing.TB, what string, err error, code, reason string) {
	t.Helper()
	var ge *gatehouse.Error
	if !errors.As(err, &ge) || ge.Code != code || ge.Reason != reason {
		t.Fatalf("%s: err = %v, want %s/%s", what, err, code, reason)
	}
}

// eventually polls cond until it holds; the bound is a deadline for failures, never a delay.
func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

func sortedCopy(s []string) []string {
	c := slices.Clone(s)
	slices.Sort(c)
	return c
}
