package sqlite

import (
	"fmt"
	"time"
)

// timeLayout is how every table stores times (SQLite has no time type): ISO-8601 UTC text with
// exactly six fractional digits. The fixed width makes text order time order (which RFC3339Nano,
// trimming trailing zeros, would not), and six digits are PostgreSQL's precision, so both stores
// give back the same time. Formatting truncates the nanoseconds, as PostgreSQL does.
const timeLayout = "2006-01-02T15:04:05.000000Z"

// timeArg is t as a parameter for a time column: NULL for the zero time, otherwise timeText.
func timeArg(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return timeText(t)
}

// timeText is t as its column stores it, the zero time included (written as year 1, which timeDest
// reads back as the zero time). The sessions tables store their times this way, as the timestamptz
// columns of PostgreSQL do; elsewhere timeArg stores the zero time as NULL.
func timeText(t time.Time) string { return t.UTC().Format(timeLayout) }

// timeDest scans a time column written by timeArg or timeText: NULL is the zero time, and the time
// comes back in UTC.
type timeDest struct{ t *time.Time }

func (d timeDest) Scan(src any) error {
	var s string
	switch v := src.(type) {
	case nil:
		*d.t = time.Time{}
		return nil
	case string:
		s = v
	case []byte:
		s = string(v)
	default:
		return fmt.Errorf("scan %T as a time", src)
	}
	t, err := time.Parse(timeLayout, s)
	if err != nil {
		return fmt.Errorf("parse stored time %q: %w", s, err)
	}
	*d.t = t.UTC()
	return nil
}
