package mail

import (
	"context"
	"errors"
	"testing"
	"time"
)

func TestProberRemembersOutcome(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	p := NewProber(Server{Host: "mx:25"}, 10*time.Second, func() time.Time { return now })
	calls := 0
	var result error
	p.probe = func(context.Context, Server) error { calls++; return result }

	steps := []struct {
		name      string
		advance   time.Duration
		result    error
		wantErr   bool
		wantCalls int
	}{
		{"first check probes", 0, nil, false, 1},
		{"within ttl reuses the outcome", 5 * time.Second, errors.New("down"), false, 1},
		{"after ttl probes again", 6 * time.Second, errors.New("down"), true, 2},
		{"failure is remembered too", 1 * time.Second, nil, true, 2},
		{"and expires", 10 * time.Second, nil, false, 3},
	}
	for _, s := range steps {
		now = now.Add(s.advance)
		result = s.result
		err := p.Check(context.Background())
		if (err != nil) != s.wantErr || calls != s.wantCalls {
			t.Fatalf("%s: err=%v calls=%d, want err=%v calls=%d", s.name, err, calls, s.wantErr, s.wantCalls)
		}
	}
}

func TestProberDoesNotRememberItsOwnTimeout(t *testing.T) {
	p := NewProber(Server{Host: "mx:25"}, time.Minute, nil)
	calls := 0
	p.probe = func(ctx context.Context, _ Server) error {
		calls++
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return nil
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := p.Check(ctx); err == nil {
		t.Fatal("cancelled check succeeded")
	}
	if err := p.Check(context.Background()); err != nil || calls != 2 {
		t.Fatalf("after a cancelled check: err=%v calls=%d; want a fresh probe", err, calls)
	}
}
