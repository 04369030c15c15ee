package postgres

import (
	"context"
	"embed"
	"fmt"
	"hash/fnv"
	"io/fs"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"

	"github.com/gatehouse/gatehouse/internal/jobs"
	"github.com/gatehouse/gatehouse/internal/records"
)

//go:embed migrations/*.sql
var embeddedMigrations embed.FS

// unlockTimeout bounds releasing the migration lock, which runs even when the caller's context has
// ended.
const unlockTimeout = 5 * time.Second

// migration is a short-lived pool for schema changes: the serving pool's connections carry
// statement_timeout, which a long index build must not hit. Its first connection holds the
// session-level advisory lock that makes nodes starting at once take turns.
type migration struct {
	pool *pgxpool.Pool
	lock *pgxpool.Conn
	key  int64
}

// beginMigration opens the migration pool and waits (until ctx ends) for the advisory lock of
// this database and schema.
func (db *DB) beginMigration(ctx context.Context) (*migration, error) {
	cfg := db.pool.Config()
	cfg.MinConns = 0
	cfg.MaxConns = 3 // the lock, goose's connection, River's
	cfg.ConnConfig.RuntimeParams["statement_timeout"] = "0"
	cfg.ConnConfig.RuntimeParams["lock_timeout"] = "0"
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("postgres: migration pool: %w", translateCtx(ctx, err))
	}
	m := &migration{pool: pool, key: lockKey(db.schema)}
	if m.lock, err = pool.Acquire(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("postgres: migration lock: %w", translateCtx(ctx, err))
	}
	if _, err := m.lock.Exec(ctx, "SELECT pg_advisory_lock($1)", m.key); err != nil {
		m.lock.Release()
		pool.Close()
		return nil, fmt.Errorf("postgres: wait for migration lock: %w", translateCtx(ctx, err))
	}
	return m, nil
}

// end releases the lock and closes the pool.
func (m *migration) end(ctx context.Context) {
	uctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), unlockTimeout)
	defer cancel()
	if _, err := m.lock.Exec(uctx, "SELECT pg_advisory_unlock($1)", m.key); err != nil {
		// Closing the session releases the lock anyway.
		_ = m.lock.Conn().Close(uctx)
	}
	m.lock.Release()
	m.pool.Close()
}

// lockKey derives the advisory lock key from the schema, so that nodes sharing a schema exclude
// each other while test schemas in one database do not.
func lockKey(schema string) int64 {
	h := fnv.New64a()
	h.Write([]byte("gatehouse migrate\x00" + schema))
	return int64(h.Sum64())
}

// goose runs fn with a goose provider over the migration pool.
func (m *migration) goose(fn func(p *goose.Provider) error) error {
	fsys, err := fs.Sub(embeddedMigrations, "migrations")
	if err != nil {
		return fmt.Errorf("postgres: migrations: %w", err)
	}
	sqlDB := stdlib.OpenDBFromPool(m.pool)
	defer sqlDB.Close() // leaves the pool open
	p, err := goose.NewProvider(goose.DialectPostgres, sqlDB, fsys, goose.WithDisableGlobalRegistry(true))
	if err != nil {
		return fmt.Errorf("postgres: migrations: %w", err)
	}
	return fn(p)
}

// Migrate applies gatehouse's pending migrations (goose), then River's (rivermigrate), holding a
// session-level advisory lock so that two nodes starting at once take turns; the second finds
// nothing left to do.
func (db *DB) Migrate(ctx context.Context) error {
	m, err := db.beginMigration(ctx)
	if err != nil {
		return err
	}
	defer m.end(ctx)
	err = m.goose(func(p *goose.Provider) error {
		results, err := p.Up(ctx)
		for _, r := range results {
			db.logger.InfoContext(ctx, "applied migration", "version", r.Source.Version, "name", migrationName(r.Source.Path))
		}
		return err
	})
	if err != nil {
		return fmt.Errorf("postgres: migrate: %w", translateCtx(ctx, err))
	}
	if err := jobs.Migrate(ctx, riverpgxv5.New(m.pool), db.schema, db.logger); err != nil {
		return fmt.Errorf("postgres: migrate: %w", translateCtx(ctx, err))
	}
	return nil
}

// MigrationStatus lists gatehouse's migrations, then River's (named "river: ...", numbered in
// River's own sequence), each with the time it was applied or zero when pending. It holds the
// migration lock, since reading the status creates goose's version table on a new database.
func (db *DB) MigrationStatus(ctx context.Context) ([]records.Migration, error) {
	m, err := db.beginMigration(ctx)
	if err != nil {
		return nil, err
	}
	defer m.end(ctx)
	var out []records.Migration
	err = m.goose(func(p *goose.Provider) error {
		statuses, err := p.Status(ctx)
		for _, s := range statuses {
			out = append(out, records.Migration{
				Version:   s.Source.Version,
				Name:      migrationName(s.Source.Path),
				AppliedAt: s.AppliedAt,
			})
		}
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("postgres: migration status: %w", translateCtx(ctx, err))
	}
	river, err := db.riverStatus(ctx, m.lock.Conn())
	if err != nil {
		return nil, err
	}
	return append(out, river...), nil
}

func (db *DB) riverStatus(ctx context.Context, conn *pgx.Conn) ([]records.Migration, error) {
	versions, err := db.queue.SchemaVersions()
	if err != nil {
		return nil, fmt.Errorf("postgres: migration status: %w", err)
	}
	table := pgx.Identifier{"river_migration"}
	if db.schema != "" {
		table = pgx.Identifier{db.schema, "river_migration"}
	}
	applied := map[int64]time.Time{}
	var exists bool
	if err := conn.QueryRow(ctx, "SELECT to_regclass($1) IS NOT NULL", table.Sanitize()).Scan(&exists); err != nil {
		return nil, fmt.Errorf("postgres: river migration status: %w", translateCtx(ctx, err))
	}
	if exists {
		rows, err := conn.Query(ctx, "SELECT version, created_at FROM "+table.Sanitize())
		if err != nil {
			return nil, fmt.Errorf("postgres: river migration status: %w", translateCtx(ctx, err))
		}
		var v int64
		var at time.Time
		_, err = pgx.ForEachRow(rows, []any{&v, &at}, func() error {
			applied[v] = at
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("postgres: river migration status: %w", translateCtx(ctx, err))
		}
	}
	out := make([]records.Migration, 0, len(versions))
	for _, v := range versions {
		out = append(out, records.Migration{
			Version:   int64(v.Version),
			Name:      "river: " + v.Name,
			AppliedAt: applied[int64(v.Version)],
		})
	}
	return out, nil
}

// migrationName turns "00001_meta.sql" into "meta".
func migrationName(path string) string {
	base := strings.TrimSuffix(path[strings.LastIndex(path, "/")+1:], ".sql")
	if _, name, ok := strings.Cut(base, "_"); ok {
		return name
	}
	return base
}
