package sqlite

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/internal/records"
	"github.com/gatehouse/gatehouse/internal/storetest"
)

// newDatabase gives each subtest its own database file in a temporary directory.
func newDatabase(t *testing.T) storetest.RecordsOpener {
	path := filepath.Join(t.TempDir(), "data", "gatehouse.db")
	return func(t *testing.T, opts storetest.RecordsOptions) storetest.RecordsStore {
		t.Helper()
		db, err := Open(t.Context(), Options{Path: path, Jobs: opts.Jobs, Workers: opts.Workers})
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
}

func TestRecords(t *testing.T) { storetest.RunRecords(t, newDatabase) }

func TestQueue(t *testing.T) { storetest.RunQueue(t, newDatabase) }

func TestOpenCreatesPrivateFiles(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "nested", "data")
	path := filepath.Join(dir, "gatehouse.db")
	db, err := Open(t.Context(), Options{Path: path})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	defer db.Close()
	for p, want := range map[string]os.FileMode{dir: 0o700 | os.ModeDir, path: 0o600} {
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode() != want {
			t.Errorf("%s: mode %v, want %v", p, fi.Mode(), want)
		}
	}
}

func TestOpenRejectsBadPaths(t *testing.T) {
	for _, path := range []string{"", ":memory:", "file:x.db", "x.db?mode=ro"} {
		if db, err := Open(t.Context(), Options{Path: path}); err == nil {
			db.Close()
			t.Errorf("Open(%q) succeeded", path)
		}
	}
}

func TestPragmas(t *testing.T) {
	db, err := Open(t.Context(), Options{Path: filepath.Join(t.TempDir(), "g.db"), BusyTimeout: 1234 * time.Millisecond})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	defer db.Close()
	ctx := t.Context()
	for _, tc := range []struct {
		pool   string
		pragma string
		want   string
	}{
		{"write", "journal_mode", "wal"},
		{"write", "busy_timeout", "1234"},
		{"write", "foreign_keys", "1"},
		{"write", "synchronous", "1"}, // NORMAL
		{"write", "query_only", "0"},
		{"read", "busy_timeout", "1234"},
		{"read", "foreign_keys", "1"},
		{"read", "query_only", "1"},
		{"read", "journal_mode", "wal"},
	} {
		pool := db.write
		if tc.pool == "read" {
			pool = db.read
		}
		var got string
		if err := pool.QueryRowContext(ctx, "PRAGMA "+tc.pragma).Scan(&got); err != nil {
			t.Fatalf("%s pool: PRAGMA %s: %v", tc.pool, tc.pragma, err)
		}
		if got != tc.want {
			t.Errorf("%s pool: PRAGMA %s = %s, want %s", tc.pool, tc.pragma, got, tc.want)
		}
	}
	if n := db.write.Stats().MaxOpenConnections; n != 1 {
		t.Errorf("write pool allows %d connections, want 1", n)
	}
}

// TestReadPoolIsReadOnly checks that a write slipped onto the read pool fails rather than racing
// the writer.
func TestReadPoolIsReadOnly(t *testing.T) {
	db := openMigrated(t, filepath.Join(t.TempDir(), "g.db"), time.Second)
	_, err := db.read.ExecContext(t.Context(), "INSERT INTO meta (key, value) VALUES ('a', 'b')")
	if err == nil {
		t.Fatal("write through the read pool succeeded")
	}
}

func openMigrated(t *testing.T, path string, busy time.Duration) *DB {
	t.Helper()
	db, err := Open(t.Context(), Options{Path: path, BusyTimeout: busy})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { db.Close() })
	if err := db.Migrate(t.Context()); err != nil {
		t.Fatalf("Migrate: %v", err)
	}
	return db
}

// TestForeignKeyConflict checks that a foreign-key violation is ErrConflict (foreign_keys is on).
func TestForeignKeyConflict(t *testing.T) {
	db := openMigrated(t, filepath.Join(t.TempDir(), "g.db"), time.Second)
	ctx := t.Context()
	for _, q := range []string{
		"CREATE TABLE parent (id INTEGER PRIMARY KEY)",
		"CREATE TABLE child (id INTEGER PRIMARY KEY, parent_id INTEGER NOT NULL REFERENCES parent (id))",
	} {
		if _, err := db.write.ExecContext(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	_, err := db.write.ExecContext(ctx, "INSERT INTO child (id, parent_id) VALUES (1, 42)")
	if err == nil {
		t.Fatal("insert with a dangling foreign key succeeded")
	}
	if err := translate(err); !errors.Is(err, records.ErrConflict) {
		t.Errorf("translate(%v) does not wrap ErrConflict", err)
	}
	_, err = db.write.ExecContext(ctx, "INSERT INTO child (id, parent_id) VALUES (1, NULL)")
	if err == nil {
		t.Fatal("insert violating NOT NULL succeeded")
	}
	if err := translate(err); errors.Is(err, records.ErrConflict) {
		t.Errorf("a NOT NULL violation translated to conflict: %v", err)
	}
}

// TestBusyIsTimeout holds the write lock through one handle while another, with a short busy
// timeout, tries to write: it gives up with ErrTimeout.
func TestBusyIsTimeout(t *testing.T) {
	path := filepath.Join(t.TempDir(), "g.db")
	holder := openMigrated(t, path, time.Second)
	other := openMigrated(t, path, 20*time.Millisecond)
	ctx := t.Context()
	err := holder.InTx(ctx, func(ctx context.Context, tx records.Tx) error {
		if err := tx.PutMeta(ctx, "held", "1"); err != nil {
			return err
		}
		return other.InTx(ctx, func(ctx context.Context, tx records.Tx) error { return tx.PutMeta(ctx, "k", "v") })
	})
	if !errors.Is(err, records.ErrTimeout) {
		t.Fatalf("write while another process holds the lock: err = %v, want ErrTimeout", err)
	}
}

func TestTranslate(t *testing.T) {
	base := errors.New("boom")
	for _, tc := range []struct {
		name string
		err  error
		want error
	}{
		{"nil", nil, nil},
		{"plain error passes", base, nil},
		{"already translated", records.ErrConflict, records.ErrConflict},
		{"deadline", context.DeadlineExceeded, records.ErrTimeout},
		{"cancelled", context.Canceled, records.ErrTimeout},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := translate(tc.err)
			if tc.err == nil && got != nil {
				t.Fatalf("translate(nil) = %v", got)
			}
			if tc.want != nil && !errors.Is(got, tc.want) {
				t.Errorf("translate(%v) = %v, want it to wrap %v", tc.err, got, tc.want)
			}
			if tc.err != nil && !errors.Is(got, tc.err) {
				t.Errorf("translate(%v) = %v lost the original", tc.err, got)
			}
			if tc.want == nil && tc.err != nil && got != tc.err {
				t.Errorf("translate(%v) = %v, want it unchanged", tc.err, got)
			}
		})
	}
}

func TestMigrationNames(t *testing.T) {
	db := openMigrated(t, filepath.Join(t.TempDir(), "g.db"), time.Second)
	list, err := db.MigrationStatus(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if list[0].Version != 1 || list[0].Name != "meta" {
		t.Errorf("first migration = %+v, want version 1 meta", list[0])
	}
	last := list[len(list)-1]
	if last.Name[:7] != "river: " || last.Version < 6 {
		t.Errorf("last migration = %+v, want one of River's", last)
	}
}
