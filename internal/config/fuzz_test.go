package config

import (
	"net/url"
	"slices"
	"strings"
	"testing"
)

// The parsers below see operator input (environment, .env and config files); the seed corpora are in
// testdata/fuzz.

func FuzzRedactURL(f *testing.F) {
	f.Add("postgres://user:pass@host:5432/db?sslmode=disable", false)
	f.Add("https://key@o1.ingest.sentry.io/42", true)
	f.Fuzz(func(t *testing.T, s string, maskUser bool) {
		out := redactURL(s, maskUser)
		if again := redactURL(out, maskUser); again != out {
			t.Errorf("redactURL is not idempotent: %q -> %q -> %q", s, out, again)
		}
		u, err := url.Parse(s)
		if err != nil || u.User == nil {
			return
		}
		// Whatever password a URL parser finds in the input, it finds only the mask in the output.
		if p, ok := u.User.Password(); ok && p != "" {
			v, err := url.Parse(out)
			if err != nil {
				return
			}
			if v.User != nil {
				if q, ok := v.User.Password(); ok && q != mask {
					t.Errorf("redactURL(%q) = %q keeps the password %q", s, out, q)
				}
			}
		}
		if maskUser && u.User.Username() != "" && u.User.Username() != mask {
			if v, err := url.Parse(out); err == nil && v.User != nil && v.User.Username() != mask {
				t.Errorf("redactURL(%q, true) = %q keeps the user %q", s, out, v.User.Username())
			}
		}
	})
}

func FuzzParsePrefixes(f *testing.F) {
	f.Add("10.0.0.0/8, 192.168.1.10,fd00::/8")
	f.Fuzz(func(t *testing.T, s string) {
		ps, err := parsePrefixes(s)
		if err != nil {
			return
		}
		for _, p := range ps {
			if !p.IsValid() || p != p.Masked() || p.Addr().Is4In6() || p.Addr().Zone() != "" {
				t.Errorf("parsePrefixes(%q) gave %v", s, p)
			}
		}
		again, err := parsePrefixes(formatPrefixes(ps))
		if err != nil || !slices.Equal(again, ps) {
			t.Errorf("round trip of %q: %v, %v (want %v)", s, again, err, ps)
		}
		if err := checkPrefixes(ps); err != nil {
			t.Errorf("checkPrefixes refuses what parsePrefixes gave: %v", err)
		}
	})
}

func FuzzNormalizeOrigin(f *testing.F) {
	f.Add("https://app.example.com")
	f.Add("https://*.example.com:8443")
	f.Fuzz(func(t *testing.T, s string) {
		o, err := normalizeOrigin(s)
		if err != nil || o == "*" {
			return
		}
		if again, err := normalizeOrigin(o); err != nil || again != o {
			t.Errorf("normalizeOrigin(%q) = %q, then %q, %v", s, o, again, err)
		}
		_, rest, _ := strings.Cut(o, "://")
		if strings.ContainsAny(rest, "/?#@") {
			t.Errorf("normalizeOrigin(%q) = %q has more than scheme, host and port", s, o)
		}
	})
}

func FuzzParseDuration(f *testing.F) {
	f.Add("1h30m")
	f.Fuzz(func(t *testing.T, s string) {
		d, err := parseDuration(s, "1s")
		if err != nil {
			return
		}
		if again, err := parseDuration(formatDuration(d), "1s"); err != nil || again != d {
			t.Errorf("formatDuration(%v) = %q reads back as %v, %v", d, formatDuration(d), again, err)
		}
	})
}

// FuzzLoadFiles feeds arbitrary config and .env files to Load: it must answer with a valid config or
// an error, never panic.
func FuzzLoadFiles(f *testing.F) {
	f.Add("http:\n  addr: \":1\"\n", "GATEHOUSE_LOG_LEVEL=debug\n", false)
	f.Add("[database]\nurl = \"postgres://u:hunter2@h/db\"\n", "DATABASE_URL=mysql://u:hunter2@h/db\n", true)
	f.Fuzz(func(t *testing.T, config, dotenv string, isTOML bool) {
		name := "g.yaml"
		if isTOML {
			name = "g.toml"
		}
		fs := files{name: config, ".env": dotenv}
		c, err := Load(LoadOptions{ConfigFile: name, ReadFile: fs.readFile})
		if err != nil {
			return
		}
		if err := c.Validate(); err != nil {
			t.Errorf("Load returned a config that does not validate: %v", err)
		}
		_ = c.Describe()
	})
}
