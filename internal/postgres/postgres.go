// Package postgres is the production records store: a pgx connection pool to PostgreSQL holding
// the records and the durable job queue (River). It passes the same contract suite
// (internal/storetest) as the embedded SQLite store.
package postgres

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"strconv"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"

	"github.com/gatehouse/gatehouse/internal/jobs"
	"github.com/gatehouse/gatehouse/internal/records"
)

// DefaultConnectTimeout bounds connecting when Options.ConnectTimeout is zero.
const DefaultConnectTimeout = 5 * time.Second

// Options configures Open. Zero values keep pgx's defaults (or the URL's pool_* parameters).
type Options struct {
	URL              string // postgres:// or postgresql://
	MaxConns         int32
	MinConns         int32
	MaxConnIdleTime  time.Duration
	MaxConnLifetime  time.Duration
	ConnectTimeout   time.Duration // bounds each dial and the first ping of Open
	StatementTimeout time.Duration // set as statement_timeout on every connection; 0 keeps the server's
	// Schema holds gatehouse's and River's tables: created if missing and made the search_path of
	// every connection. Lower-case letters, digits and underscores only (River's rule, unquoted).
	// When empty, a URL whose search_path parameter is one such name selects that schema; otherwise
	// the server's search_path applies.
	Schema string
	Logger *slog.Logger
	// Jobs configures the job queue; its Logger defaults to Logger.
	Jobs jobs.Config
	// Workers holds the job handlers this node runs; nil for a process that only enqueues.
	Workers *jobs.Workers
}

// DB is the PostgreSQL records store.
type DB struct {
	pool   *pgxpool.Pool
	schema string
	queue  *jobs.Runner[pgx.Tx]
	logger *slog.Logger

	closeOnce sync.Once
	closeErr  error
}

var (
	_ records.Store    = (*DB)(nil)
	_ records.Migrator = (*DB)(nil)
)

// schemaRE is River's rule for schema names, restricted to lower case so that the name needs no
// quoting to mean the same thing everywhere.
var schemaRE = regexp.MustCompile(`^[a-z_][a-z0-9_]{0,39}$`)

// Open connects to PostgreSQL and checks, within ConnectTimeout, that the server answers: an
// unreachable server is an error here rather than on the first request. It does not migrate.
func Open(ctx context.Context, opts Options) (*DB, error) {
	cfg, schema, err := poolConfig(opts)
	if err != nil {
		return nil, err
	}
	opts.Schema = schema
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Jobs.Logger == nil {
		opts.Jobs.Logger = opts.Logger
	}
	where := describe(cfg.ConnConfig)
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("postgres: connect to %s: %w", where, translate(err))
	}
	pingCtx, cancel := context.WithTimeout(ctx, cfg.ConnConfig.ConnectTimeout)
	defer cancel()
	if err := pool.Ping(pingCtx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("postgres: connect to %s: %w", where, translateCtx(pingCtx, err))
	}
	if opts.Schema != "" {
		if err := createSchema(pingCtx, pool, opts.Schema); err != nil {
			pool.Close()
			return nil, err
		}
	}
	db := &DB{pool: pool, schema: opts.Schema, logger: opts.Logger}
	db.queue, err = jobs.NewRunner(riverpgxv5.New(pool), opts.Workers, opts.Jobs, jobs.RunnerOptions{
		Schema:         opts.Schema,
		TranslateError: translate,
	})
	if err != nil {
		pool.Close()
		return nil, fmt.Errorf("postgres: %w", err)
	}
	return db, nil
}

// poolConfig parses the URL and applies the options over it. It returns the schema to use.
func poolConfig(opts Options) (*pgxpool.Config, string, error) {
	if opts.Schema != "" && !schemaRE.MatchString(opts.Schema) {
		return nil, "", fmt.Errorf("postgres: schema %q: want lower-case letters, digits and underscores, at most 40", opts.Schema)
	}
	cfg, err := pgxpool.ParseConfig(opts.URL)
	if err != nil {
		// pgx's parse errors never include the password.
		return nil, "", fmt.Errorf("postgres: parse database URL: %w", err)
	}
	if opts.MaxConns > 0 {
		cfg.MaxConns = opts.MaxConns
	}
	if opts.MinConns > 0 {
		cfg.MinConns = min(opts.MinConns, cfg.MaxConns)
	}
	if opts.MaxConnIdleTime > 0 {
		cfg.MaxConnIdleTime = opts.MaxConnIdleTime
	}
	if opts.MaxConnLifetime > 0 {
		cfg.MaxConnLifetime = opts.MaxConnLifetime
	}
	switch {
	case opts.ConnectTimeout > 0:
		cfg.ConnConfig.ConnectTimeout = opts.ConnectTimeout
	case cfg.ConnConfig.ConnectTimeout <= 0:
		cfg.ConnConfig.ConnectTimeout = DefaultConnectTimeout
	}
	if cfg.ConnConfig.RuntimeParams == nil {
		cfg.ConnConfig.RuntimeParams = map[string]string{}
	}
	if opts.StatementTimeout > 0 {
		cfg.ConnConfig.RuntimeParams["statement_timeout"] = strconv.FormatInt(max(opts.StatementTimeout.Milliseconds(), 1), 10)
	}
	if sp := cfg.ConnConfig.RuntimeParams["search_path"]; opts.Schema == "" && schemaRE.MatchString(sp) {
		opts.Schema = sp
	}
	if opts.Schema != "" {
		cfg.ConnConfig.RuntimeParams["search_path"] = opts.Schema
	}
	return cfg, opts.Schema, nil
}

// describe names the server for error messages, without credentials.
func describe(c *pgx.ConnConfig) string {
	return fmt.Sprintf("%s:%d/%s", c.Host, c.Port, c.Database)
}

func createSchema(ctx context.Context, pool *pgxpool.Pool, schema string) error {
	_, err := pool.Exec(ctx, "CREATE SCHEMA IF NOT EXISTS "+pgx.Identifier{schema}.Sanitize())
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && (pgErr.Code == codeUniqueViolation || pgErr.Code == "42P06") {
		err = nil // another node created it at the same moment
	}
	if err != nil {
		return fmt.Errorf("postgres: create schema %s: %w", schema, translateCtx(ctx, err))
	}
	return nil
}

// Backend returns records.BackendPostgres.
func (db *DB) Backend() string { return records.BackendPostgres }

// Ping checks that the server answers a query.
func (db *DB) Ping(ctx context.Context) error {
	if err := db.pool.Ping(ctx); err != nil {
		return fmt.Errorf("postgres: ping: %w", translateCtx(ctx, err))
	}
	return nil
}

// Queue returns the job queue kept in this database.
func (db *DB) Queue() jobs.Queue { return db.queue }

// Stats reports the pool.
func (db *DB) Stats() records.PoolStats {
	s := db.pool.Stat()
	return records.PoolStats{
		MaxConns:     int(s.MaxConns()),
		OpenConns:    int(s.TotalConns()),
		InUse:        int(s.AcquiredConns()),
		Idle:         int(s.IdleConns()),
		WaitCount:    s.EmptyAcquireCount(),
		WaitDuration: s.EmptyAcquireWaitTime(),
	}
}

// Close stops the job queue if it still runs (cancelling running jobs after a short grace) and
// closes the pool.
func (db *DB) Close() error {
	db.closeOnce.Do(func() {
		db.closeErr = db.queue.Close(context.Background())
		db.pool.Close()
	})
	return db.closeErr
}

// GetMeta returns an installation setting, or records.ErrNotFound.
func (db *DB) GetMeta(ctx context.Context, key string) (string, error) {
	return getMeta(ctx, db.pool, key)
}

// rollbackTimeout bounds the rollback of a failed transaction, which runs even when the caller's
// context has ended so that the connection goes back to the pool clean.
const rollbackTimeout = 5 * time.Second

// InTx runs fn in one transaction (read committed): committed if fn returns nil, rolled back if it
// returns an error or panics.
func (db *DB) InTx(ctx context.Context, fn func(ctx context.Context, tx records.Tx) error) (err error) {
	pgxTx, err := db.pool.Begin(ctx)
	if err != nil {
		return fmt.Errorf("postgres: begin: %w", translateCtx(ctx, err))
	}
	committed := false
	defer func() {
		if committed {
			return
		}
		rbCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), rollbackTimeout)
		defer cancel()
		if rbErr := pgxTx.Rollback(rbCtx); rbErr != nil && !errors.Is(rbErr, pgx.ErrTxClosed) && err != nil {
			err = errors.Join(err, fmt.Errorf("postgres: rollback: %w", rbErr))
		}
	}()
	if err := fn(ctx, &tx{tx: pgxTx, queue: db.queue}); err != nil {
		return err
	}
	if err := pgxTx.Commit(ctx); err != nil {
		return fmt.Errorf("postgres: commit: %w", translateCtx(ctx, err))
	}
	committed = true
	return nil
}

// querier is what the record queries need: the pool or a transaction.
type querier interface {
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
}

func getMeta(ctx context.Context, q querier, key string) (string, error) {
	var v string
	if err := q.QueryRow(ctx, "SELECT value FROM meta WHERE key = $1", key).Scan(&v); err != nil {
		return "", fmt.Errorf("postgres: get meta %q: %w", key, translateCtx(ctx, err))
	}
	return v, nil
}

// tx is a records.Tx over one pgx.Tx.
type tx struct {
	tx    pgx.Tx
	queue *jobs.Runner[pgx.Tx]
}

func (t *tx) Enqueue(ctx context.Context, args jobs.Args, opts *jobs.InsertOpts) error {
	if err := t.queue.InsertTx(ctx, t.tx, args, opts); err != nil {
		return fmt.Errorf("postgres: %w", translateCtx(ctx, err))
	}
	return nil
}

func (t *tx) GetMeta(ctx context.Context, key string) (string, error) {
	return getMeta(ctx, t.tx, key)
}

func (t *tx) PutMeta(ctx context.Context, key, value string) error {
	const q = `INSERT INTO meta (key, value, updated_at) VALUES ($1, $2, now())
		ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value, updated_at = EXCLUDED.updated_at`
	if _, err := t.tx.Exec(ctx, q, key, value); err != nil {
		return fmt.Errorf("postgres: put meta %q: %w", key, translateCtx(ctx, err))
	}
	return nil
}

// InsertMeta inserts a setting. A conflict aborts the transaction, as any error does on PostgreSQL.
func (t *tx) InsertMeta(ctx context.Context, key, value string) error {
	if _, err := t.tx.Exec(ctx, "INSERT INTO meta (key, value) VALUES ($1, $2)", key, value); err != nil {
		return fmt.Errorf("postgres: insert meta %q: %w", key, translateCtx(ctx, err))
	}
	return nil
}
