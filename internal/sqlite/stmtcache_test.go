package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"path/filepath"
	"testing"
	"time"
)

// stmtPool opens a one-connection write pool on a new file, so every call below uses the same
// connection and so the same statement cache.
func stmtPool(t *testing.T) *sql.DB {
	t.Helper()
	db, err := openPool(t.Context(), filepath.Join(t.TempDir(), "cache.db"), 5*time.Second, true)
	if err != nil {
		t.Fatal(err)
	}
	db.SetMaxOpenConns(1)
	t.Cleanup(func() { _ = db.Close() })
	stmtExec(t, db, "CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE)")
	return db
}

func stmtExec(t *testing.T, db interface {
	ExecContext(context.Context, string, ...any) (sql.Result, error)
}, query string, args ...any) {
	t.Helper()
	if _, err := db.ExecContext(t.Context(), query, args...); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
}

// cached returns how many statements the pool's connection keeps and whether query is one of them.
func cached(t *testing.T, db *sql.DB, query string) (int, bool) {
	t.Helper()
	conn, err := db.Conn(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	var (
		n  int
		ok bool
	)
	if err := conn.Raw(func(dc any) error {
		c := dc.(*stmtConn)
		c.mu.Lock()
		defer c.mu.Unlock()
		n = len(c.stmts)
		_, ok = c.stmts[query]
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return n, ok
}

func TestStmtCacheReusesStatements(t *testing.T) {
	db := stmtPool(t)
	const insert = "INSERT INTO t (name) VALUES (?)"
	const get = "SELECT name FROM t WHERE id = ?"
	for i := range 5 {
		stmtExec(t, db, insert, fmt.Sprint("n", i))
	}
	for i := range 5 {
		var name string
		if err := db.QueryRowContext(t.Context(), get, i+1).Scan(&name); err != nil || name != fmt.Sprint("n", i) {
			t.Fatalf("row %d: %q, %v", i+1, name, err)
		}
	}
	for _, q := range []string{insert, get} {
		if _, ok := cached(t, db, q); !ok {
			t.Errorf("%q is not cached", q)
		}
	}
	// A failed statement (a constraint) leaves its cached statement usable.
	if _, err := db.ExecContext(t.Context(), insert, "n0"); err == nil {
		t.Fatal("a duplicate name was inserted")
	}
	stmtExec(t, db, insert, "n5")
}

// TestStmtCacheNestedQueries runs a statement while its cached twin still has rows open: the second
// run must get a statement of its own, and both must see their own results.
func TestStmtCacheNestedQueries(t *testing.T) {
	db := stmtPool(t)
	for i := range 3 {
		stmtExec(t, db, "INSERT INTO t (name) VALUES (?)", fmt.Sprint("n", i))
	}
	const q = "SELECT id, name FROM t WHERE id >= ? ORDER BY id"
	tx, err := db.BeginTx(t.Context(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	outer, err := tx.QueryContext(t.Context(), q, 1)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for outer.Next() {
		var (
			id   int
			name string
		)
		if err := outer.Scan(&id, &name); err != nil {
			t.Fatal(err)
		}
		inner, err := tx.QueryContext(t.Context(), q, id)
		if err != nil {
			t.Fatal(err)
		}
		count := 0
		for inner.Next() {
			count++
		}
		if err := inner.Close(); err != nil {
			t.Fatal(err)
		}
		got = append(got, fmt.Sprintf("%s:%d", name, count))
	}
	if err := outer.Err(); err != nil {
		t.Fatal(err)
	}
	_ = outer.Close()
	if want := "[n0:3 n1:2 n2:1]"; fmt.Sprint(got) != want {
		t.Fatalf("nested results %v, want %s", got, want)
	}
}

func TestStmtCacheScriptsAndSchemaChanges(t *testing.T) {
	db := stmtPool(t)
	const script = "CREATE TABLE a (x); CREATE TABLE b (y);"
	stmtExec(t, db, script)
	if _, ok := cached(t, db, script); ok {
		t.Error("a script was cached")
	}
	stmtExec(t, db, "INSERT INTO a (x) VALUES (1)")
	const all = "SELECT * FROM a"
	cols := func() int {
		rows, err := db.QueryContext(t.Context(), all)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		c, err := rows.Columns()
		if err != nil {
			t.Fatal(err)
		}
		return len(c)
	}
	if n := cols(); n != 1 {
		t.Fatalf("%d columns, want 1", n)
	}
	stmtExec(t, db, "ALTER TABLE a ADD COLUMN z TEXT")
	if n := cols(); n != 2 {
		t.Fatalf("%d columns after ALTER TABLE, want 2 (the cached statement must follow the schema)", n)
	}
}

func TestStmtCacheEvicts(t *testing.T) {
	db := stmtPool(t)
	for i := range maxCachedStmts + 20 {
		var n int
		if err := db.QueryRowContext(t.Context(), fmt.Sprintf("SELECT %d", i)).Scan(&n); err != nil || n != i {
			t.Fatalf("SELECT %d = %d, %v", i, n, err)
		}
	}
	n, ok := cached(t, db, fmt.Sprintf("SELECT %d", maxCachedStmts+19))
	if n > maxCachedStmts || !ok {
		t.Fatalf("%d statements cached (want at most %d), newest cached: %v", n, maxCachedStmts, ok)
	}
	if _, ok := cached(t, db, "SELECT 0"); ok {
		t.Error("the least recently used statement was kept")
	}
}

func TestCacheable(t *testing.T) {
	for q, want := range map[string]bool{
		"SELECT 1":                true,
		"SELECT 1;":               true,
		"SELECT 1; \n":            true,
		"SELECT 1; SELECT 2":      false,
		"":                        false,
		" ; ":                     false,
		"SELECT ';' FROM t":       false, // conservative: any inner semicolon
		"UPDATE t SET name = 'a'": true,
	} {
		if got := cacheable(q); got != want {
			t.Errorf("cacheable(%q) = %v, want %v", q, got, want)
		}
	}
}
