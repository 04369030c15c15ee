package config

import (
	"errors"
	"io/fs"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

// env is a fake process environment.
type env map[string]string

func (e env) getenv(name string) string { return e[name] }

func (e env) environ() []string {
	var out []string
	for k, v := range e {
		out = append(out, k+"="+v)
	}
	return out
}

// files is a fake file system for ReadFile.
type files map[string]string

func (f files) readFile(name string) ([]byte, error) {
	if s, ok := f[name]; ok {
		return []byte(s), nil
	}
	return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrNotExist}
}

func load(t *testing.T, e env, f files, configFile string) (*Config, error) {
	t.Helper()
	return Load(LoadOptions{Getenv: e.getenv, Environ: e.environ, ConfigFile: configFile, ReadFile: f.readFile})
}

func mustLoad(t *testing.T, e env, f files, configFile string) *Config {
	t.Helper()
	c, err := load(t, e, f, configFile)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	return c
}

func loadErr(t *testing.T, e env, f files, configFile string) string {
	t.Helper()
	c, err := load(t, e, f, configFile)
	if err == nil {
		t.Fatalf("Load succeeded, want an error (config %+v)", c)
	}
	if c != nil {
		t.Errorf("Load returned a config with an error")
	}
	return err.Error()
}

func TestZeroConfiguration(t *testing.T) {
	c := mustLoad(t, nil, nil, "")
	want := &Config{
		Env:       "development",
		PublicURL: "http://localhost:8080",
		DataDir:   "./data",
		HTTP: HTTP{
			Addr: ":8080", ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 15 * time.Second,
			WriteTimeout: 30 * time.Second, IdleTimeout: 120 * time.Second, MaxBodyBytes: 65536,
			ShutdownDelay: 0, ShutdownTimeout: 20 * time.Second,
		},
		Database: Database{
			MaxConns: 10, MaxConnIdleTime: 5 * time.Minute, MaxConnLifetime: time.Hour,
			ConnectTimeout: 5 * time.Second, StatementTimeout: 10 * time.Second, BusyTimeout: 5 * time.Second,
			AutoMigrate: true,
		},
		Redis: Redis{KeyPrefix: "gatehouse:"},
		SMTP:  SMTP{From: "gatehouse <no-reply@localhost>", RatePerSecond: 10},
		Log: Log{
			Level: "info", Format: "", MaxSizeMB: 100, MaxAgeDays: 28, MaxBackups: 10, Compress: true,
		},
		Jobs:    Jobs{Workers: 20, MaxAttempts: 8, PollInterval: time.Second, FetchCooldown: 25 * time.Millisecond},
		Purge:   Purge{Interval: time.Hour, Retention: 168 * time.Hour},
		Metrics: Metrics{Enabled: true},
		Token: Token{
			Algorithm: "EdDSA", AccessTTL: 15 * time.Minute,
			KeyOverlap: 24 * time.Hour, ActivationDelay: 5 * time.Minute,
		},
		Session: Session{AbsoluteLifetime: 720 * time.Hour, IdleTimeout: 168 * time.Hour, RefreshGrace: 10 * time.Second},
		Password: Password{
			MemoryKiB: 19456, Iterations: 2, Parallelism: 1, MinLength: 8, MaxLength: 128, RejectCommon: true,
		},
		Account: Account{DefaultRoles: []string{"user"}, VerifyResendCooldown: time.Minute},
		Cookies: Cookies{Enabled: true},
		OTP:     OTP{TTL: 5 * time.Minute, MaxAttempts: 5, ResendCooldown: time.Minute, PerPhonePerHour: 3, PerIPPerHour: 10},
		SMS:     SMS{AppName: "Gatehouse", DailyBudget: 10000, TwilioBaseURL: "https://api.twilio.com"},
	}
	got := *c
	got.sources, got.warnings = nil, nil
	if !reflect.DeepEqual(&got, want) {
		t.Errorf("zero configuration:\n got %+v\nwant %+v", got, *want)
	}
	if err := Default().Validate(); err != nil {
		t.Errorf("Default().Validate() = %v", err)
	}
	if got, want := c.DatabaseBackend(), BackendSQLite; got != want {
		t.Errorf("DatabaseBackend = %q, want %q", got, want)
	}
	if got, want := c.SQLitePath(), filepath.Join("data", "gatehouse.db"); got != want {
		t.Errorf("SQLitePath = %q, want %q", got, want)
	}
	if got, want := c.MailSender(), MailDevOutbox; got != want {
		t.Errorf("MailSender = %q, want %q", got, want)
	}
	if got, want := c.SentryEnvironment(), "development"; got != want {
		t.Errorf("SentryEnvironment = %q, want %q", got, want)
	}
	if c.Production() {
		t.Error("Production() = true")
	}
	if len(c.Warnings()) != 0 {
		t.Errorf("Warnings = %q", c.Warnings())
	}
}

// testSecretKey is a well-formed GATEHOUSE_SECRET_KEY (32 bytes) for tests.
const testSecretKey = "GIV82tiV23zZNBb5AWiRUjiwSwA6rLfgW8F5p+8uugQ="

// TestParse checks the parsing of every key: each value is set through the environment and read
// back from the Config.
func TestParse(t *testing.T) {
	tests := []struct {
		env  string
		in   string
		want any // the field's value
		get  func(c *Config) any
	}{
		{"GATEHOUSE_ENV", "Production", "production", func(c *Config) any { return c.Env }},
		{"GATEHOUSE_PUBLIC_URL", "https://auth.example.com/", "https://auth.example.com", func(c *Config) any { return c.PublicURL }},
		{"GATEHOUSE_DATA_DIR", "/var/lib/gatehouse", "/var/lib/gatehouse", func(c *Config) any { return c.DataDir }},
		{"GATEHOUSE_HTTP_ADDR", "127.0.0.1:9000", "127.0.0.1:9000", func(c *Config) any { return c.HTTP.Addr }},
		{"GATEHOUSE_HTTP_READ_HEADER_TIMEOUT", "2s", 2 * time.Second, func(c *Config) any { return c.HTTP.ReadHeaderTimeout }},
		{"GATEHOUSE_HTTP_READ_TIMEOUT", "1m", time.Minute, func(c *Config) any { return c.HTTP.ReadTimeout }},
		{"GATEHOUSE_HTTP_WRITE_TIMEOUT", "1m30s", 90 * time.Second, func(c *Config) any { return c.HTTP.WriteTimeout }},
		{"GATEHOUSE_HTTP_IDLE_TIMEOUT", "500ms", 500 * time.Millisecond, func(c *Config) any { return c.HTTP.IdleTimeout }},
		{"GATEHOUSE_HTTP_MAX_BODY_BYTES", "1048576", int64(1 << 20), func(c *Config) any { return c.HTTP.MaxBodyBytes }},
		{"GATEHOUSE_HTTP_SHUTDOWN_DELAY", "3s", 3 * time.Second, func(c *Config) any { return c.HTTP.ShutdownDelay }},
		{"GATEHOUSE_HTTP_SHUTDOWN_TIMEOUT", "45s", 45 * time.Second, func(c *Config) any { return c.HTTP.ShutdownTimeout }},
		{
			"GATEHOUSE_HTTP_TRUSTED_PROXIES", " 10.0.0.0/8, 192.168.1.10,fd00::/8,::1,, 10.1.2.3/16,::ffff:172.16.0.1",
			[]netip.Prefix{
				netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("192.168.1.10/32"),
				netip.MustParsePrefix("fd00::/8"), netip.MustParsePrefix("::1/128"),
				netip.MustParsePrefix("10.1.0.0/16"), netip.MustParsePrefix("172.16.0.1/32"),
			},
			func(c *Config) any { return c.HTTP.TrustedProxies },
		},
		{
			"GATEHOUSE_HTTP_CORS_ORIGINS", "https://App.Example.com, http://localhost:3000,https://*.example.org",
			[]string{"https://app.example.com", "http://localhost:3000", "https://*.example.org"},
			func(c *Config) any { return c.HTTP.CORSOrigins },
		},
		{"GATEHOUSE_HTTP_TLS_CERT_FILE", "/etc/tls/cert.pem", "/etc/tls/cert.pem", func(c *Config) any { return c.HTTP.TLSCertFile }},
		{"GATEHOUSE_HTTP_TLS_KEY_FILE", "/etc/tls/key.pem", "/etc/tls/key.pem", func(c *Config) any { return c.HTTP.TLSKeyFile }},
		{"GATEHOUSE_DATABASE_URL", "postgres://u:p@db:5432/g?sslmode=require", "postgres://u:p@db:5432/g?sslmode=require", func(c *Config) any { return c.Database.URL }},
		{"GATEHOUSE_DATABASE_MAX_CONNS", "25", int32(25), func(c *Config) any { return c.Database.MaxConns }},
		{"GATEHOUSE_DATABASE_MIN_CONNS", "2", int32(2), func(c *Config) any { return c.Database.MinConns }},
		{"GATEHOUSE_DATABASE_MAX_CONN_IDLE_TIME", "1m", time.Minute, func(c *Config) any { return c.Database.MaxConnIdleTime }},
		{"GATEHOUSE_DATABASE_MAX_CONN_LIFETIME", "30m", 30 * time.Minute, func(c *Config) any { return c.Database.MaxConnLifetime }},
		{"GATEHOUSE_DATABASE_CONNECT_TIMEOUT", "2s", 2 * time.Second, func(c *Config) any { return c.Database.ConnectTimeout }},
		{"GATEHOUSE_DATABASE_STATEMENT_TIMEOUT", "0", time.Duration(0), func(c *Config) any { return c.Database.StatementTimeout }},
		{"GATEHOUSE_DATABASE_BUSY_TIMEOUT", "250ms", 250 * time.Millisecond, func(c *Config) any { return c.Database.BusyTimeout }},
		{"GATEHOUSE_DATABASE_AUTO_MIGRATE", "false", false, func(c *Config) any { return c.Database.AutoMigrate }},
		{"GATEHOUSE_REDIS_URL", "redis-sentinel://:pw@s1:26379,s2:26379/mymaster", "redis-sentinel://:pw@s1:26379,s2:26379/mymaster", func(c *Config) any { return c.Redis.URL }},
		{"GATEHOUSE_REDIS_KEY_PREFIX", "gh-staging:", "gh-staging:", func(c *Config) any { return c.Redis.KeyPrefix }},
		{"GATEHOUSE_SMTP_URL", "smtps://u:p@smtp.example.com", "smtps://u:p@smtp.example.com", func(c *Config) any { return c.SMTP.URL }},
		{"GATEHOUSE_SMTP_FROM", "Example <no-reply@example.com>", "Example <no-reply@example.com>", func(c *Config) any { return c.SMTP.From }},
		{"GATEHOUSE_LOG_LEVEL", "DEBUG", "debug", func(c *Config) any { return c.Log.Level }},
		{"GATEHOUSE_LOG_FORMAT", "JSON", "json", func(c *Config) any { return c.Log.Format }},
		{"GATEHOUSE_LOG_FILE", "/var/log/gatehouse/gatehouse.log", "/var/log/gatehouse/gatehouse.log", func(c *Config) any { return c.Log.File }},
		{"GATEHOUSE_LOG_FILE_MAX_SIZE_MB", "50", 50, func(c *Config) any { return c.Log.MaxSizeMB }},
		{"GATEHOUSE_LOG_FILE_MAX_AGE_DAYS", "0", 0, func(c *Config) any { return c.Log.MaxAgeDays }},
		{"GATEHOUSE_LOG_FILE_MAX_BACKUPS", "3", 3, func(c *Config) any { return c.Log.MaxBackups }},
		{"GATEHOUSE_LOG_FILE_COMPRESS", "off", false, func(c *Config) any { return c.Log.Compress }},
		{"GATEHOUSE_SENTRY_DSN", "https://k@o1.ingest.sentry.io/42", "https://k@o1.ingest.sentry.io/42", func(c *Config) any { return c.Sentry.DSN }},
		{"GATEHOUSE_SENTRY_ENVIRONMENT", "staging", "staging", func(c *Config) any { return c.Sentry.Environment }},
		{"GATEHOUSE_SENTRY_TRACES_SAMPLE_RATE", "0.25", 0.25, func(c *Config) any { return c.Sentry.TracesSampleRate }},
		{"GATEHOUSE_JOBS_WORKERS", "4", 4, func(c *Config) any { return c.Jobs.Workers }},
		{"GATEHOUSE_JOBS_MAX_ATTEMPTS", "3", 3, func(c *Config) any { return c.Jobs.MaxAttempts }},
		{"GATEHOUSE_JOBS_POLL_INTERVAL", "100ms", 100 * time.Millisecond, func(c *Config) any { return c.Jobs.PollInterval }},
		{"GATEHOUSE_JOBS_FETCH_COOLDOWN", "5ms", 5 * time.Millisecond, func(c *Config) any { return c.Jobs.FetchCooldown }},
		{"GATEHOUSE_PURGE_INTERVAL", "15m", 15 * time.Minute, func(c *Config) any { return c.Purge.Interval }},
		{"GATEHOUSE_PURGE_RETENTION", "720h", 720 * time.Hour, func(c *Config) any { return c.Purge.Retention }},
		{"GATEHOUSE_METRICS_ENABLED", "0", false, func(c *Config) any { return c.Metrics.Enabled }},
		{"GATEHOUSE_METRICS_TOKEN", "s3cr3t-token", "s3cr3t-token", func(c *Config) any { return c.Metrics.Token }},
		{"GATEHOUSE_SMTP_RATE_PER_SECOND", "0", 0, func(c *Config) any { return c.SMTP.RatePerSecond }},
		{"GATEHOUSE_SECRET_KEY", testSecretKey, testSecretKey, func(c *Config) any { return c.SecretKey }},
		{"GATEHOUSE_TOKEN_ALGORITHM", "ES256", "ES256", func(c *Config) any { return c.Token.Algorithm }},
		{"GATEHOUSE_TOKEN_ACCESS_TTL", "5m", 5 * time.Minute, func(c *Config) any { return c.Token.AccessTTL }},
		{"GATEHOUSE_TOKEN_AUDIENCE", "orders, https://api.example.com,", []string{"orders", "https://api.example.com"}, func(c *Config) any { return c.Token.Audience }},
		{"GATEHOUSE_TOKEN_KEY_OVERLAP", "48h", 48 * time.Hour, func(c *Config) any { return c.Token.KeyOverlap }},
		{"GATEHOUSE_TOKEN_ACTIVATION_DELAY", "0s", time.Duration(0), func(c *Config) any { return c.Token.ActivationDelay }},
		{"GATEHOUSE_SESSION_ABSOLUTE_LIFETIME", "240h", 240 * time.Hour, func(c *Config) any { return c.Session.AbsoluteLifetime }},
		{"GATEHOUSE_SESSION_IDLE_TIMEOUT", "24h", 24 * time.Hour, func(c *Config) any { return c.Session.IdleTimeout }},
		{"GATEHOUSE_SESSION_REFRESH_GRACE", "5s", 5 * time.Second, func(c *Config) any { return c.Session.RefreshGrace }},
		{"GATEHOUSE_PASSWORD_MEMORY_KIB", "65536", 65536, func(c *Config) any { return c.Password.MemoryKiB }},
		{"GATEHOUSE_PASSWORD_ITERATIONS", "3", 3, func(c *Config) any { return c.Password.Iterations }},
		{"GATEHOUSE_PASSWORD_PARALLELISM", "2", 2, func(c *Config) any { return c.Password.Parallelism }},
		{"GATEHOUSE_PASSWORD_MAX_CONCURRENT", "4", 4, func(c *Config) any { return c.Password.MaxConcurrent }},
		{"GATEHOUSE_PASSWORD_MIN_LENGTH", "12", 12, func(c *Config) any { return c.Password.MinLength }},
		{"GATEHOUSE_PASSWORD_MAX_LENGTH", "64", 64, func(c *Config) any { return c.Password.MaxLength }},
		{"GATEHOUSE_PASSWORD_REJECT_COMMON", "false", false, func(c *Config) any { return c.Password.RejectCommon }},
		{"GATEHOUSE_PASSWORD_MIN_SCORE", "3", 3, func(c *Config) any { return c.Password.MinScore }},
		{"GATEHOUSE_PASSWORD_REQUIRE_UPPER", "true", true, func(c *Config) any { return c.Password.RequireUpper }},
		{"GATEHOUSE_PASSWORD_REQUIRE_LOWER", "true", true, func(c *Config) any { return c.Password.RequireLower }},
		{"GATEHOUSE_PASSWORD_REQUIRE_DIGIT", "true", true, func(c *Config) any { return c.Password.RequireDigit }},
		{"GATEHOUSE_PASSWORD_REQUIRE_SYMBOL", "true", true, func(c *Config) any { return c.Password.RequireSymbol }},
		{"GATEHOUSE_ACCOUNT_DEFAULT_ROLES", "customer, beta", []string{"customer", "beta"}, func(c *Config) any { return c.Account.DefaultRoles }},
		{"GATEHOUSE_ACCOUNT_ALLOW_UNVERIFIED_LOGIN", "true", true, func(c *Config) any { return c.Account.AllowUnverifiedLogin }},
		{"GATEHOUSE_ACCOUNT_VERIFY_RESEND_COOLDOWN", "2m", 2 * time.Minute, func(c *Config) any { return c.Account.VerifyResendCooldown }},
		{"GATEHOUSE_ACCOUNT_LINK_URL", "https://app.example.com/", "https://app.example.com", func(c *Config) any { return c.Account.LinkURL }},
		{"GATEHOUSE_COOKIES_ENABLED", "false", false, func(c *Config) any { return c.Cookies.Enabled }},
		{"GATEHOUSE_OTP_DEFAULT_REGION", "kw", "KW", func(c *Config) any { return c.OTP.DefaultRegion }},
		{"GATEHOUSE_OTP_TTL", "10m", 10 * time.Minute, func(c *Config) any { return c.OTP.TTL }},
		{"GATEHOUSE_OTP_MAX_ATTEMPTS", "3", 3, func(c *Config) any { return c.OTP.MaxAttempts }},
		{"GATEHOUSE_OTP_RESEND_COOLDOWN", "30s", 30 * time.Second, func(c *Config) any { return c.OTP.ResendCooldown }},
		{"GATEHOUSE_OTP_PER_DESTINATION_PER_HOUR", "5", 5, func(c *Config) any { return c.OTP.PerPhonePerHour }},
		{"GATEHOUSE_OTP_PER_IP_PER_HOUR", "50", 50, func(c *Config) any { return c.OTP.PerIPPerHour }},
		{"GATEHOUSE_SMS_PROVIDER", "Webhook", "webhook", func(c *Config) any { return c.SMS.Provider }},
		{"GATEHOUSE_SMS_APP_NAME", "Shop", "Shop", func(c *Config) any { return c.SMS.AppName }},
		{"GATEHOUSE_SMS_DAILY_BUDGET", "500", 500, func(c *Config) any { return c.SMS.DailyBudget }},
		{"GATEHOUSE_SMS_ALLOW_COUNTRIES", "kw, sa,AE", []string{"KW", "SA", "AE"}, func(c *Config) any { return c.SMS.AllowCountries }},
		{"GATEHOUSE_SMS_DENY_COUNTRIES", "XK", []string{"XK"}, func(c *Config) any { return c.SMS.DenyCountries }},
		{"GATEHOUSE_SMS_NOTIFY_EXISTING", "true", true, func(c *Config) any { return c.SMS.NotifyExisting }},
		{"GATEHOUSE_SMS_TWILIO_BASE_URL", "http://127.0.0.1:9999", "http://127.0.0.1:9999", func(c *Config) any { return c.SMS.TwilioBaseURL }},
		{"GATEHOUSE_SMS_TWILIO_ACCOUNT_SID", "AC123", "AC123", func(c *Config) any { return c.SMS.TwilioAccountSID }},
		{"GATEHOUSE_SMS_TWILIO_AUTH_TOKEN", "tok-123", "tok-123", func(c *Config) any { return c.SMS.TwilioAuthToken }},
		{"GATEHOUSE_SMS_TWILIO_FROM", "+15550001111", "+15550001111", func(c *Config) any { return c.SMS.TwilioFrom }},
		{"GATEHOUSE_SMS_WEBHOOK_URL", "https://sms.example.com/send", "https://sms.example.com/send", func(c *Config) any { return c.SMS.WebhookURL }},
		{"GATEHOUSE_SMS_WEBHOOK_SECRET", "whsec_c2VjcmV0LXNlY3JldC1zZWNyZXQ=", "whsec_c2VjcmV0LXNlY3JldC1zZWNyZXQ=", func(c *Config) any { return c.SMS.WebhookSecret }},
	}
	tested := map[string]bool{}
	for _, tt := range tests {
		tested[tt.env] = true
		t.Run(tt.env, func(t *testing.T) {
			e := env{tt.env: tt.in}
			switch tt.env {
			case "GATEHOUSE_ENV":
				e["GATEHOUSE_SMTP_URL"] = "smtp://mail:25"
				e["GATEHOUSE_SECRET_KEY"] = testSecretKey
			case "GATEHOUSE_SMS_PROVIDER":
				e["GATEHOUSE_SMS_WEBHOOK_URL"] = "https://sms.example.com/send"
				e["GATEHOUSE_SMS_WEBHOOK_SECRET"] = "a-secret-of-enough-length"
			case "GATEHOUSE_HTTP_TLS_CERT_FILE":
				e["GATEHOUSE_HTTP_TLS_KEY_FILE"] = "key.pem"
			case "GATEHOUSE_HTTP_TLS_KEY_FILE":
				e["GATEHOUSE_HTTP_TLS_CERT_FILE"] = "cert.pem"
			}
			c := mustLoad(t, e, nil, "")
			if got := tt.get(c); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("%s=%q gives %#v, want %#v", tt.env, tt.in, got, tt.want)
			}
			// The value Describe prints reads back to the same setting.
			k := keyByEnv(tt.env)
			again := Default()
			if err := k.set(again, k.get(c)); err != nil {
				t.Fatalf("set(get()) = %v", err)
			}
			if got := tt.get(again); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("round trip of %q gives %#v, want %#v", k.get(c), got, tt.want)
			}
		})
	}
	for _, k := range keyTable {
		if !tested[k.env] {
			t.Errorf("TestParse has no case for %s", k.env)
		}
	}
}

// TestErrors checks the message of every validation: each names the key and what it accepts.
func TestErrors(t *testing.T) {
	tests := []struct {
		name string
		env  env
		want []string // lines of the error, in order
	}{
		{"env", env{"GATEHOUSE_ENV": "prod"}, []string{`GATEHOUSE_ENV: "prod" is not one of development, production`}},
		{"public URL relative", env{"GATEHOUSE_PUBLIC_URL": "auth.example.com"}, []string{
			`GATEHOUSE_PUBLIC_URL: "auth.example.com" is not an absolute http:// or https:// URL without query, like https://auth.example.com`}},
		{"public URL query", env{"GATEHOUSE_PUBLIC_URL": "https://a.example.com/?x=1"}, []string{
			`GATEHOUSE_PUBLIC_URL: "https://a.example.com/?x=1" is not an absolute http:// or https:// URL without query, like https://auth.example.com`}},
		{"public URL scheme", env{"GATEHOUSE_PUBLIC_URL": "ftp://a.example.com"}, []string{
			`GATEHOUSE_PUBLIC_URL: "ftp://a.example.com" is not an absolute http:// or https:// URL without query, like https://auth.example.com`}},
		{"public URL credentials", env{"GATEHOUSE_PUBLIC_URL": "https://u:p@a.example.com"}, []string{
			`GATEHOUSE_PUBLIC_URL: "https://u:p@a.example.com" is not an absolute http:// or https:// URL without query, like https://auth.example.com`}},
		{"data dir", env{"GATEHOUSE_DATA_DIR": " "}, nil}, // blank counts as unset
		{"addr", env{"GATEHOUSE_HTTP_ADDR": "8080"}, []string{`GATEHOUSE_HTTP_ADDR: "8080" is not host:port like :8080 or 127.0.0.1:8080`}},
		{"addr port", env{"GATEHOUSE_HTTP_ADDR": ":http"}, []string{`GATEHOUSE_HTTP_ADDR: ":http" is not host:port like :8080 or 127.0.0.1:8080`}},
		{"addr range", env{"GATEHOUSE_HTTP_ADDR": ":70000"}, []string{`GATEHOUSE_HTTP_ADDR: ":70000" is not host:port like :8080 or 127.0.0.1:8080`}},
		{"duration", env{"GATEHOUSE_HTTP_SHUTDOWN_TIMEOUT": "abc"}, []string{`GATEHOUSE_HTTP_SHUTDOWN_TIMEOUT: "abc" is not a duration like 20s`}},
		{"duration without unit", env{"GATEHOUSE_HTTP_READ_TIMEOUT": "30"}, []string{`GATEHOUSE_HTTP_READ_TIMEOUT: "30" is not a duration like 15s`}},
		{"duration zero", env{"GATEHOUSE_HTTP_READ_HEADER_TIMEOUT": "0s"}, []string{`GATEHOUSE_HTTP_READ_HEADER_TIMEOUT: 0s is out of range (more than 0s)`}},
		{"duration negative", env{"GATEHOUSE_DATABASE_BUSY_TIMEOUT": "-1s"}, []string{`GATEHOUSE_DATABASE_BUSY_TIMEOUT: -1s is out of range (at least 0s)`}},
		{"duration range", env{"GATEHOUSE_JOBS_POLL_INTERVAL": "10ms"}, []string{`GATEHOUSE_JOBS_POLL_INTERVAL: 10ms is out of range (100ms to 1h)`}},
		{"shutdown delay range", env{"GATEHOUSE_HTTP_SHUTDOWN_DELAY": "11m"}, []string{`GATEHOUSE_HTTP_SHUTDOWN_DELAY: 11m is out of range (0s to 10m)`}},
		{"link URL", env{"GATEHOUSE_ACCOUNT_LINK_URL": "app.example.com"}, []string{
			`GATEHOUSE_ACCOUNT_LINK_URL: "app.example.com" is not an absolute http:// or https:// URL without query, like https://app.example.com`}},
		{"link URL query", env{"GATEHOUSE_ACCOUNT_LINK_URL": "https://app.example.com/?next=1"}, []string{
			`GATEHOUSE_ACCOUNT_LINK_URL: "https://app.example.com/?next=1" is not an absolute http:// or https:// URL without query, like https://app.example.com`}},
		{"link URL http in development", env{"GATEHOUSE_ACCOUNT_LINK_URL": "http://app.example.com"}, nil},
		{"purge interval range", env{"GATEHOUSE_PURGE_INTERVAL": "30s"}, []string{`GATEHOUSE_PURGE_INTERVAL: 30s is out of range (1m to 24h)`}},
		{"purge retention range", env{"GATEHOUSE_PURGE_RETENTION": "9000h"}, []string{`GATEHOUSE_PURGE_RETENTION: 9000h is out of range (1h to 8760h)`}},
		{"int", env{"GATEHOUSE_DATABASE_MAX_CONNS": "ten"}, []string{`GATEHOUSE_DATABASE_MAX_CONNS: "ten" is not a whole number`}},
		{"int overflow", env{"GATEHOUSE_DATABASE_MAX_CONNS": "99999999999"}, []string{`GATEHOUSE_DATABASE_MAX_CONNS: "99999999999" is too large`}},
		{"int range", env{"GATEHOUSE_DATABASE_MAX_CONNS": "0"}, []string{`GATEHOUSE_DATABASE_MAX_CONNS: 0 is out of range (1 to 1000)`}},
		{"min conns", env{"GATEHOUSE_DATABASE_MIN_CONNS": "11"}, []string{`GATEHOUSE_DATABASE_MIN_CONNS: 11 is more than GATEHOUSE_DATABASE_MAX_CONNS (10)`}},
		{"body bytes", env{"GATEHOUSE_HTTP_MAX_BODY_BYTES": "100"}, []string{`GATEHOUSE_HTTP_MAX_BODY_BYTES: 100 is out of range (1024 to 104857600)`}},
		{"workers", env{"GATEHOUSE_JOBS_WORKERS": "1001"}, []string{`GATEHOUSE_JOBS_WORKERS: 1001 is out of range (1 to 1000)`}},
		{"attempts", env{"GATEHOUSE_JOBS_MAX_ATTEMPTS": "0"}, []string{`GATEHOUSE_JOBS_MAX_ATTEMPTS: 0 is out of range (1 to 100)`}},
		{"log size", env{"GATEHOUSE_LOG_FILE_MAX_SIZE_MB": "0"}, []string{`GATEHOUSE_LOG_FILE_MAX_SIZE_MB: 0 is out of range (1 to 100000)`}},
		{"log age", env{"GATEHOUSE_LOG_FILE_MAX_AGE_DAYS": "-1"}, []string{`GATEHOUSE_LOG_FILE_MAX_AGE_DAYS: -1 is out of range (0 to 36500)`}},
		{"log backups", env{"GATEHOUSE_LOG_FILE_MAX_BACKUPS": "-1"}, []string{`GATEHOUSE_LOG_FILE_MAX_BACKUPS: -1 is out of range (0 to 10000)`}},
		{"bool", env{"GATEHOUSE_DATABASE_AUTO_MIGRATE": "maybe"}, []string{`GATEHOUSE_DATABASE_AUTO_MIGRATE: "maybe" is not a boolean (true or false)`}},
		{"bool compress", env{"GATEHOUSE_LOG_FILE_COMPRESS": "2"}, []string{`GATEHOUSE_LOG_FILE_COMPRESS: "2" is not a boolean (true or false)`}},
		{"bool metrics", env{"GATEHOUSE_METRICS_ENABLED": "enabled"}, []string{`GATEHOUSE_METRICS_ENABLED: "enabled" is not a boolean (true or false)`}},
		{"float", env{"GATEHOUSE_SENTRY_TRACES_SAMPLE_RATE": "half"}, []string{`GATEHOUSE_SENTRY_TRACES_SAMPLE_RATE: "half" is not a number`}},
		{"float range", env{"GATEHOUSE_SENTRY_TRACES_SAMPLE_RATE": "1.5"}, []string{`GATEHOUSE_SENTRY_TRACES_SAMPLE_RATE: 1.5 is out of range (0 to 1)`}},
		{"float NaN", env{"GATEHOUSE_SENTRY_TRACES_SAMPLE_RATE": "NaN"}, []string{`GATEHOUSE_SENTRY_TRACES_SAMPLE_RATE: NaN is out of range (0 to 1)`}},
		{"cidr", env{"GATEHOUSE_HTTP_TRUSTED_PROXIES": "10.0.0.0/8,10.0.0.300"}, []string{
			`GATEHOUSE_HTTP_TRUSTED_PROXIES: "10.0.0.300" is not an IP address or CIDR like 10.0.0.0/8 or 192.0.2.7`}},
		{"cidr bits", env{"GATEHOUSE_HTTP_TRUSTED_PROXIES": "10.0.0.0/33"}, []string{
			`GATEHOUSE_HTTP_TRUSTED_PROXIES: "10.0.0.0/33" is not an IP address or CIDR like 10.0.0.0/8 or 192.0.2.7`}},
		{"cidr hostname", env{"GATEHOUSE_HTTP_TRUSTED_PROXIES": "lb.internal"}, []string{
			`GATEHOUSE_HTTP_TRUSTED_PROXIES: "lb.internal" is not an IP address or CIDR like 10.0.0.0/8 or 192.0.2.7`}},
		{"cidr zone", env{"GATEHOUSE_HTTP_TRUSTED_PROXIES": "fe80::1%eth0"}, []string{
			`GATEHOUSE_HTTP_TRUSTED_PROXIES: "fe80::1%eth0" is not an IP address or CIDR like 10.0.0.0/8 or 192.0.2.7`}},
		{"origin path", env{"GATEHOUSE_HTTP_CORS_ORIGINS": "https://app.example.com/"}, []string{
			`GATEHOUSE_HTTP_CORS_ORIGINS: "https://app.example.com/" is not an origin like https://app.example.com (scheme://host[:port], no path)`}},
		{"origin host", env{"GATEHOUSE_HTTP_CORS_ORIGINS": "app.example.com"}, []string{
			`GATEHOUSE_HTTP_CORS_ORIGINS: "app.example.com" is not an origin like https://app.example.com (scheme://host[:port], no path)`}},
		{"origin wildcard", env{"GATEHOUSE_HTTP_CORS_ORIGINS": "https://a.*.example.com"}, []string{
			`GATEHOUSE_HTTP_CORS_ORIGINS: "https://a.*.example.com" is not an origin like https://app.example.com (scheme://host[:port], no path)`}},
		{"tls cert without key", env{"GATEHOUSE_HTTP_TLS_CERT_FILE": "cert.pem"}, []string{
			`GATEHOUSE_HTTP_TLS_KEY_FILE: required when GATEHOUSE_HTTP_TLS_CERT_FILE is set (set both or neither)`}},
		{"tls key without cert", env{"GATEHOUSE_HTTP_TLS_KEY_FILE": "key.pem"}, []string{
			`GATEHOUSE_HTTP_TLS_CERT_FILE: required when GATEHOUSE_HTTP_TLS_KEY_FILE is set (set both or neither)`}},
		{"database scheme", env{"GATEHOUSE_DATABASE_URL": "mysql://u:hunter2@db/x"}, []string{
			`GATEHOUSE_DATABASE_URL: scheme "mysql" is not supported (use postgres://, postgresql:// or sqlite://path, or leave empty)`}},
		{"database not a URL", env{"GATEHOUSE_DATABASE_URL": "host=db password=hunter2"}, []string{
			`GATEHOUSE_DATABASE_URL: not a URL (use postgres://, postgresql:// or sqlite://path, or leave empty)`}},
		{"database bad URL", env{"GATEHOUSE_DATABASE_URL": "postgres://u:hun%zzter2@db/x"}, []string{
			`GATEHOUSE_DATABASE_URL: not a valid URL (percent-encode special characters in the user name and password, e.g. %40 for @)`}},
		{"sqlite empty path", env{"GATEHOUSE_DATABASE_URL": "sqlite://"}, []string{
			`GATEHOUSE_DATABASE_URL: sqlite:// needs a file path without query, like sqlite://data/gatehouse.db or sqlite:///var/lib/gatehouse/gatehouse.db`}},
		{"database alias", env{"DATABASE_URL": "mysql://db/x"}, []string{
			`DATABASE_URL: scheme "mysql" is not supported (use postgres://, postgresql:// or sqlite://path, or leave empty)`}},
		{"redis scheme", env{"GATEHOUSE_REDIS_URL": "http://r:6379"}, []string{
			`GATEHOUSE_REDIS_URL: scheme "http" is not supported (use redis://, rediss://, redis-sentinel:// or redis-cluster://, or leave empty)`}},
		{"redis host", env{"REDIS_URL": "redis://:pw@/0"}, []string{`REDIS_URL: has no host (like redis://host:6379/0)`}},
		{"redis key prefix", env{"GATEHOUSE_REDIS_KEY_PREFIX": "a b"}, []string{`GATEHOUSE_REDIS_KEY_PREFIX: must not contain spaces or control characters`}},
		{"smtp scheme", env{"GATEHOUSE_SMTP_URL": "http://mail"}, []string{
			`GATEHOUSE_SMTP_URL: scheme "http" is not supported (use smtp:// for STARTTLS or smtps:// for TLS)`}},
		{"smtp host", env{"GATEHOUSE_SMTP_URL": "smtp:///"}, []string{`GATEHOUSE_SMTP_URL: has no host (like smtp://user:pass@smtp.example.com:587)`}},
		{"smtp from", env{"GATEHOUSE_SMTP_FROM": "gatehouse"}, []string{
			`GATEHOUSE_SMTP_FROM: "gatehouse" is not a mail address like "Example <no-reply@example.com>"`}},
		{"log level", env{"GATEHOUSE_LOG_LEVEL": "verbose"}, []string{`GATEHOUSE_LOG_LEVEL: "verbose" is not one of debug, info, warn, error`}},
		{"log format", env{"GATEHOUSE_LOG_FORMAT": "xml"}, []string{`GATEHOUSE_LOG_FORMAT: "xml" is not one of json, text`}},
		{"sentry", env{"SENTRY_DSN": "https://o1.ingest.sentry.io/42"}, []string{`SENTRY_DSN: not a Sentry DSN like https://key@o0.ingest.sentry.io/123`}},
		{"metrics token", env{"GATEHOUSE_METRICS_TOKEN": "a b"}, []string{`GATEHOUSE_METRICS_TOKEN: must not contain spaces or control characters`}},
		{"all at once", env{"GATEHOUSE_ENV": "prod", "GATEHOUSE_HTTP_ADDR": "x", "GATEHOUSE_JOBS_WORKERS": "0"}, []string{
			`GATEHOUSE_ENV: "prod" is not one of development, production`,
			`GATEHOUSE_HTTP_ADDR: "x" is not host:port like :8080 or 127.0.0.1:8080`,
			`GATEHOUSE_JOBS_WORKERS: 0 is out of range (1 to 1000)`,
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.want == nil {
				mustLoad(t, tt.env, nil, "")
				return
			}
			got := strings.Split(loadErr(t, tt.env, nil, ""), "\n")
			if !slices.Equal(got, tt.want) {
				t.Errorf("error lines:\n got %q\nwant %q", got, tt.want)
			}
		})
	}
}

func TestValidateHandBuilt(t *testing.T) {
	c := Default()
	c.HTTP.TrustedProxies = []netip.Prefix{{}}
	c.HTTP.CORSOrigins = []string{"https://ok.example.com", "nope"}
	c.DataDir = ""
	err := c.Validate()
	want := []string{
		`GATEHOUSE_DATA_DIR: must not be empty`,
		`GATEHOUSE_HTTP_TRUSTED_PROXIES: "invalid Prefix" is not a valid CIDR`,
		`GATEHOUSE_HTTP_CORS_ORIGINS: "nope" is not an origin like https://app.example.com (scheme://host[:port], no path)`,
	}
	if err == nil || !slices.Equal(strings.Split(err.Error(), "\n"), want) {
		t.Errorf("Validate() = %v, want %q", err, want)
	}
}

func TestProduction(t *testing.T) {
	prod := env{
		"GATEHOUSE_ENV":        "production",
		"GATEHOUSE_PUBLIC_URL": "https://auth.example.com",
		"GATEHOUSE_SMTP_URL":   "smtp://u:p@smtp.example.com:587",
		"GATEHOUSE_SECRET_KEY": testSecretKey,
	}
	with := func(extra env) env {
		e := env{}
		for k, v := range prod {
			e[k] = v
		}
		for k, v := range extra {
			if v == "" {
				delete(e, k)
			} else {
				e[k] = v
			}
		}
		return e
	}

	t.Run("defaults", func(t *testing.T) {
		c := mustLoad(t, prod, nil, "")
		if !c.Production() || c.MailSender() != MailSMTP {
			t.Errorf("Production() = %v, MailSender() = %q", c.Production(), c.MailSender())
		}
		if c.HTTP.ShutdownDelay != 5*time.Second {
			t.Errorf("ShutdownDelay = %v, want 5s in production", c.HTTP.ShutdownDelay)
		}
		if got := c.SentryEnvironment(); got != "production" {
			t.Errorf("SentryEnvironment = %q", got)
		}
	})
	t.Run("links follow the public URL unless set", func(t *testing.T) {
		c := mustLoad(t, with(env{}), nil, "")
		if got := c.AccountLinkURL(); got != c.PublicURL {
			t.Errorf("AccountLinkURL = %q, want the public URL %q", got, c.PublicURL)
		}
		c = mustLoad(t, with(env{"GATEHOUSE_ACCOUNT_LINK_URL": "https://app.example.com/"}), nil, "")
		if got := c.AccountLinkURL(); got != "https://app.example.com" {
			t.Errorf("AccountLinkURL = %q, want https://app.example.com", got)
		}
	})
	t.Run("explicit shutdown delay wins", func(t *testing.T) {
		c := mustLoad(t, with(env{"GATEHOUSE_HTTP_SHUTDOWN_DELAY": "0s"}), nil, "")
		if c.HTTP.ShutdownDelay != 0 {
			t.Errorf("ShutdownDelay = %v, want 0", c.HTTP.ShutdownDelay)
		}
	})
	tests := []struct {
		name  string
		extra env
		want  string
	}{
		{"dev outbox", env{"GATEHOUSE_SMTP_URL": ""}, `GATEHOUSE_SMTP_URL: required in production (the dev outbox is for development only)`},
		{"any origin", env{"GATEHOUSE_HTTP_CORS_ORIGINS": "https://a.example.com,*"},
			`GATEHOUSE_HTTP_CORS_ORIGINS: "*" (any origin) is not allowed in production; list the allowed origins`},
		{"plain http", env{"GATEHOUSE_PUBLIC_URL": "http://auth.example.com"},
			`GATEHOUSE_PUBLIC_URL: "http://auth.example.com" must use https:// in production (plain http is accepted only for localhost)`},
		{"default public URL is fine", env{"GATEHOUSE_PUBLIC_URL": ""}, ""},
		{"plain http link URL", env{"GATEHOUSE_ACCOUNT_LINK_URL": "http://app.example.com"},
			`GATEHOUSE_ACCOUNT_LINK_URL: "http://app.example.com" must use https:// in production (plain http is accepted only for localhost)`},
		{"https link URL", env{"GATEHOUSE_ACCOUNT_LINK_URL": "https://app.example.com"}, ""},
		{"no secret key", env{"GATEHOUSE_SECRET_KEY": ""}, "GATEHOUSE_SECRET_KEY: required in production (generate one with `openssl rand -base64 32`)"},
		{"short secret key", env{"GATEHOUSE_SECRET_KEY": "c2hvcnQ="}, "GATEHOUSE_SECRET_KEY: decodes to 5 bytes; at least 32 are needed"},
		{"secret key not base64", env{"GATEHOUSE_SECRET_KEY": "not base64 at all!"}, "GATEHOUSE_SECRET_KEY: is not base64"},
		{"dev outbox for SMS", env{"GATEHOUSE_SMS_PROVIDER": "dev-outbox"}, "GATEHOUSE_SMS_PROVIDER: the dev outbox is for development only"},
		{"twilio without its settings", env{"GATEHOUSE_SMS_PROVIDER": "twilio", "GATEHOUSE_SMS_TWILIO_ACCOUNT_SID": "AC1", "GATEHOUSE_SMS_TWILIO_FROM": "+15550001111"},
			"GATEHOUSE_SMS_TWILIO_AUTH_TOKEN: required with GATEHOUSE_SMS_PROVIDER=twilio"},
		{"bad country", env{"GATEHOUSE_SMS_DENY_COUNTRIES": "KWT"}, `GATEHOUSE_SMS_DENY_COUNTRIES: "KWT" is not a two-letter country code`},
		{"loopback", env{"GATEHOUSE_PUBLIC_URL": "http://127.0.0.1:8080"}, ""},
		{"dot localhost", env{"GATEHOUSE_PUBLIC_URL": "http://auth.localhost"}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.want == "" {
				mustLoad(t, with(tt.extra), nil, "")
				return
			}
			if got := loadErr(t, with(tt.extra), nil, ""); got != tt.want {
				t.Errorf("error = %q, want %q", got, tt.want)
			}
		})
	}
	t.Run("development allows them", func(t *testing.T) {
		c := mustLoad(t, env{"GATEHOUSE_HTTP_CORS_ORIGINS": "*", "GATEHOUSE_PUBLIC_URL": "http://dev.example.com"}, nil, "")
		if c.MailSender() != MailDevOutbox || c.HTTP.ShutdownDelay != 0 {
			t.Errorf("MailSender = %q, ShutdownDelay = %v", c.MailSender(), c.HTTP.ShutdownDelay)
		}
	})
	t.Run(".env files ignored", func(t *testing.T) {
		f := files{".env": "GATEHOUSE_HTTP_ADDR=:1111\n", ".env.production": "GATEHOUSE_HTTP_ADDR=:2222\n"}
		c := mustLoad(t, prod, f, "")
		if c.HTTP.Addr != ":8080" {
			t.Errorf("Addr = %q: a .env file was read in production", c.HTTP.Addr)
		}
		want := []string{
			".env.production is ignored: .env files are read only in development",
			".env is ignored: .env files are read only in development",
		}
		if !slices.Equal(c.Warnings(), want) {
			t.Errorf("Warnings = %q, want %q", c.Warnings(), want)
		}
	})
	t.Run("environment from the config file", func(t *testing.T) {
		f := files{"g.yaml": "env: production\npublic_url: https://a.example.com\nsecret:\n  key: " + testSecretKey + "\nsmtp:\n  url: smtp://mail:25\n", ".env": "GATEHOUSE_HTTP_ADDR=:1111\n"}
		c := mustLoad(t, nil, f, "g.yaml")
		if !c.Production() || c.HTTP.Addr != ":8080" || c.HTTP.ShutdownDelay != 5*time.Second {
			t.Errorf("Env = %q, Addr = %q, ShutdownDelay = %v", c.Env, c.HTTP.Addr, c.HTTP.ShutdownDelay)
		}
	})
	t.Run("the environment variable beats the config file", func(t *testing.T) {
		f := files{"g.yaml": "env: production\n", ".env": "GATEHOUSE_HTTP_ADDR=:1111\n"}
		c := mustLoad(t, env{"GATEHOUSE_ENV": "development"}, f, "g.yaml")
		if c.Production() || c.HTTP.Addr != ":1111" {
			t.Errorf("Env = %q, Addr = %q", c.Env, c.HTTP.Addr)
		}
	})
}

func TestPrecedence(t *testing.T) {
	// Four sources each set the address; each step removes the strongest remaining one.
	const file = "http:\n  addr: \":1001\"\n"
	all := files{
		"gatehouse.yaml":   file,
		".env.development": "GATEHOUSE_HTTP_ADDR=:1002\n",
		".env":             "GATEHOUSE_HTTP_ADDR=:1003\n",
	}
	tests := []struct {
		name   string
		env    env
		files  files
		want   string
		source string
	}{
		{"environment", env{"GATEHOUSE_HTTP_ADDR": ":1004"}, all, ":1004", "environment"},
		{".env", nil, all, ":1003", "GATEHOUSE_HTTP_ADDR in .env"},
		{".env.development", nil, files{"gatehouse.yaml": file, ".env.development": all[".env.development"]}, ":1002", "GATEHOUSE_HTTP_ADDR in .env.development"},
		{"config file", nil, files{"gatehouse.yaml": file}, ":1001", "http.addr in gatehouse.yaml"},
		{"default", nil, nil, ":8080", "default"},
		{"empty variable counts as unset", env{"GATEHOUSE_HTTP_ADDR": ""}, all, ":1003", "GATEHOUSE_HTTP_ADDR in .env"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cf := "gatehouse.yaml"
			if tt.files == nil {
				cf = ""
			}
			c := mustLoad(t, tt.env, tt.files, cf)
			if c.HTTP.Addr != tt.want {
				t.Errorf("Addr = %q, want %q", c.HTTP.Addr, tt.want)
			}
			line := c.Describe()[slices.IndexFunc(keyTable, func(k key) bool { return k.env == "GATEHOUSE_HTTP_ADDR" })]
			if want := "GATEHOUSE_HTTP_ADDR=" + tt.want + " (" + tt.source + ")"; line != want {
				t.Errorf("Describe line = %q, want %q", line, want)
			}
		})
	}

	t.Run("each key independently", func(t *testing.T) {
		f := files{
			"g.toml":           "[http]\naddr = \":1001\"\nread_timeout = \"1s\"\nwrite_timeout = \"1s\"\nidle_timeout = \"1s\"\n",
			".env.development": "GATEHOUSE_HTTP_READ_TIMEOUT=2s\nGATEHOUSE_HTTP_WRITE_TIMEOUT=2s\nGATEHOUSE_HTTP_IDLE_TIMEOUT=2s\n",
			".env":             "GATEHOUSE_HTTP_WRITE_TIMEOUT=3s\nGATEHOUSE_HTTP_IDLE_TIMEOUT=3s\n",
		}
		c := mustLoad(t, env{"GATEHOUSE_HTTP_IDLE_TIMEOUT": "4s"}, f, "g.toml")
		got := []time.Duration{c.HTTP.ReadHeaderTimeout, c.HTTP.ReadTimeout, c.HTTP.WriteTimeout, c.HTTP.IdleTimeout}
		want := []time.Duration{5 * time.Second, 2 * time.Second, 3 * time.Second, 4 * time.Second}
		if !slices.Equal(got, want) || c.HTTP.Addr != ":1001" {
			t.Errorf("timeouts = %v (addr %q), want %v (addr :1001)", got, c.HTTP.Addr, want)
		}
	})

	t.Run("Dir and the real file system", func(t *testing.T) {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, ".env"), []byte("# local\nGATEHOUSE_LOG_LEVEL=debug\nPOSTGRES_PASSWORD=for-compose\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		c, err := Load(LoadOptions{Getenv: env{}.getenv, Dir: dir})
		if err != nil {
			t.Fatal(err)
		}
		if c.Log.Level != "debug" {
			t.Errorf("Log.Level = %q, want debug from %s/.env", c.Log.Level, dir)
		}
	})
}

func TestAliases(t *testing.T) {
	tests := []struct {
		name string
		env  env
		f    files
		want string
		src  string
	}{
		{"alias alone", env{"DATABASE_URL": "postgres://alias/db"}, nil, "postgres://alias/db", "environment DATABASE_URL"},
		{"gatehouse name wins", env{"DATABASE_URL": "postgres://alias/db", "GATEHOUSE_DATABASE_URL": "postgres://main/db"}, nil, "postgres://main/db", "environment"},
		{"gatehouse file wins over alias", env{"DATABASE_URL": "postgres://alias/db", "GATEHOUSE_DATABASE_URL_FILE": "/s/db"},
			files{"/s/db": "postgres://file/db\n"}, "postgres://file/db", "environment GATEHOUSE_DATABASE_URL_FILE"},
		{"alias file", env{"DATABASE_URL_FILE": "/s/db"}, files{"/s/db": "postgres://aliasfile/db"}, "postgres://aliasfile/db", "environment DATABASE_URL_FILE"},
		{"alias in .env", nil, files{".env": "DATABASE_URL=postgres://dotenv/db\n"}, "postgres://dotenv/db", "DATABASE_URL in .env"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := mustLoad(t, tt.env, tt.f, "")
			if c.Database.URL != tt.want || c.DatabaseBackend() != BackendPostgres || c.SQLitePath() != "" {
				t.Errorf("URL = %q (backend %s), want %q", c.Database.URL, c.DatabaseBackend(), tt.want)
			}
			if got := c.sources["GATEHOUSE_DATABASE_URL"].describe(keyByEnv("GATEHOUSE_DATABASE_URL")); got != tt.src {
				t.Errorf("source = %q, want %q", got, tt.src)
			}
		})
	}
	t.Run("redis and sentry", func(t *testing.T) {
		c := mustLoad(t, env{"REDIS_URL": "redis://r:6379/1", "SENTRY_DSN": "https://k@sentry.example.com/1", "GATEHOUSE_SENTRY_DSN": "https://k2@sentry.example.com/2"}, nil, "")
		if c.Redis.URL != "redis://r:6379/1" || c.Sentry.DSN != "https://k2@sentry.example.com/2" {
			t.Errorf("Redis.URL = %q, Sentry.DSN = %q", c.Redis.URL, c.Sentry.DSN)
		}
	})
}

func TestSecretFiles(t *testing.T) {
	secrets := files{
		"/run/secrets/db":     "postgres://gatehouse:s3cret@db:5432/gatehouse\n",
		"/run/secrets/redis":  "  rediss://:r3dis@redis:6380/0  \n",
		"/run/secrets/smtp":   "smtps://u:sm7p@smtp.example.com\n",
		"/run/secrets/sentry": "https://key@sentry.example.com/7\n",
		"/run/secrets/token":  "metrics-t0ken\n",
		"/run/secrets/empty":  " \n",
	}
	t.Run("every secret", func(t *testing.T) {
		e := env{
			"GATEHOUSE_DATABASE_URL_FILE":  "/run/secrets/db",
			"GATEHOUSE_REDIS_URL_FILE":     "/run/secrets/redis",
			"GATEHOUSE_SMTP_URL_FILE":      "/run/secrets/smtp",
			"SENTRY_DSN_FILE":              "/run/secrets/sentry",
			"GATEHOUSE_METRICS_TOKEN_FILE": "/run/secrets/token",
		}
		c := mustLoad(t, e, secrets, "")
		got := []string{c.Database.URL, c.Redis.URL, c.SMTP.URL, c.Sentry.DSN, c.Metrics.Token}
		want := []string{
			"postgres://gatehouse:s3cret@db:5432/gatehouse", "rediss://:r3dis@redis:6380/0",
			"smtps://u:sm7p@smtp.example.com", "https://key@sentry.example.com/7", "metrics-t0ken",
		}
		if !slices.Equal(got, want) {
			t.Errorf("secrets = %q, want %q", got, want)
		}
	})
	t.Run("every secret key accepts _FILE", func(t *testing.T) {
		for _, k := range keyTable {
			if !k.secret {
				continue
			}
			for _, name := range append([]string{k.env}, k.aliases...) {
				_, err := load(t, env{name + "_FILE": "/run/secrets/missing"}, nil, "")
				if err == nil || !strings.HasPrefix(err.Error(), name+"_FILE: cannot read the secret file: ") {
					t.Errorf("%s_FILE pointing nowhere: %v", name, err)
				}
			}
		}
	})
	tests := []struct {
		name string
		env  env
		f    files
		want string
	}{
		{"both set", env{"GATEHOUSE_SMTP_URL": "smtp://a", "GATEHOUSE_SMTP_URL_FILE": "/run/secrets/smtp"}, secrets,
			"GATEHOUSE_SMTP_URL: both GATEHOUSE_SMTP_URL and GATEHOUSE_SMTP_URL_FILE are set; set only one"},
		{"both set for an alias", env{"SENTRY_DSN": "https://k@h/1", "SENTRY_DSN_FILE": "/run/secrets/sentry"}, secrets,
			"SENTRY_DSN: both SENTRY_DSN and SENTRY_DSN_FILE are set; set only one"},
		{"both set in .env", nil, files{".env": "GATEHOUSE_REDIS_URL=redis://a\nGATEHOUSE_REDIS_URL_FILE=/x\n"},
			"GATEHOUSE_REDIS_URL in .env: both GATEHOUSE_REDIS_URL and GATEHOUSE_REDIS_URL_FILE are set; set only one"},
		{"missing file", env{"GATEHOUSE_DATABASE_URL_FILE": "/run/secrets/nope"}, secrets,
			"GATEHOUSE_DATABASE_URL_FILE: cannot read the secret file: open /run/secrets/nope: file does not exist"},
		{"empty file", env{"GATEHOUSE_METRICS_TOKEN_FILE": "/run/secrets/empty"}, secrets,
			"GATEHOUSE_METRICS_TOKEN_FILE: the secret file /run/secrets/empty is empty"},
		{"invalid content names the _FILE variable", env{"GATEHOUSE_DATABASE_URL_FILE": "/run/secrets/sentry"}, secrets,
			`GATEHOUSE_DATABASE_URL_FILE: scheme "https" is not supported (use postgres://, postgresql:// or sqlite://path, or leave empty)`},
		{"not a secret", nil, files{".env": "GATEHOUSE_HTTP_ADDR_FILE=/x\n"},
			"GATEHOUSE_HTTP_ADDR_FILE in .env: GATEHOUSE_HTTP_ADDR is not a secret and cannot be read from a file; set GATEHOUSE_HTTP_ADDR itself"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := loadErr(t, tt.env, tt.f, ""); got != tt.want {
				t.Errorf("error:\n got %q\nwant %q", got, tt.want)
			}
		})
	}
	t.Run("a stronger source overrides a weaker _FILE without reading it", func(t *testing.T) {
		c := mustLoad(t, env{"GATEHOUSE_SMTP_URL": "smtp://env:25"}, files{".env": "GATEHOUSE_SMTP_URL_FILE=/run/secrets/nope\n"}, "")
		if c.SMTP.URL != "smtp://env:25" {
			t.Errorf("SMTP.URL = %q", c.SMTP.URL)
		}
	})
	t.Run("config file url_file", func(t *testing.T) {
		f := files{"g.yaml": "database:\n  url_file: /run/secrets/db\n"}
		for k, v := range secrets {
			f[k] = v
		}
		c := mustLoad(t, nil, f, "g.yaml")
		if c.Database.URL != "postgres://gatehouse:s3cret@db:5432/gatehouse" {
			t.Errorf("Database.URL = %q", c.Database.URL)
		}
		f["g.yaml"] = "database:\n  url: postgres://a/b\n  url_file: /run/secrets/db\n"
		want := "GATEHOUSE_DATABASE_URL (database.url in g.yaml): both database.url and database.url_file are set; set only one"
		if got := loadErr(t, nil, f, "g.yaml"); got != want {
			t.Errorf("error:\n got %q\nwant %q", got, want)
		}
	})
}

func TestConfigFile(t *testing.T) {
	const yamlFile = `# gatehouse.yaml
env: development
public_url: https://auth.example.com/
data_dir: /var/lib/gatehouse
http:
  addr: "127.0.0.1:9000"
  shutdown_timeout: 30s
  max_body_bytes: 131072
  trusted_proxies: [10.0.0.0/8, "192.168.0.1"]
  cors_origins:
    - https://app.example.com
database:
  url: postgres://gatehouse@db/gatehouse
  max_conns: 20
  auto_migrate: false
log:
  level: debug
  file_compress: no
sentry:
  traces_sample_rate: 0.5
jobs:
  poll_interval: 250ms
metrics:
  enabled: false
`
	const tomlFile = `# gatehouse.toml
env = "development"
public_url = "https://auth.example.com/"
data_dir = "/var/lib/gatehouse"

[http]
addr = "127.0.0.1:9000"
shutdown_timeout = "30s"
max_body_bytes = 131072
trusted_proxies = ["10.0.0.0/8", "192.168.0.1"]
cors_origins = ["https://app.example.com"]

[database]
url = "postgres://gatehouse@db/gatehouse"
max_conns = 20
auto_migrate = false

[log]
level = "debug"
file_compress = false

[sentry]
traces_sample_rate = 0.5

[jobs]
poll_interval = "250ms"

[metrics]
enabled = false
`
	check := func(t *testing.T, c *Config) {
		t.Helper()
		got := []any{
			c.PublicURL, c.DataDir, c.HTTP.Addr, c.HTTP.ShutdownTimeout, c.HTTP.MaxBodyBytes,
			formatPrefixes(c.HTTP.TrustedProxies), c.HTTP.CORSOrigins, c.Database.URL, c.Database.MaxConns,
			c.Database.AutoMigrate, c.Log.Level, c.Log.Compress, c.Sentry.TracesSampleRate, c.Jobs.PollInterval,
			c.Metrics.Enabled,
		}
		want := []any{
			"https://auth.example.com", "/var/lib/gatehouse", "127.0.0.1:9000", 30 * time.Second, int64(131072),
			"10.0.0.0/8,192.168.0.1/32", []string{"https://app.example.com"}, "postgres://gatehouse@db/gatehouse", int32(20),
			false, "debug", false, 0.5, 250 * time.Millisecond,
			false,
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("loaded:\n got %v\nwant %v", got, want)
		}
	}
	for _, name := range []string{"gatehouse.yaml", "gatehouse.yml", "GATEHOUSE.YAML"} {
		t.Run(name, func(t *testing.T) { check(t, mustLoad(t, nil, files{name: yamlFile}, name)) })
	}
	t.Run("gatehouse.toml", func(t *testing.T) { check(t, mustLoad(t, nil, files{"gatehouse.toml": tomlFile}, "gatehouse.toml")) })
	t.Run("empty file", func(t *testing.T) {
		for _, name := range []string{"e.yaml", "e.toml"} {
			mustLoad(t, nil, files{name: ""}, name)
		}
	})
	t.Run("null value", func(t *testing.T) {
		c := mustLoad(t, env{}, files{"n.yaml": "http:\n  cors_origins:\nredis:\n  key_prefix: ~\n"}, "n.yaml")
		if c.Redis.KeyPrefix != "" || c.HTTP.CORSOrigins != nil {
			t.Errorf("KeyPrefix = %q, CORSOrigins = %q", c.Redis.KeyPrefix, c.HTTP.CORSOrigins)
		}
	})

	errs := []struct {
		name, file, content string
		want                []string
	}{
		{"unknown key", "g.yaml", "http:\n  adr: \":1\"\n", []string{`config file g.yaml: unknown key http.adr (did you mean http.addr?)`}},
		{"unknown section", "g.toml", "[databse]\nurl = \"\"\n", []string{`config file g.toml: unknown key databse (did you mean database?)`}},
		{"unknown far key", "g.yaml", "frobnicate: 1\n", []string{`config file g.yaml: unknown key frobnicate (docs/configuration.md lists them all)`}},
		{"env variable name as key", "g.yaml", "GATEHOUSE_HTTP_ADDR: \":1\"\n", []string{`config file g.yaml: unknown key GATEHOUSE_HTTP_ADDR (docs/configuration.md lists them all)`}},
		{"flat dotted key", "g.yaml", "http.addr: \":1\"\n", []string{"config file g.yaml: key http.addr must be written nested, not dotted (a table http with a key addr)"}},
		{"section as value", "g.yaml", "http: \":1\"\n", []string{`config file g.yaml: key http must be a table of settings`}},
		{"value as section", "g.yaml", "http:\n  addr:\n    port: 1\n", []string{`config file g.yaml: key http.addr must be a single value, not a table`}},
		{"list for a single value", "g.yaml", "http:\n  addr: [\":1\"]\n", []string{`config file g.yaml: key http.addr: must be a single value, not a list`}},
		{"nested list", "g.yaml", "http:\n  cors_origins: [[a]]\n", []string{`config file g.yaml: key http.cors_origins: must be a list of values, not of lists`}},
		{"several at once", "g.yaml", "http:\n  adr: 1\n  read_timeout: 5\nlog:\n  level: loud\n", []string{
			`config file g.yaml: unknown key http.adr (did you mean http.addr?)`,
			`GATEHOUSE_HTTP_READ_TIMEOUT (http.read_timeout in g.yaml): "5" is not a duration like 15s`,
			`GATEHOUSE_LOG_LEVEL (log.level in g.yaml): "loud" is not one of debug, info, warn, error`,
		}},
	}
	for _, tt := range errs {
		t.Run(tt.name, func(t *testing.T) {
			got := strings.Split(loadErr(t, nil, files{tt.file: tt.content}, tt.file), "\n")
			if !slices.Equal(got, tt.want) {
				t.Errorf("error lines:\n got %q\nwant %q", got, tt.want)
			}
		})
	}

	fatal := []struct {
		name, file, content, want string
	}{
		{"missing", "nope.yaml", "", "config file: open nope.yaml: file does not exist"},
		{"extension", "g.json", "{}", `config file g.json: unsupported extension ".json" (use .yaml, .yml or .toml)`},
		{"yaml syntax", "g.yaml", "http: [\n", "config file g.yaml: yaml: line 1: did not find expected node content"},
		{"toml syntax", "g.toml", "[http\n", "config file g.toml: toml: line 2"},
		{"duplicate yaml key", "g.yaml", "env: a\nenv: b\n", `config file g.yaml: yaml: unmarshal errors:`},
	}
	for _, tt := range fatal {
		t.Run(tt.name, func(t *testing.T) {
			f := files{}
			if tt.name != "missing" {
				f[tt.file] = tt.content
			}
			got := loadErr(t, nil, f, tt.file)
			if !strings.HasPrefix(got, tt.want) {
				t.Errorf("error = %q, want prefix %q", got, tt.want)
			}
		})
	}
}

func TestDotenv(t *testing.T) {
	t.Run("syntax", func(t *testing.T) {
		f := files{".env": "# comment\nexport GATEHOUSE_LOG_LEVEL=warn\nGATEHOUSE_SMTP_FROM=\"Dev <dev@example.com>\" # trailing\nGATEHOUSE_DATA_DIR='./tmp data'\nOTHER_TOOL=x\n"}
		c := mustLoad(t, nil, f, "")
		if c.Log.Level != "warn" || c.SMTP.From != "Dev <dev@example.com>" || c.DataDir != "./tmp data" {
			t.Errorf("Level = %q, From = %q, DataDir = %q", c.Log.Level, c.SMTP.From, c.DataDir)
		}
	})
	tests := []struct {
		name string
		f    files
		want []string
	}{
		{"unknown gatehouse variable", files{".env": "GATEHOUSE_HTTP_ADRR=:1\n"}, []string{
			"GATEHOUSE_HTTP_ADRR in .env: unknown setting (did you mean GATEHOUSE_HTTP_ADDR?)"}},
		{"unknown far variable", files{".env.development": "GATEHOUSE_NOTHING_LIKE_IT=1\n"}, []string{
			"GATEHOUSE_NOTHING_LIKE_IT in .env.development: unknown setting (docs/configuration.md lists them all)"}},
		{"environment switch", files{".env": "GATEHOUSE_ENV=production\n"}, []string{
			`GATEHOUSE_ENV in .env: cannot change the environment to "production": .env files are read only in development; set GATEHOUSE_ENV in the environment or the config file`}},
		{"invalid value", files{".env": "GATEHOUSE_JOBS_WORKERS=many\n"}, []string{
			`GATEHOUSE_JOBS_WORKERS in .env: "many" is not a whole number`}},
		{"no such file", files{}, nil},
		{"bad name, secret not quoted", files{".env": "GATEHOUSE_LOG_LEVEL=debug\nBAD!LINE=smtp://u:hunter2@h\n"}, []string{
			`.env: line 2: a variable name contains "!" (write NAME=value)`}},
		{"unclosed quote, secret not quoted", files{".env": "A=1\n\nGATEHOUSE_SMTP_URL=\"smtp://u:hunter2@h\nC=3\n"}, []string{
			`.env: line 3: a quoted value is not closed`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.want == nil {
				mustLoad(t, nil, tt.f, "")
				return
			}
			got := strings.Split(loadErr(t, nil, tt.f, ""), "\n")
			if !slices.Equal(got, tt.want) {
				t.Errorf("error lines:\n got %q\nwant %q", got, tt.want)
			}
		})
	}
	t.Run("same environment is fine", func(t *testing.T) {
		mustLoad(t, nil, files{".env": "GATEHOUSE_ENV=development\n"}, "")
	})
	t.Run("read error", func(t *testing.T) {
		boom := errors.New("permission denied")
		_, err := Load(LoadOptions{ReadFile: func(string) ([]byte, error) { return nil, boom }})
		if err == nil || !errors.Is(err, boom) || !strings.HasPrefix(err.Error(), ".env.development: permission denied") {
			t.Errorf("Load = %v", err)
		}
	})
}

func TestUnknownEnvironmentVariables(t *testing.T) {
	e := env{
		"GATEHOUSE_HTTP_ADRR":                 ":1",       // typo: warned
		"GATEHOUSE_HTTP_ADDR_FILE":            "/x",       // not a secret: warned
		"GATEHOUSE_TEST_POSTGRES_URL":         "pg://",    // tests' own
		"GATEHOUSE_SERVICE_HOST":              "10.0.0.1", // Kubernetes service links
		"GATEHOUSE_SERVICE_PORT_HTTP":         "8080",
		"GATEHOUSE_PORT":                      "tcp://10.0.0.1:8080",
		"GATEHOUSE_PORT_8080_TCP_ADDR":        "10.0.0.1",
		"GATEHOUSE_REDIS_PORT_6379_TCP":       "tcp://10.0.0.2:6379",
		"GATEHOUSE_DATABASE_URL_FILE":         "/s/db", // known
		"DATABASE_URL_FILE":                   "",
		"HOME":                                "/root",
		"GATEHOUSE_SENTRY_TRACES_SAMPLE_RATE": "0",
		"GATEHOUSE_JOBS_WORKERS":              "2",
		"GATEHOUSE_JOBS_MAX_ATTEMPTS":         "2",
		"GATEHOUSE_HTTP_PORT":                 "8080", // a guess at a setting: warned
	}
	c := mustLoad(t, e, files{"/s/db": "sqlite://x.db"}, "")
	want := []string{
		"GATEHOUSE_HTTP_ADDR_FILE is ignored: GATEHOUSE_HTTP_ADDR is not a secret and cannot be read from a file; set GATEHOUSE_HTTP_ADDR itself",
		"GATEHOUSE_HTTP_ADRR is ignored: unknown setting (did you mean GATEHOUSE_HTTP_ADDR?)",
		"GATEHOUSE_HTTP_PORT is ignored: unknown setting (docs/configuration.md lists them all)",
	}
	if !slices.Equal(c.Warnings(), want) {
		t.Errorf("Warnings:\n got %q\nwant %q", c.Warnings(), want)
	}
	if got := c.SQLitePath(); got != "x.db" {
		t.Errorf("SQLitePath = %q", got)
	}
}

func TestDescribeAndRedacted(t *testing.T) {
	secrets := []string{"pgpass-1", "redispass-2", "smtppass-3", "sentrykey-4", "metricstoken-5", "querypass-6", testSecretKey}
	e := env{
		"GATEHOUSE_SECRET_KEY":    testSecretKey,
		"GATEHOUSE_ENV":           "production",
		"GATEHOUSE_PUBLIC_URL":    "https://auth.example.com",
		"GATEHOUSE_DATABASE_URL":  "postgres://gatehouse:pgpass-1@db:5432/gatehouse?sslmode=verify-full&sslpassword=querypass-6",
		"REDIS_URL":               "rediss://:redispass-2@redis:6380/0",
		"GATEHOUSE_SMTP_URL_FILE": "/s/smtp",
		"SENTRY_DSN":              "https://sentrykey-4@o1.ingest.sentry.io/42",
		"GATEHOUSE_METRICS_TOKEN": "metricstoken-5",
	}
	c := mustLoad(t, e, files{"/s/smtp": "smtp://mailer:smtppass-3@smtp.example.com:587"}, "")
	lines := c.Describe()
	if len(lines) != len(keyTable) {
		t.Fatalf("Describe has %d lines for %d keys", len(lines), len(keyTable))
	}
	text := strings.Join(lines, "\n")
	for _, s := range secrets {
		if strings.Contains(text, s) {
			t.Errorf("Describe shows the secret %q:\n%s", s, text)
		}
	}
	for _, want := range []string{
		"GATEHOUSE_ENV=production (environment)",
		"GATEHOUSE_DATABASE_URL=postgres://gatehouse:xxxxx@db:5432/gatehouse?sslmode=verify-full&sslpassword=xxxxx (environment)",
		"GATEHOUSE_REDIS_URL=rediss://:xxxxx@redis:6380/0 (environment REDIS_URL)",
		"GATEHOUSE_SMTP_URL=smtp://mailer:xxxxx@smtp.example.com:587 (environment GATEHOUSE_SMTP_URL_FILE)",
		"GATEHOUSE_SENTRY_DSN=https://xxxxx@o1.ingest.sentry.io/42 (environment SENTRY_DSN)",
		"GATEHOUSE_METRICS_TOKEN=[redacted] (environment)",
		"GATEHOUSE_HTTP_SHUTDOWN_DELAY=5s (default for production)",
		"GATEHOUSE_HTTP_IDLE_TIMEOUT=2m (default)",
		`GATEHOUSE_SMTP_FROM="gatehouse <no-reply@localhost>" (default)`,
		`GATEHOUSE_LOG_FORMAT="" (default)`,
		`GATEHOUSE_HTTP_TRUSTED_PROXIES="" (default)`,
	} {
		if !slices.Contains(lines, want) {
			t.Errorf("Describe lacks %q:\n%s", want, text)
		}
	}

	r := c.Redacted()
	for _, s := range secrets {
		if strings.Contains(strings.Join([]string{r.Database.URL, r.Redis.URL, r.SMTP.URL, r.Sentry.DSN, r.Metrics.Token}, " "), s) {
			t.Errorf("Redacted keeps the secret %q", s)
		}
	}
	if c.Database.URL != e["GATEHOUSE_DATABASE_URL"] {
		t.Errorf("Redacted changed the original: %q", c.Database.URL)
	}
	if r.HTTP.Addr != c.HTTP.Addr || r.Env != c.Env {
		t.Errorf("Redacted changed non-secrets")
	}

	// Every secret key is redacted, whatever its value looks like.
	for _, k := range keyTable {
		if !k.secret {
			continue
		}
		for _, v := range []string{"scheme://user:Pa55word@host/x", "Pa55word"} {
			c := Default()
			_ = k.set(c, v)
			if got := k.get(c.Redacted()); strings.Contains(got, "Pa55word") {
				t.Errorf("%s: Redacted shows %q", k.env, got)
			}
			for _, line := range c.Describe() {
				if strings.Contains(line, "Pa55word") {
					t.Errorf("%s: Describe shows %q", k.env, line)
				}
			}
		}
	}

	// A Config built by hand describes itself without sources.
	if got := Default().Describe()[0]; got != "GATEHOUSE_ENV=development" {
		t.Errorf("Describe()[0] = %q", got)
	}
}

func TestRedactURL(t *testing.T) {
	tests := []struct {
		in       string
		maskUser bool
		want     string
	}{
		{"", false, ""},
		{"postgres://user:pass@host/db", false, "postgres://user:xxxxx@host/db"},
		{"postgres://user@host/db", false, "postgres://user@host/db"},
		{"postgres://host/db?sslmode=disable&password=p&PGPASSWORD=q", false, "postgres://host/db?sslmode=disable&password=xxxxx&PGPASSWORD=xxxxx"},
		{"redis://:p@h:6379/0", false, "redis://:xxxxx@h:6379/0"},
		{"redis-sentinel://u:p@a:1,b:2/master?sentinel_password=s", false, "redis-sentinel://u:xxxxx@a:1,b:2/master?sentinel_password=xxxxx"},
		{"postgres://u:p@ss/w@rd@host/db", false, "postgres://u:xxxxx@host/db"},
		{"postgres://u:p?ss@host/db?x=1", false, "postgres://u:xxxxx@host/db?x=1"},
		{"https://key@sentry.io/1", true, "https://xxxxx@sentry.io/1"},
		{"host=db password=p", false, "[redacted]"},
		{"://u:p@h", false, "[redacted]"},
	}
	for _, tt := range tests {
		if got := redactURL(tt.in, tt.maskUser); got != tt.want {
			t.Errorf("redactURL(%q, %v) = %q, want %q", tt.in, tt.maskUser, got, tt.want)
		}
	}
}

func TestKeys(t *testing.T) {
	keys := Keys()
	if len(keys) != len(keyTable) {
		t.Fatalf("Keys() has %d keys, table %d", len(keys), len(keyTable))
	}
	envs, files := map[string]bool{}, map[string]bool{}
	for _, k := range keys {
		if envs[k.Env] || files[k.File] {
			t.Errorf("duplicate key %s / %s", k.Env, k.File)
		}
		envs[k.Env], files[k.File] = true, true
		if !strings.HasPrefix(k.Env, "GATEHOUSE_") || k.File == "" || k.Description == "" || k.Accepts == "" {
			t.Errorf("key %+v is incompletely described", k)
		}
		// The file key is the variable's name without the prefix, with the section split off.
		want := strings.ToLower(strings.TrimPrefix(k.Env, "GATEHOUSE_"))
		if got := strings.ReplaceAll(k.File, ".", "_"); got != want {
			t.Errorf("%s: file key %s does not match the variable name", k.Env, k.File)
		}
	}
	for _, k := range keyTable {
		if k.secret != (k.redact != nil) {
			t.Errorf("%s: secret keys, and only they, need a redact function", k.env)
		}
		if k.prodDef != "" {
			if err := k.set(Default(), k.prodDef); err != nil {
				t.Errorf("%s: production default: %v", k.env, err)
			}
		}
	}
}
