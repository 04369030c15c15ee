package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/gatehouse/gatehouse/internal/config"
	"github.com/gatehouse/gatehouse/internal/httpapi"
	"github.com/gatehouse/gatehouse/internal/mail"
)

// serve runs the server until ctx is cancelled (SIGTERM or SIGINT), then shuts down gracefully:
// readiness turns 503, the listener closes after the shutdown delay, in-flight requests finish within
// the shutdown timeout, the job workers drain, and the pools close.
func serve(ctx context.Context, cfg *config.Config, stdout io.Writer) (err error) {
	started := time.Now()
	logger, logCloser, err := newLogger(cfg, stdout)
	if err != nil {
		return err
	}
	defer logCloser.Close()
	for _, w := range cfg.Warnings() {
		logger.Warn("configuration", slog.String("warning", w))
	}

	a, err := openApp(ctx, cfg, logger)
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, a.close()) }()

	auth, stopAuth, err := a.buildAuth(ctx)
	if err != nil {
		return err
	}
	defer stopAuth()

	ln, err := net.Listen("tcp", cfg.HTTP.Addr)
	if err != nil {
		return fmt.Errorf("listen on %s (GATEHOUSE_HTTP_ADDR): %w", cfg.HTTP.Addr, err)
	}

	queue := a.db.Queue()
	if err := queue.Start(context.WithoutCancel(ctx)); err != nil {
		ln.Close()
		return fmt.Errorf("start job workers: %w", err)
	}
	defer func() {
		drainCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cfg.HTTP.ShutdownTimeout)
		defer cancel()
		if stopErr := queue.Stop(drainCtx); stopErr != nil {
			err = errors.Join(err, fmt.Errorf("drain job workers: %w", stopErr))
		}
	}()

	version, commit := buildVersion()
	reporter, err := httpapi.NewSentry(cfg.Sentry.DSN, cfg.SentryEnvironment(), "gatehouse@"+version)
	if err != nil {
		ln.Close()
		return fmt.Errorf("sentry: %w", err)
	}
	defer reporter.Flush(2 * time.Second)

	registry := prometheus.NewRegistry()
	if a.smsBudgetTrips != nil {
		registry.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "gatehouse_sms_budget_trips_total",
			Help: "Times this node saw the daily SMS budget run out and stopped sending (the circuit breaker).",
		}, func() float64 { return float64(a.smsBudgetTrips()) }))
	}
	srv := httpapi.New(httpapi.Deps{
		Logger:     logger,
		Config:     cfg,
		Version:    version,
		Commit:     commit,
		Started:    started,
		Now:        time.Now,
		Backends:   a.backends(),
		Checks:     a.readinessChecks(),
		Registry:   registry,
		PoolStats:  a.db.Stats,
		QueueStats: queue.Stats,
		Sentry:     reporter,
		Auth:       auth,
	})

	logger.Info("gatehouse ready",
		slog.String("addr", ln.Addr().String()),
		slog.String("env", cfg.Env),
		slog.String("version", version),
		slog.Duration("startup", time.Since(started)))
	err = httpapi.Serve(ctx, ln, srv, httpapi.ServeOptions{
		ShutdownDelay:     cfg.HTTP.ShutdownDelay,
		ShutdownTimeout:   cfg.HTTP.ShutdownTimeout,
		ReadHeaderTimeout: cfg.HTTP.ReadHeaderTimeout,
		ReadTimeout:       cfg.HTTP.ReadTimeout,
		WriteTimeout:      cfg.HTTP.WriteTimeout,
		IdleTimeout:       cfg.HTTP.IdleTimeout,
		TLSCertFile:       cfg.HTTP.TLSCertFile,
		TLSKeyFile:        cfg.HTTP.TLSKeyFile,
	})
	logger.Info("gatehouse stopped")
	return err
}

// backends names the implementation behind each part, for /api/v1/status.
func (a *app) backends() map[string]string {
	eph := "memory"
	if a.cfg.Redis.URL != "" {
		eph = "redis"
	}
	return map[string]string{
		"records":   a.db.Backend(),
		"queue":     a.db.Backend(),
		"ephemeral": eph,
		"mail":      a.cfg.MailSender(),
	}
}

// mailProbeTTL is how long a mail server probe's outcome is reused by readiness.
const mailProbeTTL = 15 * time.Second

// readinessChecks are the dependencies /health/ready reports on.
func (a *app) readinessChecks() []httpapi.Check {
	checks := []httpapi.Check{
		{Name: "database", Run: a.db.Ping},
		{Name: "ephemeral", Run: a.ephemeral.Ping},
		{Name: "queue", Run: func(ctx context.Context) error {
			_, err := a.db.Queue().Stats(ctx)
			return err
		}},
	}
	// Mail is optional for readiness: messages wait in the durable queue while the mail server is
	// down, so an outage there should not take the node out of the load balancer.
	mailCheck := httpapi.Check{Name: "mail", Optional: true, Run: func(context.Context) error { return nil }}
	if a.cfg.SMTP.URL != "" {
		server, err := mail.ParseURL(a.cfg.SMTP.URL)
		if err != nil { // config validation already checked the URL; keep the error visible anyway
			mailCheck.Run = func(context.Context) error { return err }
		} else {
			mailCheck.Run = mail.NewProber(server, mailProbeTTL, time.Now).Check
		}
	}
	checks = append(checks, mailCheck)
	return checks
}
