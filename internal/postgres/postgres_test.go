package postgres

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/gatehouse/gatehouse/internal/records"
	"github.com/gatehouse/gatehouse/internal/storetest"
)

// testURL returns the test server's URL, or skips the test.
func testURL(t *testing.T) string {
	t.Helper()
	url := os.Getenv("GATEHOUSE_TEST_POSTGRES_URL")
	if url == "" {
		t.Skip("set GATEHOUSE_TEST_POSTGRES_URL (e.g. postgres://postgres@127.0.0.1:5432/test?sslmode=disable) to run the PostgreSQL tests")
	}
	return url
}

// newSchema makes a fresh gh_test_<random> schema name, dropped with everything in it when the
// test ends.
func newSchema(t *testing.T, url string) string {
	t.Helper()
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	schema := "gh_test_" + hex.EncodeToString(b)
	t.Cleanup(func() {
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
	})
	return schema
}

func open(t *testing.T, opts Options) *DB {
	t.Helper()
	if opts.MaxConns == 0 {
		opts.MaxConns = 4
	}
	db, err := Open(t.Context(), opts)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() {
		if err := db.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return db
}

// newDatabase gives each subtest its own schema.
func newDatabase(t *testing.T) storetest.RecordsOpener {
	url := testURL(t)
	schema := newSchema(t, url)
	return func(t *testing.T, o storetest.RecordsOptions) storetest.RecordsStore {
		t.Helper()
		return open(t, Options{URL: url, Schema: schema, Jobs: o.Jobs, Workers: o.Workers})
	}
}

func TestRecords(t *testing.T) { storetest.RunRecords(t, newDatabase) }

func TestQueue(t *testing.T) { storetest.RunQueue(t, newDatabase) }

func openMigrated(t *testing.T, opts Options) *DB {
	t.Helper()
	db := open(t, opts)
	if err := db.Migrate(t.Context()); err != nil {
		t.Fatalf("Migrate: %v", err)
	}
	return db
}

func TestStatementTimeout(t *testing.T) {
	url := testURL(t)
	db := open(t, Options{URL: url, Schema: newSchema(t, url), StatementTimeout: 50 * time.Millisecond})
	var setting string
	if err := db.pool.QueryRow(t.Context(), "SHOW statement_timeout").Scan(&setting); err != nil {
		t.Fatal(err)
	}
	if setting != "50ms" {
		t.Errorf("statement_timeout = %q, want 50ms", setting)
	}
	_, err := db.pool.Exec(t.Context(), "SELECT pg_sleep(5)")
	if err := translate(err); !errors.Is(err, records.ErrTimeout) {
		t.Errorf("statement past statement_timeout: err = %v, want ErrTimeout", err)
	}
	// Migrations run without the statement timeout.
	if err := db.Migrate(t.Context()); err != nil {
		t.Errorf("Migrate with a short statement timeout: %v", err)
	}
}

func TestSearchPath(t *testing.T) {
	url := testURL(t)
	schema := newSchema(t, url)
	db := openMigrated(t, Options{URL: url, Schema: schema})
	var current string
	if err := db.pool.QueryRow(t.Context(), "SELECT current_schema()").Scan(&current); err != nil {
		t.Fatal(err)
	}
	if current != schema {
		t.Errorf("current_schema = %q, want %q", current, schema)
	}
	for _, table := range []string{"meta", "goose_db_version", "river_job", "river_migration"} {
		var n int
		err := db.pool.QueryRow(t.Context(),
			"SELECT count(*) FROM pg_tables WHERE schemaname = $1 AND tablename = $2", schema, table).Scan(&n)
		if err != nil || n != 1 {
			t.Errorf("table %s in schema %s: count %d, err %v", table, schema, n, err)
		}
	}
}

func TestForeignKeyConflict(t *testing.T) {
	url := testURL(t)
	db := openMigrated(t, Options{URL: url, Schema: newSchema(t, url)})
	ctx := t.Context()
	for _, q := range []string{
		"CREATE TABLE parent (id bigint PRIMARY KEY)",
		"CREATE TABLE child (id bigint PRIMARY KEY, parent_id bigint NOT NULL REFERENCES parent (id))",
	} {
		if _, err := db.pool.Exec(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	_, err := db.pool.Exec(ctx, "INSERT INTO child (id, parent_id) VALUES (1, 42)")
	if err := translate(err); !errors.Is(err, records.ErrConflict) {
		t.Errorf("dangling foreign key: err = %v, want ErrConflict", err)
	}
	_, err = db.pool.Exec(ctx, "INSERT INTO child (id, parent_id) VALUES (1, NULL)")
	if err == nil {
		t.Fatal("NOT NULL violation succeeded")
	}
	if err := translate(err); errors.Is(err, records.ErrConflict) {
		t.Errorf("NOT NULL violation translated to conflict: %v", err)
	}
}

func TestOpenUnreachable(t *testing.T) {
	// A port nothing listens on: refused at once.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	_, err = Open(t.Context(), Options{URL: "postgres://gatehouse:s3cret@" + addr + "/db?sslmode=disable", ConnectTimeout: time.Second})
	if err == nil {
		t.Fatal("Open on a closed port succeeded")
	}
	if !strings.Contains(err.Error(), addr) || strings.Contains(err.Error(), "s3cret") {
		t.Errorf("error %q should name the server and not the password", err)
	}
}

func TestOpenConnectTimeout(t *testing.T) {
	// A server that accepts and never answers: Open gives up after ConnectTimeout.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		var held []net.Conn
		defer func() {
			for _, c := range held {
				c.Close()
			}
		}()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			held = append(held, c)
		}
	}()
	_, err = Open(t.Context(), Options{URL: "postgres://u@" + ln.Addr().String() + "/db?sslmode=disable", ConnectTimeout: 100 * time.Millisecond})
	if !errors.Is(err, records.ErrTimeout) {
		t.Errorf("Open on a silent server: err = %v, want ErrTimeout", err)
	}
}

func TestOptions(t *testing.T) {
	for _, tc := range []struct {
		name       string
		opts       Options
		ok         bool
		wantSchema string
		wantPath   string
	}{
		{"bad URL", Options{URL: "postgres://%zz"}, false, "", ""},
		{"schema with a quote", Options{URL: "postgres://h/db", Schema: `a"b`}, false, "", ""},
		{"upper-case schema", Options{URL: "postgres://h/db", Schema: "Gatehouse"}, false, "", ""},
		{"plain schema", Options{URL: "postgres://h/db", Schema: "gatehouse"}, true, "gatehouse", "gatehouse"},
		{"no schema", Options{URL: "postgres://h/db"}, true, "", ""},
		{"schema from the URL", Options{URL: "postgres://h/db?search_path=auth"}, true, "auth", "auth"},
		{"option wins over the URL", Options{URL: "postgres://h/db?search_path=auth", Schema: "other"}, true, "other", "other"},
		{"URL search path list kept as is", Options{URL: "postgres://h/db?search_path=a,public"}, true, "", "a,public"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg, schema, err := poolConfig(tc.opts)
			if (err == nil) != tc.ok {
				t.Fatalf("poolConfig: err = %v, want ok=%v", err, tc.ok)
			}
			if err != nil {
				return
			}
			if schema != tc.wantSchema || cfg.ConnConfig.RuntimeParams["search_path"] != tc.wantPath {
				t.Errorf("schema %q, search_path %q; want %q, %q", schema, cfg.ConnConfig.RuntimeParams["search_path"], tc.wantSchema, tc.wantPath)
			}
		})
	}
	cfg, _, err := poolConfig(Options{URL: "postgres://h/db", MaxConns: 7, MinConns: 9, StatementTimeout: 1500 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.MaxConns != 7 || cfg.MinConns != 7 || cfg.ConnConfig.RuntimeParams["statement_timeout"] != "1500" ||
		cfg.ConnConfig.ConnectTimeout != DefaultConnectTimeout {
		t.Errorf("config = max %d min %d statement_timeout %q connect %v", cfg.MaxConns, cfg.MinConns,
			cfg.ConnConfig.RuntimeParams["statement_timeout"], cfg.ConnConfig.ConnectTimeout)
	}
}

func TestLockKey(t *testing.T) {
	if lockKey("a") == lockKey("b") || lockKey("a") != lockKey(strings.ToLower("A")) {
		t.Error("lock keys should differ by schema and be stable")
	}
}
