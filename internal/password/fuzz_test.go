package password

import (
	"errors"
	"strings"
	"testing"
)

// FuzzParsePHC feeds arbitrary stored hashes to the PHC parser (seeds in testdata/fuzz/FuzzParsePHC).
// It must never panic, must fail only with ErrMalformedHash or ErrUnsupportedHash, and anything it
// accepts must be within the verification bounds and re-encode to exactly the input (the parser
// accepts only canonical strings).
func FuzzParsePHC(f *testing.F) {
	f.Add("$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$CTFhFdXPJO1aFaMaO6Mm5c8y7cJHAph8ArZWb2GRPPc")
	f.Add("$argon2id$v=19$m=256,t=2,p=1$c29tZXNhbHQ$nf65EOgLrQMR/uIPnA4rEsF5h7TKyQwu9U1bMCHGi/4")
	f.Add("$argon2i$v=19$m=256,t=2,p=1$c29tZXNhbHQ$nf65EOgLrQMR/uIPnA4rEsF5h7TKyQwu9U1bMCHGi/4")
	f.Add("$argon2id$v=19$m=0256,t=2,p=1$c29tZXNhbHQ$=")
	f.Add("$argon2id$")
	f.Fuzz(func(t *testing.T, s string) {
		p, err := parsePHC(s)
		if err != nil {
			if !errors.Is(err, ErrMalformedHash) && !errors.Is(err, ErrUnsupportedHash) {
				t.Fatalf("parsePHC error %v wraps neither ErrMalformedHash nor ErrUnsupportedHash", err)
			}
			return
		}
		if p.memory > maxMemory || p.memory < 8*uint32(p.parallelism) || p.iterations < 1 || p.iterations > maxIterations ||
			p.parallelism < 1 || len(p.salt) < minPHCSalt || len(p.key) < minPHCKey ||
			len(p.salt) > maxPHCLength || len(p.key) > maxPHCLength {
			t.Fatalf("parsePHC accepted out-of-bounds values %+v", p)
		}
		if got := p.String(); got != s {
			t.Fatalf("parsePHC accepted a non-canonical string: re-encoded %q", got)
		}
	})
}

// FuzzParseBcrypt does the same for the bcrypt shape check.
func FuzzParseBcrypt(f *testing.F) {
	f.Add("$2a$10$N9qo8uLOickgx2ZMRZoMyeIjZAgcfl7p92ldGxad68LJZdL17lhWy")
	f.Add("$2y$04$abcdefghijklmnopqrstuu5U0Zcm3ktwOA9nA3rXLMOSYgy8bZ3Wm")
	f.Add("$2x$10$N9qo8uLOickgx2ZMRZoMyeIjZAgcfl7p92ldGxad68LJZdL17lhWy")
	f.Add("$2$")
	f.Fuzz(func(t *testing.T, s string) {
		got, err := parseBcrypt(s)
		if err != nil {
			if !errors.Is(err, ErrMalformedHash) && !errors.Is(err, ErrUnsupportedHash) {
				t.Fatalf("parseBcrypt error %v wraps neither ErrMalformedHash nor ErrUnsupportedHash", err)
			}
			return
		}
		if len(got) != bcryptHashLen || !strings.HasPrefix(got, "$2a$") || got[4:] != s[4:] {
			t.Fatalf("parseBcrypt(%q) = %q", s, got)
		}
	})
}
