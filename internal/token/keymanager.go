package token

import (
	"bytes"
	"cmp"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/gatehouse/gatehouse"
)

// Defaults of KeyOptions.
const (
	// DefaultOverlap is how long a retired key stays published and accepted after it stops signing. It
	// must exceed the longest token lifetime so no valid token outlives its key.
	DefaultOverlap = 24 * time.Hour
	// DefaultActivationDelay is how long a rotated-in key is published before it starts signing, so
	// that every node (KeyManager.RefreshEvery) and every external verifier caching the JWKS knows it
	// before the first token it signs arrives.
	DefaultActivationDelay = 5 * time.Minute
)

// Key states reported by KeyManager.Keys.
const (
	KeyPending = "pending" // published, not signing yet
	KeyActive  = "active"  // the current signing key
	KeyRetired = "retired" // no longer signing; still published and accepted until ExpiresAt
)

// KeyOptions configures a KeyManager.
type KeyOptions struct {
	// Algorithm of new keys: EdDSA (default) or ES256. Changing it takes effect at the next Load, which
	// rotates to a key of the new algorithm; keys of the old one keep verifying until they expire.
	Algorithm string
	// EncryptionKey seals private keys at rest; exactly 32 bytes (see ParseEncryptionKey). Required.
	EncryptionKey []byte
	// PreviousEncryptionKeys only decrypt: keys sealed before the encryption key was changed.
	PreviousEncryptionKeys [][]byte
	// Overlap is the time between a key's retirement and its expiry; default DefaultOverlap.
	Overlap time.Duration
	// ActivationDelay is the time between a rotation and the new key's first signature; zero means
	// DefaultActivationDelay and a negative value means immediately. The very first key, and a
	// replacement when no key can sign, always activates at once.
	ActivationDelay time.Duration
	Now             func() time.Time // default time.Now
	Rand            io.Reader        // default crypto/rand.Reader
	Logger          *slog.Logger     // default: discard
}

// KeyInfo describes a key without its private part, for operators (`gatehouse keys list`).
type KeyInfo struct {
	ID          string
	Algorithm   string
	Generation  int64
	State       string // KeyPending, KeyActive or KeyRetired
	CreatedAt   time.Time
	ActivatesAt time.Time
	RetiresAt   time.Time
	ExpiresAt   time.Time
}

// KeyManager owns the signing keys: it creates the first one, rotates them, and holds the current
// signing key and the verification set in memory so that signing and verifying cost no store call.
// It is safe for concurrent use.
type KeyManager struct {
	store           KeyStore
	alg             string
	encryptionKey   []byte
	decryptionKeys  [][]byte
	overlap         time.Duration
	activationDelay time.Duration
	now             func() time.Time
	rand            io.Reader
	log             *slog.Logger

	mu   sync.Mutex // serialises Load, Refresh and Rotate so an older read never replaces a newer ring
	ring atomic.Pointer[keyRing]
	jwks atomic.Pointer[jwksDocument]
}

// NewKeyManager returns a KeyManager over store. Call Load before signing or verifying.
func NewKeyManager(store KeyStore, opts KeyOptions) (*KeyManager, error) {
	if store == nil {
		return nil, errors.New("new key manager: nil key store")
	}
	km := &KeyManager{
		store:           store,
		alg:             cmp.Or(opts.Algorithm, EdDSA),
		overlap:         cmp.Or(opts.Overlap, DefaultOverlap),
		activationDelay: cmp.Or(opts.ActivationDelay, DefaultActivationDelay),
		now:             opts.Now,
		rand:            opts.Rand,
		log:             opts.Logger,
	}
	if km.alg != EdDSA && km.alg != ES256 {
		return nil, fmt.Errorf("new key manager: unsupported signing algorithm %q (want %s or %s)", km.alg, EdDSA, ES256)
	}
	if len(opts.EncryptionKey) != EncryptionKeySize {
		return nil, fmt.Errorf("new key manager: encryption key is %d bytes, want %d", len(opts.EncryptionKey), EncryptionKeySize)
	}
	for i, k := range opts.PreviousEncryptionKeys {
		if len(k) != EncryptionKeySize {
			return nil, fmt.Errorf("new key manager: previous encryption key %d is %d bytes, want %d", i, len(k), EncryptionKeySize)
		}
	}
	if km.overlap < 0 {
		return nil, fmt.Errorf("new key manager: negative overlap %s", km.overlap)
	}
	km.activationDelay = max(km.activationDelay, 0)
	km.encryptionKey = slices.Clone(opts.EncryptionKey)
	km.decryptionKeys = append([][]byte{km.encryptionKey}, opts.PreviousEncryptionKeys...)
	if km.now == nil {
		km.now = time.Now
	}
	if km.rand == nil {
		km.rand = rand.Reader
	}
	if km.log == nil {
		km.log = slog.New(slog.DiscardHandler)
	}
	return km, nil
}

// Overlap is the configured overlap: the longest token lifetime the keys can carry.
func (km *KeyManager) Overlap() time.Duration { return km.overlap }

// Load reads the keys and, when none can sign with the configured algorithm (first start, or the
// algorithm was changed), creates one. Nodes starting at once settle on one key: each inserts the next
// generation, the store refuses all but one (ECONFLICT), and the others re-read and adopt the winner.
func (km *KeyManager) Load(ctx context.Context) error {
	km.mu.Lock()
	defer km.mu.Unlock()
	if err := km.settle(ctx); err != nil {
		return fmt.Errorf("load signing keys: %w", err)
	}
	return nil
}

// Refresh re-reads the keys so that rotations made by other nodes or by `gatehouse keys rotate` take
// effect here. It is one store read; keys already decrypted are reused. Only when no key can sign any
// more (every key was retired, for example to withdraw a compromised one) does it create one, as Load
// does.
func (km *KeyManager) Refresh(ctx context.Context) error {
	km.mu.Lock()
	defer km.mu.Unlock()
	ring, err := km.reload(ctx)
	if err != nil {
		return fmt.Errorf("refresh signing keys: %w", err)
	}
	if ring.signing(km.now()) == nil && km.needsKey(ring) {
		if err := km.settle(ctx); err != nil {
			return fmt.Errorf("refresh signing keys: %w", err)
		}
	}
	return nil
}

// settle reloads until the newest key can carry on signing, adding one when it cannot.
func (km *KeyManager) settle(ctx context.Context) error {
	const attempts = 5
	for attempt := 1; ; attempt++ {
		ring, err := km.reload(ctx)
		if err != nil {
			return err
		}
		if !km.needsKey(ring) {
			return nil
		}
		if attempt == attempts {
			return fmt.Errorf("no usable signing key after %d attempts", attempts)
		}
		if _, err := km.addKey(ctx, ring, km.now()); err != nil {
			if gatehouse.ErrorCode(err) == gatehouse.ECONFLICT {
				continue // another node inserted this generation first: adopt it
			}
			return err
		}
	}
}

// RefreshEvery calls Refresh every interval until ctx is done, logging failures (the keys in memory
// stay in use). Keep interval well under the activation delay.
func (km *KeyManager) RefreshEvery(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if err := km.Refresh(ctx); err != nil && ctx.Err() == nil {
				km.log.Warn("refresh signing keys", "err", err)
			}
		}
	}
}

// Rotate creates the next signing key, which starts signing after the activation delay (at once when
// no key can sign), and retires the current one at that moment; the retired key keeps verifying and
// stays published until its ExpiresAt. A rotation racing another one fails with ECONFLICT.
func (km *KeyManager) Rotate(ctx context.Context) (KeyInfo, error) {
	km.mu.Lock()
	defer km.mu.Unlock()
	ring, err := km.reload(ctx)
	if err != nil {
		return KeyInfo{}, fmt.Errorf("rotate signing key: %w", err)
	}
	k, err := km.addKey(ctx, ring, km.now())
	if err != nil {
		if gatehouse.ErrorCode(err) == gatehouse.ECONFLICT {
			return KeyInfo{}, &gatehouse.Error{Code: gatehouse.ECONFLICT, Message: "Another key rotation happened at the same time.", Err: err}
		}
		return KeyInfo{}, fmt.Errorf("rotate signing key: %w", err)
	}
	ring, err = km.reload(ctx)
	if err != nil {
		return KeyInfo{}, fmt.Errorf("rotate signing key: key %s created, reload failed: %w", k.ID, err)
	}
	if rk := ring.byID[k.ID]; rk != nil {
		return rk.info(km.now()), nil
	}
	return keyInfo(k, km.now()), nil
}

// Keys describes the keys that are not expired, newest first.
func (km *KeyManager) Keys() []KeyInfo {
	ring := km.ring.Load()
	if ring == nil {
		return nil
	}
	now := km.now()
	out := make([]KeyInfo, 0, len(ring.keys))
	for _, k := range ring.keys {
		if k.live(now) {
			out = append(out, k.info(now))
		}
	}
	return out
}

// JWKS returns the JSON Web Key Set of every key that is not expired (pending keys included, so that
// verifiers learn them before they sign): {"keys":[{"kty","crv","x",("y"),"kid","alg","use":"sig"}]}.
// The document is built once per key set and rebuilt when a key expires.
func (km *KeyManager) JWKS() []byte {
	now := km.now()
	ring := km.ring.Load()
	if d := km.jwks.Load(); d != nil && d.ring == ring && now.Before(d.validUntil) {
		return bytes.Clone(d.body)
	}
	d := buildJWKS(ring, now)
	km.jwks.Store(d)
	return bytes.Clone(d.body)
}

// OpenIDConfiguration returns the discovery document for issuer (which must equal Options.Issuer of
// the Tokens): the issuer, its JWKS URL and the signing algorithms. It lists nothing this service does
// not serve: gatehouse issues access tokens through its own JSON API, not through OAuth authorization
// or token endpoints, and issues no ID tokens; id_token_signing_alg_values_supported names the
// algorithms of the JWTs it signs because verifier libraries read that member to choose them.
func (km *KeyManager) OpenIDConfiguration(issuer string) []byte {
	doc := struct {
		Issuer                string   `json:"issuer"`
		JWKSURI               string   `json:"jwks_uri"`
		SubjectTypesSupported []string `json:"subject_types_supported"`
		SigningAlgValues      []string `json:"id_token_signing_alg_values_supported"`
	}{
		Issuer:                issuer,
		JWKSURI:               strings.TrimSuffix(issuer, "/") + "/.well-known/jwks.json",
		SubjectTypesSupported: []string{"public"},
	}
	algs := []string{km.alg}
	if ring := km.ring.Load(); ring != nil {
		now := km.now()
		for _, k := range ring.keys {
			if k.live(now) && !slices.Contains(algs, k.Algorithm) {
				algs = append(algs, k.Algorithm)
			}
		}
	}
	doc.SigningAlgValues = algs
	b, err := json.Marshal(doc)
	if err != nil { // strings and slices of strings always marshal
		panic(fmt.Sprintf("marshal openid configuration: %v", err))
	}
	return b
}

// needsKey reports whether the newest key cannot carry on signing: there is none, it is scheduled to
// retire with no successor, or it uses an algorithm other than the configured one.
func (km *KeyManager) needsKey(ring *keyRing) bool {
	if len(ring.keys) == 0 {
		return true
	}
	top := ring.keys[0]
	return !top.RetiresAt.IsZero() || top.Algorithm != km.alg
}

// addKey stores generation maxGeneration+1 and retires the keys before it when it activates. A failed
// retirement is only logged: build derives the same retirement from the successor and repairs the
// record on the next read.
func (km *KeyManager) addKey(ctx context.Context, ring *keyRing, now time.Time) (*Key, error) {
	k, err := generateKey(km.alg, km.rand)
	if err != nil {
		return nil, err
	}
	now = now.UTC().Truncate(time.Second)
	k.Generation = ring.maxGeneration + 1
	k.CreatedAt = now
	k.ActivatesAt = now
	if ring.signing(now) != nil {
		k.ActivatesAt = now.Add(km.activationDelay).Truncate(time.Second)
	}
	sk, err := SealKey(k, km.encryptionKey, km.rand)
	if err != nil {
		return nil, err
	}
	if err := km.store.InsertKey(ctx, sk); err != nil {
		return nil, fmt.Errorf("insert signing key generation %d: %w", k.Generation, err)
	}
	km.log.Info("signing key created", "kid", k.ID, "generation", k.Generation, "algorithm", k.Algorithm, "activates_at", k.ActivatesAt)
	retires, expires := k.ActivatesAt, k.ActivatesAt.Add(km.overlap)
	for _, old := range ring.keys {
		if !old.RetiresAt.IsZero() {
			continue
		}
		if err := km.store.RetireKey(ctx, old.ID, retires, expires); err != nil {
			km.log.Warn("retire signing key", "kid", old.ID, "err", err)
			continue
		}
		km.log.Info("signing key retired", "kid", old.ID, "retires_at", retires, "expires_at", expires)
	}
	return k, nil
}

// reload reads the store, builds a ring, writes any missing retirements, and installs the ring.
func (km *KeyManager) reload(ctx context.Context) (*keyRing, error) {
	stored, err := km.store.ListKeys(ctx)
	if err != nil {
		return nil, fmt.Errorf("list signing keys: %w", err)
	}
	ring, repairs, err := km.build(stored, km.ring.Load(), km.now())
	if err != nil {
		return nil, err
	}
	for _, r := range repairs {
		if err := km.store.RetireKey(ctx, r.id, r.retiresAt, r.expiresAt); err != nil {
			km.log.Warn("record signing key retirement", "kid", r.id, "err", err)
		}
	}
	km.ring.Store(ring)
	return ring, nil
}

type retirement struct {
	id                   string
	retiresAt, expiresAt time.Time
}

// build turns stored keys into a ring. A key superseded by a newer generation retires when its
// successor activates, whether or not that was recorded (a crash between insert and retire), so every
// node derives the same schedule; the unrecorded retirements are returned for writing. Expired keys are
// dropped without being decrypted; keys already decrypted in prev are reused.
func (km *KeyManager) build(stored []StoredKey, prev *keyRing, now time.Time) (*keyRing, []retirement, error) {
	sorted := slices.Clone(stored)
	slices.SortFunc(sorted, func(a, b StoredKey) int {
		return cmp.Or(cmp.Compare(a.Generation, b.Generation), strings.Compare(a.ID, b.ID))
	})
	ring := &keyRing{byID: make(map[string]*ringKey, len(sorted))}
	var repairs []retirement
	for i, sk := range sorted {
		ring.maxGeneration = max(ring.maxGeneration, sk.Generation)
		retires, expires := sk.RetiresAt, sk.ExpiresAt
		if retires.IsZero() && i+1 < len(sorted) {
			retires = sorted[i+1].ActivatesAt
		}
		if !retires.IsZero() && expires.IsZero() {
			expires = retires.Add(km.overlap)
		}
		if !retires.Equal(sk.RetiresAt) || !expires.Equal(sk.ExpiresAt) {
			repairs = append(repairs, retirement{id: sk.ID, retiresAt: retires, expiresAt: expires})
		}
		if !expires.IsZero() && !now.Before(expires) {
			continue
		}
		if _, dup := ring.byID[sk.ID]; dup {
			return nil, nil, fmt.Errorf("signing key %s is stored twice", sk.ID)
		}
		rk, err := km.ringKey(sk, prev)
		if err != nil {
			return nil, nil, err
		}
		rk.RetiresAt, rk.ExpiresAt = retires, expires
		ring.byID[sk.ID] = rk
		ring.keys = append(ring.keys, rk)
		if alg := jose.SignatureAlgorithm(rk.Algorithm); !slices.Contains(ring.algs, alg) {
			ring.algs = append(ring.algs, alg)
		}
	}
	slices.Reverse(ring.keys)
	return ring, repairs, nil
}

// ringKey opens sk, or reuses the decrypted key of prev when the stored bytes are unchanged.
func (km *KeyManager) ringKey(sk StoredKey, prev *keyRing) (*ringKey, error) {
	if prev != nil {
		if p := prev.byID[sk.ID]; p != nil && p.Algorithm == sk.Algorithm &&
			bytes.Equal(p.sealed, sk.PrivateKey) && bytes.Equal(p.publicDER, sk.PublicKey) {
			rk := *p
			rk.Generation, rk.CreatedAt, rk.ActivatesAt = sk.Generation, sk.CreatedAt, sk.ActivatesAt
			return &rk, nil
		}
	}
	k, err := OpenKey(sk, km.decryptionKeys...)
	if err != nil {
		return nil, err
	}
	signer, err := jose.NewSigner(
		jose.SigningKey{Algorithm: jose.SignatureAlgorithm(k.Algorithm), Key: jose.JSONWebKey{Key: k.Private, KeyID: k.ID}},
		(&jose.SignerOptions{}).WithType(TokenType),
	)
	if err != nil {
		return nil, fmt.Errorf("signer for key %s: %w", k.ID, err)
	}
	jwk, err := json.Marshal(jose.JSONWebKey{Key: k.Public, KeyID: k.ID, Algorithm: k.Algorithm, Use: "sig"})
	if err != nil {
		return nil, fmt.Errorf("JWK of key %s: %w", k.ID, err)
	}
	return &ringKey{
		Key:       *k,
		sealed:    bytes.Clone(sk.PrivateKey),
		publicDER: bytes.Clone(sk.PublicKey),
		signer:    signer,
		jwk:       jwk,
	}, nil
}

// keyRing is an immutable snapshot of the keys that were not expired when it was built.
type keyRing struct {
	keys          []*ringKey // newest generation first
	byID          map[string]*ringKey
	algs          []jose.SignatureAlgorithm // the algorithms of keys, for jose.ParseSignedCompact
	maxGeneration int64                     // over every stored key, expired ones included
}

// signing returns the newest key that signs at now.
func (r *keyRing) signing(now time.Time) *ringKey {
	if r == nil {
		return nil
	}
	for _, k := range r.keys {
		if k.signsAt(now) {
			return k
		}
	}
	return nil
}

// verifier returns the key with id if it has not expired at now.
func (r *keyRing) verifier(id string, now time.Time) *ringKey {
	if r == nil {
		return nil
	}
	if k := r.byID[id]; k != nil && k.live(now) {
		return k
	}
	return nil
}

type ringKey struct {
	Key                   // with the effective RetiresAt and ExpiresAt
	sealed    []byte      // the stored envelope, to recognise an unchanged key on refresh
	publicDER []byte      // the stored public key, likewise
	signer    jose.Signer // emits alg, kid and typ at+jwt
	jwk       []byte      // the public JWK as JSON
}

func (k *Key) live(now time.Time) bool { return k.ExpiresAt.IsZero() || now.Before(k.ExpiresAt) }

func (k *Key) signsAt(now time.Time) bool {
	return !now.Before(k.ActivatesAt) && (k.RetiresAt.IsZero() || now.Before(k.RetiresAt)) && k.live(now)
}

func (k *ringKey) info(now time.Time) KeyInfo { return keyInfo(&k.Key, now) }

func keyInfo(k *Key, now time.Time) KeyInfo {
	state := KeyActive
	switch {
	case now.Before(k.ActivatesAt):
		state = KeyPending
	case !k.RetiresAt.IsZero() && !now.Before(k.RetiresAt):
		state = KeyRetired
	}
	return KeyInfo{
		ID:          k.ID,
		Algorithm:   k.Algorithm,
		Generation:  k.Generation,
		State:       state,
		CreatedAt:   k.CreatedAt,
		ActivatesAt: k.ActivatesAt,
		RetiresAt:   k.RetiresAt,
		ExpiresAt:   k.ExpiresAt,
	}
}

type jwksDocument struct {
	ring       *keyRing
	body       []byte
	validUntil time.Time // the earliest expiry among the listed keys
}

func buildJWKS(ring *keyRing, now time.Time) *jwksDocument {
	d := &jwksDocument{ring: ring, validUntil: time.Unix(1<<62, 0)}
	var b bytes.Buffer
	b.WriteString(`{"keys":[`)
	if ring != nil {
		n := 0
		for _, k := range ring.keys {
			if !k.live(now) {
				continue
			}
			if n > 0 {
				b.WriteByte(',')
			}
			b.Write(k.jwk)
			n++
			if !k.ExpiresAt.IsZero() && k.ExpiresAt.Before(d.validUntil) {
				d.validUntil = k.ExpiresAt
			}
		}
	}
	b.WriteString("]}")
	d.body = b.Bytes()
	return d
}
