package mail

import (
	"context"
	"fmt"
	"time"

	"github.com/gatehouse/gatehouse/internal/ephemeral"
)

// Limiter caps how many messages all nodes together hand to the provider per window (a fixed
// window, one second by default), so that a burst of sign-ups cannot get the sending account
// throttled. Every node counts in one ephemeral-store counter per window, keyed by the window's
// start, so the cap holds across nodes; nodes whose clocks disagree by a few milliseconds may let
// a few messages through at a window's edge. A nil Limiter, or one with a limit of zero, lets
// everything through.
type Limiter struct {
	store  ephemeral.Store
	limit  int64
	window time.Duration
	now    func() time.Time
}

// NewLimiter returns a limiter of perSecond messages per second (0: no cap).
func NewLimiter(eph ephemeral.Store, perSecond int, now func() time.Time) *Limiter {
	return NewWindowLimiter(eph, perSecond, time.Second, now)
}

// NewWindowLimiter returns a limiter of limit messages per window (0: no cap). window is rounded
// down to whole milliseconds, at least one.
func NewWindowLimiter(eph ephemeral.Store, limit int, window time.Duration, now func() time.Time) *Limiter {
	if now == nil {
		now = time.Now
	}
	return &Limiter{store: eph, limit: int64(max(limit, 0)), window: max(window.Truncate(time.Millisecond), time.Millisecond), now: now}
}

// Take claims one send in the current window. It returns zero when the send may go ahead, or,
// when the window's cap is reached, how long until the next window starts (the claim is not
// kept). Errors of the ephemeral store are returned (wrapping ephemeral.ErrUnavailable when it is
// down): the caller then does not send, failing closed like every other rate limit.
func (l *Limiter) Take(ctx context.Context) (time.Duration, error) {
	if l == nil || l.limit == 0 {
		return 0, nil
	}
	now := l.now()
	w := l.window.Milliseconds()
	index := now.UnixMilli() / w
	// The window length is part of the key, so nodes configured differently during a rolling
	// change do not read each other's counters as their own.
	key := fmt.Sprintf("mail:send-rate:%d:%d", w, index)
	// The counter outlives its window a little, so that a node whose clock lags still finds it.
	n, err := l.store.Incr(ctx, key, 1, 2*l.window)
	if err != nil {
		return 0, fmt.Errorf("mail: rate cap: %w", err)
	}
	if n <= l.limit {
		return 0, nil
	}
	next := time.UnixMilli((index + 1) * w)
	return max(next.Sub(now), time.Millisecond), nil
}
