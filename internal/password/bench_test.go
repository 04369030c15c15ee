package password

import (
	"context"
	"testing"

	"golang.org/x/crypto/argon2"
)

// BenchmarkHashDefault is the floor for sign-in throughput: bare Argon2id with the default (OWASP)
// parameters, on every core (b.RunParallel with GOMAXPROCS goroutines), without the Hasher's
// normalisation, semaphore or encoding. ns/op is the inverse of the machine's hashing rate; the
// hashes/s metric states it directly. Run:
//
//	go test -run '^$' -bench 'Default$' -benchtime 100x ./internal/password
func BenchmarkHashDefault(b *testing.B) {
	p := DefaultParams()
	pw, salt := []byte("correct horse battery staple"), make([]byte, p.SaltLen)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			argon2.IDKey(pw, salt, p.Iterations, p.Memory, p.Parallelism, p.KeyLen)
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "hashes/s")
}

// BenchmarkVerifyDefault is Hasher.Verify of a default-parameter hash on every core, through the
// semaphore: the hashing part of a password sign-in. It should match BenchmarkHashDefault.
func BenchmarkVerifyDefault(b *testing.B) {
	h := NewHasher(Params{})
	enc, err := h.Hash(context.Background(), "correct horse battery staple")
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if ok, _, err := h.Verify(context.Background(), "correct horse battery staple", enc); !ok || err != nil {
				b.Fatalf("Verify = %v, %v", ok, err)
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "verifies/s")
}

// BenchmarkPolicyCheck is the default policy (length, identifiers, common list, zxcvbn) on a
// typical and on a maximum-length password.
func BenchmarkPolicyCheck(b *testing.B) {
	p := DefaultPolicy()
	p.MinScore = 3
	for _, bc := range []struct{ name, pw string }{
		{"typical", "vivid-otter-carpet-lagoon"},
		{"max length", "Zq8#mV2!pL4$wX9&kR7*tB3^nH6@yC1%Zq8#mV2!pL4$wX9&kR7*tB3^nH6@yC1%Zq8#mV2!pL4$wX9&kR7*tB3^nH6@yC1%Zq8#mV2!pL4$wX9&kR7*tB3^nH6@yC1%"},
	} {
		b.Run(bc.name, func(b *testing.B) {
			for b.Loop() {
				if err := p.Check(bc.pw, "alice@example.com", "+44 7700 900123"); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
