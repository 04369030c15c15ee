// Package testdb opens real, throwaway stores for the tests of the packages above the adapters
// (account, session, mail, sms): a migrated SQLite file in a temporary directory, a migrated
// PostgreSQL schema of its own, a Redis key prefix of its own. Each is removed when the test ends.
// The PostgreSQL and Redis ones skip the test unless GATEHOUSE_TEST_POSTGRES_URL and
// GATEHOUSE_TEST_REDIS_URL name the servers (CI always sets both). Only tests import it.
package testdb

import (
	"context"
	"crypto/rand"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/gatehouse/gatehouse/internal/jobs"
	"github.com/gatehouse/gatehouse/internal/postgres"
	"github.com/gatehouse/gatehouse/internal/redis"
	"github.com/gatehouse/gatehouse/internal/sqlite"
)

// The environment variables that name the test servers.
const (
	PostgresURLVar = "GATEHOUSE_TEST_POSTGRES_URL"
	RedisURLVar    = "GATEHOUSE_TEST_REDIS_URL"
)

// migrateTimeout bounds migrating a new database.
const migrateTimeout = 30 * time.Second

// SQLite opens a migrated SQLite store in a new temporary directory (opts.Path is set to a file in
// it) and returns it with the directory. It is closed when the test ends.
func SQLite(t testing.TB, opts sqlite.Options) (*sqlite.DB, string) {
	t.Helper()
	dir := t.TempDir()
	opts.Path = filepath.Join(dir, "gatehouse.db")
	db, err := sqlite.Open(t.Context(), opts)
	if err != nil {
		t.Fatalf("sqlite.Open: %v", err)
	}
	t.Cleanup(func() {
		if err := db.Close(); err != nil {
			t.Errorf("sqlite: Close: %v", err)
		}
	})
	migrate(t, db)
	return db, dir
}

// Postgres opens a migrated PostgreSQL store in a new schema (opts.URL and opts.Schema are set; a
// zero opts.MaxConns becomes 4) and returns it with the schema's name. The store is closed and the
// schema dropped when the test ends. Without GATEHOUSE_TEST_POSTGRES_URL the test is skipped.
func Postgres(t testing.TB, opts postgres.Options) (*postgres.DB, string) {
	t.Helper()
	url := os.Getenv(PostgresURLVar)
	if url == "" {
		t.Skip("PostgreSQL tests skipped: set " + PostgresURLVar + " (e.g. postgres://postgres@127.0.0.1:5432/test?sslmode=disable) to run them")
	}
	schema := "gh_test_" + suffix()
	t.Cleanup(func() { dropSchema(t, url, schema) })
	opts.URL, opts.Schema = url, schema
	if opts.MaxConns == 0 {
		opts.MaxConns = 4
	}
	db, err := postgres.Open(t.Context(), opts)
	if err != nil {
		t.Fatalf("postgres.Open: %v", err)
	}
	t.Cleanup(func() {
		if err := db.Close(); err != nil {
			t.Errorf("postgres: Close: %v", err)
		}
	})
	migrate(t, db)
	return db, schema
}

// Redis opens a Redis store with a key prefix of its own; its keys are deleted and it is closed
// when the test ends (the test may close it first). Without GATEHOUSE_TEST_REDIS_URL the test is
// skipped.
func Redis(t testing.TB) *redis.Store {
	t.Helper()
	url := os.Getenv(RedisURLVar)
	if url == "" {
		t.Skip("Redis tests skipped: set " + RedisURLVar + " (e.g. redis://127.0.0.1:6379/0) to run them")
	}
	s, err := redis.New(t.Context(), redis.Options{URL: url, KeyPrefix: "gatehouse-test:" + suffix() + ":"})
	if err != nil {
		t.Fatalf("redis.New: %v", err)
	}
	t.Cleanup(func() {
		deletePrefix(t, s)
		_ = s.Close()
	})
	return s
}

// StartQueue starts q's workers and stops them when the test ends (before the store closes:
// cleanups run last-registered first).
func StartQueue(t testing.TB, q jobs.Queue) {
	t.Helper()
	if err := q.Start(context.WithoutCancel(t.Context())); err != nil {
		t.Fatalf("start queue: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := q.Stop(ctx); err != nil {
			t.Errorf("stop queue: %v", err)
		}
	})
}

func migrate(t testing.TB, db interface{ Migrate(context.Context) error }) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), migrateTimeout)
	defer cancel()
	if err := db.Migrate(ctx); err != nil {
		t.Fatalf("Migrate: %v", err)
	}
}

// suffix is a new lower-case name part, unique across test processes.
func suffix() string { return strings.ToLower(rand.Text()[:16]) }

func dropSchema(t testing.TB, url, schema string) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Errorf("drop schema %s: %v", schema, err)
		return
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "DROP SCHEMA IF EXISTS "+pgx.Identifier{schema}.Sanitize()+" CASCADE"); err != nil {
		t.Errorf("drop schema %s: %v", schema, err)
	}
}

// deletePrefix removes the test's keys (the store may already be closed by the test).
func deletePrefix(t testing.TB, s *redis.Store) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var keys []string
	iter := s.Client().Scan(ctx, 0, s.KeyPrefix()+"*", 500).Iterator()
	for iter.Next(ctx) {
		keys = append(keys, iter.Val())
	}
	if iter.Err() != nil {
		return // closed by the test: nothing more to do through it
	}
	if len(keys) > 0 {
		if err := s.Client().Del(ctx, keys...).Err(); err != nil {
			t.Errorf("clean up %s: %v", s.KeyPrefix(), err)
		}
	}
}
