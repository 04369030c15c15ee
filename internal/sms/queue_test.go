package sms

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/gatehouse/gatehouse/internal/jobs"
	"github.com/gatehouse/gatehouse/internal/postgres"
	"github.com/gatehouse/gatehouse/internal/records"
	"github.com/gatehouse/gatehouse/internal/requestid"
	"github.com/gatehouse/gatehouse/internal/sqlite"
	"github.com/gatehouse/gatehouse/internal/testdb"
)

// store is a migrated store of record with its queue.
type store interface {
	records.Store
	records.Migrator
}

// fastJobs retries within milliseconds.
func fastJobs() jobs.Config {
	return jobs.Config{Workers: 2, MaxAttempts: 5, PollInterval: 10 * time.Millisecond, RetryBase: time.Millisecond, RetryMax: 4 * time.Millisecond}
}

func openSQLite(t *testing.T, workers *jobs.Workers) (store, string) {
	t.Helper()
	return testdb.SQLite(t, sqlite.Options{Workers: workers, Jobs: fastJobs()})
}

func openPostgres(t *testing.T, workers *jobs.Workers) (store, string) {
	t.Helper()
	return testdb.Postgres(t, postgres.Options{Workers: workers, Jobs: fastJobs()})
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

// TestQueueEndToEnd queues a sign-in code in a transaction of each backend and lets the queue's
// workers send it through the webhook provider to a local gateway: the first answer is 503, so the
// job is retried, and the second is 200. A second message is refused with 400 and must not be
// retried. Neither the log nor the database may hold the code.
func TestQueueEndToEnd(t *testing.T) {
	backends := []struct {
		name string
		open func(t *testing.T, workers *jobs.Workers) (store, string)
	}{
		{"sqlite", openSQLite},
		{"postgres", openPostgres},
	}
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			gateway := newRecorder(t,
				answer{status: http.StatusServiceUnavailable, body: `{"error":"try later"}`},
				answer{status: http.StatusOK, body: `{"id":"gw-1"}`},
				answer{status: http.StatusBadRequest, body: `{"code":"bad_number","message":"no such subscriber"}`},
			)
			webhook := newTestWebhook(t, gateway, time.Now)
			var logs logBuffer
			logger := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
			sealer := testSealer(t)
			workers := jobs.NewWorkers()
			if err := jobs.Handle(workers, NewWorker(WorkerDeps{Sender: webhook, Sealer: sealer, Logger: logger}).Work); err != nil {
				t.Fatal(err)
			}
			db, where := b.open(t, workers)
			testdb.StartQueue(t, db.Queue())

			ctx := requestid.NewContext(t.Context(), "req-e2e-1")
			msg := loginOutgoing()
			msg.ExpiresAt = time.Now().Add(time.Hour)
			err := db.InTx(ctx, func(ctx context.Context, tx records.Tx) error {
				return Queue(ctx, tx, sealer, msg)
			})
			if err != nil {
				t.Fatalf("Queue: %v", err)
			}
			waitFor(t, "the message to be sent after one retry", func() bool { return len(gateway.requests()) >= 2 })

			reqs := gateway.requests()
			for i, req := range reqs[:2] {
				verifyStandardWebhook(t, testWebhookSecret, req)
				if got := req.Header.Get(requestid.Header); got != "req-e2e-1" {
					t.Errorf("attempt %d: X-Request-ID = %q, want the queuing request's", i+1, got)
				}
				var body webhookPayload
				if err := json.Unmarshal(req.Body, &body); err != nil {
					t.Fatal(err)
				}
				if body.To != msg.To || body.Purpose != PurposeLogin || !strings.Contains(body.Text, testCode) {
					t.Errorf("attempt %d: body %+v", i+1, body)
				}
			}
			if a, b := reqs[0].Header.Get("webhook-id"), reqs[1].Header.Get("webhook-id"); a != b {
				t.Errorf("the retry has webhook-id %q, the first attempt %q: want one id per message", b, a)
			}
			waitFor(t, "the sent log line", func() bool { return strings.Contains(logs.String(), "provider_id=gw-1") })

			// A permanent refusal: one request, then the job is over.
			other := loginOutgoing()
			other.Purpose, other.Locale = PurposeRegister, "en"
			if err := Queue(ctx, db.Queue(), sealer, other); err != nil {
				t.Fatalf("Queue outside a transaction: %v", err)
			}
			waitFor(t, "the refused message's job to finish", func() bool {
				st, err := db.Queue().Stats(t.Context())
				return err == nil && st.Completed >= 2
			})
			if n := len(gateway.requests()); n != 3 {
				t.Errorf("the gateway got %d requests, want 3 (one retry, no retry of the refusal)", n)
			}
			st, err := db.Queue().Stats(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			if st.Failed != 0 || st.Retryable != 0 || st.Available != 0 {
				t.Errorf("queue stats %+v, want every job completed", st)
			}
			out := logs.String()
			for _, want := range []string{"the queue will retry", "HTTP 503", "refused for good", "code bad_number", "no such subscriber"} {
				if !strings.Contains(out, want) {
					t.Errorf("log lacks %q:\n%s", want, out)
				}
			}
			checkNoSecrets(t, "the log", out)
			checkDatabaseHasNoCode(t, b.name, where)
		})
	}
}

// checkDatabaseHasNoCode looks for the code everywhere the job rows live: the SQLite files, or
// the text of every job in the PostgreSQL schema. The recipient's number, stored in the clear,
// shows that the search looks in the right place.
func checkDatabaseHasNoCode(t *testing.T, backend, where string) {
	t.Helper()
	const number = "+96550000000"
	if backend == "sqlite" {
		found := false
		files, err := filepath.Glob(filepath.Join(where, "gatehouse.db*"))
		if err != nil || len(files) == 0 {
			t.Fatalf("database files: %v %v", files, err)
		}
		for _, f := range files {
			b, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			if bytes.Contains(b, []byte(testCode)) {
				t.Errorf("%s holds the code", filepath.Base(f))
			}
			found = found || bytes.Contains(b, []byte(number))
		}
		if !found {
			t.Error("the job rows are not in the database files: the search proves nothing")
		}
		return
	}
	conn, err := pgx.Connect(t.Context(), os.Getenv("GATEHOUSE_TEST_POSTGRES_URL"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	var withNumber, withCode int
	err = conn.QueryRow(t.Context(),
		"SELECT count(*) FILTER (WHERE j::text LIKE '%' || $1 || '%'), count(*) FILTER (WHERE j::text LIKE '%' || $2 || '%') FROM "+
			pgx.Identifier{where, "river_job"}.Sanitize()+" AS j",
		number, testCode).Scan(&withNumber, &withCode)
	if err != nil {
		t.Fatal(err)
	}
	if withNumber == 0 {
		t.Error("no job row names the number: the search proves nothing")
	}
	if withCode != 0 {
		t.Errorf("%d job rows hold the code", withCode)
	}
}
