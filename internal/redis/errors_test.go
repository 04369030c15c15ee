package redis

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/gatehouse/gatehouse/internal/ephemeral"
)

// replyError stands for an error reply from the server, as go-redis reports it.
type replyError string

func (e replyError) Error() string { return string(e) }
func (replyError) RedisError()     {}

func TestTranslate(t *testing.T) {
	for _, tc := range []struct {
		name                        string
		err                         error
		notFound, unavail, canceled bool
	}{
		{name: "nil reply", err: goredis.Nil, notFound: true},
		{name: "wrapped nil reply", err: fmt.Errorf("x: %w", goredis.Nil), notFound: true},
		{name: "closed client", err: goredis.ErrClosed, unavail: true},
		{name: "pool timeout", err: goredis.ErrPoolTimeout, unavail: true},
		{name: "pool exhausted", err: goredis.ErrPoolExhausted, unavail: true},
		{name: "connection refused", err: &net.OpError{Op: "dial", Net: "tcp", Err: errors.New("connection refused")}, unavail: true},
		{name: "connection closed", err: io.EOF, unavail: true},
		{name: "deadline", err: context.DeadlineExceeded, unavail: true},
		{name: "canceled", err: context.Canceled, canceled: true},
		{name: "sentinels unreachable", err: errors.New("redis: all sentinels specified in configuration are unreachable"), unavail: true},
		{name: "loading", err: replyError("LOADING Redis is loading the dataset in memory"), unavail: true},
		{name: "cluster down", err: replyError("CLUSTERDOWN The cluster is down"), unavail: true},
		{name: "master down", err: replyError("MASTERDOWN Link with MASTER is down"), unavail: true},
		{name: "read-only replica", err: replyError("READONLY You can't write against a read only replica."), unavail: true},
		{name: "try again", err: replyError("TRYAGAIN Multiple keys request during rehashing of slot"), unavail: true},
		{name: "out of memory", err: replyError("OOM command not allowed when used memory > 'maxmemory'."), unavail: true},
		{name: "wrong password", err: replyError("WRONGPASS invalid username-password pair"), unavail: true},
		{name: "no auth", err: replyError("NOAUTH Authentication required."), unavail: true},
		{name: "max clients", err: replyError("ERR max number of clients reached"), unavail: true},
		{name: "busy script", err: replyError("BUSY Redis is busy running a script."), unavail: true},
		{name: "wrong type", err: replyError("WRONGTYPE Operation against a key holding the wrong kind of value")},
		{name: "not an integer", err: replyError("ERR value is not an integer or out of range")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := translate("op", tc.err)
			if errors.Is(got, ephemeral.ErrNotFound) != tc.notFound {
				t.Errorf("translate(%v) = %v: ErrNotFound %v, want %v", tc.err, got, !tc.notFound, tc.notFound)
			}
			if errors.Is(got, ephemeral.ErrUnavailable) != tc.unavail {
				t.Errorf("translate(%v) = %v: ErrUnavailable %v, want %v", tc.err, got, !tc.unavail, tc.unavail)
			}
			if errors.Is(got, context.Canceled) != tc.canceled {
				t.Errorf("translate(%v) = %v: context.Canceled %v, want %v", tc.err, got, !tc.canceled, tc.canceled)
			}
			if !tc.notFound && !errors.Is(got, tc.err) {
				t.Errorf("translate(%v) = %v does not wrap the cause", tc.err, got)
			}
		})
	}
	if translate("op", nil) != nil {
		t.Error("translate(nil) is not nil")
	}
}

// TestOutageWrapsUnavailable points stores at servers that are not there or that fail, and checks that
// every operation reports ephemeral.ErrUnavailable. None of them needs a real Redis.
func TestOutageWrapsUnavailable(t *testing.T) {
	for _, tc := range []struct {
		name string
		addr func(t *testing.T) string
	}{
		// Port 1 on the loopback interface refuses connections: nothing listens there.
		{"refused", func(*testing.T) string { return "127.0.0.1:1" }},
		{"server hangs up", func(t *testing.T) string { return fakeServer(t, func(c net.Conn) { _ = c.Close() }) }},
		{"server never answers", func(t *testing.T) string {
			return fakeServer(t, func(c net.Conn) { _, _ = io.Copy(io.Discard, c) })
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			client := goredis.NewClient(&goredis.Options{
				Addr:                  tc.addr(t),
				MaxRetries:            -1,
				DialerRetries:         1,
				DialTimeout:           time.Second,
				ReadTimeout:           50 * time.Millisecond,
				WriteTimeout:          50 * time.Millisecond,
				ContextTimeoutEnabled: true,
			})
			s := newStore(client, "outage:", nil)
			t.Cleanup(func() { _ = s.Close() })
			checkUnavailable(t, s)
		})
	}
	t.Run("closed store", func(t *testing.T) {
		s := newStore(goredis.NewClient(&goredis.Options{Addr: "127.0.0.1:1"}), "", nil)
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		checkUnavailable(t, s)
	})
}

func checkUnavailable(t *testing.T, s *Store) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	errs := map[string]error{
		"Set":       s.Set(ctx, "k", []byte("v"), time.Hour),
		"Delete":    s.Delete(ctx, "a", "b"),
		"SetAdd":    s.SetAdd(ctx, "s", time.Hour, "m"),
		"SetRemove": s.SetRemove(ctx, "s", "m"),
		"Publish":   s.Publish(ctx, "ch", []byte("x")),
		"Ping":      s.Ping(ctx),
	}
	_, errs["SetNX"] = s.SetNX(ctx, "k", []byte("v"), time.Hour)
	_, errs["Get"] = s.Get(ctx, "k")
	_, errs["DeleteIfEqual"] = s.DeleteIfEqual(ctx, "k", []byte("v"))
	_, errs["Incr"] = s.Incr(ctx, "n", 1, time.Hour)
	_, errs["TTL"] = s.TTL(ctx, "k")
	_, errs["SetIsMember"] = s.SetIsMember(ctx, "s", "m")
	_, errs["SetMembers"] = s.SetMembers(ctx, "s")
	_, errs["Subscribe"] = s.Subscribe(ctx, "ch")
	_, errs["Time"] = s.Time(ctx)
	for op, err := range errs {
		if !errors.Is(err, ephemeral.ErrUnavailable) {
			t.Errorf("%s: %v, want an error wrapping ErrUnavailable", op, err)
		}
	}
}

// fakeServer listens on a loopback port and hands every connection to serve until the test ends.
func fakeServer(t *testing.T, serve func(net.Conn)) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	t.Cleanup(func() {
		_ = ln.Close()
		<-done
	})
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				serve(c)
			}()
		}
	}()
	return ln.Addr().String()
}
