package sqlite

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/gatehouse/gatehouse"
	"github.com/gatehouse/gatehouse/internal/records"
)

var _ records.RefreshRotator = (*DB)(nil)

const sessionColumns = `id, account_id, user_agent, device, ip, location, amr, created_at, last_active_at,
	expires_at, revoked_at, revoke_reason`

const refreshTokenColumns = `hash, session_id, account_id, generation, created_at, expires_at, used_at, replaced_by`

// GetSession returns the session, revoked or not, or records.ErrNotFound.
func (db *DB) GetSession(ctx context.Context, id string) (*gatehouse.Session, error) {
	return getSession(ctx, db.read, id)
}

func (t *tx) GetSession(ctx context.Context, id string) (*gatehouse.Session, error) {
	return getSession(ctx, t.tx, id)
}

// ListSessions returns the account's sessions that are not revoked, newest first.
func (db *DB) ListSessions(ctx context.Context, accountID string) ([]*gatehouse.Session, error) {
	return listSessions(ctx, db.read, accountID)
}

func (t *tx) ListSessions(ctx context.Context, accountID string) ([]*gatehouse.Session, error) {
	return listSessions(ctx, t.tx, accountID)
}

func (t *tx) CreateSession(ctx context.Context, s *gatehouse.Session) error {
	amr, err := sessionAMR(s.AMR)
	if err != nil {
		return fmt.Errorf("sqlite: create session %s: %w", s.ID, err)
	}
	const q = `INSERT INTO sessions (` + sessionColumns + `) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`
	_, err = t.tx.ExecContext(ctx, q, s.ID, s.AccountID, s.UserAgent, s.Device, s.IP, s.Location, amr,
		timeText(s.CreatedAt), timeText(s.LastActiveAt), timeText(s.ExpiresAt),
		timeArg(s.RevokedAt), s.RevokeReason)
	if err != nil {
		return fmt.Errorf("sqlite: create session %s: %w", s.ID, translateCtx(ctx, err))
	}
	return nil
}

// StartSession runs the three inserts in order: in process, one call costs no more than three.
func (t *tx) StartSession(ctx context.Context, s *gatehouse.Session, first *gatehouse.RefreshToken, e *gatehouse.AuditEvent) error {
	if err := t.CreateSession(ctx, s); err != nil {
		return err
	}
	if err := t.CreateRefreshToken(ctx, first); err != nil {
		return err
	}
	if e == nil {
		return nil
	}
	return t.InsertAuditEvent(ctx, e)
}

func (t *tx) UpdateSession(ctx context.Context, s *gatehouse.Session) error {
	const q = `UPDATE sessions SET last_active_at = ?, ip = ?, location = ?, expires_at = ?, revoked_at = ?,
		revoke_reason = ? WHERE id = ?`
	res, err := t.tx.ExecContext(ctx, q, timeText(s.LastActiveAt), s.IP, s.Location, timeText(s.ExpiresAt),
		timeArg(s.RevokedAt), s.RevokeReason, s.ID)
	if err == nil {
		err = matchedRow(res)
	}
	if err != nil {
		return fmt.Errorf("sqlite: update session %s: %w", s.ID, translateCtx(ctx, err))
	}
	return nil
}

func (t *tx) RevokeSessions(ctx context.Context, accountID, exceptID string, at time.Time, reason string) ([]string, error) {
	const q = `UPDATE sessions SET revoked_at = ?, revoke_reason = ?
		WHERE account_id = ? AND revoked_at IS NULL AND id <> ? RETURNING id`
	rows, err := t.tx.QueryContext(ctx, q, timeText(at), reason, accountID, exceptID)
	if err != nil {
		return nil, fmt.Errorf("sqlite: revoke sessions of %s: %w", accountID, translateCtx(ctx, err))
	}
	defer rows.Close()
	ids := []string{}
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, fmt.Errorf("sqlite: revoke sessions of %s: %w", accountID, translateCtx(ctx, err))
		}
		ids = append(ids, id)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: revoke sessions of %s: %w", accountID, translateCtx(ctx, err))
	}
	return ids, nil
}

func (t *tx) CreateRefreshToken(ctx context.Context, rt *gatehouse.RefreshToken) error {
	const q = `INSERT INTO refresh_tokens (` + refreshTokenColumns + `) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`
	_, err := t.tx.ExecContext(ctx, q, rt.Hash, rt.SessionID, rt.AccountID, rt.Generation,
		timeText(rt.CreatedAt), timeText(rt.ExpiresAt), timeArg(rt.UsedAt), nullBytes(rt.ReplacedBy))
	if err != nil {
		return fmt.Errorf("sqlite: create refresh token of session %s: %w", rt.SessionID, translateCtx(ctx, err))
	}
	return nil
}

// GetRefreshTokenForUpdate needs no locking clause: a transaction holds SQLite's only write lock
// from its start (BEGIN IMMEDIATE on the one write connection), so no other can rotate the token
// before this one ends.
func (t *tx) GetRefreshTokenForUpdate(ctx context.Context, hash []byte) (*gatehouse.RefreshToken, error) {
	row := t.tx.QueryRowContext(ctx, `SELECT `+refreshTokenColumns+` FROM refresh_tokens WHERE hash = ?`, hash)
	rt, err := scanRefreshToken(row)
	if err != nil {
		return nil, fmt.Errorf("sqlite: get refresh token: %w", translateCtx(ctx, err))
	}
	return rt, nil
}

func (t *tx) UpdateRefreshToken(ctx context.Context, rt *gatehouse.RefreshToken) error {
	const q = `UPDATE refresh_tokens SET used_at = ?, replaced_by = ? WHERE hash = ?`
	res, err := t.tx.ExecContext(ctx, q, timeArg(rt.UsedAt), nullBytes(rt.ReplacedBy), rt.Hash)
	if err == nil {
		err = matchedRow(res)
	}
	if err != nil {
		return fmt.Errorf("sqlite: update refresh token of session %s: %w", rt.SessionID, translateCtx(ctx, err))
	}
	return nil
}

// GetRefreshTokenAndSessionForUpdate reads the token, then its session: SQLite runs in process, so
// two statements cost no more than one, and the transaction's write lock already serialises them.
func (t *tx) GetRefreshTokenAndSessionForUpdate(ctx context.Context, hash []byte) (*gatehouse.RefreshToken, *gatehouse.Session, error) {
	rt, err := t.GetRefreshTokenForUpdate(ctx, hash)
	if err != nil {
		return nil, nil, err
	}
	s, err := getSession(ctx, t.tx, rt.SessionID)
	if err != nil {
		return nil, nil, fmt.Errorf("sqlite: get session of refresh token: %w", err)
	}
	return rt, s, nil
}

// RotateRefreshToken runs the rotation's three statements in order.
func (t *tx) RotateRefreshToken(ctx context.Context, old, successor *gatehouse.RefreshToken, s *gatehouse.Session) error {
	if err := t.CreateRefreshToken(ctx, successor); err != nil {
		return err
	}
	if err := t.UpdateRefreshToken(ctx, old); err != nil {
		return err
	}
	if s == nil {
		return nil
	}
	return t.UpdateSession(ctx, s)
}

// RotateLiveRefreshToken runs the rotation in a write transaction of its own, as a refresh did
// before: SQLite runs in process, so its statements cost no round trips, and the write lock held from
// the transaction's start serialises it with every other rotation.
func (db *DB) RotateLiveRefreshToken(ctx context.Context, r *records.RefreshRotation) (*gatehouse.Session, bool, error) {
	var sess *gatehouse.Session
	err := db.InTx(ctx, func(ctx context.Context, tx records.Tx) error {
		rt, s, err := tx.GetRefreshTokenAndSessionForUpdate(ctx, r.Hash)
		if err != nil {
			return err
		}
		if !r.Live(rt, s) {
			return nil
		}
		successor, touched := r.Apply(rt, s)
		var activity *gatehouse.Session // nil: the stored activity stays
		if touched {
			activity = s
		}
		if err := tx.RotateRefreshToken(ctx, rt, successor, activity); err != nil {
			return err
		}
		sess = s
		return nil
	})
	if err != nil {
		return nil, false, err
	}
	return sess, sess != nil, nil
}

func getSession(ctx context.Context, q querier, id string) (*gatehouse.Session, error) {
	s, err := scanSession(q.QueryRowContext(ctx, `SELECT `+sessionColumns+` FROM sessions WHERE id = ?`, id))
	if err != nil {
		return nil, fmt.Errorf("sqlite: get session %s: %w", id, translateCtx(ctx, err))
	}
	return s, nil
}

func listSessions(ctx context.Context, q querier, accountID string) ([]*gatehouse.Session, error) {
	const query = `SELECT ` + sessionColumns + ` FROM sessions
		WHERE account_id = ? AND revoked_at IS NULL ORDER BY created_at DESC, id DESC`
	rows, err := q.QueryContext(ctx, query, accountID)
	if err != nil {
		return nil, fmt.Errorf("sqlite: list sessions of %s: %w", accountID, translateCtx(ctx, err))
	}
	defer rows.Close()
	list := []*gatehouse.Session{}
	for rows.Next() {
		s, err := scanSession(rows)
		if err != nil {
			return nil, fmt.Errorf("sqlite: list sessions of %s: %w", accountID, translateCtx(ctx, err))
		}
		list = append(list, s)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: list sessions of %s: %w", accountID, translateCtx(ctx, err))
	}
	return list, nil
}

func scanSession(row rowScanner) (*gatehouse.Session, error) {
	var (
		s   gatehouse.Session
		amr string
	)
	err := row.Scan(&s.ID, &s.AccountID, &s.UserAgent, &s.Device, &s.IP, &s.Location, &amr,
		timeDest{&s.CreatedAt}, timeDest{&s.LastActiveAt}, timeDest{&s.ExpiresAt}, timeDest{&s.RevokedAt}, &s.RevokeReason)
	if err != nil {
		return nil, err
	}
	if err := json.Unmarshal([]byte(amr), &s.AMR); err != nil {
		return nil, fmt.Errorf("decode amr of session %s: %w", s.ID, err)
	}
	return &s, nil
}

func scanRefreshToken(row rowScanner) (*gatehouse.RefreshToken, error) {
	var rt gatehouse.RefreshToken
	err := row.Scan(&rt.Hash, &rt.SessionID, &rt.AccountID, &rt.Generation,
		timeDest{&rt.CreatedAt}, timeDest{&rt.ExpiresAt}, timeDest{&rt.UsedAt}, &rt.ReplacedBy)
	if err != nil {
		return nil, err
	}
	return &rt, nil
}

// sessionAMR encodes the authentication methods as a JSON array ("[]" for none).
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
