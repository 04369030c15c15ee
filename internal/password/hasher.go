// Package password owns how gatehouse stores and judges passwords: Argon2id hashing in PHC string
// form with a bound on concurrent hashes, verification of Argon2id and imported bcrypt hashes with a
// rehash signal, and the NIST SP 800-63B password policy (length, common passwords, identifiers,
// strength, optional composition). It never sees HTTP, SQL or Redis: callers pass strings in and get
// strings, booleans and *gatehouse.Error values out.
//
// Every password is NFKC-normalised (Unicode compatibility composition) before it is hashed, verified
// or checked, so the same password typed on different keyboards or platforms gives the same hash.
// Nothing is ever truncated.
package password

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"errors"
	"fmt"
	"io"
	"runtime"
	"strings"

	"golang.org/x/crypto/argon2"
	"golang.org/x/text/unicode/norm"
)

// Default Argon2id parameters: the OWASP Password Storage Cheat Sheet's first recommendation
// (m=19 MiB, t=2, p=1), about 30 ms and 19 MiB per hash on this project's machines.
const (
	DefaultMemory      = 19 * 1024 // KiB
	DefaultIterations  = 2
	DefaultParallelism = 1
	DefaultSaltLen     = 16 // bytes
	DefaultKeyLen      = 32 // bytes
)

// Bounds on Argon2id parameters, both for configuration and for stored hashes being verified: a
// corrupt or hostile stored hash must not make one verification allocate gigabytes or spin for
// minutes.
const (
	maxMemory      = 1 << 20 // KiB (1 GiB), enough for libsodium's "sensitive" profile
	maxIterations  = 1024
	minParamSalt   = 16 // new hashes: OWASP minimum salt
	minParamKey    = 16 // new hashes: at least 128-bit tags
	maxParamLength = 64 // new hashes: salt and key length ceiling
	minPHCSalt     = 8  // stored hashes: the reference implementation's minimum salt
	minPHCKey      = 4  // stored hashes: the reference implementation's minimum tag
	maxPHCLength   = 1024
)

// Errors returned by Verify for hashes it cannot use. They wrap the detail (never the hash itself,
// which must not reach the logs).
var (
	// ErrMalformedHash means the stored hash is not a well-formed Argon2id PHC string or bcrypt hash.
	ErrMalformedHash = errors.New("password: malformed hash")
	// ErrUnsupportedHash means the stored hash is well-formed but uses an algorithm, version or
	// parameters this package does not verify (argon2i, argon2d, bcrypt $2x$, out-of-bounds costs).
	ErrUnsupportedHash = errors.New("password: unsupported hash")
)

// Params are the Argon2id parameters for new hashes and the hashing concurrency bound. A zero field
// takes its default; DefaultParams returns them all.
type Params struct {
	Memory      uint32 // KiB; default 19456 (19 MiB)
	Iterations  uint32 // passes over memory; default 2
	Parallelism uint8  // lanes (threads) per hash; default 1
	SaltLen     uint32 // bytes; default 16
	KeyLen      uint32 // bytes of the derived key; default 32

	// MaxConcurrent bounds how many hashes (Argon2id or bcrypt, hashing or verifying) run at once
	// in this process, so that peak hashing memory is at most MaxConcurrent × Memory. Callers beyond
	// the bound wait (respecting their context). Default: GOMAXPROCS / Parallelism, at least 1: each
	// hash keeps Parallelism cores busy, so more concurrent hashes than that would not raise
	// throughput, only memory and latency.
	MaxConcurrent int
}

// DefaultParams returns the default parameters, with MaxConcurrent computed for this process.
func DefaultParams() Params {
	return Params{}.withDefaults()
}

func (p Params) withDefaults() Params {
	if p.Memory == 0 {
		p.Memory = DefaultMemory
	}
	if p.Iterations == 0 {
		p.Iterations = DefaultIterations
	}
	if p.Parallelism == 0 {
		p.Parallelism = DefaultParallelism
	}
	if p.SaltLen == 0 {
		p.SaltLen = DefaultSaltLen
	}
	if p.KeyLen == 0 {
		p.KeyLen = DefaultKeyLen
	}
	if p.MaxConcurrent == 0 {
		p.MaxConcurrent = max(1, runtime.GOMAXPROCS(0)/int(p.Parallelism))
	}
	return p
}

// Validate reports whether p (after defaults for zero fields) can be used by NewHasher. The
// configuration layer calls it at start-up so that a bad setting is an error naming the setting.
func (p Params) Validate() error {
	p = p.withDefaults()
	var errs []error
	if p.Memory < 8*uint32(p.Parallelism) {
		errs = append(errs, fmt.Errorf("memory %d KiB is below 8 KiB per lane (parallelism %d)", p.Memory, p.Parallelism))
	}
	if p.Memory > maxMemory {
		errs = append(errs, fmt.Errorf("memory %d KiB is above the maximum of %d KiB", p.Memory, maxMemory))
	}
	if p.Iterations > maxIterations {
		errs = append(errs, fmt.Errorf("iterations %d is above the maximum of %d", p.Iterations, maxIterations))
	}
	if p.SaltLen < minParamSalt || p.SaltLen > maxParamLength {
		errs = append(errs, fmt.Errorf("salt length %d is outside %d..%d bytes", p.SaltLen, minParamSalt, maxParamLength))
	}
	if p.KeyLen < minParamKey || p.KeyLen > maxParamLength {
		errs = append(errs, fmt.Errorf("key length %d is outside %d..%d bytes", p.KeyLen, minParamKey, maxParamLength))
	}
	if p.MaxConcurrent < 0 {
		errs = append(errs, fmt.Errorf("max concurrent hashes %d is negative", p.MaxConcurrent))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("password hashing parameters: %w", err)
	}
	return nil
}

// Option adjusts a Hasher.
type Option func(*Hasher)

// WithRand sets the source of salts (default crypto/rand.Reader). Tests use it for reproducible
// hashes.
func WithRand(r io.Reader) Option {
	return func(h *Hasher) { h.rand = r }
}

// Hasher hashes and verifies passwords. It is safe for concurrent use; one Hasher per process keeps
// the concurrency bound global.
type Hasher struct {
	params Params
	rand   io.Reader
	sem    chan struct{}
	dummy  string // an Argon2id hash with the current parameters that no password matches

	// inside, when set (tests only), runs while a hash holds a semaphore slot.
	inside func()
}

// NewHasher returns a Hasher for p (zero fields take their defaults). It panics if p is invalid:
// parameters come from configuration, which must be checked with Params.Validate at start-up.
func NewHasher(p Params, opts ...Option) *Hasher {
	if err := p.Validate(); err != nil {
		panic(err)
	}
	p = p.withDefaults()
	h := &Hasher{params: p, rand: rand.Reader, sem: make(chan struct{}, p.MaxConcurrent)}
	for _, o := range opts {
		o(h)
	}
	// The dummy's salt is fixed and its key is all zeros: no password derives it (short of a 2^-256
	// chance), and verifying against it costs exactly what verifying a current hash costs.
	salt := make([]byte, p.SaltLen)
	for i := range salt {
		salt[i] = byte(i)
	}
	h.dummy = phc{
		version: argon2.Version, memory: p.Memory, iterations: p.Iterations, parallelism: p.Parallelism,
		salt: salt, key: make([]byte, p.KeyLen),
	}.String()
	return h
}

// Params returns the parameters in effect, defaults filled in.
func (h *Hasher) Params() Params { return h.params }

// Hash returns the Argon2id PHC string of the NFKC-normalised password, for example
// $argon2id$v=19$m=19456,t=2,p=1$<salt>$<key> (unpadded standard base64, as the reference
// implementation writes it). It waits for a free hashing slot and fails if ctx ends first.
func (h *Hasher) Hash(ctx context.Context, password string) (string, error) {
	pw := []byte(norm.NFKC.String(password))
	salt := make([]byte, h.params.SaltLen)
	if _, err := io.ReadFull(h.rand, salt); err != nil {
		return "", fmt.Errorf("hash password: read salt: %w", err)
	}
	if err := h.acquire(ctx); err != nil {
		return "", fmt.Errorf("hash password: %w", err)
	}
	key := argon2.IDKey(pw, salt, h.params.Iterations, h.params.Memory, h.params.Parallelism, h.params.KeyLen)
	h.release()
	return phc{
		version: argon2.Version, memory: h.params.Memory, iterations: h.params.Iterations,
		parallelism: h.params.Parallelism, salt: salt, key: key,
	}.String(), nil
}

// Verify reports whether password matches the stored hash encoded, and whether a matching hash
// should be replaced by Hash(password) now that the plain password is at hand. It accepts:
//
//   - Argon2id PHC strings with any parameters within bounds (needsRehash when they differ from the
//     Hasher's parameters);
//   - bcrypt hashes $2a$, $2b$ and $2y$ (cost 4..16) imported from other systems ($2y$ and $2b$
//     are verified as $2a$; needsRehash is always true, to move the account to Argon2id).
//
// A wrong password gives ok=false with a nil error. A hash that cannot be used gives an error
// wrapping ErrMalformedHash or ErrUnsupportedHash; a context that ends while waiting for a hashing
// slot gives its error. needsRehash is only ever true together with ok. Keys are compared in constant
// time.
//
// bcrypt only ever reads the first 72 bytes of a password, so a candidate longer than 72 bytes never
// matches a bcrypt hash (the work is still done, for equal timing): accepting it would let anyone
// who knows a long password's first 72 bytes in. Such a user must reset the password. Because the
// system a bcrypt hash came from probably did not normalise, a candidate whose NFKC form differs from
// what was typed is also tried as typed.
func (h *Hasher) Verify(ctx context.Context, password, encoded string) (ok, needsRehash bool, err error) {
	switch {
	case strings.HasPrefix(encoded, "$argon2"):
		return h.verifyArgon2id(ctx, password, encoded)
	case strings.HasPrefix(encoded, "$2"):
		ok, err := h.verifyBcrypt(ctx, password, encoded)
		return ok, ok, err
	default:
		return false, false, fmt.Errorf("verify password: %w: unknown hash format", ErrMalformedHash)
	}
}

// DummyVerify does the work of verifying password against a hash with the current parameters and
// discards the result. Sign-in calls it when the account does not exist, so that an unknown account
// answers in the same time as a wrong password. The error is only ever ctx's.
func (h *Hasher) DummyVerify(ctx context.Context, password string) error {
	_, _, err := h.Verify(ctx, password, h.dummy)
	return err
}

func (h *Hasher) verifyArgon2id(ctx context.Context, password, encoded string) (ok, needsRehash bool, err error) {
	stored, err := parsePHC(encoded)
	if err != nil {
		return false, false, fmt.Errorf("verify password: %w", err)
	}
	pw := []byte(norm.NFKC.String(password))
	if err := h.acquire(ctx); err != nil {
		return false, false, fmt.Errorf("verify password: %w", err)
	}
	key := argon2.IDKey(pw, stored.salt, stored.iterations, stored.memory, stored.parallelism, uint32(len(stored.key)))
	h.release()
	if subtle.ConstantTimeCompare(key, stored.key) != 1 {
		return false, false, nil
	}
	p := h.params
	needsRehash = stored.memory != p.Memory || stored.iterations != p.Iterations ||
		stored.parallelism != p.Parallelism || uint32(len(stored.salt)) != p.SaltLen ||
		uint32(len(stored.key)) != p.KeyLen
	return true, needsRehash, nil
}

// acquire takes a hashing slot or returns ctx's error. An already-ended ctx never gets a slot.
func (h *Hasher) acquire(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("wait for a hashing slot: %w", err)
	}
	select {
	case h.sem <- struct{}{}:
		if h.inside != nil {
			h.inside()
		}
		return nil
	case <-ctx.Done():
		return fmt.Errorf("wait for a hashing slot: %w", ctx.Err())
	}
}

func (h *Hasher) release() { <-h.sem }
