package mail

import (
	"context"
	"crypto/rand"
	"errors"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/internal/ephemeral"
	"github.com/gatehouse/gatehouse/internal/memory"
	"github.com/gatehouse/gatehouse/internal/redis"
)

// fakeClock is a clock tests move by hand.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func memoryStore(t *testing.T) ephemeral.Store {
	t.Helper()
	s := memory.New(nil)
	t.Cleanup(func() { s.Close() })
	return s
}

func redisStore(t *testing.T) ephemeral.Store {
	t.Helper()
	u := os.Getenv("GATEHOUSE_TEST_REDIS_URL")
	if u == "" {
		t.Skip("Redis tests skipped: set GATEHOUSE_TEST_REDIS_URL (e.g. redis://127.0.0.1:6379/0) to run them")
	}
	s, err := redis.New(t.Context(), redis.Options{URL: u, KeyPrefix: "gatehouse-test-mail-" + rand.Text() + ":"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestLimiterCapsAcrossInstances(t *testing.T) {
	stores := map[string]func(*testing.T) ephemeral.Store{"memory": memoryStore, "redis": redisStore}
	for name, open := range stores {
		t.Run(name, func(t *testing.T) {
			eph := open(t)
			clock := &fakeClock{t: time.Date(2026, 5, 1, 12, 0, 0, 250*int(time.Millisecond), time.UTC)}
			// Two nodes, each with its own limiter, sharing the store.
			a := NewLimiter(eph, 3, clock.Now)
			b := NewLimiter(eph, 3, clock.Now)
			take := func(l *Limiter) time.Duration {
				t.Helper()
				wait, err := l.Take(context.Background())
				if err != nil {
					t.Fatalf("Take: %v", err)
				}
				return wait
			}
			for i, l := range []*Limiter{a, b, a} {
				if w := take(l); w != 0 {
					t.Fatalf("take %d waited %v within the cap", i+1, w)
				}
			}
			if w := take(b); w != 750*time.Millisecond {
				t.Fatalf("fourth take in the second: wait %v, want 750ms (to the next second)", w)
			}
			if w := take(a); w != 750*time.Millisecond {
				t.Fatalf("fifth take: wait %v, want 750ms", w)
			}
			clock.Advance(700 * time.Millisecond)
			if w := take(a); w != 50*time.Millisecond {
				t.Fatalf("take late in the second: wait %v, want 50ms", w)
			}
			clock.Advance(50 * time.Millisecond) // the next second
			for i, l := range []*Limiter{b, a, b} {
				if w := take(l); w != 0 {
					t.Fatalf("take %d of the next second waited %v", i+1, w)
				}
			}
			if w := take(a); w != time.Second {
				t.Fatalf("over the cap at the start of a second: wait %v, want 1s", w)
			}
		})
	}
}

func TestLimiterWindow(t *testing.T) {
	clock := &fakeClock{t: time.Date(2026, 5, 1, 12, 0, 30, 0, time.UTC)}
	l := NewWindowLimiter(memoryStore(t), 2, time.Minute, clock.Now)
	for range 2 {
		if w, err := l.Take(t.Context()); w != 0 || err != nil {
			t.Fatalf("Take = %v, %v", w, err)
		}
	}
	if w, err := l.Take(t.Context()); w != 30*time.Second || err != nil {
		t.Fatalf("over the cap: Take = %v, %v; want 30s to the next minute", w, err)
	}
}

func TestLimiterNoCap(t *testing.T) {
	var nilLimiter *Limiter
	for name, l := range map[string]*Limiter{"nil": nilLimiter, "zero": NewLimiter(nil, 0, nil)} {
		for range 100 {
			if w, err := l.Take(t.Context()); w != 0 || err != nil {
				t.Fatalf("%s limiter: Take = %v, %v", name, w, err)
			}
		}
	}
}

func TestLimiterFailsClosed(t *testing.T) {
	eph := memory.New(nil)
	eph.Close()
	_, err := NewLimiter(eph, 10, nil).Take(t.Context())
	if !errors.Is(err, ephemeral.ErrUnavailable) {
		t.Fatalf("Take on a closed store: err = %v, want ephemeral.ErrUnavailable", err)
	}
}
