package ephemeral_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/internal/ephemeral"
	"github.com/gatehouse/gatehouse/internal/memory"
)

// followWait bounds the waits for the follower's goroutine; it is a deadline, never a delay.
const followWait = 10 * time.Second

type followLog struct {
	msgs         chan string
	ready, ended int
	lost         bool
}

func newFollow(log *followLog) ephemeral.Follow {
	return ephemeral.Follow{
		Channel: "news",
		Apply:   func(msg []byte) { log.msgs <- string(msg) },
		Ready:   func() { log.ready++ },
		Ended:   func() { log.ended++ },
		Lost:    func() { log.lost = true },
	}
}

func waitDone(t *testing.T, fl *ephemeral.Follower) {
	t.Helper()
	select {
	case <-fl.Done():
	case <-time.After(followWait):
		t.Fatal("the follower did not stop")
	}
}

func TestFollowerAppliesUntilClosed(t *testing.T) {
	s := memory.New(nil)
	defer s.Close()
	var fl ephemeral.Follower
	if fl.Done() != nil {
		t.Error("Done before Start is not nil")
	}
	log := &followLog{msgs: make(chan string, 4)}
	if err := fl.Start(t.Context(), s, newFollow(log)); err != nil {
		t.Fatal(err)
	}
	if log.ready != 1 {
		t.Fatalf("Ready called %d times at Start, want once", log.ready)
	}
	if err := fl.Start(t.Context(), s, newFollow(log)); !errors.Is(err, ephemeral.ErrFollowerStarted) {
		t.Errorf("second Start: %v, want ErrFollowerStarted", err)
	}
	for _, m := range []string{"a", "b"} {
		if err := s.Publish(t.Context(), "news", []byte(m)); err != nil {
			t.Fatal(err)
		}
	}
	for _, want := range []string{"a", "b"} {
		select {
		case got := <-log.msgs:
			if got != want {
				t.Fatalf("applied %q, want %q", got, want)
			}
		case <-time.After(followWait):
			t.Fatalf("message %q not applied", want)
		}
	}
	if err := fl.Close(); err != nil {
		t.Fatal(err)
	}
	waitDone(t, &fl)
	if log.ended != 1 || log.lost {
		t.Errorf("after Close: Ended %d times, Lost %v; want once, false", log.ended, log.lost)
	}
	if err := fl.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if err := fl.Start(t.Context(), s, newFollow(log)); !errors.Is(err, ephemeral.ErrFollowerClosed) {
		t.Errorf("Start after Close: %v, want ErrFollowerClosed", err)
	}
}

func TestFollowerStopsWithContext(t *testing.T) {
	s := memory.New(nil)
	defer s.Close()
	var fl ephemeral.Follower
	log := &followLog{msgs: make(chan string, 1)}
	ctx, cancel := context.WithCancel(t.Context())
	if err := fl.Start(ctx, s, newFollow(log)); err != nil {
		t.Fatal(err)
	}
	cancel()
	waitDone(t, &fl)
	if log.ended != 1 || log.lost {
		t.Errorf("after the context ended: Ended %d times, Lost %v; want once, false", log.ended, log.lost)
	}
	if err := fl.Close(); err != nil {
		t.Errorf("Close after the context ended: %v", err)
	}
}

func TestFollowerLostWhenStoreCloses(t *testing.T) {
	s := memory.New(nil)
	var fl ephemeral.Follower
	log := &followLog{msgs: make(chan string, 1)}
	if err := fl.Start(t.Context(), s, newFollow(log)); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	waitDone(t, &fl)
	if log.ended != 1 || !log.lost {
		t.Errorf("after the store closed: Ended %d times, Lost %v; want once, true", log.ended, log.lost)
	}
}

func TestFollowerSubscribeFails(t *testing.T) {
	s := memory.New(nil)
	_ = s.Close()
	var fl ephemeral.Follower
	log := &followLog{msgs: make(chan string, 1)}
	if err := fl.Start(t.Context(), s, newFollow(log)); !errors.Is(err, ephemeral.ErrUnavailable) {
		t.Fatalf("Start on a closed store: %v, want ErrUnavailable", err)
	}
	if log.ready != 0 || fl.Done() != nil {
		t.Errorf("a failed Start called Ready %d times, Done %v", log.ready, fl.Done())
	}
}
