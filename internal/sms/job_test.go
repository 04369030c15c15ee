package sms

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/internal/jobs"
	"github.com/gatehouse/gatehouse/internal/requestid"
	"github.com/gatehouse/gatehouse/internal/seal"
)

// testCode is the one-time code of the tests' messages: it must never appear in a log, an error
// or the database.
const testCode = "739146"

func testKey(b byte) []byte { return bytes.Repeat([]byte{b}, seal.KeyLen) }

func testSealer(t *testing.T) *seal.Sealer {
	t.Helper()
	return mustSealer(t, testKey(1))
}

func loginOutgoing() Outgoing {
	return Outgoing{
		To:      "+96550000000",
		Purpose: PurposeLogin,
		Locale:  "ar-KW",
		Data:    map[string]string{KeyApp: "Gatehouse", KeyCode: testCode, KeyMinutes: "5"},
	}
}

// captureTx is a QueueTx that keeps what is enqueued.
type captureTx struct {
	jobs []jobs.Args
	err  error
}

func (c *captureTx) Enqueue(_ context.Context, args jobs.Args, _ *jobs.InsertOpts) error {
	if c.err != nil {
		return c.err
	}
	c.jobs = append(c.jobs, args)
	return nil
}

// queueJob queues msg into a captureTx and returns the job.
func queueJob(t *testing.T, ctx context.Context, sealer *seal.Sealer, msg Outgoing) SendJob {
	t.Helper()
	tx := &captureTx{}
	if err := Queue(ctx, tx, sealer, msg); err != nil {
		t.Fatalf("Queue: %v", err)
	}
	if len(tx.jobs) != 1 {
		t.Fatalf("Queue enqueued %d jobs", len(tx.jobs))
	}
	return tx.jobs[0].(SendJob)
}

func TestQueue(t *testing.T) {
	ctx := requestid.NewContext(t.Context(), "req-queue-1")
	expires := time.Date(2030, 1, 1, 12, 5, 0, 0, time.FixedZone("KWT", 3*3600))
	msg := loginOutgoing()
	msg.ExpiresAt = expires
	job := queueJob(t, ctx, testSealer(t), msg)

	if job.Kind() != "sms.send" {
		t.Errorf("Kind = %q", job.Kind())
	}
	if job.To != msg.To || job.Purpose != PurposeLogin || job.Locale != "ar" || job.RequestID != "req-queue-1" || !job.ExpiresAt.Equal(expires) || job.ExpiresAt.Location() != time.UTC {
		t.Errorf("job = %+v", job)
	}
	if len(job.ID) != 36 {
		t.Errorf("ID = %q, want a UUID", job.ID)
	}
	stored, err := json.Marshal(job)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(stored, []byte(testCode)) || bytes.Contains(job.Sealed, []byte(testCode)) {
		t.Errorf("the stored job holds the code in the clear: %s", stored)
	}
	if bytes.Contains(stored, []byte(`"data"`)) {
		t.Errorf("the stored job has a data field: %s", stored)
	}

	again := queueJob(t, ctx, testSealer(t), msg)
	if again.ID == job.ID || bytes.Equal(again.Sealed, job.Sealed) {
		t.Error("two queued messages share an id or a sealed blob")
	}

	t.Run("no request id outside a request", func(t *testing.T) {
		if job := queueJob(t, t.Context(), testSealer(t), loginOutgoing()); job.RequestID != "" || !job.ExpiresAt.IsZero() {
			t.Errorf("job = %+v", job)
		}
	})

	bad := []struct {
		name   string
		sealer *seal.Sealer
		change func(*Outgoing)
	}{
		{"no sealer", nil, func(*Outgoing) {}},
		{"number not in E.164", testSealer(t), func(m *Outgoing) { m.To = "+965 5000 0000" }},
		{"unknown purpose", testSealer(t), func(m *Outgoing) { m.Purpose = "welcome" }},
		{"missing code", testSealer(t), func(m *Outgoing) { delete(m.Data, KeyCode) }},
		{"unexpected data", testSealer(t), func(m *Outgoing) { m.Data["Link"] = "https://x" }},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			msg := loginOutgoing()
			tt.change(&msg)
			tx := &captureTx{}
			err := Queue(t.Context(), tx, tt.sealer, msg)
			if err == nil || len(tx.jobs) != 0 {
				t.Fatalf("Queue = %v with %d jobs, want an error and none", err, len(tx.jobs))
			}
			if strings.Contains(err.Error(), testCode) || strings.Contains(err.Error(), "50000000") {
				t.Errorf("error %q shows the code or the number", err)
			}
		})
	}
	t.Run("enqueue error", func(t *testing.T) {
		boom := errors.New("boom")
		if err := Queue(t.Context(), &captureTx{err: boom}, testSealer(t), loginOutgoing()); !errors.Is(err, boom) {
			t.Errorf("Queue = %v, want the enqueue error", err)
		}
	})
}

// fakeSender records messages and answers with scripted errors (nil: sent).
type fakeSender struct {
	mu         sync.Mutex
	errs       []error
	sent       []Message
	requestIDs []string
}

func (f *fakeSender) Send(ctx context.Context, m Message) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.sent = append(f.sent, m)
	f.requestIDs = append(f.requestIDs, requestid.FromContext(ctx))
	if n := len(f.sent); n <= len(f.errs) && f.errs[n-1] != nil {
		return "", f.errs[n-1]
	}
	return "provider-1", nil
}

func (f *fakeSender) messages() []Message {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]Message(nil), f.sent...)
}

// logBuffer is a log destination safe for concurrent jobs.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// checkNoSecrets fails when s holds the code or the full number.
func checkNoSecrets(t *testing.T, what, s string) {
	t.Helper()
	for _, secret := range []string{testCode, "96550000000"} {
		if strings.Contains(s, secret) {
			t.Errorf("%s holds %q:\n%s", what, secret, s)
		}
	}
}

func TestWorker(t *testing.T) {
	now := time.Date(2030, 1, 1, 12, 0, 0, 0, time.UTC)
	ctx := requestid.NewContext(t.Context(), "req-worker-1")
	// The provider's error echoes the code and the number, as a careless gateway might.
	echo := "gateway says: cannot deliver '" + testCode + "' to +96550000000"
	tests := []struct {
		name      string
		errs      []error
		attempt   int
		expiresAt time.Time
		sealer    *seal.Sealer // nil: the queue's
		change    func(*SendJob)
		wantErr   bool
		wantSends int
		wantLog   []string
	}{
		{name: "sent", wantSends: 1, wantLog: []string{"level=INFO", "sms sent", "provider_id=provider-1", "request_id=req-worker-1", `to="+965 •••• 0000"`}},
		{name: "temporary failure is retried", errs: []error{&ProviderError{Provider: "webhook", Status: 503, Message: echo}},
			wantErr: true, wantSends: 1, wantLog: []string{"level=WARN", "the queue will retry", "HTTP 503", "[redacted]", "+965 •••• 0000"}},
		{name: "last attempt gives up", errs: []error{&ProviderError{Provider: "webhook", Status: 503, Message: echo}}, attempt: 3,
			wantErr: true, wantSends: 1, wantLog: []string{"level=ERROR", "giving up"}},
		{name: "permanent failure ends the job", errs: []error{&ProviderError{Provider: "twilio", Status: 400, Code: "21211", Message: echo, Permanent: true}},
			wantSends: 1, wantLog: []string{"level=ERROR", "refused for good", "code 21211", "[redacted]"}},
		{name: "expired", expiresAt: now, wantSends: 0, wantLog: []string{"level=WARN", "expired while queued"}},
		{name: "not yet expired", expiresAt: now.Add(time.Second), wantSends: 1, wantLog: []string{"sms sent"}},
		{name: "wrong key", sealer: mustSealer(t, testKey(9)), wantSends: 0, wantLog: []string{"level=ERROR", "cannot be opened"}},
		{name: "previous key", sealer: mustSealer(t, testKey(9), testKey(1)), wantSends: 1, wantLog: []string{"sms sent"}},
		{name: "data moved to another number", change: func(j *SendJob) { j.To = "+96560000000" }, wantSends: 0, wantLog: []string{"cannot be opened"}},
		{name: "purpose changed under the job", change: func(j *SendJob) { j.Purpose = PurposeReset }, wantSends: 0, wantLog: []string{"cannot be opened"}},
		{name: "data that no longer renders", change: func(j *SendJob) {
			j.Sealed, _ = mustSealer(t, testKey(1)).Seal(map[string]string{KeyApp: "Gatehouse", KeyCode: testCode}, j.aad())
		}, wantSends: 0, wantLog: []string{"level=ERROR", "cannot be rendered", `data \"Minutes\"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			msg := loginOutgoing()
			msg.ExpiresAt = tt.expiresAt
			job := queueJob(t, ctx, testSealer(t), msg)
			if tt.change != nil {
				tt.change(&job)
			}
			sender := &fakeSender{errs: tt.errs}
			var logs logBuffer
			sealer := tt.sealer
			if sealer == nil {
				sealer = testSealer(t)
			}
			w := NewWorker(WorkerDeps{Sender: sender, Sealer: sealer, Logger: slog.New(slog.NewTextHandler(&logs, nil)), Now: func() time.Time { return now }})
			attempt := max(tt.attempt, 1)

			err := w.Work(context.Background(), jobs.Work[SendJob]{ID: 42, Args: job, Attempt: attempt, MaxAttempts: 3})
			if (err != nil) != tt.wantErr {
				t.Fatalf("Work = %v, want error %v", err, tt.wantErr)
			}
			if err != nil {
				checkNoSecrets(t, "the error handed to the queue", err.Error())
				var pe *ProviderError
				if !errors.As(err, &pe) {
					t.Errorf("the scrubbed error %v lost its chain", err)
				}
			}
			sent := sender.messages()
			if len(sent) != tt.wantSends {
				t.Fatalf("%d sends, want %d", len(sent), tt.wantSends)
			}
			if len(sent) > 0 {
				want := Message{To: "+96550000000", Text: "رمز الدخول إلى Gatehouse: " + testCode + "، صالح 5 دقائق. لا تشاركه مع أحد.", ID: job.ID, Purpose: PurposeLogin}
				if sent[0] != want {
					t.Errorf("sent %+v, want %+v", sent[0], want)
				}
				if sender.requestIDs[0] != "req-worker-1" {
					t.Errorf("the sender's context has request id %q, want the queued one", sender.requestIDs[0])
				}
			}
			out := logs.String()
			for _, s := range append(tt.wantLog, "job_id=42", "message_id="+job.ID, "purpose=") {
				if !strings.Contains(out, s) {
					t.Errorf("log lacks %q:\n%s", s, out)
				}
			}
			checkNoSecrets(t, "the log", out)
		})
	}

	t.Run("not configured", func(t *testing.T) {
		job := queueJob(t, ctx, testSealer(t), loginOutgoing())
		if err := NewWorker(WorkerDeps{}).Work(t.Context(), jobs.Work[SendJob]{Args: job, Attempt: 1, MaxAttempts: 3}); err == nil {
			t.Error("Work without a sender succeeded")
		}
	})
}

func mustSealer(t *testing.T, key []byte, previous ...[]byte) *seal.Sealer {
	t.Helper()
	s, err := seal.NewSealer(key, previous...)
	if err != nil {
		t.Fatal(err)
	}
	return s
}
