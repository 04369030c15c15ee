package token_test

import (
	"testing"

	"github.com/gatehouse/gatehouse/internal/token"
)

// Run: go test -run '^$' -bench . -benchmem ./internal/token/

func benchmarkIssue(b *testing.B, alg string) {
	e := newEnv(b, alg, algOption(alg))
	claims := token.AccessClaims{Subject: "0192f7a4-5d2c-7c1e-9a3b-1f2e3d4c5b6a", SessionID: "0192f7a4-5d2c-7c1e-9a3b-000000000001", Roles: []string{"user"}}
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := e.tokens.Issue(claims); err != nil {
			b.Fatal(err)
		}
	}
}

// benchmarkVerify verifies one token repeatedly, as an API client reusing its access token does.
func benchmarkVerify(b *testing.B, alg string) {
	for _, tc := range []struct {
		name string
		size int
	}{{"cache", 0}, {"nocache", -1}} {
		b.Run(tc.name, func(b *testing.B) {
			e := newEnv(b, alg, algOption(alg), withOptions(func(o *token.Options) { o.CacheSize = tc.size }))
			s := e.issue(b)
			b.ReportAllocs()
			for b.Loop() {
				if _, err := e.tokens.Verify(s); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(tc.name+"-parallel", func(b *testing.B) {
			e := newEnv(b, alg, algOption(alg), withOptions(func(o *token.Options) { o.CacheSize = tc.size }))
			tokens := make([]string, 64)
			for i := range tokens {
				tokens[i] = e.issue(b)
			}
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				i := 0
				for pb.Next() {
					if _, err := e.tokens.Verify(tokens[i%len(tokens)]); err != nil {
						b.Error(err)
						return
					}
					i++
				}
			})
		})
	}
}

func BenchmarkIssueEdDSA(b *testing.B)  { benchmarkIssue(b, token.EdDSA) }
func BenchmarkIssueES256(b *testing.B)  { benchmarkIssue(b, token.ES256) }
func BenchmarkVerifyEdDSA(b *testing.B) { benchmarkVerify(b, token.EdDSA) }
func BenchmarkVerifyES256(b *testing.B) { benchmarkVerify(b, token.ES256) }
