package token_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/gatehouse/gatehouse"
	"github.com/gatehouse/gatehouse/internal/token"
)

// FuzzVerify feeds arbitrary strings to Verify: it must never panic, must fail with the documented
// 401 error, and may only accept tokens that this node issued. Seeds are in testdata/fuzz/FuzzVerify
// (malformed shapes) plus tokens issued here (valid ones and their mutations).
func FuzzVerify(f *testing.F) {
	e := newEnv(f, token.EdDSA, withOptions(func(o *token.Options) { o.CacheSize = 64 }))
	issued := map[string]bool{}
	for _, sub := range []string{"acc_1", "acc_2"} {
		s, _, err := e.tokens.Issue(token.AccessClaims{Subject: sub, SessionID: "ses", Roles: []string{"user"}})
		if err != nil {
			f.Fatal(err)
		}
		f.Add(s)
		f.Add(strings.TrimSuffix(s, s[strings.LastIndexByte(s, '.'):]) + ".")
		f.Add(s + s)
		issued[sub] = true
	}
	f.Fuzz(func(t *testing.T, s string) {
		c, err := e.tokens.Verify(s)
		if err == nil {
			if c == nil || !issued[c.Subject] || c.SessionID != "ses" || c.Issuer != testIssuer {
				t.Fatalf("Verify accepted %q as %+v", s, c)
			}
			return
		}
		if c != nil {
			t.Fatalf("claims returned with error %v", err)
		}
		var ge *gatehouse.Error
		if !errors.As(err, &ge) || ge.Code != gatehouse.EUNAUTHENTICATED ||
			(ge.Reason != token.ReasonTokenInvalid && ge.Reason != token.ReasonTokenExpired) {
			t.Fatalf("Verify error %#v", err)
		}
	})
}
