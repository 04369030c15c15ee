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
	"github.com/gatehouse/gatehouse/internal/mail"
	"github.com/gatehouse/gatehouse/internal/otp"
	"github.com/gatehouse/gatehouse/internal/password"
	"github.com/gatehouse/gatehouse/internal/phone"
	"github.com/gatehouse/gatehouse/internal/records"
	"github.com/gatehouse/gatehouse/internal/session"
)

// Authentication method references (RFC 8176) of the sign-ins with a one-time code.
const (
	AMRSMS = "sms" // a code sent by text message
	AMROTP = "otp" // a code sent by email
)

// Audit actions of the phone and one-time-code flows, beside internal/audit's. A phone sign-up is
// audit.ActionAccountRegistered with Data["method"] "phone"; a sign-in with a code is
// audit.ActionSessionLogin with Data["amr"] ["sms"] or ["otp"], and a refused one
// audit.ActionSessionLoginFailed with the reason (an otp reason for a bad code).
const (
	// ActionRegisterExistingPhone: someone asked for a sign-up code for a number that already has
	// an account; no code was sent (Data["sms_sent"] says whether the owner was told). Subject is
	// that account.
	ActionRegisterExistingPhone = "account.register_existing_phone"
	// ActionLoginCodeRequested: a passwordless sign-in code was requested. Success when a code was
	// sent (Data["channel"] "sms" or "email"), failure with the reason when there was no one to send
	// it to (FailureUnknownAccount, FailureUnverifiedIdentifier).
	ActionLoginCodeRequested = "session.login_code_requested"
	// ActionPhoneChangeRequested: a code to confirm a new number was requested. Failure with the
	// reason phone_taken when the number belongs to another account (no code was sent).
	ActionPhoneChangeRequested = "account.phone_change_requested"
	// ActionPhoneChanged: an account's phone number changed (Data holds both numbers masked and
	// whether the old one was told).
	ActionPhoneChanged = "account.phone_changed"
)

// FailureUnverifiedIdentifier is the audit reason of a sign-in code not sent (and a code sign-in
// refused) because the account's email address or phone number is not verified: a code to an
// address nobody proved to own must not open the account.
const FailureUnverifiedIdentifier = "identifier_not_verified"

// errCodesNotConfigured is the (internal) error of the code flows when the Service has no OTP
// engine: a wiring mistake, not a client's.
var errCodesNotConfigured = errors.New("account: one-time codes are not configured (Deps.OTP and Deps.SMS)")

// StartResult is the answer to a request for a one-time code. It is the same whether or not a code
// was sent, so it tells nothing about whether the number or address has an account.
type StartResult struct {
	// ExpiresIn is the lifetime of the code.
	ExpiresIn time.Duration
	// ResendAfter is the least wait before another code can be requested.
	ResendAfter time.Duration
	// RateLimit is the destination's hourly quota after this request, for the RateLimit headers.
	RateLimit otp.RateLimitInfo
}

// PhoneCodeRequest asks for a code sent to a phone number.
type PhoneCodeRequest struct {
	Phone  string // in any form phone.Parse reads; without a country code, in Options.DefaultRegion
	Locale string // optional BCP 47 tag: the message's language when the account has none
}

// LoginCodeRequest asks for a passwordless sign-in code.
type LoginCodeRequest struct {
	Identifier string // an email address (it contains "@") or a phone number
	Locale     string // optional BCP 47 tag: the message's language when the account has none
}

// LoginCodeInput is a passwordless sign-in: the identifier a code was requested for and the code.
type LoginCodeInput struct {
	Identifier string
	Code       string
}

// LogValue implements slog.LogValuer: the code is a secret.
func (in LoginCodeInput) LogValue() slog.Value {
	return slog.GroupValue(slog.String("identifier", in.Identifier), slog.Bool("code", in.Code != ""))
}

// PhoneRegisterInput completes a phone sign-up.
type PhoneRegisterInput struct {
	Phone    string // as sent to RegisterPhoneStart, in any written form
	Code     string // the code of the sign-up text message
	Password password.Plain
	Name     string // optional display name
	Email    string // optional; added unverified, and a verification email is sent to it
	Locale   string // optional BCP 47 tag: the account's language
}

// LogValue implements slog.LogValuer: the code and the password are secrets.
func (in PhoneRegisterInput) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("phone", phone.Mask(in.Phone)),
		slog.Bool("code", in.Code != ""),
		slog.String("email", in.Email),
	)
}

// Errors of the code flows.
var (
	errPhoneTaken = &gatehouse.Error{Code: gatehouse.ECONFLICT, Reason: ReasonPhoneTaken, Field: "phone",
		Message: "This phone number already has an account. Sign in instead."}
	errPhoneOfAnother = &gatehouse.Error{Code: gatehouse.ECONFLICT, Reason: ReasonPhoneTaken, Field: "phone",
		Message: "This phone number belongs to another account."}
	errReauthRequired = &gatehouse.Error{Code: gatehouse.EFORBIDDEN, Reason: ReasonReauthRequired,
		Message: "Sign in again to change your phone number."}
	// errCodeUsedUp answers a right code that opens nothing (it was issued for an identifier with
	// no account to sign in to, and guessed): word for word the engine's answer to a wrong code with
	// no attempts left, which is also true, since the code is now used.
	errCodeUsedUp = &gatehouse.Error{Code: gatehouse.EINVALID, Reason: otp.ReasonInvalid, Field: "code",
		Message: "The code is not valid. No attempts are left: request a new code."}
)

// needCodes reports the missing OTP engine.
func (s *Service) needCodes() error {
	if s.otp == nil || s.sms == nil {
		return errCodesNotConfigured
	}
	return nil
}

// codeError returns an error of the otp engine as it is when the client may see it (a
// *gatehouse.Error, or a *otp.LimitError whose Retry-After and RateLimit data the HTTP layer turns
// into headers), and wraps anything else.
func codeError(what string, err error) error {
	var le *otp.LimitError
	if errors.As(err, &le) {
		return le
	}
	var ge *gatehouse.Error
	if errors.As(err, &ge) {
		return ge
	}
	return fail(what, err)
}

// renameField returns err with the field of its *gatehouse.Error renamed from one name to another,
// for a request that names the field otherwise (the otp engine names a number "phone"; the sign-in
// request calls it "identifier"). Other errors, and errors about other fields, stay as they are.
func renameField(err error, from, to string) error {
	var ge *gatehouse.Error
	if !errors.As(err, &ge) || ge.Field != from {
		return err
	}
	renamed := *ge
	renamed.Field = to
	if le, ok := err.(*otp.LimitError); ok {
		copied := *le
		copied.Err = &renamed
		return &copied
	}
	return &renamed
}

// preferredLocale is the account's language when it has one, else the request's.
func preferredLocale(a *gatehouse.Account, requested string) string {
	if a != nil && a.Locale != "" {
		return a.Locale
	}
	return requested
}

// RegisterPhoneStart sends a sign-up code by text message to a phone number, within the sending
// limits of the OTP engine: a refusal is the engine's *otp.LimitError (cooldown, quotas, SMS
// budget) or EFORBIDDEN sms_country_blocked, returned as it is. An invalid number is EINVALID
// invalid_phone.
//
// When the number already has an account the answer is the same, after the same work (a code is
// issued but never sent, so the sign-up cannot complete), and the owner is told by text message
// when Options.NotifyExistingBySMS is set. The attempt is audited.
func (s *Service) RegisterPhoneStart(ctx context.Context, in PhoneCodeRequest, meta session.ClientMeta) (StartResult, error) {
	if err := s.needCodes(); err != nil {
		return StartResult{}, err
	}
	num, err := s.parsePhone(in.Phone, phone.Field)
	if err != nil {
		return StartResult{}, err
	}
	locale, err := normalizeLocale(in.Locale)
	if err != nil {
		return StartResult{}, err
	}
	dec, err := s.otp.CheckAndReserve(ctx, otp.SendRequest{Purpose: otp.PurposeRegister, Phone: num.E164, Country: num.Region, IP: meta.IP})
	if err != nil {
		return StartResult{}, codeError("register phone start", err)
	}
	code, ttl, err := s.otp.Issue(ctx, otp.PurposeRegister, num.E164)
	if err != nil {
		return StartResult{}, codeError("register phone start", err)
	}
	// The number is looked up outside a transaction and the code's message enqueued on its own (in
	// a group insert with concurrent ones): the hot path of a sign-up holds no transaction. A number
	// taken between the lookup and the message gets a code that RegisterPhoneComplete then answers
	// with phone_taken, as for a number taken after its code was sent.
	owner, err := s.store.GetAccountByPhone(ctx, num.E164)
	switch {
	case err == nil:
		err = s.store.InTx(ctx, func(ctx context.Context, tx records.Tx) error {
			return s.registerPhoneExisting(ctx, tx, owner, locale)
		})
	case errors.Is(err, records.ErrNotFound):
		err = s.queueSMS(ctx, nil, s.codeSMS(num.E164, SMSRegister, locale, code, ttl))
	default:
		err = fmt.Errorf("look up phone: %w", err)
	}
	if err != nil {
		return StartResult{}, fail("register phone start", err)
	}
	return StartResult{ExpiresIn: ttl, ResendAfter: dec.ResendAfter, RateLimit: dec.Quota}, nil
}

// registerPhoneExisting is the sign-up branch of a taken number: no code goes out; the owner may be
// told, and the attempt is audited.
func (s *Service) registerPhoneExisting(ctx context.Context, tx records.Tx, owner *gatehouse.Account, locale string) error {
	notify := s.opts.NotifyExistingBySMS
	if notify {
		if err := s.queueSMS(ctx, tx, s.noticeSMS(owner.Phone, SMSAccountExists, preferredLocale(owner, locale))); err != nil {
			return err
		}
	}
	return s.record(ctx, tx, gatehouse.AuditEvent{
		Action:    ActionRegisterExistingPhone,
		Outcome:   audit.OutcomeFailure,
		Reason:    ReasonPhoneTaken,
		SubjectID: owner.ID,
		Data:      map[string]any{"sms_sent": notify},
	})
}

// RegisterPhoneComplete creates an account from a phone number and the code sent to it by
// RegisterPhoneStart, and signs it in: the phone is verified by construction, and the session's
// AMR is ["sms"]. An optional email address is added unverified and sent a verification email, as
// Register does. Account creation, session, audit events and emails are one transaction.
//
// Every field is checked before the code, so that a refused password or name does not use the code
// up: malformed input gives EINVALID errors naming the fields (several joined with errors.Join) and
// a refused password the password package's error. A wrong, expired or burned code gives the OTP
// engine's EINVALID error as it is (otp_invalid, otp_expired, otp_attempts_exceeded).
//
// Once the code is right, the person holds the number, so ECONFLICT phone_taken says that the number
// has an account after all (it was taken after the code was sent; a code issued for a number that
// already had an account was never sent). An email address that already belongs to another account
// is not added: the account is created without it and the address's owner is emailed, as Register
// does, so that the sign-up cannot be used to probe for addresses.
func (s *Service) RegisterPhoneComplete(ctx context.Context, in PhoneRegisterInput, meta session.ClientMeta) (*Tokens, error) {
	if err := s.needCodes(); err != nil {
		return nil, err
	}
	num, email, name, locale, err := s.checkPhoneRegistration(in)
	if err != nil {
		return nil, err
	}
	if err := s.otp.Verify(ctx, otp.PurposeRegister, num.E164, in.Code); err != nil {
		return nil, codeError("register phone complete", err)
	}
	hash, err := s.hasher.Hash(ctx, string(in.Password))
	if err != nil {
		return nil, fail("hash password", err)
	}
	acc, err := s.newAccount(email, name, locale, hash)
	if err != nil {
		return nil, err
	}
	acc.Phone, acc.PhoneVerifiedAt = num.E164, acc.CreatedAt
	var (
		ver        *gatehouse.EmailVerification
		link, code string
	)
	if email != "" {
		if ver, link, code, err = s.newVerification(acc.ID, email, acc.CreatedAt); err != nil {
			return nil, err
		}
	}

	meta.AMR = []string{AMRSMS}
	var out *Tokens
	// A concurrent sign-up with the same number or address can win between the lookups and the
	// insert: the insert then conflicts, and the second attempt sees it.
	for attempt := 0; ; attempt++ {
		acc.Email = email
		err = s.store.InTx(ctx, func(ctx context.Context, tx records.Tx) error {
			_, err := tx.GetAccountByPhone(ctx, num.E164)
			switch {
			case err == nil:
				return clientError(errPhoneTaken)
			case !errors.Is(err, records.ErrNotFound):
				return fmt.Errorf("look up phone: %w", err)
			}
			var emailOwner *gatehouse.Account
			if email != "" {
				emailOwner, err = tx.GetAccountByEmail(ctx, email)
				switch {
				case err == nil:
					acc.Email = ""
				case errors.Is(err, records.ErrNotFound):
					emailOwner = nil
				default:
					return fmt.Errorf("look up email: %w", err)
				}
			}
			if err := tx.CreateAccount(ctx, acc); err != nil {
				return fmt.Errorf("create account: %w", err)
			}
			switch {
			case emailOwner != nil:
				if err := s.registerExisting(ctx, tx, emailOwner); err != nil {
					return err
				}
			case email != "":
				if err := tx.CreateEmailVerification(ctx, ver); err != nil {
					return fmt.Errorf("create email verification: %w", err)
				}
				if err := s.queueVerifyEmail(ctx, tx, acc, link, code); err != nil {
					return err
				}
			}
			if err := s.record(ctx, tx, gatehouse.AuditEvent{
				Action:    audit.ActionAccountRegistered,
				Outcome:   audit.OutcomeSuccess,
				ActorID:   acc.ID,
				SubjectID: acc.ID,
				Data:      map[string]any{"method": "phone", "email": acc.Email != ""},
			}); err != nil {
				return err
			}
			out, err = s.startSession(ctx, tx, acc, meta, map[string]any{"method": "phone_sign_up"})
			return err
		})
		if errors.Is(err, records.ErrConflict) && attempt == 0 {
			continue
		}
		break
	}
	if err != nil {
		return nil, fail("register phone complete", err)
	}
	return out, nil
}

// checkPhoneRegistration validates and normalises a phone sign-up, reporting every bad field at once.
func (s *Service) checkPhoneRegistration(in PhoneRegisterInput) (num phone.Number, email, name, locale string, err error) {
	var errs []error
	num, err = s.parsePhone(in.Phone, phone.Field)
	if err != nil {
		errs = append(errs, err)
	}
	if strings.TrimSpace(in.Code) == "" {
		errs = append(errs, invalid("code", "The code is required."))
	}
	if strings.TrimSpace(in.Email) != "" {
		if email, err = NormalizeEmail(in.Email); err != nil {
			errs = append(errs, err)
		}
	}
	if name, err = normalizeName(in.Name); err != nil {
		errs = append(errs, err)
	}
	if locale, err = normalizeLocale(in.Locale); err != nil {
		errs = append(errs, err)
	}
	inputs := []string{num.E164}
	if num.E164 == "" {
		inputs[0] = in.Phone
	}
	for _, v := range []string{email, name} {
		if v != "" {
			inputs = append(inputs, v)
		}
	}
	if err := s.policy.Check(string(in.Password), inputs...); err != nil {
		errs = append(errs, err)
	}
	if len(errs) > 0 {
		return phone.Number{}, "", "", "", errors.Join(errs...)
	}
	return num, email, name, locale, nil
}

// codeDestination is where a sign-in code goes: a phone number or an email address.
type codeDestination struct {
	byEmail bool
	email   string       // normalised, when byEmail
	number  phone.Number // when !byEmail
}

// subject is what the code is bound to: the E.164 number, or the address in lower case (the
// store compares addresses case-insensitively, so "Bob@x" and "bob@x" are one account).
func (d codeDestination) subject() string {
	if d.byEmail {
		return strings.ToLower(d.email)
	}
	return d.number.E164
}

func (d codeDestination) amr() string {
	if d.byEmail {
		return AMROTP
	}
	return AMRSMS
}

func (d codeDestination) channel() string {
	if d.byEmail {
		return "email"
	}
	return "sms"
}

// parseIdentifier reads a sign-in identifier: an email address when it contains "@", else a phone
// number. Errors name the field "identifier".
func (s *Service) parseIdentifier(identifier string) (codeDestination, error) {
	id := strings.TrimSpace(identifier)
	if id == "" {
		return codeDestination{}, invalid("identifier", "An email address or a phone number is required.")
	}
	if isEmailIdentifier(id) {
		email, err := NormalizeEmail(id)
		if err != nil {
			var ge *gatehouse.Error
			if errors.As(err, &ge) {
				c := *ge
				c.Field = "identifier"
				return codeDestination{}, &c
			}
			return codeDestination{}, err
		}
		return codeDestination{byEmail: true, email: email}, nil
	}
	num, err := s.parsePhone(id, "identifier")
	if err != nil {
		return codeDestination{}, err
	}
	return codeDestination{number: num}, nil
}

// lookup returns the account with the destination's identifier, nil when there is none.
func (s *Service) lookup(ctx context.Context, d codeDestination) (*gatehouse.Account, error) {
	var (
		a   *gatehouse.Account
		err error
	)
	if d.byEmail {
		a, err = s.store.GetAccountByEmail(ctx, d.email)
	} else {
		a, err = s.store.GetAccountByPhone(ctx, d.number.E164)
	}
	if errors.Is(err, records.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("look up account: %w", err)
	}
	return a, nil
}

// codeRefusal says why a sign-in code for d must not reach or open a: "" when it may.
func codeRefusal(a *gatehouse.Account, d codeDestination) string {
	switch {
	case a == nil || a.Status == gatehouse.AccountDeleted:
		return FailureUnknownAccount
	case d.byEmail && (!strings.EqualFold(a.Email, d.email) || a.EmailVerifiedAt.IsZero()):
		return FailureUnverifiedIdentifier
	case !d.byEmail && (a.Phone != d.number.E164 || a.PhoneVerifiedAt.IsZero()):
		return FailureUnverifiedIdentifier
	}
	return ""
}

// LoginOTPStart sends a passwordless sign-in code to a phone number (by text message) or an email
// address (by email), within the OTP engine's sending limits (refusals as in RegisterPhoneStart;
// the SMS budget and the country lists do not apply to email). An identifier that is neither gives
// EINVALID with the field "identifier".
//
// The answer is the same, after the same work, whether or not an account can use the code: the
// limits are checked and a code is issued for every identifier, but it is sent only to the verified
// number or address of an account that is not deleted (a disabled or locked account gets it and is
// refused at LoginOTPComplete, as a password sign-in is after the right password). Every request is
// audited (ActionLoginCodeRequested).
func (s *Service) LoginOTPStart(ctx context.Context, in LoginCodeRequest, meta session.ClientMeta) (StartResult, error) {
	if err := s.needCodes(); err != nil {
		return StartResult{}, err
	}
	dest, err := s.parseIdentifier(in.Identifier)
	if err != nil {
		return StartResult{}, err
	}
	locale, err := normalizeLocale(in.Locale)
	if err != nil {
		return StartResult{}, err
	}
	req := otp.SendRequest{Purpose: otp.PurposeLogin, IP: meta.IP}
	if dest.byEmail {
		req.Email = dest.email
	} else {
		req.Phone, req.Country = dest.number.E164, dest.number.Region
	}
	dec, err := s.otp.CheckAndReserve(ctx, req)
	if err != nil {
		return StartResult{}, renameField(codeError("login code start", err), phone.Field, "identifier")
	}
	code, ttl, err := s.otp.Issue(ctx, otp.PurposeLogin, dest.subject())
	if err != nil {
		return StartResult{}, codeError("login code start", err)
	}
	a, err := s.lookup(ctx, dest)
	if err != nil {
		return StartResult{}, fail("login code start", err)
	}
	err = s.store.InTx(ctx, func(ctx context.Context, tx records.Tx) error {
		ev := gatehouse.AuditEvent{
			Action:    ActionLoginCodeRequested,
			Outcome:   audit.OutcomeSuccess,
			IP:        meta.IP,
			UserAgent: meta.UserAgent,
			Data:      map[string]any{"channel": dest.channel()},
		}
		if a != nil && a.Status != gatehouse.AccountDeleted {
			ev.SubjectID = a.ID
		}
		if reason := codeRefusal(a, dest); reason != "" {
			ev.Outcome, ev.Reason = audit.OutcomeFailure, reason
			return s.record(ctx, tx, ev)
		}
		if err := s.sendLoginCode(ctx, tx, a, dest, preferredLocale(a, locale), code, ttl); err != nil {
			return err
		}
		return s.record(ctx, tx, ev)
	})
	if err != nil {
		return StartResult{}, fail("login code start", err)
	}
	return StartResult{ExpiresIn: ttl, ResendAfter: dec.ResendAfter, RateLimit: dec.Quota}, nil
}

// sendLoginCode queues the sign-in code to a's number or address, in tx.
func (s *Service) sendLoginCode(ctx context.Context, tx records.Tx, a *gatehouse.Account, d codeDestination, locale, code string, ttl time.Duration) error {
	if !d.byEmail {
		return s.queueSMS(ctx, tx, s.codeSMS(a.Phone, SMSLogin, locale, code, ttl))
	}
	data := map[string]string{"Code": code, "CodeTTL": ttl.String()}
	if a.Name != "" {
		data["Name"] = a.Name
	}
	err := s.mail.Queue(ctx, tx, mail.Outgoing{To: a.Email, Template: mail.TemplateLoginCode, Locale: locale, Data: data, QueuedAt: s.nowUTC()})
	if err != nil {
		return fmt.Errorf("queue %s email: %w", mail.TemplateLoginCode, err)
	}
	return nil
}

// LoginOTPComplete signs in with a code sent by LoginOTPStart: a session with the AMR ["sms"] (a
// code by text message) or ["otp"] (by email), and tokens, as Login gives.
//
// A wrong, expired or burned code gives the OTP engine's EINVALID error as it is (otp_invalid with
// the attempts left, otp_expired, otp_attempts_exceeded). An identifier without an account that may
// use the code answers exactly like a known one: LoginOTPStart issued a code for it too (never
// sent), so a guess counts and fails the same way, and a right guess gets the wrong-code answer.
// Only after a right code does the answer say more: EFORBIDDEN account_disabled or account_locked.
// Every refusal is audited as a failed sign-in with its real reason.
func (s *Service) LoginOTPComplete(ctx context.Context, in LoginCodeInput, meta session.ClientMeta) (*Tokens, error) {
	if err := s.needCodes(); err != nil {
		return nil, err
	}
	dest, err := s.parseIdentifier(in.Identifier)
	var errs []error
	if err != nil {
		errs = append(errs, err)
	}
	if strings.TrimSpace(in.Code) == "" {
		errs = append(errs, invalid("code", "The code is required."))
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	// Looked up before the code is checked, for every identifier: the same work either way, and
	// the audit record of a wrong code names the account.
	a, err := s.lookup(ctx, dest)
	if err != nil {
		return nil, fail("login code complete", err)
	}
	if err := s.otp.Verify(ctx, otp.PurposeLogin, dest.subject(), in.Code); err != nil {
		var ge *gatehouse.Error
		if errors.As(err, &ge) && ge.Code == gatehouse.EINVALID {
			f := &loginFailure{err: ge, reason: ge.Reason}
			if a != nil && a.Status != gatehouse.AccountDeleted {
				f.subjectID = a.ID
			}
			s.recordLoginFailure(ctx, f, meta)
		}
		return nil, codeError("login code complete", err)
	}
	tokens, err := s.loginWithCode(ctx, a, dest, meta)
	var f *loginFailure
	if errors.As(err, &f) {
		s.recordLoginFailure(ctx, f, meta)
		return nil, f.err
	}
	if err != nil {
		return nil, fail("login code complete", err)
	}
	return tokens, nil
}

// loginWithCode signs a in after a right code for d.
func (s *Service) loginWithCode(ctx context.Context, a *gatehouse.Account, d codeDestination, meta session.ClientMeta) (*Tokens, error) {
	refused := func(reason string, a *gatehouse.Account) *loginFailure {
		f := &loginFailure{err: clientError(errCodeUsedUp), reason: reason}
		if a != nil && a.Status != gatehouse.AccountDeleted {
			f.subjectID = a.ID
		}
		return f
	}
	if reason := codeRefusal(a, d); reason != "" {
		return nil, refused(reason, a)
	}
	if f := s.checkSignIn(a, d.byEmail); f != nil {
		return nil, f
	}
	meta.AMR = []string{d.amr()}
	var out *Tokens
	err := s.store.InTx(ctx, func(ctx context.Context, tx records.Tx) error {
		// Re-read under the transaction: a deletion, a status change or a new number or address
		// since the lookup must win over this sign-in.
		cur, err := tx.GetAccount(ctx, a.ID)
		if errors.Is(err, records.ErrNotFound) {
			return refused(FailureUnknownAccount, nil)
		}
		if err != nil {
			return fmt.Errorf("get account: %w", err)
		}
		if reason := codeRefusal(cur, d); reason != "" {
			f := refused(FailureChangedDuringSignIn, cur)
			f.subjectID = a.ID
			return f
		}
		if f := s.checkSignIn(cur, d.byEmail); f != nil {
			return f
		}
		out, err = s.startSession(ctx, tx, cur, meta, map[string]any{"channel": d.channel()})
		return err
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// checkRecentAuth refuses a change that needs a sign-in within RecentAuthWindow.
func (s *Service) checkRecentAuth(authTime time.Time) error {
	if authTime.IsZero() || s.now().Sub(authTime) > s.opts.RecentAuthWindow {
		return clientError(errReauthRequired)
	}
	return nil
}

// PhoneChangeStart sends a code to the number an account wants to use instead of its own. It needs a
// recent sign-in: authTime (the access token's auth_time) within Options.RecentAuthWindow, else
// EFORBIDDEN reauthentication_required. The account's own verified number is EINVALID (field
// "phone"); an unknown or deleted account ENOTFOUND; limits as in RegisterPhoneStart.
//
// A number that belongs to another account gets the same answer, after the same work, but no code
// (the attempt is audited as a failed ActionPhoneChangeRequested). The code is bound to the account
// and the number together (otp.PhoneChangeSubject).
func (s *Service) PhoneChangeStart(ctx context.Context, accountID string, authTime time.Time, in PhoneCodeRequest, meta session.ClientMeta) (StartResult, error) {
	if err := s.needCodes(); err != nil {
		return StartResult{}, err
	}
	if err := s.checkRecentAuth(authTime); err != nil {
		return StartResult{}, err
	}
	num, err := s.parsePhone(in.Phone, phone.Field)
	if err != nil {
		return StartResult{}, err
	}
	locale, err := normalizeLocale(in.Locale)
	if err != nil {
		return StartResult{}, err
	}
	a, err := s.store.GetAccount(ctx, accountID)
	switch {
	case errors.Is(err, records.ErrNotFound) || (err == nil && a.Status == gatehouse.AccountDeleted):
		return StartResult{}, errAccountNotFound()
	case err != nil:
		return StartResult{}, fail("phone change start: get account", err)
	}
	if a.Phone == num.E164 && !a.PhoneVerifiedAt.IsZero() {
		return StartResult{}, invalid("phone", "This is already your phone number.")
	}
	dec, err := s.otp.CheckAndReserve(ctx, otp.SendRequest{Purpose: otp.PurposePhoneChange, Phone: num.E164, Country: num.Region, IP: meta.IP})
	if err != nil {
		return StartResult{}, codeError("phone change start", err)
	}
	code, ttl, err := s.otp.Issue(ctx, otp.PurposePhoneChange, otp.PhoneChangeSubject(a.ID, num.E164))
	if err != nil {
		return StartResult{}, codeError("phone change start", err)
	}
	err = s.store.InTx(ctx, func(ctx context.Context, tx records.Tx) error {
		ev := gatehouse.AuditEvent{
			Action:    ActionPhoneChangeRequested,
			Outcome:   audit.OutcomeSuccess,
			ActorID:   a.ID,
			SubjectID: a.ID,
			IP:        meta.IP,
			UserAgent: meta.UserAgent,
			Data:      map[string]any{"phone": phone.Mask(num.E164)},
		}
		other, err := tx.GetAccountByPhone(ctx, num.E164)
		switch {
		case err == nil && other.ID != a.ID:
			ev.Outcome, ev.Reason = audit.OutcomeFailure, ReasonPhoneTaken
			return s.record(ctx, tx, ev)
		case err != nil && !errors.Is(err, records.ErrNotFound):
			return fmt.Errorf("look up phone: %w", err)
		}
		if err := s.queueSMS(ctx, tx, s.codeSMS(num.E164, SMSPhoneChange, preferredLocale(a, locale), code, ttl)); err != nil {
			return err
		}
		return s.record(ctx, tx, ev)
	})
	if err != nil {
		return StartResult{}, fail("phone change start", err)
	}
	return StartResult{ExpiresIn: ttl, ResendAfter: dec.ResendAfter, RateLimit: dec.Quota}, nil
}

// PhoneChangeComplete changes an account's phone number to newPhone, given the code PhoneChangeStart
// sent to it, and returns the account. The new number is verified now; the old one, if it was
// verified, is told by text message (phone_changed_notice); the change is audited
// (ActionPhoneChanged), all in one transaction, and the profile cache is invalidated after it.
//
// It needs a recent sign-in, like PhoneChangeStart. A wrong, expired or burned code gives the OTP
// engine's EINVALID error as it is; a number that another account took meanwhile ECONFLICT
// phone_taken; an unknown or deleted account ENOTFOUND.
func (s *Service) PhoneChangeComplete(ctx context.Context, accountID string, authTime time.Time, newPhone, code string) (*gatehouse.Account, error) {
	if err := s.needCodes(); err != nil {
		return nil, err
	}
	if err := s.checkRecentAuth(authTime); err != nil {
		return nil, err
	}
	num, err := s.parsePhone(newPhone, phone.Field)
	var errs []error
	if err != nil {
		errs = append(errs, err)
	}
	if strings.TrimSpace(code) == "" {
		errs = append(errs, invalid("code", "The code is required."))
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	if err := s.otp.Verify(ctx, otp.PurposePhoneChange, otp.PhoneChangeSubject(accountID, num.E164), code); err != nil {
		return nil, codeError("phone change complete", err)
	}
	var updated *gatehouse.Account
	err = s.store.InTx(ctx, func(ctx context.Context, tx records.Tx) error {
		a, err := s.liveAccount(ctx, tx, accountID)
		if err != nil {
			return err
		}
		other, err := tx.GetAccountByPhone(ctx, num.E164)
		switch {
		case err == nil && other.ID != a.ID:
			return clientError(errPhoneOfAnother)
		case err != nil && !errors.Is(err, records.ErrNotFound):
			return fmt.Errorf("look up phone: %w", err)
		}
		old, oldVerified := a.Phone, !a.PhoneVerifiedAt.IsZero()
		now := s.nowUTC()
		a.Phone, a.PhoneVerifiedAt, a.UpdatedAt = num.E164, now, now
		if err := tx.UpdateAccount(ctx, a); errors.Is(err, records.ErrConflict) {
			return clientError(errPhoneOfAnother)
		} else if err != nil {
			return fmt.Errorf("update phone: %w", err)
		}
		notify := old != "" && old != num.E164 && oldVerified
		if notify {
			if err := s.queueSMS(ctx, tx, s.noticeSMS(old, SMSPhoneChangedNotice, a.Locale)); err != nil {
				return err
			}
		}
		data := map[string]any{"phone": phone.Mask(num.E164), "old_notified": notify}
		if old != "" {
			data["old_phone"] = phone.Mask(old)
		}
		if err := s.record(ctx, tx, gatehouse.AuditEvent{
			Action:    ActionPhoneChanged,
			Outcome:   audit.OutcomeSuccess,
			ActorID:   a.ID,
			SubjectID: a.ID,
			Data:      data,
		}); err != nil {
			return err
		}
		updated = a
		return nil
	})
	if err != nil {
		return nil, fail("phone change complete", err)
	}
	s.invalidate(ctx, updated.ID)
	return public(updated), nil
}
