package sqlite

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/gatehouse/gatehouse"
	"github.com/gatehouse/gatehouse/internal/records"
	"github.com/gatehouse/gatehouse/internal/token"
)

var _ token.KeyStore = (*DB)(nil)

// ListKeys returns every signing key, expired ones included, oldest generation first.
func (db *DB) ListKeys(ctx context.Context) ([]token.StoredKey, error) {
	const q = `SELECT id, generation, algorithm, public_key, private_key, created_at, activates_at, retires_at, expires_at
		FROM signing_keys ORDER BY generation`
	rows, err := db.read.QueryContext(ctx, q)
	if err != nil {
		return nil, fmt.Errorf("sqlite: list signing keys: %w", translateCtx(ctx, err))
	}
	defer rows.Close()
	var keys []token.StoredKey
	for rows.Next() {
		var k token.StoredKey
		if err := rows.Scan(&k.ID, &k.Generation, &k.Algorithm, &k.PublicKey, &k.PrivateKey,
			timeDest{&k.CreatedAt}, timeDest{&k.ActivatesAt}, timeDest{&k.RetiresAt}, timeDest{&k.ExpiresAt}); err != nil {
			return nil, fmt.Errorf("sqlite: list signing keys: %w", translateCtx(ctx, err))
		}
		keys = append(keys, k)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: list signing keys: %w", translateCtx(ctx, err))
	}
	return keys, nil
}

// InsertKey adds a signing key; a taken id or generation is a *gatehouse.Error with code
// gatehouse.ECONFLICT (wrapping records.ErrConflict).
func (db *DB) InsertKey(ctx context.Context, key token.StoredKey) error {
	const q = `INSERT INTO signing_keys
		(id, generation, algorithm, public_key, private_key, created_at, activates_at, retires_at, expires_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`
	_, err := db.write.ExecContext(ctx, q, key.ID, key.Generation, key.Algorithm, key.PublicKey, key.PrivateKey,
		timeArg(key.CreatedAt), timeArg(key.ActivatesAt), timeArg(key.RetiresAt), timeArg(key.ExpiresAt))
	if err == nil {
		return nil
	}
	err = translateCtx(ctx, err)
	if errors.Is(err, records.ErrConflict) {
		return &gatehouse.Error{
			Code:    gatehouse.ECONFLICT,
			Message: fmt.Sprintf("A signing key with id %s or generation %d already exists.", key.ID, key.Generation),
			Err:     fmt.Errorf("sqlite: insert signing key %s: %w", key.ID, err),
		}
	}
	return fmt.Errorf("sqlite: insert signing key %s: %w", key.ID, err)
}

// RetireKey sets a key's RetiresAt and ExpiresAt; an unknown id is a *gatehouse.Error with code
// gatehouse.ENOTFOUND (wrapping records.ErrNotFound).
func (db *DB) RetireKey(ctx context.Context, id string, retiresAt, expiresAt time.Time) error {
	res, err := db.write.ExecContext(ctx, "UPDATE signing_keys SET retires_at = ?, expires_at = ? WHERE id = ?",
		timeArg(retiresAt), timeArg(expiresAt), id)
	if err != nil {
		return fmt.Errorf("sqlite: retire signing key %s: %w", id, translateCtx(ctx, err))
	}
	if err := matchedRow(res); err != nil {
		if errors.Is(err, records.ErrNotFound) {
			return &gatehouse.Error{
				Code:    gatehouse.ENOTFOUND,
				Message: fmt.Sprintf("Signing key %s not found.", id),
				Err:     fmt.Errorf("sqlite: retire signing key %s: %w", id, err),
			}
		}
		return fmt.Errorf("sqlite: retire signing key %s: %w", id, err)
	}
	return nil
}
