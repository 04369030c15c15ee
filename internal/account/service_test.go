package account_test

import (
	"bytes"
	"log/slog"
	"os/exec"
	"strings"
	"testing"

	"github.com/gatehouse/gatehouse"
	"github.com/gatehouse/gatehouse/internal/account"
	"github.com/gatehouse/gatehouse/internal/password"
)

func TestNewServiceChecksDepsAndOptions(t *testing.T) {
	e := newEnv(t, backends()[0], nil)
	good := func() (account.Deps, account.Options) {
		return account.Deps{
				Store: e.store, Ephemeral: e.eph, Hasher: e.hasher, Policy: password.DefaultPolicy(),
				Tokens: e.tokens, Sessions: e.sessions, Audit: e.audit, Mail: e.mail,
			}, account.Options{
				PublicURL: publicURL + "/", CodeKey: []byte("0123456789abcdef"),
			}
	}
	for _, tc := range []struct {
		name string
		mod  func(*account.Deps, *account.Options)
		want string // "" for success
	}{
		{"defaults", func(*account.Deps, *account.Options) {}, ""},
		{"no store", func(d *account.Deps, _ *account.Options) { d.Store = nil }, "Store"},
		{"no ephemeral", func(d *account.Deps, _ *account.Options) { d.Ephemeral = nil }, "Ephemeral"},
		{"no hasher", func(d *account.Deps, _ *account.Options) { d.Hasher = nil }, "Hasher"},
		{"no tokens", func(d *account.Deps, _ *account.Options) { d.Tokens = nil }, "Tokens"},
		{"no sessions", func(d *account.Deps, _ *account.Options) { d.Sessions = nil }, "Sessions"},
		{"no audit", func(d *account.Deps, _ *account.Options) { d.Audit = nil }, "Audit"},
		{"no mail", func(d *account.Deps, _ *account.Options) { d.Mail = nil }, "Mail"},
		{"bad policy", func(d *account.Deps, _ *account.Options) { d.Policy.MinLength = 4 }, "Policy"},
		{"short code key", func(_ *account.Deps, o *account.Options) { o.CodeKey = []byte("short") }, "CodeKey"},
		{"no public URL", func(_ *account.Deps, o *account.Options) { o.PublicURL = "" }, "PublicURL"},
		{"relative public URL", func(_ *account.Deps, o *account.Options) { o.PublicURL = "/auth" }, "PublicURL"},
		{"public URL with a query", func(_ *account.Deps, o *account.Options) { o.PublicURL = publicURL + "?x=1" }, "PublicURL"},
		{"negative TTL", func(_ *account.Deps, o *account.Options) { o.VerifyCodeTTL = -1 }, "VerifyCodeTTL"},
		{"negative attempts", func(_ *account.Deps, o *account.Options) { o.VerifyCodeMaxAttempts = -1 }, "VerifyCodeMaxAttempts"},
		{"blank role", func(_ *account.Deps, o *account.Options) { o.DefaultRoles = []string{"user", " "} }, "DefaultRoles"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d, o := good()
			tc.mod(&d, &o)
			svc, err := account.NewService(d, o)
			if tc.want == "" {
				if err != nil {
					t.Fatalf("NewService: %v", err)
				}
				got := svc.Options()
				if got.VerifyTokenTTL != account.DefaultVerifyTokenTTL || got.VerifyCodeTTL != account.DefaultVerifyCodeTTL ||
					got.VerifyCodeMaxAttempts != account.DefaultVerifyCodeMaxAttempts || got.ResendCooldown != account.DefaultResendCooldown ||
					got.ProfileCacheTTL != account.DefaultProfileCacheTTL || len(got.DefaultRoles) != 1 || got.DefaultRoles[0] != "user" ||
					got.AllowUnverifiedLogin || got.CodeKey != nil {
					t.Errorf("defaults = %+v", got)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("NewService: err = %v, want one naming %s", err, tc.want)
			}
		})
	}
}

func TestNormalizeEmail(t *testing.T) {
	for _, tc := range []struct {
		in, want string // want "" for an error
	}{
		{"alice@example.com", "alice@example.com"},
		{"  Alice@EXAMPLE.com\t", "Alice@example.com"},
		{"alice+tag@sub.Example.ORG", "alice+tag@sub.example.org"},
		{"o'brien@example.ie", "o'brien@example.ie"},
		{"josé@exämple.com", "josé@exämple.com"},
		{"user@localhost", "user@localhost"},
		{"", ""},
		{"   ", ""},
		{"alice", ""},
		{"@example.com", ""},
		{"alice@", ""},
		{"alice@@example.com", ""},
		{"Alice <alice@example.com>", ""},
		{"<alice@example.com>", ""},
		{`"alice smith"@example.com`, ""},
		{"alice@example.com (Alice)", ""},
		{"alice@example.com, bob@example.com", ""},
		{"alice@exa mple.com", ""},
		{"alice@example.com\r\nBcc: eve@example.com", ""},
		{"alice\x00@example.com", ""},
		{"ali\xffce@example.com", ""},
		{strings.Repeat("a", 64) + "@" + strings.Repeat("b", 186) + ".com", ""}, // 255 characters
	} {
		got, err := account.NormalizeEmail(tc.in)
		if tc.want == "" {
			if err == nil {
				t.Errorf("NormalizeEmail(%q) = %q, want an error", tc.in, got)
				continue
			}
			if ge := wantError(t, tc.in, err, gatehouse.EINVALID, account.ReasonValidationFailed); ge.Field != "email" {
				t.Errorf("NormalizeEmail(%q): Field = %q", tc.in, ge.Field)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("NormalizeEmail(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
	// 254 characters is the limit.
	max := strings.Repeat("a", 64) + "@" + strings.Repeat("b", 185) + ".com"
	if _, err := account.NormalizeEmail(max); err != nil || len(max) != account.MaxEmailLength {
		t.Errorf("NormalizeEmail(254 characters): %v", err)
	}
}

func TestSecretsDoNotLog(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(slog.NewJSONHandler(&buf, nil))
	log.Info("verify", "in", account.VerifyInput{Token: "tok-SECRET", Email: "a@example.com", Code: "654321"})
	log.Info("login", "in", account.LoginInput{Identifier: "a@example.com", Password: "pw-SECRET"})
	log.Info("register", "in", account.RegisterInput{Email: "a@example.com", Password: "pw-SECRET"})
	for _, secret := range []string{"tok-SECRET", "654321", "pw-SECRET"} {
		if strings.Contains(buf.String(), secret) {
			t.Errorf("log holds %q: %s", secret, buf.String())
		}
	}
}

// TestNoAdapterDependencies keeps the package a domain package: no HTTP, SQL or Redis code in its
// (non-test) dependency graph. (database/sql/driver, a package of interfaces that UUIDs implement,
// is fine; database/sql itself is not.)
func TestNoAdapterDependencies(t *testing.T) {
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skip("go tool not on PATH; install Go to run this check")
	}
	out, err := exec.Command(goTool, "list", "-deps", ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go list -deps: %v\n%s", err, out)
	}
	banned := []string{"net/http", "database/sql", "github.com/jackc/", "modernc.org/sqlite", "github.com/redis/",
		"github.com/gatehouse/gatehouse/internal/postgres", "github.com/gatehouse/gatehouse/internal/sqlite",
		"github.com/gatehouse/gatehouse/internal/redis", "github.com/gatehouse/gatehouse/internal/memory",
		"github.com/gatehouse/gatehouse/internal/httpapi"}
	for _, dep := range strings.Fields(string(out)) {
		if dep == "database/sql/driver" {
			continue
		}
		for _, b := range banned {
			if dep == b || strings.HasPrefix(dep, b+"/") || (strings.HasSuffix(b, "/") && strings.HasPrefix(dep, b)) {
				t.Errorf("depends on %s", dep)
			}
		}
	}
}
