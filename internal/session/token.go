package session

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strings"
)

// RefreshTokenPrefix starts every refresh token, so that secret scanners (and people) recognise one
// in a log or a repository.
const RefreshTokenPrefix = "ghr_"

// refreshTokenBytes is the token's entropy: 256 bits.
const refreshTokenBytes = 32

// refreshTokenLen is the length of a well-formed token.
var refreshTokenLen = len(RefreshTokenPrefix) + base64.RawURLEncoding.EncodedLen(refreshTokenBytes)

// newRefreshToken returns a fresh opaque token and the SHA-256 hash under which it is stored.
func newRefreshToken(random io.Reader) (string, []byte, error) {
	b := make([]byte, refreshTokenBytes)
	if _, err := io.ReadFull(random, b); err != nil {
		return "", nil, fmt.Errorf("generate refresh token: %w", err)
	}
	tok := RefreshTokenPrefix + base64.RawURLEncoding.EncodeToString(b)
	return tok, hashRefreshToken(tok), nil
}

// hashRefreshToken is the stored form of a token: the SHA-256 of its text.
func hashRefreshToken(tok string) []byte {
	h := sha256.Sum256([]byte(tok))
	return h[:]
}

// parseRefreshToken checks the token's shape and returns its hash; ok is false for anything that
// cannot be a token of ours, which then costs no database query.
func parseRefreshToken(tok string) (hash []byte, ok bool) {
	if len(tok) != refreshTokenLen || !strings.HasPrefix(tok, RefreshTokenPrefix) {
		return nil, false
	}
	b, err := base64.RawURLEncoding.Strict().DecodeString(tok[len(RefreshTokenPrefix):])
	if err != nil || len(b) != refreshTokenBytes {
		return nil, false
	}
	return hashRefreshToken(tok), true
}

// graceKey names the ephemeral entry that holds, for the grace window, the successor of the token
// with this hash.
func graceKey(hash []byte) string { return "refresh-grace:" + hex.EncodeToString(hash) }

// graceInfo labels the HKDF derivation of the grace entry's key.
const graceInfo = "gatehouse refresh-token grace entry v1"

// graceAEAD derives the cipher of a grace entry from the old token itself: only a holder of the old
// token can read the successor, and the ephemeral store alone (or its backups) never reveals it.
func graceAEAD(oldToken string) (cipher.AEAD, error) {
	key, err := hkdf.Key(sha256.New, []byte(oldToken), nil, graceInfo, 32)
	if err != nil {
		return nil, fmt.Errorf("derive grace key: %w", err)
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("grace cipher: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("grace cipher: %w", err)
	}
	return aead, nil
}

// sealGrace encrypts the successor under a key derived from the old token, bound (as additional
// data) to the old token's hash. The result is nonce || ciphertext.
func sealGrace(oldToken string, oldHash []byte, successor string, random io.Reader) ([]byte, error) {
	aead, err := graceAEAD(oldToken)
	if err != nil {
		return nil, err
	}
	nonce := make([]byte, aead.NonceSize(), aead.NonceSize()+len(successor)+aead.Overhead())
	if _, err := io.ReadFull(random, nonce); err != nil {
		return nil, fmt.Errorf("grace nonce: %w", err)
	}
	return aead.Seal(nonce, nonce, []byte(successor), oldHash), nil
}

// errGraceCorrupt is returned by openGrace for an entry that does not open with the token.
var errGraceCorrupt = errors.New("grace entry does not open with the presented token")

// openGrace decrypts a grace entry with the old token.
func openGrace(oldToken string, oldHash, sealed []byte) (string, error) {
	aead, err := graceAEAD(oldToken)
	if err != nil {
		return "", err
	}
	if len(sealed) < aead.NonceSize() {
		return "", errGraceCorrupt
	}
	plain, err := aead.Open(nil, sealed[:aead.NonceSize()], sealed[aead.NonceSize():], oldHash)
	if err != nil {
		return "", errGraceCorrupt
	}
	return string(plain), nil
}
