package otp

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/gatehouse/gatehouse"
	"github.com/gatehouse/gatehouse/internal/ephemeral"
)

// Defaults of Limits.
const (
	DefaultResendCooldown    = 60 * time.Second
	DefaultMaxResendCooldown = time.Hour
	DefaultResendQuietReset  = time.Hour
	DefaultPerPhonePerHour   = 3
	DefaultPerIPPerHour      = 10
	// DefaultGlobalDaily is the suggested SMS budget for configuration; the zero Limits.GlobalDaily
	// means no budget.
	DefaultGlobalDaily = 10_000
)

// QuotaWindow is the window of the per-destination and per-IP quotas. Each window starts with the
// first send counted in it (a fixed window per key, not a sliding one).
const QuotaWindow = time.Hour

// Policy names used in RateLimitInfo (and so in the RateLimit headers).
const (
	PolicyResend = "otp_resend" // one code per cooldown per purpose and destination
	PolicyPhone  = "otp_phone"  // PerPhonePerHour codes per destination
	PolicyIP     = "otp_ip"     // PerIPPerHour codes per client IP (per /64 for IPv6)
)

// Limits are the sending limits enforced by CheckAndReserve, shared by every node through the
// ephemeral store. Zero fields take the defaults above, except GlobalDaily (zero: no budget) and
// the country lists (empty: every country).
type Limits struct {
	// ResendCooldown is the least time between two codes for one purpose to one destination. It
	// doubles with each code sent within ResendQuietReset of the previous one (60 s, 120 s,
	// 240 s, ...) up to MaxResendCooldown. Default 60 s.
	ResendCooldown time.Duration
	// MaxResendCooldown caps the growing cooldown; default 1 h.
	MaxResendCooldown time.Duration
	// ResendQuietReset is how long without a code for a purpose and destination brings the cooldown
	// back to ResendCooldown; default 1 h.
	ResendQuietReset time.Duration
	// PerPhonePerHour is how many codes one destination (phone number, or address for email) may
	// receive per QuotaWindow, all purposes together; default 3.
	PerPhonePerHour int
	// PerIPPerHour is how many codes one client IP may request per QuotaWindow (IPv6 clients are
	// counted per /64); default 10.
	PerIPPerHour int
	// GlobalDaily is how many SMS all nodes together may send per UTC day; once it is spent the
	// breaker opens and SMS sends fail until the next day. Zero means no budget.
	GlobalDaily int
	// AllowCountries, when not empty, lists the only ISO 3166-1 alpha-2 countries SMS may go to.
	AllowCountries []string
	// DenyCountries lists ISO 3166-1 alpha-2 countries SMS never go to.
	DenyCountries []string
}

// withDefaults returns l with the defaults filled in and the country codes upper-cased, or an error
// naming the first bad field.
func (l Limits) withDefaults() (Limits, error) {
	for _, d := range []struct {
		name string
		v    *time.Duration
		def  time.Duration
	}{
		{"ResendCooldown", &l.ResendCooldown, DefaultResendCooldown},
		{"MaxResendCooldown", &l.MaxResendCooldown, DefaultMaxResendCooldown},
		{"ResendQuietReset", &l.ResendQuietReset, DefaultResendQuietReset},
	} {
		switch {
		case *d.v < 0:
			return l, fmt.Errorf("otp: Limits.%s must not be negative", d.name)
		case *d.v == 0:
			*d.v = d.def
		}
	}
	if l.MaxResendCooldown < l.ResendCooldown {
		return l, errors.New("otp: Limits.MaxResendCooldown must not be shorter than Limits.ResendCooldown")
	}
	for _, q := range []struct {
		name string
		v    *int
		def  int
	}{
		{"PerPhonePerHour", &l.PerPhonePerHour, DefaultPerPhonePerHour},
		{"PerIPPerHour", &l.PerIPPerHour, DefaultPerIPPerHour},
		{"GlobalDaily", &l.GlobalDaily, 0},
	} {
		switch {
		case *q.v < 0:
			return l, fmt.Errorf("otp: Limits.%s must not be negative", q.name)
		case *q.v == 0:
			*q.v = q.def
		}
	}
	var err error
	if l.AllowCountries, err = normalizeCountries("AllowCountries", l.AllowCountries); err != nil {
		return l, err
	}
	if l.DenyCountries, err = normalizeCountries("DenyCountries", l.DenyCountries); err != nil {
		return l, err
	}
	for _, c := range l.AllowCountries {
		for _, d := range l.DenyCountries {
			if c == d {
				return l, fmt.Errorf("otp: country %s is both in Limits.AllowCountries and Limits.DenyCountries", c)
			}
		}
	}
	return l, nil
}

func normalizeCountries(field string, cs []string) ([]string, error) {
	out := make([]string, 0, len(cs))
	for _, c := range cs {
		n, ok := normalizeCountry(c)
		if !ok {
			return nil, fmt.Errorf("otp: Limits.%s: %q is not an ISO 3166-1 alpha-2 code", field, c)
		}
		out = append(out, n)
	}
	return out, nil
}

// normalizeCountry upper-cases a two-letter ASCII country code and reports whether it is one.
func normalizeCountry(c string) (string, bool) {
	c = strings.TrimSpace(c)
	if len(c) != 2 {
		return "", false
	}
	b := []byte(c)
	for i, ch := range b {
		switch {
		case ch >= 'a' && ch <= 'z':
			b[i] = ch - 'a' + 'A'
		case ch >= 'A' && ch <= 'Z':
		default:
			return "", false
		}
	}
	return string(b), true
}

func countrySet(cs []string) map[string]bool {
	m := make(map[string]bool, len(cs))
	for _, c := range cs {
		m[c] = true
	}
	return m
}

// SendRequest describes a code about to be sent. Exactly one of Phone and Email is set.
type SendRequest struct {
	Purpose Purpose
	// Phone is the destination number in E.164 form ("+96550000000"), for SMS.
	Phone string
	// Email is the destination address, for a code sent by email: the cooldown and the quotas
	// apply, the SMS budget and the country lists do not.
	Email string
	// Country is the ISO 3166-1 alpha-2 region of Phone, as the caller's phone parser found it.
	// When a country list is configured, an empty or malformed Country is refused.
	Country string
	// IP is the client's address as the HTTP layer resolved it (behind trusted proxies only). It is
	// required: an internal caller passes its own address.
	IP string
}

// LogValue implements slog.LogValuer: the destination is personal data, so only its kind is logged.
func (r SendRequest) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("purpose", string(r.Purpose)),
		slog.Bool("phone", r.Phone != ""),
		slog.Bool("email", r.Email != ""),
		slog.String("country", r.Country),
	)
}

// destination returns the string the destination quotas and cooldown are keyed on and whether the
// code goes by SMS.
func (r SendRequest) destination() (string, bool, error) {
	switch {
	case r.Phone != "" && r.Email != "":
		return "", false, errors.New("both Phone and Email are set")
	case r.Phone != "":
		if !isE164(r.Phone) {
			return "", false, errors.New("the phone number is not in E.164 form")
		}
		return "sms:" + r.Phone, true, nil
	case r.Email != "":
		if len(r.Email) > 254 || !strings.Contains(r.Email, "@") {
			return "", false, errors.New("the email is not an address")
		}
		return "email:" + strings.ToLower(r.Email), false, nil
	}
	return "", false, errors.New("neither Phone nor Email is set")
}

// isE164 reports whether s is "+" and 7 to 15 digits, the first not zero.
func isE164(s string) bool {
	if len(s) < 8 || len(s) > 16 || s[0] != '+' || s[1] == '0' {
		return false
	}
	for i := 1; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// ipPartition returns what the per-IP quota counts: the address for IPv4 (and IPv4-mapped IPv6),
// its /64 for IPv6, since one client commonly holds a whole /64.
func ipPartition(ip string) (string, error) {
	a, err := netip.ParseAddr(strings.TrimSpace(ip))
	if err != nil {
		return "", fmt.Errorf("IP %q: %w", ip, err)
	}
	a = a.Unmap().WithZone("")
	if a.Is4() {
		return a.String(), nil
	}
	p, err := a.Prefix(64)
	if err != nil {
		return "", fmt.Errorf("IP %q: %w", ip, err)
	}
	return p.String(), nil
}

// Decision is the outcome of a CheckAndReserve that allowed a send.
type Decision struct {
	// ResendAfter is the cooldown now running for this purpose and destination: the earliest a
	// next code can be sent (the `resend_after` of the API).
	ResendAfter time.Duration
	// Quota is the destination's hourly quota after this send, for RateLimit headers on the
	// successful answer.
	Quota RateLimitInfo
}

// RateLimitInfo describes one quota policy and where a client stands in it, in the terms of the
// IETF RateLimit header fields (draft-ietf-httpapi-ratelimit-headers-11): the policy's quota and
// window, the quota remaining and the seconds until it resets.
type RateLimitInfo struct {
	Policy    string        // the policy's name, one of the Policy* constants
	Limit     int           // the quota: sends allowed per Window
	Window    time.Duration // the policy's time window
	Remaining int           // sends left in the current window
	Reset     time.Duration // time until the current window ends
}

// IsZero reports whether i describes no policy (then no RateLimit header is sent).
func (i RateLimitInfo) IsZero() bool { return i.Policy == "" }

// PolicyField returns the RateLimit-Policy field value, for example `"otp_phone";q=3;w=3600`, or ""
// when i is zero.
func (i RateLimitInfo) PolicyField() string {
	if i.IsZero() {
		return ""
	}
	return strconv.Quote(i.Policy) + ";q=" + strconv.Itoa(max(i.Limit, 0)) + ";w=" + strconv.FormatInt(max(ceilSeconds(i.Window), 1), 10)
}

// Field returns the RateLimit field value, for example `"otp_phone";r=0;t=1800`, or "" when i is
// zero.
func (i RateLimitInfo) Field() string {
	if i.IsZero() {
		return ""
	}
	return strconv.Quote(i.Policy) + ";r=" + strconv.Itoa(max(i.Remaining, 0)) + ";t=" + strconv.FormatInt(ceilSeconds(i.Reset), 10)
}

// ceilSeconds rounds d up to whole seconds, never below zero.
func ceilSeconds(d time.Duration) int64 {
	if d <= 0 {
		return 0
	}
	return int64((d + time.Second - 1) / time.Second)
}

// LimitError is the error of a send refused by a limit: ERATELIMITED (otp_cooldown,
// otp_phone_quota, otp_ip_quota) or EUNAVAILABLE (sms_budget_exhausted). errors.As finds its
// *gatehouse.Error, so it maps to a status like any other; the HTTP layer adds the headers from the
// three methods below, which it can reach through a small interface of its own without importing
// this package.
type LimitError struct {
	Err        *gatehouse.Error
	RetryAfter time.Duration
	// Quota is the policy that refused the send; zero for the SMS budget, which is not a client's
	// quota and is not advertised.
	Quota RateLimitInfo
}

// Error implements error with the *gatehouse.Error's text.
func (e *LimitError) Error() string {
	if e.Err == nil {
		return "otp: a sending limit was reached"
	}
	return e.Err.Error()
}

// Unwrap returns the *gatehouse.Error.
func (e *LimitError) Unwrap() error {
	if e.Err == nil {
		return nil
	}
	return e.Err
}

// RetryAfterSeconds returns the Retry-After value: RetryAfter in whole seconds, rounded up, at
// least 1.
func (e *LimitError) RetryAfterSeconds() int { return int(max(ceilSeconds(e.RetryAfter), 1)) }

// RateLimitPolicyField returns the RateLimit-Policy field value, or "" when there is none.
func (e *LimitError) RateLimitPolicyField() string { return e.Quota.PolicyField() }

// RateLimitField returns the RateLimit field value, or "" when there is none.
func (e *LimitError) RateLimitField() string { return e.Quota.Field() }

// BudgetTrips returns how many times this node saw the global SMS budget run out: each day's budget
// trips once across all nodes, on the node whose send was the first one over it, so the sum of
// every node's count is the number of trips (export it as a metric counter and alert on it).
func (e *Engine) BudgetTrips() uint64 { return e.budgetTrips.Load() }

// CheckAndReserve decides whether a code may be sent now and, if so, reserves the send in every
// limit at once, so that concurrent requests on any node cannot together exceed a limit. Call it
// before Issue, and send only when it returns no error.
//
// The checks run in this order: the country lists (EFORBIDDEN sms_country_blocked, nothing
// reserved), the SMS breaker as this node last saw it, then one ephemeral.Reservation (a single
// script and round trip on Redis): the resend cooldown, the per-IP quota, the per-destination quota,
// the global SMS budget, and last the cooldown's growth. When a later step refuses, or the store
// fails, the reservations already made are released (the cooldown, and the quotas' counts), so that
// a refused request never uses up a quota, and an attacker over its IP quota cannot lock a victim's
// number out. Refusals are *LimitError values; a store outage is EUNAVAILABLE otp_unavailable; a malformed
// request (bad purpose, phone, IP) is a caller bug and a plain error.
func (e *Engine) CheckAndReserve(ctx context.Context, req SendRequest) (Decision, error) {
	if !req.Purpose.Valid() {
		return Decision{}, fmt.Errorf("otp: check and reserve: unknown purpose %q", req.Purpose)
	}
	dest, sms, err := req.destination()
	if err != nil {
		return Decision{}, fmt.Errorf("otp: check and reserve: %w", err)
	}
	ipPart, err := ipPartition(req.IP)
	if err != nil {
		return Decision{}, fmt.Errorf("otp: check and reserve: %w", err)
	}
	now := e.now()
	if sms {
		if err := e.checkCountry(req.Country); err != nil {
			return Decision{}, err
		}
		if until := e.budgetOpen.Load(); now.Unix() < until {
			return Decision{}, budgetError(time.Unix(until, 0).Sub(now))
		}
	}

	const op = "check and reserve a send"
	dh := e.nameHash(dest)
	prefix := string(req.Purpose) + ":" + dh
	token, err := randomToken(e.rand)
	if err != nil {
		return Decision{}, fmt.Errorf("otp: %s: %w", op, err)
	}
	// The resend cooldown comes first: it is where concurrent requests for one purpose and
	// destination line up, so only one gets further. Then the per-IP quota, the per-destination
	// quota and the global SMS budget. The streak grows the cooldown; it lives until
	// ResendQuietReset passes without a send.
	r := ephemeral.Reservation{
		Streak: "otp-streak:" + prefix, StreakTTL: e.limits.ResendQuietReset,
		Gate: "otp-cooldown:" + prefix, GateValue: token, Cooldowns: e.cooldowns,
		Counters: []ephemeral.Counter{
			{Key: "otp-quota:ip:" + e.nameHash(ipPart), Limit: int64(e.limits.PerIPPerHour), TTL: QuotaWindow},
			{Key: "otp-quota:dest:" + dh, Limit: int64(e.limits.PerPhonePerHour), TTL: QuotaWindow},
		},
	}
	var budgetEnd time.Time
	if sms && e.limits.GlobalDaily > 0 {
		day := now.UTC()
		budgetEnd = time.Date(day.Year(), day.Month(), day.Day()+1, 0, 0, 0, 0, time.UTC)
		// Unlike the quotas, a refused count stays counted: that keeps "the first count over the
		// budget" unique, and the day's budget is spent anyway.
		r.Counters = append(r.Counters, ephemeral.Counter{Key: "otp-budget:" + day.Format("20060102"),
			Limit: int64(e.limits.GlobalDaily), TTL: budgetEnd.Sub(now) + time.Hour, KeepRefused: true})
	}
	res, err := ephemeral.Reserve(ctx, e.eph, r)
	if err != nil {
		return Decision{}, storeError(op, err)
	}
	switch res.Refused {
	case ephemeral.RefusedNone:
	case ephemeral.RefusedGate:
		left := res.TTLs[0]
		return Decision{}, &LimitError{
			Err: &gatehouse.Error{Code: gatehouse.ERATELIMITED, Reason: ReasonCooldown,
				Message: "A code was sent moments ago. Wait before asking for another one."},
			RetryAfter: left,
			Quota: RateLimitInfo{Policy: PolicyResend, Limit: 1, Window: e.cooldown(max(res.Streak-1, 0)),
				Remaining: 0, Reset: left},
		}
	case 0:
		return Decision{}, quotaError(PolicyIP, e.limits.PerIPPerHour, ReasonIPQuota,
			"Too many codes were requested from this network. Try again later.", res.TTLs[0])
	case 1:
		return Decision{}, quotaError(PolicyPhone, e.limits.PerPhonePerHour, ReasonPhoneQuota,
			"Too many codes were sent to this destination. Try again later.", res.TTLs[1])
	default:
		// The budget: every node that sees it spent opens its local breaker until the day ends; the
		// one request whose count is the first over it (each count is seen once, cluster-wide) logs
		// the alert and counts the trip.
		e.budgetOpen.Store(budgetEnd.Unix())
		if res.Counts[2] == int64(e.limits.GlobalDaily)+1 {
			e.budgetTrips.Add(1)
			e.log.LogAttrs(ctx, slog.LevelError, "otp: daily SMS budget exhausted: no SMS codes until the budget resets",
				slog.Int("budget", e.limits.GlobalDaily), slog.Time("resets_at", budgetEnd))
		}
		return Decision{}, budgetError(budgetEnd.Sub(now))
	}
	used := res.Counts[1]
	return Decision{
		ResendAfter: r.Cooldown(res.Streak),
		Quota: RateLimitInfo{Policy: PolicyPhone, Limit: e.limits.PerPhonePerHour, Window: QuotaWindow,
			Remaining: e.limits.PerPhonePerHour - int(used), Reset: res.TTLs[1]},
	}, nil
}

// quotaError is the refusal of a send over a quota whose window ends in left.
func quotaError(policy string, limit int, reason, msg string, left time.Duration) *LimitError {
	return &LimitError{
		Err:        &gatehouse.Error{Code: gatehouse.ERATELIMITED, Reason: reason, Message: msg},
		RetryAfter: left,
		Quota:      RateLimitInfo{Policy: policy, Limit: limit, Window: QuotaWindow, Remaining: 0, Reset: left},
	}
}

func (e *Engine) checkCountry(country string) error {
	if len(e.allow) == 0 && len(e.deny) == 0 {
		return nil
	}
	c, ok := normalizeCountry(country)
	if ok && !e.deny[c] && (len(e.allow) == 0 || e.allow[c]) {
		return nil
	}
	return &gatehouse.Error{Code: gatehouse.EFORBIDDEN, Reason: ReasonCountryBlocked, Field: "phone",
		Message: "Text messages cannot be sent to numbers in this country."}
}

// cooldown returns the cooldown after the (streak+1)-th send of a streak: ResendCooldown doubled
// streak times, capped at MaxResendCooldown.
func (e *Engine) cooldown(streak int64) time.Duration {
	return e.cooldowns[min(streak, int64(len(e.cooldowns)-1))]
}

// cooldowns lists the resend cooldown by streak: ResendCooldown doubling up to MaxResendCooldown,
// which the last entry holds (at most a few dozen entries, since the cooldown at least doubles).
func cooldowns(l Limits) []time.Duration {
	var out []time.Duration
	for d := l.ResendCooldown; ; d *= 2 {
		if d >= l.MaxResendCooldown || d <= 0 {
			return append(out, l.MaxResendCooldown)
		}
		out = append(out, d)
	}
}

func randomToken(r io.Reader) ([]byte, error) {
	var b [12]byte
	if _, err := io.ReadFull(r, b[:]); err != nil {
		return nil, fmt.Errorf("read random token: %w", err)
	}
	return []byte(hex.EncodeToString(b[:])), nil
}

// budgetError is the refusal while the SMS breaker is open.
func budgetError(retryAfter time.Duration) *LimitError {
	return &LimitError{
		Err: &gatehouse.Error{Code: gatehouse.EUNAVAILABLE, Reason: ReasonBudgetExhausted,
			Message: "Text messages cannot be sent right now. Try again later."},
		RetryAfter: retryAfter,
	}
}
