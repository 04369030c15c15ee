// Package config owns gatehouse's configuration: one struct, its defaults, loading from the
// environment, an optional YAML or TOML file and .env files, and validation with errors that name the
// key. Nothing else in the program reads the environment.
package config

import (
	"net/netip"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// Environments.
const (
	EnvDevelopment = "development"
	EnvProduction  = "production"
)

// Config is every setting of a gatehouse process. The zero-configuration default (Default) starts a
// working server on :8080 with SQLite in ./data and the in-memory ephemeral store.
type Config struct {
	Env       string // GATEHOUSE_ENV: development | production
	PublicURL string // GATEHOUSE_PUBLIC_URL: external base URL; also the token issuer
	DataDir   string // GATEHOUSE_DATA_DIR: SQLite file and generated files of the embedded default

	HTTP     HTTP
	Database Database
	Redis    Redis
	SMTP     SMTP
	Log      Log
	Sentry   Sentry
	Jobs     Jobs
	Purge    Purge
	Metrics  Metrics

	// SecretKey is the master secret (base64, at least 32 bytes) from which gatehouse derives the
	// key that encrypts signing keys at rest and the key of one-time-code hashes. Required in
	// production; in development an empty value makes gatehouse generate one in DataDir.
	SecretKey string // GATEHOUSE_SECRET_KEY

	Token    Token
	Session  Session
	Password Password
	Account  Account
	Cookies  Cookies
	OTP      OTP
	SMS      SMS

	// sources records where Load found each key's value (keyed by the key's variable name); nil for
	// a Config built by hand. It only improves messages and Describe.
	sources map[string]source
	// warnings are findings of Load that do not stop the process (see Warnings).
	warnings []string
}

// HTTP configures the listener and the HTTP layer.
type HTTP struct {
	Addr              string        // GATEHOUSE_HTTP_ADDR
	ReadHeaderTimeout time.Duration // GATEHOUSE_HTTP_READ_HEADER_TIMEOUT
	ReadTimeout       time.Duration // GATEHOUSE_HTTP_READ_TIMEOUT
	WriteTimeout      time.Duration // GATEHOUSE_HTTP_WRITE_TIMEOUT
	IdleTimeout       time.Duration // GATEHOUSE_HTTP_IDLE_TIMEOUT
	MaxBodyBytes      int64         // GATEHOUSE_HTTP_MAX_BODY_BYTES (default 64 KiB)
	// ShutdownDelay is how long readiness reports 503 before the listener closes, so load balancers
	// stop sending new requests first.
	ShutdownDelay time.Duration // GATEHOUSE_HTTP_SHUTDOWN_DELAY
	// ShutdownTimeout bounds how long in-flight requests may take to finish after the listener closes.
	ShutdownTimeout time.Duration // GATEHOUSE_HTTP_SHUTDOWN_TIMEOUT
	// TrustedProxies are the peers whose X-Forwarded-For / X-Forwarded-Proto / Forwarded headers are
	// believed.
	TrustedProxies []netip.Prefix // GATEHOUSE_HTTP_TRUSTED_PROXIES (comma-separated CIDRs or IPs)
	CORSOrigins    []string       // GATEHOUSE_HTTP_CORS_ORIGINS (comma-separated origins)
	TLSCertFile    string         // GATEHOUSE_HTTP_TLS_CERT_FILE (serve HTTPS directly when both set)
	TLSKeyFile     string         // GATEHOUSE_HTTP_TLS_KEY_FILE
}

// Database configures the records store. An empty URL or sqlite://path selects SQLite; postgres://
// or postgresql:// selects PostgreSQL.
type Database struct {
	URL              string        // GATEHOUSE_DATABASE_URL (or DATABASE_URL)
	MaxConns         int32         // GATEHOUSE_DATABASE_MAX_CONNS (PostgreSQL pool size)
	MinConns         int32         // GATEHOUSE_DATABASE_MIN_CONNS
	MaxConnIdleTime  time.Duration // GATEHOUSE_DATABASE_MAX_CONN_IDLE_TIME
	MaxConnLifetime  time.Duration // GATEHOUSE_DATABASE_MAX_CONN_LIFETIME
	ConnectTimeout   time.Duration // GATEHOUSE_DATABASE_CONNECT_TIMEOUT
	StatementTimeout time.Duration // GATEHOUSE_DATABASE_STATEMENT_TIMEOUT
	BusyTimeout      time.Duration // GATEHOUSE_DATABASE_BUSY_TIMEOUT (SQLite)
	AutoMigrate      bool          // GATEHOUSE_DATABASE_AUTO_MIGRATE: apply migrations on serve
}

// Redis configures the ephemeral store. Empty URL selects the in-memory store.
type Redis struct {
	URL       string // GATEHOUSE_REDIS_URL (or REDIS_URL): redis://, rediss://, redis-sentinel://, redis-cluster://
	KeyPrefix string // GATEHOUSE_REDIS_KEY_PREFIX
}

// SMTP configures outgoing email. Empty URL selects the dev outbox (development only).
type SMTP struct {
	URL  string // GATEHOUSE_SMTP_URL: smtp://user:pass@host:port (STARTTLS) or smtps://
	From string // GATEHOUSE_SMTP_FROM
	// RatePerSecond caps the messages sent per second by all nodes together (0: no cap).
	RatePerSecond int // GATEHOUSE_SMTP_RATE_PER_SECOND
}

// Log configures logging.
type Log struct {
	Level  string // GATEHOUSE_LOG_LEVEL: debug | info | warn | error
	Format string // GATEHOUSE_LOG_FORMAT: json | text (default: json in production, text in development)
	// File, when set, sends logs to a file with rotation instead of stdout.
	File       string // GATEHOUSE_LOG_FILE
	MaxSizeMB  int    // GATEHOUSE_LOG_FILE_MAX_SIZE_MB
	MaxAgeDays int    // GATEHOUSE_LOG_FILE_MAX_AGE_DAYS
	MaxBackups int    // GATEHOUSE_LOG_FILE_MAX_BACKUPS
	Compress   bool   // GATEHOUSE_LOG_FILE_COMPRESS
}

// Sentry configures error reporting.
type Sentry struct {
	DSN              string  // SENTRY_DSN
	Environment      string  // GATEHOUSE_SENTRY_ENVIRONMENT (default: Env)
	TracesSampleRate float64 // GATEHOUSE_SENTRY_TRACES_SAMPLE_RATE
}

// Jobs configures the durable job queue workers.
type Jobs struct {
	Workers      int           // GATEHOUSE_JOBS_WORKERS: concurrent jobs per node
	MaxAttempts  int           // GATEHOUSE_JOBS_MAX_ATTEMPTS before a job is kept as failed
	PollInterval time.Duration // GATEHOUSE_JOBS_POLL_INTERVAL
	// FetchCooldown is GATEHOUSE_JOBS_FETCH_COOLDOWN: the least time between two fetches.
	FetchCooldown time.Duration
}

// Purge configures the periodic job that deletes records no longer of use (ended sessions and their
// refresh tokens, spent email verifications).
type Purge struct {
	Interval time.Duration // GATEHOUSE_PURGE_INTERVAL: how often the job runs
	// Retention is GATEHOUSE_PURGE_RETENTION: how long a record stays after it ended.
	Retention time.Duration
}

// Metrics configures the /metrics endpoint.
type Metrics struct {
	Enabled bool   // GATEHOUSE_METRICS_ENABLED
	Token   string // GATEHOUSE_METRICS_TOKEN: when set, /metrics requires "Authorization: Bearer <token>"
}

// Backends and mail senders reported by DatabaseBackend and MailSender. The database names equal
// records.BackendSQLite and records.BackendPostgres.
const (
	BackendSQLite   = "sqlite"
	BackendPostgres = "postgres"

	MailSMTP      = "smtp"
	MailDevOutbox = "dev-outbox"
)

// Production reports whether the process runs in the production environment.
func (c *Config) Production() bool { return c.Env == EnvProduction }

// DatabaseBackend is BackendPostgres when the database URL is a postgres:// or postgresql:// URL, and
// BackendSQLite otherwise (empty URL or sqlite://path).
func (c *Config) DatabaseBackend() string {
	scheme, _, _ := strings.Cut(c.Database.URL, "://")
	switch strings.ToLower(scheme) {
	case "postgres", "postgresql":
		return BackendPostgres
	}
	return BackendSQLite
}

// SQLitePath is the SQLite database file: the path of a sqlite:// URL, or gatehouse.db in DataDir
// when the URL is empty. It is empty when the backend is PostgreSQL.
func (c *Config) SQLitePath() string {
	if c.Database.URL == "" {
		return filepath.Join(c.DataDir, "gatehouse.db")
	}
	if path, ok := sqlitePath(c.Database.URL); ok {
		return path
	}
	return ""
}

// MailSender is MailSMTP when an SMTP URL is configured and MailDevOutbox otherwise. Validate refuses
// the dev outbox in production.
func (c *Config) MailSender() string {
	if c.SMTP.URL != "" {
		return MailSMTP
	}
	return MailDevOutbox
}

// SentryEnvironment is the environment name reported to Sentry: Sentry.Environment, or Env when
// that is empty.
func (c *Config) SentryEnvironment() string {
	if c.Sentry.Environment != "" {
		return c.Sentry.Environment
	}
	return c.Env
}

// Warnings are findings of Load that do not stop the process, such as .env files ignored in
// production or GATEHOUSE_* variables that name no setting. Callers log them at start-up; doctor
// prints them.
func (c *Config) Warnings() []string { return slices.Clone(c.warnings) }

// Token configures access tokens and their signing keys.
type Token struct {
	Algorithm       string        // GATEHOUSE_TOKEN_ALGORITHM: EdDSA | ES256
	AccessTTL       time.Duration // GATEHOUSE_TOKEN_ACCESS_TTL
	Audience        []string      // GATEHOUSE_TOKEN_AUDIENCE (default: the public URL)
	KeyOverlap      time.Duration // GATEHOUSE_TOKEN_KEY_OVERLAP: how long a retired key still verifies
	ActivationDelay time.Duration // GATEHOUSE_TOKEN_ACTIVATION_DELAY: how long a new key is published before it signs
}

// Session configures sign-in sessions and refresh tokens.
type Session struct {
	AbsoluteLifetime time.Duration // GATEHOUSE_SESSION_ABSOLUTE_LIFETIME
	IdleTimeout      time.Duration // GATEHOUSE_SESSION_IDLE_TIMEOUT
	RefreshGrace     time.Duration // GATEHOUSE_SESSION_REFRESH_GRACE
}

// Password configures hashing and the password policy.
type Password struct {
	MemoryKiB     int  // GATEHOUSE_PASSWORD_MEMORY_KIB (Argon2id m)
	Iterations    int  // GATEHOUSE_PASSWORD_ITERATIONS (Argon2id t)
	Parallelism   int  // GATEHOUSE_PASSWORD_PARALLELISM (Argon2id p)
	MaxConcurrent int  // GATEHOUSE_PASSWORD_MAX_CONCURRENT (0: one per core)
	MinLength     int  // GATEHOUSE_PASSWORD_MIN_LENGTH
	MaxLength     int  // GATEHOUSE_PASSWORD_MAX_LENGTH
	RejectCommon  bool // GATEHOUSE_PASSWORD_REJECT_COMMON
	MinScore      int  // GATEHOUSE_PASSWORD_MIN_SCORE (zxcvbn 0-4; 0 = off)
	RequireUpper  bool // GATEHOUSE_PASSWORD_REQUIRE_UPPER
	RequireLower  bool // GATEHOUSE_PASSWORD_REQUIRE_LOWER
	RequireDigit  bool // GATEHOUSE_PASSWORD_REQUIRE_DIGIT
	RequireSymbol bool // GATEHOUSE_PASSWORD_REQUIRE_SYMBOL
}

// Account configures sign-up and sign-in rules.
type Account struct {
	DefaultRoles         []string      // GATEHOUSE_ACCOUNT_DEFAULT_ROLES
	AllowUnverifiedLogin bool          // GATEHOUSE_ACCOUNT_ALLOW_UNVERIFIED_LOGIN
	VerifyResendCooldown time.Duration // GATEHOUSE_ACCOUNT_VERIFY_RESEND_COOLDOWN
	// LinkURL is GATEHOUSE_ACCOUNT_LINK_URL: the base of the pages links in emails open; "" means
	// PublicURL (see AccountLinkURL).
	LinkURL string
}

// AccountLinkURL returns the base URL of the pages that links in emails open.
func (c *Config) AccountLinkURL() string {
	if c.Account.LinkURL != "" {
		return c.Account.LinkURL
	}
	return c.PublicURL
}

// Cookies configures the cookie mode for browser clients.
type Cookies struct {
	Enabled bool // GATEHOUSE_COOKIES_ENABLED
}

// OTP configures one-time codes (phone sign-up, passwordless sign-in, phone change) and their
// sending limits.
type OTP struct {
	DefaultRegion   string        // GATEHOUSE_OTP_DEFAULT_REGION: region of numbers written without a country code
	TTL             time.Duration // GATEHOUSE_OTP_TTL
	MaxAttempts     int           // GATEHOUSE_OTP_MAX_ATTEMPTS
	ResendCooldown  time.Duration // GATEHOUSE_OTP_RESEND_COOLDOWN (grows with each resend)
	PerPhonePerHour int           // GATEHOUSE_OTP_PER_DESTINATION_PER_HOUR
	PerIPPerHour    int           // GATEHOUSE_OTP_PER_IP_PER_HOUR
}

// SMS configures text-message delivery.
type SMS struct {
	Provider         string   // GATEHOUSE_SMS_PROVIDER: dev-outbox | twilio | webhook | none
	AppName          string   // GATEHOUSE_SMS_APP_NAME
	DailyBudget      int      // GATEHOUSE_SMS_DAILY_BUDGET (0: unlimited)
	AllowCountries   []string // GATEHOUSE_SMS_ALLOW_COUNTRIES
	DenyCountries    []string // GATEHOUSE_SMS_DENY_COUNTRIES
	NotifyExisting   bool     // GATEHOUSE_SMS_NOTIFY_EXISTING
	TwilioBaseURL    string   // GATEHOUSE_SMS_TWILIO_BASE_URL
	TwilioAccountSID string   // GATEHOUSE_SMS_TWILIO_ACCOUNT_SID
	TwilioAuthToken  string   // GATEHOUSE_SMS_TWILIO_AUTH_TOKEN
	TwilioFrom       string   // GATEHOUSE_SMS_TWILIO_FROM
	WebhookURL       string   // GATEHOUSE_SMS_WEBHOOK_URL
	WebhookSecret    string   // GATEHOUSE_SMS_WEBHOOK_SECRET
}

// SMS providers.
const (
	SMSDevOutbox = "dev-outbox"
	SMSTwilio    = "twilio"
	SMSWebhook   = "webhook"
	SMSNone      = "none"
)

// SMSProvider is the SMS provider in effect: the configured one, or the dev outbox in development
// and none in production when none is configured.
func (c *Config) SMSProvider() string {
	if c.SMS.Provider != "" {
		return c.SMS.Provider
	}
	if c.Production() {
		return SMSNone
	}
	return SMSDevOutbox
}
