package postgres

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/gatehouse/gatehouse"
	"github.com/gatehouse/gatehouse/internal/records"
)

var _ records.RefreshRotator = (*DB)(nil)

const sessionColumns = `id, account_id, user_agent, device, ip, location, amr, created_at, last_active_at,
	expires_at, revoked_at, revoke_reason`

const refreshTokenColumns = `hash, session_id, account_id, generation, created_at, expires_at, used_at, replaced_by`

// GetSession returns the session, revoked or not, or records.ErrNotFound.
func (db *DB) GetSession(ctx context.Context, id string) (*gatehouse.Session, error) {
	return getSession(ctx, db.pool, id)
}

func (t *tx) GetSession(ctx context.Context, id string) (*gatehouse.Session, error) {
	return getSession(ctx, t.tx, id)
}

// ListSessions returns the account's sessions that are not revoked, newest first.
func (db *DB) ListSessions(ctx context.Context, accountID string) ([]*gatehouse.Session, error) {
	return listSessions(ctx, db.pool, accountID)
}

func (t *tx) ListSessions(ctx context.Context, accountID string) ([]*gatehouse.Session, error) {
	return listSessions(ctx, t.tx, accountID)
}

func (t *tx) CreateSession(ctx context.Context, s *gatehouse.Session) error {
	args, err := sessionArgs(s)
	if err == nil {
		_, err = t.tx.Exec(ctx, insertSessionSQL, args...)
	}
	if err != nil {
		return fmt.Errorf("postgres: create session %s: %w", s.ID, translateCtx(ctx, err))
	}
	return nil
}

const insertSessionSQL = `INSERT INTO sessions (` + sessionColumns + `) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)`

// sessionArgs returns the parameters of insertSessionSQL.
func sessionArgs(s *gatehouse.Session) ([]any, error) {
	amr, err := sessionAMR(s.AMR)
	if err != nil {
		return nil, err
	}
	return []any{s.ID, s.AccountID, s.UserAgent, s.Device, s.IP, s.Location, amr,
		s.CreatedAt, s.LastActiveAt, s.ExpiresAt, timeArg(s.RevokedAt), s.RevokeReason}, nil
}

// StartSession sends the inserts of the session, its first token and the event as one batch: one
// round trip.
func (t *tx) StartSession(ctx context.Context, s *gatehouse.Session, first *gatehouse.RefreshToken, e *gatehouse.AuditEvent) error {
	sessArgs, err := sessionArgs(s)
	if err != nil {
		return fmt.Errorf("postgres: create session %s: %w", s.ID, err)
	}
	b := &pgx.Batch{}
	b.Queue(insertSessionSQL, sessArgs...)
	b.Queue(insertRefreshTokenSQL, refreshTokenArgs(first)...)
	if e != nil {
		eventArgs, err := auditEventArgs(e)
		if err != nil {
			return err
		}
		b.Queue(insertAuditEventSQL, eventArgs...)
	}
	br := t.tx.SendBatch(ctx, b)
	err = func() error {
		if _, err := br.Exec(); err != nil {
			return fmt.Errorf("postgres: create session %s: %w", s.ID, translateCtx(ctx, err))
		}
		if _, err := br.Exec(); err != nil {
			return fmt.Errorf("postgres: create refresh token of session %s: %w", first.SessionID, translateCtx(ctx, err))
		}
		if e == nil {
			return nil
		}
		if _, err := br.Exec(); err != nil {
			return fmt.Errorf("postgres: insert audit event %s (%s): %w", e.ID, e.Action, translateCtx(ctx, err))
		}
		return nil
	}()
	if cerr := br.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("postgres: start session %s: %w", s.ID, translateCtx(ctx, cerr))
	}
	return err
}

func (t *tx) UpdateSession(ctx context.Context, s *gatehouse.Session) error {
	if _, ok := canonicalUUID(s.ID); !ok {
		return fmt.Errorf("postgres: update session %q: %w", s.ID, records.ErrNotFound)
	}
	const q = `UPDATE sessions SET last_active_at = $1, ip = $2, location = $3, expires_at = $4, revoked_at = $5,
		revoke_reason = $6 WHERE id = $7`
	tag, err := t.tx.Exec(ctx, q, s.LastActiveAt, s.IP, s.Location, s.ExpiresAt,
		timeArg(s.RevokedAt), s.RevokeReason, s.ID)
	if err == nil && tag.RowsAffected() == 0 {
		err = fmt.Errorf("%w: no such session", records.ErrNotFound)
	}
	if err != nil {
		return fmt.Errorf("postgres: update session %s: %w", s.ID, translateCtx(ctx, err))
	}
	return nil
}

func (t *tx) RevokeSessions(ctx context.Context, accountID, exceptID string, at time.Time, reason string) ([]string, error) {
	ids := []string{}
	if _, ok := canonicalUUID(accountID); !ok {
		return ids, nil // no account has such an id
	}
	var except *string // NULL excludes nothing; so does an id that no session can have
	if _, ok := canonicalUUID(exceptID); ok {
		except = &exceptID
	}
	const q = `UPDATE sessions SET revoked_at = $1, revoke_reason = $2
		WHERE account_id = $3 AND revoked_at IS NULL AND ($4::uuid IS NULL OR id <> $4::uuid) RETURNING id`
	rows, err := t.tx.Query(ctx, q, at, reason, accountID, except)
	if err != nil {
		return nil, fmt.Errorf("postgres: revoke sessions of %s: %w", accountID, translateCtx(ctx, err))
	}
	ids, err = pgx.AppendRows(ids, rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("postgres: revoke sessions of %s: %w", accountID, translateCtx(ctx, err))
	}
	return ids, nil
}

func (t *tx) CreateRefreshToken(ctx context.Context, rt *gatehouse.RefreshToken) error {
	if _, err := t.tx.Exec(ctx, insertRefreshTokenSQL, refreshTokenArgs(rt)...); err != nil {
		return fmt.Errorf("postgres: create refresh token of session %s: %w", rt.SessionID, translateCtx(ctx, err))
	}
	return nil
}

const insertRefreshTokenSQL = `INSERT INTO refresh_tokens (` + refreshTokenColumns + `) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`

// refreshTokenArgs returns the parameters of insertRefreshTokenSQL.
func refreshTokenArgs(rt *gatehouse.RefreshToken) []any {
	return []any{rt.Hash, rt.SessionID, rt.AccountID, rt.Generation,
		rt.CreatedAt, rt.ExpiresAt, timeArg(rt.UsedAt), nullBytes(rt.ReplacedBy)}
}

// GetRefreshTokenForUpdate locks the token's row (SELECT ... FOR UPDATE) until the transaction
// ends. A second transaction asking for the same row waits, then reads the row as the first left
// it (read committed re-reads a locked row once its lock is released).
func (t *tx) GetRefreshTokenForUpdate(ctx context.Context, hash []byte) (*gatehouse.RefreshToken, error) {
	row := t.tx.QueryRow(ctx, `SELECT `+refreshTokenColumns+` FROM refresh_tokens WHERE hash = $1 FOR UPDATE`, hash)
	rt, err := scanRefreshToken(row)
	if err != nil {
		return nil, fmt.Errorf("postgres: get refresh token: %w", translateCtx(ctx, err))
	}
	return rt, nil
}

func (t *tx) UpdateRefreshToken(ctx context.Context, rt *gatehouse.RefreshToken) error {
	const q = `UPDATE refresh_tokens SET used_at = $1, replaced_by = $2 WHERE hash = $3`
	tag, err := t.tx.Exec(ctx, q, timeArg(rt.UsedAt), nullBytes(rt.ReplacedBy), rt.Hash)
	if err == nil && tag.RowsAffected() == 0 {
		err = fmt.Errorf("%w: no such refresh token", records.ErrNotFound)
	}
	if err != nil {
		return fmt.Errorf("postgres: update refresh token of session %s: %w", rt.SessionID, translateCtx(ctx, err))
	}
	return nil
}

// GetRefreshTokenAndSessionForUpdate reads the token and its session in one statement and locks
// both rows. The session is locked too (FOR NO KEY UPDATE, which the rotation's UPDATE takes anyway
// and which does not block the successor's foreign-key check) so that a transaction that waited for
// the token's lock re-reads the session as the first left it: read committed re-fetches the locked
// rows of a join, but not the others.
func (t *tx) GetRefreshTokenAndSessionForUpdate(ctx context.Context, hash []byte) (*gatehouse.RefreshToken, *gatehouse.Session, error) {
	const q = `SELECT rt.hash, rt.session_id, rt.account_id, rt.generation, rt.created_at, rt.expires_at,
		rt.used_at, rt.replaced_by,
		s.id, s.account_id, s.user_agent, s.device, s.ip, s.location, s.amr, s.created_at, s.last_active_at,
		s.expires_at, s.revoked_at, s.revoke_reason
		FROM refresh_tokens rt JOIN sessions s ON s.id = rt.session_id
		WHERE rt.hash = $1
		FOR UPDATE OF rt FOR NO KEY UPDATE OF s`
	var (
		rt  gatehouse.RefreshToken
		s   gatehouse.Session
		amr []byte
	)
	err := t.tx.QueryRow(ctx, q, hash).Scan(&rt.Hash, &rt.SessionID, &rt.AccountID, &rt.Generation,
		timeDest{&rt.CreatedAt}, timeDest{&rt.ExpiresAt}, timeDest{&rt.UsedAt}, &rt.ReplacedBy,
		&s.ID, &s.AccountID, &s.UserAgent, &s.Device, &s.IP, &s.Location, &amr,
		timeDest{&s.CreatedAt}, timeDest{&s.LastActiveAt}, timeDest{&s.ExpiresAt}, timeDest{&s.RevokedAt}, &s.RevokeReason)
	if err != nil {
		return nil, nil, fmt.Errorf("postgres: get refresh token and session: %w", translateCtx(ctx, err))
	}
	if err := json.Unmarshal(amr, &s.AMR); err != nil {
		return nil, nil, fmt.Errorf("postgres: get refresh token and session: decode amr of session %s: %w", s.ID, err)
	}
	return &rt, &s, nil
}

// RotateRefreshToken sends the successor's INSERT and the UPDATEs of old and s as one batch: one
// round trip.
func (t *tx) RotateRefreshToken(ctx context.Context, old, successor *gatehouse.RefreshToken, s *gatehouse.Session) error {
	if s != nil {
		if _, ok := canonicalUUID(s.ID); !ok {
			return fmt.Errorf("postgres: rotate refresh token: update session %q: %w", s.ID, records.ErrNotFound)
		}
	}
	b := &pgx.Batch{}
	b.Queue(insertRefreshTokenSQL, refreshTokenArgs(successor)...)
	b.Queue(`UPDATE refresh_tokens SET used_at = $1, replaced_by = $2 WHERE hash = $3`,
		timeArg(old.UsedAt), nullBytes(old.ReplacedBy), old.Hash)
	if s != nil {
		b.Queue(`UPDATE sessions SET last_active_at = $1, ip = $2, location = $3, expires_at = $4, revoked_at = $5,
			revoke_reason = $6 WHERE id = $7`,
			s.LastActiveAt, s.IP, s.Location, s.ExpiresAt, timeArg(s.RevokedAt), s.RevokeReason, s.ID)
	}
	if err := sendRotation(t.tx.SendBatch(ctx, b), s != nil); err != nil {
		return fmt.Errorf("postgres: rotate refresh token of session %s: %w", old.SessionID, translateCtx(ctx, err))
	}
	return nil
}

// sendRotation reads the results of RotateRefreshToken's batch and closes it.
func sendRotation(br pgx.BatchResults, session bool) (err error) {
	defer func() {
		if cerr := br.Close(); err == nil {
			err = cerr
		}
	}()
	if _, err := br.Exec(); err != nil {
		return fmt.Errorf("create successor: %w", err)
	}
	tag, err := br.Exec()
	if err == nil && tag.RowsAffected() == 0 {
		err = fmt.Errorf("%w: no such refresh token", records.ErrNotFound)
	}
	if err != nil {
		return fmt.Errorf("update refresh token: %w", err)
	}
	if !session {
		return nil
	}
	tag, err = br.Exec()
	if err == nil && tag.RowsAffected() == 0 {
		err = fmt.Errorf("%w: no such session", records.ErrNotFound)
	}
	if err != nil {
		return fmt.Errorf("update session: %w", err)
	}
	return nil
}

// rotateLiveSQL is RotateLiveRefreshToken in one statement. cur reads and locks the token and its
// session as GetRefreshTokenAndSessionForUpdate does: a statement that waited for the token's lock
// goes on with both rows as the other transaction left them. live keeps the row when
// RefreshRotation.Live would; the three writes act only on what live kept. Data-modifying CTEs all
// see the rows as cur read them, so each states its own condition: the used mark and the activity
// join live, and the activity's condition is RefreshRotation.Touches.
//
// $1 hash, $2 successor hash, $3 At, $4 ActiveSince, $5 TouchBy, $6 IP, $7 Location.
const rotateLiveSQL = `WITH cur AS MATERIALIZED (
		SELECT rt.generation, rt.expires_at AS token_expires_at, rt.used_at,
			s.id, s.account_id, s.user_agent, s.device, s.ip, s.location, s.amr, s.created_at, s.last_active_at,
			s.expires_at, s.revoked_at, s.revoke_reason
		FROM refresh_tokens rt JOIN sessions s ON s.id = rt.session_id
		WHERE rt.hash = $1::bytea
		FOR UPDATE OF rt FOR NO KEY UPDATE OF s
	), live AS (
		SELECT * FROM cur
		WHERE used_at IS NULL AND token_expires_at > $3::timestamptz
			AND revoked_at IS NULL AND expires_at > $3::timestamptz AND last_active_at >= $4::timestamptz
	), successor AS (
		INSERT INTO refresh_tokens (hash, session_id, account_id, generation, created_at, expires_at)
		SELECT $2::bytea, id, account_id, generation + 1, $3::timestamptz, expires_at FROM live
	), used AS (
		UPDATE refresh_tokens SET used_at = $3::timestamptz, replaced_by = $2::bytea
		FROM live WHERE refresh_tokens.hash = $1::bytea
		RETURNING 1
	), touched AS (
		UPDATE sessions SET last_active_at = $3::timestamptz,
			ip = CASE WHEN $6::text = '' THEN sessions.ip ELSE $6::text END,
			location = CASE WHEN $6::text = '' THEN sessions.location ELSE $7::text END
		FROM live
		WHERE sessions.id = live.id AND (live.last_active_at <= $5::timestamptz
			OR ($6::text <> '' AND (live.ip <> $6::text OR live.location <> $7::text)))
		RETURNING 1
	)
	SELECT id, account_id, user_agent, device, ip, location, amr, created_at, last_active_at,
		expires_at, revoked_at, revoke_reason, EXISTS (SELECT FROM used), EXISTS (SELECT FROM touched)
	FROM cur`

// RotateLiveRefreshToken runs the rotation as one statement outside any transaction: one round trip
// instead of four (begin, the locking select, the writes, commit), and the lock is held for no longer
// than the statement.
func (db *DB) RotateLiveRefreshToken(ctx context.Context, r *records.RefreshRotation) (*gatehouse.Session, bool, error) {
	var (
		s                gatehouse.Session
		amr              []byte
		rotated, touched bool
	)
	err := db.pool.QueryRow(ctx, rotateLiveSQL, r.Hash, r.Successor, r.At, r.ActiveSince, r.TouchBy, r.IP, r.Location).Scan(
		&s.ID, &s.AccountID, &s.UserAgent, &s.Device, &s.IP, &s.Location, &amr,
		timeDest{&s.CreatedAt}, timeDest{&s.LastActiveAt}, timeDest{&s.ExpiresAt}, timeDest{&s.RevokedAt}, &s.RevokeReason,
		&rotated, &touched)
	if err != nil {
		return nil, false, fmt.Errorf("postgres: rotate refresh token: %w", translateCtx(ctx, err))
	}
	if !rotated {
		return nil, false, nil
	}
	if err := json.Unmarshal(amr, &s.AMR); err != nil {
		return nil, false, fmt.Errorf("postgres: rotate refresh token: decode amr of session %s: %w", s.ID, err)
	}
	if touched {
		r.Touch(&s)
	}
	return &s, true, nil
}

func getSession(ctx context.Context, q querier, id string) (*gatehouse.Session, error) {
	if _, ok := canonicalUUID(id); !ok {
		return nil, fmt.Errorf("postgres: get session %q: %w", id, records.ErrNotFound)
	}
	s, err := scanSession(q.QueryRow(ctx, `SELECT `+sessionColumns+` FROM sessions WHERE id = $1`, id))
	if err != nil {
		return nil, fmt.Errorf("postgres: get session %s: %w", id, translateCtx(ctx, err))
	}
	return s, nil
}

func listSessions(ctx context.Context, q querier, accountID string) ([]*gatehouse.Session, error) {
	list := []*gatehouse.Session{}
	if _, ok := canonicalUUID(accountID); !ok {
		return list, nil
	}
	const query = `SELECT ` + sessionColumns + ` FROM sessions
		WHERE account_id = $1 AND revoked_at IS NULL ORDER BY created_at DESC, id DESC`
	rows, err := q.Query(ctx, query, accountID)
	if err != nil {
		return nil, fmt.Errorf("postgres: list sessions of %s: %w", accountID, translateCtx(ctx, err))
	}
	list, err = pgx.AppendRows(list, rows, func(row pgx.CollectableRow) (*gatehouse.Session, error) {
		return scanSession(row)
	})
	if err != nil {
		return nil, fmt.Errorf("postgres: list sessions of %s: %w", accountID, translateCtx(ctx, err))
	}
	return list, nil
}

func scanSession(row pgx.Row) (*gatehouse.Session, error) {
	var (
		s   gatehouse.Session
		amr []byte
	)
	err := row.Scan(&s.ID, &s.AccountID, &s.UserAgent, &s.Device, &s.IP, &s.Location, &amr,
		timeDest{&s.CreatedAt}, timeDest{&s.LastActiveAt}, timeDest{&s.ExpiresAt}, timeDest{&s.RevokedAt}, &s.RevokeReason)
	if err != nil {
		return nil, err
	}
	if err := json.Unmarshal(amr, &s.AMR); err != nil {
		return nil, fmt.Errorf("decode amr of session %s: %w", s.ID, err)
	}
	return &s, nil
}

func scanRefreshToken(row pgx.Row) (*gatehouse.RefreshToken, error) {
	var rt gatehouse.RefreshToken
	err := row.Scan(&rt.Hash, &rt.SessionID, &rt.AccountID, &rt.Generation,
		timeDest{&rt.CreatedAt}, timeDest{&rt.ExpiresAt}, timeDest{&rt.UsedAt}, &rt.ReplacedBy)
	if err != nil {
		return nil, err
	}
	return &rt, nil
}

// sessionAMR encodes the authentication methods as a JSON array ("[]" for none); pgx sends a
// string to a jsonb parameter as the JSON text itself.
func sessionAMR(amr []string) (string, error) {
	if amr == nil {
		amr = []string{}
	}
	b, err := json.Marshal(amr)
	if err != nil {
		return "", fmt.Errorf("encode amr: %w", err)
	}
	return string(b), nil
}
