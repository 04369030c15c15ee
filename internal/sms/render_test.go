package sms

import (
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf16"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// goldenData is the data each purpose is rendered with for its golden files.
func goldenData(purpose string) map[string]string {
	data := map[string]string{KeyApp: "Gatehouse"}
	if len(purposeKeys[purpose]) > 1 {
		data[KeyCode] = "482913"
		data[KeyMinutes] = "5"
	}
	return data
}

func TestRenderGolden(t *testing.T) {
	for _, purpose := range Purposes() {
		for _, loc := range Locales() {
			t.Run(purpose+"/"+loc, func(t *testing.T) {
				got, err := Render(purpose, loc, goldenData(purpose))
				if err != nil {
					t.Fatalf("Render: %v", err)
				}
				golden(t, filepath.Join("testdata", purpose+"."+loc+".txt"), got+"\n")
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
		t.Errorf("%s differs from the rendered text (run go test -update after checking the change):\n--- got ---\n%s--- want ---\n%s", path, got, want)
	}
}

// TestRenderFitsOneSegment holds the texts to one segment each with a name of up to ten
// characters, a 6-digit code and minutes from 1 to 99: English in the GSM alphabet (160
// characters), Arabic in UCS-2 (70 UTF-16 units).
func TestRenderFitsOneSegment(t *testing.T) {
	for _, purpose := range Purposes() {
		for _, loc := range Locales() {
			for _, minutes := range []string{"1", "2", "5", "10", "15", "99"} {
				data := goldenData(purpose)
				data[KeyApp] = "Gatehouse1"
				if _, ok := data[KeyMinutes]; ok {
					data[KeyMinutes] = minutes
				}
				text, err := Render(purpose, loc, data)
				if err != nil {
					t.Fatalf("Render(%s, %s): %v", purpose, loc, err)
				}
				n, enc := Segments(text)
				if n != 1 {
					t.Errorf("%s/%s with %s minutes takes %d %s segments (%d UTF-16 units): %q", purpose, loc, minutes, n, enc, len(utf16.Encode([]rune(text))), text)
				}
				if loc == "en" && enc != EncodingGSM7 {
					t.Errorf("%s/en is not in the GSM alphabet: %q", purpose, text)
				}
			}
		}
	}
}

func TestRenderCarriesTheData(t *testing.T) {
	for _, purpose := range Purposes() {
		for _, loc := range Locales() {
			data := goldenData(purpose)
			text, err := Render(purpose, loc, data)
			if err != nil {
				t.Fatal(err)
			}
			for k, v := range data {
				if !strings.Contains(text, v) {
					t.Errorf("%s/%s: %q lacks %s %q", purpose, loc, text, k, v)
				}
			}
			if strings.ContainsAny(text, "\r\n\t") || text != strings.TrimSpace(text) {
				t.Errorf("%s/%s: %q is not one trimmed line", purpose, loc, text)
			}
		}
	}
}

func TestRenderLocales(t *testing.T) {
	tests := []struct{ tag, want string }{
		{"ar", "ar"}, {"ar-KW", "ar"}, {"AR_eg", "ar"}, {"en-GB", "en"}, {"fr", "en"}, {"", "en"}, {"  ar  ", "ar"},
	}
	for _, tt := range tests {
		t.Run(tt.tag, func(t *testing.T) {
			if got := ResolveLocale(tt.tag); got != tt.want {
				t.Errorf("ResolveLocale(%q) = %q, want %q", tt.tag, got, tt.want)
			}
		})
	}
	en, _ := Render(PurposeLogin, "fr-FR", goldenData(PurposeLogin))
	want, _ := Render(PurposeLogin, "en", goldenData(PurposeLogin))
	if en != want {
		t.Errorf("an unknown locale does not fall back to English: %q", en)
	}
}

func TestMinutesWording(t *testing.T) {
	tests := []struct {
		n      int
		en, ar string
	}{
		{1, "1 minute", "دقيقة"},
		{2, "2 minutes", "دقيقتين"},
		{3, "3 minutes", "3 دقائق"},
		{10, "10 minutes", "10 دقائق"},
		{11, "11 minutes", "11 دقيقة"},
		{100, "100 minutes", "100 دقيقة"},
		{103, "103 minutes", "103 دقائق"},
		{111, "111 minutes", "111 دقيقة"},
	}
	for _, tt := range tests {
		if got := minutesEnglish(tt.n); got != tt.en {
			t.Errorf("minutesEnglish(%d) = %q, want %q", tt.n, got, tt.en)
		}
		if got := minutesArabic(tt.n); got != tt.ar {
			t.Errorf("minutesArabic(%d) = %q, want %q", tt.n, got, tt.ar)
		}
	}
}

func TestRenderRejects(t *testing.T) {
	full := func() map[string]string { return goldenData(PurposeLogin) }
	with := func(k, v string) map[string]string { d := full(); d[k] = v; return d }
	without := func(k string) map[string]string { d := full(); delete(d, k); return d }
	tests := []struct {
		name    string
		purpose string
		data    map[string]string
		want    string
	}{
		{"unknown purpose", "welcome", full(), "unknown purpose"},
		{"missing app", PurposeLogin, without(KeyApp), `"App" is missing`},
		{"blank app", PurposeLogin, with(KeyApp, " \u202e\n"), `"App" is missing`},
		{"missing code", PurposeLogin, without(KeyCode), `"Code" is not 4 to 10 digits`},
		{"code with letters", PurposeLogin, with(KeyCode, "12a456"), `"Code" is not 4 to 10 digits`},
		{"code too short", PurposeLogin, with(KeyCode, "123"), `"Code" is not 4 to 10 digits`},
		{"code of another script", PurposeLogin, with(KeyCode, "١٢٣٤٥٦"), `"Code" is not 4 to 10 digits`},
		{"missing minutes", PurposeLogin, without(KeyMinutes), `"Minutes"`},
		{"zero minutes", PurposeLogin, with(KeyMinutes, "0"), `"Minutes" "0"`},
		{"minutes as a duration", PurposeLogin, with(KeyMinutes, "5m"), `"Minutes" "5m"`},
		{"minutes with a plus", PurposeLogin, with(KeyMinutes, "+5"), `"Minutes" "+5"`},
		{"too many minutes", PurposeLogin, with(KeyMinutes, "1441"), `"Minutes" "1441"`},
		{"unknown key", PurposeLogin, with("Name", "Layla"), `unexpected data "Name"`},
		{"a code for a notice", PurposePhoneChangedNotice, map[string]string{KeyApp: "X", KeyCode: "123456"}, `unexpected data "Code"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			text, err := Render(tt.purpose, "en", tt.data)
			if err == nil {
				t.Fatalf("Render = %q, want an error", text)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not say %q", err, tt.want)
			}
			if code := tt.data[KeyCode]; len(code) >= 4 && strings.Contains(err.Error(), code) {
				t.Errorf("error %q shows the code", err)
			}
		})
	}
	if _, err := Render("welcome", "en", nil); !errors.Is(err, ErrUnknownPurpose) {
		t.Errorf("unknown purpose: %v, want ErrUnknownPurpose", err)
	}
}

func TestRenderNeutralisesTheAppName(t *testing.T) {
	data := goldenData(PurposeLogin)
	data[KeyApp] = "Gate\u202ehouse\r\nCall +1 555"
	text, err := Render(PurposeLogin, "en", data)
	if err != nil {
		t.Fatal(err)
	}
	if strings.ContainsAny(text, "\u202e\r\n") {
		t.Errorf("control or bidi characters kept: %q", text)
	}
	if !strings.HasPrefix(text, "Gate house Call +1 555: ") {
		t.Errorf("text = %q", text)
	}
}

func TestSegments(t *testing.T) {
	tests := []struct {
		name string
		text string
		n    int
		enc  string
	}{
		{"empty", "", 0, EncodingGSM7},
		{"short ASCII", "Your code is 123456", 1, EncodingGSM7},
		{"160 GSM characters", strings.Repeat("a", 160), 1, EncodingGSM7},
		{"161 GSM characters", strings.Repeat("a", 161), 2, EncodingGSM7},
		{"306 GSM characters", strings.Repeat("a", 306), 2, EncodingGSM7},
		{"307 GSM characters", strings.Repeat("a", 307), 3, EncodingGSM7},
		{"extension characters count twice", strings.Repeat("€", 80), 1, EncodingGSM7},
		{"81 extension characters", strings.Repeat("€", 81), 2, EncodingGSM7},
		{"GSM accents", "àéÑß£¥", 1, EncodingGSM7},
		{"70 Arabic characters", strings.Repeat("ب", 70), 1, EncodingUCS2},
		{"71 Arabic characters", strings.Repeat("ب", 71), 2, EncodingUCS2},
		{"134 Arabic characters", strings.Repeat("ب", 134), 2, EncodingUCS2},
		{"one curly quote turns it UCS-2", strings.Repeat("a", 70) + "’", 2, EncodingUCS2},
		{"emoji take two units", strings.Repeat("😀", 35), 1, EncodingUCS2},
		{"36 emoji", strings.Repeat("😀", 36), 2, EncodingUCS2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n, enc := Segments(tt.text)
			if n != tt.n || enc != tt.enc {
				t.Errorf("Segments = %d %s, want %d %s", n, enc, tt.n, tt.enc)
			}
		})
	}
}
