package account

import (
	"context"
	"crypto/hmac"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/gatehouse/gatehouse"
	"github.com/gatehouse/gatehouse/internal/audit"
	"github.com/gatehouse/gatehouse/internal/records"
)

// VerifyInput proves that the owner of an email address received a verification email: either the
// link's Token, or the Email address and the 6-digit Code.
type VerifyInput struct {
	Token string
	Email string
	Code  string
}

// LogValue implements slog.LogValuer: the token and the code are secrets.
func (in VerifyInput) LogValue() slog.Value {
	return slog.GroupValue(
		slog.Bool("token", in.Token != ""),
		slog.String("email", in.Email),
		slog.Bool("code", in.Code != ""),
	)
}

// Errors of VerifyEmail. Unknown tokens and used ones look alike, and so do unknown addresses and
// wrong codes, so that the answers reveal nothing about other people's accounts.
var (
	errInvalidToken = &gatehouse.Error{Code: gatehouse.EINVALID, Reason: ReasonInvalidToken, Field: "token",
		Message: "The verification link is not valid. Request a new one."}
	errTokenExpired = &gatehouse.Error{Code: gatehouse.EINVALID, Reason: ReasonTokenExpired, Field: "token",
		Message: "The verification link has expired. Request a new one."}
	errInvalidCode = &gatehouse.Error{Code: gatehouse.EINVALID, Reason: ReasonInvalidCode, Field: "code",
		Message: "The verification code is not valid."}
	errCodeExpired = &gatehouse.Error{Code: gatehouse.EINVALID, Reason: ReasonCodeExpired, Field: "code",
		Message: "The verification code has expired. Request a new one."}
	errCodeAttempts = &gatehouse.Error{Code: gatehouse.EINVALID, Reason: ReasonCodeAttemptsExceeded, Field: "code",
		Message: "Too many wrong codes. Request a new one."}
)

// clientError returns a copy of a shared error value, so that callers may wrap or change it.
func clientError(e *gatehouse.Error) *gatehouse.Error {
	c := *e
	return &c
}

// VerifyEmail marks an account's email address verified, given the link token of a verification
// email that is neither expired nor used, or the address and the code of the newest verification
// email sent to it. A link token is single use; a code is checked against the newest verification
// only, and each wrong code counts towards VerifyCodeMaxAttempts. Failures are EINVALID errors with
// the reasons invalid_token, token_expired, invalid_code, code_expired or code_attempts_exceeded.
func (s *Service) VerifyEmail(ctx context.Context, in VerifyInput) (*gatehouse.Account, error) {
	tok := strings.TrimSpace(in.Token)
	switch {
	case tok != "" && (in.Email != "" || in.Code != ""):
		return nil, invalid("token", "Send either the link token, or the email address and the code.")
	case tok != "":
		return s.verifyByToken(ctx, tok)
	case in.Email == "" && in.Code == "":
		return nil, invalid("token", "A verification token, or an email address and a code, is required.")
	}
	email, err := NormalizeEmail(in.Email)
	if err != nil {
		return nil, err
	}
	code := strings.TrimSpace(in.Code)
	if code == "" {
		return nil, invalid("code", "A verification code is required.")
	}
	return s.verifyByCode(ctx, email, code)
}

func (s *Service) verifyByToken(ctx context.Context, tok string) (*gatehouse.Account, error) {
	hash, ok := linkTokenHash(tok)
	if !ok {
		return nil, clientError(errInvalidToken)
	}
	var verified *gatehouse.Account
	err := s.store.InTx(ctx, func(ctx context.Context, tx records.Tx) error {
		v, err := tx.GetEmailVerificationByTokenHash(ctx, hash)
		if errors.Is(err, records.ErrNotFound) {
			return clientError(errInvalidToken)
		}
		if err != nil {
			return fmt.Errorf("get verification: %w", err)
		}
		now := s.nowUTC()
		if !v.ConsumedAt.IsZero() {
			return clientError(errInvalidToken)
		}
		if !now.Before(v.ExpiresAt) {
			return clientError(errTokenExpired)
		}
		a, err := s.verificationAccount(ctx, tx, v)
		if err != nil {
			return err
		}
		if a == nil {
			return clientError(errInvalidToken)
		}
		verified, err = s.consumeVerification(ctx, tx, v, a, "link", now)
		return err
	})
	if err != nil {
		return nil, fail("verify email", err)
	}
	s.invalidate(ctx, verified.ID)
	return public(verified), nil
}

func (s *Service) verifyByCode(ctx context.Context, email, code string) (*gatehouse.Account, error) {
	if !isDigits6(code) {
		return nil, clientError(errInvalidCode)
	}
	var (
		verified *gatehouse.Account
		wrong    error // a wrong code: returned after the commit that counts it
	)
	err := s.store.InTx(ctx, func(ctx context.Context, tx records.Tx) error {
		wrong = nil
		a, err := tx.GetAccountByEmail(ctx, email)
		if errors.Is(err, records.ErrNotFound) {
			return clientError(errInvalidCode)
		}
		if err != nil {
			return fmt.Errorf("look up email: %w", err)
		}
		v, err := tx.GetLatestEmailVerification(ctx, a.ID, a.Email)
		if errors.Is(err, records.ErrNotFound) {
			return clientError(errInvalidCode)
		}
		if err != nil {
			return fmt.Errorf("get latest verification: %w", err)
		}
		now := s.nowUTC()
		if len(v.CodeHash) == 0 || !v.ConsumedAt.IsZero() || !now.Before(v.CodeExpiresAt) {
			return clientError(errCodeExpired)
		}
		if v.CodeAttempts >= s.opts.VerifyCodeMaxAttempts {
			return clientError(errCodeAttempts)
		}
		// The attempt counter in the database is read and written without a row lock, so parallel
		// guesses could all read the same count. The ephemeral store's atomic counter is the gate;
		// the column keeps the count for operators and survives a flushed cache.
		n, err := s.eph.Incr(ctx, "account:code-attempts:"+v.ID, 1, v.CodeExpiresAt.Sub(now))
		if err != nil {
			return fmt.Errorf("count code attempt: %w", err) // fail closed
		}
		if n > int64(s.opts.VerifyCodeMaxAttempts) {
			if v.CodeAttempts < s.opts.VerifyCodeMaxAttempts {
				v.CodeAttempts = s.opts.VerifyCodeMaxAttempts
				if err := tx.UpdateEmailVerification(ctx, v); err != nil {
					return fmt.Errorf("update verification: %w", err)
				}
			}
			wrong = clientError(errCodeAttempts)
			return nil
		}
		if !hmac.Equal(codeHash(s.opts.CodeKey, v.ID, code), v.CodeHash) {
			v.CodeAttempts = max(v.CodeAttempts+1, int(n))
			if err := tx.UpdateEmailVerification(ctx, v); err != nil {
				return fmt.Errorf("update verification: %w", err)
			}
			wrong = clientError(errInvalidCode)
			return nil
		}
		verified, err = s.consumeVerification(ctx, tx, v, a, "code", now)
		return err
	})
	if err != nil {
		return nil, fail("verify email", err)
	}
	if wrong != nil {
		return nil, wrong
	}
	s.invalidate(ctx, verified.ID)
	return public(verified), nil
}

// verificationAccount returns the account a verification belongs to, or nil when the account is
// gone or no longer has the verified address (it was changed since the email was sent).
func (s *Service) verificationAccount(ctx context.Context, tx records.Tx, v *gatehouse.EmailVerification) (*gatehouse.Account, error) {
	a, err := tx.GetAccount(ctx, v.AccountID)
	if errors.Is(err, records.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("get account: %w", err)
	}
	if a.Status == gatehouse.AccountDeleted || !strings.EqualFold(a.Email, v.Email) {
		return nil, nil
	}
	return a, nil
}

// consumeVerification uses up v and marks a's email verified (keeping an earlier verified time).
func (s *Service) consumeVerification(ctx context.Context, tx records.Tx, v *gatehouse.EmailVerification, a *gatehouse.Account, method string, now time.Time) (*gatehouse.Account, error) {
	v.ConsumedAt = now
	if err := tx.UpdateEmailVerification(ctx, v); err != nil {
		return nil, fmt.Errorf("consume verification: %w", err)
	}
	already := !a.EmailVerifiedAt.IsZero()
	if !already {
		a.EmailVerifiedAt = now
		a.UpdatedAt = now
		if err := tx.UpdateAccount(ctx, a); err != nil {
			return nil, fmt.Errorf("mark email verified: %w", err)
		}
	}
	err := s.record(ctx, tx, gatehouse.AuditEvent{
		Action:    audit.ActionAccountEmailVerified,
		Outcome:   audit.OutcomeSuccess,
		ActorID:   a.ID,
		SubjectID: a.ID,
		Data:      map[string]any{"method": method, "already_verified": already},
	})
	return a, err
}

// ResendVerification sends a new verification email to an account whose address is not verified
// yet, at most once per ResendCooldown per address. It returns nil whether or not such an account
// exists (only a malformed address is an error), so the answer reveals nothing.
//
// Earlier links stay valid until they expire, so that whichever email arrives first works; codes are
// checked against the newest verification only, so a resend replaces the code.
func (s *Service) ResendVerification(ctx context.Context, email string) error {
	email, err := NormalizeEmail(email)
	if err != nil {
		return err
	}
	// The cooldown is claimed for every address, known or not, so that both cost the same.
	ok, err := s.cooldown(ctx, "verify-resend", email)
	if err != nil {
		return fail("resend verification", err) // fail closed: no cooldown, no email
	}
	if !ok {
		return nil
	}
	a, err := s.store.GetAccountByEmail(ctx, email)
	if errors.Is(err, records.ErrNotFound) {
		return nil
	}
	if err != nil {
		return fail("resend verification: look up email", err)
	}
	if a.Status == gatehouse.AccountDeleted || !a.EmailVerifiedAt.IsZero() {
		return nil
	}
	v, link, code, err := s.newVerification(a.ID, a.Email, s.nowUTC())
	if err != nil {
		return fail("resend verification", err)
	}
	err = s.store.InTx(ctx, func(ctx context.Context, tx records.Tx) error {
		// Re-read inside the transaction: the address may have been verified or changed meanwhile.
		cur, err := tx.GetAccount(ctx, a.ID)
		if err != nil {
			return fmt.Errorf("get account: %w", err)
		}
		if cur.Status == gatehouse.AccountDeleted || !cur.EmailVerifiedAt.IsZero() || cur.Email != a.Email {
			return nil
		}
		if err := tx.CreateEmailVerification(ctx, v); err != nil {
			return fmt.Errorf("create email verification: %w", err)
		}
		if err := s.queueVerifyEmail(ctx, tx, cur, link, code); err != nil {
			return err
		}
		return s.record(ctx, tx, gatehouse.AuditEvent{
			Action:    ActionVerificationResent,
			Outcome:   audit.OutcomeSuccess,
			SubjectID: cur.ID,
		})
	})
	if err != nil {
		return fail("resend verification", err)
	}
	return nil
}
