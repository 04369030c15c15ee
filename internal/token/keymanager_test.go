package token_test

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse"
	"github.com/gatehouse/gatehouse/internal/token"
	"github.com/gatehouse/gatehouse/internal/token/tokentest"
)

// barrierStore makes the first n ListKeys calls wait for each other after reading, so that n nodes
// all see the store as it was before any of them wrote: the worst interleaving of a simultaneous start.
type barrierStore struct {
	token.KeyStore
	calls atomic.Int32
	n     int32
	wg    sync.WaitGroup
}

func newBarrierStore(s token.KeyStore, n int) *barrierStore {
	b := &barrierStore{KeyStore: s, n: int32(n)}
	b.wg.Add(n)
	return b
}

func (b *barrierStore) ListKeys(ctx context.Context) ([]token.StoredKey, error) {
	keys, err := b.KeyStore.ListKeys(ctx)
	if b.calls.Add(1) <= b.n {
		b.wg.Done()
		b.wg.Wait()
	}
	return keys, err
}

// flakyStore fails every call while down is set.
type flakyStore struct {
	token.KeyStore
	down atomic.Bool
}

var errDown = errors.New("store down")

func (f *flakyStore) ListKeys(ctx context.Context) ([]token.StoredKey, error) {
	if f.down.Load() {
		return nil, errDown
	}
	return f.KeyStore.ListKeys(ctx)
}

func (f *flakyStore) InsertKey(ctx context.Context, k token.StoredKey) error {
	if f.down.Load() {
		return errDown
	}
	return f.KeyStore.InsertKey(ctx, k)
}

func newManager(t testing.TB, store token.KeyStore, clock *tokentest.Clock, encKey []byte, f func(*token.KeyOptions)) (*token.KeyManager, *token.Tokens) {
	t.Helper()
	ko := token.KeyOptions{EncryptionKey: encKey, Now: clock.Now, ActivationDelay: -1}
	if f != nil {
		f(&ko)
	}
	km, err := token.NewKeyManager(store, ko)
	if err != nil {
		t.Fatalf("NewKeyManager: %v", err)
	}
	tk, err := token.NewTokens(km, token.Options{Issuer: testIssuer, Audience: []string{testAudience}})
	if err != nil {
		t.Fatalf("NewTokens: %v", err)
	}
	return km, tk
}

func TestLoadCreatesTheFirstKeyOnce(t *testing.T) {
	e := newEnv(t, token.EdDSA)
	keys := e.km.Keys()
	if len(keys) != 1 {
		t.Fatalf("Keys = %+v, want one", keys)
	}
	k := keys[0]
	if k.Generation != 1 || k.State != token.KeyActive || k.Algorithm != token.EdDSA ||
		!k.CreatedAt.Equal(epoch) || !k.ActivatesAt.Equal(epoch) || !k.RetiresAt.IsZero() || !k.ExpiresAt.IsZero() {
		t.Fatalf("first key = %+v", k)
	}
	if len(k.ID) != 22 {
		t.Errorf("kid %q is not 16 bytes of base64url", k.ID)
	}
	// Loading again, here or on another node, adds nothing.
	if err := e.km.Load(t.Context()); err != nil {
		t.Fatal(err)
	}
	km2, _ := e.node(t)
	if err := km2.Load(t.Context()); err != nil {
		t.Fatal(err)
	}
	if n := len(e.storedKeys(t)); n != 1 {
		t.Fatalf("%d stored keys after three loads, want 1", n)
	}
	if got := activeKID(t, km2); got != k.ID {
		t.Fatalf("second node signs with %s, want %s", got, k.ID)
	}
}

func TestConcurrentFirstLoadAgreesOnOneKey(t *testing.T) {
	for _, tc := range []struct {
		name    string
		barrier bool
	}{{"both read an empty store", true}, {"free race", false}} {
		t.Run(tc.name, func(t *testing.T) {
			for range 10 {
				const nodes = 3
				clock := tokentest.NewClock(epoch)
				mem := tokentest.NewMemoryKeyStore()
				var store token.KeyStore = mem
				if tc.barrier {
					store = newBarrierStore(mem, nodes)
				}
				encKey := newEncryptionKey(t)
				kms := make([]*token.KeyManager, nodes)
				tks := make([]*token.Tokens, nodes)
				for i := range nodes {
					kms[i], tks[i] = newManager(t, store, clock, encKey, nil)
				}
				errs := make([]error, nodes)
				var wg sync.WaitGroup
				for i := range nodes {
					wg.Go(func() { errs[i] = kms[i].Load(context.Background()) })
				}
				wg.Wait()
				for i, err := range errs {
					if err != nil {
						t.Fatalf("node %d Load: %v", i, err)
					}
				}
				stored, _ := mem.ListKeys(context.Background())
				if len(stored) != 1 {
					t.Fatalf("%d keys stored, want 1", len(stored))
				}
				for i := range nodes {
					if got := activeKID(t, kms[i]); got != stored[0].ID {
						t.Fatalf("node %d signs with %s, want %s", i, got, stored[0].ID)
					}
					s, _, err := tks[i].Issue(token.AccessClaims{Subject: "a", SessionID: "s"})
					if err != nil {
						t.Fatal(err)
					}
					for j := range nodes {
						if _, err := tks[j].Verify(s); err != nil {
							t.Fatalf("node %d rejects node %d's token: %v", j, i, err)
						}
					}
				}
			}
		})
	}
}

func TestRotation(t *testing.T) {
	for _, alg := range algorithms {
		t.Run(alg, func(t *testing.T) {
			e := newEnv(t, alg, algOption(alg))
			oldKID := activeKID(t, e.km)
			oldKey := e.privateKey(t, oldKID)
			oldToken := e.issue(t)
			// A token that would outlive its key (it cannot be issued, but a leaked key could make one).
			longLived := signWithKey(t, oldKey, nil, func() map[string]any {
				c := validClaims(epoch)
				c["exp"] = epoch.Add(100 * 24 * time.Hour).Unix()
				return c
			}())

			e.clock.Advance(time.Minute)
			info, err := e.km.Rotate(t.Context())
			if err != nil {
				t.Fatalf("Rotate: %v", err)
			}
			rotatedAt := epoch.Add(time.Minute)
			if info.ID == oldKID || info.Generation != 2 || info.State != token.KeyActive || !info.ActivatesAt.Equal(rotatedAt) || info.Algorithm != alg {
				t.Fatalf("Rotate = %+v", info)
			}

			newToken := e.issue(t)
			c, err := e.tokens.Verify(newToken)
			if err != nil {
				t.Fatal(err)
			}
			if c.KeyID != info.ID {
				t.Fatalf("new token signed by %s, want %s", c.KeyID, info.ID)
			}
			if _, err := e.tokens.Verify(oldToken); err != nil {
				t.Fatalf("token of the retired key rejected: %v", err)
			}
			if got, want := jwksKIDs(t, e.km.JWKS()), []string{info.ID, oldKID}; !slices.Equal(got, want) {
				t.Fatalf("JWKS kids = %v, want %v", got, want)
			}
			keys := e.km.Keys()
			if len(keys) != 2 || keys[1].ID != oldKID || keys[1].State != token.KeyRetired ||
				!keys[1].RetiresAt.Equal(rotatedAt) || !keys[1].ExpiresAt.Equal(rotatedAt.Add(token.DefaultOverlap)) {
				t.Fatalf("Keys after rotation = %+v", keys)
			}
			// The retirement is recorded in the store too.
			for _, sk := range e.storedKeys(t) {
				if sk.ID == oldKID && (!sk.RetiresAt.Equal(rotatedAt) || !sk.ExpiresAt.Equal(rotatedAt.Add(token.DefaultOverlap))) {
					t.Fatalf("stored retirement = %v / %v", sk.RetiresAt, sk.ExpiresAt)
				}
			}

			// Just before the old key expires it still verifies; at expiry it is gone everywhere.
			e.clock.Set(rotatedAt.Add(token.DefaultOverlap - time.Second))
			if _, err := e.tokens.Verify(longLived); err != nil {
				t.Fatalf("old key rejected before its expiry: %v", err)
			}
			e.clock.Set(rotatedAt.Add(token.DefaultOverlap))
			_, err = e.tokens.Verify(longLived)
			assertReject(t, err, token.ReasonTokenInvalid)
			if got := jwksKIDs(t, e.km.JWKS()); !slices.Equal(got, []string{info.ID}) {
				t.Fatalf("JWKS kids after expiry = %v, want only %s", got, info.ID)
			}
			if keys := e.km.Keys(); len(keys) != 1 || keys[0].ID != info.ID {
				t.Fatalf("Keys after expiry = %+v", keys)
			}
			// A fresh node ignores the expired key without needing it.
			km2, tk2 := e.node(t, algOption(alg))
			if err := km2.Load(t.Context()); err != nil {
				t.Fatal(err)
			}
			_, err = tk2.Verify(longLived)
			assertReject(t, err, token.ReasonTokenInvalid)
			if n := len(km2.Keys()); n != 1 {
				t.Fatalf("fresh node holds %d keys, want 1", n)
			}
		})
	}
}

func TestRotationWithActivationDelay(t *testing.T) {
	const delay = 5 * time.Minute
	e := newEnv(t, token.EdDSA, withKeyOptions(func(ko *token.KeyOptions) { ko.ActivationDelay = 0 })) // default
	oldKID := activeKID(t, e.km)
	nodeB, tokensB := e.node(t)
	if err := nodeB.Load(t.Context()); err != nil {
		t.Fatal(err)
	}

	info, err := e.km.Rotate(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if info.State != token.KeyPending || !info.ActivatesAt.Equal(epoch.Add(delay)) {
		t.Fatalf("Rotate = %+v, want pending until %v", info, epoch.Add(delay))
	}
	// Published at once, not signing yet.
	if got := jwksKIDs(t, e.km.JWKS()); !slices.Equal(got, []string{info.ID, oldKID}) {
		t.Fatalf("JWKS kids = %v", got)
	}
	if c, _ := e.tokens.Verify(e.issue(t)); c.KeyID != oldKID {
		t.Fatalf("signing with %s during the delay, want %s", c.KeyID, oldKID)
	}
	// Node B refreshes some time within the delay...
	e.clock.Advance(time.Minute)
	if err := nodeB.Refresh(t.Context()); err != nil {
		t.Fatal(err)
	}
	// ...and both switch at the activation time without another store read.
	e.clock.Set(epoch.Add(delay))
	for name, tk := range map[string]*token.Tokens{"A": e.tokens, "B": tokensB} {
		s, _, err := tk.Issue(token.AccessClaims{Subject: "a", SessionID: "s"})
		if err != nil {
			t.Fatal(err)
		}
		for vname, verifier := range map[string]*token.Tokens{"A": e.tokens, "B": tokensB} {
			c, err := verifier.Verify(s)
			if err != nil {
				t.Fatalf("node %s rejects node %s's token: %v", vname, name, err)
			}
			if c.KeyID != info.ID {
				t.Fatalf("node %s signs with %s after activation, want %s", name, c.KeyID, info.ID)
			}
		}
	}
	keys := e.km.Keys()
	if keys[0].State != token.KeyActive || keys[1].State != token.KeyRetired ||
		!keys[1].ExpiresAt.Equal(epoch.Add(delay+token.DefaultOverlap)) {
		t.Fatalf("Keys = %+v", keys)
	}
}

func TestConcurrentRotateConflicts(t *testing.T) {
	e := newEnv(t, token.EdDSA)
	store := newBarrierStore(e.store, 2)
	a, _ := newManager(t, store, e.clock, e.encKey, nil)
	b, _ := newManager(t, store, e.clock, e.encKey, nil)
	errs := make([]error, 2)
	var wg sync.WaitGroup
	for i, km := range []*token.KeyManager{a, b} {
		wg.Go(func() { _, errs[i] = km.Rotate(context.Background()) })
	}
	wg.Wait()
	codes := []string{gatehouse.ErrorCode(errs[0]), gatehouse.ErrorCode(errs[1])}
	slices.Sort(codes)
	if !slices.Equal(codes, []string{"", gatehouse.ECONFLICT}) {
		t.Fatalf("Rotate errors = %v, want one success and one conflict", errs)
	}
	if n := len(e.storedKeys(t)); n != 2 {
		t.Fatalf("%d keys stored, want 2", n)
	}
}

func TestAlgorithmChangeRotates(t *testing.T) {
	e := newEnv(t, token.EdDSA)
	edToken := e.issue(t)
	km, tk := e.node(t, algOption(token.ES256))
	if err := km.Load(t.Context()); err != nil {
		t.Fatal(err)
	}
	keys := km.Keys()
	if len(keys) != 2 || keys[0].Algorithm != token.ES256 || keys[0].State != token.KeyActive || keys[1].State != token.KeyRetired {
		t.Fatalf("Keys = %+v", keys)
	}
	s, _, err := tk.Issue(token.AccessClaims{Subject: "a", SessionID: "s"})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(string(mustB64(t, strings.Split(s, ".")[0])), `{"alg":"ES256"`) {
		t.Fatalf("header %s", mustB64(t, strings.Split(s, ".")[0]))
	}
	// EdDSA tokens keep verifying while their key is in its overlap.
	if _, err := tk.Verify(edToken); err != nil {
		t.Fatalf("EdDSA token rejected after the switch: %v", err)
	}
	var doc struct {
		Algs []string `json:"id_token_signing_alg_values_supported"`
	}
	if err := json.Unmarshal(km.OpenIDConfiguration(testIssuer), &doc); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(doc.Algs, []string{token.ES256, token.EdDSA}) {
		t.Fatalf("algorithms = %v", doc.Algs)
	}
	// Once the EdDSA key expires, EdDSA is refused outright.
	e.clock.Advance(token.DefaultOverlap)
	_, err = tk.Verify(edToken)
	assertReject(t, err, token.ReasonTokenInvalid)
}

func TestWrongEncryptionKeyFailsLoad(t *testing.T) {
	e := newEnv(t, token.EdDSA)
	km, _ := newManager(t, e.store, e.clock, newEncryptionKey(t), nil)
	err := km.Load(t.Context())
	if err == nil {
		t.Fatal("Load with the wrong encryption key succeeded")
	}
	if !errors.Is(err, token.ErrEncryptionKeyMismatch) || !strings.Contains(err.Error(), "encryption key") {
		t.Fatalf("Load error = %v, want one naming the encryption key", err)
	}
	if n := len(e.storedKeys(t)); n != 1 {
		t.Fatalf("Load with the wrong key changed the store: %d keys", n)
	}
}

func TestPreviousEncryptionKeysStillOpen(t *testing.T) {
	e := newEnv(t, token.EdDSA)
	old := e.issue(t)
	newKey := newEncryptionKey(t)
	km, tk := newManager(t, e.store, e.clock, newKey, func(ko *token.KeyOptions) {
		ko.PreviousEncryptionKeys = [][]byte{e.encKey}
	})
	if err := km.Load(t.Context()); err != nil {
		t.Fatalf("Load: %v", err)
	}
	if _, err := tk.Verify(old); err != nil {
		t.Fatal(err)
	}
	info, err := km.Rotate(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	for _, sk := range e.storedKeys(t) {
		if sk.ID == info.ID {
			if _, err := token.OpenKey(sk, newKey); err != nil {
				t.Fatalf("new key not sealed with the new encryption key: %v", err)
			}
		}
	}
}

func TestLoadRepairsAMissingRetirement(t *testing.T) {
	// A node crashed between inserting generation 2 and retiring generation 1.
	e := newEnv(t, token.EdDSA)
	oldKID := activeKID(t, e.km)
	nextKey := e.privateKey(t, oldKID) // reuse the material; only the record matters here
	nextKey.ID, nextKey.Generation = "next-generation-key-", 2
	nextKey.CreatedAt, nextKey.ActivatesAt = epoch.Add(time.Hour), epoch.Add(time.Hour)
	sk, err := token.SealKey(nextKey, e.encKey, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.store.InsertKey(t.Context(), sk); err != nil {
		t.Fatal(err)
	}
	if err := e.km.Refresh(t.Context()); err != nil {
		t.Fatal(err)
	}
	wantRetire, wantExpire := epoch.Add(time.Hour), epoch.Add(time.Hour+token.DefaultOverlap)
	keys := e.km.Keys()
	if len(keys) != 2 || keys[1].ID != oldKID || !keys[1].RetiresAt.Equal(wantRetire) || !keys[1].ExpiresAt.Equal(wantExpire) {
		t.Fatalf("Keys = %+v", keys)
	}
	for _, s := range e.storedKeys(t) {
		if s.ID == oldKID && (!s.RetiresAt.Equal(wantRetire) || !s.ExpiresAt.Equal(wantExpire)) {
			t.Fatalf("retirement not recorded: %v / %v", s.RetiresAt, s.ExpiresAt)
		}
	}
	// Until the successor activates, the old key signs.
	if got := activeKID(t, e.km); got != oldKID {
		t.Fatalf("active = %s, want %s", got, oldKID)
	}
	e.clock.Set(epoch.Add(time.Hour))
	if got := activeKID(t, e.km); got != "next-generation-key-" {
		t.Fatalf("active = %s after the successor's activation", got)
	}
}

func TestRefreshFailureKeepsTheKeys(t *testing.T) {
	e := newEnv(t, token.EdDSA)
	flaky := &flakyStore{KeyStore: e.store}
	km, tk := newManager(t, flaky, e.clock, e.encKey, nil)
	if err := km.Load(t.Context()); err != nil {
		t.Fatal(err)
	}
	flaky.down.Store(true)
	if err := km.Refresh(t.Context()); !errors.Is(err, errDown) {
		t.Fatalf("Refresh = %v, want the store error", err)
	}
	if _, err := km.Rotate(t.Context()); !errors.Is(err, errDown) {
		t.Fatalf("Rotate = %v, want the store error", err)
	}
	s, _, err := tk.Issue(token.AccessClaims{Subject: "a", SessionID: "s"})
	if err != nil {
		t.Fatalf("Issue with the store down: %v", err)
	}
	if _, err := tk.Verify(s); err != nil {
		t.Fatalf("Verify with the store down: %v", err)
	}
	// A node that never loaded cannot start while the store is down.
	km2, _ := newManager(t, flaky, e.clock, e.encKey, nil)
	if err := km2.Load(t.Context()); !errors.Is(err, errDown) {
		t.Fatalf("Load = %v, want the store error", err)
	}
}

func TestRefreshEvery(t *testing.T) {
	e := newEnv(t, token.EdDSA)
	nodeB, tokensB := e.node(t)
	if err := nodeB.Load(t.Context()); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() { nodeB.RefreshEvery(ctx, time.Millisecond); close(done) }()

	info, err := e.km.Rotate(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	s := e.issue(t)
	deadline := time.Now().Add(5 * time.Second)
	for {
		if _, err := tokensB.Verify(s); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("node B never learned key %s", info.ID)
		}
		time.Sleep(time.Millisecond)
	}
	cancel()
	<-done
}

func TestJWKSDocument(t *testing.T) {
	for _, tc := range []struct {
		alg    string
		fields map[string]string // member -> expected value ("" means present)
	}{
		{token.EdDSA, map[string]string{"kty": "OKP", "crv": "Ed25519", "x": "", "alg": "EdDSA", "use": "sig", "kid": ""}},
		{token.ES256, map[string]string{"kty": "EC", "crv": "P-256", "x": "", "y": "", "alg": "ES256", "use": "sig", "kid": ""}},
	} {
		t.Run(tc.alg, func(t *testing.T) {
			e := newEnv(t, tc.alg, algOption(tc.alg))
			doc := e.km.JWKS()
			var set struct {
				Keys []map[string]any `json:"keys"`
			}
			if err := json.Unmarshal(doc, &set); err != nil {
				t.Fatalf("JWKS %s: %v", doc, err)
			}
			if len(set.Keys) != 1 {
				t.Fatalf("JWKS = %s", doc)
			}
			k := set.Keys[0]
			if len(k) != len(tc.fields) {
				t.Errorf("JWK members = %v, want exactly %v", k, tc.fields)
			}
			for name, want := range tc.fields {
				got, ok := k[name].(string)
				if !ok || got == "" || (want != "" && got != want) {
					t.Errorf("JWK %s = %v, want %q", name, k[name], want)
				}
			}
			if _, private := k["d"]; private {
				t.Fatal("JWKS publishes the private key")
			}
			if k["kid"] != activeKID(t, e.km) {
				t.Errorf("kid = %v", k["kid"])
			}
			// Callers get their own copy.
			doc[0] = 'X'
			if e.km.JWKS()[0] != '{' {
				t.Fatal("JWKS returned its cached buffer")
			}
		})
	}
	t.Run("before Load", func(t *testing.T) {
		e := newEnv(t, token.EdDSA)
		km, _ := e.node(t)
		if got := string(km.JWKS()); got != `{"keys":[]}` {
			t.Fatalf("JWKS = %s", got)
		}
	})
}

func TestOpenIDConfiguration(t *testing.T) {
	e := newEnv(t, token.EdDSA)
	for _, issuer := range []string{testIssuer, testIssuer + "/"} {
		var doc map[string]any
		if err := json.Unmarshal(e.km.OpenIDConfiguration(issuer), &doc); err != nil {
			t.Fatal(err)
		}
		want := map[string]any{
			"issuer":                                issuer,
			"jwks_uri":                              testIssuer + "/.well-known/jwks.json",
			"subject_types_supported":               []any{"public"},
			"id_token_signing_alg_values_supported": []any{"EdDSA"},
		}
		if got, w := mustJSON(t, doc), mustJSON(t, want); got != w {
			t.Errorf("OpenIDConfiguration(%q) = %s, want %s", issuer, got, w)
		}
	}
}

func TestNewKeyManagerValidates(t *testing.T) {
	good := newEncryptionKey(t)
	cases := []struct {
		name  string
		store token.KeyStore
		opts  token.KeyOptions
	}{
		{"nil store", nil, token.KeyOptions{EncryptionKey: good}},
		{"no encryption key", tokentest.NewMemoryKeyStore(), token.KeyOptions{}},
		{"short encryption key", tokentest.NewMemoryKeyStore(), token.KeyOptions{EncryptionKey: good[:31]}},
		{"short previous key", tokentest.NewMemoryKeyStore(), token.KeyOptions{EncryptionKey: good, PreviousEncryptionKeys: [][]byte{good[:8]}}},
		{"RS256", tokentest.NewMemoryKeyStore(), token.KeyOptions{EncryptionKey: good, Algorithm: "RS256"}},
		{"HS256", tokentest.NewMemoryKeyStore(), token.KeyOptions{EncryptionKey: good, Algorithm: "HS256"}},
		{"none", tokentest.NewMemoryKeyStore(), token.KeyOptions{EncryptionKey: good, Algorithm: "none"}},
		{"negative overlap", tokentest.NewMemoryKeyStore(), token.KeyOptions{EncryptionKey: good, Overlap: -time.Hour}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := token.NewKeyManager(tc.store, tc.opts); err == nil {
				t.Fatal("NewKeyManager succeeded, want an error")
			}
		})
	}
	km, err := token.NewKeyManager(tokentest.NewMemoryKeyStore(), token.KeyOptions{EncryptionKey: good})
	if err != nil {
		t.Fatal(err)
	}
	if km.Overlap() != token.DefaultOverlap {
		t.Errorf("Overlap = %v", km.Overlap())
	}
}

func TestTamperedStoredKeyFailsLoad(t *testing.T) {
	e := newEnv(t, token.EdDSA)
	kid := activeKID(t, e.km)
	e.store.Update(kid, func(sk *token.StoredKey) { sk.PrivateKey[len(sk.PrivateKey)-3] ^= 0x40 })
	km, _ := e.node(t)
	err := km.Load(t.Context())
	if err == nil || !strings.Contains(err.Error(), kid) || errors.Is(err, token.ErrEncryptionKeyMismatch) {
		t.Fatalf("Load of a tampered key = %v, want a decryption error naming %s", err, kid)
	}
	if n := len(e.storedKeys(t)); n != 1 {
		t.Fatalf("Load of a tampered key changed the store: %d keys", n)
	}
	// A running node keeps its decrypted keys when a refresh reads the tampered row.
	if err := e.km.Refresh(t.Context()); err == nil {
		t.Fatal("Refresh over a tampered key succeeded")
	}
	if _, err := e.tokens.Verify(e.issue(t)); err != nil {
		t.Fatalf("running node lost its keys: %v", err)
	}
}
