package account

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"time"

	"github.com/gatehouse/gatehouse"
	"github.com/gatehouse/gatehouse/internal/audit"
	"github.com/gatehouse/gatehouse/internal/mail"
	"github.com/gatehouse/gatehouse/internal/password"
	"github.com/gatehouse/gatehouse/internal/records"
)

// RegisterInput is an email sign-up.
type RegisterInput struct {
	Email    string
	Password password.Plain
	Name     string // optional display name
	Locale   string // optional BCP 47 tag; the language of the account's emails
}

// Register signs up an account with an email address and a password and emails it a verification
// link and code, in one transaction. When the address already belongs to an account, Register
// answers exactly as for a new one (nil) and instead emails the owner that someone tried to sign up
// with it. Invalid input gives an EINVALID error naming the field (several joined with errors.Join);
// a password the policy refuses gives the password package's error.
func (s *Service) Register(ctx context.Context, in RegisterInput) error {
	email, name, locale, err := s.checkRegistration(in)
	if err != nil {
		return err
	}
	// Hash before the transaction, whether or not the account exists: an existing address then
	// costs the same time as a new one, and no hash runs while SQLite's single write connection is
	// held.
	hash, err := s.hasher.Hash(ctx, string(in.Password))
	if err != nil {
		return fail("hash password", err)
	}
	acc, err := s.newAccount(email, name, locale, hash)
	if err != nil {
		return err
	}
	ver, link, code, err := s.newVerification(acc.ID, email, acc.CreatedAt)
	if err != nil {
		return err
	}

	// A concurrent sign-up with the same address can win between the lookup and the insert: the
	// insert then conflicts, and the second attempt takes the existing-account branch.
	for attempt := 0; ; attempt++ {
		err = s.store.InTx(ctx, func(ctx context.Context, tx records.Tx) error {
			existing, err := tx.GetAccountByEmail(ctx, email)
			switch {
			case err == nil:
				return s.registerExisting(ctx, tx, existing)
			case !errors.Is(err, records.ErrNotFound):
				return fmt.Errorf("look up email: %w", err)
			}
			if err := tx.CreateAccount(ctx, acc); err != nil {
				return fmt.Errorf("create account: %w", err)
			}
			if err := tx.CreateEmailVerification(ctx, ver); err != nil {
				return fmt.Errorf("create email verification: %w", err)
			}
			if err := s.queueVerifyEmail(ctx, tx, acc, link, code); err != nil {
				return err
			}
			return s.record(ctx, tx, gatehouse.AuditEvent{
				Action:    audit.ActionAccountRegistered,
				Outcome:   audit.OutcomeSuccess,
				ActorID:   acc.ID,
				SubjectID: acc.ID,
			})
		})
		if errors.Is(err, records.ErrConflict) && attempt == 0 {
			continue
		}
		break
	}
	if err != nil {
		return fail("register", err)
	}
	return nil
}

// checkRegistration validates and normalises a sign-up, reporting every bad field at once.
func (s *Service) checkRegistration(in RegisterInput) (email, name, locale string, err error) {
	var errs []error
	email, err = NormalizeEmail(in.Email)
	if err != nil {
		errs = append(errs, err)
	}
	name, err = normalizeName(in.Name)
	if err != nil {
		errs = append(errs, err)
	}
	locale, err = normalizeLocale(in.Locale)
	if err != nil {
		errs = append(errs, err)
	}
	inputs := []string{email}
	if email == "" {
		inputs[0] = in.Email
	}
	if name != "" {
		inputs = append(inputs, name)
	}
	if err := s.policy.Check(string(in.Password), inputs...); err != nil {
		errs = append(errs, err)
	}
	if len(errs) > 0 {
		return "", "", "", errors.Join(errs...)
	}
	return email, name, locale, nil
}

// newAccount builds a new active account with the default roles.
func (s *Service) newAccount(email, name, locale, hash string) (*gatehouse.Account, error) {
	id, err := s.newID()
	if err != nil {
		return nil, err
	}
	now := s.nowUTC()
	return &gatehouse.Account{
		ID:           id,
		Status:       gatehouse.AccountActive,
		Roles:        append([]string(nil), s.opts.DefaultRoles...),
		Name:         name,
		Locale:       locale,
		Email:        email,
		PasswordHash: hash,
		CreatedAt:    now,
		UpdatedAt:    now,
	}, nil
}

// registerExisting is the sign-up branch for a taken address: the owner is told (at most once per
// cooldown, so that nobody can flood a mailbox through the sign-up form) and the attempt audited.
func (s *Service) registerExisting(ctx context.Context, tx records.Tx, owner *gatehouse.Account) error {
	send, err := s.cooldown(ctx, "register-existing", owner.Email)
	if err != nil {
		// Without the ephemeral store there is no cooldown: skip the email rather than fail the
		// sign-up with an answer a new address would not get.
		s.log.WarnContext(ctx, "register existing: cooldown unavailable; email skipped",
			slog.String("account_id", owner.ID), slog.Any("err", err))
	}
	if send {
		if err := s.mail.Queue(ctx, tx, s.registerExistingEmail(owner)); err != nil {
			return fmt.Errorf("queue %s email: %w", mail.TemplateRegisterExisting, err)
		}
	}
	return s.record(ctx, tx, gatehouse.AuditEvent{
		Action:    audit.ActionAccountRegisterExistingEmail,
		Outcome:   audit.OutcomeFailure,
		Reason:    "email_taken",
		SubjectID: owner.ID,
		Data:      map[string]any{"email_sent": send},
	})
}

// newVerification builds an email verification with fresh secrets: the returned link and code
// exist only in the email.
func (s *Service) newVerification(accountID, email string, now time.Time) (v *gatehouse.EmailVerification, link, code string, err error) {
	id, err := s.newID()
	if err != nil {
		return nil, "", "", err
	}
	tok, tokHash, err := newLinkToken(s.rand)
	if err != nil {
		return nil, "", "", err
	}
	code, err = newCode(s.rand)
	if err != nil {
		return nil, "", "", err
	}
	v = &gatehouse.EmailVerification{
		ID:            id,
		AccountID:     accountID,
		Email:         email,
		TokenHash:     tokHash,
		CodeHash:      codeHash(s.opts.CodeKey, id, code),
		ExpiresAt:     now.Add(s.opts.VerifyTokenTTL),
		CodeExpiresAt: now.Add(s.opts.VerifyCodeTTL),
		CreatedAt:     now,
	}
	link = s.publicURL + PathVerifyEmail + "?token=" + url.QueryEscape(tok)
	return v, link, code, nil
}

// cooldown claims the right to send one email of kind to address for ResendCooldown; it reports
// false when one was sent too recently.
func (s *Service) cooldown(ctx context.Context, kind, address string) (bool, error) {
	ok, err := s.eph.SetNX(ctx, "account:cooldown:"+kind+":"+emailKey(address), []byte("1"), s.opts.ResendCooldown)
	if err != nil {
		return false, fmt.Errorf("cooldown %s: %w", kind, err)
	}
	return ok, nil
}

// record writes an audit event through w (a transaction, or the store outside one).
func (s *Service) record(ctx context.Context, w records.AuditWriter, e gatehouse.AuditEvent) error {
	if err := s.audit.Record(ctx, w, e); err != nil {
		return fmt.Errorf("audit %s: %w", e.Action, err)
	}
	return nil
}
