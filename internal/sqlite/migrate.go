package sqlite

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"
	"time"

	"github.com/pressly/goose/v3"
	"golang.org/x/sys/unix"

	"github.com/gatehouse/gatehouse/internal/records"
)

//go:embed migrations/*.sql
var embeddedMigrations embed.FS

// Migrate applies gatehouse's pending migrations (goose), then River's (rivermigrate), holding an
// exclusive flock on a lock file beside the database so that two processes starting at once take
// turns; the second finds nothing left to do.
func (db *DB) Migrate(ctx context.Context) error {
	unlock, err := db.lockMigrations(ctx)
	if err != nil {
		return err
	}
	defer unlock()
	p, err := db.goose()
	if err != nil {
		return err
	}
	results, err := p.Up(ctx)
	if err != nil {
		return fmt.Errorf("sqlite: migrate: %w", translate(err))
	}
	for _, r := range results {
		db.logger.InfoContext(ctx, "applied migration", "version", r.Source.Version, "name", migrationName(r.Source.Path))
	}
	if err := db.queue.Migrate(ctx); err != nil {
		return fmt.Errorf("sqlite: migrate: %w", translate(err))
	}
	return nil
}

// MigrationStatus lists gatehouse's migrations, then River's (named "river: ...", numbered in
// River's own sequence), each with the time it was applied or zero when pending. It holds the
// migration lock, since reading the status creates goose's version table on a new database.
func (db *DB) MigrationStatus(ctx context.Context) ([]records.Migration, error) {
	unlock, err := db.lockMigrations(ctx)
	if err != nil {
		return nil, err
	}
	defer unlock()
	p, err := db.goose()
	if err != nil {
		return nil, err
	}
	statuses, err := p.Status(ctx)
	if err != nil {
		return nil, fmt.Errorf("sqlite: migration status: %w", translate(err))
	}
	var out []records.Migration
	for _, s := range statuses {
		out = append(out, records.Migration{
			Version:   s.Source.Version,
			Name:      migrationName(s.Source.Path),
			AppliedAt: s.AppliedAt,
		})
	}
	river, err := db.riverStatus(ctx)
	if err != nil {
		return nil, err
	}
	return append(out, river...), nil
}

func (db *DB) riverStatus(ctx context.Context) ([]records.Migration, error) {
	versions, err := db.queue.SchemaVersions()
	if err != nil {
		return nil, fmt.Errorf("sqlite: migration status: %w", err)
	}
	applied := map[int64]time.Time{}
	var exists int
	if err := db.read.QueryRowContext(ctx,
		"SELECT count(*) FROM sqlite_schema WHERE type = 'table' AND name = 'river_migration'").Scan(&exists); err != nil {
		return nil, fmt.Errorf("sqlite: river migration status: %w", translate(err))
	}
	if exists > 0 {
		rows, err := db.read.QueryContext(ctx, "SELECT version, created_at FROM river_migration")
		if err != nil {
			return nil, fmt.Errorf("sqlite: river migration status: %w", translate(err))
		}
		defer rows.Close()
		for rows.Next() {
			var v int64
			var at flexTime
			if err := rows.Scan(&v, &at); err != nil {
				return nil, fmt.Errorf("sqlite: river migration status: %w", translate(err))
			}
			applied[v] = at.t
		}
		if err := rows.Err(); err != nil {
			return nil, fmt.Errorf("sqlite: river migration status: %w", translate(err))
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

// flexTime scans the timestamps River's SQLite tables hold, which the driver may return as
// time.Time or as text depending on how they were written.
type flexTime struct{ t time.Time }

func (f *flexTime) Scan(src any) error {
	switch v := src.(type) {
	case time.Time:
		f.t = v.UTC()
		return nil
	case string:
		return f.parse(v)
	case []byte:
		return f.parse(string(v))
	case int64:
		f.t = time.Unix(v, 0).UTC()
		return nil
	case nil:
		f.t = time.Time{}
		return nil
	}
	return fmt.Errorf("scan %T as a time", src)
}

func (f *flexTime) parse(s string) error {
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02 15:04:05.999999999", "2006-01-02 15:04:05.999999999-07:00"} {
		if t, err := time.Parse(layout, s); err == nil {
			f.t = t.UTC()
			return nil
		}
	}
	return fmt.Errorf("parse time %q", s)
}

// goose returns a provider over the write pool. Each migration runs in its own transaction on one
// connection, so the single-connection pool does not deadlock.
func (db *DB) goose() (*goose.Provider, error) {
	fsys, err := fs.Sub(embeddedMigrations, "migrations")
	if err != nil {
		return nil, fmt.Errorf("sqlite: migrations: %w", err)
	}
	p, err := goose.NewProvider(goose.DialectSQLite3, db.write, fsys, goose.WithDisableGlobalRegistry(true))
	if err != nil {
		return nil, fmt.Errorf("sqlite: migrations: %w", err)
	}
	return p, nil
}

// migrationName turns "00001_meta.sql" into "meta".
func migrationName(path string) string {
	base := strings.TrimSuffix(path[strings.LastIndex(path, "/")+1:], ".sql")
	if _, name, ok := strings.Cut(base, "_"); ok {
		return name
	}
	return base
}

// lockMigrations takes an exclusive flock on <path>.migrate.lock. Each call opens the file anew,
// so two calls in one process exclude each other as two processes do. It waits, polling, until the
// lock is free or ctx ends; the lock goes with the process if it dies.
func (db *DB) lockMigrations(ctx context.Context) (unlock func(), err error) {
	path := db.path + ".migrate.lock"
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("sqlite: migration lock: %w", err)
	}
	fd := int(f.Fd())
	wait := 2 * time.Millisecond
	for {
		err := unix.Flock(fd, unix.LOCK_EX|unix.LOCK_NB)
		if err == nil {
			return func() {
				_ = unix.Flock(fd, unix.LOCK_UN)
				_ = f.Close()
			}, nil
		}
		if !errors.Is(err, unix.EWOULDBLOCK) && !errors.Is(err, unix.EINTR) {
			_ = f.Close()
			return nil, fmt.Errorf("sqlite: migration lock %s: %w", path, err)
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			_ = f.Close()
			return nil, fmt.Errorf("sqlite: wait for migration lock %s: %w", path, translate(ctx.Err()))
		case <-t.C:
		}
		wait = min(wait*2, 100*time.Millisecond)
	}
}
