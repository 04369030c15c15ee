package postgres

// TEMPORARY: replaced by the sessions slice in this session.

import (
	"context"
	"time"

	"github.com/gatehouse/gatehouse"
	"github.com/gatehouse/gatehouse/internal/token"
)

var (
	_ = time.Now
	_ token.StoredKey
	_ gatehouse.Account
)

func (db *DB) GetSession(ctx context.Context, id string) (*gatehouse.Session, error) {
	return nil, errPending
}

func (t *tx) GetSession(ctx context.Context, id string) (*gatehouse.Session, error) {
	return nil, errPending
}

func (db *DB) ListSessions(ctx context.Context, accountID string) ([]*gatehouse.Session, error) {
	return nil, errPending
}

func (t *tx) ListSessions(ctx context.Context, accountID string) ([]*gatehouse.Session, error) {
	return nil, errPending
}

func (t *tx) CreateSession(ctx context.Context, s *gatehouse.Session) error { return errPending }

func (t *tx) UpdateSession(ctx context.Context, s *gatehouse.Session) error { return errPending }

func (t *tx) RevokeSessions(ctx context.Context, accountID, exceptID string, at time.Time, reason string) ([]string, error) {
	return nil, errPending
}

func (t *tx) CreateRefreshToken(ctx context.Context, rt *gatehouse.RefreshToken) error {
	return errPending
}

func (t *tx) GetRefreshTokenForUpdate(ctx context.Context, hash []byte) (*gatehouse.RefreshToken, error) {
	return nil, errPending
}

func (t *tx) UpdateRefreshToken(ctx context.Context, rt *gatehouse.RefreshToken) error {
	return errPending
}
