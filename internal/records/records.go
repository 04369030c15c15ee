// Package records defines the durable store of record (accounts, sessions, audit, keys and the job
// queue live in it) as seen by the rest of the program. Two adapters implement it and pass one contract
// suite (internal/storetest): internal/sqlite for the embedded default and internal/postgres for
// production.
package records

import (
	"context"
	"errors"
	"time"

	"github.com/gatehouse/gatehouse/internal/jobs"
	"github.com/gatehouse/gatehouse/internal/token"
)

// Backend names.
const (
	BackendSQLite   = "sqlite"
	BackendPostgres = "postgres"
)

// Errors every adapter translates its driver's errors into (in one function per adapter).
var (
	ErrNotFound = errors.New("records: not found") // no rows
	ErrConflict = errors.New("records: conflict")  // unique or foreign-key violation
	ErrTimeout  = errors.New("records: timeout")   // statement or connect timeout, cancelled context
)

// Store is the store of record.
type Store interface {
	// Backend is BackendSQLite or BackendPostgres.
	Backend() string
	// Ping checks that the database answers.
	Ping(ctx context.Context) error
	// InTx runs fn in one transaction: committed if fn returns nil, rolled back otherwise. Jobs
	// enqueued through tx are committed or rolled back with the rest.
	InTx(ctx context.Context, fn func(ctx context.Context, tx Tx) error) error
	// Queue is the durable job queue kept in the same database.
	Queue() jobs.Queue
	// Stats reports the connection pool.
	Stats() PoolStats
	// Close releases the pools. The queue must be stopped first.
	Close() error

	// GetMeta returns the value of an installation setting, or ErrNotFound.
	GetMeta(ctx context.Context, key string) (string, error)

	// Reads on hot paths run outside transactions (on SQLite, on the read pool).
	AccountReader
	SessionReader
	// The common case of a refresh is one atomic write of its own.
	RefreshRotator
	AuditWriter
	MailDeliveries
	token.KeyStore
	// Purging runs outside transactions, one short statement per table.
	Purger
}

// Tx is a unit of work.
type Tx interface {
	AccountReader
	AccountWriter
	SessionReader
	SessionWriter
	AuditWriter
	MailDeliveryWriter

	// Enqueue adds a job that becomes visible to workers only when the transaction commits.
	Enqueue(ctx context.Context, args jobs.Args, opts *jobs.InsertOpts) error
	// GetMeta returns the value of an installation setting, or ErrNotFound.
	GetMeta(ctx context.Context, key string) (string, error)
	// PutMeta creates or replaces an installation setting.
	PutMeta(ctx context.Context, key, value string) error
	// InsertMeta creates an installation setting; ErrConflict if it exists.
	InsertMeta(ctx context.Context, key, value string) error
}

// Migrator applies and reports the versioned schema migrations embedded in the binary.
type Migrator interface {
	// Migrate applies every pending migration, holding a lock so that two nodes starting at once do
	// not race.
	Migrate(ctx context.Context) error
	// MigrationStatus lists every known migration and whether it is applied: gatehouse's own first,
	// then the job queue's (River's), whose names start with "river: " and whose versions follow
	// River's own numbering.
	MigrationStatus(ctx context.Context) ([]Migration, error)
}

// Migration is one versioned schema change.
type Migration struct {
	Version   int64
	Name      string
	AppliedAt time.Time // zero when pending
}

// PoolStats describes the connection pool(s) of a store.
type PoolStats struct {
	MaxConns     int
	OpenConns    int
	InUse        int
	Idle         int
	WaitCount    int64
	WaitDuration time.Duration
}
