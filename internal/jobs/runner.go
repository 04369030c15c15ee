package jobs

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver"
	"github.com/riverqueue/river/rivermigrate"
	"github.com/riverqueue/river/rivertype"
)

// hardStopTimeout bounds how long Stop waits for cancelled jobs to return once the graceful drain
// ran out of time.
const hardStopTimeout = 10 * time.Second

// Failed lists at most this many jobs per call, River's own limit.
const maxFailedListed = 10_000

// RunnerOptions are what an adapter tells the runner about its database.
type RunnerOptions struct {
	// Schema holds River's tables on PostgreSQL; "" resolves them through the search_path (and is the
	// only value on SQLite).
	Schema string
	// PollOnly turns LISTEN/NOTIFY off: workers find jobs by polling (SQLite).
	PollOnly bool
	// DefaultPollInterval replaces DefaultPollInterval when Config.PollInterval is zero.
	DefaultPollInterval time.Duration
	// TranslateError maps the driver's errors to the records errors (records.ErrTimeout, ...).
	TranslateError func(error) error
}

// Runner is the job queue kept in one database: River's client over an adapter's driver. Both
// adapters use it (TTx is pgx.Tx for PostgreSQL, *sql.Tx for SQLite). It implements Queue; InsertTx
// adds a job inside the adapter's transaction.
type Runner[TTx any] struct {
	client    *river.Client[TTx]
	driver    riverdriver.Driver[TTx]
	schema    string
	workers   *Workers
	queues    map[string]bool
	logger    *slog.Logger
	translate func(error) error

	mu       sync.Mutex
	started  bool
	stopping bool

	stopOnce sync.Once
	stopErr  error
	draining chan struct{}

	batch *batcher
}

var _ Queue = (*Runner[any])(nil)

// NewRunner builds the queue of one database. workers may be nil for a process that only enqueues
// (the migrate command); such a runner's Start does nothing. So does the Start of a runner whose
// registry is still empty when it starts.
func NewRunner[TTx any](driver riverdriver.Driver[TTx], workers *Workers, cfg Config, opts RunnerOptions) (*Runner[TTx], error) {
	cfg = cfg.withDefaults(opts.DefaultPollInterval)
	poll := max(cfg.PollInterval, river.FetchPollIntervalMin)
	discardedRetention := time.Duration(-1) // River: keep forever
	if cfg.FailedRetention > 0 {
		discardedRetention = cfg.FailedRetention
	}
	rc := &river.Config{
		DiscardedJobRetentionPeriod: discardedRetention,
		FetchCooldown:               min(max(cfg.FetchCooldown, river.FetchCooldownMin), poll),
		FetchPollInterval:           poll,
		Logger:                      riverLogger(cfg.Logger),
		MaxAttempts:                 cfg.MaxAttempts,
		PollOnly:                    opts.PollOnly,
		RetryPolicy:                 newBackoff(cfg.RetryBase, cfg.RetryMax),
		Schema:                      opts.Schema,
	}
	var err error
	queues := map[string]bool{river.QueueDefault: true}
	for name := range cfg.Queues {
		queues[name] = true
	}
	if workers != nil {
		rc.Workers = workers.river
		rc.Queues = map[string]river.QueueConfig{river.QueueDefault: {MaxWorkers: cfg.Workers}}
		for name, n := range cfg.Queues {
			rc.Queues[name] = river.QueueConfig{MaxWorkers: max(n, 1)}
		}
		if rc.PeriodicJobs, err = periodicJobs(cfg.Periodic); err != nil {
			return nil, err
		}
	}
	client, err := river.NewClient(driver, rc)
	if err != nil {
		return nil, fmt.Errorf("jobs: new river client: %w", err)
	}
	translate := opts.TranslateError
	if translate == nil {
		translate = func(err error) error { return err }
	}
	r := &Runner[TTx]{
		client:    client,
		driver:    driver,
		schema:    opts.Schema,
		workers:   workers,
		queues:    queues,
		logger:    cfg.Logger,
		translate: translate,
		draining:  make(chan struct{}),
	}
	r.batch = &batcher{insert: func(ctx context.Context, params []river.InsertManyParams) error {
		_, err := client.InsertMany(ctx, params)
		return err
	}}
	return r, nil
}

// periodicJobs maps the configured periodic jobs to River's.
func periodicJobs(list []Periodic) ([]*river.PeriodicJob, error) {
	var out []*river.PeriodicJob
	for i, p := range list {
		if p.Interval <= 0 || p.Args == nil {
			return nil, fmt.Errorf("jobs: periodic job %d: want a positive interval and an Args function", i)
		}
		out = append(out, river.NewPeriodicJob(river.PeriodicInterval(p.Interval),
			func() (river.JobArgs, *river.InsertOpts) { return p.Args(), nil },
			&river.PeriodicJobOpts{RunOnStart: p.RunOnStart}))
	}
	return out, nil
}

// Start starts this node's workers. Cancelling ctx later stops them abruptly (River's hard stop),
// so pass a context that outlives serving and end with Stop. A runner without handlers has nothing
// to run and returns nil. A stopped runner cannot start again.
func (r *Runner[TTx]) Start(ctx context.Context) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	switch {
	case r.stopping:
		return errors.New("jobs: start: the queue was stopped")
	case r.started:
		return nil
	case r.workers.empty():
		r.logger.DebugContext(ctx, "no job handlers registered; this node runs no jobs")
		return nil
	}
	if err := r.client.Start(ctx); err != nil {
		return fmt.Errorf("jobs: start: %w", r.translate(err))
	}
	r.started = true
	return nil
}

// Stop stops fetching jobs at once and waits for the running ones to finish. When ctx ends first it
// cancels them, waits a bounded time for them to return, and reports that the drain was cut short
// (the cancelled jobs are retried later). Calling Stop again returns the first call's result.
func (r *Runner[TTx]) Stop(ctx context.Context) error {
	r.stopOnce.Do(func() { r.stopErr = r.stop(ctx) })
	return r.stopErr
}

func (r *Runner[TTx]) stop(ctx context.Context) error {
	r.mu.Lock()
	r.stopping = true
	started := r.started
	r.mu.Unlock()
	if !started {
		close(r.draining)
		return nil
	}

	stopped := r.client.Stopped()
	// River's Stop cancels fetching before it waits; given a context that has already ended it
	// returns at once and leaves the shutdown running, so that the wait below is ours: it can close
	// draining only once no new job can start, and choose how to end an overlong drain.
	ended, cancel := context.WithCancel(context.WithoutCancel(ctx))
	cancel()
	_ = r.client.Stop(ended)
	close(r.draining)

	select {
	case <-stopped:
		// Lets River record that it stopped; returns at once since it has.
		return r.client.Stop(context.WithoutCancel(ctx))
	case <-ctx.Done():
	}
	r.logger.WarnContext(ctx, "job drain cut short; cancelling running jobs", slog.Any("err", ctx.Err()))
	hardCtx, cancelHard := context.WithTimeout(context.WithoutCancel(ctx), hardStopTimeout)
	defer cancelHard()
	if err := r.client.StopAndCancel(hardCtx); err != nil {
		return fmt.Errorf("jobs: cancel running jobs: %w", err)
	}
	return fmt.Errorf("jobs: drain cut short, running jobs cancelled: %w", ctx.Err())
}

// Draining is closed once Stop has told this node's workers to fetch no more jobs. Running jobs may
// still be finishing, and a fetch already under way may still start what it got (never when every
// worker slot is busy). Readiness checks and tests watch it.
func (r *Runner[TTx]) Draining() <-chan struct{} { return r.draining }

// Enqueue adds a job outside any transaction. Concurrent calls are written together, in one
// transaction per batch (group insert): Enqueue returns once the batch holding the job has
// committed, or with the batch's error. A cancelled ctx does not abandon the job: Enqueue still says
// whether it was written.
func (r *Runner[TTx]) Enqueue(ctx context.Context, args Args, opts *InsertOpts) error {
	ro, err := r.insertOpts(opts)
	if err != nil {
		return fmt.Errorf("jobs: enqueue %s: %w", args.Kind(), err)
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("jobs: enqueue %s: %w", args.Kind(), r.translate(err))
	}
	if err := r.batch.add(river.InsertManyParams{Args: args, InsertOpts: ro}); err != nil {
		return fmt.Errorf("jobs: enqueue %s: %w", args.Kind(), r.translate(err))
	}
	return nil
}

// InsertTx adds a job in the caller's transaction: workers see it only once tx commits, and never
// if it rolls back.
func (r *Runner[TTx]) InsertTx(ctx context.Context, tx TTx, args Args, opts *InsertOpts) error {
	ro, err := r.insertOpts(opts)
	if err != nil {
		return fmt.Errorf("jobs: enqueue %s: %w", args.Kind(), err)
	}
	if _, err := r.client.InsertTx(ctx, tx, args, ro); err != nil {
		return fmt.Errorf("jobs: enqueue %s: %w", args.Kind(), r.translate(err))
	}
	return nil
}

func (r *Runner[TTx]) insertOpts(opts *InsertOpts) (*river.InsertOpts, error) {
	if opts == nil {
		return nil, nil
	}
	if opts.Queue != "" && !r.queues[opts.Queue] {
		return nil, fmt.Errorf("queue %q is not configured, no node would run the job", opts.Queue)
	}
	if opts.MaxAttempts < 0 {
		return nil, fmt.Errorf("max attempts %d is negative", opts.MaxAttempts)
	}
	return &river.InsertOpts{
		MaxAttempts: opts.MaxAttempts,
		ScheduledAt: opts.ScheduledAt,
		Queue:       opts.Queue,
	}, nil
}

// Failed lists the jobs that exhausted their attempts, most recently failed first. limit is
// clamped to [1, 10000]; zero or less means 100.
func (r *Runner[TTx]) Failed(ctx context.Context, limit int) ([]Job, error) {
	if limit <= 0 {
		limit = 100
	}
	limit = min(limit, maxFailedListed)
	params := river.NewJobListParams().
		States(rivertype.JobStateDiscarded).
		OrderBy(river.JobListOrderByFinalizedAt, river.SortOrderDesc).
		First(limit)
	res, err := r.client.JobList(ctx, params)
	if err != nil {
		return nil, fmt.Errorf("jobs: list failed jobs: %w", r.translate(err))
	}
	out := make([]Job, 0, len(res.Jobs))
	for _, row := range res.Jobs {
		out = append(out, jobFromRow(row))
	}
	return out, nil
}

func jobFromRow(row *rivertype.JobRow) Job {
	j := Job{
		ID:          row.ID,
		Kind:        row.Kind,
		State:       stateName(row.State),
		Attempt:     row.Attempt,
		MaxAttempts: row.MaxAttempts,
		CreatedAt:   row.CreatedAt,
	}
	if row.FinalizedAt != nil {
		j.FinalizedAt = *row.FinalizedAt
	}
	for _, e := range row.Errors {
		j.Errors = append(j.Errors, e.Error)
	}
	return j
}

// stateName maps River's job states to ours (River's "discarded" is our "failed").
func stateName(s rivertype.JobState) string {
	if s == rivertype.JobStateDiscarded {
		return StateFailed
	}
	return string(s)
}

// Stats counts jobs by state. It runs one GROUP BY statement rather than a count per state so that
// the counts are one snapshot: between two separate counts a job moving from running to completed
// would be counted twice. Either way the database counts through River's (state, ...) index.
func (r *Runner[TTx]) Stats(ctx context.Context) (Stats, error) {
	counts, err := r.driver.GetExecutor().JobCountByAllStates(ctx, &riverdriver.JobCountByAllStatesParams{Schema: r.schema})
	if err != nil {
		return Stats{}, fmt.Errorf("jobs: count jobs by state: %w", r.translate(err))
	}
	return Stats{
		Available: int64(counts[rivertype.JobStateAvailable]),
		Scheduled: int64(counts[rivertype.JobStateScheduled]),
		Retryable: int64(counts[rivertype.JobStateRetryable]),
		Running:   int64(counts[rivertype.JobStateRunning]),
		Failed:    int64(counts[rivertype.JobStateDiscarded]),
		Completed: int64(counts[rivertype.JobStateCompleted]),
	}, nil
}

// SchemaVersion is one of River's own schema migrations.
type SchemaVersion struct {
	Version int
	Name    string
}

// SchemaVersions lists River's schema migrations for this driver, oldest first.
func (r *Runner[TTx]) SchemaVersions() ([]SchemaVersion, error) {
	m, err := r.migrator()
	if err != nil {
		return nil, err
	}
	all := m.AllVersions()
	out := make([]SchemaVersion, 0, len(all))
	for _, v := range all {
		out = append(out, SchemaVersion{Version: v.Version, Name: v.Name})
	}
	return out, nil
}

// Migrate applies River's pending schema migrations through the runner's own driver. The caller
// holds the adapter's migration lock.
func (r *Runner[TTx]) Migrate(ctx context.Context) error {
	return Migrate(ctx, r.driver, r.schema, r.logger)
}

// Migrate applies River's pending schema migrations through driver, for an adapter that migrates
// over other connections than its runner's (PostgreSQL runs migrations without a statement
// timeout). The caller holds the adapter's migration lock.
func Migrate[TTx any](ctx context.Context, driver riverdriver.Driver[TTx], schema string, logger *slog.Logger) error {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	m, err := rivermigrate.New(driver, &rivermigrate.Config{Schema: schema, Logger: riverLogger(logger)})
	if err != nil {
		return fmt.Errorf("jobs: river migrator: %w", err)
	}
	res, err := m.Migrate(ctx, rivermigrate.DirectionUp, nil)
	if err != nil {
		return fmt.Errorf("jobs: river migrations: %w", err)
	}
	for _, v := range res.Versions {
		logger.InfoContext(ctx, "applied river migration", slog.Int("version", v.Version), slog.String("name", v.Name))
	}
	return nil
}

func (r *Runner[TTx]) migrator() (*rivermigrate.Migrator[TTx], error) {
	m, err := rivermigrate.New(r.driver, &rivermigrate.Config{Schema: r.schema, Logger: riverLogger(r.logger)})
	if err != nil {
		return nil, fmt.Errorf("jobs: river migrator: %w", err)
	}
	return m, nil
}

// Close stops the workers if Stop was not called, cancelling running jobs after a short grace:
// adapters call it before closing their pools. After a Stop it does nothing (and returns nil:
// Stop already reported how the drain went).
func (r *Runner[TTx]) Close(ctx context.Context) error {
	var err error
	r.stopOnce.Do(func() {
		grace, cancel := context.WithTimeout(ctx, time.Second)
		defer cancel()
		r.stopErr = r.stop(grace)
		err = r.stopErr
	})
	return err
}
