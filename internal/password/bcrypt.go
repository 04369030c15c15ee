package password

import (
	"context"
	"errors"
	"fmt"

	"golang.org/x/crypto/bcrypt"
	"golang.org/x/text/unicode/norm"
)

// bcrypt hashes are only verified, never created: they come from imported accounts and are replaced
// by Argon2id on the first successful sign-in.
const (
	bcryptHashLen     = 60 // $2a$NN$ + 22 salt + 31 hash characters
	bcryptMaxPassword = 72 // bytes bcrypt reads; anything after is ignored by the algorithm
	bcryptMinCost     = bcrypt.MinCost
	bcryptMaxCost     = 16 // ~4 s here; higher stored costs are refused rather than served
)

// parseBcrypt checks the shape of a bcrypt hash and returns it with the $2a$ prefix: $2b$ (OpenBSD's
// fix of a length-counter overflow at 256+ bytes, which cannot arise under the 72-byte rule) and $2y$
// (PHP's name for correct behaviour) hash exactly like $2a$ as x/crypto implements it. $2x$ (PHP's
// marker for hashes made by the old sign-extension bug) and bare $2$ are refused.
func parseBcrypt(s string) (string, error) {
	if len(s) < 4 || s[0] != '$' || s[1] != '2' {
		return "", fmt.Errorf("%w: not a bcrypt hash", ErrMalformedHash)
	}
	switch {
	case s[2] == 'a' || s[2] == 'b' || s[2] == 'y':
	case s[2] == '$' || s[2] == 'x':
		return "", fmt.Errorf("%w: bcrypt variant $2%c is not verified", ErrUnsupportedHash, s[2])
	default:
		return "", fmt.Errorf("%w: unknown bcrypt variant", ErrMalformedHash)
	}
	if len(s) != bcryptHashLen || s[3] != '$' || s[6] != '$' {
		return "", fmt.Errorf("%w: bcrypt hash has the wrong shape", ErrMalformedHash)
	}
	if !isDigit(s[4]) || !isDigit(s[5]) {
		return "", fmt.Errorf("%w: bcrypt cost is not two digits", ErrMalformedHash)
	}
	cost := int(s[4]-'0')*10 + int(s[5]-'0')
	if cost < bcryptMinCost || cost > bcryptMaxCost {
		return "", fmt.Errorf("%w: bcrypt cost %d is outside %d..%d", ErrUnsupportedHash, cost, bcryptMinCost, bcryptMaxCost)
	}
	for i := 7; i < len(s); i++ {
		if !isBcryptBase64(s[i]) {
			return "", fmt.Errorf("%w: bcrypt salt or hash is not bcrypt base64", ErrMalformedHash)
		}
	}
	return "$2a" + s[3:], nil
}

func (h *Hasher) verifyBcrypt(ctx context.Context, password, encoded string) (bool, error) {
	hash, err := parseBcrypt(encoded)
	if err != nil {
		return false, fmt.Errorf("verify password: %w", err)
	}
	candidates := []string{norm.NFKC.String(password)}
	if password != candidates[0] {
		candidates = append(candidates, password)
	}
	if err := h.acquire(ctx); err != nil {
		return false, fmt.Errorf("verify password: %w", err)
	}
	defer h.release()
	for _, c := range candidates {
		err := bcrypt.CompareHashAndPassword([]byte(hash), []byte(c))
		switch {
		case err == nil && len(c) <= bcryptMaxPassword:
			return true, nil
		case err == nil, errors.Is(err, bcrypt.ErrMismatchedHashAndPassword):
			// A mismatch, or a match of only the first 72 bytes of a longer candidate.
		default:
			return false, fmt.Errorf("verify password: %w: %v", ErrMalformedHash, err)
		}
	}
	return false, nil
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

// isBcryptBase64 reports whether c is in bcrypt's alphabet "./A-Za-z0-9".
func isBcryptBase64(c byte) bool {
	return c == '.' || c == '/' || 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || isDigit(c)
}
