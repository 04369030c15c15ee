package sqlite

import "errors"

// TEMPORARY: removed when every slice is written.
var errPending = errors.New("sqlite: not written yet")
