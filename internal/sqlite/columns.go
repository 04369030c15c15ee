package sqlite

import (
	"database/sql"
	"fmt"

	"github.com/gatehouse/gatehouse/internal/records"
)

// rowScanner is a *sql.Row or *sql.Rows.
type rowScanner interface {
	Scan(dest ...any) error
}

// nullText stores "" as NULL.
func nullText(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// nullBytes stores an empty byte slice as NULL; it reads back as nil.
func nullBytes(b []byte) any {
	if len(b) == 0 {
		return nil
	}
	return b
}

// matchedRow turns a statement that matched no row into records.ErrNotFound.
func matchedRow(res sql.Result) error {
	n, err := res.RowsAffected()
	if err != nil {
		return err
	}
	if n == 0 {
		return fmt.Errorf("%w: no row matched", records.ErrNotFound)
	}
	return nil
}
