package postgres

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/gatehouse/gatehouse/internal/records"
)

// PostgreSQL error codes translate maps.
const (
	codeUniqueViolation     = "23505"
	codeForeignKeyViolation = "23503"
	codeQueryCanceled       = "57014" // statement_timeout, or a cancel request
	codeLockNotAvailable    = "55P03" // lock_timeout
)

// translate maps the driver's errors to the records errors, wrapping the original: no rows is
// ErrNotFound; unique and foreign-key violations are ErrConflict; a statement, lock or connect
// timeout, a cancelled statement and an ended context are ErrTimeout. Other errors pass unchanged,
// as do errors already translated.
func translate(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, records.ErrNotFound), errors.Is(err, records.ErrConflict), errors.Is(err, records.ErrTimeout):
		return err
	case errors.Is(err, pgx.ErrNoRows), errors.Is(err, sql.ErrNoRows):
		return fmt.Errorf("%w: %w", records.ErrNotFound, err)
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled):
		return fmt.Errorf("%w: %w", records.ErrTimeout, err)
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		switch pgErr.Code {
		case codeUniqueViolation, codeForeignKeyViolation:
			return fmt.Errorf("%w: %w", records.ErrConflict, err)
		case codeQueryCanceled, codeLockNotAvailable:
			return fmt.Errorf("%w: %w", records.ErrTimeout, err)
		}
		return err
	}
	if pgconn.Timeout(err) { // a dial or read that timed out
		return fmt.Errorf("%w: %w", records.ErrTimeout, err)
	}
	return err
}

// translateCtx is translate for a statement run under ctx: once ctx has ended, whatever the driver
// reports (a closed connection, a rolled-back transaction) is a timeout.
func translateCtx(ctx context.Context, err error) error {
	if err != nil && ctx.Err() != nil && !errors.Is(err, records.ErrTimeout) {
		return fmt.Errorf("%w: %w", records.ErrTimeout, errors.Join(err, ctx.Err()))
	}
	return translate(err)
}
