// Package sqlite is the embedded records store: one SQLite file (pure-Go driver, WAL mode) holding
// the records and the durable job queue. It serves the zero-configuration default and single-node
// installations; internal/postgres serves production. Both pass internal/storetest.
//
// Two pools share the file. All writes, transactions and the job queue go through a pool of one
// connection, since SQLite admits one writer at a time and River wants it that way; its
// transactions begin IMMEDIATE so that two never deadlock upgrading a read lock. Plain reads go
// through a pool of several read-only connections, which WAL lets run beside the writer.
package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/riverqueue/river/riverdriver/riversqlite"
	"modernc.org/sqlite"

	"github.com/gatehouse/gatehouse/internal/jobs"
	"github.com/gatehouse/gatehouse/internal/records"
)

// Defaults applied by Open when an option is zero.
const (
	DefaultBusyTimeout  = 5 * time.Second
	DefaultReadConns    = 4
	DefaultPollInterval = 200 * time.Millisecond // SQLite has no LISTEN/NOTIFY: workers poll
)

// Options configures Open.
type Options struct {
	// Path is the database file, created (with its directory, mode 0700) when missing.
	Path string
	// BusyTimeout is how long a statement waits for a lock held by another connection or process
	// before it fails with records.ErrTimeout.
	BusyTimeout time.Duration
	// ReadConns sizes the read-only pool.
	ReadConns int
	Logger    *slog.Logger
	// Jobs configures the job queue; its Logger defaults to Logger and its PollInterval to
	// DefaultPollInterval.
	Jobs jobs.Config
	// Workers holds the job handlers this node runs; nil for a process that only enqueues.
	Workers *jobs.Workers
}

// DB is the SQLite records store.
type DB struct {
	path   string
	write  *sql.DB // one connection: every write, transaction and the job queue
	read   *sql.DB // read-only connections for plain reads
	queue  *jobs.Runner[*sql.Tx]
	logger *slog.Logger

	closeOnce sync.Once
	closeErr  error
}

var (
	_ records.Store    = (*DB)(nil)
	_ records.Migrator = (*DB)(nil)
)

// Open opens (creating if needed) the database file. It does not migrate: call Migrate.
func Open(ctx context.Context, opts Options) (_ *DB, err error) {
	if opts.Path == "" || opts.Path == ":memory:" || strings.HasPrefix(opts.Path, "file:") || strings.ContainsRune(opts.Path, '?') {
		return nil, fmt.Errorf("sqlite: database path %q: want a plain file path", opts.Path)
	}
	if opts.BusyTimeout <= 0 {
		opts.BusyTimeout = DefaultBusyTimeout
	}
	if opts.ReadConns <= 0 {
		opts.ReadConns = DefaultReadConns
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Jobs.Logger == nil {
		opts.Jobs.Logger = opts.Logger
	}
	if err := createFile(opts.Path); err != nil {
		return nil, err
	}

	db := &DB{path: opts.Path, logger: opts.Logger}
	defer func() {
		if err != nil {
			err = errors.Join(err, db.closePools())
		}
	}()
	// The write pool opens first: its connection switches the file to WAL, which the read-only
	// connections could not do.
	if db.write, err = openPool(ctx, opts.Path, opts.BusyTimeout, true); err != nil {
		return nil, err
	}
	db.write.SetMaxOpenConns(1)
	db.write.SetMaxIdleConns(1)
	if db.read, err = openPool(ctx, opts.Path, opts.BusyTimeout, false); err != nil {
		return nil, err
	}
	db.read.SetMaxOpenConns(opts.ReadConns)
	db.read.SetMaxIdleConns(min(opts.ReadConns, 2))
	db.read.SetConnMaxIdleTime(5 * time.Minute)

	db.queue, err = jobs.NewRunner(riversqlite.New(db.write), opts.Workers, opts.Jobs, jobs.RunnerOptions{
		PollOnly:            true,
		DefaultPollInterval: DefaultPollInterval,
		TranslateError:      translate,
	})
	if err != nil {
		return nil, fmt.Errorf("sqlite: %w", err)
	}
	return db, nil
}

// createFile makes the database's directory (0700) and the file itself (0600), so that the
// records are never readable by other users whatever the umask. SQLite gives its -wal and -shm
// files the database file's mode.
func createFile(path string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("sqlite: create directory of %s: %w", path, err)
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	return nil
}

// dsn builds the connection string. The pragmas go in the DSN so that every connection the pools
// open gets them, not only the first.
func dsn(path string, busy time.Duration, write bool) string {
	q := url.Values{}
	q.Add("_pragma", fmt.Sprintf("busy_timeout(%d)", busy.Milliseconds()))
	q.Add("_pragma", "foreign_keys(1)")
	q.Add("_pragma", "synchronous(NORMAL)")
	if write {
		q.Add("_pragma", "journal_mode(WAL)")
		q.Set("_txlock", "immediate")
	} else {
		q.Add("_pragma", "query_only(1)")
	}
	return path + "?" + q.Encode()
}

func openPool(ctx context.Context, path string, busy time.Duration, write bool) (*sql.DB, error) {
	kind := "read"
	if write {
		kind = "write"
	}
	pool := sql.OpenDB(&connector{dsn: dsn(path, busy, write), drv: &sqlite.Driver{}})
	if err := pool.PingContext(ctx); err != nil {
		return nil, errors.Join(fmt.Errorf("sqlite: open %s pool on %s: %w", kind, path, translate(err)), pool.Close())
	}
	return pool, nil
}

// Backend returns records.BackendSQLite.
func (db *DB) Backend() string { return records.BackendSQLite }

// Path returns the database file.
func (db *DB) Path() string { return db.path }

// Ping reads the schema through the read pool, which proves the file opens and reads.
func (db *DB) Ping(ctx context.Context) error {
	var n int
	if err := db.read.QueryRowContext(ctx, "SELECT count(*) FROM sqlite_schema").Scan(&n); err != nil {
		return fmt.Errorf("sqlite: ping: %w", translateCtx(ctx, err))
	}
	return nil
}

// Queue returns the job queue kept in this database.
func (db *DB) Queue() jobs.Queue { return db.queue }

// Stats adds up both pools.
func (db *DB) Stats() records.PoolStats {
	w, r := db.write.Stats(), db.read.Stats()
	return records.PoolStats{
		MaxConns:     w.MaxOpenConnections + r.MaxOpenConnections,
		OpenConns:    w.OpenConnections + r.OpenConnections,
		InUse:        w.InUse + r.InUse,
		Idle:         w.Idle + r.Idle,
		WaitCount:    w.WaitCount + r.WaitCount,
		WaitDuration: w.WaitDuration + r.WaitDuration,
	}
}

// Close stops the job queue if it still runs (cancelling running jobs after a short grace) and
// closes both pools.
func (db *DB) Close() error {
	db.closeOnce.Do(func() {
		db.closeErr = errors.Join(db.queue.Close(context.Background()), db.closePools())
	})
	return db.closeErr
}

func (db *DB) closePools() error {
	var errs []error
	for _, p := range []*sql.DB{db.read, db.write} {
		if p != nil {
			errs = append(errs, p.Close())
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("sqlite: close: %w", err)
	}
	return nil
}

// GetMeta returns an installation setting, or records.ErrNotFound.
func (db *DB) GetMeta(ctx context.Context, key string) (string, error) {
	return getMeta(ctx, db.read, key)
}

// InTx runs fn in one IMMEDIATE transaction on the write connection: committed if fn returns nil,
// rolled back if it returns an error or panics. fn must do all its work through tx: the write
// connection is busy until it returns.
func (db *DB) InTx(ctx context.Context, fn func(ctx context.Context, tx records.Tx) error) (err error) {
	sqlTx, err := db.write.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("sqlite: begin: %w", translateCtx(ctx, err))
	}
	committed := false
	defer func() {
		if committed {
			return
		}
		if rbErr := sqlTx.Rollback(); rbErr != nil && !errors.Is(rbErr, sql.ErrTxDone) && err != nil {
			err = errors.Join(err, fmt.Errorf("sqlite: rollback: %w", rbErr))
		}
	}()
	if err := fn(ctx, &tx{tx: sqlTx, queue: db.queue}); err != nil {
		return err
	}
	if err := sqlTx.Commit(); err != nil {
		return fmt.Errorf("sqlite: commit: %w", translateCtx(ctx, err))
	}
	committed = true
	return nil
}

// querier is what the record queries need: a pool or a transaction.
type querier interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
}

func getMeta(ctx context.Context, q querier, key string) (string, error) {
	var v string
	if err := q.QueryRowContext(ctx, "SELECT value FROM meta WHERE key = ?", key).Scan(&v); err != nil {
		return "", fmt.Errorf("sqlite: get meta %q: %w", key, translateCtx(ctx, err))
	}
	return v, nil
}

// tx is a records.Tx over one *sql.Tx.
type tx struct {
	tx    *sql.Tx
	queue *jobs.Runner[*sql.Tx]
}

func (t *tx) Enqueue(ctx context.Context, args jobs.Args, opts *jobs.InsertOpts) error {
	if err := t.queue.InsertTx(ctx, t.tx, args, opts); err != nil {
		return fmt.Errorf("sqlite: %w", translateCtx(ctx, err))
	}
	return nil
}

func (t *tx) GetMeta(ctx context.Context, key string) (string, error) {
	return getMeta(ctx, t.tx, key)
}

func (t *tx) PutMeta(ctx context.Context, key, value string) error {
	const q = `INSERT INTO meta (key, value, updated_at) VALUES (?, ?, strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
		ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at`
	if _, err := t.tx.ExecContext(ctx, q, key, value); err != nil {
		return fmt.Errorf("sqlite: put meta %q: %w", key, translateCtx(ctx, err))
	}
	return nil
}

func (t *tx) InsertMeta(ctx context.Context, key, value string) error {
	if _, err := t.tx.ExecContext(ctx, "INSERT INTO meta (key, value) VALUES (?, ?)", key, value); err != nil {
		return fmt.Errorf("sqlite: insert meta %q: %w", key, translateCtx(ctx, err))
	}
	return nil
}
