package account_test

import (
	"context"
	"errors"
	"regexp"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/gatehouse/gatehouse"
	"github.com/gatehouse/gatehouse/internal/account"
	"github.com/gatehouse/gatehouse/internal/audit"
	"github.com/gatehouse/gatehouse/internal/ephemeral"
	"github.com/gatehouse/gatehouse/internal/jobs"
	"github.com/gatehouse/gatehouse/internal/mail"
	"github.com/gatehouse/gatehouse/internal/memory"
	"github.com/gatehouse/gatehouse/internal/otp"
	"github.com/gatehouse/gatehouse/internal/password"
	"github.com/gatehouse/gatehouse/internal/postgres"
	"github.com/gatehouse/gatehouse/internal/records"
	"github.com/gatehouse/gatehouse/internal/seal"
	"github.com/gatehouse/gatehouse/internal/session"
	"github.com/gatehouse/gatehouse/internal/sms"
	"github.com/gatehouse/gatehouse/internal/sqlite"
	"github.com/gatehouse/gatehouse/internal/testdb"
	"github.com/gatehouse/gatehouse/internal/token"
	"github.com/gatehouse/gatehouse/internal/token/tokentest"
)

const (
	publicURL    = "https://auth.example.test"
	testAudience = "https://api.example.test"
	goodPassword = "correct horse battery staple"
	// wait bounds every wait for something the job queue does on its own: a deadline for
	// failures, never a delay on success.
	wait = 15 * time.Second
)

var epoch = time.Date(2030, 6, 1, 12, 0, 0, 0, time.UTC)

var firefox = session.ClientMeta{
	UserAgent: "Mozilla/5.0 (X11; Linux x86_64; rv:120.0) Gecko/20100101 Firefox/120.0",
	IP:        "192.0.2.10",
}

// auditLog is the real recorder, keeping a copy of every event it stored.
type auditLog struct {
	rec    *audit.Recorder
	mu     sync.Mutex
	events []gatehouse.AuditEvent
}

func (a *auditLog) Record(ctx context.Context, w records.AuditWriter, e gatehouse.AuditEvent) error {
	if err := a.rec.Record(ctx, w, e); err != nil {
		return err
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	a.events = append(a.events, e)
	return nil
}

// find returns the events with the action about the subject ("" for any subject).
func (a *auditLog) find(action, subjectID string) []gatehouse.AuditEvent {
	a.mu.Lock()
	defer a.mu.Unlock()
	var out []gatehouse.AuditEvent
	for _, e := range a.events {
		if e.Action == action && (subjectID == "" || e.SubjectID == subjectID) {
			out = append(out, e)
		}
	}
	return out
}

// last returns the newest event with the action, failing the test when there is none.
func (a *auditLog) last(t testing.TB, action string) gatehouse.AuditEvent {
	t.Helper()
	evs := a.find(action, "")
	if len(evs) == 0 {
		t.Fatalf("no %s audit event", action)
	}
	return evs[len(evs)-1]
}

// backend opens a fresh, migrated records store running the given job workers, and an empty
// ephemeral store. fakeTime reports whether the ephemeral store follows the test clock (so that
// TTLs can be passed by advancing it).
type backend struct {
	name     string
	fakeTime bool
	open     func(t testing.TB, c *tokentest.Clock, w *jobs.Workers) (records.Store, ephemeral.Store)
}

func backends() []backend {
	return []backend{
		{"sqlite+memory", true, openSQLiteMemory},
		{"postgres+redis", false, openPostgresRedis},
	}
}

// testJobs polls often so that queued mail goes out at once.
var testJobs = jobs.Config{Workers: 2, PollInterval: 10 * time.Millisecond, RetryBase: time.Millisecond, RetryMax: 4 * time.Millisecond}

func openSQLiteMemory(t testing.TB, c *tokentest.Clock, w *jobs.Workers) (records.Store, ephemeral.Store) {
	t.Helper()
	db, _ := testdb.SQLite(t, sqlite.Options{Workers: w, Jobs: testJobs})
	eph := memory.New(c.Now)
	t.Cleanup(func() { _ = eph.Close() })
	return db, eph
}

func openPostgresRedis(t testing.TB, _ *tokentest.Clock, w *jobs.Workers) (records.Store, ephemeral.Store) {
	t.Helper()
	db, _ := testdb.Postgres(t, postgres.Options{MaxConns: 8, Workers: w, Jobs: testJobs})
	return db, testdb.Redis(t)
}

// env is one backend pair with every real collaborator of the Service over it: the mail and SMS
// workers sending to a dev outbox, the audit recorder, sessions, access tokens and one-time codes.
type env struct {
	backend  string
	fakeTime bool
	store    records.Store
	eph      ephemeral.Store
	clock    *tokentest.Clock
	audit    *auditLog
	outbox   *mail.DevOutbox
	mail     *mail.Queuer
	hasher   *password.Hasher
	sessions *session.Service
	tokens   *token.Tokens
	otp      *otp.Engine
	texts    *textLog
	svc      *account.Service
}

// eachBackend runs fn on every backend, each in a parallel subtest with its own stores. opts
// adjusts the Service's options (nil: the defaults of the tests).
func eachBackend(t *testing.T, opts func(*account.Options), fn func(t *testing.T, e *env)) {
	t.Helper()
	for _, b := range backends() {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			fn(t, newEnv(t, b, opts))
		})
	}
}

func newEnv(t testing.TB, b backend, opts func(*account.Options)) *env {
	t.Helper()
	c := tokentest.NewClock(epoch)
	e := &env{
		backend:  b.name,
		fakeTime: b.fakeTime,
		clock:    c,
		audit:    &auditLog{rec: audit.NewRecorder(nil, c.Now, nil)},
		outbox:   mail.NewDevOutbox(0, nil, c.Now),
		hasher:   password.NewHasher(password.Params{Memory: 64, Iterations: 1}),
	}
	// Handlers may be registered after the store is opened, as long as it is before the queue
	// starts; the worker records deliveries in the store it serves.
	workers := jobs.NewWorkers()
	e.store, e.eph = b.open(t, c, workers)
	mailSealer, err := seal.NewSealer([]byte("mail-job-key-0123456789abcdef-01"))
	if err != nil {
		t.Fatalf("seal.NewSealer: %v", err)
	}
	e.mail = mail.NewQueuer(mailSealer)
	worker := mail.NewWorker(mail.WorkerDeps{Sender: e.outbox, Deliveries: e.store, Sealer: mailSealer, From: "Gatehouse <no-reply@example.test>", Now: c.Now})
	if err := jobs.Handle(workers, worker.Work); err != nil {
		t.Fatalf("jobs.Handle: %v", err)
	}
	sealer, err := seal.NewSealer([]byte("0123456789abcdef0123456789abcdef"))
	if err != nil {
		t.Fatalf("seal.NewSealer: %v", err)
	}
	e.texts = &textLog{sealer: sealer, queue: e.store.Queue()}
	smsWorker := sms.NewWorker(sms.WorkerDeps{Sender: sms.NewDevOutbox(e.outbox), Sealer: sealer, Now: c.Now})
	if err := jobs.Handle(workers, smsWorker.Work); err != nil {
		t.Fatalf("jobs.Handle: %v", err)
	}
	if err := e.store.Queue().Start(t.Context()); err != nil {
		t.Fatalf("Queue.Start: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = e.store.Queue().Stop(ctx)
	})

	km, err := token.NewKeyManager(tokentest.NewMemoryKeyStore(), token.KeyOptions{EncryptionKey: make([]byte, token.EncryptionKeySize), Now: c.Now})
	if err != nil {
		t.Fatalf("NewKeyManager: %v", err)
	}
	if err := km.Load(t.Context()); err != nil {
		t.Fatalf("KeyManager.Load: %v", err)
	}
	if e.tokens, err = token.NewTokens(km, token.Options{Issuer: publicURL, Audience: []string{testAudience}, Now: c.Now}); err != nil {
		t.Fatalf("NewTokens: %v", err)
	}
	if e.sessions, err = session.NewService(e.store, e.eph, session.Options{Audit: e.audit, Now: c.Now}); err != nil {
		t.Fatalf("session.NewService: %v", err)
	}
	e.otp = e.newOTP(t, nil)
	e.svc = e.service(t, opts)
	return e
}

// service builds a Service over the env's collaborators with the tests' options, adjusted by opts.
func (e *env) service(t testing.TB, opts func(*account.Options)) *account.Service {
	t.Helper()
	return e.serviceWith(t, e.otp, opts)
}

// serviceWith builds a Service like service, over another OTP engine.
func (e *env) serviceWith(t testing.TB, eng *otp.Engine, opts func(*account.Options)) *account.Service {
	t.Helper()
	o := account.Options{PublicURL: publicURL, CodeKey: []byte("0123456789abcdef0123456789abcdef"), DefaultRegion: "KW"}
	if opts != nil {
		opts(&o)
	}
	svc, err := account.NewService(account.Deps{
		Store:     e.store,
		Ephemeral: e.eph,
		Hasher:    e.hasher,
		Policy:    password.DefaultPolicy(),
		Tokens:    e.tokens,
		Sessions:  e.sessions,
		Audit:     e.audit,
		Mail:      e.mail,
		OTP:       eng,
		SMS:       e.texts,
		Now:       e.clock.Now,
	}, o)
	if err != nil {
		t.Fatalf("NewService: %v", err)
	}
	return svc
}

// deliveries lists the emails queued to the address with the template, oldest first. Deliveries
// are recorded in the transaction that queues them, so this needs no wait.
func (e *env) deliveries(t testing.TB, to, template string) []*gatehouse.MailDelivery {
	t.Helper()
	all, err := e.store.ListMailDeliveries(t.Context(), 1000)
	if err != nil {
		t.Fatalf("ListMailDeliveries: %v", err)
	}
	var out []*gatehouse.MailDelivery
	for _, d := range all {
		if d.To == to && d.Template == template {
			out = append(out, d)
		}
	}
	slices.Reverse(out)
	return out
}

// message waits until the delivery has been sent and returns the message the outbox kept.
func (e *env) message(t testing.TB, d *gatehouse.MailDelivery) mail.OutboxMessage {
	t.Helper()
	deadline := time.Now().Add(wait)
	for {
		cur, err := e.store.GetMailDelivery(t.Context(), d.ID)
		if err != nil {
			t.Fatalf("GetMailDelivery: %v", err)
		}
		if cur.Status == gatehouse.MailFailed {
			t.Fatalf("delivery %s failed: %s", d.ID, cur.LastError)
		}
		if cur.Status == gatehouse.MailSent {
			for _, m := range e.outbox.Messages() {
				if m.ID == cur.ProviderMessageID {
					return m
				}
			}
			t.Fatalf("delivery %s sent as %s, which the outbox does not hold", d.ID, cur.ProviderMessageID)
		}
		if time.Now().After(deadline) {
			t.Fatalf("delivery %s not sent after %v", d.ID, wait)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

var (
	linkRE = regexp.MustCompile(regexp.QuoteMeta(publicURL+account.PathVerifyEmail) + `\?token=([A-Za-z0-9_-]+)`)
	codeRE = regexp.MustCompile(`(?m)^\s*(\d{6})\s*$`)
)

// verification returns the link token and the code of the newest verification email to the
// address, failing the test when there is none.
func (e *env) verification(t testing.TB, to string) (tok, code string) {
	t.Helper()
	ds := e.deliveries(t, to, mail.TemplateVerifyEmail)
	if len(ds) == 0 {
		t.Fatalf("no verification email to %s", to)
	}
	m := e.message(t, ds[len(ds)-1])
	lm, cm := linkRE.FindStringSubmatch(m.Text), codeRE.FindStringSubmatch(m.Text)
	if lm == nil || cm == nil {
		t.Fatalf("verification email without link or code:\n%s", m.Text)
	}
	return lm[1], cm[1]
}

// register signs up the address with goodPassword and fails the test on an error.
func (e *env) register(t testing.TB, email string) {
	t.Helper()
	if err := e.svc.Register(t.Context(), account.RegisterInput{Email: email, Password: goodPassword, Name: "Alice"}); err != nil {
		t.Fatalf("Register(%s): %v", email, err)
	}
}

// verified signs up the address, verifies it with the link and returns the account.
func (e *env) verified(t testing.TB, email string) *gatehouse.Account {
	t.Helper()
	e.register(t, email)
	tok, _ := e.verification(t, email)
	a, err := e.svc.VerifyEmail(t.Context(), account.VerifyInput{Token: tok})
	if err != nil {
		t.Fatalf("VerifyEmail: %v", err)
	}
	return a
}

// create stores an account directly (with goodPassword, verified email), adjusted by mod.
func (e *env) create(t testing.TB, mod func(a *gatehouse.Account)) *gatehouse.Account {
	t.Helper()
	hash, err := e.hasher.Hash(t.Context(), goodPassword)
	if err != nil {
		t.Fatal(err)
	}
	id := uuid.Must(uuid.NewV7()).String()
	now := e.clock.Now()
	a := &gatehouse.Account{
		ID: id, Status: gatehouse.AccountActive, Roles: []string{"user"}, Name: "Bob", Locale: "en",
		Email: "bob-" + id[len(id)-12:] + "@example.com", EmailVerifiedAt: now,
		PasswordHash: hash, CreatedAt: now, UpdatedAt: now,
	}
	if mod != nil {
		mod(a)
	}
	err = e.store.InTx(t.Context(), func(ctx context.Context, tx records.Tx) error { return tx.CreateAccount(ctx, a) })
	if err != nil {
		t.Fatalf("CreateAccount: %v", err)
	}
	return a
}

// get reads an account from the store, bypassing the cache.
func (e *env) get(t testing.TB, id string) *gatehouse.Account {
	t.Helper()
	a, err := e.store.GetAccount(t.Context(), id)
	if err != nil {
		t.Fatalf("GetAccount(%s): %v", id, err)
	}
	return a
}

// byEmail reads the live account with the address from the store.
func (e *env) byEmail(t testing.TB, email string) *gatehouse.Account {
	t.Helper()
	a, err := e.store.GetAccountByEmail(t.Context(), email)
	if err != nil {
		t.Fatalf("GetAccountByEmail(%s): %v", email, err)
	}
	return a
}

// update changes an account in the store behind the Service's back (as an administrator will).
func (e *env) update(t testing.TB, id string, mod func(a *gatehouse.Account)) {
	t.Helper()
	err := e.store.InTx(t.Context(), func(ctx context.Context, tx records.Tx) error {
		a, err := tx.GetAccount(ctx, id)
		if err != nil {
			return err
		}
		mod(a)
		return tx.UpdateAccount(ctx, a)
	})
	if err != nil {
		t.Fatalf("update account %s: %v", id, err)
	}
}

// latestVerification reads the newest verification of the account from the store.
func (e *env) latestVerification(t testing.TB, a *gatehouse.Account) *gatehouse.EmailVerification {
	t.Helper()
	var v *gatehouse.EmailVerification
	err := e.store.InTx(t.Context(), func(ctx context.Context, tx records.Tx) error {
		var err error
		v, err = tx.GetLatestEmailVerification(ctx, a.ID, a.Email)
		return err
	})
	if err != nil {
		t.Fatalf("GetLatestEmailVerification: %v", err)
	}
	return v
}

// wantError fails unless err is a *gatehouse.Error with the code and reason ("" for any reason).
func wantError(t testing.TB, what string, err error, code, reason string) *gatehouse.Error {
	t.Helper()
	var ge *gatehouse.Error
	if !errors.As(err, &ge) {
		t.Fatalf("%s: err = %v, want a *gatehouse.Error %s/%s", what, err, code, reason)
	}
	if ge.Code != code || (reason != "" && ge.Reason != reason) {
		t.Fatalf("%s: err = %s/%s (%v), want %s/%s", what, ge.Code, ge.Reason, err, code, reason)
	}
	return ge
}

// fieldErrors returns the Field of every *gatehouse.Error joined in err.
func fieldErrors(err error) []string {
	var out []string
	var walk func(error)
	walk = func(err error) {
		if err == nil {
			return
		}
		if j, ok := err.(interface{ Unwrap() []error }); ok {
			for _, e := range j.Unwrap() {
				walk(e)
			}
			return
		}
		var ge *gatehouse.Error
		if errors.As(err, &ge) {
			out = append(out, ge.Field)
		}
	}
	walk(err)
	slices.Sort(out)
	return out
}
