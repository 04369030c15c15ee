package config

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"time"
)

// key is one setting. The table of keys (keyTable) is the single description of the configuration:
// it drives the defaults, loading from every source, validation messages, Describe, Keys and the
// reference table in docs/configuration.md.
type key struct {
	env     string   // GATEHOUSE_HTTP_ADDR: the name used in messages
	aliases []string // other variables, weaker than env (DATABASE_URL)
	file    string   // http.addr: the key in a YAML or TOML file
	def     string   // default, parsed by set like any other value
	prodDef string   // default in production when different from def
	defDoc  string   // documented default when def alone would mislead
	doc     string   // what the setting does
	accepts string   // accepted values, for the documentation
	secret  bool     // never printed; also read from <env>_FILE
	list    bool     // comma-separated in variables, a list in files

	set    func(c *Config, v string) error // parse v and assign it
	get    func(c *Config) string          // the value in the form set accepts
	check  func(c *Config) error           // semantic validation, nil when anything parsed is fine
	redact func(v string) string           // masks a secret value for display (secret keys only)
}

// section is the heading a key is documented under: the first part of its file key.
func (k *key) section() string {
	if s, _, ok := strings.Cut(k.file, "."); ok {
		return s
	}
	return ""
}

// defaultText is the default as the documentation shows it.
func (k *key) defaultText() string {
	switch {
	case k.defDoc != "":
		return k.defDoc
	case k.prodDef != "":
		return fmt.Sprintf("%s (development), %s (production)", k.def, k.prodDef)
	}
	return k.def
}

// binding is the set/get pair for one field of Config.
type binding struct {
	set func(c *Config, v string) error
	get func(c *Config) string
}

func stringVar(f func(*Config) *string) binding {
	return binding{
		set: func(c *Config, v string) error { *f(c) = v; return nil },
		get: func(c *Config) string { return *f(c) },
	}
}

func lowerVar(f func(*Config) *string) binding {
	return binding{
		set: func(c *Config, v string) error { *f(c) = strings.ToLower(v); return nil },
		get: func(c *Config) string { return *f(c) },
	}
}

func boolVar(f func(*Config) *bool) binding {
	return binding{
		set: func(c *Config, v string) error {
			b, err := parseBool(v)
			if err != nil {
				return err
			}
			*f(c) = b
			return nil
		},
		get: func(c *Config) string { return fmt.Sprint(*f(c)) },
	}
}

func durationVar(f func(*Config) *time.Duration, example string) binding {
	return binding{
		set: func(c *Config, v string) error {
			d, err := parseDuration(v, example)
			if err != nil {
				return err
			}
			*f(c) = d
			return nil
		},
		get: func(c *Config) string { return formatDuration(*f(c)) },
	}
}

func intVar[T int | int32 | int64](f func(*Config) *T) binding {
	return binding{
		set: func(c *Config, v string) error {
			n, err := parseInt[T](v)
			if err != nil {
				return err
			}
			*f(c) = n
			return nil
		},
		get: func(c *Config) string { return fmt.Sprint(*f(c)) },
	}
}

func floatVar(f func(*Config) *float64) binding {
	return binding{
		set: func(c *Config, v string) error {
			x, err := parseFloat(v)
			if err != nil {
				return err
			}
			*f(c) = x
			return nil
		},
		get: func(c *Config) string { return fmt.Sprint(*f(c)) },
	}
}

func prefixesVar(f func(*Config) *[]netip.Prefix) binding {
	return binding{
		set: func(c *Config, v string) error {
			p, err := parsePrefixes(v)
			if err != nil {
				return err
			}
			*f(c) = p
			return nil
		},
		get: func(c *Config) string { return formatPrefixes(*f(c)) },
	}
}

func originsVar(f func(*Config) *[]string) binding {
	return binding{
		set: func(c *Config, v string) error {
			o, err := parseOrigins(v)
			if err != nil {
				return err
			}
			*f(c) = o
			return nil
		},
		get: func(c *Config) string { return strings.Join(*f(c), ",") },
	}
}

func upperVar(f func(*Config) *string) binding {
	return binding{
		set: func(c *Config, v string) error { *f(c) = strings.ToUpper(v); return nil },
		get: func(c *Config) string { return *f(c) },
	}
}

// countriesVar is a comma-separated list of country codes, upper-cased.
func countriesVar(f func(*Config) *[]string) binding {
	w := wordsVar(f)
	return binding{
		set: func(c *Config, v string) error { return w.set(c, strings.ToUpper(v)) },
		get: w.get,
	}
}

// wordsVar is a comma-separated list of plain words (role names, audiences).
func wordsVar(f func(*Config) *[]string) binding {
	return binding{
		set: func(c *Config, v string) error {
			var out []string
			for _, w := range strings.Split(v, ",") {
				if w = strings.TrimSpace(w); w != "" {
					out = append(out, w)
				}
			}
			*f(c) = out
			return nil
		},
		get: func(c *Config) string { return strings.Join(*f(c), ",") },
	}
}

// with attaches a binding to a key.
func (k key) with(b binding) key {
	k.set, k.get = b.set, b.get
	return k
}

// keyTable lists every setting, in the order of the documentation.
var keyTable = []key{
	// General.
	key{
		env: "GATEHOUSE_ENV", file: "env", def: EnvDevelopment,
		doc:     "Deployment environment. Production refuses development conveniences (dev outbox, `.env` files, `*` CORS origin, plain-HTTP public URL) and logs JSON.",
		accepts: "`development`, `production`",
		check:   func(c *Config) error { return checkOneOf(c.Env, EnvDevelopment, EnvProduction) },
	}.with(lowerVar(func(c *Config) *string { return &c.Env })),
	key{
		env: "GATEHOUSE_PUBLIC_URL", file: "public_url", def: "http://localhost:8080",
		doc:     "External base URL of this service as clients see it: links in emails, token issuer, redirect checks.",
		accepts: "absolute `http://` or `https://` URL without query or fragment; a trailing `/` is dropped; `https://` in production unless the host is localhost",
		check:   checkPublicURL,
	}.with(binding{
		set: func(c *Config, v string) error { c.PublicURL = trimTrailingSlash(v); return nil },
		get: func(c *Config) string { return c.PublicURL },
	}),
	key{
		env: "GATEHOUSE_DATA_DIR", file: "data_dir", def: "./data",
		doc:     "Directory of the embedded default's SQLite file and generated files. Relative paths are relative to the working directory.",
		accepts: "a directory path",
		check:   func(c *Config) error { return checkNotEmpty(c.DataDir) },
	}.with(stringVar(func(c *Config) *string { return &c.DataDir })),

	// HTTP.
	key{
		env: "GATEHOUSE_HTTP_ADDR", file: "http.addr", def: ":8080",
		doc:     "Listen address.",
		accepts: "`host:port` or `:port` (port 0 picks a free port)",
		check:   func(c *Config) error { return checkListenAddr(c.HTTP.Addr) },
	}.with(stringVar(func(c *Config) *string { return &c.HTTP.Addr })),
	key{
		env: "GATEHOUSE_HTTP_READ_HEADER_TIMEOUT", file: "http.read_header_timeout", def: "5s",
		doc:     "Time allowed to read a request's headers (guards against slow-loris clients).",
		accepts: "duration > 0",
		check:   func(c *Config) error { return checkDurationAbove(c.HTTP.ReadHeaderTimeout, 0) },
	}.with(durationVar(func(c *Config) *time.Duration { return &c.HTTP.ReadHeaderTimeout }, "5s")),
	key{
		env: "GATEHOUSE_HTTP_READ_TIMEOUT", file: "http.read_timeout", def: "15s",
		doc:     "Time allowed to read a whole request, body included.",
		accepts: "duration > 0",
		check:   func(c *Config) error { return checkDurationAbove(c.HTTP.ReadTimeout, 0) },
	}.with(durationVar(func(c *Config) *time.Duration { return &c.HTTP.ReadTimeout }, "15s")),
	key{
		env: "GATEHOUSE_HTTP_WRITE_TIMEOUT", file: "http.write_timeout", def: "30s",
		doc:     "Time allowed from the end of the request headers to the end of the response.",
		accepts: "duration > 0",
		check:   func(c *Config) error { return checkDurationAbove(c.HTTP.WriteTimeout, 0) },
	}.with(durationVar(func(c *Config) *time.Duration { return &c.HTTP.WriteTimeout }, "30s")),
	key{
		env: "GATEHOUSE_HTTP_IDLE_TIMEOUT", file: "http.idle_timeout", def: "2m",
		doc:     "How long an idle keep-alive connection stays open.",
		accepts: "duration > 0",
		check:   func(c *Config) error { return checkDurationAbove(c.HTTP.IdleTimeout, 0) },
	}.with(durationVar(func(c *Config) *time.Duration { return &c.HTTP.IdleTimeout }, "2m")),
	key{
		env: "GATEHOUSE_HTTP_MAX_BODY_BYTES", file: "http.max_body_bytes", def: "65536",
		doc:     "Largest request body accepted; larger bodies get 413.",
		accepts: "whole number of bytes, 1024 to 104857600",
		check:   func(c *Config) error { return checkRange(c.HTTP.MaxBodyBytes, 1024, 100<<20) },
	}.with(intVar(func(c *Config) *int64 { return &c.HTTP.MaxBodyBytes })),
	key{
		env: "GATEHOUSE_HTTP_SHUTDOWN_DELAY", file: "http.shutdown_delay", def: "0s", prodDef: "5s",
		doc:     "On SIGTERM/SIGINT, how long readiness answers 503 before the listener closes, so load balancers stop sending new requests first.",
		accepts: "duration from 0s to 10m",
		check: func(c *Config) error {
			return checkDurationBetween(c.HTTP.ShutdownDelay, 0, 10*time.Minute)
		},
	}.with(durationVar(func(c *Config) *time.Duration { return &c.HTTP.ShutdownDelay }, "5s")),
	key{
		env: "GATEHOUSE_HTTP_SHUTDOWN_TIMEOUT", file: "http.shutdown_timeout", def: "20s",
		doc:     "After the listener closes, how long in-flight requests may take to finish.",
		accepts: "duration > 0",
		check:   func(c *Config) error { return checkDurationAbove(c.HTTP.ShutdownTimeout, 0) },
	}.with(durationVar(func(c *Config) *time.Duration { return &c.HTTP.ShutdownTimeout }, "20s")),
	key{
		env: "GATEHOUSE_HTTP_TRUSTED_PROXIES", file: "http.trusted_proxies", def: "", list: true,
		doc:     "Peers whose `X-Forwarded-For`, `X-Forwarded-Proto` and `Forwarded` headers are believed (load balancers, reverse proxies). Requests from other peers use the connection's address.",
		accepts: "comma-separated CIDRs or IPs (`10.0.0.0/8,192.168.1.10,fd00::/8`); a plain IP means /32 or /128",
		check:   func(c *Config) error { return checkPrefixes(c.HTTP.TrustedProxies) },
	}.with(prefixesVar(func(c *Config) *[]netip.Prefix { return &c.HTTP.TrustedProxies })),
	key{
		env: "GATEHOUSE_HTTP_CORS_ORIGINS", file: "http.cors_origins", def: "", list: true,
		doc:     "Browser origins allowed to call the API cross-origin. Empty allows none.",
		accepts: "comma-separated origins `scheme://host[:port]` without path (`https://app.example.com`, `https://*.example.com`); `*` (any origin) only in development",
		check:   checkCORSOrigins,
	}.with(originsVar(func(c *Config) *[]string { return &c.HTTP.CORSOrigins })),
	key{
		env: "GATEHOUSE_HTTP_TLS_CERT_FILE", file: "http.tls_cert_file", def: "",
		doc:     "PEM certificate chain; with the key file, gatehouse serves HTTPS itself instead of behind a TLS-terminating proxy.",
		accepts: "file path; set together with `GATEHOUSE_HTTP_TLS_KEY_FILE`",
		check: func(c *Config) error {
			return checkBothOrNeither(c.HTTP.TLSCertFile, c.HTTP.TLSKeyFile, "GATEHOUSE_HTTP_TLS_KEY_FILE")
		},
	}.with(stringVar(func(c *Config) *string { return &c.HTTP.TLSCertFile })),
	key{
		env: "GATEHOUSE_HTTP_TLS_KEY_FILE", file: "http.tls_key_file", def: "",
		doc:     "PEM private key of the TLS certificate.",
		accepts: "file path; set together with `GATEHOUSE_HTTP_TLS_CERT_FILE`",
		check: func(c *Config) error {
			return checkBothOrNeither(c.HTTP.TLSKeyFile, c.HTTP.TLSCertFile, "GATEHOUSE_HTTP_TLS_CERT_FILE")
		},
	}.with(stringVar(func(c *Config) *string { return &c.HTTP.TLSKeyFile })),

	// Database.
	key{
		env: "GATEHOUSE_DATABASE_URL", aliases: []string{"DATABASE_URL"}, file: "database.url", def: "",
		defDoc:  "empty: SQLite at `GATEHOUSE_DATA_DIR/gatehouse.db`",
		doc:     "Records store (accounts, sessions, audit, jobs). PostgreSQL for production; SQLite for one node.",
		accepts: "`postgres://user:pass@host:5432/db?sslmode=…` or `postgresql://…`; `sqlite://path` (`sqlite:///abs/path.db` for an absolute path); empty",
		secret:  true, redact: func(v string) string { return redactURL(v, false) },
		check: func(c *Config) error { return checkDatabaseURL(c.Database.URL) },
	}.with(stringVar(func(c *Config) *string { return &c.Database.URL })),
	key{
		env: "GATEHOUSE_DATABASE_MAX_CONNS", file: "database.max_conns", def: "10",
		doc:     "PostgreSQL pool size per node. Keep nodes × max_conns below the server's `max_connections`.",
		accepts: "whole number, 1 to 1000",
		check:   func(c *Config) error { return checkRange(c.Database.MaxConns, 1, 1000) },
	}.with(intVar(func(c *Config) *int32 { return &c.Database.MaxConns })),
	key{
		env: "GATEHOUSE_DATABASE_MIN_CONNS", file: "database.min_conns", def: "0",
		doc:     "PostgreSQL connections kept open even when idle.",
		accepts: "whole number, 0 to `GATEHOUSE_DATABASE_MAX_CONNS`",
		check: func(c *Config) error {
			if err := checkRange(c.Database.MinConns, 0, 1000); err != nil {
				return err
			}
			if c.Database.MinConns > c.Database.MaxConns {
				return fmt.Errorf("%d is more than GATEHOUSE_DATABASE_MAX_CONNS (%d)", c.Database.MinConns, c.Database.MaxConns)
			}
			return nil
		},
	}.with(intVar(func(c *Config) *int32 { return &c.Database.MinConns })),
	key{
		env: "GATEHOUSE_DATABASE_MAX_CONN_IDLE_TIME", file: "database.max_conn_idle_time", def: "5m",
		doc:     "PostgreSQL connections idle longer than this are closed.",
		accepts: "duration > 0",
		check:   func(c *Config) error { return checkDurationAbove(c.Database.MaxConnIdleTime, 0) },
	}.with(durationVar(func(c *Config) *time.Duration { return &c.Database.MaxConnIdleTime }, "5m")),
	key{
		env: "GATEHOUSE_DATABASE_MAX_CONN_LIFETIME", file: "database.max_conn_lifetime", def: "1h",
		doc:     "PostgreSQL connections older than this are replaced (spreads load after a failover).",
		accepts: "duration > 0",
		check:   func(c *Config) error { return checkDurationAbove(c.Database.MaxConnLifetime, 0) },
	}.with(durationVar(func(c *Config) *time.Duration { return &c.Database.MaxConnLifetime }, "1h")),
	key{
		env: "GATEHOUSE_DATABASE_CONNECT_TIMEOUT", file: "database.connect_timeout", def: "5s",
		doc:     "Time allowed to open one PostgreSQL connection.",
		accepts: "duration > 0",
		check:   func(c *Config) error { return checkDurationAbove(c.Database.ConnectTimeout, 0) },
	}.with(durationVar(func(c *Config) *time.Duration { return &c.Database.ConnectTimeout }, "5s")),
	key{
		env: "GATEHOUSE_DATABASE_STATEMENT_TIMEOUT", file: "database.statement_timeout", def: "10s",
		doc:     "PostgreSQL `statement_timeout` of every connection; a runaway query is cancelled after it.",
		accepts: "duration; `0s` disables",
		check:   func(c *Config) error { return checkDurationAtLeast(c.Database.StatementTimeout, 0) },
	}.with(durationVar(func(c *Config) *time.Duration { return &c.Database.StatementTimeout }, "10s")),
	key{
		env: "GATEHOUSE_DATABASE_BUSY_TIMEOUT", file: "database.busy_timeout", def: "5s",
		doc:     "SQLite: how long a writer waits for the database lock before failing.",
		accepts: "duration ≥ 0",
		check:   func(c *Config) error { return checkDurationAtLeast(c.Database.BusyTimeout, 0) },
	}.with(durationVar(func(c *Config) *time.Duration { return &c.Database.BusyTimeout }, "5s")),
	key{
		env: "GATEHOUSE_DATABASE_AUTO_MIGRATE", file: "database.auto_migrate", def: "true",
		doc:     "Apply pending migrations when `serve` starts. Set to false to migrate as a separate step (`gatehouse migrate`).",
		accepts: "boolean",
	}.with(boolVar(func(c *Config) *bool { return &c.Database.AutoMigrate })),

	// Redis.
	key{
		env: "GATEHOUSE_REDIS_URL", aliases: []string{"REDIS_URL"}, file: "redis.url", def: "",
		defDoc:  "empty: in-memory store (one node only)",
		doc:     "Ephemeral store (one-time codes, rate counters, revocations) shared by all nodes.",
		accepts: "`redis://[user:pass@]host:port/db`, `rediss://…` (TLS), `redis-sentinel://…`, `redis-cluster://…`; empty",
		secret:  true, redact: func(v string) string { return redactURL(v, false) },
		check: func(c *Config) error { return checkRedisURL(c.Redis.URL) },
	}.with(stringVar(func(c *Config) *string { return &c.Redis.URL })),
	key{
		env: "GATEHOUSE_REDIS_KEY_PREFIX", file: "redis.key_prefix", def: "gatehouse:",
		doc:     "Prefix of every Redis key, so that several deployments can share one Redis.",
		accepts: "text without spaces",
		check:   func(c *Config) error { return checkNoSpace(c.Redis.KeyPrefix) },
	}.with(stringVar(func(c *Config) *string { return &c.Redis.KeyPrefix })),

	// SMTP.
	key{
		env: "GATEHOUSE_SMTP_URL", file: "smtp.url", def: "",
		defDoc:  "empty: the dev outbox (development only)",
		doc:     "Outgoing mail server. Required in production; in development an empty value writes mail to the dev outbox.",
		accepts: "`smtp://user:pass@host:port` (STARTTLS, port 587 by default) or `smtps://…` (TLS, port 465 by default)",
		secret:  true, redact: func(v string) string { return redactURL(v, false) },
		check: checkSMTPURL,
	}.with(stringVar(func(c *Config) *string { return &c.SMTP.URL })),
	key{
		env: "GATEHOUSE_SMTP_FROM", file: "smtp.from", def: "gatehouse <no-reply@localhost>",
		doc:     "Sender of outgoing mail.",
		accepts: "an address, with or without a display name (`Example <no-reply@example.com>`)",
		check:   func(c *Config) error { return checkMailAddress(c.SMTP.From) },
	}.with(stringVar(func(c *Config) *string { return &c.SMTP.From })),
	key{
		env: "GATEHOUSE_SMTP_RATE_PER_SECOND", file: "smtp.rate_per_second", def: "10",
		doc:     "Most messages sent per second by all nodes together, so a burst of sign-ups cannot get the sending account throttled (0: no cap).",
		accepts: "whole number, 0 to 10000",
		check:   func(c *Config) error { return checkRange(c.SMTP.RatePerSecond, 0, 10000) },
	}.with(intVar(func(c *Config) *int { return &c.SMTP.RatePerSecond })),

	// Log.
	key{
		env: "GATEHOUSE_LOG_LEVEL", file: "log.level", def: "info",
		doc:     "Lowest level logged.",
		accepts: "`debug`, `info`, `warn`, `error`",
		check:   func(c *Config) error { return checkOneOf(c.Log.Level, "debug", "info", "warn", "error") },
	}.with(lowerVar(func(c *Config) *string { return &c.Log.Level })),
	key{
		env: "GATEHOUSE_LOG_FORMAT", file: "log.format", def: "",
		defDoc:  "empty: `json` in production, `text` in development",
		doc:     "Log line format.",
		accepts: "`json`, `text`, empty",
		check: func(c *Config) error {
			if c.Log.Format == "" {
				return nil
			}
			return checkOneOf(c.Log.Format, "json", "text")
		},
	}.with(lowerVar(func(c *Config) *string { return &c.Log.Format })),
	key{
		env: "GATEHOUSE_LOG_FILE", file: "log.file", def: "",
		defDoc:  "empty: standard output",
		doc:     "Write logs to this file instead of standard output, rotated by size and age (the `GATEHOUSE_LOG_FILE_*` settings). Its directory is created if missing.",
		accepts: "file path",
	}.with(stringVar(func(c *Config) *string { return &c.Log.File })),
	key{
		env: "GATEHOUSE_LOG_FILE_MAX_SIZE_MB", file: "log.file_max_size_mb", def: "100",
		doc:     "Size in megabytes at which the log file is rotated.",
		accepts: "whole number, 1 to 100000",
		check:   func(c *Config) error { return checkRange(c.Log.MaxSizeMB, 1, 100000) },
	}.with(intVar(func(c *Config) *int { return &c.Log.MaxSizeMB })),
	key{
		env: "GATEHOUSE_LOG_FILE_MAX_AGE_DAYS", file: "log.file_max_age_days", def: "28",
		doc:     "Rotated log files older than this many days are deleted.",
		accepts: "whole number, 0 to 36500; 0 keeps them regardless of age",
		check:   func(c *Config) error { return checkRange(c.Log.MaxAgeDays, 0, 36500) },
	}.with(intVar(func(c *Config) *int { return &c.Log.MaxAgeDays })),
	key{
		env: "GATEHOUSE_LOG_FILE_MAX_BACKUPS", file: "log.file_max_backups", def: "10",
		doc:     "Number of rotated log files kept.",
		accepts: "whole number, 0 to 10000; 0 keeps all (subject to the age limit)",
		check:   func(c *Config) error { return checkRange(c.Log.MaxBackups, 0, 10000) },
	}.with(intVar(func(c *Config) *int { return &c.Log.MaxBackups })),
	key{
		env: "GATEHOUSE_LOG_FILE_COMPRESS", file: "log.file_compress", def: "true",
		doc:     "Gzip rotated log files.",
		accepts: "boolean",
	}.with(boolVar(func(c *Config) *bool { return &c.Log.Compress })),

	// Sentry.
	key{
		env: "GATEHOUSE_SENTRY_DSN", aliases: []string{"SENTRY_DSN"}, file: "sentry.dsn", def: "",
		defDoc:  "empty: no error reporting",
		doc:     "Send panics and 5xx errors to Sentry (or a Sentry-compatible service).",
		accepts: "a DSN `https://key@host/project`",
		secret:  true, redact: func(v string) string { return redactURL(v, true) },
		check: func(c *Config) error { return checkSentryDSN(c.Sentry.DSN) },
	}.with(stringVar(func(c *Config) *string { return &c.Sentry.DSN })),
	key{
		env: "GATEHOUSE_SENTRY_ENVIRONMENT", file: "sentry.environment", def: "",
		defDoc:  "empty: the value of `GATEHOUSE_ENV`",
		doc:     "Environment name attached to Sentry events (`staging`, `eu-prod`, …).",
		accepts: "text",
	}.with(stringVar(func(c *Config) *string { return &c.Sentry.Environment })),
	key{
		env: "GATEHOUSE_SENTRY_TRACES_SAMPLE_RATE", file: "sentry.traces_sample_rate", def: "0",
		doc:     "Share of requests sent to Sentry as performance traces.",
		accepts: "number from 0 to 1",
		check:   func(c *Config) error { return checkFloatBetween(c.Sentry.TracesSampleRate, 0, 1) },
	}.with(floatVar(func(c *Config) *float64 { return &c.Sentry.TracesSampleRate })),

	// Jobs.
	key{
		env: "GATEHOUSE_JOBS_WORKERS", file: "jobs.workers", def: "20",
		doc:     "Jobs (email, SMS, webhooks) run concurrently by each node.",
		accepts: "whole number, 1 to 1000",
		check:   func(c *Config) error { return checkRange(c.Jobs.Workers, 1, 1000) },
	}.with(intVar(func(c *Config) *int { return &c.Jobs.Workers })),
	key{
		env: "GATEHOUSE_JOBS_MAX_ATTEMPTS", file: "jobs.max_attempts", def: "8",
		doc:     "Attempts (with exponential backoff and jitter) before a job is kept as failed.",
		accepts: "whole number, 1 to 100",
		check:   func(c *Config) error { return checkRange(c.Jobs.MaxAttempts, 1, 100) },
	}.with(intVar(func(c *Config) *int { return &c.Jobs.MaxAttempts })),
	key{
		env: "GATEHOUSE_JOBS_POLL_INTERVAL", file: "jobs.poll_interval", def: "1s",
		doc:     "How often idle workers look for new jobs when no notification arrives.",
		accepts: "duration from 100ms to 1h",
		check: func(c *Config) error {
			return checkDurationBetween(c.Jobs.PollInterval, 100*time.Millisecond, time.Hour)
		},
	}.with(durationVar(func(c *Config) *time.Duration { return &c.Jobs.PollInterval }, "1s")),
	key{
		env: "GATEHOUSE_JOBS_FETCH_COOLDOWN", file: "jobs.fetch_cooldown", def: "25ms",
		doc: "Least time between two fetches of jobs by one node while jobs keep arriving. A node runs " +
			"at most `GATEHOUSE_JOBS_WORKERS` jobs per fetch, so this and the workers bound its job rate " +
			"(20 workers every 25ms: 800 jobs/s); shorter costs more database queries under load.",
		accepts: "duration from 1ms to 1s",
		check: func(c *Config) error {
			return checkDurationBetween(c.Jobs.FetchCooldown, time.Millisecond, time.Second)
		},
	}.with(durationVar(func(c *Config) *time.Duration { return &c.Jobs.FetchCooldown }, "25ms")),

	// Purge.
	key{
		env: "GATEHOUSE_PURGE_INTERVAL", file: "purge.interval", def: "1h",
		doc: "How often the purge job deletes records no longer of use (ended sessions and their refresh " +
			"tokens, expired or used email verifications). One node of the cluster enqueues it.",
		accepts: "duration from 1m to 24h",
		check: func(c *Config) error {
			return checkDurationBetween(c.Purge.Interval, time.Minute, 24*time.Hour)
		},
	}.with(durationVar(func(c *Config) *time.Duration { return &c.Purge.Interval }, "1h")),
	key{
		env: "GATEHOUSE_PURGE_RETENTION", file: "purge.retention", def: "168h",
		doc: "How long a record stays after it ended (a session expired or was revoked, a verification " +
			"expired or was used) before the purge job deletes it, so that operators can still look at it.",
		accepts: "duration from 1h to 8760h",
		check: func(c *Config) error {
			return checkDurationBetween(c.Purge.Retention, time.Hour, 8760*time.Hour)
		},
	}.with(durationVar(func(c *Config) *time.Duration { return &c.Purge.Retention }, "168h")),

	// Metrics.
	key{
		env: "GATEHOUSE_METRICS_ENABLED", file: "metrics.enabled", def: "true",
		doc:     "Serve Prometheus metrics at `/metrics`.",
		accepts: "boolean",
	}.with(boolVar(func(c *Config) *bool { return &c.Metrics.Enabled })),
	key{
		env: "GATEHOUSE_METRICS_TOKEN", file: "metrics.token", def: "",
		defDoc:  "empty: `/metrics` is open (keep it off the public network)",
		doc:     "When set, `/metrics` requires `Authorization: Bearer <token>`.",
		accepts: "text without spaces",
		secret:  true, redact: redactToken,
		check: func(c *Config) error { return checkNoSpace(c.Metrics.Token) },
	}.with(stringVar(func(c *Config) *string { return &c.Metrics.Token })),
	// Secrets and tokens.
	key{
		env: "GATEHOUSE_SECRET_KEY", file: "secret.key", def: "",
		defDoc:  "empty: in development, generated once into `GATEHOUSE_DATA_DIR/secret.key`; required in production",
		doc:     "Master secret. The key that encrypts signing keys at rest and the key of one-time-code hashes are derived from it (HKDF). Changing it makes stored signing keys unreadable: rotate them first.",
		accepts: "base64 (standard or URL-safe) of at least 32 random bytes, e.g. `openssl rand -base64 32`",
		secret:  true, redact: redactToken,
		check: checkSecretKey,
	}.with(stringVar(func(c *Config) *string { return &c.SecretKey })),
	key{
		env: "GATEHOUSE_TOKEN_ALGORITHM", file: "token.algorithm", def: "EdDSA",
		doc:     "Signature algorithm of access tokens.",
		accepts: "`EdDSA` (Ed25519) or `ES256` (P-256)",
		check:   func(c *Config) error { return checkOneOf(c.Token.Algorithm, "EdDSA", "ES256") },
	}.with(stringVar(func(c *Config) *string { return &c.Token.Algorithm })),
	key{
		env: "GATEHOUSE_TOKEN_ACCESS_TTL", file: "token.access_ttl", def: "15m",
		doc:     "Lifetime of access tokens.",
		accepts: "duration from 1m to 24h",
		check:   func(c *Config) error { return checkDurationBetween(c.Token.AccessTTL, time.Minute, 24*time.Hour) },
	}.with(durationVar(func(c *Config) *time.Duration { return &c.Token.AccessTTL }, "15m")),
	key{
		env: "GATEHOUSE_TOKEN_AUDIENCE", file: "token.audience", def: "", list: true,
		defDoc:  "empty: the public URL",
		doc:     "The `aud` claim of access tokens: the services that accept them.",
		accepts: "comma-separated names or URLs",
	}.with(wordsVar(func(c *Config) *[]string { return &c.Token.Audience })),
	key{
		env: "GATEHOUSE_TOKEN_KEY_OVERLAP", file: "token.key_overlap", def: "24h",
		doc:     "How long a retired signing key stays in the JWKS and keeps verifying after rotation. Must exceed the access-token lifetime.",
		accepts: "duration, longer than the access-token lifetime",
		check: func(c *Config) error {
			if c.Token.KeyOverlap <= c.Token.AccessTTL {
				return fmt.Errorf("%s is not longer than GATEHOUSE_TOKEN_ACCESS_TTL (%s)", formatDuration(c.Token.KeyOverlap), formatDuration(c.Token.AccessTTL))
			}
			return nil
		},
	}.with(durationVar(func(c *Config) *time.Duration { return &c.Token.KeyOverlap }, "24h")),
	key{
		env: "GATEHOUSE_TOKEN_ACTIVATION_DELAY", file: "token.activation_delay", def: "5m",
		doc:     "How long a rotated-in key is published in the JWKS before it starts signing, so verifiers learn it first.",
		accepts: "duration from 0s to 24h",
		check: func(c *Config) error {
			return checkDurationBetween(c.Token.ActivationDelay, 0, 24*time.Hour)
		},
	}.with(durationVar(func(c *Config) *time.Duration { return &c.Token.ActivationDelay }, "5m")),

	// Sessions.
	key{
		env: "GATEHOUSE_SESSION_ABSOLUTE_LIFETIME", file: "session.absolute_lifetime", def: "720h",
		doc:     "Longest a session lasts from sign-in, however active.",
		accepts: "duration from 1h to 8760h",
		check: func(c *Config) error {
			return checkDurationBetween(c.Session.AbsoluteLifetime, time.Hour, 8760*time.Hour)
		},
	}.with(durationVar(func(c *Config) *time.Duration { return &c.Session.AbsoluteLifetime }, "720h")),
	key{
		env: "GATEHOUSE_SESSION_IDLE_TIMEOUT", file: "session.idle_timeout", def: "168h",
		doc:     "A session not refreshed for this long ends.",
		accepts: "duration from 5m up to the absolute lifetime",
		check: func(c *Config) error {
			return checkDurationBetween(c.Session.IdleTimeout, 5*time.Minute, c.Session.AbsoluteLifetime)
		},
	}.with(durationVar(func(c *Config) *time.Duration { return &c.Session.IdleTimeout }, "168h")),
	key{
		env: "GATEHOUSE_SESSION_REFRESH_GRACE", file: "session.refresh_grace", def: "10s",
		doc:     "Window in which presenting an already-rotated refresh token again returns the same successor (an honest retry) instead of revoking the session as stolen.",
		accepts: "duration from 0s to 1m",
		check: func(c *Config) error {
			return checkDurationBetween(c.Session.RefreshGrace, 0, time.Minute)
		},
	}.with(durationVar(func(c *Config) *time.Duration { return &c.Session.RefreshGrace }, "10s")),

	// Passwords.
	key{
		env: "GATEHOUSE_PASSWORD_MEMORY_KIB", file: "password.memory_kib", def: "19456",
		doc:     "Argon2id memory per hash in KiB (OWASP minimum 19456 = 19 MiB).",
		accepts: "whole number, 19456 to 1048576",
		check:   func(c *Config) error { return checkRange(c.Password.MemoryKiB, 19456, 1<<20) },
	}.with(intVar(func(c *Config) *int { return &c.Password.MemoryKiB })),
	key{
		env: "GATEHOUSE_PASSWORD_ITERATIONS", file: "password.iterations", def: "2",
		doc:     "Argon2id passes (t).",
		accepts: "whole number, 2 to 20",
		check:   func(c *Config) error { return checkRange(c.Password.Iterations, 2, 20) },
	}.with(intVar(func(c *Config) *int { return &c.Password.Iterations })),
	key{
		env: "GATEHOUSE_PASSWORD_PARALLELISM", file: "password.parallelism", def: "1",
		doc:     "Argon2id lanes (p).",
		accepts: "whole number, 1 to 16",
		check:   func(c *Config) error { return checkRange(c.Password.Parallelism, 1, 16) },
	}.with(intVar(func(c *Config) *int { return &c.Password.Parallelism })),
	key{
		env: "GATEHOUSE_PASSWORD_MAX_CONCURRENT", file: "password.max_concurrent", def: "0",
		defDoc:  "0: one per core",
		doc:     "Most password hashes computed at once; further sign-ins wait, so a flood cannot exhaust memory.",
		accepts: "whole number, 0 to 256",
		check:   func(c *Config) error { return checkRange(c.Password.MaxConcurrent, 0, 256) },
	}.with(intVar(func(c *Config) *int { return &c.Password.MaxConcurrent })),
	key{
		env: "GATEHOUSE_PASSWORD_MIN_LENGTH", file: "password.min_length", def: "8",
		doc:     "Shortest password accepted, in characters.",
		accepts: "whole number, 8 to 128",
		check:   func(c *Config) error { return checkRange(c.Password.MinLength, 8, 128) },
	}.with(intVar(func(c *Config) *int { return &c.Password.MinLength })),
	key{
		env: "GATEHOUSE_PASSWORD_MAX_LENGTH", file: "password.max_length", def: "128",
		doc:     "Longest password accepted, in characters. Nothing is truncated.",
		accepts: "whole number, from the minimum length to 128",
		check:   func(c *Config) error { return checkRange(c.Password.MaxLength, c.Password.MinLength, 128) },
	}.with(intVar(func(c *Config) *int { return &c.Password.MaxLength })),
	key{
		env: "GATEHOUSE_PASSWORD_REJECT_COMMON", file: "password.reject_common", def: "true",
		doc:     "Refuse passwords found in the bundled list of common and breached passwords.",
		accepts: "true or false",
	}.with(boolVar(func(c *Config) *bool { return &c.Password.RejectCommon })),
	key{
		env: "GATEHOUSE_PASSWORD_MIN_SCORE", file: "password.min_score", def: "0",
		doc:     "Lowest zxcvbn strength score accepted (0 turns the check off).",
		accepts: "whole number, 0 to 4",
		check:   func(c *Config) error { return checkRange(c.Password.MinScore, 0, 4) },
	}.with(intVar(func(c *Config) *int { return &c.Password.MinScore })),
	key{
		env: "GATEHOUSE_PASSWORD_REQUIRE_UPPER", file: "password.require_upper", def: "false",
		doc: "Composition rule (off by default, as NIST advises): require an upper-case letter.", accepts: "true or false",
	}.with(boolVar(func(c *Config) *bool { return &c.Password.RequireUpper })),
	key{
		env: "GATEHOUSE_PASSWORD_REQUIRE_LOWER", file: "password.require_lower", def: "false",
		doc: "Composition rule: require a lower-case letter.", accepts: "true or false",
	}.with(boolVar(func(c *Config) *bool { return &c.Password.RequireLower })),
	key{
		env: "GATEHOUSE_PASSWORD_REQUIRE_DIGIT", file: "password.require_digit", def: "false",
		doc: "Composition rule: require a digit.", accepts: "true or false",
	}.with(boolVar(func(c *Config) *bool { return &c.Password.RequireDigit })),
	key{
		env: "GATEHOUSE_PASSWORD_REQUIRE_SYMBOL", file: "password.require_symbol", def: "false",
		doc: "Composition rule: require a character that is neither a letter nor a digit.", accepts: "true or false",
	}.with(boolVar(func(c *Config) *bool { return &c.Password.RequireSymbol })),

	// Accounts.
	key{
		env: "GATEHOUSE_ACCOUNT_DEFAULT_ROLES", file: "account.default_roles", def: "user", list: true,
		doc:     "Roles given to every new account.",
		accepts: "comma-separated role names",
	}.with(wordsVar(func(c *Config) *[]string { return &c.Account.DefaultRoles })),
	key{
		env: "GATEHOUSE_ACCOUNT_ALLOW_UNVERIFIED_LOGIN", file: "account.allow_unverified_login", def: "false",
		doc:     "Let accounts sign in with a password before their email is verified. When false, such a sign-in gets the `email_not_verified` problem so the app can offer a new link.",
		accepts: "true or false",
	}.with(boolVar(func(c *Config) *bool { return &c.Account.AllowUnverifiedLogin })),
	key{
		env: "GATEHOUSE_ACCOUNT_VERIFY_RESEND_COOLDOWN", file: "account.verify_resend_cooldown", def: "60s",
		doc:     "Least time between two verification emails to one address.",
		accepts: "duration from 0s to 1h",
		check: func(c *Config) error {
			return checkDurationBetween(c.Account.VerifyResendCooldown, 0, time.Hour)
		},
	}.with(durationVar(func(c *Config) *time.Duration { return &c.Account.VerifyResendCooldown }, "60s")),
	key{
		env: "GATEHOUSE_ACCOUNT_LINK_URL", file: "account.link_url", def: "",
		doc: "Base URL of the web pages that links in emails open (`/verify-email?token=…`, `/login`, " +
			"`/forgot-password`): your front end, when it is not served at `GATEHOUSE_PUBLIC_URL`. Empty: " +
			"`GATEHOUSE_PUBLIC_URL`.",
		accepts: "empty, or an absolute `http://` or `https://` URL without query or fragment; a trailing `/` is dropped; `https://` in production unless the host is localhost",
		check: func(c *Config) error {
			if c.Account.LinkURL == "" {
				return nil
			}
			return checkBaseURL(c, c.Account.LinkURL, "https://app.example.com")
		},
	}.with(binding{
		set: func(c *Config, v string) error { c.Account.LinkURL = trimTrailingSlash(v); return nil },
		get: func(c *Config) string { return c.Account.LinkURL },
	}),
	key{
		env: "GATEHOUSE_COOKIES_ENABLED", file: "cookies.enabled", def: "true",
		doc:     "Offer the cookie mode to browser clients (tokens in `__Host-` HttpOnly cookies, CSRF-protected).",
		accepts: "true or false",
	}.with(boolVar(func(c *Config) *bool { return &c.Cookies.Enabled })),
	// One-time codes.
	key{
		env: "GATEHOUSE_OTP_DEFAULT_REGION", file: "otp.default_region", def: "",
		defDoc:  "empty: numbers must start with + and their country code",
		doc:     "Country assumed for phone numbers written without a country code (`5000 0000` in Kuwait with `KW`).",
		accepts: "ISO 3166-1 alpha-2 code (`KW`, `US`) or empty",
		check:   func(c *Config) error { return checkCountry(c.OTP.DefaultRegion) },
	}.with(upperVar(func(c *Config) *string { return &c.OTP.DefaultRegion })),
	key{
		env: "GATEHOUSE_OTP_TTL", file: "otp.ttl", def: "5m",
		doc: "Lifetime of a one-time code.", accepts: "duration from 1m to 30m",
		check: func(c *Config) error { return checkDurationBetween(c.OTP.TTL, time.Minute, 30*time.Minute) },
	}.with(durationVar(func(c *Config) *time.Duration { return &c.OTP.TTL }, "5m")),
	key{
		env: "GATEHOUSE_OTP_MAX_ATTEMPTS", file: "otp.max_attempts", def: "5",
		doc: "Wrong entries of a code before it is burned (the right code then fails too).", accepts: "whole number, 1 to 10",
		check: func(c *Config) error { return checkRange(c.OTP.MaxAttempts, 1, 10) },
	}.with(intVar(func(c *Config) *int { return &c.OTP.MaxAttempts })),
	key{
		env: "GATEHOUSE_OTP_RESEND_COOLDOWN", file: "otp.resend_cooldown", def: "60s",
		doc: "Least time before a new code may be sent to the same destination; it doubles with each resend, up to an hour.", accepts: "duration from 10s to 1h",
		check: func(c *Config) error { return checkDurationBetween(c.OTP.ResendCooldown, 10*time.Second, time.Hour) },
	}.with(durationVar(func(c *Config) *time.Duration { return &c.OTP.ResendCooldown }, "60s")),
	key{
		env: "GATEHOUSE_OTP_PER_DESTINATION_PER_HOUR", file: "otp.per_destination_per_hour", def: "3",
		doc: "Codes sent to one phone number (or address) per hour, all purposes together.", accepts: "whole number, 1 to 100",
		check: func(c *Config) error { return checkRange(c.OTP.PerPhonePerHour, 1, 100) },
	}.with(intVar(func(c *Config) *int { return &c.OTP.PerPhonePerHour })),
	key{
		env: "GATEHOUSE_OTP_PER_IP_PER_HOUR", file: "otp.per_ip_per_hour", def: "10",
		doc: "Codes requested from one client IP (IPv6: one /64) per hour.", accepts: "whole number, 1 to 100000",
		check: func(c *Config) error { return checkRange(c.OTP.PerIPPerHour, 1, 100000) },
	}.with(intVar(func(c *Config) *int { return &c.OTP.PerIPPerHour })),

	// SMS.
	key{
		env: "GATEHOUSE_SMS_PROVIDER", file: "sms.provider", def: "",
		defDoc:  "empty: `dev-outbox` in development, `none` in production",
		doc:     "Where text messages go. `dev-outbox` keeps them in memory (development only); `none` turns SMS off (phone codes then answer 503).",
		accepts: "`dev-outbox`, `twilio`, `webhook`, `none`",
		check: func(c *Config) error {
			if c.SMS.Provider == "" {
				return nil
			}
			if err := checkOneOf(c.SMS.Provider, SMSDevOutbox, SMSTwilio, SMSWebhook, SMSNone); err != nil {
				return err
			}
			if c.Production() && c.SMS.Provider == SMSDevOutbox {
				return errors.New("the dev outbox is for development only")
			}
			return nil
		},
	}.with(lowerVar(func(c *Config) *string { return &c.SMS.Provider })),
	key{
		env: "GATEHOUSE_SMS_APP_NAME", file: "sms.app_name", def: "Gatehouse",
		doc: "The product name that starts every text message (keep it short: one SMS segment).", accepts: "text, at most 20 characters",
		check: func(c *Config) error {
			if n := len([]rune(c.SMS.AppName)); n == 0 || n > 20 {
				return fmt.Errorf("has %d characters; 1 to 20 are accepted", n)
			}
			return nil
		},
	}.with(stringVar(func(c *Config) *string { return &c.SMS.AppName })),
	key{
		env: "GATEHOUSE_SMS_DAILY_BUDGET", file: "sms.daily_budget", def: "10000",
		doc: "Most text messages sent per UTC day by all nodes together; when spent, sending stops (a circuit breaker: error log and the `gatehouse_sms_budget_trips_total` metric) until the next day. 0: unlimited.", accepts: "whole number, 0 to 100000000",
		check: func(c *Config) error { return checkRange(c.SMS.DailyBudget, 0, 100_000_000) },
	}.with(intVar(func(c *Config) *int { return &c.SMS.DailyBudget })),
	key{
		env: "GATEHOUSE_SMS_ALLOW_COUNTRIES", file: "sms.allow_countries", def: "", list: true,
		doc: "When set, codes are sent only to numbers of these countries (protection against SMS pumping).", accepts: "comma-separated ISO 3166-1 alpha-2 codes",
		check: func(c *Config) error { return checkCountries(c.SMS.AllowCountries) },
	}.with(countriesVar(func(c *Config) *[]string { return &c.SMS.AllowCountries })),
	key{
		env: "GATEHOUSE_SMS_DENY_COUNTRIES", file: "sms.deny_countries", def: "", list: true,
		doc: "Codes are never sent to numbers of these countries.", accepts: "comma-separated ISO 3166-1 alpha-2 codes",
		check: func(c *Config) error { return checkCountries(c.SMS.DenyCountries) },
	}.with(countriesVar(func(c *Config) *[]string { return &c.SMS.DenyCountries })),
	key{
		env: "GATEHOUSE_SMS_NOTIFY_EXISTING", file: "sms.notify_existing", def: "false",
		doc: "When a number that already has an account starts a sign-up, text it that it already has one (the API answers the same either way).", accepts: "true or false",
	}.with(boolVar(func(c *Config) *bool { return &c.SMS.NotifyExisting })),
	key{
		env: "GATEHOUSE_SMS_TWILIO_BASE_URL", file: "sms.twilio_base_url", def: "https://api.twilio.com",
		doc: "Root of the Twilio-compatible API.", accepts: "http(s) URL",
	}.with(stringVar(func(c *Config) *string { return &c.SMS.TwilioBaseURL })),
	key{
		env: "GATEHOUSE_SMS_TWILIO_ACCOUNT_SID", file: "sms.twilio_account_sid", def: "",
		doc: "Twilio account SID (required with the twilio provider).", accepts: "text",
		check: func(c *Config) error { return requiredFor(c, SMSTwilio, c.SMS.TwilioAccountSID) },
	}.with(stringVar(func(c *Config) *string { return &c.SMS.TwilioAccountSID })),
	key{
		env: "GATEHOUSE_SMS_TWILIO_AUTH_TOKEN", file: "sms.twilio_auth_token", def: "",
		doc: "Twilio auth token (required with the twilio provider).", accepts: "text",
		secret: true, redact: redactToken,
		check: func(c *Config) error { return requiredFor(c, SMSTwilio, c.SMS.TwilioAuthToken) },
	}.with(stringVar(func(c *Config) *string { return &c.SMS.TwilioAuthToken })),
	key{
		env: "GATEHOUSE_SMS_TWILIO_FROM", file: "sms.twilio_from", def: "",
		doc: "Sending number (E.164) or alphanumeric sender id (required with the twilio provider).", accepts: "text",
		check: func(c *Config) error { return requiredFor(c, SMSTwilio, c.SMS.TwilioFrom) },
	}.with(stringVar(func(c *Config) *string { return &c.SMS.TwilioFrom })),
	key{
		env: "GATEHOUSE_SMS_WEBHOOK_URL", file: "sms.webhook_url", def: "",
		doc: "Gateway that receives each message as a signed JSON POST (Standard Webhooks headers); required with the webhook provider.", accepts: "http(s) URL",
		check: func(c *Config) error { return requiredFor(c, SMSWebhook, c.SMS.WebhookURL) },
	}.with(stringVar(func(c *Config) *string { return &c.SMS.WebhookURL })),
	key{
		env: "GATEHOUSE_SMS_WEBHOOK_SECRET", file: "sms.webhook_secret", def: "",
		doc: "Signing secret of the webhook provider (`whsec_…` or at least 16 bytes of text).", accepts: "text",
		secret: true, redact: redactToken,
		check: func(c *Config) error { return requiredFor(c, SMSWebhook, c.SMS.WebhookSecret) },
	}.with(stringVar(func(c *Config) *string { return &c.SMS.WebhookSecret })),
}

// keyByEnv finds a key by its variable name.
func keyByEnv(name string) *key {
	for i := range keyTable {
		if keyTable[i].env == name {
			return &keyTable[i]
		}
	}
	return nil
}

// Key describes one setting for documentation and tooling.
type Key struct {
	Env         string   // GATEHOUSE_HTTP_ADDR
	Aliases     []string // other variable names, weaker than Env (DATABASE_URL)
	File        string   // the key in a YAML or TOML file, dotted (http.addr)
	Default     string   // the default as documented
	Description string
	Accepts     string // accepted values (Markdown)
	Secret      bool   // redacted when printed; also read from Env+"_FILE"
}

// Keys describes every setting, in documentation order.
func Keys() []Key {
	out := make([]Key, 0, len(keyTable))
	for _, k := range keyTable {
		out = append(out, Key{
			Env: k.env, Aliases: append([]string(nil), k.aliases...), File: k.file,
			Default: k.defaultText(), Description: k.doc, Accepts: k.accepts, Secret: k.secret,
		})
	}
	return out
}
