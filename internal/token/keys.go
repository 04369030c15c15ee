package token

import (
	"bytes"
	"context"
	"crypto"
	"crypto/aes"
	"crypto/cipher"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/hkdf"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"
)

// Signing algorithms. EdDSA (Ed25519) is the default; ES256 (ECDSA P-256) is for verifiers that lack
// Ed25519. Nothing else is ever issued or accepted.
const (
	EdDSA = "EdDSA"
	ES256 = "ES256"
)

// EncryptionKeySize is the length of the key that encrypts private signing keys at rest.
const EncryptionKeySize = 32

// ErrEncryptionKeyMismatch reports a stored signing key that was encrypted with a key other than the
// configured ones: the configuration points at the wrong secret, or the database belongs to another
// deployment.
var ErrEncryptionKeyMismatch = errors.New("signing key was encrypted with a different encryption key")

// Key is a signing key pair with its lifecycle. A key signs from ActivatesAt until RetiresAt and is
// published (and accepted for verification) until ExpiresAt. A zero RetiresAt or ExpiresAt means not
// scheduled yet. All times are whole seconds in UTC so that every node and every database computes the
// same schedule.
type Key struct {
	ID         string // the kid: 16 random bytes, base64url without padding
	Algorithm  string // EdDSA or ES256
	Generation int64  // 1 for the first key, +1 per rotation; unique in the store
	Private    crypto.Signer
	Public     crypto.PublicKey

	CreatedAt   time.Time
	ActivatesAt time.Time // when it starts signing (later than CreatedAt when pre-published)
	RetiresAt   time.Time // when it stops signing
	ExpiresAt   time.Time // when it leaves the key set: RetiresAt + overlap, overlap >= token lifetime
}

// StoredKey is a Key as a KeyStore holds it: the private key is sealed (see SealKey) and the public
// key is PKIX DER, kept in the clear for operators and checked against the private key on load.
// Zero times are "not set" (NULL in SQL).
type StoredKey struct {
	ID          string
	Generation  int64
	Algorithm   string
	PublicKey   []byte // PKIX (SubjectPublicKeyInfo) DER
	PrivateKey  []byte // sealed envelope of the PKCS #8 DER private key
	CreatedAt   time.Time
	ActivatesAt time.Time
	RetiresAt   time.Time
	ExpiresAt   time.Time
}

// KeyStore persists signing keys. Implementations live in the SQL adapters; tokentest.RunKeyStoreContract
// is the behaviour they must show.
type KeyStore interface {
	// ListKeys returns every stored key, expired ones included, in any order.
	ListKeys(ctx context.Context) ([]StoredKey, error)
	// InsertKey adds a key. It fails with a *gatehouse.Error of code gatehouse.ECONFLICT when a key with
	// the same ID or the same Generation exists: that is how concurrent first starts and concurrent
	// rotations settle on one key.
	InsertKey(ctx context.Context, key StoredKey) error
	// RetireKey sets a key's RetiresAt and ExpiresAt; gatehouse.ENOTFOUND when there is no such key.
	RetireKey(ctx context.Context, id string, retiresAt, expiresAt time.Time) error
}

// ParseEncryptionKey decodes the configured key-encryption key: standard or URL-safe base64, padded
// or not, of exactly 32 bytes (generate one with `openssl rand -base64 32`).
func ParseEncryptionKey(s string) ([]byte, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return nil, errors.New("encryption key is empty: set it to 32 random bytes in base64 (openssl rand -base64 32)")
	}
	var b []byte
	var err error
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if b, err = enc.DecodeString(s); err == nil {
			break
		}
	}
	if err != nil {
		return nil, errors.New("encryption key is not valid base64: set it to 32 random bytes in base64 (openssl rand -base64 32)")
	}
	if len(b) != EncryptionKeySize {
		return nil, fmt.Errorf("encryption key decodes to %d bytes, want exactly %d (openssl rand -base64 32)", len(b), EncryptionKeySize)
	}
	return b, nil
}

// generateKey makes a new key pair with a random kid. Times are left to the caller.
func generateKey(alg string, random io.Reader) (*Key, error) {
	var id [16]byte
	if _, err := io.ReadFull(random, id[:]); err != nil {
		return nil, fmt.Errorf("generate key id: %w", err)
	}
	k := &Key{ID: base64.RawURLEncoding.EncodeToString(id[:]), Algorithm: alg}
	switch alg {
	case EdDSA:
		pub, priv, err := ed25519.GenerateKey(random)
		if err != nil {
			return nil, fmt.Errorf("generate Ed25519 key: %w", err)
		}
		k.Private, k.Public = priv, pub
	case ES256:
		// The reader is ignored by crypto/ecdsa since Go 1.26; it always uses a secure source.
		priv, err := ecdsa.GenerateKey(elliptic.P256(), random)
		if err != nil {
			return nil, fmt.Errorf("generate P-256 key: %w", err)
		}
		k.Private, k.Public = priv, &priv.PublicKey
	default:
		return nil, fmt.Errorf("unsupported signing algorithm %q (want %s or %s)", alg, EdDSA, ES256)
	}
	return k, nil
}

// Envelope format, version 1:
//
//	0x01 | fingerprint (8 bytes) | nonce (12 bytes) | AES-256-GCM ciphertext and tag
//
// The AES key and the fingerprint are derived from the configured encryption key with HKDF-SHA256 and
// distinct labels, so the raw configured key is never used directly and the fingerprint reveals nothing
// about it. The fingerprint names which encryption key sealed the envelope, so that a later rotation of
// the encryption key can keep old keys readable (KeyOptions.PreviousEncryptionKeys) and a wrong key gives
// a clear error rather than a bare authentication failure. The additional data binds the envelope to
// the key's kid and algorithm: a sealed private key copied onto another row does not open.
const (
	envelopeV1       = 1
	fingerprintSize  = 8
	nonceSize        = 12
	envelopeOverhead = 1 + fingerprintSize + nonceSize + 16
	labelAESKey      = "gatehouse token signing-key encryption v1"
	labelFingerprint = "gatehouse token signing-key encryption key fingerprint v1"
)

func deriveAEAD(encryptionKey []byte) (cipher.AEAD, []byte, error) {
	if len(encryptionKey) != EncryptionKeySize {
		return nil, nil, fmt.Errorf("encryption key is %d bytes, want %d", len(encryptionKey), EncryptionKeySize)
	}
	aesKey, err := hkdf.Key(sha256.New, encryptionKey, nil, labelAESKey, 32)
	if err != nil {
		return nil, nil, fmt.Errorf("derive encryption key: %w", err)
	}
	fp, err := hkdf.Key(sha256.New, encryptionKey, nil, labelFingerprint, fingerprintSize)
	if err != nil {
		return nil, nil, fmt.Errorf("derive key fingerprint: %w", err)
	}
	block, err := aes.NewCipher(aesKey)
	if err != nil {
		return nil, nil, fmt.Errorf("new AES cipher: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, nil, fmt.Errorf("new GCM: %w", err)
	}
	return aead, fp, nil
}

func additionalData(id, alg string) []byte {
	return []byte("gatehouse signing key\x00" + id + "\x00" + alg)
}

// SealKey encrypts k's private key under encryptionKey (32 bytes) with a random nonce from random and
// returns the key as a KeyStore holds it.
func SealKey(k *Key, encryptionKey []byte, random io.Reader) (StoredKey, error) {
	aead, fp, err := deriveAEAD(encryptionKey)
	if err != nil {
		return StoredKey{}, err
	}
	der, err := x509.MarshalPKCS8PrivateKey(k.Private)
	if err != nil {
		return StoredKey{}, fmt.Errorf("marshal private key %s: %w", k.ID, err)
	}
	pub, err := x509.MarshalPKIXPublicKey(k.Public)
	if err != nil {
		return StoredKey{}, fmt.Errorf("marshal public key %s: %w", k.ID, err)
	}
	env := make([]byte, 1+fingerprintSize+nonceSize, envelopeOverhead+len(der))
	env[0] = envelopeV1
	copy(env[1:], fp)
	nonce := env[1+fingerprintSize:]
	if _, err := io.ReadFull(random, nonce); err != nil {
		return StoredKey{}, fmt.Errorf("read nonce: %w", err)
	}
	env = aead.Seal(env, nonce, der, additionalData(k.ID, k.Algorithm))
	clear(der)
	return StoredKey{
		ID:          k.ID,
		Generation:  k.Generation,
		Algorithm:   k.Algorithm,
		PublicKey:   pub,
		PrivateKey:  env,
		CreatedAt:   k.CreatedAt,
		ActivatesAt: k.ActivatesAt,
		RetiresAt:   k.RetiresAt,
		ExpiresAt:   k.ExpiresAt,
	}, nil
}

// OpenKey decrypts a stored key with whichever of encryptionKeys sealed it (matched by fingerprint),
// checks that the private key suits the algorithm and matches the stored public key, and returns it.
// A key sealed under none of them fails with an error wrapping ErrEncryptionKeyMismatch.
func OpenKey(sk StoredKey, encryptionKeys ...[]byte) (*Key, error) {
	env := sk.PrivateKey
	if len(env) < envelopeOverhead {
		return nil, fmt.Errorf("open signing key %s: envelope too short (%d bytes)", sk.ID, len(env))
	}
	if env[0] != envelopeV1 {
		return nil, fmt.Errorf("open signing key %s: unsupported envelope version %d", sk.ID, env[0])
	}
	fp := env[1 : 1+fingerprintSize]
	var aead cipher.AEAD
	for _, ek := range encryptionKeys {
		a, kfp, err := deriveAEAD(ek)
		if err != nil {
			return nil, fmt.Errorf("open signing key %s: %w", sk.ID, err)
		}
		if bytes.Equal(fp, kfp) {
			aead = a
			break
		}
	}
	if aead == nil {
		return nil, fmt.Errorf("open signing key %s (fingerprint %x): %w; check the configured token encryption key", sk.ID, fp, ErrEncryptionKeyMismatch)
	}
	nonce := env[1+fingerprintSize : 1+fingerprintSize+nonceSize]
	der, err := aead.Open(nil, nonce, env[1+fingerprintSize+nonceSize:], additionalData(sk.ID, sk.Algorithm))
	if err != nil {
		return nil, fmt.Errorf("open signing key %s: decryption failed: the stored key was altered or belongs to another row", sk.ID)
	}
	parsed, err := x509.ParsePKCS8PrivateKey(der)
	clear(der)
	if err != nil {
		return nil, fmt.Errorf("open signing key %s: parse private key: %w", sk.ID, err)
	}
	k := &Key{
		ID:          sk.ID,
		Algorithm:   sk.Algorithm,
		Generation:  sk.Generation,
		CreatedAt:   sk.CreatedAt,
		ActivatesAt: sk.ActivatesAt,
		RetiresAt:   sk.RetiresAt,
		ExpiresAt:   sk.ExpiresAt,
	}
	switch priv := parsed.(type) {
	case ed25519.PrivateKey:
		if sk.Algorithm != EdDSA {
			return nil, fmt.Errorf("open signing key %s: Ed25519 key stored with algorithm %q", sk.ID, sk.Algorithm)
		}
		k.Private, k.Public = priv, priv.Public()
	case *ecdsa.PrivateKey:
		if sk.Algorithm != ES256 || priv.Curve != elliptic.P256() {
			return nil, fmt.Errorf("open signing key %s: ECDSA %s key stored with algorithm %q", sk.ID, priv.Curve.Params().Name, sk.Algorithm)
		}
		k.Private, k.Public = priv, &priv.PublicKey
	default:
		return nil, fmt.Errorf("open signing key %s: unsupported private key type %T", sk.ID, parsed)
	}
	pub, err := x509.MarshalPKIXPublicKey(k.Public)
	if err != nil {
		return nil, fmt.Errorf("open signing key %s: marshal public key: %w", sk.ID, err)
	}
	if !bytes.Equal(pub, sk.PublicKey) {
		return nil, fmt.Errorf("open signing key %s: stored public key does not match the private key", sk.ID)
	}
	return k, nil
}
