package account

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/gatehouse/gatehouse"
	"github.com/gatehouse/gatehouse/internal/audit"
	"github.com/gatehouse/gatehouse/internal/password"
	"github.com/gatehouse/gatehouse/internal/records"
	"github.com/gatehouse/gatehouse/internal/session"
	"github.com/gatehouse/gatehouse/internal/token"
)

// TokenType is the token_type of issued tokens.
const TokenType = "Bearer"

// AMRPassword is the authentication method reference of a password sign-in (RFC 8176).
const AMRPassword = "pwd"

// LoginInput is a password sign-in. Identifier is an email address (it contains "@") or a phone
// number in any form phone.Parse reads (numbers without a country code are read in
// Options.DefaultRegion).
type LoginInput struct {
	Identifier string
	Password   password.Plain
}

// Tokens is the outcome of a sign-in or a refresh.
type Tokens struct {
	AccessToken  string
	RefreshToken string
	TokenType    string // always "Bearer"
	ExpiresIn    int    // seconds until AccessToken expires
	Account      *gatehouse.Account
	Session      *gatehouse.Session
}

// LogValue implements slog.LogValuer: the tokens are secrets.
func (t *Tokens) LogValue() slog.Value {
	if t == nil {
		return slog.StringValue("<nil>")
	}
	var accountID, sessionID string
	if t.Account != nil {
		accountID = t.Account.ID
	}
	if t.Session != nil {
		sessionID = t.Session.ID
	}
	return slog.GroupValue(slog.String("account_id", accountID), slog.String("session_id", sessionID))
}

// invalidCredentialsMessage is the one message of every failed sign-in that could tell whether the
// account exists.
const invalidCredentialsMessage = "The identifier or the password is wrong."

// errInvalidCredentials answers an unknown account and a wrong password alike.
func errInvalidCredentials() *gatehouse.Error {
	return &gatehouse.Error{Code: gatehouse.EUNAUTHENTICATED, Reason: ReasonInvalidCredentials, Message: invalidCredentialsMessage}
}

// loginFailure is a refused sign-in: what the client is told and what the audit log records.
type loginFailure struct {
	err       *gatehouse.Error
	reason    string // audit reason
	subjectID string // the account, when it exists
}

func (f *loginFailure) Error() string { return f.err.Error() }

// Login signs in with an identifier and a password. On success it starts a session (in the same
// transaction as the audit record and, for a bcrypt or outdated Argon2id hash, the new hash) and
// returns an access token and the session's first refresh token.
//
// An unknown or deleted account, an account without a password and a wrong password all give the
// same EUNAUTHENTICATED invalid_credentials error after the same hashing work. Only after a correct
// password does the answer say more: EFORBIDDEN account_disabled, account_locked, or
// email_not_verified (unless Options.AllowUnverifiedLogin). Every refusal is audited with its real
// reason.
func (s *Service) Login(ctx context.Context, in LoginInput, meta session.ClientMeta) (*Tokens, error) {
	id := strings.TrimSpace(in.Identifier)
	var errs []error
	if id == "" {
		errs = append(errs, invalid("identifier", "An email address or a phone number is required."))
	}
	if in.Password == "" {
		errs = append(errs, invalid("password", "A password is required."))
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	tokens, err := s.login(ctx, id, string(in.Password), meta)
	var f *loginFailure
	if errors.As(err, &f) {
		s.recordLoginFailure(ctx, f, meta)
		return nil, f.err
	}
	if err != nil {
		return nil, fail("login", err)
	}
	return tokens, nil
}

func (s *Service) login(ctx context.Context, id, pw string, meta session.ClientMeta) (*Tokens, error) {
	byEmail := isEmailIdentifier(id)
	a, err := s.findAccount(ctx, id, byEmail)
	if err != nil {
		return nil, err
	}
	if a == nil || a.Status == gatehouse.AccountDeleted || a.PasswordHash == "" {
		if err := s.hasher.DummyVerify(ctx, pw); err != nil {
			return nil, fmt.Errorf("dummy verify: %w", err)
		}
		f := &loginFailure{err: errInvalidCredentials(), reason: FailureUnknownAccount}
		if a != nil && a.Status != gatehouse.AccountDeleted {
			f.reason, f.subjectID = FailureNoPassword, a.ID
		}
		return nil, f
	}
	ok, rehash, err := s.hasher.Verify(ctx, pw, a.PasswordHash)
	switch {
	case errors.Is(err, password.ErrMalformedHash) || errors.Is(err, password.ErrUnsupportedHash):
		// The stored hash cannot be used: the owner must reset the password. The client learns
		// nothing more than from a wrong password, after as much work.
		s.log.ErrorContext(ctx, "login: unusable password hash", slog.String("account_id", a.ID), slog.Any("err", err))
		if err := s.hasher.DummyVerify(ctx, pw); err != nil {
			return nil, fmt.Errorf("dummy verify: %w", err)
		}
		return nil, &loginFailure{err: errInvalidCredentials(), reason: FailureUnusablePassword, subjectID: a.ID}
	case err != nil:
		return nil, fmt.Errorf("verify password: %w", err)
	case !ok:
		return nil, &loginFailure{err: errInvalidCredentials(), reason: FailureInvalidPassword, subjectID: a.ID}
	}
	if f := s.checkSignIn(a, byEmail); f != nil {
		return nil, f
	}
	var newHash string
	if rehash {
		// Outside the transaction, like every hash. A failure only postpones the upgrade.
		if newHash, err = s.hasher.Hash(ctx, pw); err != nil {
			s.log.WarnContext(ctx, "login: rehash failed", slog.String("account_id", a.ID), slog.Any("err", err))
			newHash = ""
		}
	}

	meta.AMR = []string{AMRPassword}
	var out *Tokens
	err = s.store.InTx(ctx, func(ctx context.Context, tx records.Tx) error {
		// Re-read under the transaction: a password change, a deletion or a status change since
		// the hash was checked must win over this sign-in.
		cur, err := tx.GetAccount(ctx, a.ID)
		if errors.Is(err, records.ErrNotFound) {
			return &loginFailure{err: errInvalidCredentials(), reason: FailureUnknownAccount}
		}
		if err != nil {
			return fmt.Errorf("get account: %w", err)
		}
		if cur.PasswordHash != a.PasswordHash || cur.Status == gatehouse.AccountDeleted {
			return &loginFailure{err: errInvalidCredentials(), reason: FailureChangedDuringSignIn, subjectID: a.ID}
		}
		if f := s.checkSignIn(cur, byEmail); f != nil {
			return f
		}
		if newHash != "" {
			cur.PasswordHash = newHash
			cur.UpdatedAt = s.nowUTC()
			if err := tx.UpdateAccount(ctx, cur); err != nil {
				return fmt.Errorf("store upgraded password hash: %w", err)
			}
		}
		out, err = s.startSession(ctx, tx, cur, meta, map[string]any{"rehashed": newHash != ""})
		return err
	})
	if err != nil {
		return nil, err
	}
	if newHash != "" {
		s.invalidate(ctx, a.ID)
	}
	return out, nil
}

// startSession starts a session of a (meta.AMR says how the user signed in), records the sign-in
// with data (and the AMR) in the audit log, and issues the tokens, all in tx. The session, its
// refresh token and the event are written together (one round trip on PostgreSQL).
func (s *Service) startSession(ctx context.Context, tx records.Tx, a *gatehouse.Account, meta session.ClientMeta, data map[string]any) (*Tokens, error) {
	ev := map[string]any{"amr": meta.AMR}
	for k, v := range data {
		ev[k] = v
	}
	sess, refresh, err := s.sessions.StartRecorded(ctx, tx, a.ID, meta, gatehouse.AuditEvent{
		Action:    audit.ActionSessionLogin,
		Outcome:   audit.OutcomeSuccess,
		ActorID:   a.ID,
		SubjectID: a.ID,
		IP:        meta.IP,
		UserAgent: meta.UserAgent,
		Data:      ev,
	})
	if err != nil {
		return nil, fmt.Errorf("start session: %w", err)
	}
	// Signed inside the transaction so that a failure leaves no session behind.
	return s.issue(a, sess, refresh)
}

// findAccount looks an identifier up; nil when no account answers to it.
func (s *Service) findAccount(ctx context.Context, id string, byEmail bool) (*gatehouse.Account, error) {
	var (
		a   *gatehouse.Account
		err error
	)
	if byEmail {
		email, nerr := NormalizeEmail(id)
		if nerr != nil {
			return nil, nil // no account can have it
		}
		a, err = s.store.GetAccountByEmail(ctx, email)
	} else {
		e164, ok := s.phoneLookupKey(id)
		if !ok {
			return nil, nil // no account can have it
		}
		a, err = s.store.GetAccountByPhone(ctx, e164)
	}
	if errors.Is(err, records.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("look up account: %w", err)
	}
	return a, nil
}

// checkSignIn refuses an account that proved its password but may not sign in.
func (s *Service) checkSignIn(a *gatehouse.Account, byEmail bool) *loginFailure {
	refuse := func(reason, msg string) *loginFailure {
		return &loginFailure{
			err:       &gatehouse.Error{Code: gatehouse.EFORBIDDEN, Reason: reason, Message: msg},
			reason:    reason,
			subjectID: a.ID,
		}
	}
	switch a.Status {
	case gatehouse.AccountActive:
	case gatehouse.AccountDisabled:
		return refuse(ReasonAccountDisabled, "This account has been disabled.")
	case gatehouse.AccountLocked:
		return refuse(ReasonAccountLocked, "This account is locked.")
	default:
		return &loginFailure{err: errInvalidCredentials(), reason: FailureUnknownAccount}
	}
	if s.opts.AllowUnverifiedLogin {
		return nil
	}
	if byEmail && a.EmailVerifiedAt.IsZero() {
		return refuse(ReasonEmailNotVerified, "The email address is not verified yet. Use the link or the code we sent, or request a new one.")
	}
	if !byEmail && a.PhoneVerifiedAt.IsZero() {
		return refuse(ReasonPhoneNotVerified, "The phone number is not verified yet.")
	}
	return nil
}

// recordLoginFailure audits a refused sign-in outside any transaction, even when the client has
// gone away meanwhile (a guesser must not keep its attempts out of the log by hanging up). A failure
// to record is logged: the client still gets the refusal.
func (s *Service) recordLoginFailure(ctx context.Context, f *loginFailure, meta session.ClientMeta) {
	ctx = context.WithoutCancel(ctx)
	err := s.record(ctx, s.store, gatehouse.AuditEvent{
		Action:    audit.ActionSessionLoginFailed,
		Outcome:   audit.OutcomeFailure,
		Reason:    f.reason,
		SubjectID: f.subjectID,
		IP:        meta.IP,
		UserAgent: meta.UserAgent,
	})
	if err != nil {
		s.log.ErrorContext(ctx, "login: audit failure", slog.String("account_id", f.subjectID), slog.Any("err", err))
	}
}

// issue signs an access token for a session of a and bundles it with the refresh token.
func (s *Service) issue(a *gatehouse.Account, sess *gatehouse.Session, refresh string) (*Tokens, error) {
	access, _, err := s.tokens.Issue(token.AccessClaims{
		Subject:   a.ID,
		SessionID: sess.ID,
		Roles:     append([]string(nil), a.Roles...),
		AMR:       append([]string(nil), sess.AMR...),
		AuthTime:  sess.CreatedAt,
	})
	if err != nil {
		return nil, fmt.Errorf("issue access token: %w", err)
	}
	return &Tokens{
		AccessToken:  access,
		RefreshToken: refresh,
		TokenType:    TokenType,
		ExpiresIn:    int(s.tokens.AccessTTL() / time.Second),
		Account:      public(a),
		Session:      sess,
	}, nil
}

// Refresh rotates a refresh token (see session.Service.Refresh) and issues an access token with the
// account's current roles, read through the profile cache. When the account is no longer active
// (disabled, locked or deleted) the session is revoked and the answer is EUNAUTHENTICATED
// account_inactive.
func (s *Service) Refresh(ctx context.Context, refreshToken string, meta session.ClientMeta) (*Tokens, error) {
	sess, refresh, err := s.sessions.Refresh(ctx, refreshToken, meta)
	if err != nil {
		return nil, fail("refresh", err)
	}
	a, err := s.Profile(ctx, sess.AccountID)
	if err != nil && gatehouse.ErrorCode(err) != gatehouse.ENOTFOUND {
		return nil, fail("refresh", err)
	}
	if err != nil || a.Status != gatehouse.AccountActive {
		reason := session.RevokeAccountDeleted
		if a != nil {
			reason = "account_" + string(a.Status) // account_disabled, account_locked
		}
		rerr := s.sessions.Revoke(ctx, sess.AccountID, sess.ID, reason)
		if rerr != nil && gatehouse.ErrorCode(rerr) != gatehouse.ENOTFOUND { // ENOTFOUND: already ended
			return nil, fail("refresh: revoke session of inactive account", rerr)
		}
		return nil, &gatehouse.Error{Code: gatehouse.EUNAUTHENTICATED, Reason: ReasonAccountInactive,
			Message: "This account can no longer sign in."}
	}
	out, err := s.issue(a, sess, refresh)
	if err != nil {
		return nil, fail("refresh", err)
	}
	return out, nil
}

// Logout ends one of the account's sessions (the session package records session.logout).
// ENOTFOUND when the session does not exist, is another account's or has already ended.
func (s *Service) Logout(ctx context.Context, accountID, sessionID string) error {
	if err := s.sessions.Revoke(ctx, accountID, sessionID, session.RevokeLogout); err != nil {
		return fail("logout", err)
	}
	return nil
}
