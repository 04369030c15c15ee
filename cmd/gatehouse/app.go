package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/gatehouse/gatehouse/internal/config"
	"github.com/gatehouse/gatehouse/internal/ephemeral"
	"github.com/gatehouse/gatehouse/internal/jobs"
	"github.com/gatehouse/gatehouse/internal/logging"
	"github.com/gatehouse/gatehouse/internal/memory"
	"github.com/gatehouse/gatehouse/internal/postgres"
	"github.com/gatehouse/gatehouse/internal/records"
	"github.com/gatehouse/gatehouse/internal/redis"
	"github.com/gatehouse/gatehouse/internal/sqlite"
)

// recordsDB is what the program needs of a records adapter.
type recordsDB interface {
	records.Store
	records.Migrator
}

// app holds the long-lived parts of a gatehouse process, built once from the configuration.
type app struct {
	cfg       *config.Config
	logger    *slog.Logger
	db        recordsDB
	ephemeral ephemeral.Store
	workers   *jobs.Workers
	// smsBudgetTrips counts the days the SMS budget ran out (the circuit breaker); set by buildAuth.
	smsBudgetTrips func() uint64

	closers []func() error // in reverse order of opening
}

// newLogger builds the process logger from the configuration.
func newLogger(cfg *config.Config, stdout io.Writer) (*slog.Logger, io.Closer, error) {
	logger, closer, err := logging.New(cfg.Log, cfg.Env, stdout)
	if err != nil {
		return nil, nil, fmt.Errorf("logging: %w", err)
	}
	return logger, closer, nil
}

// openRecords opens the configured records store (SQLite or PostgreSQL) with its job queue.
func openRecords(ctx context.Context, cfg *config.Config, logger *slog.Logger, workers *jobs.Workers) (recordsDB, error) {
	jobsCfg := jobs.Config{
		Workers:       cfg.Jobs.Workers,
		MaxAttempts:   cfg.Jobs.MaxAttempts,
		PollInterval:  cfg.Jobs.PollInterval,
		FetchCooldown: cfg.Jobs.FetchCooldown,
		Logger:        logger,
		// Only a node that runs jobs schedules them; its handler is registered by registerPurge.
		Periodic: []jobs.Periodic{purgePeriodic(cfg)},
	}
	switch cfg.DatabaseBackend() {
	case records.BackendPostgres:
		db, err := postgres.Open(ctx, postgres.Options{
			URL:              cfg.Database.URL,
			MaxConns:         cfg.Database.MaxConns,
			MinConns:         cfg.Database.MinConns,
			MaxConnIdleTime:  cfg.Database.MaxConnIdleTime,
			MaxConnLifetime:  cfg.Database.MaxConnLifetime,
			ConnectTimeout:   cfg.Database.ConnectTimeout,
			StatementTimeout: cfg.Database.StatementTimeout,
			Logger:           logger,
			Jobs:             jobsCfg,
			Workers:          workers,
		})
		if err != nil {
			return nil, fmt.Errorf("database: %w", err)
		}
		return db, nil
	default:
		db, err := sqlite.Open(ctx, sqlite.Options{
			Path:        cfg.SQLitePath(),
			BusyTimeout: cfg.Database.BusyTimeout,
			Logger:      logger,
			Jobs:        jobsCfg,
			Workers:     workers,
		})
		if err != nil {
			return nil, fmt.Errorf("database: %w", err)
		}
		return db, nil
	}
}

// openEphemeral opens the configured ephemeral store (Redis, or in-memory when no URL is set).
func openEphemeral(ctx context.Context, cfg *config.Config, logger *slog.Logger) (ephemeral.Store, string, error) {
	if cfg.Redis.URL == "" {
		return memory.New(time.Now), "memory", nil
	}
	redis.SetLibraryLogger(logger)
	s, err := redis.New(ctx, redis.Options{URL: cfg.Redis.URL, KeyPrefix: cfg.Redis.KeyPrefix, Logger: logger})
	if err != nil {
		return nil, "", fmt.Errorf("redis: %w", err)
	}
	return s, "redis", nil
}

// openApp opens the records store (applying migrations when configured) and the ephemeral store.
func openApp(ctx context.Context, cfg *config.Config, logger *slog.Logger) (_ *app, err error) {
	a := &app{cfg: cfg, logger: logger, workers: jobs.NewWorkers()}
	defer func() {
		if err != nil {
			err = errors.Join(err, a.close())
		}
	}()
	a.db, err = openRecords(ctx, cfg, logger, a.workers)
	if err != nil {
		return nil, err
	}
	a.closers = append(a.closers, a.db.Close)
	if cfg.Database.AutoMigrate {
		if err := a.db.Migrate(ctx); err != nil {
			return nil, fmt.Errorf("database migrations: %w", err)
		}
	}

	a.ephemeral, _, err = openEphemeral(ctx, cfg, logger)
	if err != nil {
		return nil, err
	}
	a.closers = append(a.closers, a.ephemeral.Close)
	return a, nil
}

// close releases everything openApp opened, newest first.
func (a *app) close() error {
	var errs []error
	for i := len(a.closers) - 1; i >= 0; i-- {
		errs = append(errs, a.closers[i]())
	}
	a.closers = nil
	return errors.Join(errs...)
}
