// Package phone owns phone numbers as gatehouse sees them: whatever a person types ("+965 5000 0000",
// "0096550000000", "(202) 555-0142") is parsed with the libphonenumber metadata (the
// github.com/nyaruka/phonenumbers port), checked to be a valid number of its country, and kept in one
// canonical form, E.164 ("+96550000000"), so that every written form of a number names the same
// account. Mask shortens a number for log lines.
//
// Parse sees untrusted input: it never panics (a fuzz test holds it to that) and its errors are
// *gatehouse.Error values whose message can be shown to the person who typed the number.
package phone

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/nyaruka/phonenumbers"

	"github.com/gatehouse/gatehouse"
)

// MaxInputLen is the longest input Parse looks at, in bytes. A phone number written with spaces,
// brackets and a country code is far shorter; the bound keeps the parser's work small.
const MaxInputLen = 64

// Reason is the gatehouse.Error reason of every Parse error.
const Reason = "invalid_phone"

// Field is the gatehouse.Error field of every Parse error.
const Field = "phone"

// Number types, as reported in Number.Type.
const (
	TypeMobile            = "mobile"
	TypeFixedLine         = "fixed_line"
	TypeFixedLineOrMobile = "fixed_line_or_mobile" // the metadata cannot tell (the US, Canada, ...)
	TypeTollFree          = "toll_free"
	TypePremiumRate       = "premium_rate"
	TypeSharedCost        = "shared_cost"
	TypeVoIP              = "voip"
	TypePersonalNumber    = "personal_number"
	TypePager             = "pager"
	TypeUAN               = "uan"
	TypeVoicemail         = "voicemail"
	TypeUnknown           = "unknown"
)

// Number is a valid phone number.
type Number struct {
	// E164 is the canonical form: "+", the country calling code and the national number, digits
	// only ("+96550000000"). It is what gatehouse stores and compares.
	E164 string
	// Region is the number's country as an ISO 3166-1 alpha-2 code ("KW"). Countries that share a
	// calling code are told apart by the number itself ("+1 416…" is CA).
	Region string
	// CountryCode is the country calling code (965).
	CountryCode int
	// Type is what the metadata says the number is (TypeMobile, TypeFixedLine, ...). A number of
	// any type is valid; whether an SMS can reach it is the caller's policy.
	Type string
}

// Parse parses a phone number written in any common form and returns it normalised.
//
// A number starting with "+" (or written as a tel: URI) carries its country code. Otherwise it is
// read as dialled from defaultRegion (an ISO 3166-1 alpha-2 code, any case): a national number
// ("(202) 555-0142" in the US, "5000 0000" in Kuwait) or one that starts with that region's
// international prefix ("011 965…" from the US, "00 965…" from Kuwait). Since "00" is the
// international prefix of most of the world, a number starting with "00" that is not valid read
// from defaultRegion is also read as if the "00" were a "+" ("0096550000000" with the default region
// US). With an empty defaultRegion only numbers with their country code are accepted.
//
// Digits of other scripts (Arabic-Indic "٩٦٥…", full width) are accepted. Extensions are refused:
// a text message cannot reach one. The number must be valid for its country per the libphonenumber
// metadata (length and number ranges), not merely of a plausible length.
//
// Errors are *gatehouse.Error with code EINVALID, Reason "invalid_phone", Field "phone" and a message
// that says what is wrong, fit to show to the person who typed the number.
func Parse(input, defaultRegion string) (Number, error) {
	input = strings.TrimSpace(input)
	switch {
	case input == "":
		return Number{}, invalid("Enter a phone number.", nil)
	case len(input) > MaxInputLen:
		return Number{}, invalid("The phone number is too long.", nil)
	case !utf8.ValidString(input):
		return Number{}, invalid("This is not a phone number.", nil)
	}
	region := strings.ToUpper(strings.TrimSpace(defaultRegion))

	n, err := parse(input, region)
	if err == nil && n.GetExtension() == "" && phonenumbers.IsValidNumber(n) {
		return number(n), nil
	}
	if alt, ok := internationalZeroZero(input); ok {
		n2, err2 := parse(alt, region)
		if err2 == nil && n2.GetExtension() == "" && phonenumbers.IsValidNumber(n2) {
			return number(n2), nil
		}
		// Whoever starts a number with "00" means an international one: explain what is wrong
		// with it read that way.
		input, n, err = alt, n2, err2
	}
	if err != nil {
		return Number{}, parseError(input, region, err)
	}
	if n.GetExtension() != "" {
		return Number{}, invalid("The phone number must not have an extension.", nil)
	}
	return Number{}, validityError(n)
}

// parse calls the library, turning a panic on hostile input into an error: the library is a port
// of a large Java code base and has had such bugs, and a request must not take the process down.
func parse(input, region string) (n *phonenumbers.PhoneNumber, err error) {
	defer func() {
		if r := recover(); r != nil {
			n, err = nil, fmt.Errorf("phonenumbers: panic: %v", r)
		}
	}()
	return phonenumbers.Parse(input, region)
}

// internationalZeroZero rewrites an input whose first two digits are zeros ("00 965 …",
// "٠٠٩٦٥…") with a "+" in their place, keeping whatever precedes and follows them.
func internationalZeroZero(input string) (string, bool) {
	if strings.ContainsAny(input, "+＋") || strings.HasPrefix(strings.ToLower(input), "tel:") {
		return "", false
	}
	zeros := 0
	for i, r := range input {
		if !unicode.IsDigit(r) {
			continue
		}
		if digitValue(r) != 0 {
			return "", false
		}
		zeros++
		if zeros == 2 {
			return "+" + input[i+utf8.RuneLen(r):], true
		}
	}
	return "", false
}

// digitValue returns the value of a decimal digit of any script (unicode.IsDigit), or -1.
func digitValue(r rune) int {
	s := phonenumbers.NormalizeDigitsOnly(string(r))
	if len(s) != 1 {
		return -1
	}
	return int(s[0] - '0')
}

func number(n *phonenumbers.PhoneNumber) Number {
	return Number{
		E164:        phonenumbers.Format(n, phonenumbers.E164),
		Region:      phonenumbers.GetRegionCodeForNumber(n),
		CountryCode: int(n.GetCountryCode()),
		Type:        typeName(phonenumbers.GetNumberType(n)),
	}
}

// parseError explains an error of the library's parser.
func parseError(input, region string, err error) *gatehouse.Error {
	switch err {
	case phonenumbers.ErrInvalidCountryCode:
		if region == "" && !strings.ContainsAny(input, "+＋") {
			return invalid("Enter the phone number with its country code, starting with +.", err)
		}
		return invalid("The country code of the phone number is not valid.", err)
	case phonenumbers.ErrTooShortNSN, phonenumbers.ErrTooShortAfterIDD:
		return invalid("The phone number is too short.", err)
	case phonenumbers.ErrNumTooLong:
		return invalid("The phone number is too long.", err)
	default:
		return invalid("This is not a phone number.", err)
	}
}

// validityError explains why a parsed number is not valid.
func validityError(n *phonenumbers.PhoneNumber) *gatehouse.Error {
	cause := fmt.Errorf("phonenumbers: %s is not valid", phonenumbers.Format(n, phonenumbers.E164))
	switch phonenumbers.IsPossibleNumberWithReason(n) {
	case phonenumbers.INVALID_COUNTRY_CODE:
		return invalid("The country code of the phone number is not valid.", cause)
	case phonenumbers.TOO_SHORT:
		return invalid("The phone number is too short.", cause)
	case phonenumbers.TOO_LONG:
		return invalid("The phone number is too long.", cause)
	default:
		return invalid(fmt.Sprintf("The phone number is not a valid +%d number.", n.GetCountryCode()), cause)
	}
}

func invalid(message string, cause error) *gatehouse.Error {
	return &gatehouse.Error{Code: gatehouse.EINVALID, Reason: Reason, Field: Field, Message: message, Err: cause}
}

func typeName(t phonenumbers.PhoneNumberType) string {
	switch t {
	case phonenumbers.MOBILE:
		return TypeMobile
	case phonenumbers.FIXED_LINE:
		return TypeFixedLine
	case phonenumbers.FIXED_LINE_OR_MOBILE:
		return TypeFixedLineOrMobile
	case phonenumbers.TOLL_FREE:
		return TypeTollFree
	case phonenumbers.PREMIUM_RATE:
		return TypePremiumRate
	case phonenumbers.SHARED_COST:
		return TypeSharedCost
	case phonenumbers.VOIP:
		return TypeVoIP
	case phonenumbers.PERSONAL_NUMBER:
		return TypePersonalNumber
	case phonenumbers.PAGER:
		return TypePager
	case phonenumbers.UAN:
		return TypeUAN
	case phonenumbers.VOICEMAIL:
		return TypeVoicemail
	default:
		return TypeUnknown
	}
}

// maskBullets replaces the hidden digits; always four, so the mask does not tell the length.
const maskBullets = "••••"

// Mask shortens an E.164 number for log lines: the country code and the last four digits stay
// ("+965 •••• 0000"), enough to tell numbers apart when following one person's trouble, not
// enough to call them. National numbers of seven digits or fewer keep only their last two.
// Anything that is not an E.164 number comes out as "••••" (nothing of it is shown).
func Mask(e164 string) string {
	if len(e164) < 2 || len(e164) > 16 || e164[0] != '+' {
		return maskBullets
	}
	for i := 1; i < len(e164); i++ {
		if c := e164[i]; c < '0' || c > '9' {
			return maskBullets
		}
	}
	cc := countryCodeLen(e164[1:])
	if cc == 0 {
		return maskBullets
	}
	national := e164[1+cc:]
	keep := 4
	if len(national) <= 7 {
		keep = 2
	}
	if len(national) <= keep {
		return e164[:1+cc] + " " + maskBullets
	}
	return e164[:1+cc] + " " + maskBullets + " " + national[len(national)-keep:]
}

// countryCodeLen returns how many leading digits of digits form a country calling code (1 to 3),
// or 0 when none does. Calling codes are a prefix code, so at most one length matches.
func countryCodeLen(digits string) int {
	for l := 1; l <= 3 && l < len(digits); l++ {
		cc := 0
		for _, c := range digits[:l] {
			cc = cc*10 + int(c-'0')
		}
		if r := phonenumbers.GetRegionCodeForCountryCode(cc); r != "" && r != "ZZ" {
			return l
		}
	}
	return 0
}
