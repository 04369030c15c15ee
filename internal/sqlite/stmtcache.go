package sqlite

import (
	"context"
	"database/sql/driver"
	"errors"
	"strings"
	"sync"

	"modernc.org/sqlite"
)

// The driver parses and plans every statement it is given as text, again at every call, and
// database/sql only keeps prepared statements that the caller prepares itself. Our queries, and
// River's, are a few dozen fixed texts run thousands of times a second, so each connection keeps
// its own prepared statements by text (SQLite re-prepares one by itself after a schema change). A
// statement that is in use (its rows still open) is not shared: the second caller gets a
// statement of its own, which is closed after use.

// maxCachedStmts bounds the statements one connection keeps; past it, the least recently used one
// is closed.
const maxCachedStmts = 128

// connector opens driver connections that keep their prepared statements.
type connector struct {
	dsn string
	drv *sqlite.Driver
}

// Connect implements driver.Connector.
func (c *connector) Connect(context.Context) (driver.Conn, error) {
	conn, err := c.drv.Open(c.dsn)
	if err != nil {
		return nil, err
	}
	inner, ok := conn.(sqliteConn)
	if !ok {
		_ = conn.Close()
		return nil, errors.New("sqlite: the driver's connection lacks the context methods")
	}
	return &stmtConn{sqliteConn: inner, stmts: make(map[string]*cachedStmt)}, nil
}

// Driver implements driver.Connector.
func (c *connector) Driver() driver.Driver { return c.drv }

// sqliteConn is what the driver's connection offers and stmtConn passes on.
type sqliteConn interface {
	driver.Conn
	driver.ConnBeginTx
	driver.ConnPrepareContext
	driver.ExecerContext
	driver.QueryerContext
	driver.Pinger
	driver.SessionResetter
	driver.Validator
}

// stmtConn is a driver connection with a cache of prepared statements. database/sql uses a
// connection from one goroutine at a time, but several rows may be open on it at once.
type stmtConn struct {
	sqliteConn
	mu    sync.Mutex
	stmts map[string]*cachedStmt
	tick  uint64 // for least recently used eviction
}

type cachedStmt struct {
	stmt     driver.Stmt
	busy     bool
	lastUsed uint64
}

// cacheable reports whether query is one statement; scripts (migrations) run as they are.
func cacheable(query string) bool {
	q := strings.TrimRight(query, " \t\r\n;")
	return q != "" && !strings.Contains(q, ";")
}

// take returns the cached statement for query, prepared now if need be, marked busy; nil when the
// cached one is busy or query cannot be cached.
func (c *stmtConn) take(ctx context.Context, query string) (*cachedStmt, error) {
	if !cacheable(query) {
		return nil, nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.tick++
	if cs, ok := c.stmts[query]; ok {
		if cs.busy {
			return nil, nil
		}
		cs.busy, cs.lastUsed = true, c.tick
		return cs, nil
	}
	st, err := c.sqliteConn.PrepareContext(ctx, query)
	if err != nil {
		return nil, err
	}
	if len(c.stmts) >= maxCachedStmts {
		c.evictLocked()
	}
	cs := &cachedStmt{stmt: st, busy: true, lastUsed: c.tick}
	c.stmts[query] = cs
	return cs, nil
}

// evictLocked closes the least recently used statement that is not busy.
func (c *stmtConn) evictLocked() {
	var (
		oldest string
		found  bool
	)
	for q, cs := range c.stmts {
		if !cs.busy && (!found || cs.lastUsed < c.stmts[oldest].lastUsed) {
			oldest, found = q, true
		}
	}
	if found {
		_ = c.stmts[oldest].stmt.Close()
		delete(c.stmts, oldest)
	}
}

func (c *stmtConn) release(cs *cachedStmt) {
	c.mu.Lock()
	cs.busy = false
	c.mu.Unlock()
}

// ExecContext implements driver.ExecerContext through the cache.
func (c *stmtConn) ExecContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Result, error) {
	cs, err := c.take(ctx, query)
	if err != nil {
		return nil, err
	}
	if cs == nil {
		return c.sqliteConn.ExecContext(ctx, query, args)
	}
	defer c.release(cs)
	return cs.stmt.(driver.StmtExecContext).ExecContext(ctx, args)
}

// QueryContext implements driver.QueryerContext through the cache: the statement stays busy until
// its rows are closed.
func (c *stmtConn) QueryContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Rows, error) {
	cs, err := c.take(ctx, query)
	if err != nil {
		return nil, err
	}
	if cs == nil {
		return c.sqliteConn.QueryContext(ctx, query, args)
	}
	rows, err := cs.stmt.(driver.StmtQueryContext).QueryContext(ctx, args)
	if err != nil {
		c.release(cs)
		return nil, err
	}
	return &cachedRows{Rows: rows, release: func() { c.release(cs) }}, nil
}

// Close closes the cached statements, then the connection.
func (c *stmtConn) Close() error {
	c.mu.Lock()
	var errs []error
	for q, cs := range c.stmts {
		errs = append(errs, cs.stmt.Close())
		delete(c.stmts, q)
	}
	c.mu.Unlock()
	return errors.Join(append(errs, c.sqliteConn.Close())...)
}

// cachedRows gives its statement back when closed.
type cachedRows struct {
	driver.Rows
	once    sync.Once
	release func()
}

func (r *cachedRows) Close() error {
	err := r.Rows.Close()
	r.once.Do(r.release)
	return err
}

// ColumnTypeDatabaseTypeName passes the driver's column types on (database/sql's ColumnTypes).
func (r *cachedRows) ColumnTypeDatabaseTypeName(i int) string {
	if t, ok := r.Rows.(driver.RowsColumnTypeDatabaseTypeName); ok {
		return t.ColumnTypeDatabaseTypeName(i)
	}
	return ""
}
