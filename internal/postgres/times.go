package postgres

import (
	"fmt"
	"time"

	"github.com/jackc/pgx/v5/pgtype"
)

// timeArg is t as a parameter for a timestamptz column: NULL for the zero time. PostgreSQL keeps
// microseconds (pgx truncates the rest) and the instant, not the location. Where the zero time is to
// be stored as year 1 rather than as NULL (the sessions tables' times, the audit and mail times), the
// parameter is the time.Time itself.
func timeArg(t time.Time) pgtype.Timestamptz {
	return pgtype.Timestamptz{Time: t, Valid: !t.IsZero()}
}

// timeDest scans a timestamptz column as a UTC time; NULL is the zero time.
type timeDest struct{ t *time.Time }

func (d timeDest) ScanTimestamptz(v pgtype.Timestamptz) error {
	switch {
	case !v.Valid:
		*d.t = time.Time{}
	case v.InfinityModifier != pgtype.Finite:
		return fmt.Errorf("scan %s timestamp as a time", v.InfinityModifier)
	default:
		*d.t = v.Time.UTC()
	}
	return nil
}
