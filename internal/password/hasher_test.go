package password

import (
	"bytes"
	"context"
	"errors"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"golang.org/x/crypto/argon2"
	"golang.org/x/crypto/bcrypt"
)

// fast are small Argon2id parameters that keep the tests quick; one test uses the defaults.
var fast = Params{Memory: 64, Iterations: 1, Parallelism: 1}

func newFast(t *testing.T, opts ...Option) *Hasher {
	t.Helper()
	return NewHasher(fast, opts...)
}

func mustHash(t *testing.T, h *Hasher, pw string) string {
	t.Helper()
	enc, err := h.Hash(context.Background(), pw)
	if err != nil {
		t.Fatalf("Hash(%q): %v", pw, err)
	}
	return enc
}

var phcPattern = regexp.MustCompile(`^\$argon2id\$v=19\$m=64,t=1,p=1\$[A-Za-z0-9+/]{22}\$[A-Za-z0-9+/]{43}$`)

func TestHashFormat(t *testing.T) {
	h := newFast(t)
	enc := mustHash(t, h, "correct horse battery staple")
	if !phcPattern.MatchString(enc) {
		t.Fatalf("Hash = %q, want an Argon2id PHC string with a 16-byte salt and a 32-byte key", enc)
	}
	if again := mustHash(t, h, "correct horse battery staple"); again == enc {
		t.Error("two hashes of one password are equal: the salt is not random")
	}
}

// With a known salt the output is exactly the reference encoding of argon2.IDKey's result.
func TestHashEncodingWithInjectedRand(t *testing.T) {
	h := newFast(t, WithRand(bytes.NewReader(make([]byte, 16))))
	enc := mustHash(t, h, "password")
	key := argon2.IDKey([]byte("password"), make([]byte, 16), 1, 64, 1, 32)
	want := "$argon2id$v=19$m=64,t=1,p=1$AAAAAAAAAAAAAAAAAAAAAA$" + b64.EncodeToString(key)
	if enc != want {
		t.Fatalf("Hash = %q, want %q", enc, want)
	}
}

func TestHashRandFailure(t *testing.T) {
	h := newFast(t, WithRand(bytes.NewReader(nil)))
	if _, err := h.Hash(context.Background(), "password"); err == nil {
		t.Fatal("Hash with an empty random source succeeded")
	}
}

func TestHashVerifyRoundTrip(t *testing.T) {
	long := strings.Repeat("abcdefghij", 15) // 150 bytes: beyond bcrypt's 72
	tests := []struct {
		name, hashed, verified string
		want                   bool
	}{
		{"ascii", "correct horse battery staple", "correct horse battery staple", true},
		{"ascii wrong", "correct horse battery staple", "correct horse battery stapler", false},
		{"case matters", "Password", "password", false},
		{"unicode", "пароль-密码-🔑", "пароль-密码-🔑", true},
		{"empty", "", "", true},
		{"ligature fi verifies as f i", "ﬁnance", "finance", true},
		{"f i verifies as ligature fi", "finance", "ﬁnance", true},
		{"composed é verifies decomposed", "caf\u00e9", "cafe\u0301", true},
		{"decomposed é verifies composed", "cafe\u0301", "caf\u00e9", true},
		{"fullwidth verifies ascii", "ＡＢＣ１２３", "ABC123", true},
		{"invalid utf-8", "\xffab\xfe", "\xffab\xfe", true},
		{"invalid utf-8 wrong", "\xffab\xfe", "\xfeab\xff", false},
		{"long", long, long, true},
		{"long differs at byte 100", long, long[:100] + "X" + long[101:], false},
		{"long prefix only", long, long[:72], false},
	}
	h := newFast(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			enc := mustHash(t, h, tt.hashed)
			ok, rehash, err := h.Verify(context.Background(), tt.verified, enc)
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			if ok != tt.want || rehash {
				t.Fatalf("Verify = ok %v, needsRehash %v; want ok %v, needsRehash false", ok, rehash, tt.want)
			}
		})
	}
}

// The test vector of the reference implementation (phc-winner-argon2, test.c), written by it: the
// PHC form is interoperable both ways.
func TestVerifyReferenceVector(t *testing.T) {
	const ref = "$argon2id$v=19$m=256,t=2,p=1$c29tZXNhbHQ$nf65EOgLrQMR/uIPnA4rEsF5h7TKyQwu9U1bMCHGi/4"
	h := newFast(t)
	ok, rehash, err := h.Verify(context.Background(), "password", ref)
	if err != nil || !ok || !rehash {
		t.Fatalf("Verify(reference) = %v, %v, %v; want true, true (other params), nil", ok, rehash, err)
	}
	if ok, _, _ := h.Verify(context.Background(), "Password", ref); ok {
		t.Fatal("Verify(reference) accepted a wrong password")
	}
	p, err := parsePHC(ref)
	if err != nil {
		t.Fatal(err)
	}
	if p.String() != ref {
		t.Fatalf("re-encoded reference = %q, want %q", p.String(), ref)
	}
}

func TestVerifyNeedsRehash(t *testing.T) {
	old := newFast(t)
	enc := mustHash(t, old, "hunter2 hunter2")
	tests := []struct {
		name   string
		params Params
		want   bool
	}{
		{"same params", fast, false},
		{"more memory", Params{Memory: 128, Iterations: 1, Parallelism: 1}, true},
		{"more iterations", Params{Memory: 64, Iterations: 2, Parallelism: 1}, true},
		{"more lanes", Params{Memory: 64, Iterations: 1, Parallelism: 2}, true},
		{"longer salt", Params{Memory: 64, Iterations: 1, Parallelism: 1, SaltLen: 32}, true},
		{"longer key", Params{Memory: 64, Iterations: 1, Parallelism: 1, KeyLen: 64}, true},
		{"other concurrency only", Params{Memory: 64, Iterations: 1, Parallelism: 1, MaxConcurrent: 7}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := NewHasher(tt.params)
			ok, rehash, err := h.Verify(context.Background(), "hunter2 hunter2", enc)
			if err != nil || !ok || rehash != tt.want {
				t.Fatalf("Verify = %v, %v, %v; want true, %v, nil", ok, rehash, err, tt.want)
			}
			ok, rehash, err = h.Verify(context.Background(), "hunter3 hunter3", enc)
			if err != nil || ok || rehash {
				t.Fatalf("Verify(wrong) = %v, %v, %v; want false, false, nil", ok, rehash, err)
			}
		})
	}
}

func TestVerifyBcrypt(t *testing.T) {
	const pw = "legacy password"
	b, err := bcrypt.GenerateFromPassword([]byte(pw), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	a := string(b)
	if !strings.HasPrefix(a, "$2a$") {
		t.Fatalf("x/crypto wrote %q, expected the $2a$ prefix", a[:4])
	}
	h := newFast(t)
	for _, prefix := range []string{"$2a$", "$2b$", "$2y$"} {
		enc := prefix + a[4:]
		t.Run(prefix, func(t *testing.T) {
			ok, rehash, err := h.Verify(context.Background(), pw, enc)
			if err != nil || !ok || !rehash {
				t.Fatalf("Verify = %v, %v, %v; want true, true, nil", ok, rehash, err)
			}
			ok, rehash, err = h.Verify(context.Background(), pw+"!", enc)
			if err != nil || ok || rehash {
				t.Fatalf("Verify(wrong) = %v, %v, %v; want false, false, nil", ok, rehash, err)
			}
		})
	}
}

// bcrypt reads only 72 bytes; a longer candidate must not match on its first 72 bytes.
func TestVerifyBcryptNeverTruncates(t *testing.T) {
	pw72 := strings.Repeat("x", 72)
	b, err := bcrypt.GenerateFromPassword([]byte(pw72), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	if err := bcrypt.CompareHashAndPassword(b, []byte(pw72+"tail")); err != nil {
		t.Fatalf("premise: x/crypto no longer matches on the first 72 bytes (%v); revisit the doc comment", err)
	}
	h := newFast(t)
	if ok, _, err := h.Verify(context.Background(), pw72, string(b)); err != nil || !ok {
		t.Fatalf("Verify(72 bytes) = %v, %v; want true", ok, err)
	}
	if ok, rehash, err := h.Verify(context.Background(), pw72+"tail", string(b)); err != nil || ok || rehash {
		t.Fatalf("Verify(76 bytes) = %v, %v, %v; want false, false, nil", ok, rehash, err)
	}
}

// A bcrypt hash from a system that did not normalise still verifies the password as typed.
func TestVerifyBcryptUnnormalised(t *testing.T) {
	decomposed := "cafe\u0301 au lait"
	b, err := bcrypt.GenerateFromPassword([]byte(decomposed), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	h := newFast(t)
	if ok, _, err := h.Verify(context.Background(), decomposed, string(b)); err != nil || !ok {
		t.Fatalf("Verify(as typed) = %v, %v; want true", ok, err)
	}
	// The normalised form of the same password is tried first and also works for a hash that the
	// old system made from normalised input.
	nb, err := bcrypt.GenerateFromPassword([]byte("caf\u00e9 au lait"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	if ok, _, err := h.Verify(context.Background(), decomposed, string(nb)); err != nil || !ok {
		t.Fatalf("Verify(normalised) = %v, %v; want true", ok, err)
	}
}

func TestVerifyMalformed(t *testing.T) {
	const salt = "c29tZXNhbHQ"
	const key = "nf65EOgLrQMR/uIPnA4rEsF5h7TKyQwu9U1bMCHGi/4"
	good, err := bcrypt.GenerateFromPassword([]byte("x"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	bc := string(good)
	tests := []struct {
		name, enc string
		want      error
	}{
		{"empty", "", ErrMalformedHash},
		{"plain text", "hunter2", ErrMalformedHash},
		{"unknown scheme", "$scrypt$ln=16,r=8,p=1$aM15713r3Xsvxbi31lqr1Q$nFNh2CVHVjNldFVKDHDlm4CbdRSCdEBsjjJxD+iCs5E", ErrMalformedHash},
		{"sha512crypt", "$6$rounds=5000$salt$hash", ErrMalformedHash},
		{"argon2id without fields", "$argon2id$", ErrMalformedHash},
		{"argon2i", "$argon2i$v=19$m=256,t=2,p=1$" + salt + "$" + key, ErrUnsupportedHash},
		{"argon2d", "$argon2d$v=19$m=256,t=2,p=1$" + salt + "$" + key, ErrUnsupportedHash},
		{"old version", "$argon2id$v=16$m=256,t=2,p=1$" + salt + "$" + key, ErrUnsupportedHash},
		{"no version", "$argon2id$m=256,t=2,p=1$" + salt + "$" + key, ErrMalformedHash},
		{"params out of order", "$argon2id$v=19$t=2,m=256,p=1$" + salt + "$" + key, ErrMalformedHash},
		{"missing param", "$argon2id$v=19$m=256,t=2$" + salt + "$" + key, ErrMalformedHash},
		{"keyid param", "$argon2id$v=19$m=256,t=2,p=1,keyid=abc$" + salt + "$" + key, ErrMalformedHash},
		{"leading zero", "$argon2id$v=19$m=0256,t=2,p=1$" + salt + "$" + key, ErrMalformedHash},
		{"signed number", "$argon2id$v=19$m=+256,t=2,p=1$" + salt + "$" + key, ErrMalformedHash},
		{"huge number", "$argon2id$v=19$m=99999999999999999999,t=2,p=1$" + salt + "$" + key, ErrMalformedHash},
		{"zero iterations", "$argon2id$v=19$m=256,t=0,p=1$" + salt + "$" + key, ErrMalformedHash},
		{"zero lanes", "$argon2id$v=19$m=256,t=2,p=0$" + salt + "$" + key, ErrMalformedHash},
		{"256 lanes", "$argon2id$v=19$m=4096,t=2,p=256$" + salt + "$" + key, ErrMalformedHash},
		{"memory below 8 KiB per lane", "$argon2id$v=19$m=15,t=2,p=2$" + salt + "$" + key, ErrMalformedHash},
		{"memory above bound", "$argon2id$v=19$m=4194304,t=2,p=1$" + salt + "$" + key, ErrUnsupportedHash},
		{"iterations above bound", "$argon2id$v=19$m=256,t=100000,p=1$" + salt + "$" + key, ErrUnsupportedHash},
		{"padded base64", "$argon2id$v=19$m=256,t=2,p=1$" + salt + "=$" + key, ErrMalformedHash},
		{"url base64", "$argon2id$v=19$m=256,t=2,p=1$" + salt + "$" + strings.ReplaceAll(key, "/", "_"), ErrMalformedHash},
		{"newline in base64", "$argon2id$v=19$m=256,t=2,p=1$c29tZX\nNhbHQ$" + key, ErrMalformedHash},
		{"non-canonical base64", "$argon2id$v=19$m=256,t=2,p=1$c29tZXNhbHR$" + key, ErrMalformedHash},
		{"short salt", "$argon2id$v=19$m=256,t=2,p=1$c29tZQ$" + key, ErrMalformedHash},
		{"short key", "$argon2id$v=19$m=256,t=2,p=1$" + salt + "$YWJj", ErrMalformedHash},
		{"empty key", "$argon2id$v=19$m=256,t=2,p=1$" + salt + "$", ErrMalformedHash},
		{"extra field", "$argon2id$v=19$m=256,t=2,p=1$" + salt + "$" + key + "$", ErrMalformedHash},
		{"bcrypt $2x$", "$2x$" + bc[4:], ErrUnsupportedHash},
		{"bcrypt $2$", "$2$" + bc[4:], ErrUnsupportedHash},
		{"bcrypt $2c$", "$2c$" + bc[4:], ErrMalformedHash},
		{"bcrypt truncated", bc[:59], ErrMalformedHash},
		{"bcrypt too long", bc + "A", ErrMalformedHash},
		{"bcrypt bad cost", "$2a$1x" + bc[6:], ErrMalformedHash},
		{"bcrypt cost 3", "$2a$03" + bc[6:], ErrUnsupportedHash},
		{"bcrypt cost 31", "$2a$31" + bc[6:], ErrUnsupportedHash},
		{"bcrypt bad alphabet", bc[:59] + "+", ErrMalformedHash},
		{"bcrypt missing separator", "$2a$04x" + bc[7:], ErrMalformedHash},
	}
	h := newFast(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ok, rehash, err := h.Verify(context.Background(), "password", tt.enc)
			if ok || rehash || !errors.Is(err, tt.want) {
				t.Fatalf("Verify = %v, %v, %v; want false, false and an error wrapping %v", ok, rehash, err, tt.want)
			}
			if len(tt.enc) > 20 && strings.Contains(err.Error(), tt.enc[len(tt.enc)-20:]) {
				t.Fatalf("error %q quotes the stored hash", err)
			}
		})
	}
}

func TestDummyVerify(t *testing.T) {
	var slots atomic.Int32
	h := newFast(t)
	h.inside = func() { slots.Add(1) }
	if err := h.DummyVerify(context.Background(), "anything"); err != nil {
		t.Fatalf("DummyVerify: %v", err)
	}
	if slots.Load() != 1 {
		t.Fatalf("DummyVerify took %d hashing slots, want 1 (it must do the work)", slots.Load())
	}
	// The dummy is an ordinary hash with the current parameters, so it costs what a real one costs,
	// and nothing verifies against it.
	if !strings.HasPrefix(h.dummy, "$argon2id$v=19$m=64,t=1,p=1$") {
		t.Fatalf("dummy hash %q does not use the current parameters", h.dummy)
	}
	for _, pw := range []string{"", "anything", "password"} {
		if ok, _, err := h.Verify(context.Background(), pw, h.dummy); ok || err != nil {
			t.Fatalf("Verify(%q, dummy) = %v, %v; want false, nil", pw, ok, err)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := h.DummyVerify(ctx, "anything"); !errors.Is(err, context.Canceled) {
		t.Fatalf("DummyVerify(cancelled) = %v, want context.Canceled", err)
	}
}

// The semaphore admits at most MaxConcurrent hashes; callers beyond wait, and give up when their
// context ends. No timing is involved: hashes inside the bound are held until the test lets them go.
func TestConcurrencyBound(t *testing.T) {
	const limit, callers = 2, 6
	h := NewHasher(Params{Memory: 64, Iterations: 1, Parallelism: 1, MaxConcurrent: limit})
	var cur, peak atomic.Int32
	entered := make(chan struct{}, callers+2)
	release := make(chan struct{})
	h.inside = func() {
		n := cur.Add(1)
		for {
			p := peak.Load()
			if n <= p || peak.CompareAndSwap(p, n) {
				break
			}
		}
		entered <- struct{}{}
		<-release
		cur.Add(-1)
	}

	enc := mustHashWithoutHook(t, fast, "password")
	var wg sync.WaitGroup
	errs := make(chan error, callers)
	for i := range callers {
		wg.Go(func() {
			var err error
			switch i % 3 {
			case 0:
				_, err = h.Hash(context.Background(), "password")
			case 1:
				_, _, err = h.Verify(context.Background(), "password", enc)
			default:
				err = h.DummyVerify(context.Background(), "password")
			}
			errs <- err
		})
	}
	for range limit {
		<-entered
	}
	// Both slots are taken and held: a caller whose context is already done gets no slot.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := h.Hash(ctx, "password"); !errors.Is(err, context.Canceled) {
		t.Fatalf("Hash with a full semaphore and a cancelled context = %v, want context.Canceled", err)
	}
	// A caller that starts waiting and is then cancelled gives up with the context's error.
	waitCtx, stop := context.WithCancel(context.Background())
	waited := make(chan error, 1)
	go func() {
		_, _, err := h.Verify(waitCtx, "password", enc)
		waited <- err
	}()
	stop()
	if err := <-waited; !errors.Is(err, context.Canceled) {
		t.Fatalf("Verify cancelled while waiting = %v, want context.Canceled", err)
	}

	close(release)
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatalf("hash inside the bound failed: %v", err)
		}
	}
	if got := peak.Load(); got != limit {
		t.Fatalf("peak concurrent hashes = %d, want %d", got, limit)
	}
	if n := len(entered); n != callers-limit {
		t.Fatalf("%d more hashes ran after the release, want %d (cancelled callers must not hash)", n, callers-limit)
	}
}

func mustHashWithoutHook(t *testing.T, p Params, pw string) string {
	t.Helper()
	return mustHash(t, NewHasher(p), pw)
}

func TestDefaultParams(t *testing.T) {
	h := NewHasher(Params{})
	p := h.Params()
	if p.Memory != 19456 || p.Iterations != 2 || p.Parallelism != 1 || p.SaltLen != 16 || p.KeyLen != 32 || p.MaxConcurrent < 1 {
		t.Fatalf("default params = %+v", p)
	}
	if p != DefaultParams() {
		t.Fatalf("Params() = %+v, DefaultParams() = %+v", p, DefaultParams())
	}
	enc := mustHash(t, h, "correct horse battery staple")
	if !strings.HasPrefix(enc, "$argon2id$v=19$m=19456,t=2,p=1$") {
		t.Fatalf("Hash = %q, want the OWASP parameters m=19456,t=2,p=1", enc)
	}
	ok, rehash, err := h.Verify(context.Background(), "correct horse battery staple", enc)
	if err != nil || !ok || rehash {
		t.Fatalf("Verify = %v, %v, %v; want true, false, nil", ok, rehash, err)
	}
}

func TestParamsValidate(t *testing.T) {
	tests := []struct {
		name   string
		params Params
		ok     bool
	}{
		{"zero takes defaults", Params{}, true},
		{"small for tests", fast, true},
		{"memory below 8 KiB per lane", Params{Memory: 15, Parallelism: 2}, false},
		{"memory above 1 GiB", Params{Memory: 1<<20 + 1}, false},
		{"iterations above bound", Params{Iterations: 1025}, false},
		{"short salt", Params{SaltLen: 8}, false},
		{"long salt", Params{SaltLen: 65}, false},
		{"short key", Params{KeyLen: 8}, false},
		{"long key", Params{KeyLen: 65}, false},
		{"negative concurrency", Params{MaxConcurrent: -1}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.params.Validate()
			if (err == nil) != tt.ok {
				t.Fatalf("Validate() = %v, want ok %v", err, tt.ok)
			}
			if !tt.ok {
				defer func() {
					if recover() == nil {
						t.Fatal("NewHasher accepted invalid params")
					}
				}()
				NewHasher(tt.params)
			}
		})
	}
}
