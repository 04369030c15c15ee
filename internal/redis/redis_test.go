package redis_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/gatehouse/gatehouse/internal/ephemeral"
	"github.com/gatehouse/gatehouse/internal/redis"
	"github.com/gatehouse/gatehouse/internal/storetest"
)

// testURL returns the Redis the tests may use, or skips the test.
func testURL(tb testing.TB) string {
	tb.Helper()
	u := os.Getenv("GATEHOUSE_TEST_REDIS_URL")
	if u == "" {
		tb.Skip("Redis tests skipped: set GATEHOUSE_TEST_REDIS_URL (e.g. redis://127.0.0.1:6379/0) to run them")
	}
	return u
}

// newPrefix returns a key prefix no other test uses and removes its keys when the test ends.
func newPrefix(tb testing.TB, url string) string {
	tb.Helper()
	var b [8]byte
	_, _ = rand.Read(b[:])
	prefix := "gatehouse-test:" + hex.EncodeToString(b[:]) + ":"
	tb.Cleanup(func() {
		// The store may be closed by now: clean up through a client of its own.
		opts, err := goredis.ParseURL(url)
		if err != nil {
			tb.Errorf("clean up %s: %v", prefix, err)
			return
		}
		c := goredis.NewClient(opts)
		defer c.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		iter := c.Scan(ctx, 0, prefix+"*", 500).Iterator()
		var keys []string
		for iter.Next(ctx) {
			keys = append(keys, iter.Val())
		}
		if err := iter.Err(); err != nil {
			tb.Errorf("clean up %s: scan: %v", prefix, err)
			return
		}
		if len(keys) > 0 {
			if err := c.Del(ctx, keys...).Err(); err != nil {
				tb.Errorf("clean up %s: del: %v", prefix, err)
			}
		}
	})
	return prefix
}

func newStore(tb testing.TB, url string) *redis.Store {
	tb.Helper()
	s, err := redis.New(tb.Context(), redis.Options{URL: url, KeyPrefix: newPrefix(tb, url)})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = s.Close() })
	return s
}

func TestEphemeralContract(t *testing.T) {
	url := testURL(t)
	storetest.RunEphemeral(t, func(t *testing.T) storetest.EphemeralHarness {
		return storetest.EphemeralHarness{Store: newStore(t, url), Other: newStore(t, url)}
	})
}

func TestKeysAndChannelsArePrefixed(t *testing.T) {
	url := testURL(t)
	ctx := t.Context()
	s := newStore(t, url)
	if err := s.Set(ctx, "k", []byte("v"), time.Hour); err != nil {
		t.Fatal(err)
	}
	got, err := s.Client().Get(ctx, s.KeyPrefix()+"k").Result()
	if err != nil || got != "v" {
		t.Fatalf("raw GET of the prefixed key = %q, %v; want %q", got, err, "v")
	}
	if n, err := s.Client().Exists(ctx, "k").Result(); err != nil || n != 0 {
		t.Fatalf("an unprefixed key exists (%d, %v)", n, err)
	}
	sub, err := s.Subscribe(ctx, "ch")
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	if err := s.Client().Publish(ctx, s.KeyPrefix()+"ch", "raw").Err(); err != nil {
		t.Fatal(err)
	}
	select {
	case msg := <-sub.Messages():
		if string(msg) != "raw" {
			t.Fatalf("got %q, want %q", msg, "raw")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("a message published on the prefixed channel did not arrive")
	}
}

func TestTime(t *testing.T) {
	s := newStore(t, testURL(t))
	got, err := s.Time(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	// The test server runs on this machine; this only checks that TIME was read and converted.
	if skew := time.Since(got); skew > time.Minute || skew < -time.Minute {
		t.Fatalf("Redis TIME = %s, more than a minute from the local clock", got)
	}
}

func TestNewUnreachable(t *testing.T) {
	// Port 1 on the loopback interface refuses connections: nothing listens there.
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	_, err := redis.New(ctx, redis.Options{URL: "redis://:hunter2@127.0.0.1:1/0?max_retries=-1"})
	if err == nil {
		t.Fatal("New with an unreachable server succeeded")
	}
	if !errors.Is(err, ephemeral.ErrUnavailable) {
		t.Errorf("error %v does not wrap ErrUnavailable", err)
	}
	msg := err.Error()
	if !strings.Contains(msg, "127.0.0.1:1") {
		t.Errorf("error %q does not name the server", msg)
	}
	if strings.Contains(msg, "hunter2") {
		t.Errorf("error %q shows the password", msg)
	}
}

func TestNewBadURL(t *testing.T) {
	_, err := redis.New(t.Context(), redis.Options{URL: "http://:hunter2@localhost"})
	if err == nil || !strings.Contains(err.Error(), "scheme") || strings.Contains(err.Error(), "hunter2") {
		t.Fatalf("New with an http URL: %v; want an error about the scheme without the password", err)
	}
}

func BenchmarkIncr(b *testing.B) {
	s := newStore(b, testURL(b))
	ctx := context.Background()
	b.Run("sequential", func(b *testing.B) {
		for b.Loop() {
			if _, err := s.Incr(ctx, "bench:incr", 1, time.Hour); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("parallel", func(b *testing.B) {
		b.RunParallel(func(pb *testing.PB) {
			i := 0
			for pb.Next() {
				if _, err := s.Incr(ctx, fmt.Sprint("bench:incr:", i%64), 1, time.Hour); err != nil {
					b.Fatal(err)
				}
				i++
			}
		})
	})
}

func BenchmarkGet(b *testing.B) {
	s := newStore(b, testURL(b))
	ctx := context.Background()
	if err := s.Set(ctx, "bench:get", make([]byte, 64), time.Hour); err != nil {
		b.Fatal(err)
	}
	b.Run("sequential", func(b *testing.B) {
		for b.Loop() {
			if _, err := s.Get(ctx, "bench:get"); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("parallel", func(b *testing.B) {
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if _, err := s.Get(ctx, "bench:get"); err != nil {
					b.Fatal(err)
				}
			}
		})
	})
}

func TestSlowSubscriberDropsInsteadOfBlocking(t *testing.T) {
	ctx := t.Context()
	s := newStore(t, testURL(t))
	slow, err := s.Subscribe(ctx, "ch")
	if err != nil {
		t.Fatal(err)
	}
	defer slow.Close()
	const extra = 5
	for i := range redis.SubscriptionBuffer + extra {
		if err := s.Publish(ctx, "ch", []byte(fmt.Sprint(i))); err != nil {
			t.Fatal(err)
		}
	}
	// The messages reach the subscription's buffer on their own time: poll, bounded.
	deadline := time.Now().Add(5 * time.Second)
	for s.Dropped() < extra && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if got := s.Dropped(); got != extra {
		t.Fatalf("Dropped = %d, want %d", got, extra)
	}
	if got := <-slow.Messages(); string(got) != "0" {
		t.Fatalf("first message = %q, want %q", got, "0")
	}
}

func TestKeyWrittenWithoutExpiry(t *testing.T) {
	ctx := t.Context()
	s := newStore(t, testURL(t))
	// Only something other than gatehouse can write a key without expiry.
	if err := s.Client().Set(ctx, s.KeyPrefix()+"forever", "1", 0).Err(); err != nil {
		t.Fatal(err)
	}
	if _, err := s.TTL(ctx, "forever"); err == nil || errors.Is(err, ephemeral.ErrNotFound) {
		t.Fatalf("TTL of a key without expiry: %v, want an error saying so", err)
	}
	// A counter never lives forever: Incr gives such a key the TTL it was asked for.
	if _, err := s.Incr(ctx, "forever", 1, time.Hour); err != nil {
		t.Fatal(err)
	}
	if ttl, err := s.TTL(ctx, "forever"); err != nil || ttl <= 59*time.Minute {
		t.Fatalf("TTL after Incr = %s, %v; want about an hour", ttl, err)
	}
}
