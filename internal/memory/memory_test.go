package memory_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/internal/ephemeral"
	"github.com/gatehouse/gatehouse/internal/memory"
	"github.com/gatehouse/gatehouse/internal/storetest"
)

// clock is a settable time source shared by a test and the store under test.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func newClock() *clock { return &clock{now: time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

func newStore(t *testing.T, c *clock) *memory.Store {
	t.Helper()
	s := memory.New(c.Now)
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func TestEphemeralContract(t *testing.T) {
	storetest.RunEphemeral(t, func(t *testing.T) storetest.EphemeralHarness {
		c := newClock()
		return storetest.EphemeralHarness{Store: newStore(t, c), Other: newStore(t, c), Advance: c.Advance}
	})
}

func TestSweepRemovesOnlyExpiredKeys(t *testing.T) {
	ctx := t.Context()
	c := newClock()
	s := newStore(t, c)
	for i := range 3 {
		if err := s.Set(ctx, fmt.Sprint("short", i), []byte("v"), time.Minute); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.Incr(ctx, "counter", 1, time.Minute); err != nil {
		t.Fatal(err)
	}
	if err := s.SetAdd(ctx, "set", time.Minute, "a"); err != nil {
		t.Fatal(err)
	}
	if err := s.Set(ctx, "long", []byte("v"), time.Hour); err != nil {
		t.Fatal(err)
	}
	if n := s.Sweep(); n != 0 {
		t.Fatalf("Sweep before anything expired removed %d keys", n)
	}
	c.Advance(time.Minute)
	if n := s.Sweep(); n != 5 {
		t.Fatalf("Sweep removed %d keys, want 5", n)
	}
	if got, err := s.Get(ctx, "long"); err != nil || string(got) != "v" {
		t.Fatalf("Get(long) = %q, %v after Sweep", got, err)
	}
}

func TestSlowSubscriberDropsInsteadOfBlocking(t *testing.T) {
	ctx := t.Context()
	s := newStore(t, newClock())
	slow, err := s.Subscribe(ctx, "ch")
	if err != nil {
		t.Fatal(err)
	}
	const extra = 5
	for i := range memory.SubscriptionBuffer + extra {
		if err := s.Publish(ctx, "ch", []byte(fmt.Sprint(i))); err != nil {
			t.Fatal(err)
		}
	}
	if got := s.Dropped(); got != extra {
		t.Fatalf("Dropped = %d, want %d", got, extra)
	}
	if got := slow.(interface{ Dropped() uint64 }).Dropped(); got != extra {
		t.Fatalf("subscription Dropped = %d, want %d", got, extra)
	}
	// The oldest messages are the ones kept.
	if got := <-slow.Messages(); string(got) != "0" {
		t.Fatalf("first message = %q, want %q", got, "0")
	}
}

func TestNilClockUsesRealTime(t *testing.T) {
	s := memory.New(nil)
	defer s.Close()
	if err := s.Set(t.Context(), "k", []byte("v"), time.Hour); err != nil {
		t.Fatal(err)
	}
	ttl, err := s.TTL(t.Context(), "k")
	if err != nil || ttl <= 59*time.Minute || ttl > time.Hour {
		t.Fatalf("TTL = %s, %v; want just under an hour", ttl, err)
	}
}

func TestClosedErrorsWrapUnavailable(t *testing.T) {
	s := memory.New(nil)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	err := s.Set(context.Background(), "k", []byte("v"), time.Hour)
	if !errors.Is(err, ephemeral.ErrUnavailable) {
		t.Fatalf("Set after Close: %v, want ErrUnavailable", err)
	}
}

func BenchmarkIncr(b *testing.B) {
	s := memory.New(nil)
	defer s.Close()
	ctx := context.Background()
	b.Run("one key", func(b *testing.B) {
		for b.Loop() {
			if _, err := s.Incr(ctx, "bench:incr", 1, time.Hour); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("parallel many keys", func(b *testing.B) {
		b.RunParallel(func(pb *testing.PB) {
			i := 0
			for pb.Next() {
				if _, err := s.Incr(ctx, benchKeys[i%len(benchKeys)], 1, time.Hour); err != nil {
					b.Fatal(err)
				}
				i++
			}
		})
	})
}

func BenchmarkGet(b *testing.B) {
	s := memory.New(nil)
	defer s.Close()
	ctx := context.Background()
	value := make([]byte, 64)
	for _, k := range benchKeys {
		if err := s.Set(ctx, k, value, time.Hour); err != nil {
			b.Fatal(err)
		}
	}
	b.Run("one key", func(b *testing.B) {
		for b.Loop() {
			if _, err := s.Get(ctx, benchKeys[0]); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("parallel many keys", func(b *testing.B) {
		b.RunParallel(func(pb *testing.PB) {
			i := 0
			for pb.Next() {
				if _, err := s.Get(ctx, benchKeys[i%len(benchKeys)]); err != nil {
					b.Fatal(err)
				}
				i++
			}
		})
	})
}

var benchKeys = func() []string {
	keys := make([]string, 1024)
	for i := range keys {
		keys[i] = fmt.Sprintf("bench:key:%d", i)
	}
	return keys
}()
