// Package otp owns one-time codes sent by SMS (or email): issuing and checking 6-digit codes bound to
// a purpose and a subject, and the sending limits that keep them from being abused (resend
// cooldown, per-destination and per-IP quotas, a global daily SMS budget with a circuit breaker, and
// a per-country allow/deny list against SMS pumping).
//
// Everything lives in the ephemeral store (Redis in production, memory in the embedded default) with
// a time to live; nothing about codes is kept in SQL. A code is stored only as
// HMAC-SHA256(key, purpose|subject|code), and key names carry a keyed hash of the subject (phone
// numbers and addresses are personal data). Every decision is shared by all nodes through atomic
// store operations: attempts are counted with Incr before a code is compared, a code is consumed
// with DeleteIfEqual so that two nodes cannot both accept it, and each quota is an Incr counter.
//
// The package fails closed: when the store cannot be reached (an error wrapping
// ephemeral.ErrUnavailable) Issue, Verify and CheckAndReserve return an EUNAVAILABLE
// *gatehouse.Error with the reason otp_unavailable; a code that could not be counted and checked is
// never accepted. See docs/adr/0009-one-time-codes.md.
package otp

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/gatehouse/gatehouse"
	"github.com/gatehouse/gatehouse/internal/ephemeral"
)

// Defaults of Options.
const (
	DefaultTTL         = 5 * time.Minute
	DefaultMaxAttempts = 5
)

// MinKeyLen is the shortest accepted Options.Key.
const MinKeyLen = 32

// CodeLength is the number of decimal digits of a code.
const CodeLength = 6

// MaxSubjectLength bounds a subject (in bytes); subjects are phone numbers, addresses or
// "<account id>:<phone>".
const MaxSubjectLength = 512

// Purpose says what a code is for. A code issued for one purpose never verifies for another.
type Purpose string

// The purposes of codes.
const (
	PurposeRegister    Purpose = "register"     // phone sign-up; subject: the E.164 number
	PurposeLogin       Purpose = "login"        // passwordless sign-in; subject: the number or address
	PurposeReset       Purpose = "reset"        // password reset by SMS; subject: the number
	PurposePhoneChange Purpose = "phone_change" // subject: PhoneChangeSubject(account id, new number)
)

// Valid reports whether p is one of the purposes above.
func (p Purpose) Valid() bool {
	switch p {
	case PurposeRegister, PurposeLogin, PurposeReset, PurposePhoneChange:
		return true
	}
	return false
}

// PhoneChangeSubject returns the subject of a phone_change code: the account and the new number
// together, so that a code sent to a number for one account does not change another account's.
func PhoneChangeSubject(accountID, phone string) string { return accountID + ":" + phone }

// Reasons of the *gatehouse.Error values the Engine returns (the problem response's code).
const (
	ReasonInvalid          = "otp_invalid"           // EINVALID: wrong or malformed code; attempts left in the message
	ReasonExpired          = "otp_expired"           // EINVALID: no code (expired, used, burned or never issued)
	ReasonAttemptsExceeded = "otp_attempts_exceeded" // EINVALID: too many wrong codes; the code is burned
	ReasonUnavailable      = "otp_unavailable"       // EUNAVAILABLE: the ephemeral store failed; nothing accepted
	ReasonCooldown         = "otp_cooldown"          // ERATELIMITED: a code was sent moments ago (*LimitError)
	ReasonPhoneQuota       = "otp_phone_quota"       // ERATELIMITED: codes per destination per hour (*LimitError)
	ReasonIPQuota          = "otp_ip_quota"          // ERATELIMITED: codes per client IP per hour (*LimitError)
	ReasonBudgetExhausted  = "sms_budget_exhausted"  // EUNAVAILABLE: the global daily SMS budget is spent (*LimitError)
	ReasonCountryBlocked   = "sms_country_blocked"   // EFORBIDDEN: SMS to the number's country is not allowed
)

// Options configures an Engine. Key is required; zero fields take the defaults.
type Options struct {
	// Key keys the HMAC under which codes are stored and the hashes in key names (at least
	// MinKeyLen bytes). Changing it invalidates the codes in flight and restarts the quotas.
	Key []byte
	// TTL is the lifetime of a code; default 5 min.
	TTL time.Duration
	// MaxAttempts is how many codes may be tried against one issued code; the next try burns it.
	// Default 5.
	MaxAttempts int
	// Limits are the sending limits of CheckAndReserve; see Limits for the defaults.
	Limits Limits
	// Now is the clock (default time.Now); it only decides the SMS budget's day, as the store judges
	// every other expiry.
	Now func() time.Time
	// Rand is the source of codes and code ids (default crypto/rand.Reader).
	Rand io.Reader
	// Logger receives the budget alert and failed roll-backs (default: discard).
	Logger *slog.Logger
}

// Engine issues and checks one-time codes and enforces the sending limits. It is safe for
// concurrent use, and any number of Engines (on any number of nodes) sharing one store and one key
// behave as one.
type Engine struct {
	eph         ephemeral.Store
	codeKey     []byte // HMAC key of stored codes
	nameKey     []byte // HMAC key of the hashes in key names
	ttl         time.Duration
	maxAttempts int
	limits      Limits
	cooldowns   []time.Duration // the resend cooldown by streak, up to the first at MaxResendCooldown
	allow       map[string]bool
	deny        map[string]bool
	now         func() time.Time
	rand        io.Reader
	log         *slog.Logger

	budgetTrips atomic.Uint64
	budgetOpen  atomic.Int64 // Unix seconds until which this node knows the budget is spent
}

// NewEngine returns an Engine on eph, or an error naming the first bad option.
func NewEngine(eph ephemeral.Store, opts Options) (*Engine, error) {
	if eph == nil {
		return nil, errors.New("otp: the ephemeral store is required")
	}
	if len(opts.Key) < MinKeyLen {
		return nil, fmt.Errorf("otp: Options.Key must be at least %d bytes", MinKeyLen)
	}
	switch {
	case opts.TTL < 0:
		return nil, errors.New("otp: Options.TTL must not be negative")
	case opts.TTL == 0:
		opts.TTL = DefaultTTL
	}
	switch {
	case opts.MaxAttempts < 0:
		return nil, errors.New("otp: Options.MaxAttempts must not be negative")
	case opts.MaxAttempts == 0:
		opts.MaxAttempts = DefaultMaxAttempts
	}
	limits, err := opts.Limits.withDefaults()
	if err != nil {
		return nil, err
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Rand == nil {
		opts.Rand = rand.Reader
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	e := &Engine{
		eph:         eph,
		codeKey:     deriveKey(opts.Key, "gatehouse otp code"),
		nameKey:     deriveKey(opts.Key, "gatehouse otp key name"),
		ttl:         opts.TTL,
		maxAttempts: opts.MaxAttempts,
		limits:      limits,
		cooldowns:   cooldowns(limits),
		allow:       countrySet(limits.AllowCountries),
		deny:        countrySet(limits.DenyCountries),
		now:         opts.Now,
		rand:        opts.Rand,
		log:         opts.Logger,
	}
	return e, nil
}

// deriveKey returns a key for one use of the master key, so that the code MACs and the key-name
// hashes never share a key.
func deriveKey(master []byte, use string) []byte {
	m := hmac.New(sha256.New, master)
	m.Write([]byte(use))
	return m.Sum(nil)
}

// nameHash returns a keyed hash of s for use in key names: stable across nodes, not reversible by
// guessing phone numbers without the key.
func (e *Engine) nameHash(s string) string {
	m := hmac.New(sha256.New, e.nameKey)
	m.Write([]byte(s))
	return hex.EncodeToString(m.Sum(nil)[:16])
}

// codeMAC is the stored form of a code: HMAC-SHA256(key, purpose|subject|code). Purposes contain no
// "|" and codes are fixed-length digits, so the input is unambiguous.
func (e *Engine) codeMAC(p Purpose, subject, code string) []byte {
	m := hmac.New(sha256.New, e.codeKey)
	m.Write([]byte(string(p) + "|" + subject + "|" + code))
	return m.Sum(nil)
}

func codeKeyName(p Purpose, subjectHash string) string {
	return "otp:" + string(p) + ":" + subjectHash
}

func attemptsKeyName(p Purpose, subjectHash, id string) string {
	return "otp-attempts:" + string(p) + ":" + subjectHash + ":" + id
}

// record is what the store holds under a code's key: a random id that names the code's attempt
// counter, and the code's MAC.
type record struct {
	id  string
	mac []byte
}

const recordVersion = "v1"

func (r record) encode() []byte {
	return []byte(recordVersion + "." + r.id + "." + hex.EncodeToString(r.mac))
}

func decodeRecord(b []byte) (record, error) {
	parts := strings.Split(string(b), ".")
	if len(parts) != 3 || parts[0] != recordVersion || parts[1] == "" {
		return record{}, errors.New("malformed code record")
	}
	mac, err := hex.DecodeString(parts[2])
	if err != nil || len(mac) != sha256.Size {
		return record{}, errors.New("malformed code record")
	}
	return record{id: parts[1], mac: mac}, nil
}

func checkSubject(p Purpose, subject string) error {
	switch {
	case !p.Valid():
		return fmt.Errorf("unknown purpose %q", p)
	case subject == "":
		return errors.New("empty subject")
	case len(subject) > MaxSubjectLength:
		return fmt.Errorf("subject longer than %d bytes", MaxSubjectLength)
	case !utf8.ValidString(subject):
		return errors.New("subject is not valid UTF-8")
	}
	return nil
}

// Issue creates a new code for purpose and subject, replacing any earlier one (whose attempts no
// longer matter), and returns it with its lifetime. The caller delivers the code and should have
// called CheckAndReserve first. A bad purpose or subject is a caller bug (a plain error).
func (e *Engine) Issue(ctx context.Context, purpose Purpose, subject string) (code string, expiresIn time.Duration, err error) {
	if err := checkSubject(purpose, subject); err != nil {
		return "", 0, fmt.Errorf("otp: issue: %w", err)
	}
	code, err = randomCode(e.rand)
	if err != nil {
		return "", 0, fmt.Errorf("otp: issue %s code: %w", purpose, err)
	}
	var id [12]byte
	if _, err := io.ReadFull(e.rand, id[:]); err != nil {
		return "", 0, fmt.Errorf("otp: issue %s code: read random id: %w", purpose, err)
	}
	rec := record{id: hex.EncodeToString(id[:]), mac: e.codeMAC(purpose, subject, code)}
	key := codeKeyName(purpose, e.nameHash(subject))
	if err := e.eph.Set(ctx, key, rec.encode(), e.ttl); err != nil {
		return "", 0, storeError("issue "+string(purpose)+" code", err)
	}
	return code, e.ttl, nil
}

// Verify checks code against the code issued for purpose and subject and consumes it when it is
// right. Every try is counted before the comparison, malformed ones included (see
// docs/adr/0009-one-time-codes.md); once more than MaxAttempts tries have been counted the code is
// burned. Errors: EINVALID with the reason otp_invalid (wrong or malformed code, the message says
// how many tries are left), otp_expired (no code: expired, used, burned or never issued) or
// otp_attempts_exceeded; EUNAVAILABLE otp_unavailable when the store fails. The code is
// accepted only when this call removed it from the store, so of two nodes verifying it at once only
// one succeeds.
func (e *Engine) Verify(ctx context.Context, purpose Purpose, subject, code string) error {
	if err := checkSubject(purpose, subject); err != nil {
		return fmt.Errorf("otp: verify: %w", err)
	}
	op := "verify " + string(purpose) + " code"
	sh := e.nameHash(subject)
	key := codeKeyName(purpose, sh)
	raw, err := e.eph.Get(ctx, key)
	if errors.Is(err, ephemeral.ErrNotFound) {
		return errExpired()
	}
	if err != nil {
		return storeError(op, err)
	}
	rec, err := decodeRecord(raw)
	if err != nil {
		return fmt.Errorf("otp: %s: %w", op, err)
	}
	// Count first: a guess that cannot be counted is not compared.
	n, err := e.eph.Incr(ctx, attemptsKeyName(purpose, sh, rec.id), 1, e.ttl)
	if err != nil {
		return storeError(op, err)
	}
	if n > int64(e.maxAttempts) {
		if _, err := e.eph.DeleteIfEqual(ctx, key, raw); err != nil {
			return storeError(op, err)
		}
		return errAttemptsExceeded()
	}
	normalized, ok := NormalizeCode(code)
	if !ok || !hmac.Equal(e.codeMAC(purpose, subject, normalized), rec.mac) {
		return errInvalid(e.maxAttempts - int(n))
	}
	consumed, err := e.eph.DeleteIfEqual(ctx, key, raw)
	if err != nil {
		return storeError(op, err)
	}
	if !consumed {
		// Another node consumed it, or a new code replaced it, since it was read.
		return errExpired()
	}
	return nil
}

// randomCode returns CodeLength uniformly distributed decimal digits (leading zeros kept), drawing
// 32-bit values from r and rejecting the few above the largest multiple of 10^6 to avoid modulo bias.
func randomCode(r io.Reader) (string, error) {
	const space = 1_000_000
	const limit = (1 << 32) / space * space
	var b [4]byte
	for {
		if _, err := io.ReadFull(r, b[:]); err != nil {
			return "", fmt.Errorf("read random code: %w", err)
		}
		if v := binary.BigEndian.Uint32(b[:]); v < limit {
			s := strconv.FormatUint(uint64(v%space), 10)
			return strings.Repeat("0", CodeLength-len(s)) + s, nil
		}
	}
}

// NormalizeCode turns a code as a person typed it into CodeLength ASCII digits: surrounding white
// space and inner spaces or hyphens are dropped, and Arabic-Indic (U+0660–U+0669) and Extended
// Arabic-Indic (U+06F0–U+06F9) digits count as their ASCII twins. It reports false for anything
// else.
func NormalizeCode(s string) (string, bool) {
	s = strings.TrimSpace(s)
	if len(s) > 64 { // far longer than any spacing of six digits
		return "", false
	}
	var out [CodeLength]byte
	n := 0
	for _, r := range s {
		var d byte
		switch {
		case r >= '0' && r <= '9':
			d = byte(r - '0')
		case r >= '\u0660' && r <= '\u0669':
			d = byte(r - '\u0660')
		case r >= '\u06F0' && r <= '\u06F9':
			d = byte(r - '\u06F0')
		case r == ' ' || r == '-':
			continue
		default:
			return "", false
		}
		if n == CodeLength {
			return "", false
		}
		out[n] = '0' + d
		n++
	}
	if n != CodeLength {
		return "", false
	}
	return string(out[:]), true
}

func errInvalid(left int) *gatehouse.Error {
	msg := "The code is not valid. "
	switch {
	case left <= 0:
		msg += "No attempts are left: request a new code."
	case left == 1:
		msg += "1 attempt is left."
	default:
		msg += strconv.Itoa(left) + " attempts are left."
	}
	return &gatehouse.Error{Code: gatehouse.EINVALID, Reason: ReasonInvalid, Field: "code", Message: msg}
}

func errExpired() *gatehouse.Error {
	return &gatehouse.Error{Code: gatehouse.EINVALID, Reason: ReasonExpired, Field: "code",
		Message: "The code has expired or has already been used. Request a new one."}
}

func errAttemptsExceeded() *gatehouse.Error {
	return &gatehouse.Error{Code: gatehouse.EINVALID, Reason: ReasonAttemptsExceeded, Field: "code",
		Message: "Too many wrong codes. Request a new one."}
}

// storeError turns a store failure into the error the caller returns: an outage becomes EUNAVAILABLE
// otp_unavailable (fail closed); anything else (a cancelled request, a bug) stays a plain error.
func storeError(op string, err error) error {
	if errors.Is(err, ephemeral.ErrUnavailable) {
		return &gatehouse.Error{Code: gatehouse.EUNAVAILABLE, Reason: ReasonUnavailable,
			Message: "One-time codes are unavailable right now. Try again in a moment.",
			Err:     fmt.Errorf("otp: %s: %w", op, err)}
	}
	return fmt.Errorf("otp: %s: %w", op, err)
}
