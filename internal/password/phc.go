package password

import (
	"encoding/base64"
	"fmt"
	"strconv"
	"strings"

	"golang.org/x/crypto/argon2"
)

// phc is a parsed Argon2id hash in the PHC string format:
//
//	$argon2id$v=19$m=<KiB>,t=<passes>,p=<lanes>$<salt>$<key>
//
// with salt and key in standard base64 without padding, as the reference implementation
// (phc-winner-argon2) and most other libraries write them.
type phc struct {
	version     int
	memory      uint32
	iterations  uint32
	parallelism uint8
	salt, key   []byte
}

// b64 is the PHC base64: standard alphabet, no padding, and (Strict) no stray bits in the last
// character, so that every accepted string is the one canonical encoding of its bytes.
var b64 = base64.RawStdEncoding.Strict()

// String encodes p in the canonical form that parsePHC accepts.
func (p phc) String() string {
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s",
		p.version, p.memory, p.iterations, p.parallelism, b64.EncodeToString(p.salt), b64.EncodeToString(p.key))
}

// parsePHC parses an Argon2id PHC string strictly: the version field present and 19, the parameters
// m, t, p in that order as decimals without sign or leading zeros, no keyid or data parameters,
// and every value within the bounds a verification may spend. Errors wrap ErrMalformedHash or
// ErrUnsupportedHash and never quote the input.
func parsePHC(s string) (phc, error) {
	var p phc
	fields := strings.Split(s, "$")
	// "", "argon2id", "v=19", "m=..,t=..,p=..", salt, key
	if len(fields) < 2 || fields[0] != "" {
		return p, fmt.Errorf("%w: not a PHC string", ErrMalformedHash)
	}
	switch fields[1] {
	case "argon2id":
	case "argon2i", "argon2d":
		return p, fmt.Errorf("%w: algorithm %s (only argon2id is verified)", ErrUnsupportedHash, fields[1])
	default:
		return p, fmt.Errorf("%w: unknown PHC algorithm", ErrMalformedHash)
	}
	if len(fields) != 6 {
		return p, fmt.Errorf("%w: argon2id hash has %d fields, want 6", ErrMalformedHash, len(fields))
	}

	v, ok := strings.CutPrefix(fields[2], "v=")
	if !ok {
		return p, fmt.Errorf("%w: argon2id hash lacks its version", ErrMalformedHash)
	}
	version, err := parseDecimal(v, 1<<16)
	if err != nil {
		return p, fmt.Errorf("%w: argon2id version: %v", ErrMalformedHash, err)
	}
	if version != argon2.Version {
		return p, fmt.Errorf("%w: argon2 version %d (only %d is verified)", ErrUnsupportedHash, version, argon2.Version)
	}
	p.version = int(version)

	params := strings.Split(fields[3], ",")
	if len(params) != 3 {
		return p, fmt.Errorf("%w: argon2id parameters must be m, t and p", ErrMalformedHash)
	}
	var values [3]uint64
	for i, name := range [3]string{"m", "t", "p"} {
		raw, ok := strings.CutPrefix(params[i], name+"=")
		if !ok {
			return p, fmt.Errorf("%w: argon2id parameter %d must be %s", ErrMalformedHash, i+1, name)
		}
		if values[i], err = parseDecimal(raw, 1<<32-1); err != nil {
			return p, fmt.Errorf("%w: argon2id parameter %s: %v", ErrMalformedHash, name, err)
		}
	}
	m, t, par := values[0], values[1], values[2]
	switch {
	case par < 1 || par > 255:
		return p, fmt.Errorf("%w: argon2id parallelism %d is outside 1..255", ErrMalformedHash, par)
	case t < 1:
		return p, fmt.Errorf("%w: argon2id iterations must be at least 1", ErrMalformedHash)
	case m < 8*par:
		return p, fmt.Errorf("%w: argon2id memory %d KiB is below 8 KiB per lane", ErrMalformedHash, m)
	case t > maxIterations:
		return p, fmt.Errorf("%w: argon2id iterations %d above the maximum of %d", ErrUnsupportedHash, t, maxIterations)
	case m > maxMemory:
		return p, fmt.Errorf("%w: argon2id memory %d KiB above the maximum of %d KiB", ErrUnsupportedHash, m, maxMemory)
	}
	p.memory, p.iterations, p.parallelism = uint32(m), uint32(t), uint8(par)

	if p.salt, err = decodeField(fields[4], minPHCSalt); err != nil {
		return p, fmt.Errorf("%w: argon2id salt: %v", ErrMalformedHash, err)
	}
	if p.key, err = decodeField(fields[5], minPHCKey); err != nil {
		return p, fmt.Errorf("%w: argon2id key: %v", ErrMalformedHash, err)
	}
	return p, nil
}

// parseDecimal parses a PHC decimal: ASCII digits only, no sign, no leading zero, at most limit.
func parseDecimal(s string, limit uint64) (uint64, error) {
	if s == "" {
		return 0, fmt.Errorf("empty number")
	}
	if len(s) > 1 && s[0] == '0' {
		return 0, fmt.Errorf("number with a leading zero")
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, fmt.Errorf("not a decimal number")
		}
	}
	n, err := strconv.ParseUint(s, 10, 64)
	if err != nil || n > limit {
		return 0, fmt.Errorf("number out of range")
	}
	return n, nil
}

// decodeField decodes a PHC base64 field of minLen..maxPHCLength bytes.
func decodeField(s string, minLen int) ([]byte, error) {
	if len(s) > b64.EncodedLen(maxPHCLength) {
		return nil, fmt.Errorf("longer than %d bytes", maxPHCLength)
	}
	// The decoder skips CR and LF; a stored hash must not contain them (or anything else).
	for i := 0; i < len(s); i++ {
		if c := s[i]; !('A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '+' || c == '/') {
			return nil, fmt.Errorf("not unpadded standard base64")
		}
	}
	b, err := b64.DecodeString(s)
	if err != nil {
		return nil, fmt.Errorf("not unpadded standard base64")
	}
	if len(b) < minLen {
		return nil, fmt.Errorf("%d bytes, want at least %d", len(b), minLen)
	}
	return b, nil
}
