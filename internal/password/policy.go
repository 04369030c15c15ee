package password

import (
	"errors"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/trustelem/zxcvbn"
	"github.com/trustelem/zxcvbn/frequency"
	"golang.org/x/text/unicode/norm"

	"github.com/gatehouse/gatehouse"
)

// Policy limits.
const (
	DefaultMinLength = 8   // NIST SP 800-63B: at least 8 characters
	MaxAllowedLength = 128 // the ceiling of Policy.MaxLength: configurable down, never up
	MaxScore         = 4   // zxcvbn scores run from 0 (too guessable) to 4 (very unguessable)
)

// Reasons of the *gatehouse.Error values Check returns (the problem response's code).
const (
	ReasonTooShort           = "password_too_short"
	ReasonTooLong            = "password_too_long"
	ReasonTooCommon          = "password_too_common"
	ReasonContainsIdentifier = "password_contains_identifier"
	ReasonTooWeak            = "password_too_weak"
	ReasonComposition        = "password_composition"
)

const (
	// zxcvbnMaxInput bounds how much of a password zxcvbn analyses: its matching is super-linear
	// (128 characters can take 200 ms here, 64 about 30 ms), and Check runs on unauthenticated
	// sign-up requests. A prefix is at most as strong as the whole, so the score stays conservative.
	zxcvbnMaxInput = 64
	// rawBytesPerChar bounds the input Check normalises at all: no real password needs more than 16
	// bytes per character before NFKC composes it, and anything longer is too long anyway.
	rawBytesPerChar = 16
	// Minimum lengths of identifiers that a password may not contain: shorter ones ("al" in
	// "al@example.com") would reject innocent passwords.
	minLocalPartLen = 3
	minPhoneDigits  = 6
)

// Policy is the password policy of NIST SP 800-63B: length bounds counted in Unicode code points
// after NFKC normalisation, rejection of common and breached passwords, rejection of passwords that
// contain the account's email or phone number, an optional zxcvbn strength threshold, and optional
// composition rules (off by default, as NIST advises; for operators who must have them).
//
// Start from DefaultPolicy: the zero Policy does not reject common passwords. Zero MinLength and
// MaxLength take their defaults.
type Policy struct {
	MinLength    int  // default 8; Validate refuses less than 8 (NIST's floor)
	MaxLength    int  // default and ceiling 128
	RejectCommon bool // reject passwords from zxcvbn's bundled list of 30,000 common passwords
	MinScore     int  // zxcvbn score 0..4 a password must reach; 0 turns the check off

	RequireUpper  bool // at least one uppercase letter
	RequireLower  bool // at least one lowercase letter
	RequireDigit  bool // at least one decimal digit (any script)
	RequireSymbol bool // at least one character that is neither a letter nor a digit (space counts)
}

// DefaultPolicy returns the default policy: 8 to 128 characters, common passwords rejected, no score
// threshold, no composition rules.
func DefaultPolicy() Policy {
	return Policy{MinLength: DefaultMinLength, MaxLength: MaxAllowedLength, RejectCommon: true}
}

// Validate reports settings Check cannot honour, naming the field.
func (p Policy) Validate() error {
	minLen, maxLen := p.bounds()
	var errs []error
	if p.MinLength < 0 || minLen < DefaultMinLength {
		errs = append(errs, fmt.Errorf("MinLength %d is below NIST's minimum of %d", p.MinLength, DefaultMinLength))
	}
	if p.MaxLength < 0 || p.MaxLength > MaxAllowedLength {
		errs = append(errs, fmt.Errorf("MaxLength %d is outside 1..%d", p.MaxLength, MaxAllowedLength))
	}
	if minLen > maxLen {
		errs = append(errs, fmt.Errorf("MinLength %d is above MaxLength %d", minLen, maxLen))
	}
	if p.MinScore < 0 || p.MinScore > MaxScore {
		errs = append(errs, fmt.Errorf("MinScore %d is outside 0..%d", p.MinScore, MaxScore))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("password policy: %w", err)
	}
	return nil
}

// bounds returns the effective length bounds: defaults for zero values, MaxLength capped at
// MaxAllowedLength even if Validate was skipped.
func (p Policy) bounds() (minLen, maxLen int) {
	minLen, maxLen = p.MinLength, p.MaxLength
	if minLen <= 0 {
		minLen = DefaultMinLength
	}
	if maxLen <= 0 || maxLen > MaxAllowedLength {
		maxLen = MaxAllowedLength
	}
	return minLen, maxLen
}

// Check returns nil if password satisfies the policy, or a *gatehouse.Error with Code EINVALID,
// Field "password", one of the Reason* constants, and a message saying which rule failed. The
// rules run in this order and the first failure is returned: length, identifiers, common, composition,
// strength.
//
// userInputs are what the account is known by: an email address (the password may not contain it,
// nor its local part when that has at least 3 characters), a phone number (the password may not
// contain its digits when there are at least 6, nor its national part after a +country code), and
// anything else (a name), which only lowers the zxcvbn score. Comparisons ignore case.
func (p *Policy) Check(password string, userInputs ...string) error {
	minLen, maxLen := p.bounds()
	if len(password) > rawBytesPerChar*maxLen {
		return tooLong(maxLen)
	}
	pw := norm.NFKC.String(password)
	switch n := utf8.RuneCountInString(pw); {
	case n < minLen:
		return reject(ReasonTooShort, "Password must be at least %d characters.", minLen)
	case n > maxLen:
		return tooLong(maxLen)
	}

	lower := strings.ToLower(pw)
	needles, hints := identifiers(userInputs)
	for _, id := range needles {
		if strings.Contains(lower, id) {
			return reject(ReasonContainsIdentifier, "Password must not contain your email address or phone number.")
		}
	}

	var strength *zxcvbn.Result
	analyse := func() zxcvbn.Result {
		if strength == nil {
			r := zxcvbn.PasswordStrength(prefix(pw, zxcvbnMaxInput), hints)
			strength = &r
		}
		return *strength
	}

	if p.RejectCommon && (isListedCommon(lower) ||
		utf8.RuneCountInString(pw) <= zxcvbnMaxInput && isSingleCommonMatch(analyse())) {
		return reject(ReasonTooCommon, "Password is too common. Choose one that is harder to guess.")
	}

	if missing := p.missingClasses(pw); len(missing) > 0 {
		return reject(ReasonComposition, "Password must contain %s.", joinEnglish(missing))
	}

	if p.MinScore > 0 && analyse().Score < p.MinScore {
		return reject(ReasonTooWeak, "Password is too easy to guess. Use a longer password, for example several unrelated words.")
	}
	return nil
}

func reject(reason, format string, args ...any) error {
	return &gatehouse.Error{Code: gatehouse.EINVALID, Reason: reason, Field: "password", Message: fmt.Sprintf(format, args...)}
}

func tooLong(maxLen int) error {
	return reject(ReasonTooLong, "Password must be at most %d characters.", maxLen)
}

// isListedCommon reports whether the lowercased password is in zxcvbn's password frequency list
// (30,000 entries, all lowercase, drawn from leaked password corpora). A linear scan costs ~25 µs,
// well below zxcvbn itself, and keeps no second copy of the list in memory.
func isListedCommon(lower string) bool {
	for _, w := range frequency.FrequencyLists["passwords"] {
		if w == lower {
			return true
		}
	}
	return false
}

// isSingleCommonMatch reports whether zxcvbn explains the whole password as one word of its
// passwords list, which catches the list's words with capitals, l33t substitutions ("P@ssw0rd") or
// reversed ("drowssap").
func isSingleCommonMatch(r zxcvbn.Result) bool {
	return len(r.Sequence) == 1 && r.Sequence[0].Pattern == "dictionary" && r.Sequence[0].DictionaryName == "passwords"
}

// identifiers derives, from the account's user inputs, the lowercase strings a password may not
// contain (needles) and the words zxcvbn should treat as guessable (hints, a superset).
func identifiers(userInputs []string) (needles, hints []string) {
	for _, in := range userInputs {
		s := strings.ToLower(norm.NFKC.String(strings.TrimSpace(in)))
		if s == "" {
			continue
		}
		hints = append(hints, s)
		// zxcvbn matches whole dictionary words: give it the words of a name or of an email's
		// local part too ("Ada Lovelace", "ada.lovelace@…").
		hints = append(hints, strings.FieldsFunc(s, func(r rune) bool { return !unicode.IsLetter(r) && !unicode.IsNumber(r) })...)
		if at := strings.LastIndexByte(s, '@'); at > 0 {
			needles = append(needles, s)
			local := s[:at]
			if utf8.RuneCountInString(local) >= minLocalPartLen {
				needles = append(needles, local)
				hints = append(hints, local)
			}
			// Sub-addressing: alice+shop@example.com is still alice.
			if base, _, ok := strings.Cut(local, "+"); ok && utf8.RuneCountInString(base) >= minLocalPartLen {
				needles = append(needles, base)
				hints = append(hints, base)
			}
			continue
		}
		if digits, ok := phoneDigits(s); ok {
			needles = append(needles, digits)
			hints = append(hints, digits)
			// With a +country code (1 to 3 digits) the user may well type the national number.
			if s[0] == '+' {
				for cc := 1; cc <= 3 && len(digits)-cc >= minPhoneDigits; cc++ {
					needles = append(needles, digits[cc:])
				}
			}
		}
	}
	return needles, hints
}

// phoneDigits returns the digits of s if s looks like a phone number (digits with optional +, spaces,
// dashes, dots and parentheses) with at least minPhoneDigits digits.
func phoneDigits(s string) (string, bool) {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case '0' <= c && c <= '9':
			b.WriteByte(c)
		case c == '+' && i == 0, c == ' ', c == '-', c == '.', c == '(', c == ')':
		default:
			return "", false
		}
	}
	return b.String(), b.Len() >= minPhoneDigits
}

// missingClasses lists, in English, the required character classes pw lacks.
func (p *Policy) missingClasses(pw string) []string {
	var upper, lower, digit, symbol bool
	for _, r := range pw {
		switch {
		case unicode.IsUpper(r):
			upper = true
		case unicode.IsLower(r):
			lower = true
		case unicode.IsDigit(r):
			digit = true
		case !unicode.IsLetter(r) && !unicode.IsNumber(r):
			symbol = true
		}
	}
	var missing []string
	for _, c := range []struct {
		required, present bool
		name              string
	}{
		{p.RequireUpper, upper, "an uppercase letter"},
		{p.RequireLower, lower, "a lowercase letter"},
		{p.RequireDigit, digit, "a digit"},
		{p.RequireSymbol, symbol, "a symbol"},
	} {
		if c.required && !c.present {
			missing = append(missing, c.name)
		}
	}
	return missing
}

// joinEnglish joins items as "a", "a and b", "a, b and c".
func joinEnglish(items []string) string {
	if len(items) <= 1 {
		return strings.Join(items, "")
	}
	return strings.Join(items[:len(items)-1], ", ") + " and " + items[len(items)-1]
}

// prefix returns the first n code points of s.
func prefix(s string, n int) string {
	for i := range s {
		if n == 0 {
			return s[:i]
		}
		n--
	}
	return s
}
