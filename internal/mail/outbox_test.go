package mail

import (
	"bytes"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestDevOutbox(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.FixedZone("x", 3600))
	var logs bytes.Buffer
	o := NewDevOutbox(3, slog.New(slog.NewTextHandler(&logs, nil)), func() time.Time { now = now.Add(time.Second); return now })
	if got := o.Messages(); len(got) != 0 {
		t.Fatalf("new outbox holds %d messages", len(got))
	}
	for i := 1; i <= 5; i++ {
		env := testEnvelope()
		env.Subject = fmt.Sprintf("message %d", i)
		id, err := o.Send(t.Context(), env)
		if err != nil {
			t.Fatalf("Send %d: %v", i, err)
		}
		if want := fmt.Sprintf("dev-outbox-%d", i); id != want {
			t.Errorf("id = %q, want %q", id, want)
		}
		msgs := o.Messages()
		if len(msgs) != min(i, 3) {
			t.Fatalf("after %d sends the outbox holds %d messages, want %d", i, len(msgs), min(i, 3))
		}
		for j, m := range msgs { // newest first
			if want := fmt.Sprintf("message %d", i-j); m.Subject != want {
				t.Errorf("after %d sends, message %d is %q, want %q", i, j, m.Subject, want)
			}
		}
	}
	m := o.Messages()[0]
	want := OutboxMessage{ID: "dev-outbox-5", Channel: ChannelEmail, To: "eve@example.org", Subject: "message 5",
		Text: testEnvelope().Text, HTML: testEnvelope().HTML, CreatedAt: time.Date(2026, 1, 2, 2, 4, 10, 0, time.UTC)}
	if m != want {
		t.Errorf("newest message = %+v\nwant %+v", m, want)
	}
	for _, s := range []string{"to=eve@example.org", `subject="message 5"`, "Your code is 123456", "channel=email"} {
		if !strings.Contains(logs.String(), s) {
			t.Errorf("log lacks %q:\n%s", s, logs.String())
		}
	}
}

func TestDevOutboxOtherChannels(t *testing.T) {
	o := NewDevOutbox(0, nil, nil)
	o.Add(t.Context(), OutboxMessage{Channel: ChannelSMS, To: "+15550100", Text: "Your code is 123456"})
	if _, err := o.Send(t.Context(), testEnvelope()); err != nil {
		t.Fatal(err)
	}
	msgs := o.Messages()
	if len(msgs) != 2 || msgs[0].Channel != ChannelEmail || msgs[1].Channel != ChannelSMS || msgs[1].To != "+15550100" {
		t.Fatalf("messages = %+v", msgs)
	}
	if msgs[1].CreatedAt.IsZero() || msgs[1].ID == "" {
		t.Errorf("Add did not set the id and time: %+v", msgs[1])
	}
}

func TestDevOutboxRefusesWhatSMTPWould(t *testing.T) {
	o := NewDevOutbox(10, nil, nil)
	env := testEnvelope()
	env.To = "eve@example.org\r\nBcc: victim@x"
	if _, err := o.Send(t.Context(), env); err == nil {
		t.Fatal("the outbox accepted an address with a line break")
	}
	if n := len(o.Messages()); n != 0 {
		t.Fatalf("outbox holds %d messages", n)
	}
}

func TestDevOutboxConcurrent(t *testing.T) {
	o := NewDevOutbox(DefaultOutboxSize, nil, nil)
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 50 {
				if _, err := o.Send(t.Context(), testEnvelope()); err != nil {
					t.Error(err)
				}
				_ = o.Messages()
			}
		})
	}
	wg.Wait()
	msgs := o.Messages()
	if len(msgs) != DefaultOutboxSize || msgs[0].ID != "dev-outbox-400" {
		t.Fatalf("after 400 sends: %d messages, newest %q", len(msgs), msgs[0].ID)
	}
}
