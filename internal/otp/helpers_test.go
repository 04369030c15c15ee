package otp_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"log/slog"
	"os"
	"sync"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/gatehouse/gatehouse"
	"github.com/gatehouse/gatehouse/internal/ephemeral"
	"github.com/gatehouse/gatehouse/internal/memory"
	"github.com/gatehouse/gatehouse/internal/otp"
	"github.com/gatehouse/gatehouse/internal/redis"
)

var testKey = bytes.Repeat([]byte("k"), otp.MinKeyLen)

// clock is a settable clock shared by a memory store and the engines on it.
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

// backend is one ephemeral store as two nodes see it: store and other share their data. clock is
// set for the memory store only; Redis judges expiry by its own clock.
type backend struct {
	name  string
	store ephemeral.Store
	other ephemeral.Store
	clock *clock
}

// now is the clock engines on b use.
func (b backend) now() func() time.Time {
	if b.clock != nil {
		return b.clock.Now
	}
	return time.Now
}

func newMemoryBackend(t testing.TB) backend {
	t.Helper()
	c := newClock()
	s := memory.New(c.Now)
	t.Cleanup(func() { _ = s.Close() })
	return backend{name: "memory", store: s, other: s, clock: c}
}

// redisURL returns the Redis the tests may use, or skips the test.
func redisURL(t testing.TB) string {
	t.Helper()
	u := os.Getenv("GATEHOUSE_TEST_REDIS_URL")
	if u == "" {
		t.Skip("Redis tests skipped: set GATEHOUSE_TEST_REDIS_URL (e.g. redis://127.0.0.1:6379/0) to run them")
	}
	return u
}

func newRedisBackend(t testing.TB) backend {
	t.Helper()
	url := redisURL(t)
	prefix := newPrefix(t, url)
	open := func() *redis.Store {
		s, err := redis.New(context.Background(), redis.Options{URL: url, KeyPrefix: prefix})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = s.Close() })
		return s
	}
	return backend{name: "redis", store: open(), other: open()}
}

// newPrefix returns a key prefix no other test uses and removes its keys when the test ends.
func newPrefix(t testing.TB, url string) string {
	t.Helper()
	var b [8]byte
	_, _ = rand.Read(b[:])
	prefix := "gatehouse-test:otp:" + hex.EncodeToString(b[:]) + ":"
	t.Cleanup(func() {
		opts, err := goredis.ParseURL(url)
		if err != nil {
			t.Errorf("clean up %s: %v", prefix, err)
			return
		}
		c := goredis.NewClient(opts)
		defer c.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		var keys []string
		iter := c.Scan(ctx, 0, prefix+"*", 500).Iterator()
		for iter.Next(ctx) {
			keys = append(keys, iter.Val())
		}
		if err := iter.Err(); err != nil {
			t.Errorf("clean up %s: scan: %v", prefix, err)
			return
		}
		if len(keys) > 0 {
			if err := c.Del(ctx, keys...).Err(); err != nil {
				t.Errorf("clean up %s: del: %v", prefix, err)
			}
		}
	})
	return prefix
}

// eachBackend runs f against the memory store and, when GATEHOUSE_TEST_REDIS_URL is set, Redis.
func eachBackend(t *testing.T, f func(t *testing.T, b backend)) {
	t.Helper()
	t.Run("memory", func(t *testing.T) { f(t, newMemoryBackend(t)) })
	t.Run("redis", func(t *testing.T) { f(t, newRedisBackend(t)) })
}

func newEngine(t testing.TB, store ephemeral.Store, now func() time.Time, edit func(*otp.Options)) *otp.Engine {
	t.Helper()
	opts := otp.Options{Key: testKey, Now: now}
	if edit != nil {
		edit(&opts)
	}
	e, err := otp.NewEngine(store, opts)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// wantReason fails the test unless err is a *gatehouse.Error with code and reason.
func wantReason(t testing.TB, err error, code, reason string) *gatehouse.Error {
	t.Helper()
	var ge *gatehouse.Error
	if !errors.As(err, &ge) {
		t.Fatalf("got error %v, want a *gatehouse.Error %s/%s", err, code, reason)
	}
	if ge.Code != code || ge.Reason != reason {
		t.Fatalf("got %s/%s (%v), want %s/%s", ge.Code, ge.Reason, err, code, reason)
	}
	return ge
}

// reasonOf returns the reason of err's *gatehouse.Error, "nil" for nil and "other" for anything else.
func reasonOf(err error) string {
	if err == nil {
		return "nil"
	}
	var ge *gatehouse.Error
	if errors.As(err, &ge) {
		return ge.Reason
	}
	return "other: " + err.Error()
}

// wrongCode returns a well-formed code that is not code.
func wrongCode(code string) string {
	if code == "000000" {
		return "000001"
	}
	return "000000"
}

// lockedBuffer collects log output from several goroutines.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func newLogger(buf *lockedBuffer) *slog.Logger {
	return slog.New(slog.NewTextHandler(buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// flaky is a store whose operations fail with ephemeral.ErrUnavailable while fail says so.
type flaky struct {
	ephemeral.Store
	mu   sync.Mutex
	fail func(op string, delta int64) bool
}

func (f *flaky) failing(op string, delta int64) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fail != nil && f.fail(op, delta) {
		return errors.Join(errors.New("flaky: "+op), ephemeral.ErrUnavailable)
	}
	return nil
}

func (f *flaky) setFail(fail func(op string, delta int64) bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.fail = fail
}

func (f *flaky) Set(ctx context.Context, key string, value []byte, ttl time.Duration) error {
	if err := f.failing("set", 0); err != nil {
		return err
	}
	return f.Store.Set(ctx, key, value, ttl)
}

func (f *flaky) SetNX(ctx context.Context, key string, value []byte, ttl time.Duration) (bool, error) {
	if err := f.failing("setnx", 0); err != nil {
		return false, err
	}
	return f.Store.SetNX(ctx, key, value, ttl)
}

func (f *flaky) Get(ctx context.Context, key string) ([]byte, error) {
	if err := f.failing("get", 0); err != nil {
		return nil, err
	}
	return f.Store.Get(ctx, key)
}

func (f *flaky) DeleteIfEqual(ctx context.Context, key string, want []byte) (bool, error) {
	if err := f.failing("deleteifequal", 0); err != nil {
		return false, err
	}
	return f.Store.DeleteIfEqual(ctx, key, want)
}

func (f *flaky) Incr(ctx context.Context, key string, delta int64, ttl time.Duration) (int64, error) {
	if err := f.failing("incr", delta); err != nil {
		return 0, err
	}
	return f.Store.Incr(ctx, key, delta, ttl)
}

func (f *flaky) TTL(ctx context.Context, key string) (time.Duration, error) {
	if err := f.failing("ttl", 0); err != nil {
		return 0, err
	}
	return f.Store.TTL(ctx, key)
}
