package sms

import (
	"bytes"
	"embed"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync"
	"text/template"
	"unicode"
)

// Purposes: what a message is for. Each has a template per locale.
const (
	// PurposeRegister carries the code that confirms a phone sign-up. Data: App, Code, Minutes.
	PurposeRegister = "register"
	// PurposeLogin carries a passwordless sign-in code. Data: App, Code, Minutes.
	PurposeLogin = "login"
	// PurposeReset carries a password reset code. Data: App, Code, Minutes.
	PurposeReset = "reset"
	// PurposePhoneChange carries the code that confirms a new number (sent to the new number).
	// Data: App, Code, Minutes.
	PurposePhoneChange = "phone_change"
	// PurposePhoneChangedNotice tells the old number that the account's number changed. Data: App.
	PurposePhoneChangedNotice = "phone_changed_notice"
	// PurposeAccountExists tells the owner of a number that someone tried to sign up with it.
	// Data: App.
	PurposeAccountExists = "account_exists"
)

// Data keys of the templates.
const (
	KeyApp     = "App"     // the product's name as people know it ("Gatehouse")
	KeyCode    = "Code"    // the one-time code: 4 to 10 ASCII digits
	KeyMinutes = "Minutes" // how long the code stays valid, in whole minutes (1 to 1440)
)

// DefaultLocale is the locale used when the requested one has no templates.
const DefaultLocale = "en"

// purposeKeys lists the data keys of each purpose; every one is required and no other is
// accepted, so that a misspelt key fails when the message is queued, not on someone's phone.
var purposeKeys = map[string][]string{
	PurposeRegister:           {KeyApp, KeyCode, KeyMinutes},
	PurposeLogin:              {KeyApp, KeyCode, KeyMinutes},
	PurposeReset:              {KeyApp, KeyCode, KeyMinutes},
	PurposePhoneChange:        {KeyApp, KeyCode, KeyMinutes},
	PurposePhoneChangedNotice: {KeyApp},
	PurposeAccountExists:      {KeyApp},
}

// localeMinutes words a number of minutes in each locale.
var localeMinutes = map[string]func(n int) string{
	"en": minutesEnglish,
	"ar": minutesArabic,
}

// Purposes lists the purposes, sorted.
func Purposes() []string { return slices.Sorted(maps.Keys(purposeKeys)) }

// Locales lists the locales that have templates, sorted.
func Locales() []string { return slices.Sorted(maps.Keys(localeMinutes)) }

// ResolveLocale maps a language tag ("ar", "ar-KW", "en_GB") to a locale that has templates: its
// primary language when there are templates for it, DefaultLocale otherwise.
func ResolveLocale(tag string) string {
	primary, _, _ := strings.Cut(strings.ReplaceAll(strings.TrimSpace(tag), "_", "-"), "-")
	primary = strings.ToLower(primary)
	if _, ok := localeMinutes[primary]; ok {
		return primary
	}
	return DefaultLocale
}

//go:embed templates
var templateFS embed.FS

// catalog parses each locale's file once. The embedded files cannot change, so a parse error is a
// bug that the tests catch; Render reports it rather than panicking.
var catalog = sync.OnceValues(func() (map[string]*template.Template, error) {
	out := map[string]*template.Template{}
	for loc, minutes := range localeMinutes {
		t, err := template.New(loc).Option("missingkey=error").
			Funcs(template.FuncMap{"minutes": func(s string) string { n, _ := strconv.Atoi(s); return minutes(n) }}).
			ParseFS(templateFS, "templates/"+loc+".tmpl")
		if err != nil {
			return nil, fmt.Errorf("parse sms templates %s: %w", loc, err)
		}
		for purpose := range purposeKeys {
			if t.Lookup(purpose) == nil {
				return nil, fmt.Errorf("sms templates %s: no template %q", loc, purpose)
			}
		}
		out[loc] = t
	}
	return out, nil
})

// ErrUnknownPurpose is returned (wrapped) by Render for a purpose that has no template.
var ErrUnknownPurpose = errors.New("sms: unknown purpose")

// Render returns the text of a purpose's message in a locale (resolved by ResolveLocale, so unknown
// locales fall back to English), on one line. Data must hold exactly the purpose's keys (see the
// Purpose constants): Code must be 4 to 10 ASCII digits, Minutes a whole number from 1 to 1440,
// and App is stripped of control and bidirectional-format characters so that it cannot reorder or
// break the text.
func Render(purpose, locale string, data map[string]string) (string, error) {
	keys, ok := purposeKeys[purpose]
	if !ok {
		return "", fmt.Errorf("render sms %q: %w", purpose, ErrUnknownPurpose)
	}
	view := make(map[string]string, len(keys))
	for _, k := range keys {
		v, err := checkValue(k, data[k])
		if err != nil {
			return "", fmt.Errorf("render sms %s: %w", purpose, err)
		}
		view[k] = v
	}
	for k := range data {
		if !slices.Contains(keys, k) {
			return "", fmt.Errorf("render sms %s: unexpected data %q", purpose, k)
		}
	}
	cat, err := catalog()
	if err != nil {
		return "", fmt.Errorf("render sms %s: %w", purpose, err)
	}
	loc := ResolveLocale(locale)
	var buf bytes.Buffer
	if err := cat[loc].ExecuteTemplate(&buf, purpose, view); err != nil {
		return "", fmt.Errorf("render sms %s/%s: %w", loc, purpose, err)
	}
	return strings.Join(strings.Fields(buf.String()), " "), nil
}

// checkValue validates one data value and returns it as the template shows it.
func checkValue(key, v string) (string, error) {
	switch key {
	case KeyCode:
		if len(v) < 4 || len(v) > 10 || strings.Trim(v, "0123456789") != "" {
			return "", errors.New("data \"Code\" is not 4 to 10 digits") // the value is a secret: not quoted
		}
		return v, nil
	case KeyMinutes:
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 1440 || strconv.Itoa(n) != v {
			return "", fmt.Errorf("data \"Minutes\" %q is not a whole number of minutes from 1 to 1440", v)
		}
		return v, nil
	default:
		v = strings.Join(strings.Fields(strings.Map(func(r rune) rune {
			if unicode.IsControl(r) || unicode.Is(unicode.Cf, r) {
				return ' '
			}
			return r
		}, v)), " ")
		if v == "" {
			return "", fmt.Errorf("data %q is missing", key)
		}
		return v, nil
	}
}

func minutesEnglish(n int) string {
	if n == 1 {
		return "1 minute"
	}
	return strconv.Itoa(n) + " minutes"
}

// minutesArabic words n minutes with Arabic number agreement: the singular alone for one ("a
// minute", shorter than "دقيقة واحدة", which keeps texts in one segment), the dual for two, the
// plural for 3 to 10, and the singular from 11 on (accusative for 11–99 and genitive for round
// hundreds, which share the written form for this word).
func minutesArabic(n int) string {
	switch r := n % 100; {
	case n == 1:
		return "دقيقة"
	case n == 2:
		return "دقيقتين"
	case r >= 3 && r <= 10:
		return strconv.Itoa(n) + " دقائق"
	default:
		return strconv.Itoa(n) + " دقيقة"
	}
}
