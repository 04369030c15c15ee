package storetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/internal/ephemeral"
)

// EphemeralHarness is what RunEphemeral needs from one implementation for one subtest.
type EphemeralHarness struct {
	// Store is the store under test, holding none of the keys the suite uses. The factory registers
	// its own cleanup (Close, removing keys); the suite may Close the store first, so Close must be
	// idempotent, as the contract says.
	Store ephemeral.Store
	// Other is a second store on the same backend that must share no keys or channels with Store:
	// another key prefix on the same Redis, another memory instance.
	Other ephemeral.Store
	// Advance moves the clock by which Store judges expiry. Nil means Store follows real time (as
	// Redis does): the suite then uses short real TTLs and polls, in a bounded loop, for the expiry.
	Advance func(d time.Duration)
}

// ephemeralWait bounds every wait for something the backend does on its own (delivering a message,
// expiring a key). It is a deadline for failures, never a delay on success.
const ephemeralWait = 5 * time.Second

// ephemeralRealTTL is the TTL the suite makes pass on a store that follows real time.
const ephemeralRealTTL = 40 * time.Millisecond

// RunEphemeral runs the ephemeral.Store contract against the stores newStore makes, one fresh
// harness per subtest.
func RunEphemeral(t *testing.T, newStore func(t *testing.T) EphemeralHarness) {
	t.Helper()
	for _, tc := range []struct {
		name string
		fn   func(t *testing.T, h EphemeralHarness)
	}{
		{"Set/Get", ephemeralSetGet},
		{"Set/Overwrite", ephemeralSetOverwrite},
		{"Set/Expiry", ephemeralSetExpiry},
		{"Set/EmptyValue", ephemeralSetEmptyValue},
		{"Set/NonPositiveTTL", ephemeralNonPositiveTTL},
		{"Get/Missing", ephemeralGetMissing},
		{"SetNX", ephemeralSetNX},
		{"Delete/Multiple", ephemeralDeleteMultiple},
		{"DeleteIfEqual", ephemeralDeleteIfEqual},
		{"Incr/CreatesWithTTL", ephemeralIncrCreates},
		{"Incr/KeepsTTL", ephemeralIncrKeepsTTL},
		{"Incr/RestartsAfterExpiry", ephemeralIncrRestarts},
		{"Incr/Concurrent", ephemeralIncrConcurrent},
		{"Incr/NegativeDelta", ephemeralIncrNegative},
		{"Incr/SetValue", ephemeralIncrSetValue},
		{"Incr/NonInteger", ephemeralIncrNonInteger},
		{"Incr/Overflow", ephemeralIncrOverflow},
		{"TTL", ephemeralTTL},
		{"Sets/AddMembers", ephemeralSetsAdd},
		{"Sets/Remove", ephemeralSetsRemove},
		{"Sets/Expiry", ephemeralSetsExpiry},
		{"Sets/AddRenewsExpiry", ephemeralSetsRenew},
		{"Sets/AddWithoutMembers", ephemeralSetsAddNone},
		{"WrongKind", ephemeralWrongKind},
		{"PubSub/TwoSubscribers", ephemeralPubSubTwo},
		{"PubSub/ChannelsAreSeparate", ephemeralPubSubSeparate},
		{"PubSub/Order", ephemeralPubSubOrder},
		{"PubSub/CloseStopsDelivery", ephemeralPubSubClose},
		{"PubSub/NoSubscriber", ephemeralPubSubNone},
		{"NoAliasing", ephemeralNoAliasing},
		{"Ping", ephemeralPing},
		{"Isolation", ephemeralIsolation},
		{"CanceledContext", ephemeralCanceled},
		{"Close", ephemeralClose},
		{"Reserve/Grants", ephemeralReserveGrants},
		{"Reserve/GateRefuses", ephemeralReserveGate},
		{"Reserve/StreakPicksCooldown", ephemeralReserveStreak},
		{"Reserve/CounterRefusesAndReleases", ephemeralReserveCounter},
		{"Reserve/KeepRefused", ephemeralReserveKeep},
		{"Reserve/CountersOnly", ephemeralReserveCountersOnly},
		{"Reserve/NonIntegerCounter", ephemeralReserveNonInteger},
		{"Reserve/Malformed", ephemeralReserveMalformed},
		{"Reserve/Concurrent", ephemeralReserveConcurrent},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.fn(t, newStore(t))
		})
	}
}

// shortTTL returns a TTL the suite can make pass: long on an injected clock (so that nothing expires
// by accident), short on real time.
func (h EphemeralHarness) shortTTL() time.Duration {
	if h.Advance != nil {
		return time.Minute
	}
	return ephemeralRealTTL
}

// expire makes ttl pass and waits until gone reports that the key has gone. On an injected clock it
// first stops 1ms short of ttl and checks present (when not nil); on real time a short TTL may pass
// at any moment, so it only polls gone.
func (h EphemeralHarness) expire(t *testing.T, ttl time.Duration, what string, present, gone func() bool) {
	t.Helper()
	if h.Advance != nil {
		h.Advance(ttl - time.Millisecond)
		if present != nil && !present() {
			t.Fatalf("%s: gone 1ms before its TTL of %s", what, ttl)
		}
		h.Advance(time.Millisecond)
		if !gone() {
			t.Fatalf("%s: still there after its TTL of %s passed", what, ttl)
		}
		return
	}
	deadline := time.Now().Add(ephemeralWait)
	for !gone() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: still there %s after its TTL of %s", what, ephemeralWait, ttl)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func ephemeralCtx(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func ephemeralMust(t *testing.T, what string, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// ephemeralWantPlainError checks err is an error the caller made, not a missing key or an outage.
func ephemeralWantPlainError(t *testing.T, what string, err error) {
	t.Helper()
	switch {
	case err == nil:
		t.Fatalf("%s: got no error, want one", what)
	case errors.Is(err, ephemeral.ErrNotFound), errors.Is(err, ephemeral.ErrUnavailable):
		t.Fatalf("%s: got %v, want an error that is neither ErrNotFound nor ErrUnavailable", what, err)
	}
}

func ephemeralWantValue(t *testing.T, s ephemeral.Store, key, want string) {
	t.Helper()
	got, err := s.Get(ephemeralCtx(t), key)
	if err != nil {
		t.Fatalf("Get(%q): %v, want %q", key, err, want)
	}
	if string(got) != want {
		t.Fatalf("Get(%q) = %q, want %q", key, got, want)
	}
}

func ephemeralWantMissing(t *testing.T, s ephemeral.Store, key string) {
	t.Helper()
	got, err := s.Get(ephemeralCtx(t), key)
	if !errors.Is(err, ephemeral.ErrNotFound) {
		t.Fatalf("Get(%q) = %q, %v; want ErrNotFound", key, got, err)
	}
}

func ephemeralMissing(t *testing.T, s ephemeral.Store, key string) func() bool {
	return func() bool {
		t.Helper()
		_, err := s.Get(ephemeralCtx(t), key)
		if err != nil && !errors.Is(err, ephemeral.ErrNotFound) {
			t.Fatalf("Get(%q): %v", key, err)
		}
		return errors.Is(err, ephemeral.ErrNotFound)
	}
}

func ephemeralWantTTL(t *testing.T, h EphemeralHarness, key string, want time.Duration) {
	t.Helper()
	got, err := h.Store.TTL(ephemeralCtx(t), key)
	if err != nil {
		t.Fatalf("TTL(%q): %v", key, err)
	}
	if h.Advance != nil {
		if got != want {
			t.Fatalf("TTL(%q) = %s, want exactly %s on an injected clock", key, got, want)
		}
		return
	}
	// Real time passes between the write and this read; a second is far more than it takes and far
	// less than the differences the suite checks.
	if got > want || got < want-time.Second {
		t.Fatalf("TTL(%q) = %s, want within a second below %s", key, got, want)
	}
}

func ephemeralReceive(t *testing.T, sub ephemeral.Subscription) []byte {
	t.Helper()
	select {
	case msg, ok := <-sub.Messages():
		if !ok {
			t.Fatal("Messages closed while waiting for a message")
		}
		return msg
	case <-time.After(ephemeralWait):
		t.Fatalf("no message within %s", ephemeralWait)
		return nil
	}
}

// ephemeralDrain reads what is left in a closed subscription and fails if it does not close.
func ephemeralDrain(t *testing.T, sub ephemeral.Subscription) [][]byte {
	t.Helper()
	var got [][]byte
	timeout := time.After(ephemeralWait)
	for {
		select {
		case msg, ok := <-sub.Messages():
			if !ok {
				return got
			}
			got = append(got, msg)
		case <-timeout:
			t.Fatalf("Messages not closed within %s", ephemeralWait)
		}
	}
}

func ephemeralSubscribe(t *testing.T, s ephemeral.Store, channel string) ephemeral.Subscription {
	t.Helper()
	sub, err := s.Subscribe(ephemeralCtx(t), channel)
	ephemeralMust(t, "Subscribe", err)
	t.Cleanup(func() { _ = sub.Close() })
	return sub
}

func ephemeralSetGet(t *testing.T, h EphemeralHarness) {
	ctx := ephemeralCtx(t)
	ephemeralMust(t, "Set", h.Store.Set(ctx, "k", []byte("v1"), time.Hour))
	ephemeralWantValue(t, h.Store, "k", "v1")
	ephemeralMust(t, "Set binary", h.Store.Set(ctx, "bin", []byte{0, 255, '\n', 0}, time.Hour))
	ephemeralWantValue(t, h.Store, "bin", "\x00\xff\n\x00")
}

func ephemeralSetOverwrite(t *testing.T, h EphemeralHarness) {
	ctx := ephemeralCtx(t)
	ephemeralMust(t, "Set", h.Store.Set(ctx, "k", []byte("old"), time.Hour))
	ephemeralMust(t, "Set again", h.Store.Set(ctx, "k", []byte("new"), 2*time.Hour))
	ephemeralWantValue(t, h.Store, "k", "new")
	ephemeralWantTTL(t, h, "k", 2*time.Hour)

	// The new expiry replaces the old one, shorter or not.
	short := h.shortTTL()
	ephemeralMust(t, "Set shorter", h.Store.Set(ctx, "k", []byte("short"), short))
	h.expire(t, short, "overwritten key", nil, ephemeralMissing(t, h.Store, "k"))
}

func ephemeralSetExpiry(t *testing.T, h EphemeralHarness) {
	ttl := h.shortTTL()
	ephemeralMust(t, "Set", h.Store.Set(ephemeralCtx(t), "k", []byte("v"), ttl))
	gone := ephemeralMissing(t, h.Store, "k")
	h.expire(t, ttl, "key", func() bool { return !gone() }, gone)
	if _, err := h.Store.TTL(ephemeralCtx(t), "k"); !errors.Is(err, ephemeral.ErrNotFound) {
		t.Fatalf("TTL of an expired key: %v, want ErrNotFound", err)
	}
}

func ephemeralSetEmptyValue(t *testing.T, h EphemeralHarness) {
	ctx := ephemeralCtx(t)
	ephemeralMust(t, "Set", h.Store.Set(ctx, "k", []byte{}, time.Hour))
	got, err := h.Store.Get(ctx, "k")
	if err != nil || len(got) != 0 {
		t.Fatalf("Get = %q, %v; want an empty value", got, err)
	}
	ephemeralMust(t, "Set nil", h.Store.Set(ctx, "nil", nil, time.Hour))
	ephemeralWantValue(t, h.Store, "nil", "")
}

func ephemeralNonPositiveTTL(t *testing.T, h EphemeralHarness) {
	ctx := ephemeralCtx(t)
	for _, ttl := range []time.Duration{0, -time.Second} {
		ephemeralWantPlainError(t, fmt.Sprintf("Set with ttl %s", ttl), h.Store.Set(ctx, "k", []byte("v"), ttl))
		_, err := h.Store.SetNX(ctx, "k", []byte("v"), ttl)
		ephemeralWantPlainError(t, fmt.Sprintf("SetNX with ttl %s", ttl), err)
		_, err = h.Store.Incr(ctx, "n", 1, ttl)
		ephemeralWantPlainError(t, fmt.Sprintf("Incr with ttl %s", ttl), err)
		ephemeralWantPlainError(t, fmt.Sprintf("SetAdd with ttl %s", ttl), h.Store.SetAdd(ctx, "s", ttl, "a"))
	}
	ephemeralWantMissing(t, h.Store, "k")
	ephemeralWantMissing(t, h.Store, "n")
	members, err := h.Store.SetMembers(ctx, "s")
	if err != nil || len(members) != 0 {
		t.Fatalf("SetMembers = %q, %v; want none", members, err)
	}
}

func ephemeralGetMissing(t *testing.T, h EphemeralHarness) {
	ephemeralWantMissing(t, h.Store, "never-set")
	if _, err := h.Store.TTL(ephemeralCtx(t), "never-set"); !errors.Is(err, ephemeral.ErrNotFound) {
		t.Fatalf("TTL of a missing key: %v, want ErrNotFound", err)
	}
}

func ephemeralSetNX(t *testing.T, h EphemeralHarness) {
	ctx := ephemeralCtx(t)
	ttl := h.shortTTL()
	ok, err := h.Store.SetNX(ctx, "k", []byte("first"), ttl)
	if err != nil || !ok {
		t.Fatalf("SetNX on a missing key = %v, %v; want true", ok, err)
	}
	// On real time the short TTL may already have passed; use a long-lived key for "exists".
	ok, err = h.Store.SetNX(ctx, "long", []byte("first"), time.Hour)
	if err != nil || !ok {
		t.Fatalf("SetNX on a missing key = %v, %v; want true", ok, err)
	}
	ok, err = h.Store.SetNX(ctx, "long", []byte("second"), time.Hour)
	if err != nil || ok {
		t.Fatalf("SetNX on an existing key = %v, %v; want false", ok, err)
	}
	ephemeralWantValue(t, h.Store, "long", "first")

	h.expire(t, ttl, "SetNX key", nil, ephemeralMissing(t, h.Store, "k"))
	ok, err = h.Store.SetNX(ctx, "k", []byte("again"), time.Hour)
	if err != nil || !ok {
		t.Fatalf("SetNX on an expired key = %v, %v; want true", ok, err)
	}
	ephemeralWantValue(t, h.Store, "k", "again")
}

func ephemeralDeleteMultiple(t *testing.T, h EphemeralHarness) {
	ctx := ephemeralCtx(t)
	for _, k := range []string{"a", "b", "c"} {
		ephemeralMust(t, "Set", h.Store.Set(ctx, k, []byte(k), time.Hour))
	}
	_, err := h.Store.Incr(ctx, "counter", 1, time.Hour)
	ephemeralMust(t, "Incr", err)
	ephemeralMust(t, "SetAdd", h.Store.SetAdd(ctx, "set", time.Hour, "m"))

	ephemeralMust(t, "Delete", h.Store.Delete(ctx, "a", "b", "missing", "counter", "set"))
	ephemeralWantMissing(t, h.Store, "a")
	ephemeralWantMissing(t, h.Store, "b")
	ephemeralWantMissing(t, h.Store, "counter")
	ephemeralWantValue(t, h.Store, "c", "c")
	if ok, err := h.Store.SetIsMember(ctx, "set", "m"); err != nil || ok {
		t.Fatalf("SetIsMember after Delete = %v, %v; want false", ok, err)
	}
	ephemeralMust(t, "Delete of nothing", h.Store.Delete(ctx))
}

func ephemeralDeleteIfEqual(t *testing.T, h EphemeralHarness) {
	ctx := ephemeralCtx(t)
	ephemeralMust(t, "Set", h.Store.Set(ctx, "k", []byte("token"), time.Hour))

	ok, err := h.Store.DeleteIfEqual(ctx, "k", []byte("other"))
	if err != nil || ok {
		t.Fatalf("DeleteIfEqual with another value = %v, %v; want false", ok, err)
	}
	ephemeralWantValue(t, h.Store, "k", "token")

	ok, err = h.Store.DeleteIfEqual(ctx, "k", []byte("token"))
	if err != nil || !ok {
		t.Fatalf("DeleteIfEqual with the value = %v, %v; want true", ok, err)
	}
	ephemeralWantMissing(t, h.Store, "k")

	ok, err = h.Store.DeleteIfEqual(ctx, "k", []byte("token"))
	if err != nil || ok {
		t.Fatalf("DeleteIfEqual on a missing key = %v, %v; want false", ok, err)
	}

	_, err = h.Store.Incr(ctx, "n", 5, time.Hour)
	ephemeralMust(t, "Incr", err)
	ok, err = h.Store.DeleteIfEqual(ctx, "n", []byte("5"))
	if err != nil || !ok {
		t.Fatalf("DeleteIfEqual on a counter with its decimal text = %v, %v; want true", ok, err)
	}
}

func ephemeralIncrCreates(t *testing.T, h EphemeralHarness) {
	ctx := ephemeralCtx(t)
	n, err := h.Store.Incr(ctx, "n", 1, time.Hour)
	if err != nil || n != 1 {
		t.Fatalf("Incr on a missing key = %d, %v; want 1", n, err)
	}
	ephemeralWantTTL(t, h, "n", time.Hour)
	ephemeralWantValue(t, h.Store, "n", "1")

	n, err = h.Store.Incr(ctx, "big", 7, time.Hour)
	if err != nil || n != 7 {
		t.Fatalf("Incr by 7 on a missing key = %d, %v; want 7", n, err)
	}
}

func ephemeralIncrKeepsTTL(t *testing.T, h EphemeralHarness) {
	ctx := ephemeralCtx(t)
	_, err := h.Store.Incr(ctx, "n", 1, time.Hour)
	ephemeralMust(t, "Incr", err)
	if h.Advance != nil {
		h.Advance(10 * time.Minute)
	}
	n, err := h.Store.Incr(ctx, "n", 1, 24*time.Hour)
	if err != nil || n != 2 {
		t.Fatalf("second Incr = %d, %v; want 2", n, err)
	}
	want := time.Hour
	if h.Advance != nil {
		want = 50 * time.Minute
	}
	ephemeralWantTTL(t, h, "n", want)
}

func ephemeralIncrRestarts(t *testing.T, h EphemeralHarness) {
	ctx := ephemeralCtx(t)
	ttl := h.shortTTL()
	_, err := h.Store.Incr(ctx, "n", 3, ttl)
	ephemeralMust(t, "Incr", err)
	h.expire(t, ttl, "counter", nil, ephemeralMissing(t, h.Store, "n"))
	n, err := h.Store.Incr(ctx, "n", 3, time.Hour)
	if err != nil || n != 3 {
		t.Fatalf("Incr after expiry = %d, %v; want 3", n, err)
	}
	ephemeralWantTTL(t, h, "n", time.Hour)
}

func ephemeralIncrConcurrent(t *testing.T, h EphemeralHarness) {
	const goroutines, each = 50, 20
	ctx := ephemeralCtx(t)
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		seen = make(map[int64]bool, goroutines*each)
		errs []error
	)
	for range goroutines {
		wg.Go(func() {
			for range each {
				n, err := h.Store.Incr(ctx, "n", 1, time.Hour)
				mu.Lock()
				if err != nil {
					errs = append(errs, err)
				} else if seen[n] {
					errs = append(errs, fmt.Errorf("value %d returned twice", n))
				}
				seen[n] = true
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	ephemeralWantValue(t, h.Store, "n", fmt.Sprint(goroutines*each))
	for i := int64(1); i <= goroutines*each; i++ {
		if !seen[i] {
			t.Fatalf("no Incr returned %d", i)
		}
	}
}

func ephemeralIncrNegative(t *testing.T, h EphemeralHarness) {
	ctx := ephemeralCtx(t)
	n, err := h.Store.Incr(ctx, "n", -5, time.Hour)
	if err != nil || n != -5 {
		t.Fatalf("Incr -5 on a missing key = %d, %v; want -5", n, err)
	}
	n, err = h.Store.Incr(ctx, "n", 3, time.Hour)
	if err != nil || n != -2 {
		t.Fatalf("Incr 3 = %d, %v; want -2", n, err)
	}
	ephemeralWantValue(t, h.Store, "n", "-2")
	n, err = h.Store.Incr(ctx, "n", 0, time.Hour)
	if err != nil || n != -2 {
		t.Fatalf("Incr 0 = %d, %v; want -2", n, err)
	}
}

func ephemeralIncrSetValue(t *testing.T, h EphemeralHarness) {
	ctx := ephemeralCtx(t)
	ephemeralMust(t, "Set", h.Store.Set(ctx, "n", []byte("41"), time.Hour))
	n, err := h.Store.Incr(ctx, "n", 1, 24*time.Hour)
	if err != nil || n != 42 {
		t.Fatalf("Incr on a value set to 41 = %d, %v; want 42", n, err)
	}
	ephemeralWantValue(t, h.Store, "n", "42")
	ephemeralWantTTL(t, h, "n", time.Hour)
}

func ephemeralIncrNonInteger(t *testing.T, h EphemeralHarness) {
	ctx := ephemeralCtx(t)
	for _, v := range []string{"abc", "", "1.5", "007", "+1", " 1", "-0", "99999999999999999999"} {
		ephemeralMust(t, "Set", h.Store.Set(ctx, "k", []byte(v), time.Hour))
		_, err := h.Store.Incr(ctx, "k", 1, time.Hour)
		ephemeralWantPlainError(t, fmt.Sprintf("Incr on %q", v), err)
		ephemeralWantValue(t, h.Store, "k", v)
	}
}

func ephemeralIncrOverflow(t *testing.T, h EphemeralHarness) {
	ctx := ephemeralCtx(t)
	ephemeralMust(t, "Set", h.Store.Set(ctx, "max", []byte("9223372036854775807"), time.Hour))
	_, err := h.Store.Incr(ctx, "max", 1, time.Hour)
	ephemeralWantPlainError(t, "Incr past the largest int64", err)
	ephemeralWantValue(t, h.Store, "max", "9223372036854775807")

	ephemeralMust(t, "Set", h.Store.Set(ctx, "min", []byte("-9223372036854775808"), time.Hour))
	_, err = h.Store.Incr(ctx, "min", -1, time.Hour)
	ephemeralWantPlainError(t, "Incr past the smallest int64", err)
	ephemeralWantValue(t, h.Store, "min", "-9223372036854775808")
}

func ephemeralTTL(t *testing.T, h EphemeralHarness) {
	ctx := ephemeralCtx(t)
	ephemeralMust(t, "Set", h.Store.Set(ctx, "k", []byte("v"), time.Hour))
	ephemeralWantTTL(t, h, "k", time.Hour)
	if h.Advance != nil {
		h.Advance(15 * time.Minute)
		ephemeralWantTTL(t, h, "k", 45*time.Minute)
	}
	ephemeralMust(t, "SetAdd", h.Store.SetAdd(ctx, "s", 2*time.Hour, "m"))
	ephemeralWantTTL(t, h, "s", 2*time.Hour)
}

func ephemeralWantMembers(t *testing.T, s ephemeral.Store, key string, want ...string) {
	t.Helper()
	got, err := s.SetMembers(ephemeralCtx(t), key)
	if err != nil {
		t.Fatalf("SetMembers(%q): %v", key, err)
	}
	if got == nil && len(want) == 0 {
		return
	}
	slices.Sort(got)
	if !slices.Equal(got, want) {
		t.Fatalf("SetMembers(%q) = %q, want %q", key, got, want)
	}
}

func ephemeralWantMember(t *testing.T, s ephemeral.Store, key, member string, want bool) {
	t.Helper()
	got, err := s.SetIsMember(ephemeralCtx(t), key, member)
	if err != nil || got != want {
		t.Fatalf("SetIsMember(%q, %q) = %v, %v; want %v", key, member, got, err, want)
	}
}

func ephemeralSetsAdd(t *testing.T, h EphemeralHarness) {
	ctx := ephemeralCtx(t)
	ephemeralMust(t, "SetAdd", h.Store.SetAdd(ctx, "s", time.Hour, "a", "b"))
	ephemeralMust(t, "SetAdd", h.Store.SetAdd(ctx, "s", time.Hour, "b", "c"))
	ephemeralWantMembers(t, h.Store, "s", "a", "b", "c")
	ephemeralWantMember(t, h.Store, "s", "a", true)
	ephemeralWantMember(t, h.Store, "s", "d", false)
	ephemeralWantMember(t, h.Store, "missing", "a", false)
	ephemeralWantMembers(t, h.Store, "missing")
}

func ephemeralSetsRemove(t *testing.T, h EphemeralHarness) {
	ctx := ephemeralCtx(t)
	ephemeralMust(t, "SetAdd", h.Store.SetAdd(ctx, "s", time.Hour, "a", "b", "c"))
	ephemeralMust(t, "SetRemove", h.Store.SetRemove(ctx, "s", "b", "not-a-member"))
	ephemeralWantMembers(t, h.Store, "s", "a", "c")
	ephemeralWantMember(t, h.Store, "s", "b", false)
	ephemeralMust(t, "SetRemove of nothing", h.Store.SetRemove(ctx, "s"))
	ephemeralWantMembers(t, h.Store, "s", "a", "c")

	ephemeralMust(t, "SetRemove the rest", h.Store.SetRemove(ctx, "s", "a", "c"))
	ephemeralWantMembers(t, h.Store, "s")
	if _, err := h.Store.TTL(ctx, "s"); !errors.Is(err, ephemeral.ErrNotFound) {
		t.Fatalf("TTL of an emptied set: %v, want ErrNotFound", err)
	}
	ephemeralMust(t, "SetRemove on a missing key", h.Store.SetRemove(ctx, "missing", "a"))
}

func ephemeralSetsExpiry(t *testing.T, h EphemeralHarness) {
	ttl := h.shortTTL()
	ephemeralMust(t, "SetAdd", h.Store.SetAdd(ephemeralCtx(t), "s", ttl, "a", "b"))
	isMember := func() bool {
		ok, err := h.Store.SetIsMember(ephemeralCtx(t), "s", "a")
		ephemeralMust(t, "SetIsMember", err)
		return ok
	}
	h.expire(t, ttl, "set", isMember, func() bool { return !isMember() })
	ephemeralWantMembers(t, h.Store, "s")
}

func ephemeralSetsRenew(t *testing.T, h EphemeralHarness) {
	ctx := ephemeralCtx(t)
	ephemeralMust(t, "SetAdd", h.Store.SetAdd(ctx, "s", time.Hour, "a"))
	if h.Advance != nil {
		h.Advance(30 * time.Minute)
	}
	ephemeralMust(t, "SetAdd", h.Store.SetAdd(ctx, "s", 2*time.Hour, "b"))
	ephemeralWantTTL(t, h, "s", 2*time.Hour)
	ephemeralWantMembers(t, h.Store, "s", "a", "b")
}

func ephemeralSetsAddNone(t *testing.T, h EphemeralHarness) {
	ctx := ephemeralCtx(t)
	ephemeralMust(t, "SetAdd of nothing", h.Store.SetAdd(ctx, "s", time.Hour))
	if _, err := h.Store.TTL(ctx, "s"); !errors.Is(err, ephemeral.ErrNotFound) {
		t.Fatalf("TTL after SetAdd of nothing on a missing key: %v, want ErrNotFound", err)
	}
	ephemeralMust(t, "SetAdd", h.Store.SetAdd(ctx, "s", time.Hour, "a"))
	ephemeralMust(t, "SetAdd of nothing", h.Store.SetAdd(ctx, "s", 3*time.Hour))
	ephemeralWantTTL(t, h, "s", 3*time.Hour)
	ephemeralWantMembers(t, h.Store, "s", "a")
}

func ephemeralWrongKind(t *testing.T, h EphemeralHarness) {
	ctx := ephemeralCtx(t)
	ephemeralMust(t, "Set", h.Store.Set(ctx, "value", []byte("v"), time.Hour))
	ephemeralMust(t, "SetAdd", h.Store.SetAdd(ctx, "set", time.Hour, "m"))

	ephemeralWantPlainError(t, "SetAdd on a value", h.Store.SetAdd(ctx, "value", time.Hour, "m"))
	_, err := h.Store.SetIsMember(ctx, "value", "m")
	ephemeralWantPlainError(t, "SetIsMember on a value", err)
	_, err = h.Store.SetMembers(ctx, "value")
	ephemeralWantPlainError(t, "SetMembers on a value", err)
	ephemeralWantPlainError(t, "SetRemove on a value", h.Store.SetRemove(ctx, "value", "m"))
	_, err = h.Store.Get(ctx, "set")
	ephemeralWantPlainError(t, "Get on a set", err)
	_, err = h.Store.Incr(ctx, "set", 1, time.Hour)
	ephemeralWantPlainError(t, "Incr on a set", err)
	_, err = h.Store.DeleteIfEqual(ctx, "set", []byte("m"))
	ephemeralWantPlainError(t, "DeleteIfEqual on a set", err)

	ephemeralWantValue(t, h.Store, "value", "v")
	ephemeralWantMembers(t, h.Store, "set", "m")

	// Set replaces a value of any kind.
	ephemeralMust(t, "Set over a set", h.Store.Set(ctx, "set", []byte("now a value"), time.Hour))
	ephemeralWantValue(t, h.Store, "set", "now a value")
}

func ephemeralPubSubTwo(t *testing.T, h EphemeralHarness) {
	ctx := ephemeralCtx(t)
	sub1 := ephemeralSubscribe(t, h.Store, "news")
	sub2 := ephemeralSubscribe(t, h.Store, "news")
	ephemeralMust(t, "Publish", h.Store.Publish(ctx, "news", []byte("hello")))
	for i, sub := range []ephemeral.Subscription{sub1, sub2} {
		if got := ephemeralReceive(t, sub); string(got) != "hello" {
			t.Fatalf("subscriber %d got %q, want %q", i+1, got, "hello")
		}
	}
}

func ephemeralPubSubSeparate(t *testing.T, h EphemeralHarness) {
	ctx := ephemeralCtx(t)
	sub := ephemeralSubscribe(t, h.Store, "b")
	ephemeralMust(t, "Publish a", h.Store.Publish(ctx, "a", []byte("for a")))
	ephemeralMust(t, "Publish b", h.Store.Publish(ctx, "b", []byte("for b")))
	if got := ephemeralReceive(t, sub); string(got) != "for b" {
		t.Fatalf("subscriber of b got %q first, want %q", got, "for b")
	}
}

func ephemeralPubSubOrder(t *testing.T, h EphemeralHarness) {
	ctx := ephemeralCtx(t)
	sub := ephemeralSubscribe(t, h.Store, "seq")
	for i := range 20 {
		ephemeralMust(t, "Publish", h.Store.Publish(ctx, "seq", []byte(fmt.Sprint(i))))
	}
	for i := range 20 {
		if got := ephemeralReceive(t, sub); string(got) != fmt.Sprint(i) {
			t.Fatalf("message %d = %q, want %q", i, got, fmt.Sprint(i))
		}
	}
}

func ephemeralPubSubClose(t *testing.T, h EphemeralHarness) {
	ctx := ephemeralCtx(t)
	sub := ephemeralSubscribe(t, h.Store, "ch")
	ephemeralMust(t, "Publish", h.Store.Publish(ctx, "ch", []byte("before")))
	if got := ephemeralReceive(t, sub); string(got) != "before" {
		t.Fatalf("got %q, want %q", got, "before")
	}
	ephemeralMust(t, "Close", sub.Close())
	ephemeralMust(t, "Publish after Close", h.Store.Publish(ctx, "ch", []byte("after")))
	if rest := ephemeralDrain(t, sub); len(rest) != 0 {
		t.Fatalf("a closed subscription delivered %q", rest)
	}
	ephemeralMust(t, "second Close", sub.Close())
}

func ephemeralPubSubNone(t *testing.T, h EphemeralHarness) {
	ephemeralMust(t, "Publish without subscribers", h.Store.Publish(ephemeralCtx(t), "nobody", []byte("x")))
}

func ephemeralNoAliasing(t *testing.T, h EphemeralHarness) {
	ctx := ephemeralCtx(t)
	v := []byte("value")
	ephemeralMust(t, "Set", h.Store.Set(ctx, "k", v, time.Hour))
	v[0] = 'X'
	got, err := h.Store.Get(ctx, "k")
	ephemeralMust(t, "Get", err)
	if string(got) != "value" {
		t.Fatalf("changing the slice passed to Set changed the stored value to %q", got)
	}
	got[0] = 'Y'
	ephemeralWantValue(t, h.Store, "k", "value")

	v = []byte("nx")
	_, err = h.Store.SetNX(ctx, "nx", v, time.Hour)
	ephemeralMust(t, "SetNX", err)
	v[0] = 'X'
	ephemeralWantValue(t, h.Store, "nx", "nx")

	sub1 := ephemeralSubscribe(t, h.Store, "ch")
	sub2 := ephemeralSubscribe(t, h.Store, "ch")
	msg := []byte("message")
	ephemeralMust(t, "Publish", h.Store.Publish(ctx, "ch", msg))
	msg[0] = 'X'
	got1 := ephemeralReceive(t, sub1)
	if string(got1) != "message" {
		t.Fatalf("changing the slice passed to Publish changed the message to %q", got1)
	}
	got1[0] = 'Y'
	if got2 := ephemeralReceive(t, sub2); !bytes.Equal(got2, []byte("message")) {
		t.Fatalf("one subscriber changing its message changed another's to %q", got2)
	}
}

func ephemeralPing(t *testing.T, h EphemeralHarness) {
	ephemeralMust(t, "Ping", h.Store.Ping(ephemeralCtx(t)))
}

func ephemeralIsolation(t *testing.T, h EphemeralHarness) {
	ctx := ephemeralCtx(t)
	ephemeralMust(t, "Set", h.Store.Set(ctx, "k", []byte("mine"), time.Hour))
	ephemeralWantMissing(t, h.Other, "k")
	ephemeralMust(t, "Other.Set", h.Other.Set(ctx, "k", []byte("theirs"), time.Hour))
	ephemeralWantValue(t, h.Store, "k", "mine")
	ephemeralWantValue(t, h.Other, "k", "theirs")

	_, err := h.Store.Incr(ctx, "n", 5, time.Hour)
	ephemeralMust(t, "Incr", err)
	if n, err := h.Other.Incr(ctx, "n", 1, time.Hour); err != nil || n != 1 {
		t.Fatalf("Other.Incr = %d, %v; want 1", n, err)
	}
	ephemeralMust(t, "SetAdd", h.Store.SetAdd(ctx, "s", time.Hour, "a"))
	ephemeralWantMember(t, h.Other, "s", "a", false)

	ephemeralMust(t, "Other.Delete", h.Other.Delete(ctx, "k", "n", "s"))
	ephemeralWantValue(t, h.Store, "k", "mine")
	ephemeralWantValue(t, h.Store, "n", "5")

	sub := ephemeralSubscribe(t, h.Other, "ch")
	ephemeralMust(t, "Publish", h.Store.Publish(ctx, "ch", []byte("not for other")))
	ephemeralMust(t, "Other.Publish", h.Other.Publish(ctx, "ch", []byte("for other")))
	if got := ephemeralReceive(t, sub); string(got) != "for other" {
		t.Fatalf("Other's subscriber got %q first, want %q", got, "for other")
	}
}

func ephemeralCanceled(t *testing.T, h EphemeralHarness) {
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := h.Store.Get(ctx, "k"); !errors.Is(err, context.Canceled) {
		t.Fatalf("Get with a canceled context: %v, want context.Canceled", err)
	}
	if err := h.Store.Set(ctx, "k", []byte("v"), time.Hour); !errors.Is(err, context.Canceled) {
		t.Fatalf("Set with a canceled context: %v, want context.Canceled", err)
	}
	ephemeralWantMissing(t, h.Store, "k")
}

func ephemeralClose(t *testing.T, h EphemeralHarness) {
	ctx := ephemeralCtx(t)
	sub := ephemeralSubscribe(t, h.Store, "ch")
	ephemeralMust(t, "Close", h.Store.Close())
	ephemeralDrain(t, sub)
	ephemeralMust(t, "Subscription.Close after the store's Close", sub.Close())
	ephemeralMust(t, "second Close", h.Store.Close())

	checks := map[string]error{
		"Set":     h.Store.Set(ctx, "k", []byte("v"), time.Hour),
		"Delete":  h.Store.Delete(ctx, "k"),
		"SetAdd":  h.Store.SetAdd(ctx, "s", time.Hour, "a"),
		"Publish": h.Store.Publish(ctx, "ch", []byte("x")),
		"Ping":    h.Store.Ping(ctx),
	}
	_, checks["Get"] = h.Store.Get(ctx, "k")
	_, checks["Incr"] = h.Store.Incr(ctx, "n", 1, time.Hour)
	_, checks["SetMembers"] = h.Store.SetMembers(ctx, "s")
	_, checks["Subscribe"] = h.Store.Subscribe(ctx, "ch")
	for op, err := range checks {
		if !errors.Is(err, ephemeral.ErrUnavailable) {
			t.Errorf("%s after Close: %v, want ErrUnavailable", op, err)
		}
	}
}
