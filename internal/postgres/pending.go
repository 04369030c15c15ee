package postgres

import "errors"

// TEMPORARY: removed when every slice is written.
var errPending = errors.New("postgres: not written yet")
