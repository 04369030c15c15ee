package phone

import (
	"errors"
	"strings"
	"testing"

	"github.com/gatehouse/gatehouse"
)

func TestParseWrittenFormsOfOneNumber(t *testing.T) {
	const want = "+96550000000"
	tests := []struct {
		name   string
		input  string
		region string
	}{
		{"international with spaces", "+965 5000 0000", "US"},
		{"international digits only", "+96550000000", ""},
		{"international prefix 00 from a region that dials 011", "0096550000000", "US"},
		{"international prefix 00 with spaces, no default region", "00 965 5000 0000", ""},
		{"international prefix 00 from the number's own region", "0096550000000", "KW"},
		{"international prefix 011 from the US", "011 965 5000 0000", "US"},
		{"national number in its region", "5000 0000", "KW"},
		{"region in lower case", "50000000", "kw"},
		{"dashes and brackets", "+965 (5000)-0000", "GB"},
		{"dots", "+965.5000.0000", ""},
		{"surrounding spaces", "  +965 5000 0000\t", "US"},
		{"arabic-indic digits", "+٩٦٥ ٥٠٠٠ ٠٠٠٠", "US"},
		{"arabic-indic digits with 00", "٠٠٩٦٥٥٠٠٠٠٠٠٠", "US"},
		{"full-width digits and plus", "＋９６５５０００００００", ""},
		{"tel URI", "tel:+965-5000-0000", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n, err := Parse(tt.input, tt.region)
			if err != nil {
				t.Fatalf("Parse(%q, %q): %v", tt.input, tt.region, err)
			}
			if n.E164 != want || n.Region != "KW" || n.CountryCode != 965 || n.Type != TypeMobile {
				t.Errorf("Parse(%q, %q) = %+v, want %s KW 965 mobile", tt.input, tt.region, n, want)
			}
		})
	}
}

func TestParseOtherRegions(t *testing.T) {
	tests := []struct {
		name, input, region string
		want                Number
	}{
		{"US national with default region US", "(202) 555-0142", "US",
			Number{E164: "+12025550142", Region: "US", CountryCode: 1, Type: TypeFixedLineOrMobile}},
		{"US with +1", "+1 202-555-0142", "KW",
			Number{E164: "+12025550142", Region: "US", CountryCode: 1, Type: TypeFixedLineOrMobile}},
		{"Canada shares +1 and is told apart", "+1 416 555 0199", "",
			Number{E164: "+14165550199", Region: "CA", CountryCode: 1, Type: TypeFixedLineOrMobile}},
		{"UK mobile with its trunk zero", "07400 123456", "GB",
			Number{E164: "+447400123456", Region: "GB", CountryCode: 44, Type: TypeMobile}},
		{"Kuwait fixed line", "+965 2222 2222", "",
			Number{E164: "+96522222222", Region: "KW", CountryCode: 965, Type: TypeFixedLine}},
		{"Saudi mobile national form", "050 123 4567", "SA",
			Number{E164: "+966501234567", Region: "SA", CountryCode: 966, Type: TypeMobile}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Parse(tt.input, tt.region)
			if err != nil {
				t.Fatalf("Parse(%q, %q): %v", tt.input, tt.region, err)
			}
			if got != tt.want {
				t.Errorf("Parse(%q, %q) = %+v, want %+v", tt.input, tt.region, got, tt.want)
			}
		})
	}
}

func TestParseRejects(t *testing.T) {
	tests := []struct {
		name, input, region string
		message             string
	}{
		{"empty", "", "US", "Enter a phone number."},
		{"blank", "   ", "US", "Enter a phone number."},
		{"letters", "call me", "US", "This is not a phone number."},
		{"one digit", "5", "US", "This is not a phone number."},
		{"too short for the region", "123", "US", "The phone number is too short."},
		{"too short international", "+965 5000", "", "The phone number is too short."},
		{"too long", "+965 5000 0000 0000", "", "The phone number is too long."},
		{"too long input", "+965 " + strings.Repeat("0", 80), "", "The phone number is too long."},
		{"unknown country code", "+999 1234 5678", "", "The country code of the phone number is not valid."},
		{"no country code and no default region", "5000 0000", "", "Enter the phone number with its country code, starting with +."},
		{"invalid range for its country", "+965 1234 5678", "", "The phone number is not a valid +965 number."},
		{"invalid range after 00", "0096512345678", "US", "The phone number is not a valid +965 number."},
		{"invalid for the default region", "(555) 555-5555", "US", "The phone number is not a valid +1 number."},
		{"extension", "+1 202 555 0142 ext. 5", "", "The phone number must not have an extension."},
		{"invalid UTF-8", "+965\xff50000000", "", "This is not a phone number."},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n, err := Parse(tt.input, tt.region)
			if err == nil {
				t.Fatalf("Parse(%q, %q) = %+v, want an error", tt.input, tt.region, n)
			}
			var e *gatehouse.Error
			if !errors.As(err, &e) {
				t.Fatalf("error %T %v is not a *gatehouse.Error", err, err)
			}
			if e.Code != gatehouse.EINVALID || e.Reason != "invalid_phone" || e.Field != "phone" {
				t.Errorf("error = code %q reason %q field %q, want invalid/invalid_phone/phone", e.Code, e.Reason, e.Field)
			}
			if e.Message != tt.message {
				t.Errorf("message = %q, want %q", e.Message, tt.message)
			}
			if n != (Number{}) {
				t.Errorf("number = %+v alongside the error, want the zero Number", n)
			}
		})
	}
}

func TestMask(t *testing.T) {
	tests := []struct{ in, want string }{
		{"+96550000000", "+965 •••• 0000"},
		{"+12025550142", "+1 •••• 0142"},
		{"+447400123456", "+44 •••• 3456"},
		{"+2901234", "+290 •••• 34"}, // Saint Helena: four-digit national numbers
		{"+965", "••••"},
		{"", "••••"},
		{"96550000000", "••••"},
		{"+965 5000 0000", "••••"},
		{"+9991234567", "••••"},
		{"+12345678901234567", "••••"},
		{"not a number", "••••"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			if got := Mask(tt.in); got != tt.want {
				t.Errorf("Mask(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func BenchmarkParse(b *testing.B) {
	for b.Loop() {
		if _, err := Parse("+965 5000 0000", "KW"); err != nil {
			b.Fatal(err)
		}
	}
}
