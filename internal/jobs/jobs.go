// Package jobs owns the durable job queue: jobs are rows in the same database as the records (River on
// PostgreSQL or SQLite), so a job is enqueued in the same transaction as the change that causes it.
// Workers run in every serving node, retry with exponential backoff and jitter, and keep the jobs that
// finally fail where operators can list them.
package jobs

import (
	"context"
	"time"
)

// Args is a job's payload. Kind names the job type and must be unique; the value is stored as JSON.
// (It matches River's JobArgs, so domain packages need not import River.)
type Args interface {
	Kind() string
}

// InsertOpts adjusts one insertion. The zero value means the defaults.
type InsertOpts struct {
	MaxAttempts int       // 0: the configured default
	ScheduledAt time.Time // zero: now
	Queue       string    // "": the default queue
}

// Queue is the job queue as seen by the rest of the program.
type Queue interface {
	// Start starts the workers of this node.
	Start(ctx context.Context) error
	// Stop stops fetching new jobs and waits for running ones to finish (graceful drain) until ctx
	// ends, then cancels them.
	Stop(ctx context.Context) error
	// Enqueue adds a job outside any transaction.
	Enqueue(ctx context.Context, args Args, opts *InsertOpts) error
	// Failed lists the jobs that exhausted their attempts, newest first.
	Failed(ctx context.Context, limit int) ([]Job, error)
	// Stats counts jobs by state.
	Stats(ctx context.Context) (Stats, error)
}

// Job describes a job for operators.
type Job struct {
	ID          int64
	Kind        string
	State       string
	Attempt     int
	MaxAttempts int
	Errors      []string // the error of each failed attempt, oldest first
	CreatedAt   time.Time
	FinalizedAt time.Time
}

// Stats counts jobs by state.
type Stats struct {
	Available int64 // waiting to run now
	Scheduled int64 // waiting for a later time
	Retryable int64 // failed, waiting for a retry
	Running   int64
	Failed    int64 // exhausted their attempts (River: discarded)
	Completed int64
}

// Job states as reported in Job.State.
const (
	StateAvailable = "available"
	StateScheduled = "scheduled"
	StateRetryable = "retryable"
	StateRunning   = "running"
	StateFailed    = "failed" // exhausted its attempts (River: discarded)
	StateCompleted = "completed"
	StateCancelled = "cancelled"
	StatePending   = "pending"
)
