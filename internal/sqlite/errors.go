package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/gatehouse/gatehouse/internal/records"
)

// translate maps the driver's errors to the records errors, wrapping the original: no rows is
// ErrNotFound; unique, primary-key and foreign-key violations are ErrConflict; a lock still held
// after busy_timeout (SQLITE_BUSY, SQLITE_LOCKED), an interrupted statement and an ended context are
// ErrTimeout. Other errors pass unchanged, as do errors already translated.
func translate(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, records.ErrNotFound), errors.Is(err, records.ErrConflict), errors.Is(err, records.ErrTimeout):
		return err
	case errors.Is(err, sql.ErrNoRows):
		return fmt.Errorf("%w: %w", records.ErrNotFound, err)
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled):
		return fmt.Errorf("%w: %w", records.ErrTimeout, err)
	}
	var se *sqlite.Error
	if !errors.As(err, &se) {
		return err
	}
	switch se.Code() {
	case sqlite3.SQLITE_CONSTRAINT_UNIQUE, sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY, sqlite3.SQLITE_CONSTRAINT_FOREIGNKEY:
		return fmt.Errorf("%w: %w", records.ErrConflict, err)
	}
	switch se.Code() & 0xff {
	case sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED, sqlite3.SQLITE_INTERRUPT:
		return fmt.Errorf("%w: %w", records.ErrTimeout, err)
	}
	return err
}

// translateCtx is translate for a statement run under ctx: once ctx has ended, whatever the driver
// reports (database/sql's "transaction has already been committed or rolled back" when it rolled
// the transaction back on cancellation) is a timeout.
func translateCtx(ctx context.Context, err error) error {
	if err != nil && ctx.Err() != nil && !errors.Is(err, records.ErrTimeout) {
		return fmt.Errorf("%w: %w", records.ErrTimeout, errors.Join(err, ctx.Err()))
	}
	return translate(err)
}
