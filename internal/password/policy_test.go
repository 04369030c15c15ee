package password

import (
	"errors"
	"strings"
	"testing"

	"github.com/gatehouse/gatehouse"
)

func TestPolicyCheck(t *testing.T) {
	const (
		email = "Alice.Smith+news@Example.com"
		phone = "+44 7700 900123"
	)
	strong := "vivid-otter-carpet-lagoon"
	tests := []struct {
		name       string
		policy     Policy
		password   string
		inputs     []string
		wantReason string // "" for accepted
		wantMsg    string // substring of the message, when set
	}{
		{"accepts a passphrase", DefaultPolicy(), strong, []string{email, phone, "Alice Smith"}, "", ""},
		{"accepts exactly 8", DefaultPolicy(), "k7#mQ2vx", nil, "", ""},
		{"accepts exactly 128", DefaultPolicy(), strings.Repeat("k7#mQ2vx", 16), nil, "", ""},

		{"too short", DefaultPolicy(), "k7#mQ2v", nil, ReasonTooShort, "Password must be at least 8 characters."},
		{"too short counts code points", DefaultPolicy(), "ключ-7", nil, ReasonTooShort, ""},
		{"multi-byte code points are one each", DefaultPolicy(), "ключ-7ab", nil, "", ""},
		{"too short after NFKC composition", DefaultPolicy(), "e\u0301e\u0301e\u0301e\u0301x", nil, ReasonTooShort, ""},
		{"NFKC expansion counts", DefaultPolicy(), "ﬃﬃﬃx", nil, "", ""}, // ffi ffi ffi x = 10
		{"custom minimum", Policy{MinLength: 12, RejectCommon: true}, "k7#mQ2vxp9", nil, ReasonTooShort, "at least 12 characters"},
		{"too long", DefaultPolicy(), strings.Repeat("k7#mQ2vx", 16) + "z", nil, ReasonTooLong, "Password must be at most 128 characters."},
		{"custom maximum", Policy{MaxLength: 20}, strings.Repeat("k7#mQ2vx", 3), nil, ReasonTooLong, "at most 20 characters"},
		{"maximum cannot be raised", Policy{MaxLength: 500}, strings.Repeat("k7#mQ2vx", 17), nil, ReasonTooLong, "at most 128"},
		{"huge input rejected before normalising", DefaultPolicy(), strings.Repeat("\u0301", 100000), nil, ReasonTooLong, ""},

		{"common", DefaultPolicy(), "password", nil, ReasonTooCommon, "too common"},
		{"common any case", DefaultPolicy(), "BaseBall", nil, ReasonTooCommon, ""},
		{"common digits", DefaultPolicy(), "12345678", nil, ReasonTooCommon, ""},
		{"common l33t", DefaultPolicy(), "P@ssw0rd", nil, ReasonTooCommon, ""},
		{"common reversed", DefaultPolicy(), "drowssap", nil, ReasonTooCommon, ""},
		{"common fullwidth", DefaultPolicy(), "ｐａｓｓｗｏｒｄ", nil, ReasonTooCommon, ""},
		{"common allowed when off", Policy{}, "password", nil, "", ""},
		{"common word inside a longer password is fine", DefaultPolicy(), "password-vivid-otter", nil, "", ""},

		{"contains email", DefaultPolicy(), "x" + strings.ToUpper(email) + "1", []string{email}, ReasonContainsIdentifier, "must not contain your email address or phone number"},
		{"contains local part", DefaultPolicy(), "my-alice.smith+news-pw", []string{email}, ReasonContainsIdentifier, ""},
		{"contains sub-address base", DefaultPolicy(), "ALICE.SMITH rocks 42", []string{email}, ReasonContainsIdentifier, ""},
		{"short local part allowed", DefaultPolicy(), "al-vivid-otter-carpet", []string{"al@example.com"}, "", ""},
		{"contains phone digits", DefaultPolicy(), "call 447700900123 now", []string{phone}, ReasonContainsIdentifier, ""},
		{"contains national phone number", DefaultPolicy(), "x07700900123y", []string{phone}, ReasonContainsIdentifier, ""},
		{"contains phone without plus", DefaultPolicy(), "zz5551234567zz", []string{"(555) 123-4567"}, ReasonContainsIdentifier, ""},
		{"short phone ignored", DefaultPolicy(), "vivid-otter-12345", []string{"12345"}, "", ""},
		{"name is not an identifier rule", DefaultPolicy(), "alice smith lagoon carpet", []string{"Alice Smith"}, "", ""},

		{"too weak", Policy{MinScore: 3}, "qwertyuiop1", nil, ReasonTooWeak, "too easy to guess"},
		{"strong enough", Policy{MinScore: 3}, strong, nil, "", ""},
		{"unrelated name keeps the score", Policy{MinScore: 3}, "xylophonicquagga", []string{"Alice Smith"}, "", ""},
		{"user inputs lower the score", Policy{MinScore: 3}, "xylophonicquagga", []string{"Xylophonic Quagga"}, ReasonTooWeak, ""},
		{"score off by default", DefaultPolicy(), "aaaaaaaaaaaa", nil, "", ""},

		{"composition upper", Policy{RequireUpper: true}, strong, nil, ReasonComposition, "Password must contain an uppercase letter."},
		{"composition lower", Policy{RequireLower: true}, "VIVID-OTTER-42", nil, ReasonComposition, "a lowercase letter"},
		{"composition digit", Policy{RequireDigit: true}, strong, nil, ReasonComposition, "a digit"},
		{"composition symbol", Policy{RequireSymbol: true}, "vividottercarpet", nil, ReasonComposition, "a symbol"},
		{"composition lists all missing", Policy{RequireUpper: true, RequireDigit: true, RequireSymbol: true}, "vividottercarpet", nil,
			ReasonComposition, "Password must contain an uppercase letter, a digit and a symbol."},
		{"composition satisfied", Policy{RequireUpper: true, RequireLower: true, RequireDigit: true, RequireSymbol: true}, "Vivid-Otter-42", nil, "", ""},
		{"composition unicode classes", Policy{RequireUpper: true, RequireLower: true, RequireDigit: true}, "Ключ-пароль-٣", nil, "", ""},
		{"space counts as symbol", Policy{RequireSymbol: true}, "vivid otter carpet", nil, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.policy.Check(tt.password, tt.inputs...)
			if tt.wantReason == "" {
				if err != nil {
					t.Fatalf("Check = %v, want nil", err)
				}
				return
			}
			var ge *gatehouse.Error
			if !errors.As(err, &ge) {
				t.Fatalf("Check = %v (%T), want a *gatehouse.Error", err, err)
			}
			if ge.Code != gatehouse.EINVALID || ge.Reason != tt.wantReason || ge.Field != "password" {
				t.Fatalf("Check = {Code %q Reason %q Field %q}, want {%q %q %q}", ge.Code, ge.Reason, ge.Field,
					gatehouse.EINVALID, tt.wantReason, "password")
			}
			if !strings.Contains(ge.Message, tt.wantMsg) || !strings.HasSuffix(ge.Message, ".") {
				t.Fatalf("message %q, want a sentence containing %q", ge.Message, tt.wantMsg)
			}
			if strings.Contains(ge.Message, tt.password) {
				t.Fatalf("message %q repeats the password", ge.Message)
			}
		})
	}
}

// Length is judged first, then identifiers, then commonness, composition and strength.
func TestPolicyCheckOrder(t *testing.T) {
	p := Policy{RejectCommon: true, MinScore: 4, RequireUpper: true, RequireSymbol: true}
	tests := []struct {
		password string
		inputs   []string
		want     string
	}{
		{"pass", []string{"pass@example.com"}, ReasonTooShort},
		{"password", []string{"password@example.com"}, ReasonContainsIdentifier},
		{"password", nil, ReasonTooCommon},
		{"vividottercarpet", nil, ReasonComposition},
		{"Aaaaaaaaaaaa!", nil, ReasonTooWeak},
	}
	for _, tt := range tests {
		err := p.Check(tt.password, tt.inputs...)
		var ge *gatehouse.Error
		if !errors.As(err, &ge) || ge.Reason != tt.want {
			t.Errorf("Check(%q) = %v, want reason %s", tt.password, err, tt.want)
		}
	}
}

func TestPolicyValidate(t *testing.T) {
	tests := []struct {
		name   string
		policy Policy
		ok     bool
	}{
		{"default", DefaultPolicy(), true},
		{"zero", Policy{}, true},
		{"stricter", Policy{MinLength: 15, MaxLength: 64, MinScore: 3, RequireDigit: true}, true},
		{"minimum below NIST", Policy{MinLength: 6}, false},
		{"negative minimum", Policy{MinLength: -1}, false},
		{"maximum above ceiling", Policy{MaxLength: 129}, false},
		{"negative maximum", Policy{MaxLength: -1}, false},
		{"minimum above maximum", Policy{MinLength: 20, MaxLength: 16}, false},
		{"score above 4", Policy{MinScore: 5}, false},
		{"negative score", Policy{MinScore: -1}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.policy.Validate(); (err == nil) != tt.ok {
				t.Fatalf("Validate() = %v, want ok %v", err, tt.ok)
			}
		})
	}
}

func TestDefaultPolicy(t *testing.T) {
	p := DefaultPolicy()
	want := Policy{MinLength: 8, MaxLength: 128, RejectCommon: true}
	if p != want {
		t.Fatalf("DefaultPolicy() = %+v, want %+v", p, want)
	}
}

func TestIdentifiers(t *testing.T) {
	needles, _ := identifiers([]string{" Bob+Shop@Example.COM ", "+1 (555) 123-4567", "Jo", "", "12-34"})
	want := []string{
		"bob+shop@example.com", "bob+shop", "bob",
		"15551234567", "5551234567", "551234567", "51234567",
	}
	if strings.Join(needles, "|") != strings.Join(want, "|") {
		t.Fatalf("identifiers = %q, want %q", needles, want)
	}
}
