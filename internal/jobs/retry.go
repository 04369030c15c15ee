package jobs

import (
	"math/rand/v2"
	"time"

	"github.com/riverqueue/river/rivertype"
)

// backoff is the queue's retry policy (a river.ClientRetryPolicy): exponential backoff with full
// jitter. Attempt n (1 for the first retry) waits a uniformly random time in [0, ceiling(n)] where
// ceiling(n) = base·2^(n-1), capped at max. Full jitter spreads the retries of jobs that failed
// together (a mail server outage) instead of sending them back in waves.
type backoff struct {
	base, max time.Duration
	now       func() time.Time
	randN     func(n int64) int64 // uniform in [0, n)
}

func newBackoff(base, max time.Duration) *backoff {
	return &backoff{base: base, max: max, now: time.Now, randN: rand.Int64N}
}

// ceiling is the largest delay of the given attempt (1-based).
func (b *backoff) ceiling(attempt int) time.Duration {
	d := b.base
	for i := 1; i < attempt && d < b.max; i++ {
		if d > b.max/2 { // doubling would pass max (and might overflow)
			return b.max
		}
		d *= 2
	}
	return min(d, b.max)
}

// delay draws the wait before the given retry attempt.
func (b *backoff) delay(attempt int) time.Duration {
	return time.Duration(b.randN(int64(b.ceiling(attempt)) + 1))
}

// NextRetry implements river.ClientRetryPolicy. The attempt number counts the errors recorded so
// far plus the one being handled, as River's own policy does.
func (b *backoff) NextRetry(job *rivertype.JobRow) time.Time {
	return b.now().UTC().Add(b.delay(len(job.Errors) + 1))
}
