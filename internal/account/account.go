// Package account owns the life of an account seen from its owner: email sign-up with a
// verification link and code, phone sign-up with a text-message code, sign-in with a password (by
// email or phone number) or with a one-time code, token refresh and sign-out, the profile (read
// through a cache in process and one in the ephemeral store), the change of phone number, and
// deletion. It speaks to storage only through records.Store and ephemeral.Store, and leaves hashing
// to internal/password, access tokens to internal/token, sessions and refresh tokens to
// internal/session, one-time codes and their sending limits to internal/otp, phone number parsing
// to internal/phone, the audit log to internal/audit, email to internal/mail and text messages to an
// SMSQueue (internal/sms). The HTTP layer maps its *gatehouse.Error values to responses.
//
// Answers that could tell whether an account exists (sign-up of a taken email or number, sign-in
// with an unknown identifier, a code requested for an unknown identifier, resend of a verification)
// are the same for existing and unknown accounts, and take about the same time: every sign-up hashes
// its password, every sign-in verifies one, and every code request passes the same sending limits
// and issues a code, which is sent only when there is someone to send it to.
package account

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/gatehouse/gatehouse"
	"github.com/gatehouse/gatehouse/internal/audit"
	"github.com/gatehouse/gatehouse/internal/ephemeral"
	"github.com/gatehouse/gatehouse/internal/mail"
	"github.com/gatehouse/gatehouse/internal/otp"
	"github.com/gatehouse/gatehouse/internal/password"
	"github.com/gatehouse/gatehouse/internal/records"
	"github.com/gatehouse/gatehouse/internal/session"
	"github.com/gatehouse/gatehouse/internal/token"
)

// Defaults of Options.
const (
	DefaultVerifyTokenTTL        = 24 * time.Hour
	DefaultVerifyCodeTTL         = 15 * time.Minute
	DefaultVerifyCodeMaxAttempts = 5
	DefaultResendCooldown        = 60 * time.Second
	DefaultProfileCacheTTL       = 5 * time.Minute
	DefaultRole                  = "user"
	DefaultRecentAuthWindow      = 10 * time.Minute
	DefaultAppName               = "Gatehouse"
)

// MinCodeKeyLen is the shortest accepted Options.CodeKey.
const MinCodeKeyLen = 16

// Limits of the inputs.
const (
	MaxEmailLength = 254 // RFC 5321's limit on a forward path, less the angle brackets
	MaxNameLength  = 200 // in characters (code points)
)

// Reasons of the *gatehouse.Error values the Service returns (the problem response's code). Password
// policy failures carry the password package's reasons.
const (
	ReasonValidationFailed     = "validation_failed"         // EINVALID: malformed input, Field names it
	ReasonInvalidToken         = "invalid_token"             // EINVALID: unknown or used verification link
	ReasonTokenExpired         = "token_expired"             // EINVALID: verification link past its expiry
	ReasonInvalidCode          = "invalid_code"              // EINVALID: wrong or unknown verification code
	ReasonCodeExpired          = "code_expired"              // EINVALID: code expired, used or superseded
	ReasonCodeAttemptsExceeded = "code_attempts_exceeded"    // EINVALID: too many wrong codes
	ReasonInvalidCredentials   = "invalid_credentials"       // EUNAUTHENTICATED: unknown account or wrong password
	ReasonAccountDisabled      = "account_disabled"          // EFORBIDDEN
	ReasonAccountLocked        = "account_locked"            // EFORBIDDEN
	ReasonEmailNotVerified     = "email_not_verified"        // EFORBIDDEN: a new link can be requested
	ReasonPhoneNotVerified     = "phone_not_verified"        // EFORBIDDEN
	ReasonAccountInactive      = "account_inactive"          // EUNAUTHENTICATED: refresh of a disabled, locked or deleted account
	ReasonPhoneTaken           = "phone_taken"               // ECONFLICT: after a proven code, the number has another account
	ReasonReauthRequired       = "reauthentication_required" // EFORBIDDEN: the sign-in is older than RecentAuthWindow
)

// Reasons recorded in session.login_failed audit events besides the EFORBIDDEN reasons above. The
// client sees invalid_credentials for each of them.
const (
	FailureUnknownAccount      = "unknown_account"        // no account (or a deleted one) has the identifier
	FailureInvalidPassword     = "invalid_password"       // the password is wrong
	FailureNoPassword          = "no_password"            // the account signs in without a password
	FailureUnusablePassword    = "unusable_password_hash" // the stored hash cannot be verified; see the log
	FailureChangedDuringSignIn = "changed_during_login"   // the password changed, or the account was deleted, meanwhile
)

// ActionVerificationResent is the audit action of a verification email sent again on request.
const ActionVerificationResent = audit.ActionAccountVerificationResent

// Paths of the web pages that emails link to, under Options.PublicURL.
const (
	PathVerifyEmail    = "/verify-email"
	PathSignIn         = "/login"
	PathForgotPassword = "/forgot-password"
)

// Auditor writes audit events; *audit.Recorder implements it. Record fills the event's ID, time and
// request details.
type Auditor interface {
	Record(ctx context.Context, w records.AuditWriter, e gatehouse.AuditEvent) error
}

// Deps are the Service's collaborators. All are required except Now, Rand and Logger. Policy is
// taken as it is: start from password.DefaultPolicy (the zero Policy accepts common passwords).
type Deps struct {
	Store     records.Store
	Ephemeral ephemeral.Store
	Hasher    *password.Hasher
	Policy    password.Policy
	Tokens    *token.Tokens
	Sessions  *session.Service
	Audit     Auditor
	// Mail queues emails (verification, sign-in codes, notices), sealing their data with a key
	// that the program holds for it.
	Mail *mail.Queuer
	// OTP issues and checks one-time codes and enforces their sending limits; SMS queues text
	// messages. Both are optional but go together: without them the phone sign-up, passwordless
	// sign-in and phone change flows fail (sign-in with a phone number and a password still works).
	OTP    *otp.Engine
	SMS    SMSQueue
	Now    func() time.Time // default time.Now
	Rand   io.Reader        // default crypto/rand.Reader
	Logger *slog.Logger     // default: discard
}

// Options are the Service's rules. Zero fields take the defaults above, except CodeKey and
// PublicURL, which are required.
type Options struct {
	// PublicURL is the external base URL that links in emails start with.
	PublicURL string
	// DefaultRoles are the roles of a new account; nil means ["user"], an empty slice none.
	DefaultRoles []string
	// AllowUnverifiedLogin lets an account whose email (or phone) is not verified sign in.
	AllowUnverifiedLogin bool
	// VerifyTokenTTL is the lifetime of an email verification link; default 24 h.
	VerifyTokenTTL time.Duration
	// VerifyCodeTTL is the lifetime of an email verification code; default 15 min.
	VerifyCodeTTL time.Duration
	// VerifyCodeMaxAttempts is how many wrong codes burn a verification's code; default 5.
	VerifyCodeMaxAttempts int
	// ResendCooldown is the least time between two verification emails (and two "someone tried to
	// sign up with your address" emails) to one address; default 60 s.
	ResendCooldown time.Duration
	// CodeKey keys the HMAC-SHA256 under which verification codes are stored (at least
	// MinCodeKeyLen bytes). Changing it invalidates the codes in flight, not the links.
	CodeKey []byte
	// ProfileCacheTTL is how long a profile stays in the ephemeral store; default 5 min.
	ProfileCacheTTL time.Duration
	// LocalProfileTTL is how long a profile read stays in the node's own memory (the near cache in
	// front of the ephemeral store); default DefaultLocalProfileTTL (1 s). Changes made through any
	// Service reach every started node at once by publish/subscribe; this TTL bounds how long a node
	// that missed the announcement answers with the old profile. The near cache serves only while
	// the Service is started (see Start): without Start there is none.
	LocalProfileTTL time.Duration
	// DefaultRegion is the ISO 3166-1 alpha-2 country ("KW") that phone numbers written without
	// their country code are read in; "" accepts only numbers with a country code.
	DefaultRegion string
	// NotifyExistingBySMS sends the owner of a number someone tries to sign up with a text message
	// saying that the number already has an account (the sign-up answer is the same either way).
	NotifyExistingBySMS bool
	// RecentAuthWindow is how recent a sign-in must be for sensitive changes (the phone number);
	// default 10 min.
	RecentAuthWindow time.Duration
	// AppName is the product's name as people know it, at the start of every text message; default
	// "Gatehouse".
	AppName string
}

// Service runs the account flows. It is safe for concurrent use.
type Service struct {
	store    records.Store
	eph      ephemeral.Store
	hasher   *password.Hasher
	policy   password.Policy
	tokens   *token.Tokens
	sessions *session.Service
	audit    Auditor
	mail     *mail.Queuer
	otp      *otp.Engine
	sms      SMSQueue
	now      func() time.Time
	rand     io.Reader
	log      *slog.Logger
	near     *nearCache

	opts      Options
	publicURL string // without a trailing slash
}

// NewService returns a Service, or an error naming the first missing dependency or bad option.
func NewService(deps Deps, opts Options) (*Service, error) {
	switch {
	case deps.Store == nil:
		return nil, errors.New("account: Deps.Store is required")
	case deps.Ephemeral == nil:
		return nil, errors.New("account: Deps.Ephemeral is required")
	case deps.Hasher == nil:
		return nil, errors.New("account: Deps.Hasher is required")
	case deps.Tokens == nil:
		return nil, errors.New("account: Deps.Tokens is required")
	case deps.Sessions == nil:
		return nil, errors.New("account: Deps.Sessions is required")
	case deps.Audit == nil:
		return nil, errors.New("account: Deps.Audit is required")
	case deps.Mail == nil:
		return nil, errors.New("account: Deps.Mail is required")
	case (deps.OTP == nil) != (deps.SMS == nil):
		return nil, errors.New("account: Deps.OTP and Deps.SMS go together: set both or neither")
	}
	if err := deps.Policy.Validate(); err != nil {
		return nil, fmt.Errorf("account: Deps.Policy: %w", err)
	}
	if len(opts.CodeKey) < MinCodeKeyLen {
		return nil, fmt.Errorf("account: Options.CodeKey must be at least %d bytes", MinCodeKeyLen)
	}
	u, err := url.Parse(opts.PublicURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Errorf("account: Options.PublicURL %q is not an absolute http(s) URL without query or fragment", opts.PublicURL)
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{
		{"VerifyTokenTTL", opts.VerifyTokenTTL},
		{"VerifyCodeTTL", opts.VerifyCodeTTL},
		{"ResendCooldown", opts.ResendCooldown},
		{"ProfileCacheTTL", opts.ProfileCacheTTL},
		{"LocalProfileTTL", opts.LocalProfileTTL},
		{"RecentAuthWindow", opts.RecentAuthWindow},
	} {
		if d.v < 0 {
			return nil, fmt.Errorf("account: Options.%s must not be negative", d.name)
		}
	}
	if opts.VerifyCodeMaxAttempts < 0 {
		return nil, errors.New("account: Options.VerifyCodeMaxAttempts must not be negative")
	}
	region, ok := normalizeRegion(opts.DefaultRegion)
	if !ok {
		return nil, fmt.Errorf("account: Options.DefaultRegion %q is not an ISO 3166-1 alpha-2 code", opts.DefaultRegion)
	}
	opts.DefaultRegion = region
	if opts.AppName = strings.TrimSpace(opts.AppName); opts.AppName == "" {
		opts.AppName = DefaultAppName
	}
	if opts.DefaultRoles == nil {
		opts.DefaultRoles = []string{DefaultRole}
	}
	opts.DefaultRoles = append([]string(nil), opts.DefaultRoles...)
	for _, r := range opts.DefaultRoles {
		if strings.TrimSpace(r) == "" || r != strings.TrimSpace(r) {
			return nil, fmt.Errorf("account: Options.DefaultRoles holds a blank or padded role %q", r)
		}
	}
	opts.CodeKey = append([]byte(nil), opts.CodeKey...)
	if opts.VerifyTokenTTL == 0 {
		opts.VerifyTokenTTL = DefaultVerifyTokenTTL
	}
	if opts.VerifyCodeTTL == 0 {
		opts.VerifyCodeTTL = DefaultVerifyCodeTTL
	}
	if opts.VerifyCodeMaxAttempts == 0 {
		opts.VerifyCodeMaxAttempts = DefaultVerifyCodeMaxAttempts
	}
	if opts.ResendCooldown == 0 {
		opts.ResendCooldown = DefaultResendCooldown
	}
	if opts.ProfileCacheTTL == 0 {
		opts.ProfileCacheTTL = DefaultProfileCacheTTL
	}
	if opts.LocalProfileTTL == 0 {
		opts.LocalProfileTTL = DefaultLocalProfileTTL
	}
	if opts.RecentAuthWindow == 0 {
		opts.RecentAuthWindow = DefaultRecentAuthWindow
	}

	s := &Service{
		store:     deps.Store,
		eph:       deps.Ephemeral,
		hasher:    deps.Hasher,
		policy:    deps.Policy,
		tokens:    deps.Tokens,
		sessions:  deps.Sessions,
		audit:     deps.Audit,
		mail:      deps.Mail,
		otp:       deps.OTP,
		sms:       deps.SMS,
		now:       deps.Now,
		rand:      deps.Rand,
		log:       deps.Logger,
		near:      newNearCache(opts.LocalProfileTTL, localProfileCacheSize),
		opts:      opts,
		publicURL: strings.TrimRight(u.String(), "/"),
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.rand == nil {
		s.rand = rand.Reader
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	return s, nil
}

// Options returns the options in effect, defaults filled in, without the CodeKey (a secret).
func (s *Service) Options() Options {
	o := s.opts
	o.DefaultRoles = append([]string(nil), o.DefaultRoles...)
	o.CodeKey = nil
	return o
}

// newID returns a UUIDv7 drawn from the Service's randomness.
func (s *Service) newID() (string, error) {
	id, err := uuid.NewV7FromReader(s.rand)
	if err != nil {
		return "", fmt.Errorf("new id: %w", err)
	}
	return id.String(), nil
}

// nowUTC is the current time in UTC.
func (s *Service) nowUTC() time.Time { return s.now().UTC() }

// public returns a copy of a without its password hash, which never leaves the Service.
func public(a *gatehouse.Account) *gatehouse.Account {
	if a == nil {
		return nil
	}
	c := *a
	c.PasswordHash = ""
	c.Roles = append([]string{}, a.Roles...) // never nil: a JSON list, even when empty
	return &c
}

// invalid returns an EINVALID validation error about field.
func invalid(field, message string) *gatehouse.Error {
	return &gatehouse.Error{Code: gatehouse.EINVALID, Reason: ReasonValidationFailed, Field: field, Message: message}
}

// fail wraps an unexpected failure.
func fail(what string, err error) error {
	var ge *gatehouse.Error
	if errors.As(err, &ge) {
		return fmt.Errorf("%s: %w", what, err)
	}
	if errors.Is(err, records.ErrTimeout) || errors.Is(err, ephemeral.ErrUnavailable) {
		return gatehouse.Wrap(gatehouse.EUNAVAILABLE, "The service is temporarily unavailable.", fmt.Errorf("%s: %w", what, err))
	}
	return fmt.Errorf("%s: %w", what, err)
}
