package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/gatehouse/gatehouse/internal/records"
)

var _ records.Purger = (*DB)(nil)

// The purge statements. PostgreSQL's DELETE takes no LIMIT, so each deletes through a bounded
// subquery, in a transaction of its own: it locks at most limit rows of one table. SKIP LOCKED
// leaves rows a request holds (a refresh that locked its token and session) to the next run rather
// than waiting for them. Ended sessions are found through sessions_expires and sessions_revoked,
// their tokens through refresh_tokens_session_generation.
const (
	purgeRefreshTokensSQL = `DELETE FROM refresh_tokens WHERE hash IN (
		SELECT rt.hash FROM sessions s JOIN refresh_tokens rt ON rt.session_id = s.id
		WHERE s.expires_at < $1 OR s.revoked_at < $1 LIMIT $2 FOR UPDATE OF rt SKIP LOCKED)`
	purgeSessionsSQL = `DELETE FROM sessions WHERE id IN (
		SELECT s.id FROM sessions s WHERE (s.expires_at < $1 OR s.revoked_at < $1)
		AND NOT EXISTS (SELECT 1 FROM refresh_tokens rt WHERE rt.session_id = s.id)
		LIMIT $2 FOR UPDATE OF s SKIP LOCKED)`
	purgeEmailVerificationsSQL = `DELETE FROM email_verifications WHERE id IN (
		SELECT id FROM email_verifications
		WHERE consumed_at < $1 OR (expires_at < $1 AND (code_expires_at IS NULL OR code_expires_at < $1))
		LIMIT $2 FOR UPDATE SKIP LOCKED)`
)

// PurgeExpired deletes what ended before before, at most limit rows per table (see
// records.Purger).
func (db *DB) PurgeExpired(ctx context.Context, before time.Time, limit int) (records.PurgeCounts, error) {
	var c records.PurgeCounts
	if limit <= 0 {
		return c, fmt.Errorf("postgres: purge: limit %d is not positive", limit)
	}
	for _, step := range []struct {
		what string
		stmt string
		n    *int
	}{
		// Tokens before sessions: a session goes once its tokens are gone.
		{"refresh tokens", purgeRefreshTokensSQL, &c.RefreshTokens},
		{"sessions", purgeSessionsSQL, &c.Sessions},
		{"email verifications", purgeEmailVerificationsSQL, &c.EmailVerifications},
	} {
		tag, err := db.pool.Exec(ctx, step.stmt, before, limit)
		if err != nil {
			return c, fmt.Errorf("postgres: purge %s: %w", step.what, translateCtx(ctx, err))
		}
		*step.n = int(tag.RowsAffected())
	}
	return c, nil
}
