package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/gatehouse/gatehouse/internal/config"
	"github.com/gatehouse/gatehouse/internal/mail"
	"github.com/gatehouse/gatehouse/internal/records"
	"github.com/gatehouse/gatehouse/internal/redis"
)

// maxClockSkew is how far this machine's clock may drift from the database's and Redis's before
// doctor complains: token lifetimes, code expiry and rate windows all assume the nodes agree.
const maxClockSkew = 2 * time.Second

// finding is one line of the doctor's report.
type finding struct {
	level string // "ok", "warn" or "FAIL"
	topic string
	text  string
}

// doctor checks the configuration, the database, Redis, mail, the clock and the public URL, and
// prints what is wrong in plain words. It fails when any check fails; warnings do not fail it.
func doctor(ctx context.Context, cfg *config.Config, stdout io.Writer) error {
	var out []finding
	add := func(level, topic, format string, args ...any) {
		out = append(out, finding{level, topic, fmt.Sprintf(format, args...)})
	}
	add("ok", "configuration", "valid (%s environment)", cfg.Env)
	for _, w := range cfg.Warnings() {
		add("warn", "configuration", "%s", w)
	}
	for _, line := range cfg.Describe() {
		if !strings.HasSuffix(line, "(default)") { // only what the operator set
			add("ok", "configuration", "%s", line)
		}
	}

	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	now := time.Now

	// Database.
	logger, logCloser, err := newLogger(cfg, io.Discard)
	if err != nil {
		return err
	}
	defer logCloser.Close()
	if db, err := openRecords(ctx, cfg, logger, nil); err != nil {
		add("FAIL", "database", "cannot open the %s database: %v", cfg.DatabaseBackend(), err)
	} else {
		start := now()
		if err := db.Ping(ctx); err != nil {
			add("FAIL", "database", "%s does not answer: %v", db.Backend(), err)
		} else {
			add("ok", "database", "%s answers in %s", db.Backend(), now().Sub(start).Round(time.Microsecond))
			if list, err := db.MigrationStatus(ctx); err != nil {
				add("FAIL", "database", "cannot read the migration status: %v", err)
			} else if pending := countPending(list); pending > 0 {
				add("warn", "database", "%d migrations are pending; `gatehouse migrate` (or serve) applies them", pending)
			} else {
				add("ok", "database", "schema is up to date (%d migrations)", len(list))
			}
			if st, ok := db.(interface {
				ServerTime(context.Context) (time.Time, error)
			}); ok {
				checkClock(add, "database", st.ServerTime, ctx, now)
			}
		}
		db.Close()
	}

	// Redis.
	if cfg.Redis.URL == "" {
		if cfg.Production() {
			add("warn", "redis", "not configured: rate limits, one-time codes and revocations stay inside one node; set GATEHOUSE_REDIS_URL when running more than one")
		} else {
			add("ok", "redis", "not configured: using the in-memory store (one node)")
		}
	} else if rs, err := redis.New(ctx, redis.Options{URL: cfg.Redis.URL, KeyPrefix: cfg.Redis.KeyPrefix, Logger: logger}); err != nil {
		add("FAIL", "redis", "cannot reach Redis: %v", err)
	} else {
		start := now()
		if err := rs.Ping(ctx); err != nil {
			add("FAIL", "redis", "does not answer: %v", err)
		} else {
			add("ok", "redis", "answers in %s", now().Sub(start).Round(time.Microsecond))
			checkClock(add, "redis", rs.Time, ctx, now)
		}
		rs.Close()
	}

	// Mail.
	if cfg.SMTP.URL == "" {
		add("ok", "mail", "no SMTP server configured: messages go to the dev outbox (development only)")
	} else if server, err := mail.ParseURL(cfg.SMTP.URL); err != nil {
		add("FAIL", "mail", "GATEHOUSE_SMTP_URL: %v", err)
	} else if err := mail.Probe(ctx, server, nil); err != nil {
		add("FAIL", "mail", "%v", err)
	} else {
		add("ok", "mail", "SMTP server %s accepts connections", server.Host)
	}

	// Public URL.
	checkPublicURL(ctx, cfg, add)

	failed := 0
	for _, f := range out {
		if f.level == "FAIL" {
			failed++
		}
		fmt.Fprintf(stdout, "%-4s  %-13s  %s\n", f.level, f.topic, f.text)
	}
	if failed > 0 {
		return fmt.Errorf("doctor found %d problem(s)", failed)
	}
	fmt.Fprintln(stdout, "doctor: no problems found")
	return nil
}

func countPending(list []records.Migration) int {
	n := 0
	for _, m := range list {
		if m.AppliedAt.IsZero() {
			n++
		}
	}
	return n
}

// checkClock compares this machine's clock with a server's.
func checkClock(add func(level, topic, format string, args ...any), topic string, serverTime func(context.Context) (time.Time, error), ctx context.Context, now func() time.Time) {
	before := now()
	t, err := serverTime(ctx)
	if err != nil {
		add("warn", "clock", "cannot read the %s server's time: %v", topic, err)
		return
	}
	after := now()
	local := before.Add(after.Sub(before) / 2)
	skew := local.Sub(t)
	if skew < 0 {
		skew = -skew
	}
	if skew > maxClockSkew {
		add("FAIL", "clock", "this machine's clock differs from the %s server's by %s; keep clocks in sync (NTP): token expiry and code lifetimes depend on it", topic, skew.Round(time.Millisecond))
		return
	}
	add("ok", "clock", "within %s of the %s server", skew.Round(time.Millisecond), topic)
}

// checkPublicURL checks the external base URL: its form, TLS in production, and whether this
// gatehouse answers there (a warning only: the server may not be running while doctor runs).
func checkPublicURL(ctx context.Context, cfg *config.Config, add func(level, topic, format string, args ...any)) {
	u, err := url.Parse(cfg.PublicURL)
	if err != nil {
		add("FAIL", "public URL", "GATEHOUSE_PUBLIC_URL: %v", err)
		return
	}
	if cfg.Production() && u.Scheme != "https" {
		add("warn", "public URL", "%s is not https: browsers will not keep secure cookies and tokens travel in clear text", cfg.PublicURL)
	}
	health := u.JoinPath("/health").String()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, health, nil)
	if err != nil {
		add("FAIL", "public URL", "GATEHOUSE_PUBLIC_URL: %v", err)
		return
	}
	client := &http.Client{Timeout: 3 * time.Second}
	resp, err := client.Do(req)
	if err != nil {
		add("warn", "public URL", "%s does not answer (is gatehouse running and reachable there?): %v", health, errors.Unwrap(err))
		return
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		add("warn", "public URL", "%s answered %s, not 200", health, resp.Status)
		return
	}
	add("ok", "public URL", "%s answers", health)
}
