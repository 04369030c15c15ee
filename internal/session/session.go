// Package session owns sign-in sessions and their refresh-token families: starting a session, rotating
// its refresh token on every use (with reuse detection and a short grace window for honest retries),
// listing and revoking sessions, and the revocation set that makes a revoked session's access tokens
// fail on every node within a second (see RevocationChecker).
//
// A refresh token is 256 random bits, given to the client once and stored only as its SHA-256. Each
// use marks it used and creates its successor in one atomic write (one statement on PostgreSQL),
// under a row lock on the presented token, so two concurrent refreshes of one token never yield two
// live successors: the second finds the token used. If that happens within the grace window, it
// gets the very successor the first got (kept for the window in the ephemeral store, encrypted under
// a key derived from the old token); later, presenting a used token means it was copied, so the
// session is revoked.
package session

import (
	"bytes"
	"cmp"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/google/uuid"

	"github.com/gatehouse/gatehouse"
	"github.com/gatehouse/gatehouse/internal/ephemeral"
	"github.com/gatehouse/gatehouse/internal/records"
)

// Defaults applied by NewService when an option is zero.
const (
	DefaultAbsoluteLifetime = 30 * 24 * time.Hour
	DefaultIdleTimeout      = 7 * 24 * time.Hour
	DefaultRefreshGrace     = 10 * time.Second
	DefaultAccessTokenTTL   = 15 * time.Minute
)

// graceSlack keeps a grace entry a little past the window, so that a retry the clock judges inside
// the window (on a node whose clock runs behind the store's) still finds it.
const graceSlack = time.Second

// activityResolution is how stale a session's stored last activity may become before a refresh
// writes it again (a refresh from another IP or place always writes it). Skipping the write on most
// refreshes saves a statement and a row version each time; the idle timeout may then end a session
// up to this much early. It is capped at a tenth of the idle timeout (see Service.touchEvery).
const activityResolution = time.Minute

// revocationMargin is added to the access-token lifetime to keep a revocation in the set: it covers
// the verifiers' leeway and clock differences between nodes.
const revocationMargin = time.Minute

// Revocation reasons (gatehouse.Session.RevokeReason).
const (
	RevokeLogout          = "logout"           // the user signed out of this session
	RevokeByUser          = "revoked"          // the user ended it from the session list
	RevokeReuseDetected   = "reuse_detected"   // a rotated refresh token was presented again
	RevokeAccountDeleted  = "account_deleted"  // the account was deleted
	RevokeAccountDisabled = "account_disabled" // an administrator disabled the account
	RevokePasswordChanged = "password_changed" // the password was changed or reset
)

// Problem reasons (gatehouse.Error.Reason) of failed refreshes; all are EUNAUTHENTICATED.
const (
	ReasonInvalidRefreshToken = "invalid_refresh_token" // unknown or malformed token
	ReasonSessionExpired      = "session_expired"       // revoked, past its lifetime, or idle too long
	ReasonRefreshTokenReused  = "refresh_token_reused"  // a used token, outside the grace window
)

// Audit actions this package records.
const (
	ActionReuseDetected = "token.reuse_detected"
	ActionRevoked       = "session.revoked"
	ActionLogout        = "session.logout"
)

// AuditRecorder writes security events. internal/audit implements it; w is the transaction the
// event belongs to, so that it is committed (or not) with the change it records.
type AuditRecorder interface {
	Record(ctx context.Context, w records.AuditWriter, e gatehouse.AuditEvent) error
}

// Options configures a Service.
type Options struct {
	AbsoluteLifetime time.Duration // a session ends this long after sign-in; default 30 days
	IdleTimeout      time.Duration // ... or this long after its last refresh; default 7 days
	// RefreshGrace is how long after a rotation the old token still yields the same successor
	// (an honest client retrying); default 10 s, negative for none.
	RefreshGrace time.Duration
	// AccessTokenTTL is the longest lifetime of an access token; a revocation stays in the
	// revocation set this long (plus a margin). Default 15 minutes.
	AccessTokenTTL time.Duration
	// Audit records the security events; required.
	Audit  AuditRecorder
	Now    func() time.Time // default time.Now
	Rand   io.Reader        // default crypto/rand.Reader
	Logger *slog.Logger
}

// ClientMeta describes the client starting or refreshing a session, as the HTTP layer saw it. (The
// audit recorder takes the request id, IP and user agent of other events from the context.)
type ClientMeta struct {
	UserAgent string
	IP        string
	Location  string   // coarse place of the IP, when known
	AMR       []string // how the user authenticated (Start only), e.g. "pwd"
}

// Service manages sessions. It is safe for concurrent use.
type Service struct {
	store     records.Store
	eph       ephemeral.Store
	audit     AuditRecorder
	absolute  time.Duration
	idle      time.Duration
	grace     time.Duration // <= 0: none
	revokeTTL time.Duration
	now       func() time.Time
	rand      io.Reader
	log       *slog.Logger
}

// NewService returns a Service keeping sessions in store and the revocation set and grace entries
// in eph.
func NewService(store records.Store, eph ephemeral.Store, opts Options) (*Service, error) {
	switch {
	case store == nil || eph == nil:
		return nil, errors.New("new session service: store and ephemeral store are required")
	case opts.Audit == nil:
		return nil, errors.New("new session service: an audit recorder is required")
	case opts.AbsoluteLifetime < 0 || opts.IdleTimeout < 0 || opts.AccessTokenTTL < 0:
		return nil, errors.New("new session service: lifetimes must not be negative")
	}
	s := &Service{
		store:     store,
		eph:       eph,
		audit:     opts.Audit,
		absolute:  cmp.Or(opts.AbsoluteLifetime, DefaultAbsoluteLifetime),
		idle:      cmp.Or(opts.IdleTimeout, DefaultIdleTimeout),
		grace:     cmp.Or(opts.RefreshGrace, DefaultRefreshGrace),
		revokeTTL: cmp.Or(opts.AccessTokenTTL, DefaultAccessTokenTTL) + revocationMargin,
		now:       opts.Now,
		rand:      cmp.Or(opts.Rand, rand.Reader),
		log:       cmp.Or(opts.Logger, slog.New(slog.DiscardHandler)),
	}
	if s.now == nil {
		s.now = time.Now
	}
	return s, nil
}

// Errors of a failed refresh. Each call makes a new value, so that no caller can change another's.
func errInvalidRefresh() error {
	return &gatehouse.Error{Code: gatehouse.EUNAUTHENTICATED, Reason: ReasonInvalidRefreshToken,
		Message: "The refresh token is not valid."}
}

func errSessionExpired() error {
	return &gatehouse.Error{Code: gatehouse.EUNAUTHENTICATED, Reason: ReasonSessionExpired,
		Message: "The session has ended. Sign in again."}
}

func errRefreshReused() error {
	return &gatehouse.Error{Code: gatehouse.EUNAUTHENTICATED, Reason: ReasonRefreshTokenReused,
		Message: "The refresh token was already used, so the session has been ended. Sign in again."}
}

func errSessionNotFound() error {
	return gatehouse.Errorf(gatehouse.ENOTFOUND, "Session not found.")
}

// ephemeralErr classes a failure of the ephemeral store: unreachable is EUNAVAILABLE (the caller
// answers 503 and the client retries); anything else is a bug.
func ephemeralErr(what string, err error) error {
	if errors.Is(err, ephemeral.ErrUnavailable) {
		return gatehouse.Wrap(gatehouse.EUNAVAILABLE, "The service is temporarily unavailable. Try again.", fmt.Errorf("%s: %w", what, err))
	}
	return fmt.Errorf("%s: %w", what, err)
}

// clock returns the current time as the stores keep it: UTC, to the microsecond, so that what the
// service returns equals what it stored.
func (s *Service) clock() time.Time { return s.now().UTC().Truncate(time.Microsecond) }

// live reports whether the session may still be used at now: not revoked, within its absolute
// lifetime and not idle for longer than the idle timeout.
func (s *Service) live(sess *gatehouse.Session, now time.Time) bool {
	return sess.RevokedAt.IsZero() && now.Before(sess.ExpiresAt) && !now.After(sess.LastActiveAt.Add(s.idle))
}

// Start creates a session for the account in tx, with its first refresh token, and returns both.
// The token is returned only here and by Refresh: it is stored only as its hash.
func (s *Service) Start(ctx context.Context, tx records.Tx, accountID string, meta ClientMeta) (*gatehouse.Session, string, error) {
	return s.start(ctx, tx, accountID, meta, nil)
}

// StartRecorded is Start that also records e, the event of the sign-in, about the new session (its
// SessionID is set) through the audit recorder. The session, its token and the event are written
// together, in one round trip on PostgreSQL.
func (s *Service) StartRecorded(ctx context.Context, tx records.Tx, accountID string, meta ClientMeta, e gatehouse.AuditEvent) (*gatehouse.Session, string, error) {
	return s.start(ctx, tx, accountID, meta, &e)
}

func (s *Service) start(ctx context.Context, tx records.Tx, accountID string, meta ClientMeta, e *gatehouse.AuditEvent) (*gatehouse.Session, string, error) {
	now := s.clock()
	id, err := uuid.NewV7FromReader(s.rand)
	if err != nil {
		return nil, "", fmt.Errorf("start session for %s: %w", accountID, err)
	}
	ua := truncateUTF8(meta.UserAgent, maxUserAgentBytes)
	sess := &gatehouse.Session{
		ID:           id.String(),
		AccountID:    accountID,
		UserAgent:    ua,
		Device:       DeviceName(ua),
		IP:           meta.IP,
		Location:     meta.Location,
		AMR:          append([]string{}, meta.AMR...),
		CreatedAt:    now,
		LastActiveAt: now,
		ExpiresAt:    now.Add(s.absolute),
	}
	tok, hash, err := newRefreshToken(s.rand)
	if err != nil {
		return nil, "", fmt.Errorf("start session for %s: %w", accountID, err)
	}
	rt := &gatehouse.RefreshToken{
		Hash: hash, SessionID: sess.ID, AccountID: accountID, Generation: 1,
		CreatedAt: now, ExpiresAt: sess.ExpiresAt,
	}
	if e == nil {
		err = tx.StartSession(ctx, sess, rt, nil)
	} else {
		e.SessionID = sess.ID
		err = s.audit.Record(ctx, &startWriter{tx: tx, sess: sess, first: rt}, *e)
	}
	if err != nil {
		return nil, "", fmt.Errorf("start session for %s: %w", accountID, err)
	}
	return sess, tok, nil
}

// startWriter is the records.AuditWriter through which StartRecorded has the recorder record its
// event: the recorder completes and cleans the event as for any other, and its write stores the
// session and the first token with it, in one call to the store.
type startWriter struct {
	tx    records.Tx
	sess  *gatehouse.Session
	first *gatehouse.RefreshToken
}

func (w *startWriter) InsertAuditEvent(ctx context.Context, e *gatehouse.AuditEvent) error {
	return w.tx.StartSession(ctx, w.sess, w.first, e)
}

// Refresh rotates a refresh token: it returns the session (the caller issues the new access token
// from its ID, AccountID and AMR, with the account's current roles) and the successor token. Failures are
// EUNAUTHENTICATED with Reason ReasonInvalidRefreshToken, ReasonSessionExpired or
// ReasonRefreshTokenReused; an unreachable ephemeral store is EUNAVAILABLE.
//
// A token presented again within the grace window of its rotation yields the same successor. One
// presented later revokes the session (and so every token of its family), records a
// token.reuse_detected event and puts the session in the revocation set.
func (s *Service) Refresh(ctx context.Context, token string, meta ClientMeta) (*gatehouse.Session, string, error) {
	hash, ok := parseRefreshToken(token)
	if !ok {
		return nil, "", errInvalidRefresh()
	}
	sess, next, err := s.rotateLive(ctx, token, hash, meta)
	if err != nil {
		return nil, "", err
	}
	if sess != nil {
		return sess, next, nil
	}
	return s.refreshLocked(ctx, token, hash, meta)
}

// rotateLive serves the common case, a token that may still be used, in one atomic step of the
// store (on PostgreSQL, one statement instead of a transaction). It refuses an unknown token, and
// returns a nil session and no error when it rotated nothing: the token is used or expired, its
// session has ended, or its grace entry exists or could not be written. refreshLocked then decides
// under the token's lock, as before.
//
// The successor is kept for the grace window before the store rotates, so that a retry which finds
// the token used always finds its successor too; and only if the token has no entry yet: one that
// exists may belong to a rotation that has committed, and a retry must get that successor. When the
// store rotated nothing, the entry written here is removed again; when the store failed, it stays,
// since the rotation may have committed without the answer reaching here.
func (s *Service) rotateLive(ctx context.Context, token string, hash []byte, meta ClientMeta) (*gatehouse.Session, string, error) {
	next, nextHash, err := newRefreshToken(s.rand)
	if err != nil {
		return nil, "", fmt.Errorf("refresh: %w", err)
	}
	var entry []byte // the grace entry written here, if any
	if s.grace > 0 {
		sealed, err := sealGrace(token, hash, next, s.rand)
		if err != nil {
			return nil, "", fmt.Errorf("refresh: %w", err)
		}
		kept, err := s.eph.SetNX(ctx, graceKey(hash), sealed, s.grace+graceSlack)
		if err != nil || !kept {
			// An unreachable ephemeral store too is left to refreshLocked: a reuse is detected
			// even then, and a rotation refused there.
			return nil, "", nil
		}
		entry = sealed
	}
	sess, rotated, err := s.store.RotateLiveRefreshToken(ctx, s.rotation(hash, nextHash, s.clock(), meta))
	if err != nil && !errors.Is(err, records.ErrNotFound) {
		return nil, "", fmt.Errorf("refresh: %w", err)
	}
	if rotated {
		return sess, next, nil
	}
	if entry != nil {
		// Best effort: a stale entry expires with the window, refreshLocked overwrites it when
		// it rotates, and readGrace ignores one whose successor the token does not record.
		if _, derr := s.eph.DeleteIfEqual(ctx, graceKey(hash), entry); derr != nil {
			s.log.DebugContext(ctx, "session: unused grace entry not removed", slog.Any("err", derr))
		}
	}
	if err != nil { // records.ErrNotFound
		return nil, "", errInvalidRefresh()
	}
	return nil, "", nil
}

// refreshLocked answers a refresh in a transaction that locks the token and its session: every
// outcome but the common one (see rotateLive), and that one too when rotateLive could not take it.
func (s *Service) refreshLocked(ctx context.Context, token string, hash []byte, meta ClientMeta) (*gatehouse.Session, string, error) {
	var (
		sess    *gatehouse.Session
		next    string
		failure error // the answer when the transaction commits but the refresh is refused
	)
	err := s.store.InTx(ctx, func(ctx context.Context, tx records.Tx) error {
		sess, next, failure = nil, "", nil
		rt, cur, err := tx.GetRefreshTokenAndSessionForUpdate(ctx, hash)
		if errors.Is(err, records.ErrNotFound) {
			failure = errInvalidRefresh()
			return nil
		}
		if err != nil {
			return fmt.Errorf("refresh: %w", err)
		}
		now := s.clock()
		switch {
		case !s.live(cur, now) || !now.Before(rt.ExpiresAt):
			failure = errSessionExpired()
			return nil
		case !rt.UsedAt.IsZero() && s.grace > 0 && now.Sub(rt.UsedAt) <= s.grace:
			next, err = s.readGrace(ctx, token, rt)
			if errors.Is(err, ephemeral.ErrNotFound) {
				// The entry is written before the rotation commits, so the ephemeral store lost
				// it (a restart, an eviction). Without it there is no successor to give; the
				// client is honest, so the session stays.
				s.log.WarnContext(ctx, "session: grace entry missing for a token rotated within the grace window",
					slog.String("session_id", cur.ID))
				failure = errInvalidRefresh()
				return nil
			}
			if err != nil {
				return err
			}
			sess = cur
			return nil
		case !rt.UsedAt.IsZero():
			failure = errRefreshReused()
			return s.reuseDetected(ctx, tx, cur, rt, now, meta)
		}
		next, err = s.rotate(ctx, tx, token, rt, cur, now, meta)
		if err != nil {
			return err
		}
		sess = cur
		return nil
	})
	if err != nil {
		return nil, "", err
	}
	if failure != nil {
		return nil, "", failure
	}
	return sess, next, nil
}

// touchEvery is how stale a session's stored last activity may become before a refresh writes it.
func (s *Service) touchEvery() time.Duration { return min(activityResolution, s.idle/10) }

// rotation describes a rotation at now, to the successor with hash successor, for the client meta
// describes: the store applies the rules of records.RefreshRotation with this service's idle
// timeout and activity resolution.
func (s *Service) rotation(hash, successor []byte, now time.Time, meta ClientMeta) *records.RefreshRotation {
	return &records.RefreshRotation{
		Hash:        hash,
		Successor:   successor,
		At:          now,
		ActiveSince: now.Add(-s.idle),
		TouchBy:     now.Add(-s.touchEvery()),
		IP:          meta.IP,
		Location:    meta.Location,
	}
}

// rotate creates the successor of rt, marks rt used, records the activity on the session (when it
// changed meaningfully: see activityResolution) and keeps the successor for the grace window, in tx,
// which holds the lock on rt. The writes go to the store together, in as few round trips as it
// allows. The grace entry is written before the transaction commits, so that a retry which finds
// the token used always finds its successor too; it replaces any entry rotateLive left.
func (s *Service) rotate(ctx context.Context, tx records.Tx, token string, rt *gatehouse.RefreshToken, sess *gatehouse.Session, now time.Time, meta ClientMeta) (string, error) {
	next, nextHash, err := newRefreshToken(s.rand)
	if err != nil {
		return "", fmt.Errorf("refresh session %s: %w", sess.ID, err)
	}
	successor, touched := s.rotation(rt.Hash, nextHash, now, meta).Apply(rt, sess)
	var activity *gatehouse.Session // nil: the stored activity is recent enough and the place unchanged
	if touched {
		activity = sess
	}
	if err := tx.RotateRefreshToken(ctx, rt, successor, activity); err != nil {
		return "", fmt.Errorf("refresh session %s: %w", sess.ID, err)
	}
	if s.grace > 0 {
		sealed, err := sealGrace(token, rt.Hash, next, s.rand)
		if err != nil {
			return "", fmt.Errorf("refresh session %s: %w", sess.ID, err)
		}
		if err := s.eph.Set(ctx, graceKey(rt.Hash), sealed, s.grace+graceSlack); err != nil {
			return "", ephemeralErr(fmt.Sprintf("refresh session %s: keep successor for the grace window", sess.ID), err)
		}
	}
	return next, nil
}

// readGrace returns the successor kept for the grace window of rt's rotation; ephemeral.ErrNotFound
// when it is gone, or when the entry holds another successor than the one rt records (one written
// by a rotation that did not happen, left while the true entry was lost).
func (s *Service) readGrace(ctx context.Context, token string, rt *gatehouse.RefreshToken) (string, error) {
	sealed, err := s.eph.Get(ctx, graceKey(rt.Hash))
	if errors.Is(err, ephemeral.ErrNotFound) {
		return "", err
	}
	if err != nil {
		return "", ephemeralErr("refresh: read grace entry", err)
	}
	next, err := openGrace(token, rt.Hash, sealed)
	if err != nil {
		return "", fmt.Errorf("refresh: %w", err)
	}
	if !bytes.Equal(hashRefreshToken(next), rt.ReplacedBy) {
		return "", ephemeral.ErrNotFound
	}
	return next, nil
}

// reuseDetected ends the session whose used token rt was presented again, in tx. The revocation set
// is written on a best-effort basis: the transaction must commit the revocation even if the
// ephemeral store is down (the session's access tokens then live until they expire).
func (s *Service) reuseDetected(ctx context.Context, tx records.Tx, sess *gatehouse.Session, rt *gatehouse.RefreshToken, now time.Time, meta ClientMeta) error {
	sess.RevokedAt, sess.RevokeReason = now, RevokeReuseDetected
	if err := tx.UpdateSession(ctx, sess); err != nil {
		return fmt.Errorf("revoke session %s after refresh-token reuse: %w", sess.ID, err)
	}
	e := s.event(ActionReuseDetected, sess, now)
	e.ActorID = "" // whoever presented the token is not known to be the account
	e.IP, e.UserAgent = meta.IP, truncateUTF8(meta.UserAgent, maxUserAgentBytes)
	e.Outcome, e.Reason = "failure", ReasonRefreshTokenReused
	e.Data = map[string]any{"generation": rt.Generation, "rotated_at": rt.UsedAt.Format(time.RFC3339Nano)}
	if err := s.audit.Record(ctx, tx, e); err != nil {
		return fmt.Errorf("record refresh-token reuse on session %s: %w", sess.ID, err)
	}
	if err := s.markRevoked(ctx, sess.ID); err != nil {
		s.log.ErrorContext(ctx, "session: revoked after refresh-token reuse, but the revocation set could not be written",
			slog.String("session_id", sess.ID), slog.Any("err", err))
	}
	s.log.WarnContext(ctx, "session: refresh-token reuse detected; session revoked",
		slog.String("session_id", sess.ID), slog.String("account_id", sess.AccountID))
	return nil
}

// event returns an audit event about sess, acted on by its own account. The recorder fills the
// request id, IP and user agent from ctx.
func (s *Service) event(action string, sess *gatehouse.Session, now time.Time) gatehouse.AuditEvent {
	e := gatehouse.AuditEvent{
		Action:    action,
		Outcome:   "success",
		ActorID:   sess.AccountID,
		SubjectID: sess.AccountID,
		SessionID: sess.ID,
		CreatedAt: now,
	}
	if id, err := uuid.NewV7FromReader(s.rand); err == nil {
		e.ID = id.String()
	}
	return e
}

// Get returns the account's session if it is live (not revoked, expired or idle); ENOTFOUND
// otherwise, including when it belongs to another account.
func (s *Service) Get(ctx context.Context, accountID, sessionID string) (*gatehouse.Session, error) {
	sess, err := s.store.GetSession(ctx, sessionID)
	if errors.Is(err, records.ErrNotFound) {
		return nil, errSessionNotFound()
	}
	if err != nil {
		return nil, fmt.Errorf("get session %s: %w", sessionID, err)
	}
	if sess.AccountID != accountID || !s.live(sess, s.clock()) {
		return nil, errSessionNotFound()
	}
	return sess, nil
}

// List returns the account's live sessions, newest first.
func (s *Service) List(ctx context.Context, accountID string) ([]*gatehouse.Session, error) {
	all, err := s.store.ListSessions(ctx, accountID)
	if err != nil {
		return nil, fmt.Errorf("list sessions of %s: %w", accountID, err)
	}
	now := s.clock()
	live := all[:0]
	for _, sess := range all {
		if s.live(sess, now) {
			live = append(live, sess)
		}
	}
	return live, nil
}

// Revoke ends one of the account's sessions in a transaction of its own; see RevokeTx.
func (s *Service) Revoke(ctx context.Context, accountID, sessionID, reason string) error {
	return s.store.InTx(ctx, func(ctx context.Context, tx records.Tx) error {
		return s.RevokeTx(ctx, tx, accountID, sessionID, reason)
	})
}

// RevokeTx ends one of the account's sessions in tx: ENOTFOUND if it does not exist, belongs to
// another account or has already ended. It records session.logout (reason RevokeLogout) or
// session.revoked, and puts the session in the revocation set before tx commits: if that fails, so
// does RevokeTx (EUNAVAILABLE), since a revocation that other nodes cannot see is not one. (Should
// tx roll back after all, the session stays live in the store while its access tokens are refused
// until the revocation entry expires: fail-safe, but callers should revoke last in their
// transaction.)
func (s *Service) RevokeTx(ctx context.Context, tx records.Tx, accountID, sessionID, reason string) error {
	sess, err := tx.GetSession(ctx, sessionID)
	if errors.Is(err, records.ErrNotFound) {
		return errSessionNotFound()
	}
	if err != nil {
		return fmt.Errorf("revoke session %s: %w", sessionID, err)
	}
	if sess.AccountID != accountID || !sess.RevokedAt.IsZero() {
		return errSessionNotFound()
	}
	now := s.clock()
	sess.RevokedAt, sess.RevokeReason = now, reason
	if err := tx.UpdateSession(ctx, sess); err != nil {
		return fmt.Errorf("revoke session %s: %w", sessionID, err)
	}
	if err := s.recordRevocation(ctx, tx, sess, reason, now); err != nil {
		return err
	}
	return s.markRevoked(ctx, sess.ID)
}

// RevokeAll ends every session of the account but exceptSessionID ("" for none) in a transaction
// of its own; see RevokeAllTx.
func (s *Service) RevokeAll(ctx context.Context, accountID, exceptSessionID, reason string) ([]string, error) {
	var ids []string
	err := s.store.InTx(ctx, func(ctx context.Context, tx records.Tx) error {
		var err error
		ids, err = s.RevokeAllTx(ctx, tx, accountID, exceptSessionID, reason)
		return err
	})
	if err != nil {
		return nil, err
	}
	return ids, nil
}

// RevokeAllTx ends every session of the account but exceptSessionID ("" for none) in tx, as when
// the account is deleted or disabled or its password changes, and returns the ids it ended. It
// records one event per session and puts them in the revocation set before tx commits.
func (s *Service) RevokeAllTx(ctx context.Context, tx records.Tx, accountID, exceptSessionID, reason string) ([]string, error) {
	now := s.clock()
	ids, err := tx.RevokeSessions(ctx, accountID, exceptSessionID, now, reason)
	if err != nil {
		return nil, fmt.Errorf("revoke sessions of %s: %w", accountID, err)
	}
	for _, id := range ids {
		sess := &gatehouse.Session{ID: id, AccountID: accountID}
		if err := s.recordRevocation(ctx, tx, sess, reason, now); err != nil {
			return nil, err
		}
	}
	if err := s.markRevoked(ctx, ids...); err != nil {
		return nil, err
	}
	return ids, nil
}

func (s *Service) recordRevocation(ctx context.Context, tx records.Tx, sess *gatehouse.Session, reason string, now time.Time) error {
	action := ActionRevoked
	if reason == RevokeLogout {
		action = ActionLogout
	}
	e := s.event(action, sess, now)
	e.Data = map[string]any{"reason": reason}
	if err := s.audit.Record(ctx, tx, e); err != nil {
		return fmt.Errorf("record %s of session %s: %w", action, sess.ID, err)
	}
	return nil
}
