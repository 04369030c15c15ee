package storetest

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/internal/ephemeral"
)

// reserveFunc runs a reservation one way or another.
type reserveFunc func(ctx context.Context, r ephemeral.Reservation) (ephemeral.ReserveResult, error)

// reservePaths runs fn once for every way the store can run a reservation: ephemeral.Reserve (one
// step where the store is a Reserver) and ephemeral.ReserveSteps, each on its own keys (prefix p),
// so that both forms are held to the same contract.
func reservePaths(t *testing.T, h EphemeralHarness, fn func(t *testing.T, reserve reserveFunc, p string)) {
	t.Helper()
	paths := []struct {
		name string
		fn   reserveFunc
	}{
		{"Reserve", func(ctx context.Context, r ephemeral.Reservation) (ephemeral.ReserveResult, error) {
			return ephemeral.Reserve(ctx, h.Store, r)
		}},
		{"Steps", func(ctx context.Context, r ephemeral.Reservation) (ephemeral.ReserveResult, error) {
			return ephemeral.ReserveSteps(ctx, h.Store, r, nil)
		}},
	}
	for _, path := range paths {
		t.Run(path.name, func(t *testing.T) { fn(t, path.fn, path.name+"/") })
	}
}

// sendReservation is the shape the one-time-code limits use: a gate whose cooldown doubles with the
// streak, then two counters.
func sendReservation(p string, limitA, limitB int64) ephemeral.Reservation {
	return ephemeral.Reservation{
		Streak: p + "streak", StreakTTL: time.Hour,
		Gate: p + "gate", GateValue: []byte("token-1"),
		Cooldowns: []time.Duration{time.Minute, 2 * time.Minute, 4 * time.Minute},
		Counters: []ephemeral.Counter{
			{Key: p + "a", Limit: limitA, TTL: time.Hour},
			{Key: p + "b", Limit: limitB, TTL: 2 * time.Hour},
		},
	}
}

func wantReserve(t *testing.T, h EphemeralHarness, what string, got ephemeral.ReserveResult, err error, want ephemeral.ReserveResult) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	if got.Streak != want.Streak || got.Refused != want.Refused || !slices.Equal(got.Counts, want.Counts) {
		t.Fatalf("%s = streak %d, refused %d, counts %v; want streak %d, refused %d, counts %v",
			what, got.Streak, got.Refused, got.Counts, want.Streak, want.Refused, want.Counts)
	}
	if len(got.TTLs) != len(want.TTLs) {
		t.Fatalf("%s: TTLs %v, want %v", what, got.TTLs, want.TTLs)
	}
	for i, w := range want.TTLs {
		g := got.TTLs[i]
		if h.Advance != nil && g != w || h.Advance == nil && (g > w || g < w-time.Second) {
			t.Fatalf("%s: TTLs[%d] = %s, want %s (exactly on an injected clock, within a second below on real time)", what, i, g, w)
		}
	}
}

func ephemeralReserveGrants(t *testing.T, h EphemeralHarness) {
	reservePaths(t, h, func(t *testing.T, reserve reserveFunc, p string) {
		ctx := ephemeralCtx(t)
		res, err := reserve(ctx, sendReservation(p, 5, 5))
		wantReserve(t, h, "first reservation", res, err, ephemeral.ReserveResult{
			Refused: ephemeral.RefusedNone, Counts: []int64{1, 1}, TTLs: []time.Duration{time.Hour, 2 * time.Hour}})
		if !res.OK() {
			t.Fatal("OK() = false for a granted reservation")
		}
		ephemeralWantValue(t, h.Store, p+"gate", "token-1")
		ephemeralWantTTL(t, h, p+"gate", time.Minute)
		ephemeralWantValue(t, h.Store, p+"streak", "1")
		ephemeralWantTTL(t, h, p+"streak", time.Hour)
		ephemeralWantValue(t, h.Store, p+"a", "1")
		ephemeralWantTTL(t, h, p+"b", 2*time.Hour)

		// Once the gate is gone, the next reservation counts on: the counters keep their windows.
		ephemeralMust(t, "Delete", h.Store.Delete(ctx, p+"gate"))
		res, err = reserve(ctx, sendReservation(p, 5, 5))
		wantReserve(t, h, "second reservation", res, err, ephemeral.ReserveResult{
			Streak: 1, Refused: ephemeral.RefusedNone, Counts: []int64{2, 2}, TTLs: []time.Duration{time.Hour, 2 * time.Hour}})
		ephemeralWantTTL(t, h, p+"gate", 2*time.Minute)
		ephemeralWantValue(t, h.Store, p+"streak", "2")
	})
}

func ephemeralReserveGate(t *testing.T, h EphemeralHarness) {
	reservePaths(t, h, func(t *testing.T, reserve reserveFunc, p string) {
		ctx := ephemeralCtx(t)
		ephemeralMust(t, "Set gate", h.Store.Set(ctx, p+"gate", []byte("someone else"), 30*time.Second))
		res, err := reserve(ctx, sendReservation(p, 5, 5))
		wantReserve(t, h, "reservation at a taken gate", res, err, ephemeral.ReserveResult{
			Refused: ephemeral.RefusedGate, TTLs: []time.Duration{30 * time.Second}})
		if res.OK() {
			t.Fatal("OK() = true for a refused reservation")
		}
		ephemeralWantValue(t, h.Store, p+"gate", "someone else")
		ephemeralWantMissing(t, h.Store, p+"streak")
		ephemeralWantMissing(t, h.Store, p+"a")
		ephemeralWantMissing(t, h.Store, p+"b")
	})
}

func ephemeralReserveStreak(t *testing.T, h EphemeralHarness) {
	for _, tc := range []struct {
		stored   string
		streak   int64
		cooldown time.Duration
	}{
		{"1", 1, 2 * time.Minute},
		{"2", 2, 4 * time.Minute},
		{"9", 9, 4 * time.Minute}, // the last cooldown repeats
		{"x", 0, time.Minute},     // not a streak: a new one starts
		{"-3", 0, time.Minute},
		{"+1", 0, time.Minute},
	} {
		t.Run(tc.stored, func(t *testing.T) {
			reservePaths(t, h, func(t *testing.T, reserve reserveFunc, p string) {
				ctx := ephemeralCtx(t)
				p += tc.stored + "/"
				ephemeralMust(t, "Set streak", h.Store.Set(ctx, p+"streak", []byte(tc.stored), time.Hour))
				res, err := reserve(ctx, sendReservation(p, 5, 5))
				wantReserve(t, h, "reservation", res, err, ephemeral.ReserveResult{
					Streak: tc.streak, Refused: ephemeral.RefusedNone, Counts: []int64{1, 1}, TTLs: []time.Duration{time.Hour, 2 * time.Hour}})
				ephemeralWantTTL(t, h, p+"gate", tc.cooldown)
				ephemeralWantValue(t, h.Store, p+"streak", fmt.Sprint(tc.streak+1))
			})
		})
	}
}

func ephemeralReserveCounter(t *testing.T, h EphemeralHarness) {
	reservePaths(t, h, func(t *testing.T, reserve reserveFunc, p string) {
		ctx := ephemeralCtx(t)
		r := sendReservation(p, 5, 1)
		r.Counters = append(r.Counters, ephemeral.Counter{Key: p + "c", Limit: 9, TTL: time.Hour})
		_, err := h.Store.Incr(ctx, p+"b", 1, 30*time.Minute)
		ephemeralMust(t, "Incr b", err)
		res, err := reserve(ctx, r)
		wantReserve(t, h, "reservation over b's limit", res, err, ephemeral.ReserveResult{
			Refused: 1, Counts: []int64{1, 2}, TTLs: []time.Duration{time.Hour, 30 * time.Minute}})
		// Everything taken is given back; what came after the refusal was never touched.
		ephemeralWantMissing(t, h.Store, p+"gate")
		ephemeralWantMissing(t, h.Store, p+"streak")
		ephemeralWantValue(t, h.Store, p+"a", "0")
		ephemeralWantValue(t, h.Store, p+"b", "1")
		ephemeralWantTTL(t, h, p+"b", 30*time.Minute)
		ephemeralWantMissing(t, h.Store, p+"c")
	})
}

func ephemeralReserveKeep(t *testing.T, h EphemeralHarness) {
	reservePaths(t, h, func(t *testing.T, reserve reserveFunc, p string) {
		ctx := ephemeralCtx(t)
		r := sendReservation(p, 5, 0)
		r.Counters[1].KeepRefused = true
		for i, want := range []int64{1, 2} {
			res, err := reserve(ctx, r)
			wantReserve(t, h, fmt.Sprintf("reservation %d", i+1), res, err, ephemeral.ReserveResult{
				Refused: 1, Counts: []int64{1, want}, TTLs: []time.Duration{time.Hour, 2 * time.Hour}})
			ephemeralWantValue(t, h.Store, p+"a", "0")
			ephemeralWantValue(t, h.Store, p+"b", fmt.Sprint(want))
			ephemeralWantMissing(t, h.Store, p+"gate")
		}
	})
}

func ephemeralReserveCountersOnly(t *testing.T, h EphemeralHarness) {
	reservePaths(t, h, func(t *testing.T, reserve reserveFunc, p string) {
		ctx := ephemeralCtx(t)
		r := ephemeral.Reservation{Counters: []ephemeral.Counter{{Key: p + "n", Limit: 2, TTL: time.Hour}}}
		for i, want := range []ephemeral.ReserveResult{
			{Refused: ephemeral.RefusedNone, Counts: []int64{1}, TTLs: []time.Duration{time.Hour}},
			{Refused: ephemeral.RefusedNone, Counts: []int64{2}, TTLs: []time.Duration{time.Hour}},
			{Refused: 0, Counts: []int64{3}, TTLs: []time.Duration{time.Hour}},
		} {
			res, err := reserve(ctx, r)
			wantReserve(t, h, fmt.Sprintf("reservation %d", i+1), res, err, want)
		}
		ephemeralWantValue(t, h.Store, p+"n", "2")
	})
}

func ephemeralReserveNonInteger(t *testing.T, h EphemeralHarness) {
	reservePaths(t, h, func(t *testing.T, reserve reserveFunc, p string) {
		ctx := ephemeralCtx(t)
		ephemeralMust(t, "Set b", h.Store.Set(ctx, p+"b", []byte("abc"), time.Hour))
		_, err := reserve(ctx, sendReservation(p, 5, 5))
		ephemeralWantPlainError(t, "reservation over a counter that is not an integer", err)
		ephemeralWantMissing(t, h.Store, p+"gate")
		ephemeralWantMissing(t, h.Store, p+"streak")
		ephemeralWantValue(t, h.Store, p+"a", "0")
		ephemeralWantValue(t, h.Store, p+"b", "abc")
	})
}

func ephemeralReserveMalformed(t *testing.T, h EphemeralHarness) {
	for _, tc := range []struct {
		name   string
		change func(r *ephemeral.Reservation)
	}{
		{"streak without TTL", func(r *ephemeral.Reservation) { r.StreakTTL = 0 }},
		{"gate without cooldowns", func(r *ephemeral.Reservation) { r.Cooldowns = nil }},
		{"gate without value", func(r *ephemeral.Reservation) { r.GateValue = nil }},
		{"zero cooldown", func(r *ephemeral.Reservation) { r.Cooldowns[1] = 0 }},
		{"counter without TTL", func(r *ephemeral.Reservation) { r.Counters[1].TTL = 0 }},
		{"negative limit", func(r *ephemeral.Reservation) { r.Counters[0].Limit = -1 }},
		{"counter without key", func(r *ephemeral.Reservation) { r.Counters[1].Key = "" }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			reservePaths(t, h, func(t *testing.T, reserve reserveFunc, p string) {
				r := sendReservation(p, 5, 5)
				tc.change(&r)
				_, err := reserve(ephemeralCtx(t), r)
				ephemeralWantPlainError(t, "malformed reservation", err)
				for _, k := range []string{"gate", "streak", "a"} {
					ephemeralWantMissing(t, h.Store, p+k)
				}
			})
		})
	}
}

func ephemeralReserveConcurrent(t *testing.T, h EphemeralHarness) {
	reservePaths(t, h, func(t *testing.T, reserve reserveFunc, p string) {
		const goroutines, limit = 40, 7
		ctx := ephemeralCtx(t)
		r := ephemeral.Reservation{Counters: []ephemeral.Counter{
			{Key: p + "wide", Limit: 1000, TTL: time.Hour},
			{Key: p + "narrow", Limit: limit, TTL: time.Hour},
		}}
		var (
			wg       sync.WaitGroup
			mu       sync.Mutex
			granted  int
			failures []error
		)
		for range goroutines {
			wg.Go(func() {
				res, err := reserve(ctx, r)
				mu.Lock()
				defer mu.Unlock()
				if err != nil {
					failures = append(failures, err)
				} else if res.OK() {
					granted++
				}
			})
		}
		wg.Wait()
		if len(failures) > 0 {
			t.Fatal(failures[0])
		}
		// The one-step form grants exactly the limit; the step-by-step form may refuse a few more
		// while refused counts are being given back, never grant more.
		if granted > limit || granted == 0 {
			t.Fatalf("%d of %d concurrent reservations granted, want 1..%d", granted, goroutines, limit)
		}
		if _, one := h.Store.(ephemeral.Reserver); one && p == "Reserve/" && granted != limit {
			t.Fatalf("%d concurrent reservations granted in one step each, want exactly %d", granted, limit)
		}
		ephemeralWantValue(t, h.Store, p+"wide", fmt.Sprint(granted))
		ephemeralWantValue(t, h.Store, p+"narrow", fmt.Sprint(granted))
	})
}
