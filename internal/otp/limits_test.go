package otp_test

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse"
	"github.com/gatehouse/gatehouse/internal/otp"
)

// rateLimited is what the HTTP layer needs from a refusal to write its headers.
type rateLimited interface {
	RetryAfterSeconds() int
	RateLimitPolicyField() string
	RateLimitField() string
}

func sms(purpose otp.Purpose, phone, ip string) otp.SendRequest {
	return otp.SendRequest{Purpose: purpose, Phone: phone, Country: "KW", IP: ip}
}

// wantLimit fails the test unless err is a *LimitError with code and reason and returns it.
func wantLimit(t *testing.T, err error, code, reason string) *otp.LimitError {
	t.Helper()
	wantReason(t, err, code, reason)
	var le *otp.LimitError
	if !errors.As(err, &le) {
		t.Fatalf("%v is not a *otp.LimitError", err)
	}
	var rl rateLimited
	if !errors.As(err, &rl) {
		t.Fatalf("%v does not offer the rate-limit header values", err)
	}
	return le
}

// near reports whether got is within tolerance below want (Redis time passes while a test runs).
func near(got, want, tolerance time.Duration) bool { return got <= want && got > want-tolerance }

func tolerance(b backend) time.Duration {
	if b.clock != nil {
		return time.Nanosecond
	}
	return 10 * time.Second
}

func TestResendCooldown(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		e := newEngine(t, b.store, b.now(), nil)
		ctx := t.Context()
		req := sms(otp.PurposeRegister, phone, "192.0.2.1")
		d, err := e.CheckAndReserve(ctx, req)
		if err != nil {
			t.Fatal(err)
		}
		if d.ResendAfter != time.Minute {
			t.Errorf("ResendAfter = %s, want 1m", d.ResendAfter)
		}
		want := otp.RateLimitInfo{Policy: otp.PolicyPhone, Limit: 3, Window: time.Hour, Remaining: 2, Reset: time.Hour}
		if d.Quota != want {
			t.Errorf("Quota = %+v, want %+v", d.Quota, want)
		}
		le := wantLimit(t, ignoreDecision(e.CheckAndReserve(ctx, req)), gatehouse.ERATELIMITED, otp.ReasonCooldown)
		if !near(le.RetryAfter, time.Minute, tolerance(b)) {
			t.Errorf("RetryAfter = %s, want about 1m", le.RetryAfter)
		}
		if got := le.RateLimitPolicyField(); got != `"otp_resend";q=1;w=60` {
			t.Errorf("RateLimit-Policy = %s", got)
		}
		if b.clock != nil {
			if got := le.RateLimitField(); got != `"otp_resend";r=0;t=60` {
				t.Errorf("RateLimit = %s", got)
			}
		}
		// Another purpose for the same number has a cooldown of its own, and the refusal did not
		// use up a quota: two more codes fit in the hour.
		d, err = e.CheckAndReserve(ctx, sms(otp.PurposeLogin, phone, "192.0.2.1"))
		if err != nil {
			t.Fatal(err)
		}
		if d.Quota.Remaining != 1 {
			t.Errorf("Remaining = %d after the second code, want 1", d.Quota.Remaining)
		}
	})
}

func TestResendCooldownGrowsAndResets(t *testing.T) {
	b := newMemoryBackend(t)
	e := newEngine(t, b.store, b.now(), func(o *otp.Options) {
		o.Limits = otp.Limits{PerPhonePerHour: 100, PerIPPerHour: 100, MaxResendCooldown: 5 * time.Minute}
	})
	ctx := t.Context()
	req := sms(otp.PurposeLogin, phone, "192.0.2.1")
	for _, want := range []time.Duration{time.Minute, 2 * time.Minute, 4 * time.Minute, 5 * time.Minute, 5 * time.Minute} {
		d, err := e.CheckAndReserve(ctx, req)
		if err != nil {
			t.Fatal(err)
		}
		if d.ResendAfter != want {
			t.Fatalf("ResendAfter = %s, want %s", d.ResendAfter, want)
		}
		b.clock.Advance(want - time.Second)
		le := wantLimit(t, ignoreDecision(e.CheckAndReserve(ctx, req)), gatehouse.ERATELIMITED, otp.ReasonCooldown)
		if le.RetryAfter != time.Second || le.RetryAfterSeconds() != 1 {
			t.Fatalf("RetryAfter = %s, want 1s", le.RetryAfter)
		}
		b.clock.Advance(time.Second)
	}
	// An hour of quiet brings the cooldown back to its start.
	b.clock.Advance(otp.DefaultResendQuietReset)
	d, err := e.CheckAndReserve(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	if d.ResendAfter != time.Minute {
		t.Fatalf("ResendAfter after an hour of quiet = %s, want 1m", d.ResendAfter)
	}
}

// TestFourthCodeInAnHour: the cooldown passes each time, and the fourth code is refused until the
// hour that started with the first has passed.
func TestFourthCodeInAnHour(t *testing.T) {
	b := newMemoryBackend(t)
	e := newEngine(t, b.store, b.now(), nil)
	ctx := t.Context()
	req := sms(otp.PurposeRegister, phone, "192.0.2.1")
	elapsed := time.Duration(0)
	for i := range 3 {
		d, err := e.CheckAndReserve(ctx, req)
		if err != nil {
			t.Fatalf("code %d: %v", i+1, err)
		}
		if d.Quota.Remaining != 2-i || d.Quota.Reset != time.Hour-elapsed {
			t.Errorf("code %d: quota %+v", i+1, d.Quota)
		}
		b.clock.Advance(d.ResendAfter)
		elapsed += d.ResendAfter
	}
	if elapsed != 7*time.Minute {
		t.Fatalf("elapsed %s, want 7m (cooldowns 1m, 2m, 4m)", elapsed)
	}
	le := wantLimit(t, ignoreDecision(e.CheckAndReserve(ctx, req)), gatehouse.ERATELIMITED, otp.ReasonPhoneQuota)
	want := time.Hour - elapsed
	if le.RetryAfter != want {
		t.Errorf("RetryAfter = %s, want %s", le.RetryAfter, want)
	}
	if got := le.RateLimitPolicyField(); got != `"otp_phone";q=3;w=3600` {
		t.Errorf("RateLimit-Policy = %s", got)
	}
	if got := le.RateLimitField(); got != `"otp_phone";r=0;t=3180` {
		t.Errorf("RateLimit = %s", got)
	}
	if got := le.RetryAfterSeconds(); got != 3180 {
		t.Errorf("Retry-After = %d", got)
	}
	// The refusal did not start a cooldown: once the hour is over, a code goes out at once.
	b.clock.Advance(want)
	d, err := e.CheckAndReserve(ctx, req)
	if err != nil {
		t.Fatalf("after the hour: %v", err)
	}
	if d.Quota.Remaining != 2 {
		t.Errorf("after the hour: quota %+v", d.Quota)
	}
}

func TestPhoneQuotaAcrossPurposes(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		e := newEngine(t, b.store, b.now(), nil)
		ctx := t.Context()
		for _, p := range []otp.Purpose{otp.PurposeRegister, otp.PurposeLogin, otp.PurposeReset} {
			if _, err := e.CheckAndReserve(ctx, sms(p, phone, "192.0.2.1")); err != nil {
				t.Fatalf("%s: %v", p, err)
			}
		}
		le := wantLimit(t, ignoreDecision(e.CheckAndReserve(ctx, sms(otp.PurposePhoneChange, phone, "192.0.2.2"))),
			gatehouse.ERATELIMITED, otp.ReasonPhoneQuota)
		if !near(le.RetryAfter, time.Hour, tolerance(b)) {
			t.Errorf("RetryAfter = %s, want about 1h", le.RetryAfter)
		}
		if le.Quota.Policy != otp.PolicyPhone || le.Quota.Remaining != 0 || le.Quota.Limit != 3 {
			t.Errorf("Quota = %+v", le.Quota)
		}
		// The refusal reserved nothing for the second IP: it can still send its ten codes.
		for i := range otp.DefaultPerIPPerHour {
			if _, err := e.CheckAndReserve(ctx, sms(otp.PurposeLogin, fmt.Sprintf("+9656%07d", i), "192.0.2.2")); err != nil {
				t.Fatalf("code %d from the second IP: %v", i+1, err)
			}
		}
	})
}

func TestIPQuota(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		e := newEngine(t, b.store, b.now(), nil)
		ctx := t.Context()
		for i := range otp.DefaultPerIPPerHour {
			if _, err := e.CheckAndReserve(ctx, sms(otp.PurposeRegister, fmt.Sprintf("+9656%07d", i), "198.51.100.7")); err != nil {
				t.Fatalf("code %d: %v", i+1, err)
			}
		}
		victim := sms(otp.PurposeRegister, phone, "198.51.100.7")
		le := wantLimit(t, ignoreDecision(e.CheckAndReserve(ctx, victim)), gatehouse.ERATELIMITED, otp.ReasonIPQuota)
		if !near(le.RetryAfter, time.Hour, tolerance(b)) {
			t.Errorf("RetryAfter = %s, want about 1h", le.RetryAfter)
		}
		if le.RateLimitPolicyField() != `"otp_ip";q=10;w=3600` {
			t.Errorf("RateLimit-Policy = %s", le.RateLimitPolicyField())
		}
		// The refused request neither started the victim's cooldown nor used the victim's quota.
		victim.IP = "203.0.113.9"
		d, err := e.CheckAndReserve(ctx, victim)
		if err != nil {
			t.Fatalf("the victim's own request: %v", err)
		}
		if d.Quota.Remaining != 2 {
			t.Errorf("the victim's quota: %+v", d.Quota)
		}
	})
}

func TestIPv6CountsPerSlash64(t *testing.T) {
	e := newEngine(t, newMemoryBackend(t).store, nil, func(o *otp.Options) { o.Limits.PerIPPerHour = 2 })
	ctx := t.Context()
	for i, ip := range []string{"2001:db8:1:2::1", "2001:db8:1:2:ffff::9"} {
		if _, err := e.CheckAndReserve(ctx, sms(otp.PurposeLogin, fmt.Sprintf("+9658%07d", i), ip)); err != nil {
			t.Fatal(err)
		}
	}
	wantLimit(t, ignoreDecision(e.CheckAndReserve(ctx, sms(otp.PurposeLogin, phone, "2001:db8:1:2::77"))),
		gatehouse.ERATELIMITED, otp.ReasonIPQuota)
	if _, err := e.CheckAndReserve(ctx, sms(otp.PurposeLogin, phone, "2001:db8:1:3::1")); err != nil {
		t.Fatalf("another /64: %v", err)
	}
	// An IPv4-mapped address counts as the IPv4 address.
	for _, p := range []string{"+96570000001", "+96570000002"} {
		if _, err := e.CheckAndReserve(ctx, sms(otp.PurposeLogin, p, "::ffff:192.0.2.5")); err != nil {
			t.Fatal(err)
		}
	}
	wantLimit(t, ignoreDecision(e.CheckAndReserve(ctx, sms(otp.PurposeLogin, "+96551111111", "192.0.2.5"))),
		gatehouse.ERATELIMITED, otp.ReasonIPQuota)
}

// TestConcurrentQuotaTwoNodes: requests racing on two nodes never send more than the quotas allow.
func TestConcurrentQuotaTwoNodes(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		engines := []*otp.Engine{newEngine(t, b.store, b.now(), nil), newEngine(t, b.other, b.now(), nil)}
		ctx := t.Context()
		const n = 30
		run := func(req func(i int) otp.SendRequest) map[string]int {
			results := make([]string, n)
			var wg sync.WaitGroup
			for i := range n {
				wg.Go(func() {
					_, err := engines[i%2].CheckAndReserve(ctx, req(i))
					results[i] = reasonOf(err)
				})
			}
			wg.Wait()
			counts := map[string]int{}
			for _, r := range results {
				counts[r]++
			}
			return counts
		}
		// One IP, thirty numbers: ten go out.
		counts := run(func(i int) otp.SendRequest {
			return sms(otp.PurposeRegister, fmt.Sprintf("+9656%07d", i), "192.0.2.44")
		})
		if counts["nil"] != otp.DefaultPerIPPerHour || counts[otp.ReasonIPQuota] != n-otp.DefaultPerIPPerHour {
			t.Errorf("one IP: %v", counts)
		}
		// One number and purpose, thirty IPs: one goes out, the rest meet the cooldown.
		counts = run(func(i int) otp.SendRequest {
			return sms(otp.PurposeLogin, phone, fmt.Sprintf("198.51.100.%d", i+1))
		})
		if counts["nil"] != 1 || counts[otp.ReasonCooldown] != n-1 {
			t.Errorf("one number: %v", counts)
		}
	})
}

func TestSMSBudget(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		var logs lockedBuffer
		const budget = 3
		edit := func(o *otp.Options) {
			o.Limits.GlobalDaily = budget
			o.Logger = newLogger(&logs)
		}
		e := newEngine(t, b.store, b.now(), edit)
		other := newEngine(t, b.other, b.now(), edit)
		ctx := t.Context()
		send := func(e *otp.Engine, i int) error {
			_, err := e.CheckAndReserve(ctx, sms(otp.PurposeRegister, fmt.Sprintf("+9655%07d", i), fmt.Sprintf("192.0.2.%d", i+1)))
			return err
		}
		for i := range budget {
			if err := send(e, i); err != nil {
				t.Fatalf("SMS %d: %v", i+1, err)
			}
		}
		if e.BudgetTrips() != 0 {
			t.Fatal("the breaker tripped before the budget was spent")
		}
		le := wantLimit(t, send(other, budget), gatehouse.EUNAVAILABLE, otp.ReasonBudgetExhausted)
		if !le.Quota.IsZero() || le.RateLimitField() != "" || le.RateLimitPolicyField() != "" {
			t.Errorf("the budget is advertised: %+v", le.Quota)
		}
		if b.clock != nil && le.RetryAfter != 20*time.Hour+55*time.Minute+55*time.Second {
			t.Errorf("RetryAfter = %s, want the time left until midnight UTC", le.RetryAfter)
		}
		// The trip is counted and logged once, cluster-wide, however many sends are refused after.
		for i := range 3 {
			wantLimit(t, send(e, budget+1+i), gatehouse.EUNAVAILABLE, otp.ReasonBudgetExhausted)
			wantLimit(t, send(other, budget+10+i), gatehouse.EUNAVAILABLE, otp.ReasonBudgetExhausted)
		}
		if got := e.BudgetTrips() + other.BudgetTrips(); got != 1 {
			t.Errorf("BudgetTrips summed over the nodes = %d, want 1", got)
		}
		if got := strings.Count(logs.String(), "daily SMS budget exhausted"); got != 1 {
			t.Errorf("the alert was logged %d times, want once:\n%s", got, logs.String())
		}
		if !strings.Contains(logs.String(), "level=ERROR") {
			t.Errorf("the alert is not an error:\n%s", logs.String())
		}
		// Email codes do not spend the SMS budget.
		if _, err := e.CheckAndReserve(ctx, otp.SendRequest{Purpose: otp.PurposeLogin, Email: "someone@example.com", IP: "203.0.113.1"}); err != nil {
			t.Fatalf("an email code while the SMS budget is spent: %v", err)
		}
		// A refused SMS neither used its number's quota nor started its cooldown: a node with a
		// larger budget sends to the number at once, with two codes left in its hour.
		larger := newEngine(t, b.store, b.now(), func(o *otp.Options) { o.Limits.GlobalDaily = 100 })
		d, err := larger.CheckAndReserve(ctx, sms(otp.PurposeRegister, fmt.Sprintf("+9655%07d", budget), "192.0.2.200"))
		if err != nil {
			t.Fatalf("the refused number: %v", err)
		}
		if d.Quota.Remaining != 2 {
			t.Errorf("the refused number's quota: %+v", d.Quota)
		}
		// The breaker closes with the next day.
		if b.clock == nil {
			return
		}
		b.clock.Advance(le.RetryAfter)
		if err := send(other, 100); err != nil {
			t.Fatalf("the next day: %v", err)
		}
		if err := send(e, 101); err != nil {
			t.Fatalf("the next day, on the node that saw the breaker open: %v", err)
		}
	})
}

func TestCountryLists(t *testing.T) {
	for _, tc := range []struct {
		name    string
		limits  otp.Limits
		country string
		blocked bool
	}{
		{"no lists", otp.Limits{}, "RU", false},
		{"no lists, no country", otp.Limits{}, "", false},
		{"allowed", otp.Limits{AllowCountries: []string{"kw", "SA"}}, "KW", false},
		{"allowed, lower case", otp.Limits{AllowCountries: []string{"KW"}}, "kw", false},
		{"not allowed", otp.Limits{AllowCountries: []string{"KW"}}, "US", true},
		{"denied", otp.Limits{DenyCountries: []string{"RU"}}, "ru", true},
		{"not denied", otp.Limits{DenyCountries: []string{"RU"}}, "KW", false},
		{"unknown country with a deny list", otp.Limits{DenyCountries: []string{"RU"}}, "", true},
		{"malformed country with an allow list", otp.Limits{AllowCountries: []string{"KW"}}, "KWT", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			store := newMemoryBackend(t).store
			e := newEngine(t, store, nil, func(o *otp.Options) { o.Limits = tc.limits })
			ctx := t.Context()
			_, err := e.CheckAndReserve(ctx, otp.SendRequest{Purpose: otp.PurposeRegister, Phone: phone, Country: tc.country, IP: "192.0.2.1"})
			if !tc.blocked {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			ge := wantReason(t, err, gatehouse.EFORBIDDEN, otp.ReasonCountryBlocked)
			if ge.Field != "phone" {
				t.Errorf("Field = %q", ge.Field)
			}
			// A blocked send reserves nothing: without the lists, the same send goes out at once.
			open := newEngine(t, store, nil, nil)
			d, err := open.CheckAndReserve(ctx, otp.SendRequest{Purpose: otp.PurposeRegister, Phone: phone, IP: "192.0.2.1"})
			if err != nil {
				t.Fatal(err)
			}
			if d.Quota.Remaining != 2 {
				t.Errorf("quota after a blocked send: %+v", d.Quota)
			}
			// The country lists do not apply to email.
			if _, err := e.CheckAndReserve(ctx, otp.SendRequest{Purpose: otp.PurposeLogin, Email: "a@example.com", Country: tc.country, IP: "192.0.2.1"}); err != nil {
				t.Fatalf("email: %v", err)
			}
		})
	}
}

func TestEmailDestination(t *testing.T) {
	e := newEngine(t, newMemoryBackend(t).store, nil, nil)
	ctx := t.Context()
	if _, err := e.CheckAndReserve(ctx, otp.SendRequest{Purpose: otp.PurposeLogin, Email: "Someone@Example.com", IP: "192.0.2.1"}); err != nil {
		t.Fatal(err)
	}
	// Addresses are compared without case.
	wantLimit(t, ignoreDecision(e.CheckAndReserve(ctx, otp.SendRequest{Purpose: otp.PurposeLogin, Email: "someone@example.com", IP: "192.0.2.1"})),
		gatehouse.ERATELIMITED, otp.ReasonCooldown)
}

func TestCheckAndReserveCallerBugs(t *testing.T) {
	e := newEngine(t, newMemoryBackend(t).store, nil, nil)
	for _, tc := range []struct {
		name string
		req  otp.SendRequest
	}{
		{"unknown purpose", otp.SendRequest{Purpose: "x", Phone: phone, IP: "192.0.2.1"}},
		{"no destination", otp.SendRequest{Purpose: otp.PurposeLogin, IP: "192.0.2.1"}},
		{"two destinations", otp.SendRequest{Purpose: otp.PurposeLogin, Phone: phone, Email: "a@example.com", IP: "192.0.2.1"}},
		{"phone not E.164", otp.SendRequest{Purpose: otp.PurposeLogin, Phone: "96550000000", IP: "192.0.2.1"}},
		{"phone with spaces", otp.SendRequest{Purpose: otp.PurposeLogin, Phone: "+965 5000 0000", IP: "192.0.2.1"}},
		{"email without @", otp.SendRequest{Purpose: otp.PurposeLogin, Email: "a.example.com", IP: "192.0.2.1"}},
		{"no IP", otp.SendRequest{Purpose: otp.PurposeLogin, Phone: phone}},
		{"bad IP", otp.SendRequest{Purpose: otp.PurposeLogin, Phone: phone, IP: "192.0.2.1:443"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := e.CheckAndReserve(t.Context(), tc.req)
			if err == nil || gatehouse.ErrorCode(err) != gatehouse.EINTERNAL {
				t.Fatalf("got %v, want an internal error", err)
			}
		})
	}
}

// TestReservationRolledBackOnOutage: when the store fails part-way, what was reserved is given back,
// so the failure locks nobody out once the store is back.
func TestReservationRolledBackOnOutage(t *testing.T) {
	for _, tc := range []struct {
		name string
		fail func(calls map[string]int) func(op string, delta int64) bool
	}{
		{"cooldown", func(map[string]int) func(string, int64) bool {
			return func(op string, _ int64) bool { return op == "setnx" }
		}},
		{"IP quota", nthIncr(1)},
		{"phone quota", nthIncr(2)},
		{"budget", nthIncr(3)},
		{"cooldown growth", func(map[string]int) func(string, int64) bool {
			return func(op string, _ int64) bool { return op == "set" }
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := newMemoryBackend(t)
			f := &flaky{Store: b.store}
			e := newEngine(t, f, b.now(), func(o *otp.Options) { o.Limits.GlobalDaily = 100 })
			ctx := t.Context()
			req := sms(otp.PurposeRegister, phone, "192.0.2.1")
			f.setFail(tc.fail(map[string]int{}))
			_, err := e.CheckAndReserve(ctx, req)
			wantReason(t, err, gatehouse.EUNAVAILABLE, otp.ReasonUnavailable)
			f.setFail(nil)
			d, err := e.CheckAndReserve(ctx, req)
			if err != nil {
				t.Fatalf("after the outage: %v", err)
			}
			if d.Quota.Remaining != 2 || d.ResendAfter != time.Minute {
				t.Errorf("after the outage: %+v", d)
			}
		})
	}
}

// nthIncr fails the n-th reserving Incr (delta 1) of a CheckAndReserve.
func nthIncr(n int) func(calls map[string]int) func(op string, delta int64) bool {
	return func(calls map[string]int) func(string, int64) bool {
		return func(op string, delta int64) bool {
			if op != "incr" || delta != 1 {
				return false
			}
			calls["incr"]++
			return calls["incr"] == n
		}
	}
}

func TestRateLimitFields(t *testing.T) {
	for _, tc := range []struct {
		info           otp.RateLimitInfo
		policy, status string
	}{
		{otp.RateLimitInfo{}, "", ""},
		{otp.RateLimitInfo{Policy: "otp_phone", Limit: 3, Window: time.Hour, Remaining: 0, Reset: 1800 * time.Second},
			`"otp_phone";q=3;w=3600`, `"otp_phone";r=0;t=1800`},
		{otp.RateLimitInfo{Policy: "otp_ip", Limit: 10, Window: time.Hour, Remaining: 7, Reset: 1500*time.Millisecond + time.Minute},
			`"otp_ip";q=10;w=3600`, `"otp_ip";r=7;t=62`},
		{otp.RateLimitInfo{Policy: "otp_resend", Limit: 1, Window: 0, Remaining: -1, Reset: -time.Second},
			`"otp_resend";q=1;w=1`, `"otp_resend";r=0;t=0`},
	} {
		if got := tc.info.PolicyField(); got != tc.policy {
			t.Errorf("%+v: PolicyField = %s, want %s", tc.info, got, tc.policy)
		}
		if got := tc.info.Field(); got != tc.status {
			t.Errorf("%+v: Field = %s, want %s", tc.info, got, tc.status)
		}
	}
	le := &otp.LimitError{Err: &gatehouse.Error{Code: gatehouse.ERATELIMITED, Message: "slow down"}, RetryAfter: 10 * time.Millisecond}
	if le.RetryAfterSeconds() != 1 {
		t.Errorf("RetryAfterSeconds = %d, want at least 1", le.RetryAfterSeconds())
	}
	if gatehouse.ErrorCode(le) != gatehouse.ERATELIMITED || gatehouse.ErrorMessage(le) != "slow down" {
		t.Errorf("the *gatehouse.Error is not found through the LimitError")
	}
}

func ignoreDecision(_ otp.Decision, err error) error { return err }
