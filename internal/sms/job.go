package sms

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/gatehouse/gatehouse/internal/jobs"
	"github.com/gatehouse/gatehouse/internal/phone"
	"github.com/gatehouse/gatehouse/internal/requestid"
	"github.com/gatehouse/gatehouse/internal/seal"
)

// SendJob is the durable job that sends one text message. Its template data (the one-time code)
// is sealed; the rest is not secret.
type SendJob struct {
	// ID identifies the message on every attempt (the webhook's webhook-id): a UUIDv7.
	ID      string `json:"id"`
	To      string `json:"to"` // E.164
	Purpose string `json:"purpose"`
	Locale  string `json:"locale"` // resolved: "en", "ar"
	// Sealed is the template data, encrypted by a seal.Sealer and bound to the fields above.
	Sealed []byte `json:"sealed"`
	// ExpiresAt: the message is not sent after this time (the code in it has expired); zero: no limit.
	ExpiresAt time.Time `json:"expires_at,omitzero"`
	// RequestID is the id of the request that caused the message; the worker sends it on to the
	// provider (X-Request-ID) and logs it, so one id follows the message from the API call to the
	// gateway.
	RequestID string `json:"request_id,omitempty"`
}

// Kind names the job type in the queue.
func (SendJob) Kind() string { return "sms.send" }

// Outgoing is a text message to queue.
type Outgoing struct {
	To      string            // the recipient in E.164, as phone.Parse returns it
	Purpose string            // PurposeLogin, ...
	Locale  string            // a language tag; unknown ones fall back to English
	Data    map[string]string // the template's fields (KeyApp, KeyCode, KeyMinutes)
	// ExpiresAt stops the message from going out after this time: a code that has expired is not
	// worth a paid message. Callers pass the code's expiry. Zero: no limit (notices).
	ExpiresAt time.Time
}

// QueueTx is what Queue needs: a records.Tx, to enqueue with the change that causes the message,
// or the jobs.Queue itself when there is no such change.
type QueueTx interface {
	Enqueue(ctx context.Context, args jobs.Args, opts *jobs.InsertOpts) error
}

// Queue enqueues the job that sends msg, in tx. It renders the message first, which validates the
// purpose, the data and the number before anything is written, and seals the data so that the
// code is not readable in the job table. The request id of ctx, if any, travels with the job.
func Queue(ctx context.Context, tx QueueTx, sealer *seal.Sealer, msg Outgoing) error {
	if sealer == nil {
		return fmt.Errorf("queue %s sms: no sealer", msg.Purpose)
	}
	if !validE164(msg.To) {
		return fmt.Errorf("queue %s sms: the recipient %s is not an E.164 number", msg.Purpose, phone.Mask(msg.To))
	}
	if _, err := Render(msg.Purpose, msg.Locale, msg.Data); err != nil {
		return fmt.Errorf("queue %s sms: %w", msg.Purpose, err)
	}
	id, err := uuid.NewV7()
	if err != nil {
		return fmt.Errorf("queue %s sms: message id: %w", msg.Purpose, err)
	}
	job := SendJob{
		ID:        id.String(),
		To:        msg.To,
		Purpose:   msg.Purpose,
		Locale:    ResolveLocale(msg.Locale),
		ExpiresAt: msg.ExpiresAt.UTC(),
	}
	if rid := requestid.FromContext(ctx); requestid.Valid(rid) {
		job.RequestID = rid
	}
	if job.Sealed, err = sealer.Seal(msg.Data, job.aad()); err != nil {
		return fmt.Errorf("queue %s sms: %w", msg.Purpose, err)
	}
	if err := tx.Enqueue(ctx, job, nil); err != nil {
		return fmt.Errorf("queue %s sms: %w", msg.Purpose, err)
	}
	return nil
}

// aad binds the sealed data to the job: moved to another job (another number or purpose), it
// does not open.
func (j SendJob) aad() []byte {
	return []byte("gatehouse sms.send v1\x00" + j.ID + "\x00" + j.To + "\x00" + j.Purpose + "\x00" + j.Locale)
}

// WorkerDeps are what a Worker needs.
type WorkerDeps struct {
	Sender Sender           // required
	Sealer *seal.Sealer     // required: the keys the jobs were sealed with
	Logger *slog.Logger     // nil: discard
	Now    func() time.Time // nil: time.Now
}

// Worker runs SendJobs. Register it with jobs.Handle(workers, w.Work).
type Worker struct {
	deps WorkerDeps
}

// NewWorker returns a worker; see WorkerDeps for the defaults.
func NewWorker(deps WorkerDeps) *Worker {
	if deps.Logger == nil {
		deps.Logger = slog.New(slog.DiscardHandler)
	}
	if deps.Now == nil {
		deps.Now = time.Now
	}
	return &Worker{deps: deps}
}

// Work sends the job's message.
//
//   - A temporary failure (a timeout, a refused connection, HTTP 408, 429 or 5xx) is logged at warn
//     and returned: the queue runs the job again after its backoff, until its attempts run out
//     (the last failure is logged at error).
//   - A permanent failure (ErrPermanent: a number or message the provider refuses, bad
//     credentials), data that cannot be opened or rendered, and a message whose ExpiresAt has
//     passed end the job: they are logged (error; warn for the expiry) and Work returns nil, since
//     the queue package offers no "cancel" outcome and retrying would only repeat the refusal.
//   - Delivery is at least once: when the provider took the message but its answer was lost (a
//     timeout), the retry sends it again, with the same ID for providers that deduplicate.
//
// Log lines carry the masked number, never the code; provider errors are scrubbed of the code
// and the full number before they are logged or handed to the queue (which stores them).
func (w *Worker) Work(ctx context.Context, job jobs.Work[SendJob]) error {
	args := job.Args
	log := w.deps.Logger.With(
		slog.Int64("job_id", job.ID),
		slog.String("message_id", args.ID),
		slog.String("purpose", args.Purpose),
		slog.String("to", phone.Mask(args.To)),
		slog.Int("attempt", job.Attempt),
	)
	if args.RequestID != "" && requestid.Valid(args.RequestID) {
		ctx = requestid.NewContext(ctx, args.RequestID)
		log = log.With(slog.String("request_id", args.RequestID))
	}
	if w.deps.Sender == nil || w.deps.Sealer == nil {
		return errors.New("sms worker: no sender or sealer configured")
	}
	if !args.ExpiresAt.IsZero() && !w.deps.Now().Before(args.ExpiresAt) {
		log.WarnContext(ctx, "sms not sent: it expired while queued", slog.Time("expired_at", args.ExpiresAt))
		return nil
	}
	data, err := w.deps.Sealer.Open(args.Sealed, args.aad())
	if err != nil {
		log.ErrorContext(ctx, "sms not sent: its data cannot be opened (altered, or sealed with a key no longer configured)", slog.Any("err", err))
		return nil
	}
	text, err := Render(args.Purpose, args.Locale, data)
	if err != nil {
		log.ErrorContext(ctx, "sms not sent: it cannot be rendered", slog.Any("err", scrub(err, args.To, data)))
		return nil
	}

	providerID, err := w.deps.Sender.Send(ctx, Message{To: args.To, Text: text, ID: args.ID, Purpose: args.Purpose})
	if err != nil {
		err = scrub(err, args.To, data)
		switch {
		case errors.Is(err, ErrPermanent):
			log.ErrorContext(ctx, "sms refused for good; not retrying", slog.Any("err", err))
			return nil
		case job.Attempt >= job.MaxAttempts:
			log.ErrorContext(ctx, "sms send failed on the job's last attempt; giving up", slog.Any("err", err))
		default:
			log.WarnContext(ctx, "sms send failed; the queue will retry", slog.Any("err", err))
		}
		return fmt.Errorf("sms worker: send message %s: %w", args.ID, err)
	}
	log.InfoContext(ctx, "sms sent", slog.String("provider_id", providerID))
	return nil
}

// scrub returns err with its text freed of the message's secrets: the template data (but the app
// name and the minutes, which are not secret and too common to replace) and the full number, which
// becomes its mask. errors.Is and errors.As still see the original chain.
func scrub(err error, to string, data map[string]string) error {
	msg := err.Error()
	clean := msg
	for k, v := range data {
		if k == KeyApp || k == KeyMinutes || len(v) < 4 {
			continue
		}
		clean = strings.ReplaceAll(clean, v, "[redacted]")
	}
	if to != "" {
		clean = strings.ReplaceAll(clean, to, phone.Mask(to))
	}
	if clean == msg {
		return err
	}
	return &scrubbedError{text: clean, err: err}
}

// scrubbedError shows a cleaned text but unwraps to the original error.
type scrubbedError struct {
	text string
	err  error
}

func (e *scrubbedError) Error() string { return e.text }
func (e *scrubbedError) Unwrap() error { return e.err }
