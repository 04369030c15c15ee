package config

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/joho/godotenv"
)

var update = flag.Bool("update", false, "rewrite the generated reference in docs/configuration.md")

const (
	docsPath    = "../../docs/configuration.md"
	beginMarker = "<!-- BEGIN GENERATED REFERENCE: go test ./internal/config -run TestDocsReference -update -->\n"
	endMarker   = "<!-- END GENERATED REFERENCE -->\n"
)

var sectionTitles = map[string]string{
	"":         "General",
	"http":     "HTTP server",
	"database": "Database (records and jobs)",
	"redis":    "Redis (ephemeral store)",
	"smtp":     "Mail",
	"log":      "Logging",
	"sentry":   "Error reporting (Sentry)",
	"jobs":     "Job queue",
	"purge":    "Data retention",
	"metrics":  "Metrics",
	"secret":   "Secrets",
	"token":    "Access tokens",
	"session":  "Sessions",
	"password": "Passwords",
	"account":  "Accounts",
	"cookies":  "Browser cookies",
	"otp":      "One-time codes",
	"sms":      "Text messages (SMS)",
}

// reference renders the key table as the Markdown that docs/configuration.md embeds.
func reference(t *testing.T) string {
	var b strings.Builder
	section := "-"
	for i := range keyTable {
		k := &keyTable[i]
		if s := k.section(); s != section {
			section = s
			title, ok := sectionTitles[s]
			if !ok {
				t.Fatalf("no section title for %q", s)
			}
			fmt.Fprintf(&b, "\n### %s\n\n| Variable | File key | Default | Meaning and accepted values |\n|---|---|---|---|\n", title)
		}
		vars := "`" + k.env + "`"
		if k.secret {
			vars += "<br>`" + k.env + "_FILE`"
		}
		for _, a := range k.aliases {
			vars += "<br>or `" + a + "`"
			if k.secret {
				vars += ", `" + a + "_FILE`"
			}
		}
		file := "`" + k.file + "`"
		def := k.defaultText()
		switch {
		case k.defDoc != "":
		case k.prodDef != "":
			def = fmt.Sprintf("`%s`; `%s` in production", k.def, k.prodDef)
		case def == "":
			def = "empty"
		default:
			def = "`" + def + "`"
		}
		meaning := k.doc + "<br>Accepts: " + k.accepts + "."
		if k.secret {
			meaning += " Secret: never printed."
		}
		for _, cell := range []string{vars, file, def, meaning} {
			if strings.Contains(cell, "|") || strings.Contains(cell, "\n") {
				t.Errorf("%s: a table cell contains | or a newline: %q", k.env, cell)
			}
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %s |\n", vars, file, def, meaning)
	}
	return strings.TrimPrefix(b.String(), "\n")
}

func readDocs(t *testing.T) string {
	t.Helper()
	data, err := os.ReadFile(docsPath)
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

// TestDocsReference keeps the reference tables in docs/configuration.md equal to the key table.
func TestDocsReference(t *testing.T) {
	docs := readDocs(t)
	begin, end := strings.Index(docs, beginMarker), strings.Index(docs, endMarker)
	if begin < 0 || end < begin {
		t.Fatalf("%s lacks the markers %q and %q", docsPath, beginMarker, endMarker)
	}
	got := docs[begin+len(beginMarker) : end]
	want := reference(t)
	if got == want {
		return
	}
	if *update {
		docs = docs[:begin+len(beginMarker)] + want + docs[end:]
		if err := os.WriteFile(docsPath, []byte(docs), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	t.Errorf("the reference in %s is out of date; run go test ./internal/config -run TestDocsReference -update", docsPath)
}

var variableToken = regexp.MustCompile(`\b(GATEHOUSE_[A-Z0-9_]*[A-Z0-9]|DATABASE_URL(?:_FILE)?|REDIS_URL(?:_FILE)?|SENTRY_DSN(?:_FILE)?)\b`)

// TestDocsCoverKeys checks that the documentation names every setting and names no setting that
// does not exist.
func TestDocsCoverKeys(t *testing.T) {
	for _, path := range []string{docsPath, "../../docs/operations.md", "../../docs/architecture.md", "../../.env.example"} {
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		for _, name := range slices.Compact(slices.Sorted(slices.Values(variableToken.FindAllString(string(data), -1)))) {
			if strings.HasPrefix(name, "GATEHOUSE_TEST_") || knownVariable(name) {
				continue
			}
			switch name {
			case "GATEHOUSE_LOG_FILE_", // prose about the GATEHOUSE_LOG_FILE_* family
				"GATEHOUSE_HTTP_ADDR_FILE",                 // the example of what is refused
				"GATEHOUSE_SERVICE_HOST", "GATEHOUSE_PORT": // Kubernetes' variables, which are skipped
				continue
			}
			t.Errorf("%s names %s, which is not a setting", filepath.Base(path), name)
		}
	}
	docs := readDocs(t)
	// Outside the generated tables too: the prose explains the keys that need it.
	for _, k := range keyTable {
		if !strings.Contains(docs, "`"+k.env+"`") {
			t.Errorf("%s does not document %s", docsPath, k.env)
		}
	}
}

var codeBlock = regexp.MustCompile("(?s)```(yaml|toml|sh)\n(.*?)```")

// fakeSecrets stands in for mounted secret files in the documentation's examples.
func fakeSecrets(path string) ([]byte, error) {
	switch {
	case strings.Contains(path, "database"):
		return []byte("postgres://gatehouse:secret@db:5432/gatehouse?sslmode=verify-full\n"), nil
	case strings.Contains(path, "redis"):
		return []byte("rediss://:secret@redis:6380/0\n"), nil
	case strings.Contains(path, "smtp"):
		return []byte("smtp://gatehouse:secret@smtp.example.com:587\n"), nil
	case strings.Contains(path, "sentry"):
		return []byte("https://key@o1.ingest.sentry.io/1\n"), nil
	case strings.Contains(path, "metrics"):
		return []byte("metrics-token\n"), nil
	case strings.Contains(path, "secret_key"):
		return []byte(testSecretKey + "\n"), nil
	}
	return files{}.readFile(path)
}

// TestDocsExamples loads every YAML and TOML example of docs/configuration.md as a config file, and
// every sh example made only of VARIABLE=value lines as the environment.
func TestDocsExamples(t *testing.T) {
	blocks := codeBlock.FindAllStringSubmatch(readDocs(t), -1)
	seen := map[string]int{}
	for _, m := range blocks {
		lang, body := m[1], m[2]
		seen[lang]++
		t.Run(fmt.Sprintf("%s %d", lang, seen[lang]), func(t *testing.T) {
			var opts LoadOptions
			switch lang {
			case "yaml", "toml":
				name := "gatehouse." + lang
				opts = LoadOptions{ConfigFile: name, ReadFile: func(path string) ([]byte, error) {
					if path == name {
						return []byte(body), nil
					}
					return fakeSecrets(path)
				}}
			case "sh":
				for _, line := range strings.Split(strings.TrimSpace(body), "\n") {
					if line = strings.TrimSpace(line); line != "" && !strings.HasPrefix(line, "#") && !regexp.MustCompile(`^(export )?[A-Z_]+=`).MatchString(line) {
						t.Skipf("not an environment example: %q", line)
					}
				}
				vars, err := godotenv.Unmarshal(body)
				if err != nil {
					t.Fatal(err)
				}
				opts = LoadOptions{Getenv: func(name string) string { return vars[name] }, ReadFile: fakeSecrets}
			}
			if _, err := Load(opts); err != nil {
				t.Errorf("example does not load: %v\n%s", err, body)
			}
		})
	}
	if seen["yaml"] == 0 || seen["toml"] == 0 || seen["sh"] == 0 {
		t.Errorf("docs/configuration.md should show YAML, TOML and environment examples; found %v", seen)
	}
}

// TestEnvExample loads .env.example as a .env file: it must name only real settings and validate.
func TestEnvExample(t *testing.T) {
	data, err := os.ReadFile("../../.env.example")
	if err != nil {
		t.Fatal(err)
	}
	c := mustLoad(t, nil, files{".env": string(data)}, "")
	if c.Production() {
		t.Error(".env.example should describe development")
	}
	// Uncommenting the example settings must also give a valid configuration.
	var lines []string
	for _, line := range strings.Split(string(data), "\n") {
		if rest, ok := strings.CutPrefix(line, "# GATEHOUSE_"); ok {
			line = "GATEHOUSE_" + rest
		}
		lines = append(lines, line)
	}
	mustLoad(t, nil, files{".env": strings.Join(lines, "\n")}, "")
}
