package mail

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"log/slog"
	"maps"
	"mime"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
	"github.com/jackc/pgx/v5"

	"github.com/gatehouse/gatehouse"
	"github.com/gatehouse/gatehouse/internal/jobs"
	"github.com/gatehouse/gatehouse/internal/postgres"
	"github.com/gatehouse/gatehouse/internal/records"
	"github.com/gatehouse/gatehouse/internal/seal"
	"github.com/gatehouse/gatehouse/internal/sqlite"
	"github.com/gatehouse/gatehouse/internal/testdb"
)

// recordsStore is a migrated store of record with its queue.
type recordsStore interface {
	records.Store
	records.Migrator
}

// fastJobs retries within milliseconds, so that a job's attempts run out quickly.
func fastJobs(maxAttempts int) jobs.Config {
	return jobs.Config{
		Workers:      2,
		MaxAttempts:  maxAttempts,
		PollInterval: 10 * time.Millisecond,
		RetryBase:    time.Millisecond,
		RetryMax:     4 * time.Millisecond,
	}
}

func openSQLite(t *testing.T, workers *jobs.Workers, cfg jobs.Config) recordsStore {
	t.Helper()
	db, _ := openSQLiteIn(t, workers, cfg)
	return db
}

// openSQLiteIn opens a store like openSQLite and also returns the directory of its files.
func openSQLiteIn(t *testing.T, workers *jobs.Workers, cfg jobs.Config) (recordsStore, string) {
	t.Helper()
	return testdb.SQLite(t, sqlite.Options{Workers: workers, Jobs: cfg})
}

func openPostgres(t *testing.T, workers *jobs.Workers, cfg jobs.Config) recordsStore {
	t.Helper()
	db, _ := openPostgresIn(t, workers, cfg)
	return db
}

// openPostgresIn opens a store like openPostgres and also returns its schema.
func openPostgresIn(t *testing.T, workers *jobs.Workers, cfg jobs.Config) (recordsStore, string) {
	t.Helper()
	return testdb.Postgres(t, postgres.Options{Workers: workers, Jobs: cfg})
}

// waitFor polls cond, at most a bounded time, until it holds.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// verifyData is the data of a verification email; its link and code are secrets.
func verifyData() map[string]string {
	return map[string]string{
		"Name":    "Layla <b>",
		"Link":    "https://id.example.com/verify-email?token=SECRET-LINK-TOKEN",
		"Code":    "918273",
		"LinkTTL": "24h",
		"CodeTTL": "15m",
	}
}

func testKey(b byte) []byte { return bytes.Repeat([]byte{b}, seal.KeyLen) }

func mustSealer(t *testing.T, key []byte, previous ...[]byte) *seal.Sealer {
	t.Helper()
	s, err := seal.NewSealer(key, previous...)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// testSealer is the sealer of the tests' queue and workers.
func testSealer(t *testing.T) *seal.Sealer {
	t.Helper()
	return mustSealer(t, testKey(1))
}

// queueOne queues a verification email in its own transaction and returns the delivery record.
func queueOne(t *testing.T, db recordsStore, at time.Time) *gatehouse.MailDelivery {
	t.Helper()
	before, err := db.ListMailDeliveries(t.Context(), 1000)
	if err != nil {
		t.Fatal(err)
	}
	err = db.InTx(t.Context(), func(ctx context.Context, tx records.Tx) error {
		return NewQueuer(testSealer(t)).Queue(ctx, tx, Outgoing{To: "layla@example.org", Template: TemplateVerifyEmail, Locale: "ar-EG", Data: verifyData(), QueuedAt: at})
	})
	if err != nil {
		t.Fatalf("Queue: %v", err)
	}
	after, err := db.ListMailDeliveries(t.Context(), 1000)
	if err != nil {
		t.Fatal(err)
	}
	if len(after) != len(before)+1 {
		t.Fatalf("Queue made %d delivery records, want 1", len(after)-len(before))
	}
	return after[0]
}

func delivery(t *testing.T, db recordsStore, id string) *gatehouse.MailDelivery {
	t.Helper()
	d, err := db.GetMailDelivery(t.Context(), id)
	if err != nil {
		t.Fatalf("GetMailDelivery: %v", err)
	}
	return d
}

// syncBuffer is a log destination safe for concurrent jobs.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// checkNoSecrets fails when the log holds the link token or the code.
func checkNoSecrets(t *testing.T, log string) {
	t.Helper()
	for _, secret := range []string{"SECRET-LINK-TOKEN", verifyData()["Code"]} {
		if strings.Contains(log, secret) {
			t.Errorf("the log holds a secret %q:\n%s", secret, log)
		}
	}
}

// TestQueueAndSendEndToEnd queues a verification email in a transaction and lets the queue's
// workers send it to the SMTP server, on both stores.
func TestQueueAndSendEndToEnd(t *testing.T) {
	for name, open := range map[string]func(*testing.T, *jobs.Workers, jobs.Config) (recordsStore, string){"sqlite": openSQLiteIn, "postgres": openPostgresIn} {
		t.Run(name, func(t *testing.T) {
			serverTLS, clientTLS := testCertificates(t)
			srv := startTestSMTP(t, testSMTPOptions{TLS: serverTLS, Users: map[string]string{"mailer": "pw"}})
			server, err := ParseURL("smtp://mailer:pw@" + srv.Addr)
			if err != nil {
				t.Fatal(err)
			}
			workers := jobs.NewWorkers()
			db, where := open(t, workers, fastJobs(3))
			var logs syncBuffer
			w := NewWorker(WorkerDeps{
				Sender:     NewSMTPSender(server, SMTPOptions{TLSConfig: clientTLS}),
				Deliveries: db,
				Sealer:     testSealer(t),
				From:       "Gatehouse <no-reply@example.com>",
				Limiter:    NewLimiter(memoryStore(t), 100, nil),
				Logger:     slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
			})
			if err := jobs.Handle(workers, w.Work); err != nil {
				t.Fatal(err)
			}

			queuedAt := time.Date(2026, 2, 3, 4, 5, 6, 0, time.UTC)
			d := queueOne(t, db, queuedAt)
			if d.Status != gatehouse.MailQueued || d.To != "layla@example.org" || d.Template != TemplateVerifyEmail ||
				d.Subject != "تأكيد عنوان بريدك الإلكتروني" || d.Attempts != 0 || !d.CreatedAt.Equal(queuedAt) {
				t.Errorf("queued record = %+v", d)
			}

			testdb.StartQueue(t, db.Queue())
			msgs := srv.waitMessages(t, 1)
			waitFor(t, "the delivery to be recorded as sent", func() bool { return delivery(t, db, d.ID).Status == gatehouse.MailSent })

			got := delivery(t, db, d.ID)
			if got.Attempts != 1 || got.LastError != "" || got.SentAt.IsZero() {
				t.Errorf("sent record = %+v", got)
			}
			pm := parseReceived(t, msgs[0].Data)
			if pm.Header.Get("Message-Id") != got.ProviderMessageID {
				t.Errorf("record's provider id %q is not the Message-ID %q", got.ProviderMessageID, pm.Header.Get("Message-Id"))
			}
			if to, err := pm.Header.AddressList("To"); err != nil || to[0].Name != "Layla <b>" || to[0].Address != "layla@example.org" {
				t.Errorf("To = %v (%v)", to, err)
			}
			if subject, err := new(mime.WordDecoder).DecodeHeader(pm.Header.Get("Subject")); err != nil || subject != got.Subject || pm.Header.Get("Auto-Submitted") != "auto-generated" {
				t.Errorf("headers: %v", pm.Header)
			}
			for _, part := range []string{"text/plain", "text/html"} {
				if !strings.Contains(pm.Parts[part], "SECRET-LINK-TOKEN") || !strings.Contains(pm.Parts[part], "918273") {
					t.Errorf("%s part lacks the link or code", part)
				}
			}
			if !strings.Contains(pm.Parts["text/html"], `dir="rtl"`) {
				t.Error("the Arabic message is not right to left")
			}
			if msgs[0].User != "mailer" || !msgs[0].TLS {
				t.Errorf("sent without STARTTLS and AUTH: %+v", msgs[0])
			}
			// The worker logs the send after recording it.
			waitFor(t, "the worker to log the send", func() bool { return strings.Contains(logs.String(), "mail sent") })
			checkNoSecrets(t, logs.String())
			checkDatabaseHasNoSecrets(t, name, where, d.ID)
		})
	}
}

// checkDatabaseHasNoSecrets reads the job rows back from the database and checks that the one
// job, which names the delivery, holds its data sealed; then it looks for the link token and the
// code everywhere the job rows live: the SQLite files, or the text of every job row in the
// PostgreSQL schema.
func checkDatabaseHasNoSecrets(t *testing.T, backend, where, deliveryID string) {
	t.Helper()
	secrets := []string{"SECRET-LINK-TOKEN", verifyData()["Code"]}
	var args []string
	if backend == "sqlite" {
		db, err := sql.Open("sqlite", filepath.Join(where, "gatehouse.db"))
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		args = queryStrings(t, db, "SELECT CAST(json(args) AS TEXT) FROM river_job WHERE kind = 'mail.send'")
		files, err := filepath.Glob(filepath.Join(where, "gatehouse.db*"))
		if err != nil || len(files) == 0 {
			t.Fatalf("database files: %v %v", files, err)
		}
		for _, f := range files {
			b, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			for _, secret := range secrets {
				if bytes.Contains(b, []byte(secret)) {
					t.Errorf("%s holds %q", filepath.Base(f), secret)
				}
			}
		}
	} else {
		conn, err := pgx.Connect(t.Context(), os.Getenv("GATEHOUSE_TEST_POSTGRES_URL"))
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close(context.Background())
		table := pgx.Identifier{where, "river_job"}.Sanitize()
		rows, err := conn.Query(t.Context(), "SELECT args::text FROM "+table+" WHERE kind = 'mail.send'")
		if err != nil {
			t.Fatal(err)
		}
		if args, err = pgx.CollectRows(rows, pgx.RowTo[string]); err != nil {
			t.Fatal(err)
		}
		var withToken, withCode int
		err = conn.QueryRow(t.Context(),
			"SELECT count(*) FILTER (WHERE j::text LIKE '%' || $1 || '%'), count(*) FILTER (WHERE j::text LIKE '%' || $2 || '%') FROM "+table+" AS j",
			secrets[0], secrets[1]).Scan(&withToken, &withCode)
		if err != nil {
			t.Fatal(err)
		}
		if withToken != 0 || withCode != 0 {
			t.Errorf("job rows hold the link token (%d) or the code (%d)", withToken, withCode)
		}
	}
	if len(args) != 1 {
		t.Fatalf("%d mail jobs in the table, want 1", len(args))
	}
	var job SendJob
	if err := json.Unmarshal([]byte(args[0]), &job); err != nil {
		t.Fatalf("job args %s: %v", args[0], err)
	}
	if job.DeliveryID != deliveryID || len(job.Sealed) == 0 || job.Data != nil {
		t.Errorf("the stored job does not hold its delivery's data sealed: %s", args[0])
	}
	for _, secret := range secrets {
		if strings.Contains(args[0], secret) {
			t.Errorf("the stored job holds %q: %s", secret, args[0])
		}
	}
}

// queryStrings runs a query of one text column and returns its values.
func queryStrings(t *testing.T, db *sql.DB, q string) []string {
	t.Helper()
	rows, err := db.QueryContext(t.Context(), q)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			t.Fatal(err)
		}
		out = append(out, s)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestSendFailsAfterLastAttempt runs the queue against a server that refuses the recipient for
// now: the delivery stays queued while attempts remain and fails with the server's reason after
// the last one.
func TestSendFailsAfterLastAttempt(t *testing.T) {
	for name, open := range map[string]func(*testing.T, *jobs.Workers, jobs.Config) recordsStore{"sqlite": openSQLite, "postgres": openPostgres} {
		t.Run(name, func(t *testing.T) {
			srv := startTestSMTP(t, testSMTPOptions{Rcpt: func(string) error {
				return &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "Mailbox busy, try later"}
			}})
			server, _ := ParseURL("smtp://" + srv.Addr)
			workers := jobs.NewWorkers()
			db := open(t, workers, fastJobs(3))
			w := NewWorker(WorkerDeps{Sender: NewSMTPSender(server, SMTPOptions{}), Deliveries: db, Sealer: testSealer(t), From: "no-reply@example.com"})
			if err := jobs.Handle(workers, w.Work); err != nil {
				t.Fatal(err)
			}
			d := queueOne(t, db, time.Time{})
			testdb.StartQueue(t, db.Queue())
			waitFor(t, "the delivery to fail", func() bool { return delivery(t, db, d.ID).Status == gatehouse.MailFailed })
			got := delivery(t, db, d.ID)
			if got.Attempts != 3 || !strings.Contains(got.LastError, "451") || !strings.Contains(got.LastError, "Mailbox busy, try later") {
				t.Errorf("failed record = %+v", got)
			}
			if !got.SentAt.IsZero() || got.ProviderMessageID != "" {
				t.Errorf("failed record looks sent: %+v", got)
			}
			waitFor(t, "the job to be kept as failed", func() bool {
				failed, err := db.Queue().Failed(t.Context(), 10)
				return err == nil && len(failed) == 1 && failed[0].Kind == "mail.send"
			})
		})
	}
}

func TestQueueRollsBackWithTransaction(t *testing.T) {
	db := openSQLite(t, nil, fastJobs(3))
	errAbort := errors.New("abort")
	err := db.InTx(t.Context(), func(ctx context.Context, tx records.Tx) error {
		if err := NewQueuer(testSealer(t)).Queue(ctx, tx, Outgoing{To: "x@example.org", Template: TemplateVerifyEmail, Data: verifyData()}); err != nil {
			return err
		}
		return errAbort
	})
	if !errors.Is(err, errAbort) {
		t.Fatalf("InTx: %v", err)
	}
	if ds, err := db.ListMailDeliveries(t.Context(), 10); err != nil || len(ds) != 0 {
		t.Errorf("deliveries after rollback = %v, %v", ds, err)
	}
	if st, err := db.Queue().Stats(t.Context()); err != nil || st.Available+st.Scheduled != 0 {
		t.Errorf("jobs after rollback = %+v, %v", st, err)
	}
}

func TestQueueRefusesBadMessages(t *testing.T) {
	db := openSQLite(t, nil, fastJobs(3))
	good := Outgoing{To: "eve@example.org", Template: TemplateVerifyEmail, Data: verifyData()}
	tests := []struct {
		name   string
		queuer *Queuer
		msg    Outgoing
	}{
		{"address with a name", NewQueuer(testSealer(t)), Outgoing{To: "Eve <eve@example.org>", Template: TemplateVerifyEmail, Data: verifyData()}},
		{"address with a line break", NewQueuer(testSealer(t)), Outgoing{To: "eve@example.org\r\nBcc: v@x", Template: TemplateVerifyEmail, Data: verifyData()}},
		{"unknown template", NewQueuer(testSealer(t)), Outgoing{To: "eve@example.org", Template: "nope", Data: verifyData()}},
		{"missing data", NewQueuer(testSealer(t)), Outgoing{To: "eve@example.org", Template: TemplateVerifyEmail, Data: map[string]string{"Code": "1"}}},
		{"no sealer", NewQueuer(nil), good},
		{"no queuer", nil, good},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := db.InTx(t.Context(), func(ctx context.Context, tx records.Tx) error { return tt.queuer.Queue(ctx, tx, tt.msg) })
			if err == nil {
				t.Fatal("Queue accepted the message")
			}
		})
	}
	if ds, _ := db.ListMailDeliveries(t.Context(), 10); len(ds) != 0 {
		t.Errorf("refused messages left %d records", len(ds))
	}
}

// sealedJob is the job that Queue enqueued for a delivery queued by queueOne: its data sealed by
// testSealer.
func sealedJob(t *testing.T, d *gatehouse.MailDelivery) SendJob {
	t.Helper()
	job := SendJob{DeliveryID: d.ID, To: d.To, Template: d.Template, Locale: "ar"}
	var err error
	if job.Sealed, err = testSealer(t).Seal(verifyData(), job.aad()); err != nil {
		t.Fatal(err)
	}
	return job
}

// workRun calls the worker directly, as the queue would, for a delivery queued by queueOne.
func workRun(t *testing.T, w *Worker, d *gatehouse.MailDelivery, attempt, maxAttempts int) error {
	t.Helper()
	return w.Work(t.Context(), jobs.Work[SendJob]{
		ID:          int64(attempt),
		Args:        sealedJob(t, d),
		Attempt:     attempt,
		MaxAttempts: maxAttempts,
	})
}

// TestWorkerTransitions drives one delivery through a temporary failure, a success and a
// repeated run, checking the record after each.
func TestWorkerTransitions(t *testing.T) {
	var refuse atomic.Bool
	refuse.Store(true)
	srv := startTestSMTP(t, testSMTPOptions{Rcpt: func(string) error {
		if refuse.Load() {
			return &smtp.SMTPError{Code: 421, EnhancedCode: smtp.EnhancedCode{4, 7, 0}, Message: "Too busy"}
		}
		return nil
	}})
	server, _ := ParseURL("smtp://" + srv.Addr)
	db := openSQLite(t, nil, fastJobs(3))
	now := time.Date(2026, 4, 5, 6, 7, 8, 0, time.UTC)
	var logs syncBuffer
	w := NewWorker(WorkerDeps{
		Sender: NewSMTPSender(server, SMTPOptions{}), Deliveries: db, Sealer: testSealer(t), From: "no-reply@example.com",
		Now:    func() time.Time { return now },
		Logger: slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	})
	d := queueOne(t, db, now)

	err := workRun(t, w, d, 1, 3)
	if err == nil || !strings.Contains(err.Error(), "Too busy") {
		t.Fatalf("first run: err = %v, want the server's refusal", err)
	}
	got := delivery(t, db, d.ID)
	if got.Status != gatehouse.MailQueued || got.Attempts != 1 || !strings.Contains(got.LastError, "421") || !got.UpdatedAt.Equal(now) {
		t.Errorf("after a temporary failure: %+v", got)
	}

	refuse.Store(false)
	now = now.Add(time.Minute)
	if err := workRun(t, w, d, 2, 3); err != nil {
		t.Fatalf("second run: %v", err)
	}
	got = delivery(t, db, d.ID)
	if got.Status != gatehouse.MailSent || got.Attempts != 2 || !got.SentAt.Equal(now) || got.ProviderMessageID == "" {
		t.Errorf("after success: %+v", got)
	}
	if n := len(srv.Messages()); n != 1 {
		t.Fatalf("server received %d messages, want 1", n)
	}

	if err := workRun(t, w, d, 3, 3); err != nil {
		t.Fatalf("run after success: %v", err)
	}
	if n := len(srv.Messages()); n != 1 {
		t.Errorf("a sent delivery was sent again (%d messages)", n)
	}
	if again := delivery(t, db, d.ID); again.Attempts != 2 || again.Status != gatehouse.MailSent {
		t.Errorf("record changed by the repeated run: %+v", again)
	}
	checkNoSecrets(t, logs.String())
}

func TestWorkerPermanentRejection(t *testing.T) {
	srv := startTestSMTP(t, testSMTPOptions{Rcpt: func(string) error {
		return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "No such mailbox"}
	}})
	server, _ := ParseURL("smtp://" + srv.Addr)
	db := openSQLite(t, nil, fastJobs(3))
	w := NewWorker(WorkerDeps{Sender: NewSMTPSender(server, SMTPOptions{}), Deliveries: db, Sealer: testSealer(t), From: "no-reply@example.com"})
	d := queueOne(t, db, time.Time{})
	if err := workRun(t, w, d, 1, 25); err != nil {
		t.Fatalf("a permanent rejection should end the job: err = %v", err)
	}
	got := delivery(t, db, d.ID)
	if got.Status != gatehouse.MailFailed || got.Attempts != 1 || !strings.Contains(got.LastError, "No such mailbox") {
		t.Errorf("after a permanent rejection: %+v", got)
	}
}

func TestWorkerRateCap(t *testing.T) {
	clock := &fakeClock{t: time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)}
	eph := memoryStore(t)
	outbox := NewDevOutbox(10, nil, clock.Now)
	db := openSQLite(t, nil, fastJobs(3))
	var slept []time.Duration
	deps := WorkerDeps{
		Sender: outbox, Deliveries: db, Sealer: testSealer(t), From: "no-reply@example.com",
		Limiter: NewLimiter(eph, 1, clock.Now),
		Now:     clock.Now,
		Sleep: func(_ context.Context, d time.Duration) error {
			slept = append(slept, d)
			clock.Advance(d)
			return nil
		},
	}
	w := NewWorker(deps)
	first, second := queueOne(t, db, clock.Now()), queueOne(t, db, clock.Now())

	if err := workRun(t, w, first, 1, 3); err != nil {
		t.Fatal(err)
	}
	// The second message finds the second's only slot taken and waits for the next second.
	if err := workRun(t, w, second, 1, 3); err != nil {
		t.Fatal(err)
	}
	if len(slept) != 1 || slept[0] != time.Second {
		t.Errorf("waits = %v, want one of 1s", slept)
	}
	if n := len(outbox.Messages()); n != 2 {
		t.Fatalf("outbox holds %d messages, want 2", n)
	}

	// With a shorter in-process wait, the job goes back to the queue, and the record does not
	// count the run as a delivery attempt...
	deps.MaxRateWait = 100 * time.Millisecond
	w = NewWorker(deps)
	clock.Advance(time.Second)
	third := queueOne(t, db, clock.Now())
	if err := workRun(t, w, third, 1, 3); err != nil {
		t.Fatal(err)
	}
	fourth := queueOne(t, db, clock.Now())
	err := workRun(t, w, fourth, 1, 3)
	if !errors.Is(err, ErrRateCapped) {
		t.Fatalf("over the cap: err = %v, want ErrRateCapped", err)
	}
	if got := delivery(t, db, fourth.ID); got.Status != gatehouse.MailQueued || got.Attempts != 0 || got.LastError != "" {
		t.Errorf("record after a capped run: %+v", got)
	}
	// ...unless it was the job's last run: then the delivery fails, with the cap as its reason.
	err = workRun(t, w, fourth, 3, 3)
	if !errors.Is(err, ErrRateCapped) {
		t.Fatalf("over the cap on the last attempt: err = %v", err)
	}
	if got := delivery(t, db, fourth.ID); got.Status != gatehouse.MailFailed || got.Attempts != 0 || !strings.Contains(got.LastError, "rate cap") {
		t.Errorf("record after a capped last run: %+v", got)
	}
	if n := len(outbox.Messages()); n != 3 {
		t.Errorf("outbox holds %d messages, want 3", n)
	}
}

func TestWorkerOddJobs(t *testing.T) {
	outbox := NewDevOutbox(10, nil, nil)
	db := openSQLite(t, nil, fastJobs(3))
	w := NewWorker(WorkerDeps{Sender: outbox, Deliveries: db, Sealer: testSealer(t), From: "no-reply@example.com"})

	t.Run("record gone", func(t *testing.T) {
		err := w.Work(t.Context(), jobs.Work[SendJob]{Args: SendJob{DeliveryID: "0190d5b8-0000-7000-8000-000000000000", To: "x@example.org", Template: TemplateVerifyEmail, Data: verifyData()}, Attempt: 1, MaxAttempts: 3})
		if err != nil || len(outbox.Messages()) != 0 {
			t.Fatalf("err = %v, sent %d", err, len(outbox.Messages()))
		}
	})
	t.Run("cannot render", func(t *testing.T) {
		d := queueOne(t, db, time.Time{})
		err := w.Work(t.Context(), jobs.Work[SendJob]{Args: SendJob{DeliveryID: d.ID, To: d.To, Template: "retired_template"}, Attempt: 1, MaxAttempts: 3})
		if err != nil {
			t.Fatalf("err = %v, want nil (a render failure is final)", err)
		}
		if got := delivery(t, db, d.ID); got.Status != gatehouse.MailFailed || !strings.Contains(got.LastError, "unknown email template") {
			t.Errorf("record = %+v", got)
		}
		if len(outbox.Messages()) != 0 {
			t.Error("sent a message that could not be rendered")
		}
	})
}

// captureTx is a QueueTx that keeps what is written to it.
type captureTx struct {
	deliveries []*gatehouse.MailDelivery
	jobs       []jobs.Args
}

func (c *captureTx) CreateMailDelivery(_ context.Context, d *gatehouse.MailDelivery) error {
	c.deliveries = append(c.deliveries, d)
	return nil
}

func (c *captureTx) Enqueue(_ context.Context, args jobs.Args, _ *jobs.InsertOpts) error {
	c.jobs = append(c.jobs, args)
	return nil
}

// TestQueueSealsTheData checks the job as Queue hands it to the queue: the data is sealed for this
// job alone, and nothing else in it holds the link token or the code.
func TestQueueSealsTheData(t *testing.T) {
	tx := &captureTx{}
	q := NewQueuer(testSealer(t))
	msg := Outgoing{To: "layla@example.org", Template: TemplateVerifyEmail, Locale: "ar-EG", Data: verifyData()}
	for range 2 {
		if err := q.Queue(t.Context(), tx, msg); err != nil {
			t.Fatalf("Queue: %v", err)
		}
	}
	if len(tx.jobs) != 2 || len(tx.deliveries) != 2 {
		t.Fatalf("Queue wrote %d jobs and %d deliveries, want 2 of each", len(tx.jobs), len(tx.deliveries))
	}
	job := tx.jobs[0].(SendJob)
	if job.DeliveryID != tx.deliveries[0].ID || job.To != msg.To || job.Template != TemplateVerifyEmail || job.Locale != "ar" || job.Data != nil {
		t.Errorf("job = %+v", job)
	}
	stored, err := json.Marshal(job)
	if err != nil {
		t.Fatal(err)
	}
	for _, secret := range []string{"SECRET-LINK-TOKEN", verifyData()["Code"]} {
		if bytes.Contains(stored, []byte(secret)) || bytes.Contains(job.Sealed, []byte(secret)) {
			t.Errorf("the stored job holds %q in the clear: %s", secret, stored)
		}
	}
	if bytes.Contains(stored, []byte(`"data"`)) {
		t.Errorf("the stored job has a data field: %s", stored)
	}
	data, err := testSealer(t).Open(job.Sealed, job.aad())
	if err != nil || !maps.Equal(data, verifyData()) {
		t.Errorf("the sealed data opens to %v, %v; want the message's data", data, err)
	}
	if other := tx.jobs[1].(SendJob); bytes.Equal(other.Sealed, job.Sealed) {
		t.Error("two queued messages share a sealed blob")
	}
}

// envelopes is a Sender that keeps what it is given.
type envelopes struct {
	mu   sync.Mutex
	sent []Envelope
}

func (e *envelopes) Send(_ context.Context, env Envelope) (string, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.sent = append(e.sent, env)
	return "provider-1", nil
}

// TestWorkerSealedData runs the worker on jobs whose sealed data is intact, altered, moved to
// another job or sealed with another key, and on a job queued before sealing (plain Data). A job
// whose data does not open fails its delivery at once, with attempts left, and sends nothing.
func TestWorkerSealedData(t *testing.T) {
	db := openSQLite(t, nil, fastJobs(3))
	other := queueOne(t, db, time.Time{})
	tests := []struct {
		name   string
		sealer *seal.Sealer // nil: testSealer
		change func(*SendJob)
		sent   bool
	}{
		{name: "sealed", sent: true},
		{name: "sealed with a previous key", sealer: mustSealer(t, testKey(2), testKey(1)), sent: true},
		{name: "sealed with a key no longer configured", sealer: mustSealer(t, testKey(2))},
		{name: "tampered", change: func(j *SendJob) { j.Sealed[len(j.Sealed)-1] ^= 1 }},
		{name: "moved from another delivery", change: func(j *SendJob) { j.Sealed = sealedJob(t, other).Sealed }},
		{name: "another recipient", change: func(j *SendJob) { j.To = "eve@example.org" }},
		{name: "another template", change: func(j *SendJob) { j.Template = TemplateLoginCode }},
		{name: "queued before sealing", change: func(j *SendJob) { j.Sealed, j.Data = nil, verifyData() }, sent: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sender := &envelopes{}
			var logs syncBuffer
			sealer := tt.sealer
			if sealer == nil {
				sealer = testSealer(t)
			}
			w := NewWorker(WorkerDeps{Sender: sender, Deliveries: db, Sealer: sealer, From: "no-reply@example.com", Logger: slog.New(slog.NewTextHandler(&logs, nil))})
			d := queueOne(t, db, time.Time{})
			job := sealedJob(t, d)
			if tt.change != nil {
				tt.change(&job)
			}
			if err := w.Work(t.Context(), jobs.Work[SendJob]{ID: 7, Args: job, Attempt: 1, MaxAttempts: 25}); err != nil {
				t.Fatalf("Work = %v, want nil", err)
			}
			got := delivery(t, db, d.ID)
			checkNoSecrets(t, logs.String())
			if !tt.sent {
				if len(sender.sent) != 0 {
					t.Errorf("sent %d messages, want none", len(sender.sent))
				}
				if got.Status != gatehouse.MailFailed || got.Attempts != 0 || !strings.Contains(got.LastError, "cannot be opened") {
					t.Errorf("record = %+v, want failed because the data cannot be opened", got)
				}
				if !strings.Contains(logs.String(), "level=ERROR") || !strings.Contains(logs.String(), "cannot be opened") {
					t.Errorf("log:\n%s", logs.String())
				}
				return
			}
			if got.Status != gatehouse.MailSent {
				t.Errorf("record = %+v, want sent", got)
			}
			if len(sender.sent) != 1 {
				t.Fatalf("sent %d messages, want 1", len(sender.sent))
			}
			env := sender.sent[0]
			if env.To != "layla@example.org" || env.ToName != "Layla <b>" || env.Subject != "تأكيد عنوان بريدك الإلكتروني" {
				t.Errorf("envelope = %+v", env)
			}
			for _, secret := range []string{"SECRET-LINK-TOKEN", verifyData()["Code"]} {
				if !strings.Contains(env.Text, secret) || !strings.Contains(env.HTML, secret) {
					t.Errorf("the message lacks %q", secret)
				}
			}
		})
	}

	t.Run("no sealer", func(t *testing.T) {
		d := queueOne(t, db, time.Time{})
		w := NewWorker(WorkerDeps{Sender: &envelopes{}, Deliveries: db, From: "no-reply@example.com"})
		if err := w.Work(t.Context(), jobs.Work[SendJob]{Args: sealedJob(t, d), Attempt: 1, MaxAttempts: 3}); err == nil {
			t.Error("Work without a sealer succeeded")
		}
	})
}
