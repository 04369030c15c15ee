package account

import (
	"net/mail"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/language"
)

// NormalizeEmail trims an email address and lower-cases its domain, after checking that it is one
// bare address (no display name, no angle brackets, no comments, no quoted local part that needs its
// quotes) of at most MaxEmailLength characters. The local part keeps its case: the store compares
// addresses case-insensitively, and the mail goes to the address as typed. A failure is an EINVALID
// error with Field "email".
func NormalizeEmail(email string) (string, error) {
	e := strings.TrimSpace(email)
	if e == "" {
		return "", invalid("email", "An email address is required.")
	}
	if len(e) > MaxEmailLength {
		return "", invalid("email", "The email address is too long.")
	}
	if !utf8.ValidString(e) || strings.IndexFunc(e, func(r rune) bool { return unicode.IsControl(r) || unicode.IsSpace(r) }) >= 0 {
		return "", invalid("email", "The email address is not valid.")
	}
	addr, err := mail.ParseAddress(e)
	if err != nil || addr.Name != "" || addr.Address != e {
		return "", invalid("email", "The email address is not valid.")
	}
	at := strings.LastIndexByte(e, '@')
	if at <= 0 || at == len(e)-1 {
		return "", invalid("email", "The email address is not valid.")
	}
	return e[:at+1] + strings.ToLower(e[at+1:]), nil
}

// normalizeName trims a display name and checks its length and characters.
func normalizeName(name string) (string, error) {
	n := strings.TrimSpace(name)
	if !utf8.ValidString(n) {
		return "", invalid("name", "The name is not valid text.")
	}
	if utf8.RuneCountInString(n) > MaxNameLength {
		return "", invalid("name", "The name is too long.")
	}
	// Control characters (line breaks above all) have no place in a name that goes into email
	// greetings and headers.
	if strings.IndexFunc(n, unicode.IsControl) >= 0 {
		return "", invalid("name", "The name contains control characters.")
	}
	return n, nil
}

// normalizeLocale checks a BCP 47 language tag and returns its canonical form; "" stays "".
func normalizeLocale(locale string) (string, error) {
	l := strings.TrimSpace(locale)
	if l == "" {
		return "", nil
	}
	if len(l) > 35 { // generous for any real tag; keeps the parser's work bounded
		return "", invalid("locale", "The locale is not a valid language tag.")
	}
	tag, err := language.Parse(l)
	if err != nil {
		return "", invalid("locale", "The locale is not a valid language tag.")
	}
	return tag.String(), nil
}

// isDigits6 reports whether c is exactly six ASCII digits.
func isDigits6(c string) bool {
	if len(c) != codeDigits {
		return false
	}
	for i := 0; i < len(c); i++ {
		if c[i] < '0' || c[i] > '9' {
			return false
		}
	}
	return true
}

// isEmailIdentifier reports whether a sign-in identifier names an email address rather than a phone.
func isEmailIdentifier(id string) bool { return strings.Contains(id, "@") }
