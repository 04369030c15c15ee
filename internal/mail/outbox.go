package mail

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"
)

// DefaultOutboxSize is how many messages a DevOutbox keeps when NewDevOutbox is given zero.
const DefaultOutboxSize = 200

// Outbox channels.
const (
	ChannelEmail = "email"
	ChannelSMS   = "sms"
)

// OutboxMessage is one message held by the DevOutbox.
type OutboxMessage struct {
	ID        string    `json:"id"`
	Channel   string    `json:"channel"` // ChannelEmail or ChannelSMS
	To        string    `json:"to"`
	Subject   string    `json:"subject,omitempty"` // email only
	Text      string    `json:"text"`
	HTML      string    `json:"html,omitempty"` // email only
	CreatedAt time.Time `json:"time"`
}

// DevOutbox is the development stand-in for a mail (and SMS) provider: it keeps the newest
// messages in memory for GET /api/v1/dev/outbox and logs each one, body included, so that a
// developer can follow verification links and codes without a mail server. It must never serve
// production: it logs secrets by design.
type DevOutbox struct {
	logger *slog.Logger
	now    func() time.Time

	mu   sync.Mutex
	ring []OutboxMessage // ring[next-1] is the newest
	next int             // where the next message goes
	full bool
	seq  uint64
}

var _ Sender = (*DevOutbox)(nil)

// NewDevOutbox returns an outbox that keeps the last size messages (DefaultOutboxSize when size
// is zero or less).
func NewDevOutbox(size int, logger *slog.Logger, now func() time.Time) *DevOutbox {
	if size <= 0 {
		size = DefaultOutboxSize
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if now == nil {
		now = time.Now
	}
	return &DevOutbox{logger: logger, now: now, ring: make([]OutboxMessage, size)}
}

// Send keeps an email. It validates env as the SMTP sender does, so that a message the outbox
// accepts in development would not be refused in production for its form.
func (o *DevOutbox) Send(ctx context.Context, env Envelope) (string, error) {
	if _, err := env.check(); err != nil {
		return "", fmt.Errorf("dev outbox: %w", err)
	}
	return o.Add(ctx, OutboxMessage{Channel: ChannelEmail, To: env.To, Subject: env.Subject, Text: env.Text, HTML: env.HTML}), nil
}

// Add keeps a message of any channel (the SMS sender of development uses it), setting its ID and
// CreatedAt, logs it and returns its ID.
func (o *DevOutbox) Add(ctx context.Context, m OutboxMessage) string {
	o.mu.Lock()
	o.seq++
	m.ID = fmt.Sprintf("dev-outbox-%d", o.seq)
	m.CreatedAt = o.now().UTC()
	o.ring[o.next] = m
	o.next++
	if o.next == len(o.ring) {
		o.next, o.full = 0, true
	}
	o.mu.Unlock()

	o.logger.InfoContext(ctx, "dev outbox: message kept (development only; the body is logged on purpose)",
		slog.String("channel", m.Channel),
		slog.String("id", m.ID),
		slog.String("to", m.To),
		slog.String("subject", m.Subject),
		slog.String("text", m.Text),
	)
	return m.ID
}

// Messages returns the messages kept, newest first.
func (o *DevOutbox) Messages() []OutboxMessage {
	o.mu.Lock()
	defer o.mu.Unlock()
	n := o.next
	if o.full {
		n = len(o.ring)
	}
	out := make([]OutboxMessage, 0, n)
	for i := 1; i <= n; i++ {
		out = append(out, o.ring[(o.next-i+len(o.ring))%len(o.ring)])
	}
	return out
}
