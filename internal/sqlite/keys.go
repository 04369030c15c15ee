package sqlite

// TEMPORARY: replaced by the keys slice in this session.

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

func (db *DB) ListKeys(ctx context.Context) ([]token.StoredKey, error) { return nil, errPending }

func (db *DB) InsertKey(ctx context.Context, key token.StoredKey) error { return errPending }

func (db *DB) RetireKey(ctx context.Context, id string, retiresAt, expiresAt time.Time) error {
	return errPending
}
