package sms

import (
	"context"
	"fmt"

	"github.com/gatehouse/gatehouse/internal/mail"
)

// DevOutbox is the development stand-in for an SMS provider: it keeps each message in the shared
// mail.DevOutbox with the channel "sms", so that GET /api/v1/dev/outbox lists text messages beside
// emails, and the outbox logs it, text included. It must never serve production: it shows codes by
// design.
type DevOutbox struct {
	outbox *mail.DevOutbox
}

var _ Sender = (*DevOutbox)(nil)

// NewDevOutbox returns a sender that keeps messages in outbox.
func NewDevOutbox(outbox *mail.DevOutbox) *DevOutbox {
	return &DevOutbox{outbox: outbox}
}

// Send keeps m. It validates m as the HTTP providers do, so that a message the outbox accepts in
// development would not be refused in production for its form. The provider id is the outbox's.
func (d *DevOutbox) Send(ctx context.Context, m Message) (string, error) {
	if err := checkMessage(m); err != nil {
		return "", fmt.Errorf("dev outbox: %w", err)
	}
	return d.outbox.Add(ctx, mail.OutboxMessage{Channel: mail.ChannelSMS, To: m.To, Text: m.Text}), nil
}
