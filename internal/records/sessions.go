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
