package jobs

import (
	"log/slog"
	"time"
)

// Defaults applied by Config when a field is zero.
const (
	DefaultWorkers      = 10
	DefaultMaxAttempts  = 25
	DefaultPollInterval = time.Second
	// DefaultFetchCooldown lets 10 workers run up to 400 jobs/s (River's own default, 100ms, caps
	// them at 100/s, below the sign-up rates the service is built for).
	DefaultFetchCooldown = 25 * time.Millisecond
	DefaultRetryBase     = time.Second
	DefaultRetryMax      = time.Hour
)

// Config configures the job queue of one node. The zero value means the defaults above (and, for
// the adapter, its own default poll interval).
type Config struct {
	// Workers is how many jobs of the default queue this node runs at once.
	Workers int
	// Queues names further queues this node works, each with its own concurrency. A job enqueued
	// into a queue that is neither the default nor listed here is refused, since no node would run it.
	Queues map[string]int
	// MaxAttempts is how many times a job runs before it is kept as failed (InsertOpts may override).
	MaxAttempts int
	// PollInterval is how often workers look for new jobs when no notification arrives (always on
	// SQLite, which has no LISTEN/NOTIFY).
	PollInterval time.Duration
	// FetchCooldown is the least time between two fetches while jobs keep arriving; with Workers it
	// bounds the node's job rate (Workers jobs per fetch). Zero means DefaultFetchCooldown; it never
	// exceeds PollInterval.
	FetchCooldown time.Duration
	// RetryBase is the first retry's upper bound: attempt n waits a random time in
	// [0, RetryBase·2^(n-1)], capped at RetryMax (exponential backoff with full jitter).
	RetryBase time.Duration
	// RetryMax caps a single retry delay.
	RetryMax time.Duration
	// FailedRetention is how long failed jobs are kept; zero keeps them until an operator deletes them.
	FailedRetention time.Duration
	// Logger receives the queue's warnings and errors (River's own logs below warn are dropped).
	Logger *slog.Logger
	// Periodic lists the jobs enqueued on a schedule. Every node may list them, since only the
	// cluster's leader (elected through the database) enqueues them; a node that runs no jobs
	// ignores them.
	Periodic []Periodic
}

// Periodic is a job enqueued at a fixed interval, into the default queue. A run that outlasts the
// interval does not hold the next one back, so the handler must tolerate two runs at once.
type Periodic struct {
	// Interval is the time between two enqueues; it must be positive.
	Interval time.Duration
	// Args builds the payload of each run.
	Args func() Args
	// RunOnStart enqueues a run as soon as a node becomes leader, rather than an Interval later:
	// with long intervals and restarts, a job could otherwise never come due.
	RunOnStart bool
}

// withDefaults returns c with every zero field set to its default; pollDefault replaces
// DefaultPollInterval when it is positive.
func (c Config) withDefaults(pollDefault time.Duration) Config {
	if c.Workers <= 0 {
		c.Workers = DefaultWorkers
	}
	if c.MaxAttempts <= 0 {
		c.MaxAttempts = DefaultMaxAttempts
	}
	if c.PollInterval <= 0 {
		c.PollInterval = DefaultPollInterval
		if pollDefault > 0 {
			c.PollInterval = pollDefault
		}
	}
	if c.FetchCooldown <= 0 {
		c.FetchCooldown = DefaultFetchCooldown
	}
	if c.RetryBase <= 0 {
		c.RetryBase = DefaultRetryBase
	}
	if c.RetryMax <= 0 {
		c.RetryMax = DefaultRetryMax
	}
	if c.RetryMax < c.RetryBase {
		c.RetryMax = c.RetryBase
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c
}
