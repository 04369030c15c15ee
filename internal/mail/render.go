package mail

import (
	"bytes"
	"embed"
	"errors"
	"fmt"
	htmltemplate "html/template"
	"maps"
	"net/url"
	"slices"
	"strings"
	"sync"
	texttemplate "text/template"
	"time"
	"unicode"
)

// Template names.
const (
	// TemplateVerifyEmail asks a new account to confirm its address. Data: Link (PublicURL +
	// "/verify-email?token=…"), Code (the 6-digit code), LinkTTL and CodeTTL (how long each stays
	// valid, as Go durations: "24h", "15m"); optional Name (the account's display name).
	TemplateVerifyEmail = "verify_email"
	// TemplateRegisterExisting tells the owner of an address that someone tried to sign up with it.
	// Data: SignInLink and ResetLink (the pages to sign in and to reset the password); optional Name.
	TemplateRegisterExisting = "register_existing"
	// TemplateLoginCode carries a one-time code for a passwordless sign-in. Data: Code (the 6-digit
	// code) and CodeTTL (how long it stays valid, as a Go duration: "5m"); optional Name.
	TemplateLoginCode = "login_code"
)

// DefaultLocale is the locale used when the requested one has no templates.
const DefaultLocale = "en"

// Message is a rendered email.
type Message struct {
	Subject string
	Text    string // the text/plain part
	HTML    string // the text/html part
}

// templateSpec lists the data keys a template reads: every required key must be present and
// non-blank, and no other key is accepted, so that a misspelt key fails when the message is queued
// rather than sending an email with a hole in it.
type templateSpec struct {
	required []string
	optional []string
}

var templateSpecs = map[string]templateSpec{
	TemplateVerifyEmail:      {required: []string{"Link", "Code", "LinkTTL", "CodeTTL"}, optional: []string{"Name"}},
	TemplateRegisterExisting: {required: []string{"SignInLink", "ResetLink"}, optional: []string{"Name"}},
	TemplateLoginCode:        {required: []string{"Code", "CodeTTL"}, optional: []string{"Name"}},
}

// localeSpec is what the shared layout needs to know about a locale.
type localeSpec struct {
	dir      string // "ltr" or "rtl"
	duration func(time.Duration) string
}

var localeSpecs = map[string]localeSpec{
	"en": {dir: "ltr", duration: durationEnglish},
	"ar": {dir: "rtl", duration: durationArabic},
}

// Locales lists the locales that have templates, sorted.
func Locales() []string {
	return slices.Sorted(maps.Keys(localeSpecs))
}

// ResolveLocale maps a language tag ("ar", "ar-EG", "en_GB") to a locale that has templates: its
// primary language when there are templates for it, DefaultLocale otherwise.
func ResolveLocale(tag string) string {
	primary, _, _ := strings.Cut(strings.ReplaceAll(strings.TrimSpace(tag), "_", "-"), "-")
	primary = strings.ToLower(primary)
	if _, ok := localeSpecs[primary]; ok {
		return primary
	}
	return DefaultLocale
}

//go:embed templates
var templateFS embed.FS

// templatePair is one template of one locale, parsed for both parts.
type templatePair struct {
	text *texttemplate.Template // defines "subject" and "layout"
	html *htmltemplate.Template // defines "layout"
}

// catalog parses every template of every locale once. The embedded files cannot change, so a parse
// error is a bug that the tests catch; Render reports it rather than panicking.
var catalog = sync.OnceValues(parseCatalog)

func parseCatalog() (map[string]map[string]templatePair, error) {
	out := map[string]map[string]templatePair{}
	for loc, ls := range localeSpecs {
		out[loc] = map[string]templatePair{}
		for name := range templateSpecs {
			text, err := texttemplate.New(name).Option("missingkey=zero").Funcs(texttemplate.FuncMap(templateFuncs(loc, ls))).
				ParseFS(templateFS, "templates/layout.txt.tmpl", "templates/"+loc+"/common.tmpl", "templates/"+loc+"/"+name+".txt.tmpl")
			if err != nil {
				return nil, fmt.Errorf("parse text template %s/%s: %w", loc, name, err)
			}
			html, err := htmltemplate.New(name).Option("missingkey=zero").Funcs(htmltemplate.FuncMap(templateFuncs(loc, ls))).
				ParseFS(templateFS, "templates/layout.html.tmpl", "templates/"+loc+"/common.tmpl", "templates/"+loc+"/"+name+".html.tmpl")
			if err != nil {
				return nil, fmt.Errorf("parse HTML template %s/%s: %w", loc, name, err)
			}
			for _, def := range []string{"subject", "content"} {
				if text.Lookup(def) == nil {
					return nil, fmt.Errorf("text template %s/%s does not define %q", loc, name, def)
				}
			}
			if html.Lookup("content") == nil {
				return nil, fmt.Errorf("HTML template %s/%s does not define \"content\"", loc, name)
			}
			out[loc][name] = templatePair{text: text, html: html}
		}
	}
	return out, nil
}

// buttonLink is the argument of the layout's "button" template.
type buttonLink struct{ URL, Label string }

func templateFuncs(loc string, ls localeSpec) map[string]any {
	align := "left"
	if ls.dir == "rtl" {
		align = "right"
	}
	return map[string]any{
		"lang":  func() string { return loc },
		"dir":   func() string { return ls.dir },
		"align": func() string { return align },
		"link":  func(url, label string) buttonLink { return buttonLink{URL: url, Label: label} },
		"duration": func(s string) (string, error) {
			d, err := time.ParseDuration(s)
			if err != nil || d <= 0 {
				return "", fmt.Errorf("duration %q is not a positive Go duration", s)
			}
			return ls.duration(d), nil
		},
	}
}

// errUnknownTemplate is returned for a template name that does not exist.
var errUnknownTemplate = errors.New("unknown email template")

// Render renders a template in the given locale (resolved by ResolveLocale, so unknown locales
// fall back to English). Data values are the template's fields (see the Template constants); every
// value has its control characters replaced by spaces, so that a name cannot add lines to the
// message, and the HTML part escapes them. The HTML part is a complete document with inline styles;
// the text part carries the same content. Links (the keys ending in "Link") must be http(s) URLs.
func Render(template, locale string, data map[string]string) (Message, error) {
	spec, ok := templateSpecs[template]
	if !ok {
		return Message{}, fmt.Errorf("render %q: %w", template, errUnknownTemplate)
	}
	for _, k := range spec.required {
		if strings.TrimSpace(data[k]) == "" {
			return Message{}, fmt.Errorf("render %s: data %q is missing", template, k)
		}
	}
	view := make(map[string]string, len(data)+1)
	for k, v := range data {
		if !slices.Contains(spec.required, k) && !slices.Contains(spec.optional, k) {
			return Message{}, fmt.Errorf("render %s: unexpected data %q", template, k)
		}
		if strings.HasSuffix(k, "Link") {
			if u, err := url.Parse(v); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
				return Message{}, fmt.Errorf("render %s: data %q is not an http(s) URL", template, k)
			}
		}
		view[k] = stripControl(v)
	}
	cat, err := catalog()
	if err != nil {
		return Message{}, fmt.Errorf("render %s: %w", template, err)
	}
	loc := ResolveLocale(locale)
	pair := cat[loc][template]

	var buf bytes.Buffer
	if err := pair.text.ExecuteTemplate(&buf, "subject", view); err != nil {
		return Message{}, fmt.Errorf("render %s/%s subject: %w", loc, template, err)
	}
	var m Message
	m.Subject = strings.Join(strings.Fields(buf.String()), " ")
	view["Subject"] = m.Subject

	buf.Reset()
	if err := pair.text.ExecuteTemplate(&buf, "layout", view); err != nil {
		return Message{}, fmt.Errorf("render %s/%s text: %w", loc, template, err)
	}
	m.Text = buf.String()

	buf.Reset()
	if err := pair.html.ExecuteTemplate(&buf, "layout", view); err != nil {
		return Message{}, fmt.Errorf("render %s/%s HTML: %w", loc, template, err)
	}
	m.HTML = buf.String()
	return m, nil
}

// stripControl replaces control characters (line breaks included) and Unicode format characters
// such as bidirectional overrides with spaces.
func stripControl(s string) string {
	return strings.Map(func(r rune) rune {
		if unicode.IsControl(r) || unicode.Is(unicode.Cf, r) {
			return ' '
		}
		return r
	}, s)
}

// durationUnits breaks d into the largest whole unit that measures it exactly: days (from two
// days on: "24 hours" reads better than "1 day"), hours or minutes (rounded up, at least one).
func durationUnits(d time.Duration) (int64, string) {
	switch {
	case d >= 48*time.Hour && d%(24*time.Hour) == 0:
		return int64(d / (24 * time.Hour)), "day"
	case d >= time.Hour && d%time.Hour == 0:
		return int64(d / time.Hour), "hour"
	default:
		return max(int64((d+time.Minute-1)/time.Minute), 1), "minute"
	}
}

func durationEnglish(d time.Duration) string {
	n, unit := durationUnits(d)
	if n == 1 {
		return "1 " + unit
	}
	return fmt.Sprintf("%d %ss", n, unit)
}

// arabicUnit holds the forms Arabic counts a unit with: one, two (dual), 3–10 (plural), 11–99
// (accusative singular) and hundreds ending in 00–02 (genitive singular).
type arabicUnit struct{ one, two, few, many, hundred string }

var arabicUnits = map[string]arabicUnit{
	"minute": {"دقيقة واحدة", "دقيقتين", "دقائق", "دقيقة", "دقيقة"},
	"hour":   {"ساعة واحدة", "ساعتين", "ساعات", "ساعة", "ساعة"},
	"day":    {"يوم واحد", "يومين", "أيام", "يومًا", "يوم"},
}

func durationArabic(d time.Duration) string {
	n, unit := durationUnits(d)
	u := arabicUnits[unit]
	switch r := n % 100; {
	case n == 1:
		return u.one
	case n == 2:
		return u.two
	case r >= 3 && r <= 10:
		return fmt.Sprintf("%d %s", n, u.few)
	case r >= 11:
		return fmt.Sprintf("%d %s", n, u.many)
	default:
		return fmt.Sprintf("%d %s", n, u.hundred)
	}
}
