package records

import (
	"context"
	"time"
)

// Purger deletes the records that can no longer be used, so that the tables written on every
// sign-in, refresh and sign-up stop growing once the service reaches a steady state. Audit events
// and mail deliveries are kept: they have retention rules of their own.
type Purger interface {
	// PurgeExpired deletes at most limit rows of each table whose record ended before before (the
	// caller's now less a retention margin, so that what ended a moment ago stays for operators):
	//
	//   - refresh tokens of sessions that ended (expired, or were revoked) before before. A token
	//     of a live session stays, used or not, for as long as the session: reuse detection finds a
	//     presented token by its hash and, when it was already used, revokes the session, so
	//     deleting a used token of a live session would turn a replayed stolen token from a
	//     revocation into a mere "unknown token". A token needs no rule of its own: it expires with
	//     its session (a successor takes its session's expiry) and a session's expiry never moves,
	//     and once the session has ended no token of it is accepted or can trigger anything.
	//   - sessions that ended before before and no longer have refresh tokens: their tokens go
	//     first, by the rule above, so that deleting a session never cascades to an unbounded
	//     number of tokens and every statement stays within limit rows.
	//   - email verifications used before before, or whose link and code both expired before
	//     before (neither can be redeemed any more).
	//
	// Each table is purged in its own short statement, so one call never holds locks for long. The
	// caller repeats the call while any count equals limit (PurgeCounts.Full); a later call also
	// takes the sessions whose tokens were still there when this one ran.
	PurgeExpired(ctx context.Context, before time.Time, limit int) (PurgeCounts, error)
}

// PurgeCounts says how many rows of each table one PurgeExpired call deleted.
type PurgeCounts struct {
	RefreshTokens      int
	Sessions           int
	EmailVerifications int
}

// Add returns the sum of c and d.
func (c PurgeCounts) Add(d PurgeCounts) PurgeCounts {
	return PurgeCounts{
		RefreshTokens:      c.RefreshTokens + d.RefreshTokens,
		Sessions:           c.Sessions + d.Sessions,
		EmailVerifications: c.EmailVerifications + d.EmailVerifications,
	}
}

// Full reports whether some table gave limit rows, so that more may be left to purge.
func (c PurgeCounts) Full(limit int) bool {
	return c.RefreshTokens >= limit || c.Sessions >= limit || c.EmailVerifications >= limit
}
