package postgres

import (
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgtype"
)

// canonicalUUID parses a UUID in any form uuid.Parse accepts and returns its canonical text. A
// string that is not a UUID must not reach a uuid column's query, where the server would reject it
// (an error, where SQLite simply finds no row): it names no row.
func canonicalUUID(s string) (string, bool) {
	u, err := uuid.Parse(s)
	if err != nil {
		return "", false
	}
	return u.String(), true
}

// nullText stores "" as NULL.
func nullText(s string) pgtype.Text { return pgtype.Text{String: s, Valid: s != ""} }

// nullBytes stores an empty byte slice as NULL; it reads back as nil.
func nullBytes(b []byte) []byte {
	if len(b) == 0 {
		return nil
	}
	return b
}
