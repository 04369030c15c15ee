package mail

import (
	"flag"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// goldenData is the data each template is rendered with for its golden files.
var goldenData = map[string]map[string]string{
	TemplateVerifyEmail: {
		"Name":    "Layla",
		"Link":    "https://id.example.com/verify-email?token=Zm9vYmFyYmF6&lang=en",
		"Code":    "042917",
		"LinkTTL": "24h",
		"CodeTTL": "15m",
	},
	TemplateRegisterExisting: {
		"Name":       "Layla",
		"SignInLink": "https://id.example.com/login",
		"ResetLink":  "https://id.example.com/reset-password",
	},
	TemplateLoginCode: {
		"Name":    "Layla",
		"Code":    "042917",
		"CodeTTL": "5m",
	},
}

func TestRenderGolden(t *testing.T) {
	for _, name := range slices.Sorted(maps.Keys(templateSpecs)) {
		for _, loc := range Locales() {
			t.Run(name+"/"+loc, func(t *testing.T) {
				m, err := Render(name, loc, goldenData[name])
				if err != nil {
					t.Fatalf("Render: %v", err)
				}
				base := filepath.Join("testdata", name+"."+loc)
				golden(t, base+".txt", "Subject: "+m.Subject+"\n\n"+m.Text)
				golden(t, base+".html", m.HTML)
			})
		}
	}
}

// golden compares got with the file, or rewrites the file with -update.
func golden(t *testing.T, path, got string) {
	t.Helper()
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if got != string(want) {
		t.Errorf("%s differs from the rendered output (run go test -update after checking the change):\n--- got ---\n%s", path, got)
	}
}

func TestRenderContent(t *testing.T) {
	tests := []struct {
		locale      string
		wantLang    string
		wantSubject string
		wantWords   []string // in both parts
	}{
		{"en", "en", "Verify your email address", []string{"Hello Layla,", "24 hours", "15 minutes"}},
		{"en-GB", "en", "Verify your email address", []string{"Hello Layla,"}},
		{"fr", "en", "Verify your email address", []string{"Hello Layla,"}},
		{"", "en", "Verify your email address", []string{"Hello Layla,"}},
		{"ar", "ar", "تأكيد عنوان بريدك الإلكتروني", []string{"مرحبًا Layla،", "24 ساعة", "15 دقيقة"}},
		{"AR_eg", "ar", "تأكيد عنوان بريدك الإلكتروني", []string{"مرحبًا Layla،"}},
	}
	data := goldenData[TemplateVerifyEmail]
	for _, tt := range tests {
		t.Run("locale "+strconv.Quote(tt.locale), func(t *testing.T) {
			m, err := Render(TemplateVerifyEmail, tt.locale, data)
			if err != nil {
				t.Fatalf("Render: %v", err)
			}
			if m.Subject != tt.wantSubject {
				t.Errorf("Subject = %q, want %q", m.Subject, tt.wantSubject)
			}
			dir := "ltr"
			if tt.wantLang == "ar" {
				dir = "rtl"
			}
			if want := `<html lang="` + tt.wantLang + `" dir="` + dir + `">`; !strings.Contains(m.HTML, want) {
				t.Errorf("HTML lacks %s", want)
			}
			if !strings.Contains(m.HTML, "<title>"+tt.wantSubject+"</title>") {
				t.Error("HTML title is not the subject")
			}
			htmlLink := strings.ReplaceAll(data["Link"], "&", "&amp;")
			if !strings.Contains(m.HTML, `href="`+htmlLink+`"`) || !strings.Contains(m.Text, "\n"+data["Link"]+"\n") {
				t.Error("a part lacks the link")
			}
			for _, w := range append([]string{data["Code"]}, tt.wantWords...) {
				if !strings.Contains(m.Text, w) || !strings.Contains(m.HTML, w) {
					t.Errorf("a part lacks %q", w)
				}
			}
		})
	}
}

func TestRenderEscapes(t *testing.T) {
	data := map[string]string{
		"Name":    `<script>alert("x")</script> & "Eve"` + "\r\nBcc: victim@example.com",
		"Link":    "https://id.example.com/verify-email?token=a\"><script>b",
		"Code":    "123456",
		"LinkTTL": "24h",
		"CodeTTL": "15m",
	}
	for _, loc := range Locales() {
		t.Run(loc, func(t *testing.T) {
			m, err := Render(TemplateVerifyEmail, loc, data)
			if err != nil {
				t.Fatalf("Render: %v", err)
			}
			if strings.Contains(m.HTML, "<script") || strings.Contains(m.HTML, `alert("x")`) {
				t.Errorf("HTML holds the name unescaped:\n%s", m.HTML)
			}
			if !strings.Contains(m.HTML, "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt; &amp; &#34;Eve&#34;") {
				t.Errorf("HTML lacks the escaped name:\n%s", m.HTML)
			}
			if !strings.Contains(m.HTML, `href="https://id.example.com/verify-email?token=a%22%3e%3cscript%3eb"`) {
				t.Errorf("HTML lacks the link, escaped in its attribute:\n%s", m.HTML)
			}
			// Plain text is shown as written: the name appears as is, but on the greeting line
			// only, with its line break gone.
			if !strings.Contains(m.Text, `<script>alert("x")</script> & "Eve"  Bcc: victim@example.com`) {
				t.Errorf("text lacks the name as written:\n%s", m.Text)
			}
			for line := range strings.SplitSeq(m.Text, "\n") {
				if strings.HasPrefix(line, "Bcc:") {
					t.Errorf("the name started a line of its own: %q", line)
				}
			}
		})
	}
}

func TestRenderRefuses(t *testing.T) {
	full := goldenData[TemplateVerifyEmail]
	with := func(k, v string) map[string]string {
		d := map[string]string{}
		for key, val := range full {
			d[key] = val
		}
		if v == "" {
			delete(d, k)
		} else {
			d[k] = v
		}
		return d
	}
	tests := []struct {
		name     string
		template string
		data     map[string]string
		wantErr  string
	}{
		{"unknown template", "welcome", full, "unknown email template"},
		{"missing link", TemplateVerifyEmail, with("Link", ""), `"Link" is missing`},
		{"blank code", TemplateVerifyEmail, with("Code", "  "), `"Code" is missing`},
		{"misspelt key", TemplateVerifyEmail, with("link", "x"), `unexpected data "link"`},
		{"reserved key", TemplateVerifyEmail, with("Subject", "x"), `unexpected data "Subject"`},
		{"bad duration", TemplateVerifyEmail, with("LinkTTL", "a day"), "not a positive Go duration"},
		{"javascript link", TemplateVerifyEmail, with("Link", "javascript:alert(1)"), `"Link" is not an http(s) URL`},
		{"relative link", TemplateVerifyEmail, with("Link", "/verify-email?token=x"), `"Link" is not an http(s) URL`},
		{"register_existing needs its links", TemplateRegisterExisting, map[string]string{"SignInLink": "https://x"}, `"ResetLink" is missing`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Render(tt.template, "en", tt.data)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("err = %v, want containing %q", err, tt.wantErr)
			}
		})
	}
}

func TestRenderWithoutName(t *testing.T) {
	data := map[string]string{"SignInLink": "https://id.example.com/login", "ResetLink": "https://id.example.com/reset"}
	for loc, want := range map[string]string{"en": "Hello,\n", "ar": "مرحبًا،\n"} {
		m, err := Render(TemplateRegisterExisting, loc, data)
		if err != nil {
			t.Fatalf("Render %s: %v", loc, err)
		}
		if !strings.HasPrefix(m.Text, want) {
			t.Errorf("%s text starts %q, want %q", loc, m.Text[:min(len(m.Text), 20)], want)
		}
	}
}

func TestDurations(t *testing.T) {
	tests := []struct {
		d      time.Duration
		en, ar string
	}{
		{time.Minute, "1 minute", "دقيقة واحدة"},
		{2 * time.Minute, "2 minutes", "دقيقتين"},
		{5 * time.Minute, "5 minutes", "5 دقائق"},
		{10 * time.Minute, "10 minutes", "10 دقائق"},
		{15 * time.Minute, "15 minutes", "15 دقيقة"},
		{90 * time.Second, "2 minutes", "دقيقتين"},
		{10 * time.Second, "1 minute", "دقيقة واحدة"},
		{90 * time.Minute, "90 minutes", "90 دقيقة"},
		{time.Hour, "1 hour", "ساعة واحدة"},
		{2 * time.Hour, "2 hours", "ساعتين"},
		{24 * time.Hour, "24 hours", "24 ساعة"},
		{48 * time.Hour, "2 days", "يومين"},
		{7 * 24 * time.Hour, "7 days", "7 أيام"},
		{30 * 24 * time.Hour, "30 days", "30 يومًا"},
		{100 * 24 * time.Hour, "100 days", "100 يوم"},
		{103 * 24 * time.Hour, "103 days", "103 أيام"},
	}
	for _, tt := range tests {
		if got := durationEnglish(tt.d); got != tt.en {
			t.Errorf("English %v = %q, want %q", tt.d, got, tt.en)
		}
		if got := durationArabic(tt.d); got != tt.ar {
			t.Errorf("Arabic %v = %q, want %q", tt.d, got, tt.ar)
		}
	}
}

func TestCatalogParses(t *testing.T) {
	cat, err := catalog()
	if err != nil {
		t.Fatal(err)
	}
	for _, loc := range Locales() {
		for name := range templateSpecs {
			if _, ok := cat[loc][name]; !ok {
				t.Errorf("no %s template for %s", name, loc)
			}
		}
	}
}
