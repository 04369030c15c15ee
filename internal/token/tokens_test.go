package token_test

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/lestrrat-go/jwx/v3/jwk"
	"github.com/lestrrat-go/jwx/v3/jws"
	"github.com/lestrrat-go/jwx/v3/jwt"

	"github.com/gatehouse/gatehouse/internal/token"
)

var algorithms = []string{token.EdDSA, token.ES256}

func TestIssueVerifyRoundTrip(t *testing.T) {
	for _, alg := range algorithms {
		t.Run(alg, func(t *testing.T) {
			e := newEnv(t, alg, algOption(alg))
			authTime := epoch.Add(-time.Minute)
			in := token.AccessClaims{
				Subject: "0192f7a4-acc", SessionID: "0192f7a4-ses", Roles: []string{"user", "admin"},
				AuthTime: authTime, AMR: []string{"pwd", "otp"},
			}
			s, exp, err := e.tokens.Issue(in)
			if err != nil {
				t.Fatalf("Issue: %v", err)
			}
			if want := epoch.Add(token.DefaultAccessTTL); !exp.Equal(want) {
				t.Errorf("expiresAt = %v, want %v", exp, want)
			}
			c, err := e.tokens.Verify(s)
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			kid := activeKID(t, e.km)
			checks := []struct {
				name      string
				got, want any
			}{
				{"Subject", c.Subject, in.Subject},
				{"SessionID", c.SessionID, in.SessionID},
				{"Roles", c.Roles, in.Roles},
				{"AMR", c.AMR, in.AMR},
				{"AuthTime", c.AuthTime.Unix(), authTime.Unix()},
				{"ClientID", c.ClientID, token.DefaultClientID},
				{"Issuer", c.Issuer, testIssuer},
				{"Audience", c.Audience, []string{testAudience}},
				{"IssuedAt", c.IssuedAt.Unix(), epoch.Unix()},
				{"NotBefore", c.NotBefore.Unix(), epoch.Unix()},
				{"ExpiresAt", c.ExpiresAt.Unix(), exp.Unix()},
				{"KeyID", c.KeyID, kid},
				{"ID length", len(c.ID), 22},
			}
			for _, ch := range checks {
				gb, _ := json.Marshal(ch.got)
				wb, _ := json.Marshal(ch.want)
				if string(gb) != string(wb) {
					t.Errorf("%s = %s, want %s", ch.name, gb, wb)
				}
			}

			// The header is exactly alg, kid and typ.
			parts := strings.Split(s, ".")
			var header map[string]any
			if err := json.Unmarshal(mustB64(t, parts[0]), &header); err != nil {
				t.Fatal(err)
			}
			wantHeader := map[string]any{"alg": alg, "kid": kid, "typ": "at+jwt"}
			if hj, wj := mustJSON(t, header), mustJSON(t, wantHeader); hj != wj {
				t.Errorf("header = %s, want %s", hj, wj)
			}
			var claims map[string]any
			if err := json.Unmarshal(mustB64(t, parts[1]), &claims); err != nil {
				t.Fatal(err)
			}
			for _, name := range []string{"iss", "aud", "sub", "sid", "jti", "iat", "nbf", "exp", "roles", "client_id", "auth_time", "amr"} {
				if _, ok := claims[name]; !ok {
					t.Errorf("claim %s missing from %v", name, claims)
				}
			}

			// Two tokens never share a jti.
			s2, _, err := e.tokens.Issue(in)
			if err != nil {
				t.Fatal(err)
			}
			c2, err := e.tokens.Verify(s2)
			if err != nil {
				t.Fatal(err)
			}
			if c2.ID == c.ID {
				t.Errorf("two tokens share jti %s", c.ID)
			}
		})
	}
}

func TestIssueWithoutRolesWritesEmptyList(t *testing.T) {
	e := newEnv(t, token.EdDSA)
	s, _, err := e.tokens.Issue(token.AccessClaims{Subject: "a", SessionID: "s"})
	if err != nil {
		t.Fatal(err)
	}
	if payload := string(mustB64(t, strings.Split(s, ".")[1])); !strings.Contains(payload, `"roles":[]`) || strings.Contains(payload, "auth_time") || strings.Contains(payload, "amr") {
		t.Errorf("payload = %s, want roles [] and no auth_time or amr", payload)
	}
}

func TestIssueRequiresSubjectSessionAndKey(t *testing.T) {
	e := newEnv(t, token.EdDSA)
	for _, c := range []token.AccessClaims{{SessionID: "s"}, {Subject: "a"}} {
		if _, _, err := e.tokens.Issue(c); err == nil {
			t.Errorf("Issue(%+v) succeeded, want an error", c)
		}
	}
	_, unloaded := e.node(t)
	if _, _, err := unloaded.Issue(token.AccessClaims{Subject: "a", SessionID: "s"}); err == nil {
		t.Error("Issue before Load succeeded, want an error")
	}
	_, err := unloaded.Verify(e.issue(t))
	assertReject(t, err, token.ReasonTokenInvalid)
}

// TestVerifiedByIndependentLibrary checks the token with lestrrat-go/jwx against the JWKS bytes alone,
// as a service in another language would.
func TestVerifiedByIndependentLibrary(t *testing.T) {
	for _, alg := range algorithms {
		t.Run(alg, func(t *testing.T) {
			e := newEnv(t, alg, algOption(alg))
			s, _, err := e.tokens.Issue(token.AccessClaims{Subject: "acc_1", SessionID: "ses_1", Roles: []string{"admin"}})
			if err != nil {
				t.Fatal(err)
			}
			set, err := jwk.Parse(e.km.JWKS())
			if err != nil {
				t.Fatalf("jwk.Parse: %v", err)
			}
			clock := jwt.ClockFunc(func() time.Time { return epoch.Add(time.Minute) })
			tok, err := jwt.Parse([]byte(s), jwt.WithKeySet(set), jwt.WithIssuer(testIssuer),
				jwt.WithAudience(testAudience), jwt.WithClock(clock))
			if err != nil {
				t.Fatalf("jwx jwt.Parse: %v", err)
			}
			if sub, _ := tok.Subject(); sub != "acc_1" {
				t.Errorf("jwx sub = %q", sub)
			}
			var sid string
			if err := tok.Get("sid", &sid); err != nil || sid != "ses_1" {
				t.Errorf("jwx sid = %q, %v", sid, err)
			}
			msg, err := jws.ParseString(s)
			if err != nil {
				t.Fatal(err)
			}
			if typ, _ := msg.Signatures()[0].ProtectedHeaders().Type(); typ != "at+jwt" {
				t.Errorf("jwx typ = %q", typ)
			}

			// jwx refuses it after expiry and with another audience, as we do.
			late := jwt.ClockFunc(func() time.Time { return epoch.Add(time.Hour) })
			if _, err := jwt.Parse([]byte(s), jwt.WithKeySet(set), jwt.WithClock(late)); err == nil {
				t.Error("jwx accepted an expired token")
			}
			if _, err := jwt.Parse([]byte(s), jwt.WithKeySet(set), jwt.WithClock(clock), jwt.WithAudience("other")); err == nil {
				t.Error("jwx accepted another audience")
			}
			// And a tampered one.
			bad := tamper(s, 1, func(b []byte) []byte { return []byte(strings.Replace(string(b), "acc_1", "acc_2", 1)) })
			if _, err := jwt.Parse([]byte(bad), jwt.WithKeySet(set), jwt.WithClock(clock)); err == nil {
				t.Error("jwx accepted a tampered token")
			}
		})
	}
}

func TestVerifyRejects(t *testing.T) {
	for _, alg := range algorithms {
		t.Run(alg, func(t *testing.T) {
			e := newEnv(t, alg, algOption(alg), withOptions(func(o *token.Options) { o.CacheSize = -1 }))
			kid := activeKID(t, e.km)
			key := e.privateKey(t, kid)
			now := epoch
			valid := e.issue(t)

			pubDER, err := x509.MarshalPKIXPublicKey(key.Public)
			if err != nil {
				t.Fatal(err)
			}
			var rawPub []byte
			switch p := key.Public.(type) {
			case ed25519.PublicKey:
				rawPub = p
			case *ecdsa.PublicKey:
				rawPub, _ = p.Bytes()
			}
			jwks := e.km.JWKS()
			hs256 := func(secret []byte, kid string) string {
				header := map[string]any{"alg": "HS256", "typ": "at+jwt", "kid": kid}
				unsigned := rawToken(t, header, validClaims(now), nil)
				unsigned = strings.TrimSuffix(unsigned, ".")
				mac := hmac.New(sha256.New, secret)
				mac.Write([]byte(unsigned))
				return unsigned + "." + b64(mac.Sum(nil))
			}

			rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
			if err != nil {
				t.Fatal(err)
			}
			_, attackerEd, _ := ed25519.GenerateKey(rand.Reader)
			attackerEC, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
			attackerPub := jose.JSONWebKey{Key: attackerEd.Public(), KeyID: "attacker", Algorithm: "EdDSA", Use: "sig"}
			attackerAlg, attackerKey := jose.EdDSA, any(attackerEd)
			if alg == token.ES256 {
				attackerAlg, attackerKey = jose.ES256, any(attackerEC)
				attackerPub = jose.JSONWebKey{Key: &attackerEC.PublicKey, KeyID: "attacker", Algorithm: "ES256", Use: "sig"}
			}
			at := map[string]any{"typ": "at+jwt"}
			with := func(m map[string]any, kv ...any) map[string]any {
				out := map[string]any{}
				for k, v := range m {
					out[k] = v
				}
				for i := 0; i < len(kv); i += 2 {
					out[kv[i].(string)] = kv[i+1]
				}
				return out
			}
			claimsWith := func(kv ...any) map[string]any { return with(validClaims(now), kv...) }
			claimsWithout := func(name string) map[string]any {
				c := validClaims(now)
				delete(c, name)
				return c
			}

			// Positive controls: the hand-made tokens pass when nothing is wrong, so each rejection
			// below is caused by its one defect.
			for name, s := range map[string]string{
				"issued":                   valid,
				"hand-signed":              signWithKey(t, key, nil, validClaims(now)),
				"typ application/at+jwt":   signWithKey(t, key, map[string]any{"typ": "application/at+jwt"}, validClaims(now)),
				"typ upper case":           signWithKey(t, key, map[string]any{"typ": "AT+JWT"}, validClaims(now)),
				"aud array with ours":      signWithKey(t, key, nil, claimsWith("aud", []string{"other", testAudience})),
				"nbf within leeway":        signWithKey(t, key, nil, claimsWith("nbf", now.Add(4*time.Second).Unix())),
				"fractional dates":         signWithKey(t, key, nil, claimsWith("iat", float64(now.Unix())+0.5, "exp", float64(now.Add(time.Minute).Unix())+0.25)),
				"unknown extra claim":      signWithKey(t, key, nil, claimsWith("foo", "bar")),
				"roles missing (optional)": signWithKey(t, key, nil, claimsWithout("roles")),
			} {
				if _, err := e.tokens.Verify(s); err != nil {
					t.Errorf("positive control %q: %v", name, err)
				}
			}

			cases := []struct {
				name   string
				token  string
				reason string
			}{
				{"empty", "", token.ReasonTokenInvalid},
				{"garbage", "garbage", token.ReasonTokenInvalid},
				{"three empty parts", "..", token.ReasonTokenInvalid},
				{"not base64", "a.b.c", token.ReasonTokenInvalid},
				{"two parts", strings.Join(strings.Split(valid, ".")[:2], "."), token.ReasonTokenInvalid},
				{"four parts", valid + ".x", token.ReasonTokenInvalid},
				{"whitespace around", " " + valid, token.ReasonTokenInvalid},
				{"bearer prefix", "Bearer " + valid, token.ReasonTokenInvalid},
				{"huge", strings.Repeat("a", 10_000), token.ReasonTokenInvalid},
				{"JSON serialization", `{"payload":"e30","signatures":[]}`, token.ReasonTokenInvalid},
				{"alg none", rawToken(t, with(at, "alg", "none", "kid", kid), validClaims(now), nil), token.ReasonTokenInvalid},
				{"alg None", rawToken(t, with(at, "alg", "None", "kid", kid), validClaims(now), nil), token.ReasonTokenInvalid},
				{"alg none with our signature", rawToken(t, with(at, "alg", "none", "kid", kid), validClaims(now), mustB64(t, strings.Split(valid, ".")[2])), token.ReasonTokenInvalid},
				{"no alg", rawToken(t, with(at, "kid", kid), validClaims(now), []byte("sig")), token.ReasonTokenInvalid},
				{"HS256 keyed with the raw public key", hs256(rawPub, kid), token.ReasonTokenInvalid},
				{"HS256 keyed with the PKIX public key", hs256(pubDER, kid), token.ReasonTokenInvalid},
				{"HS256 keyed with the JWKS", hs256(jwks, kid), token.ReasonTokenInvalid},
				{"RS256 attacker key, our kid", sign(t, jose.RS256, rsaKey, with(at, "kid", kid), validClaims(now)), token.ReasonTokenInvalid},
				{"attacker key, our kid", sign(t, attackerAlg, attackerKey, with(at, "kid", kid), validClaims(now)), token.ReasonTokenInvalid},
				{"attacker key, other algorithm, our kid", func() string {
					if alg == token.EdDSA {
						return sign(t, jose.ES256, attackerEC, with(at, "kid", kid), validClaims(now))
					}
					return sign(t, jose.EdDSA, attackerEd, with(at, "kid", kid), validClaims(now))
				}(), token.ReasonTokenInvalid},
				{"jwk header with attacker key, our kid", sign(t, attackerAlg, attackerKey, with(at, "kid", kid, "jwk", attackerPub), validClaims(now)), token.ReasonTokenInvalid},
				{"jwk header with attacker key, attacker kid", sign(t, attackerAlg, attackerKey, with(at, "kid", "attacker", "jwk", attackerPub), validClaims(now)), token.ReasonTokenInvalid},
				{"jwk header with attacker key, no kid", sign(t, attackerAlg, attackerKey, with(at, "jwk", attackerPub), validClaims(now)), token.ReasonTokenInvalid},
				{"jku header, attacker kid", sign(t, attackerAlg, attackerKey, with(at, "kid", "attacker", "jku", "https://attacker.test/jwks.json"), validClaims(now)), token.ReasonTokenInvalid},
				{"jku header, our kid", sign(t, attackerAlg, attackerKey, with(at, "kid", kid, "jku", "https://attacker.test/jwks.json"), validClaims(now)), token.ReasonTokenInvalid},
				{"x5u header, our kid", sign(t, attackerAlg, attackerKey, with(at, "kid", kid, "x5u", "https://attacker.test/cert.pem"), validClaims(now)), token.ReasonTokenInvalid},
				{"tampered payload", tamper(valid, 1, func(b []byte) []byte { return []byte(strings.Replace(string(b), "acc_1", "acc_2", 1)) }), token.ReasonTokenInvalid},
				{"tampered roles", tamper(valid, 1, func(b []byte) []byte { return []byte(strings.Replace(string(b), `"user"`, `"admin"`, 1)) }), token.ReasonTokenInvalid},
				{"tampered header", tamper(valid, 0, func(b []byte) []byte { return []byte(strings.Replace(string(b), `"at+jwt"`, `"at+JWT"`, 1)) }), token.ReasonTokenInvalid},
				{"tampered signature", tamper(valid, 2, func(b []byte) []byte { b[len(b)/2] ^= 1; return b }), token.ReasonTokenInvalid},
				{"truncated signature", tamper(valid, 2, func(b []byte) []byte { return b[:len(b)-1] }), token.ReasonTokenInvalid},
				{"empty signature", tamper(valid, 2, func([]byte) []byte { return nil }), token.ReasonTokenInvalid},
				{"unknown kid, our key", signWithKey(t, key, map[string]any{"kid": "unknown"}, validClaims(now)), token.ReasonTokenInvalid},
				{"no kid, our key", signWithKey(t, key, map[string]any{"kid": nil}, validClaims(now)), token.ReasonTokenInvalid},
				{"crit header", signWithKey(t, key, map[string]any{"crit": []string{"exp"}, "exp": 1}, validClaims(now)), token.ReasonTokenInvalid},
				{"typ JWT", signWithKey(t, key, map[string]any{"typ": "JWT"}, validClaims(now)), token.ReasonTokenInvalid},
				{"typ refresh", signWithKey(t, key, map[string]any{"typ": "refresh"}, validClaims(now)), token.ReasonTokenInvalid},
				{"typ id token", signWithKey(t, key, map[string]any{"typ": "id_token+jwt"}, validClaims(now)), token.ReasonTokenInvalid},
				{"typ empty", signWithKey(t, key, map[string]any{"typ": ""}, validClaims(now)), token.ReasonTokenInvalid},
				{"typ missing", signWithKey(t, key, map[string]any{"typ": nil}, validClaims(now)), token.ReasonTokenInvalid},
				{"typ not a string", signWithKey(t, key, map[string]any{"typ": 1}, validClaims(now)), token.ReasonTokenInvalid},
				{"wrong issuer", signWithKey(t, key, nil, claimsWith("iss", "https://evil.test")), token.ReasonTokenInvalid},
				{"issuer with trailing slash", signWithKey(t, key, nil, claimsWith("iss", testIssuer+"/")), token.ReasonTokenInvalid},
				{"no issuer", signWithKey(t, key, nil, claimsWithout("iss")), token.ReasonTokenInvalid},
				{"wrong audience", signWithKey(t, key, nil, claimsWith("aud", "https://other.test")), token.ReasonTokenInvalid},
				{"audience array without ours", signWithKey(t, key, nil, claimsWith("aud", []string{"a", "b"})), token.ReasonTokenInvalid},
				{"audience a number", signWithKey(t, key, nil, claimsWith("aud", 7)), token.ReasonTokenInvalid},
				{"no audience", signWithKey(t, key, nil, claimsWithout("aud")), token.ReasonTokenInvalid},
				{"expired", signWithKey(t, key, nil, claimsWith("iat", now.Add(-time.Hour).Unix(), "nbf", now.Add(-time.Hour).Unix(), "exp", now.Add(-time.Minute).Unix())), token.ReasonTokenExpired},
				{"not yet valid", signWithKey(t, key, nil, claimsWith("nbf", now.Add(time.Minute).Unix())), token.ReasonTokenInvalid},
				{"issued in the future", signWithKey(t, key, nil, claimsWith("iat", now.Add(time.Minute).Unix())), token.ReasonTokenInvalid},
				{"exp a string", signWithKey(t, key, nil, claimsWith("exp", "9999999999")), token.ReasonTokenInvalid},
				{"exp negative", signWithKey(t, key, nil, claimsWith("exp", -1)), token.ReasonTokenInvalid},
				{"exp huge", signWithKey(t, key, nil, claimsWith("exp", 1e300)), token.ReasonTokenInvalid},
				{"no exp", signWithKey(t, key, nil, claimsWithout("exp")), token.ReasonTokenInvalid},
				{"no nbf", signWithKey(t, key, nil, claimsWithout("nbf")), token.ReasonTokenInvalid},
				{"no iat", signWithKey(t, key, nil, claimsWithout("iat")), token.ReasonTokenInvalid},
				{"no sub", signWithKey(t, key, nil, claimsWithout("sub")), token.ReasonTokenInvalid},
				{"no sid", signWithKey(t, key, nil, claimsWithout("sid")), token.ReasonTokenInvalid},
				{"no jti", signWithKey(t, key, nil, claimsWithout("jti")), token.ReasonTokenInvalid},
				{"roles not a list", signWithKey(t, key, nil, claimsWith("roles", "admin")), token.ReasonTokenInvalid},
			}
			for _, tc := range cases {
				t.Run(tc.name, func(t *testing.T) {
					c, err := e.tokens.Verify(tc.token)
					t.Log(err)
					assertReject(t, err, tc.reason)
					if c != nil {
						t.Errorf("claims %+v returned with an error", c)
					}
				})
			}
		})
	}
}

func TestVerifyRejectsTokensOfAnotherDeployment(t *testing.T) {
	a, b := newEnv(t, token.EdDSA), newEnv(t, token.EdDSA)
	_, err := b.tokens.Verify(a.issue(t))
	assertReject(t, err, token.ReasonTokenInvalid)
}

func TestVerifyTimeWindow(t *testing.T) {
	for _, cache := range []int{0, -1} {
		t.Run(map[int]string{0: "cached", -1: "uncached"}[cache], func(t *testing.T) {
			e := newEnv(t, token.EdDSA, withOptions(func(o *token.Options) { o.CacheSize = cache }))
			s, exp, err := e.tokens.Issue(token.AccessClaims{Subject: "a", SessionID: "s"})
			if err != nil {
				t.Fatal(err)
			}
			steps := []struct {
				at     time.Time
				reason string // "" means valid
			}{
				{epoch, ""},
				{exp.Add(-time.Second), ""},
				{exp.Add(token.DefaultLeeway - time.Second), ""},
				{exp.Add(token.DefaultLeeway), token.ReasonTokenExpired},
				{exp.Add(time.Hour), token.ReasonTokenExpired},
			}
			for _, st := range steps {
				e.clock.Set(st.at)
				_, err := e.tokens.Verify(s)
				if st.reason == "" {
					if err != nil {
						t.Errorf("at %v: %v", st.at, err)
					}
					continue
				}
				assertReject(t, err, st.reason)
			}
			// A verifier whose clock runs behind sees nbf and iat in the future.
			e.clock.Set(epoch.Add(-token.DefaultLeeway))
			if _, err := e.tokens.Verify(s); err != nil {
				t.Errorf("within leeway before iat: %v", err)
			}
			e.clock.Set(epoch.Add(-token.DefaultLeeway - time.Second))
			_, err = e.tokens.Verify(s)
			assertReject(t, err, token.ReasonTokenInvalid)
		})
	}
}

func TestVerifyChecksIssuerAndAudienceOfOtherTokens(t *testing.T) {
	e := newEnv(t, token.EdDSA)
	cases := []struct {
		name  string
		opts  func(*token.Options)
		valid bool
	}{
		{"same settings", func(*token.Options) {}, true},
		{"other issuer", func(o *token.Options) { o.Issuer = "https://other.test" }, false},
		{"other audience", func(o *token.Options) { o.Audience = []string{"https://other-api.test"} }, false},
		{"several audiences, ours among them", func(o *token.Options) { o.Audience = []string{"x", testAudience} }, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			// Another node on the same store and keys, configured differently.
			km, other := e.node(t, withOptions(tc.opts))
			if err := km.Load(t.Context()); err != nil {
				t.Fatal(err)
			}
			s, _, err := other.Issue(token.AccessClaims{Subject: "a", SessionID: "s"})
			if err != nil {
				t.Fatal(err)
			}
			_, err = e.tokens.Verify(s)
			if tc.valid {
				if err != nil {
					t.Fatalf("Verify: %v", err)
				}
				return
			}
			assertReject(t, err, token.ReasonTokenInvalid)
		})
	}
}

func TestVerifyReturnsCopies(t *testing.T) {
	e := newEnv(t, token.EdDSA)
	s := e.issue(t)
	c1, err := e.tokens.Verify(s)
	if err != nil {
		t.Fatal(err)
	}
	c1.Roles[0] = "admin"
	c1.Audience[0] = "mutated"
	c2, err := e.tokens.Verify(s) // served from the cache
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(c2.Roles, []string{"user"}) || !slices.Equal(c2.Audience, []string{testAudience}) {
		t.Fatalf("cached claims changed through a returned copy: %+v", c2)
	}
}

func TestWithdrawnKey(t *testing.T) {
	// An operator withdraws a compromised key by expiring it at once; on refresh every node drops it,
	// cached tokens included, and creates a replacement because nothing can sign any more.
	e := newEnv(t, token.EdDSA)
	s := e.issue(t)
	if _, err := e.tokens.Verify(s); err != nil { // now cached
		t.Fatal(err)
	}
	kid := activeKID(t, e.km)
	if err := e.store.RetireKey(t.Context(), kid, epoch, epoch); err != nil {
		t.Fatal(err)
	}
	if err := e.km.Refresh(t.Context()); err != nil {
		t.Fatal(err)
	}
	_, err := e.tokens.Verify(s)
	assertReject(t, err, token.ReasonTokenInvalid)
	keys := e.km.Keys()
	if len(keys) != 1 || keys[0].ID == kid || keys[0].State != token.KeyActive || keys[0].Generation != 2 {
		t.Fatalf("Keys after withdrawal = %+v", keys)
	}
	c, err := e.tokens.Verify(e.issue(t))
	if err != nil || c.KeyID != keys[0].ID {
		t.Fatalf("token after withdrawal: %+v, %v", c, err)
	}
	if got := jwksKIDs(t, e.km.JWKS()); !slices.Equal(got, []string{keys[0].ID}) {
		t.Fatalf("JWKS kids = %v", got)
	}
}

func TestNewTokensValidatesOptions(t *testing.T) {
	e := newEnv(t, token.EdDSA)
	cases := []struct {
		name string
		opts token.Options
	}{
		{"no issuer", token.Options{Audience: []string{"a"}}},
		{"no audience", token.Options{Issuer: "i"}},
		{"empty audience", token.Options{Issuer: "i", Audience: []string{""}}},
		{"lifetime beyond the key overlap", token.Options{Issuer: "i", Audience: []string{"a"}, AccessTTL: 25 * time.Hour}},
		{"lifetime under a second", token.Options{Issuer: "i", Audience: []string{"a"}, AccessTTL: time.Millisecond}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := token.NewTokens(e.km, tc.opts); err == nil {
				t.Fatal("NewTokens succeeded, want an error")
			}
		})
	}
	if _, err := token.NewTokens(nil, token.Options{Issuer: "i", Audience: []string{"a"}}); err == nil {
		t.Error("NewTokens(nil) succeeded")
	}
	tk, err := token.NewTokens(e.km, token.Options{Issuer: "i", Audience: []string{"a"}, AccessTTL: 5 * time.Minute})
	if err != nil || tk.AccessTTL() != 5*time.Minute {
		t.Fatalf("NewTokens: %v, AccessTTL %v", err, tk.AccessTTL())
	}
}

func mustB64(t testing.TB, s string) []byte {
	t.Helper()
	d, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		t.Fatalf("base64 %q: %v", s, err)
	}
	return d
}

func mustJSON(t testing.TB, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
