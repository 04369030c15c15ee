package account

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"io"
	"strings"
)

const (
	linkTokenBytes = 32 // random bytes of a verification link token
	codeDigits     = 6
	codeSpace      = 1_000_000
	// codeCeiling is the largest multiple of codeSpace that fits in a uint32: draws at or above it
	// are rejected so that every code is equally likely.
	codeCeiling = (1 << 32) / codeSpace * codeSpace
)

// newLinkToken returns a random link token (base64url without padding) and the SHA-256 that is
// stored in its place.
func newLinkToken(r io.Reader) (string, []byte, error) {
	b := make([]byte, linkTokenBytes)
	if _, err := io.ReadFull(r, b); err != nil {
		return "", nil, fmt.Errorf("read random token: %w", err)
	}
	sum := sha256.Sum256(b)
	return base64.RawURLEncoding.EncodeToString(b), sum[:], nil
}

// linkTokenHash returns the stored form of a link token as presented by a client, or false when it
// cannot be one of ours.
func linkTokenHash(tok string) ([]byte, bool) {
	tok = strings.TrimSpace(tok)
	if len(tok) != base64.RawURLEncoding.EncodedLen(linkTokenBytes) {
		return nil, false
	}
	b, err := base64.RawURLEncoding.Strict().DecodeString(tok)
	if err != nil || len(b) != linkTokenBytes {
		return nil, false
	}
	sum := sha256.Sum256(b)
	return sum[:], true
}

// newCode returns a uniformly random 6-digit code.
func newCode(r io.Reader) (string, error) {
	var b [4]byte
	for {
		if _, err := io.ReadFull(r, b[:]); err != nil {
			return "", fmt.Errorf("read random code: %w", err)
		}
		if n := binary.BigEndian.Uint32(b[:]); n < codeCeiling {
			return fmt.Sprintf("%0*d", codeDigits, n%codeSpace), nil
		}
	}
}

// codeHash is the stored form of a verification code: HMAC-SHA256 under the code key of the
// verification's id and the code, so that a code hash is useless for any other verification and a
// leaked table cannot be brute-forced without the key.
func codeHash(key []byte, verificationID, code string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(verificationID))
	m.Write([]byte{'|'})
	m.Write([]byte(code))
	return m.Sum(nil)
}

// emailKey names an email address in ephemeral keys without writing the address itself there.
func emailKey(email string) string {
	sum := sha256.Sum256([]byte(strings.ToLower(email)))
	return hex.EncodeToString(sum[:16])
}
