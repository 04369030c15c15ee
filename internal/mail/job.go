package mail

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"

	"github.com/gatehouse/gatehouse"
	"github.com/gatehouse/gatehouse/internal/jobs"
	"github.com/gatehouse/gatehouse/internal/records"
	"github.com/gatehouse/gatehouse/internal/seal"
)

// SendJob is the durable job that sends one email. Its template data (verification links and
// codes) is sealed; the rest is not secret.
type SendJob struct {
	DeliveryID string `json:"delivery_id"`
	To         string `json:"to"`
	Template   string `json:"template"`
	Locale     string `json:"locale"`
	// Sealed is the template data, encrypted by a seal.Sealer and bound to the fields above.
	Sealed []byte `json:"sealed"`
	// Data is the template data in the clear, as versions before sealing queued it. It is only
	// read, for the jobs they left in the queue: the worker uses it when Sealed is empty.
	Data map[string]string `json:"data,omitempty"`
}

// Kind names the job type in the queue.
func (SendJob) Kind() string { return "mail.send" }

// aad binds the sealed data to the job: moved to another job (another delivery, recipient,
// template or language), it does not open.
func (j SendJob) aad() []byte {
	return []byte("gatehouse mail.send v1\x00" + j.DeliveryID + "\x00" + j.To + "\x00" + j.Template + "\x00" + j.Locale)
}

// Outgoing is an email to queue.
type Outgoing struct {
	To       string            // the recipient's bare address
	Template string            // TemplateVerifyEmail, ...
	Locale   string            // a language tag; unknown ones fall back to English
	Data     map[string]string // the template's fields; Data["Name"] also names the recipient in To
	// QueuedAt dates the delivery record; zero: the current time. Callers with an injected clock
	// pass its time.
	QueuedAt time.Time
}

// QueueTx is what Queue needs of a transaction (records.Tx has it).
type QueueTx interface {
	records.MailDeliveryWriter
	Enqueue(ctx context.Context, args jobs.Args, opts *jobs.InsertOpts) error
}

// Queuer queues emails with their template data sealed, so that the links and codes they carry
// are never readable in the job table, which lives in SQL and keeps finished jobs for a while.
// Callers hold one and never see the key.
type Queuer struct {
	sealer *seal.Sealer
}

// NewQueuer returns a queuer that seals with sealer, whose key the Workers must be able to open
// (seal.NewSealer's previous keys).
func NewQueuer(sealer *seal.Sealer) *Queuer {
	return &Queuer{sealer: sealer}
}

// Queue records a delivery (status queued) and enqueues the job that sends it, both in tx, so the
// email exists if and only if the change that causes it commits. It renders the message first,
// which validates the template, its data and the address before anything is written, keeps the
// subject in the record for operators, and seals the data in the job.
func (q *Queuer) Queue(ctx context.Context, tx QueueTx, msg Outgoing) error {
	if q == nil || q.sealer == nil {
		return fmt.Errorf("queue %s email: no sealer", msg.Template)
	}
	if _, err := parseBareAddress(msg.To); err != nil {
		return fmt.Errorf("queue %s email: %w", msg.Template, err)
	}
	m, err := Render(msg.Template, msg.Locale, msg.Data)
	if err != nil {
		return fmt.Errorf("queue %s email: %w", msg.Template, err)
	}
	id, err := uuid.NewV7()
	if err != nil {
		return fmt.Errorf("queue %s email: delivery id: %w", msg.Template, err)
	}
	at := msg.QueuedAt
	if at.IsZero() {
		at = time.Now()
	}
	at = at.UTC()
	d := &gatehouse.MailDelivery{
		ID:        id.String(),
		To:        msg.To,
		Template:  msg.Template,
		Subject:   m.Subject,
		Status:    gatehouse.MailQueued,
		CreatedAt: at,
		UpdatedAt: at,
	}
	job := SendJob{DeliveryID: d.ID, To: msg.To, Template: msg.Template, Locale: ResolveLocale(msg.Locale)}
	if job.Sealed, err = q.sealer.Seal(msg.Data, job.aad()); err != nil {
		return fmt.Errorf("queue %s email: %w", msg.Template, err)
	}
	if err := tx.CreateMailDelivery(ctx, d); err != nil {
		return fmt.Errorf("queue %s email: record delivery: %w", msg.Template, err)
	}
	if err := tx.Enqueue(ctx, job, nil); err != nil {
		return fmt.Errorf("queue %s email: %w", msg.Template, err)
	}
	return nil
}

// ErrRateCapped is returned (wrapped) by Worker.Work when the send-rate cap held the message back
// longer than WorkerDeps.MaxRateWait: the queue runs the job again after its backoff.
var ErrRateCapped = errors.New("mail: send rate cap reached")

// DefaultMaxRateWait is WorkerDeps.MaxRateWait when zero.
const DefaultMaxRateWait = 2 * time.Second

// recordTimeout bounds the write of a delivery's outcome, which runs even when the job's context
// has ended: a message that went out must not be left recorded as queued.
const recordTimeout = 10 * time.Second

// maxErrorLen bounds MailDelivery.LastError.
const maxErrorLen = 1000

// WorkerDeps are what a Worker needs.
type WorkerDeps struct {
	Sender     Sender                 // required
	Deliveries records.MailDeliveries // required
	Sealer     *seal.Sealer           // required: the keys the jobs were sealed with
	From       string                 // required: the From field, "Example <no-reply@example.com>"
	Limiter    *Limiter               // the send-rate cap; nil: none
	Logger     *slog.Logger           // nil: discard
	Now        func() time.Time       // nil: time.Now
	// MaxRateWait is how long one run waits in process for a slot under the rate cap before it
	// gives the job back to the queue; zero: DefaultMaxRateWait.
	MaxRateWait time.Duration
	// Sleep waits for d or until ctx ends; nil: a timer. Tests advance a fake clock instead.
	Sleep func(ctx context.Context, d time.Duration) error
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
	if deps.MaxRateWait <= 0 {
		deps.MaxRateWait = DefaultMaxRateWait
	}
	if deps.Sleep == nil {
		deps.Sleep = sleep
	}
	return &Worker{deps: deps}
}

// Work sends the job's email and records the outcome in its delivery record.
//
//   - A delivery already sent is not sent again, so a job run twice sends once — unless the node
//     dies between the provider accepting the message and the record saying so, in which case the
//     next run sends a duplicate (at least once, never lost).
//   - A provider error is recorded (LastError, Attempts) and returned, so the queue retries with
//     backoff; on the job's last attempt the delivery becomes failed. A permanent refusal of the
//     recipient (ErrRejected) fails the delivery at once and ends the job: repeating it would only
//     bounce again and hurt the sender's reputation.
//   - Waiting on the rate cap is not a delivery attempt: the record's Attempts does not change. A
//     run that could not get a slot within MaxRateWait returns ErrRateCapped (the queue counts
//     that run as one of the job's attempts); if that was the job's last attempt, the delivery
//     becomes failed with the cap as its reason.
//   - A message whose data cannot be opened (altered, moved to another job, or sealed with a key
//     no longer configured) or rendered (the templates changed under a queued job) fails at once.
func (w *Worker) Work(ctx context.Context, job jobs.Work[SendJob]) error {
	args := job.Args
	log := w.deps.Logger.With(
		slog.Int64("job_id", job.ID),
		slog.String("delivery_id", args.DeliveryID),
		slog.String("template", args.Template),
		slog.Int("attempt", job.Attempt),
	)
	if w.deps.Sender == nil || w.deps.Deliveries == nil || w.deps.Sealer == nil {
		return errors.New("mail worker: no sender, delivery store or sealer configured")
	}
	d, err := w.deps.Deliveries.GetMailDelivery(ctx, args.DeliveryID)
	if errors.Is(err, records.ErrNotFound) {
		// Queue writes the record in the job's own transaction, so only its deletion (retention
		// or an operator) leads here; there is nothing left to report the outcome to.
		log.WarnContext(ctx, "mail delivery record not found; not sending")
		return nil
	}
	if err != nil {
		return fmt.Errorf("mail worker: load delivery %s: %w", args.DeliveryID, err)
	}
	if d.Status == gatehouse.MailSent {
		log.InfoContext(ctx, "mail already sent; not sending again")
		return nil
	}
	last := job.Attempt >= job.MaxAttempts

	data := args.Data // a job queued before sealing
	if len(args.Sealed) > 0 {
		if data, err = w.deps.Sealer.Open(args.Sealed, args.aad()); err != nil {
			log.ErrorContext(ctx, "mail data cannot be opened (altered, or sealed with a key no longer configured); delivery failed", slog.Any("err", err))
			return w.fail(ctx, d, err, true)
		}
	}
	m, err := Render(args.Template, args.Locale, data)
	if err != nil {
		log.ErrorContext(ctx, "mail cannot be rendered; delivery failed", slog.Any("err", err))
		return w.fail(ctx, d, err, true)
	}

	if err := w.waitForSlot(ctx); err != nil {
		if last && errors.Is(err, ErrRateCapped) {
			log.WarnContext(ctx, "mail held back by the send-rate cap on the job's last attempt; delivery failed")
			return errors.Join(err, w.fail(ctx, d, err, true))
		}
		return err
	}

	providerID, err := w.deps.Sender.Send(ctx, Envelope{
		From:    w.deps.From,
		To:      args.To,
		ToName:  stripControl(data["Name"]),
		Subject: m.Subject,
		Text:    m.Text,
		HTML:    m.HTML,
		Headers: map[string]string{
			// RFC 3834: no vacation replies or other auto-responses to this message.
			"Auto-Submitted":           "auto-generated",
			"X-Auto-Response-Suppress": "All",
		},
	})
	d.Attempts++
	if err != nil {
		permanent := errors.Is(err, ErrRejected)
		log.WarnContext(ctx, "mail send failed", slog.Any("err", err), slog.Bool("final", permanent || last))
		if recErr := w.fail(ctx, d, err, permanent || last); recErr != nil {
			return errors.Join(err, recErr)
		}
		if permanent {
			return nil
		}
		return fmt.Errorf("mail worker: send delivery %s: %w", d.ID, err)
	}
	now := w.deps.Now().UTC()
	d.Status = gatehouse.MailSent
	d.ProviderMessageID = providerID
	d.SentAt = now
	d.UpdatedAt = now
	if err := w.record(ctx, d); err != nil {
		log.ErrorContext(ctx, "mail sent but its delivery record was not updated; a retry will send it again", slog.Any("err", err))
		return err
	}
	log.InfoContext(ctx, "mail sent", slog.String("provider_id", providerID))
	return nil
}

// waitForSlot waits, up to MaxRateWait in all, for a slot under the rate cap.
func (w *Worker) waitForSlot(ctx context.Context) error {
	budget := w.deps.MaxRateWait
	for {
		wait, err := w.deps.Limiter.Take(ctx)
		if err != nil {
			return fmt.Errorf("mail worker: %w", err)
		}
		if wait == 0 {
			return nil
		}
		if wait > budget {
			return fmt.Errorf("%w; next slot in %s", ErrRateCapped, wait)
		}
		if err := w.deps.Sleep(ctx, wait); err != nil {
			return fmt.Errorf("mail worker: waiting for the rate cap: %w", err)
		}
		budget -= wait
	}
}

// fail records cause as the delivery's last error, and marks it failed when final. It returns
// the record's write error.
func (w *Worker) fail(ctx context.Context, d *gatehouse.MailDelivery, cause error, final bool) error {
	d.LastError = truncate(cause.Error(), maxErrorLen)
	if final {
		d.Status = gatehouse.MailFailed
	}
	d.UpdatedAt = w.deps.Now().UTC()
	return w.record(ctx, d)
}

// record writes the delivery's outcome, even if ctx has ended (a shutdown cancelling the job).
func (w *Worker) record(ctx context.Context, d *gatehouse.MailDelivery) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), recordTimeout)
	defer cancel()
	if err := w.deps.Deliveries.UpdateMailDelivery(ctx, d); err != nil {
		return fmt.Errorf("mail worker: update delivery %s: %w", d.ID, err)
	}
	return nil
}

// truncate cuts s to at most n bytes without splitting a character.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	s = s[:n]
	for !utf8.ValidString(s) {
		s = s[:len(s)-1]
	}
	return strings.TrimSpace(s) + "…"
}

// sleep waits for d or until ctx ends.
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
