package ephemeral

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"time"
)

// Reservation is an all-or-nothing rate-limit reservation: a cooldown gate whose length grows with a
// streak, then counters with limits, taken in order. Reserve runs it.
//
// The steps, in order:
//  1. Streak, when set, is a counter read first (absent or not a non-negative integer: 0). The value
//     picks the gate's lifetime, Cooldowns[min(streak, len(Cooldowns)-1)].
//  2. Gate, when set, is taken as SetNX(Gate, GateValue, cooldown). If it exists the reservation is
//     refused there and nothing changes.
//  3. Each counter is incremented (a new counter expires after its TTL, as with Incr). The first
//     whose new value is above its Limit refuses the reservation: the gate taken in step 2 is
//     released, the counters before it are decremented, and so is the refusing one unless its
//     KeepRefused is set. The counters after it are not touched.
//  4. On success the streak is set to streak+1 for StreakTTL.
type Reservation struct {
	Streak    string
	StreakTTL time.Duration

	Gate      string
	GateValue []byte
	// Cooldowns are the gate's lifetimes by streak; the last one repeats. Required with Gate.
	Cooldowns []time.Duration

	Counters []Counter
}

// Counter is one counter of a Reservation.
type Counter struct {
	Key   string
	Limit int64
	// TTL is the window a new counter lives for; an existing counter keeps its expiry.
	TTL time.Duration
	// KeepRefused leaves a refused count counted (the other reservations are still released): the
	// first count over the limit is then seen exactly once, by one caller, cluster-wide.
	KeepRefused bool
}

// Refused values of a ReserveResult besides a counter's index.
const (
	RefusedNone = -1 // the reservation was made
	RefusedGate = -2 // the gate was already taken
)

// ReserveResult is what Reserve did.
type ReserveResult struct {
	// Streak is the streak read in step 1 (0 without a Streak key).
	Streak int64
	// Refused is RefusedNone, RefusedGate or the index of the refusing counter.
	Refused int
	// Counts holds the value each counter reached when it was incremented, up to and including the
	// refusing one.
	Counts []int64
	// TTLs holds, next to Counts, the time each counted key had left; on a refusal at the gate,
	// TTLs[0] is the time the gate has left.
	TTLs []time.Duration
}

// OK reports whether the reservation was made.
func (r ReserveResult) OK() bool { return r.Refused == RefusedNone }

// Reserver is implemented by stores that run a whole Reservation in one atomic step (Redis: one
// script, one round trip). Reserve uses it when the store has it.
type Reserver interface {
	Reserve(ctx context.Context, r Reservation) (ReserveResult, error)
}

// Reserve runs r against s: in one step when s is a Reserver, otherwise step by step with the
// store's own atomic operations (ReserveSteps). Both give the same results; the step-by-step form
// briefly shows counts that a refusal then takes back, so a concurrent reservation may be refused
// where the one-step form would have let it through (never the other way round).
func Reserve(ctx context.Context, s Store, r Reservation) (ReserveResult, error) {
	if err := r.Check(); err != nil {
		return ReserveResult{}, err
	}
	if rs, ok := s.(Reserver); ok {
		return rs.Reserve(ctx, r)
	}
	return ReserveSteps(ctx, s, r, nil)
}

// Check reports a malformed reservation: a gate without cooldowns or value, a non-positive TTL, a
// negative limit.
func (r Reservation) Check() error {
	if r.Streak != "" && r.StreakTTL <= 0 {
		return errors.New("ephemeral: reservation: the streak's TTL must be positive")
	}
	if r.Gate != "" {
		if len(r.Cooldowns) == 0 || len(r.GateValue) == 0 {
			return errors.New("ephemeral: reservation: a gate needs a value and at least one cooldown")
		}
		for _, d := range r.Cooldowns {
			if d <= 0 {
				return errors.New("ephemeral: reservation: every cooldown must be positive")
			}
		}
	}
	for _, c := range r.Counters {
		if c.Key == "" || c.TTL <= 0 || c.Limit < 0 {
			return fmt.Errorf("ephemeral: reservation: counter %q needs a key, a positive TTL and a non-negative limit", c.Key)
		}
	}
	return nil
}

// Cooldown returns the gate's lifetime for a streak.
func (r Reservation) Cooldown(streak int64) time.Duration {
	if len(r.Cooldowns) == 0 {
		return 0
	}
	return r.Cooldowns[min(streak, int64(len(r.Cooldowns)-1))]
}

// releaseTTL is the lifetime of a counter that a release creates because the counter expired
// between its increment and the release: the stray -1 must not outlive the moment.
const releaseTTL = time.Second

// releaseTimeout bounds the releases, which run even when the caller's context is cancelled.
const releaseTimeout = 5 * time.Second

// ReserveSteps runs r one store operation at a time. Each step is atomic on its own, and the gate
// lines up concurrent reservations of one streak, so the limits hold across nodes; what a refusal
// or a failure releases is released even if ctx is cancelled, and a release that fails is logged
// to log (nil: discarded) — a counter left one too high errs on the safe side until it expires.
func ReserveSteps(ctx context.Context, s Store, r Reservation, log *slog.Logger) (ReserveResult, error) {
	if err := r.Check(); err != nil {
		return ReserveResult{}, err
	}
	res := ReserveResult{Refused: RefusedNone}
	if r.Streak != "" {
		b, err := s.Get(ctx, r.Streak)
		switch {
		case errors.Is(err, ErrNotFound):
		case err != nil:
			return ReserveResult{}, err
		default:
			res.Streak = parseStreak(b)
		}
	}
	var held []string // counters to release on a refusal or a failure
	gate := false
	release := func() {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), releaseTimeout)
		defer cancel()
		for _, k := range held {
			if _, err := s.Incr(ctx, k, -1, releaseTTL); err != nil && log != nil {
				log.LogAttrs(ctx, slog.LevelWarn, "ephemeral: could not release a reserved count", slog.Any("err", err))
			}
		}
		if gate {
			if _, err := s.DeleteIfEqual(ctx, r.Gate, r.GateValue); err != nil && log != nil {
				log.LogAttrs(ctx, slog.LevelWarn, "ephemeral: could not release a reserved gate", slog.Any("err", err))
			}
		}
	}
	if r.Gate != "" {
		ok, err := s.SetNX(ctx, r.Gate, r.GateValue, r.Cooldown(res.Streak))
		if err != nil {
			return ReserveResult{}, err
		}
		if !ok {
			left, err := ttlLeft(ctx, s, r.Gate)
			if err != nil {
				return ReserveResult{}, err
			}
			res.Refused, res.TTLs = RefusedGate, []time.Duration{left}
			return res, nil
		}
		gate = true
	}
	for i, c := range r.Counters {
		n, err := s.Incr(ctx, c.Key, 1, c.TTL)
		if err != nil {
			release()
			return ReserveResult{}, err
		}
		left, err := ttlLeft(ctx, s, c.Key)
		if err != nil {
			held = append(held, c.Key)
			release()
			return ReserveResult{}, err
		}
		res.Counts, res.TTLs = append(res.Counts, n), append(res.TTLs, left)
		if n > c.Limit {
			if !c.KeepRefused {
				held = append(held, c.Key)
			}
			release()
			res.Refused = i
			return res, nil
		}
		held = append(held, c.Key)
	}
	if r.Streak != "" {
		if err := s.Set(ctx, r.Streak, []byte(strconv.FormatInt(res.Streak+1, 10)), r.StreakTTL); err != nil {
			release()
			return ReserveResult{}, err
		}
	}
	return res, nil
}

// ttlLeft returns the time before key expires; a key that expired meanwhile leaves a millisecond.
func ttlLeft(ctx context.Context, s Store, key string) (time.Duration, error) {
	d, err := s.TTL(ctx, key)
	if errors.Is(err, ErrNotFound) || (err == nil && d <= 0) {
		return time.Millisecond, nil
	}
	return d, err
}

// parseStreak reads a streak written by a reservation: decimal digits only; anything else reads as 0
// (not ours to trust: a new streak starts).
func parseStreak(b []byte) int64 {
	if len(b) == 0 {
		return 0
	}
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0
		}
	}
	n, err := strconv.ParseInt(string(b), 10, 64)
	if err != nil {
		return 0
	}
	return n
}
