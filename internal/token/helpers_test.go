package token_test

import (
	"bytes"
	"context"
	"crypto"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/gatehouse/gatehouse"
	"github.com/gatehouse/gatehouse/internal/token"
	"github.com/gatehouse/gatehouse/internal/token/tokentest"
)

const (
	testIssuer   = "https://auth.example.test"
	testAudience = "https://api.example.test"
)

var epoch = time.Date(2030, 6, 1, 12, 0, 0, 0, time.UTC)

// env is one node: a key manager and tokens over a shared store and clock.
type env struct {
	clock  *tokentest.Clock
	store  *tokentest.MemoryKeyStore
	encKey []byte
	km     *token.KeyManager
	tokens *token.Tokens
}

type envOption func(*token.KeyOptions, *token.Options)

func withKeyOptions(f func(*token.KeyOptions)) envOption {
	return func(ko *token.KeyOptions, _ *token.Options) { f(ko) }
}

func withOptions(f func(*token.Options)) envOption {
	return func(_ *token.KeyOptions, o *token.Options) { f(o) }
}

func newEncryptionKey(t testing.TB) []byte {
	t.Helper()
	k := make([]byte, token.EncryptionKeySize)
	if _, err := rand.Read(k); err != nil {
		t.Fatal(err)
	}
	return k
}

// newEnv builds a loaded node with a fresh store.
func newEnv(t testing.TB, alg string, opts ...envOption) *env {
	t.Helper()
	e := &env{clock: tokentest.NewClock(epoch), store: tokentest.NewMemoryKeyStore(), encKey: newEncryptionKey(t)}
	e.km, e.tokens = e.node(t, opts...)
	if err := e.km.Load(context.Background()); err != nil {
		t.Fatalf("Load: %v", err)
	}
	return e
}

// node builds another node over e's store, clock and encryption key (not loaded).
func (e *env) node(t testing.TB, opts ...envOption) (*token.KeyManager, *token.Tokens) {
	t.Helper()
	ko := token.KeyOptions{EncryptionKey: e.encKey, Now: e.clock.Now, ActivationDelay: -1}
	o := token.Options{Issuer: testIssuer, Audience: []string{testAudience}}
	for _, opt := range opts {
		opt(&ko, &o)
	}
	km, err := token.NewKeyManager(e.store, ko)
	if err != nil {
		t.Fatalf("NewKeyManager: %v", err)
	}
	tk, err := token.NewTokens(km, o)
	if err != nil {
		t.Fatalf("NewTokens: %v", err)
	}
	return km, tk
}

func algOption(alg string) envOption {
	return withKeyOptions(func(ko *token.KeyOptions) { ko.Algorithm = alg })
}

func (e *env) issue(t testing.TB) string {
	t.Helper()
	s, _, err := e.tokens.Issue(token.AccessClaims{Subject: "acc_1", SessionID: "ses_1", Roles: []string{"user"}})
	if err != nil {
		t.Fatalf("Issue: %v", err)
	}
	return s
}

// storedKeys returns the raw stored keys.
func (e *env) storedKeys(t testing.TB) []token.StoredKey {
	t.Helper()
	keys, err := e.store.ListKeys(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return keys
}

// privateKey opens the stored key kid, as an attacker who stole the database and the secret would.
func (e *env) privateKey(t testing.TB, kid string) *token.Key {
	t.Helper()
	for _, sk := range e.storedKeys(t) {
		if sk.ID == kid {
			k, err := token.OpenKey(sk, e.encKey)
			if err != nil {
				t.Fatal(err)
			}
			return k
		}
	}
	t.Fatalf("no stored key %s", kid)
	return nil
}

func activeKID(t testing.TB, km *token.KeyManager) string {
	t.Helper()
	for _, k := range km.Keys() {
		if k.State == token.KeyActive {
			return k.ID
		}
	}
	t.Fatal("no active key")
	return ""
}

// validClaims are claims that pass every check at the env clock's time.
func validClaims(now time.Time) map[string]any {
	return map[string]any{
		"iss": testIssuer, "aud": testAudience, "sub": "acc_1", "sid": "ses_1", "jti": "j1",
		"iat": now.Unix(), "nbf": now.Unix(), "exp": now.Add(10 * time.Minute).Unix(), "roles": []string{"admin"},
	}
}

// sign makes a compact JWS of claims with key under alg and the given extra protected headers (kid,
// typ, jwk, jku...), the way an attacker or another issuer would.
func sign(t testing.TB, alg jose.SignatureAlgorithm, key any, headers map[string]any, claims map[string]any) string {
	t.Helper()
	opts := &jose.SignerOptions{}
	for k, v := range headers {
		opts.WithHeader(jose.HeaderKey(k), v)
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: alg, Key: key}, opts)
	if err != nil {
		t.Fatalf("NewSigner: %v", err)
	}
	payload, err := json.Marshal(claims)
	if err != nil {
		t.Fatal(err)
	}
	obj, err := signer.Sign(payload)
	if err != nil {
		t.Fatalf("Sign: %v", err)
	}
	s, err := obj.CompactSerialize()
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// signWithKey signs claims with one of our own keys and chosen headers.
func signWithKey(t testing.TB, k *token.Key, headers map[string]any, claims map[string]any) string {
	t.Helper()
	h := map[string]any{"kid": k.ID, "typ": token.TokenType}
	for key, v := range headers {
		if v == nil {
			delete(h, key)
			continue
		}
		h[key] = v
	}
	var priv crypto.Signer = k.Private
	return sign(t, jose.SignatureAlgorithm(k.Algorithm), priv, h, claims)
}

// rawToken assembles a token from a header, claims and signature bytes without any library.
func rawToken(t testing.TB, header, claims map[string]any, sig []byte) string {
	t.Helper()
	hb, err := json.Marshal(header)
	if err != nil {
		t.Fatal(err)
	}
	cb, err := json.Marshal(claims)
	if err != nil {
		t.Fatal(err)
	}
	enc := base64.RawURLEncoding
	return enc.EncodeToString(hb) + "." + enc.EncodeToString(cb) + "." + enc.EncodeToString(sig)
}

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

// assertReject checks that err is the 401 error of Verify with the given reason.
func assertReject(t testing.TB, err error, reason string) {
	t.Helper()
	if err == nil {
		t.Fatalf("Verify succeeded, want %s", reason)
	}
	var ge *gatehouse.Error
	if !errors.As(err, &ge) {
		t.Fatalf("Verify error %T %v, want *gatehouse.Error", err, err)
	}
	if ge.Code != gatehouse.EUNAUTHENTICATED || ge.Reason != reason {
		t.Fatalf("Verify error code %q reason %q (%v), want %q %q", ge.Code, ge.Reason, err, gatehouse.EUNAUTHENTICATED, reason)
	}
}

// jwksKIDs lists the kids of a JWKS document.
func jwksKIDs(t testing.TB, doc []byte) []string {
	t.Helper()
	var set jose.JSONWebKeySet
	if err := json.Unmarshal(doc, &set); err != nil {
		t.Fatalf("JWKS %s: %v", doc, err)
	}
	var kids []string
	for _, k := range set.Keys {
		kids = append(kids, k.KeyID)
	}
	return kids
}

func containsBytes(haystack []byte, needles ...[]byte) bool {
	for _, n := range needles {
		if len(n) > 0 && bytes.Contains(haystack, n) {
			return true
		}
	}
	return false
}

func tamper(s string, part int, f func([]byte) []byte) string {
	parts := strings.Split(s, ".")
	b, err := base64.RawURLEncoding.DecodeString(parts[part])
	if err != nil {
		panic(err)
	}
	parts[part] = base64.RawURLEncoding.EncodeToString(f(b))
	return strings.Join(parts, ".")
}
