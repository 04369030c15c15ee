package main

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/gatehouse/gatehouse/internal/config"
	"github.com/gatehouse/gatehouse/internal/jobs"
	"github.com/gatehouse/gatehouse/internal/records"
)

// purgeBatch is how many rows of each table one PurgeExpired call deletes: enough to keep up with
// thousands of refreshes a second at an hourly interval, few enough that no statement holds its
// locks for long.
const purgeBatch = 1000

// purgeArgs is the payload of the periodic job that deletes the records no longer of use.
type purgeArgs struct{}

func (purgeArgs) Kind() string { return "records.purge" }

// purgePeriodic is the schedule of the purge job. It runs as soon as a node becomes leader too, so
// that a cluster restarted more often than the interval still purges.
func purgePeriodic(cfg *config.Config) jobs.Periodic {
	return jobs.Periodic{
		Interval:   cfg.Purge.Interval,
		Args:       func() jobs.Args { return purgeArgs{} },
		RunOnStart: true,
	}
}

// purger runs the purge job: it deletes what ended more than retention ago, batch by batch, until
// a batch comes back short. Two runs at once are harmless: each deletes what the other left.
type purger struct {
	store     records.Purger
	retention time.Duration
	limit     int
	now       func() time.Time
	logger    *slog.Logger
}

// Work is the purge job's handler.
func (p *purger) Work(ctx context.Context, _ jobs.Work[purgeArgs]) error {
	before := p.now().Add(-p.retention)
	var total records.PurgeCounts
	for batches := 1; ; batches++ {
		c, err := p.store.PurgeExpired(ctx, before, p.limit)
		total = total.Add(c)
		if err != nil {
			return fmt.Errorf("purge records ended before %s (%+v purged so far): %w", before.UTC().Format(time.RFC3339), total, err)
		}
		if !c.Full(p.limit) {
			p.logger.InfoContext(ctx, "purged records",
				slog.Time("before", before.UTC()),
				slog.Int("refresh_tokens", total.RefreshTokens),
				slog.Int("sessions", total.Sessions),
				slog.Int("email_verifications", total.EmailVerifications),
				slog.Int("batches", batches))
			return nil
		}
	}
}

// registerPurge registers the purge job's handler; the queue's configuration schedules it (see
// openRecords).
func (a *app) registerPurge() error {
	p := &purger{store: a.db, retention: a.cfg.Purge.Retention, limit: purgeBatch, now: time.Now, logger: a.logger}
	if err := jobs.Handle(a.workers, p.Work); err != nil {
		return fmt.Errorf("register the purge job: %w", err)
	}
	return nil
}
