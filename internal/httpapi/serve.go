package httpapi

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// ServeOptions tunes Serve. Zero durations mean: no shutdown delay, DefaultShutdownTimeout,
// DefaultReadHeaderTimeout, and no read, write or idle limit beyond net/http's own.
type ServeOptions struct {
	// ShutdownDelay is how long readiness answers 503 before the listener closes, so that load
	// balancers stop sending new requests first.
	ShutdownDelay time.Duration
	// ShutdownTimeout bounds how long in-flight requests may take to finish once the listener is
	// closed.
	ShutdownTimeout time.Duration

	ReadHeaderTimeout, ReadTimeout, WriteTimeout, IdleTimeout time.Duration

	// TLSCertFile and TLSKeyFile, when both set, make Serve speak HTTPS itself.
	TLSCertFile, TLSKeyFile string

	// OnDrain, when set, is called once the shutdown has begun (readiness already answers 503).
	OnDrain func()
}

// Defaults of ServeOptions.
const (
	DefaultShutdownTimeout   = 20 * time.Second
	DefaultReadHeaderTimeout = 10 * time.Second
)

// arrivingGrace is how long a new connection may take to deliver its first request during shutdown:
// the grace net/http's Shutdown gives connections in StateNew.
const arrivingGrace = 5 * time.Second

// Serve answers requests on ln with s until ctx is done, then shuts down gracefully:
//
//  1. readiness turns 503 at once (SetDraining) and OnDrain is called;
//  2. the listener stays open for ShutdownDelay, so that load balancers notice;
//  3. keep-alive ends (idle connections close, answers carry Connection: close) and the listener
//     closes;
//  4. requests still arriving on connections accepted before that (their headers not yet complete)
//     are let in, within the 5 s net/http grants new connections: http.Server.Shutdown alone would
//     drop them unanswered;
//  5. http.Server.Shutdown waits for every request being handled.
//
// Steps 3 to 5 are bounded by ShutdownTimeout. Serve returns nil after a clean shutdown, an error
// when it could not serve or when requests were still running at the timeout (their connections are
// then closed).
func Serve(ctx context.Context, ln net.Listener, s *Server, opts ServeOptions) error {
	if opts.ShutdownTimeout <= 0 {
		opts.ShutdownTimeout = DefaultShutdownTimeout
	}
	if opts.ReadHeaderTimeout <= 0 {
		opts.ReadHeaderTimeout = DefaultReadHeaderTimeout
	}
	conns := newConnTracker()
	hs := &http.Server{
		Handler:           s,
		ReadHeaderTimeout: opts.ReadHeaderTimeout,
		ReadTimeout:       opts.ReadTimeout,
		WriteTimeout:      opts.WriteTimeout,
		IdleTimeout:       opts.IdleTimeout,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(s.logger.Handler(), slog.LevelWarn),
		ConnState:         conns.track,
	}
	var closing atomic.Bool
	served := make(chan error, 1)
	go func() {
		var err error
		if opts.TLSCertFile != "" && opts.TLSKeyFile != "" {
			err = hs.ServeTLS(ln, opts.TLSCertFile, opts.TLSKeyFile)
		} else {
			err = hs.Serve(ln)
		}
		if closing.Load() {
			err = nil // the listener was closed by the shutdown below
		}
		served <- err
	}()

	select {
	case err := <-served:
		return fmt.Errorf("serve HTTP on %s: %w", ln.Addr(), err)
	case <-ctx.Done():
	}

	s.SetDraining()
	s.logger.Info("shutting down: readiness now answers 503",
		slog.Duration("shutdown_delay", opts.ShutdownDelay),
		slog.Duration("shutdown_timeout", opts.ShutdownTimeout))
	if opts.OnDrain != nil {
		opts.OnDrain()
	}
	if opts.ShutdownDelay > 0 {
		t := time.NewTimer(opts.ShutdownDelay)
		select {
		case <-t.C:
		case err := <-served:
			t.Stop()
			return fmt.Errorf("serve HTTP on %s: %w", ln.Addr(), err)
		}
	}

	shutdownCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), opts.ShutdownTimeout)
	defer cancel()
	hs.SetKeepAlivesEnabled(false)
	closing.Store(true)
	_ = ln.Close()
	err := conns.waitArrivals(shutdownCtx, arrivingGrace)
	if err == nil {
		err = hs.Shutdown(shutdownCtx)
		// Shutdown also closes the listeners it still tracks and reports their errors; ours is
		// already closed above, whether or not Serve has noticed yet.
		if errors.Is(err, net.ErrClosed) {
			err = nil
		}
	}
	serveErr := <-served
	if err != nil {
		_ = hs.Close()
		return fmt.Errorf("in-flight requests did not finish within %s (GATEHOUSE_HTTP_SHUTDOWN_TIMEOUT): %w",
			opts.ShutdownTimeout, err)
	}
	if serveErr != nil && !errors.Is(serveErr, http.ErrServerClosed) {
		return fmt.Errorf("serve HTTP on %s: %w", ln.Addr(), serveErr)
	}
	return nil
}

// connTracker follows the connections that are still waiting for their first request (StateNew),
// so that the shutdown can let those requests in before http.Server.Shutdown, which drops a request
// that completes after it has begun.
type connTracker struct {
	mu       sync.Mutex
	arriving map[net.Conn]time.Time // accepted, first request not read yet: since when
	changed  chan struct{}          // while waiting: closed and replaced at each change
}

func newConnTracker() *connTracker {
	return &connTracker{arriving: map[net.Conn]time.Time{}}
}

// track is the http.Server's ConnState hook.
func (t *connTracker) track(c net.Conn, st http.ConnState) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if st == http.StateNew {
		t.arriving[c] = time.Now()
	} else {
		delete(t.arriving, c)
	}
	if t.changed != nil {
		close(t.changed)
		t.changed = make(chan struct{})
	}
}

// waitArrivals waits until no connection accepted less than grace ago is still waiting for its
// first request, or until ctx ends.
func (t *connTracker) waitArrivals(ctx context.Context, grace time.Duration) error {
	for {
		t.mu.Lock()
		if t.changed == nil {
			t.changed = make(chan struct{})
		}
		changed := t.changed
		var wait time.Duration
		now := time.Now()
		for _, since := range t.arriving {
			if left := grace - now.Sub(since); left > wait {
				wait = left
			}
		}
		t.mu.Unlock()
		if wait <= 0 {
			return nil
		}
		timer := time.NewTimer(wait)
		select {
		case <-changed:
		case <-timer.C:
		case <-ctx.Done():
			timer.Stop()
			return ctx.Err()
		}
		timer.Stop()
	}
}
