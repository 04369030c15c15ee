package records

import (
	"context"
	"time"

	"github.com/gatehouse/gatehouse"
)

// SessionReader reads sessions, inside or outside a transaction.
type SessionReader interface {
	GetSession(ctx context.Context, id string) (*gatehouse.Session, error)
	// ListSessions returns the account's sessions that are not revoked, newest first. (Expiry is
	// judged by the caller, which owns the clock.)
	ListSessions(ctx context.Context, accountID string) ([]*gatehouse.Session, error)
}

// SessionWriter changes sessions and their refresh-token families.
type SessionWriter interface {
	CreateSession(ctx context.Context, s *gatehouse.Session) error
	// UpdateSession stores LastActiveAt, IP, Location, ExpiresAt, RevokedAt and RevokeReason.
	UpdateSession(ctx context.Context, s *gatehouse.Session) error
	// RevokeSessions revokes every session of the account that is not yet revoked, except exceptID
	// ("" for none), and returns the ids it revoked.
	RevokeSessions(ctx context.Context, accountID, exceptID string, at time.Time, reason string) ([]string, error)

	// StartSession stores a new session, its first refresh token and, when e is not nil, the audit
	// event that records the sign-in: what CreateSession, CreateRefreshToken and InsertAuditEvent
	// would store, with the same errors, in as few round trips as the store allows.
	StartSession(ctx context.Context, s *gatehouse.Session, first *gatehouse.RefreshToken, e *gatehouse.AuditEvent) error

	CreateRefreshToken(ctx context.Context, t *gatehouse.RefreshToken) error
	// GetRefreshTokenForUpdate returns the token with this hash and locks it until the transaction
	// ends, so that two concurrent rotations of one token are serialised.
	GetRefreshTokenForUpdate(ctx context.Context, hash []byte) (*gatehouse.RefreshToken, error)
	// UpdateRefreshToken stores UsedAt and ReplacedBy.
	UpdateRefreshToken(ctx context.Context, t *gatehouse.RefreshToken) error

	// GetRefreshTokenAndSessionForUpdate returns the token with this hash and its session, both
	// locked until the transaction ends, in one round trip: it serves a rotation as
	// GetRefreshTokenForUpdate followed by GetSession would. records.ErrNotFound when no token has
	// the hash.
	GetRefreshTokenAndSessionForUpdate(ctx context.Context, hash []byte) (*gatehouse.RefreshToken, *gatehouse.Session, error)
	// RotateRefreshToken creates successor, stores old's UsedAt and ReplacedBy and, when s is not
	// nil, stores s as UpdateSession does: the three writes of a rotation, in as few round trips as
	// the store allows. records.ErrNotFound when old or s does not exist.
	RotateRefreshToken(ctx context.Context, old, successor *gatehouse.RefreshToken, s *gatehouse.Session) error
}

// RefreshRotator rotates a refresh token in one step, outside any transaction: the common case of a
// refresh, which then costs one round trip on PostgreSQL.
type RefreshRotator interface {
	// RotateLiveRefreshToken applies r if the token with hash r.Hash may still be used (see
	// RefreshRotation.Live), atomically and under the same lock as GetRefreshTokenAndSessionForUpdate:
	// it creates the successor, marks the token used and, when r.Touches the session, writes its
	// activity. It returns the session as stored afterwards and true; or false, having changed
	// nothing, when the token is used or expired or its session has ended; or records.ErrNotFound
	// when no token has the hash.
	RotateLiveRefreshToken(ctx context.Context, r *RefreshRotation) (*gatehouse.Session, bool, error)
}

// RefreshRotation is one rotation of a refresh token: what it requires of the token and its session,
// and what it writes. Its methods are the rules every store applies (PostgreSQL states them in SQL
// as well; the contract suite holds both to them).
type RefreshRotation struct {
	Hash      []byte    // the presented token's hash
	Successor []byte    // the successor's hash
	At        time.Time // the time of the rotation: the token's UsedAt and the successor's CreatedAt
	// ActiveSince is the oldest last activity that leaves a session live (At less the idle timeout).
	ActiveSince time.Time
	// TouchBy is the newest stored activity that a rotation rewrites (At less the resolution of the
	// activity); a newer one is kept unless the client moved.
	TouchBy time.Time
	// IP and Location are the client's; an empty IP (not known) keeps the stored IP and place.
	IP, Location string
}

// Live reports whether the rotation may rotate rt, a token of s: rt is unused and not expired at At,
// and s is not revoked, not expired at At and last active at or after ActiveSince.
func (r *RefreshRotation) Live(rt *gatehouse.RefreshToken, s *gatehouse.Session) bool {
	return rt.UsedAt.IsZero() && r.At.Before(rt.ExpiresAt) &&
		s.RevokedAt.IsZero() && r.At.Before(s.ExpiresAt) && !s.LastActiveAt.Before(r.ActiveSince)
}

// Touches reports whether the rotation writes the session's activity: its stored last activity is
// at or before TouchBy, or the client has a known IP and it or its place differs from the stored one.
func (r *RefreshRotation) Touches(s *gatehouse.Session) bool {
	return !s.LastActiveAt.After(r.TouchBy) || (r.IP != "" && (r.IP != s.IP || r.Location != s.Location))
}

// Apply applies the rotation to rt and s as the store is to write them: it marks rt used, records
// the activity on s when the rotation Touches it, and returns the successor and whether s changed.
func (r *RefreshRotation) Apply(rt *gatehouse.RefreshToken, s *gatehouse.Session) (successor *gatehouse.RefreshToken, touched bool) {
	successor = &gatehouse.RefreshToken{
		Hash: r.Successor, SessionID: s.ID, AccountID: s.AccountID, Generation: rt.Generation + 1,
		CreatedAt: r.At, ExpiresAt: s.ExpiresAt,
	}
	rt.UsedAt, rt.ReplacedBy = r.At, r.Successor
	if touched = r.Touches(s); touched {
		r.Touch(s)
	}
	return successor, touched
}

// Touch records the rotation's activity on s: LastActiveAt (in UTC, as the stores give times
// back), and IP and Location when IP is known.
func (r *RefreshRotation) Touch(s *gatehouse.Session) {
	s.LastActiveAt = r.At.UTC()
	if r.IP != "" {
		s.IP, s.Location = r.IP, r.Location
	}
}
