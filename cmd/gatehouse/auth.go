package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/gatehouse/gatehouse"
	"github.com/gatehouse/gatehouse/internal/account"
	"github.com/gatehouse/gatehouse/internal/audit"
	"github.com/gatehouse/gatehouse/internal/config"
	"github.com/gatehouse/gatehouse/internal/httpapi"
	"github.com/gatehouse/gatehouse/internal/jobs"
	"github.com/gatehouse/gatehouse/internal/mail"
	"github.com/gatehouse/gatehouse/internal/otp"
	"github.com/gatehouse/gatehouse/internal/password"
	"github.com/gatehouse/gatehouse/internal/records"
	"github.com/gatehouse/gatehouse/internal/seal"
	"github.com/gatehouse/gatehouse/internal/session"
	"github.com/gatehouse/gatehouse/internal/sms"
	"github.com/gatehouse/gatehouse/internal/token"
)

// keyRefreshInterval is how often each node re-reads the signing keys, so that a rotation made by
// another node (or by `gatehouse keys rotate`) is picked up well within the activation delay.
const keyRefreshInterval = time.Minute

// buildAuth builds the authentication services on the app's stores and registers the email and purge
// jobs. It must run before the job queue starts. The returned stop function ends its background work.
func (a *app) buildAuth(ctx context.Context) (_ *httpapi.Auth, stop func(), err error) {
	cfg, logger := a.cfg, a.logger
	secrets, err := loadSecrets(cfg)
	if err != nil {
		return nil, nil, err
	}

	// The dev outbox holds email and SMS in development when no real provider is configured.
	var outbox *mail.DevOutbox
	if cfg.MailSender() == config.MailDevOutbox || cfg.SMSProvider() == config.SMSDevOutbox {
		outbox = mail.NewDevOutbox(0, logger, time.Now)
	}

	// Email: SMTP, or the dev outbox; sent by a durable job whose data (links, codes) is sealed.
	var sender mail.Sender = outbox
	if cfg.MailSender() == config.MailSMTP {
		server, err := mail.ParseURL(cfg.SMTP.URL)
		if err != nil {
			return nil, nil, fmt.Errorf("GATEHOUSE_SMTP_URL: %w", err)
		}
		sender = mail.NewSMTPSender(server, mail.SMTPOptions{})
	}
	var limiter *mail.Limiter
	if cfg.SMTP.RatePerSecond > 0 {
		limiter = mail.NewLimiter(a.ephemeral, cfg.SMTP.RatePerSecond, time.Now)
	}
	mailSealer, err := seal.NewSealer(secrets.mailJobs)
	if err != nil {
		return nil, nil, fmt.Errorf("email job sealing: %w", err)
	}
	worker := mail.NewWorker(mail.WorkerDeps{Sender: sender, Deliveries: a.db, Sealer: mailSealer, From: cfg.SMTP.From, Limiter: limiter, Logger: logger})
	if err := jobs.Handle(a.workers, worker.Work); err != nil {
		return nil, nil, fmt.Errorf("register the email job: %w", err)
	}
	if err := a.registerPurge(); err != nil {
		return nil, nil, err
	}

	// SMS: a provider, or the dev outbox; sent by a durable job whose data (the codes) is sealed.
	smsQueue, err := a.buildSMS(outbox, secrets)
	if err != nil {
		return nil, nil, err
	}
	codes, err := otp.NewEngine(a.ephemeral, otp.Options{
		Key: secrets.otp, TTL: cfg.OTP.TTL, MaxAttempts: cfg.OTP.MaxAttempts, Logger: logger,
		Limits: otp.Limits{
			ResendCooldown: cfg.OTP.ResendCooldown, PerPhonePerHour: cfg.OTP.PerPhonePerHour,
			PerIPPerHour: cfg.OTP.PerIPPerHour, GlobalDaily: cfg.SMS.DailyBudget,
			AllowCountries: cfg.SMS.AllowCountries, DenyCountries: cfg.SMS.DenyCountries,
		},
	})
	if err != nil {
		return nil, nil, fmt.Errorf("one-time codes: %w", err)
	}
	a.smsBudgetTrips = codes.BudgetTrips

	// Access tokens and their signing keys.
	km, err := newKeyManager(cfg, a.db, secrets, logger)
	if err != nil {
		return nil, nil, err
	}
	if err := km.Load(ctx); err != nil {
		return nil, nil, fmt.Errorf("load signing keys: %w", err)
	}
	audience := cfg.Token.Audience
	if len(audience) == 0 {
		audience = []string{cfg.PublicURL}
	}
	tokens, err := token.NewTokens(km, token.Options{Issuer: cfg.PublicURL, Audience: audience, AccessTTL: cfg.Token.AccessTTL})
	if err != nil {
		return nil, nil, fmt.Errorf("access tokens: %w", err)
	}

	// Sessions and the revocation set.
	recorder := audit.NewRecorder(logger, time.Now, nil)
	sessions, err := session.NewService(a.db, a.ephemeral, session.Options{
		AbsoluteLifetime: cfg.Session.AbsoluteLifetime,
		IdleTimeout:      cfg.Session.IdleTimeout,
		RefreshGrace:     refreshGrace(cfg.Session.RefreshGrace),
		AccessTokenTTL:   cfg.Token.AccessTTL,
		Audit:            recorder,
		Logger:           logger,
	})
	if err != nil {
		return nil, nil, fmt.Errorf("sessions: %w", err)
	}
	revocations := session.NewRevocationChecker(a.ephemeral, session.CheckerOptions{Logger: logger})
	bg, cancel := context.WithCancel(context.WithoutCancel(ctx))
	if err := revocations.Start(bg); err != nil {
		cancel()
		return nil, nil, fmt.Errorf("subscribe to session revocations: %w", err)
	}
	go km.RefreshEvery(bg, keyRefreshInterval)
	stop = func() {
		cancel()
		if err := revocations.Close(); err != nil && !errors.Is(err, context.Canceled) {
			logger.Warn("close the revocation checker", "err", err)
		}
	}

	// Passwords and accounts.
	params := password.Params{
		Memory:        uint32(cfg.Password.MemoryKiB),
		Iterations:    uint32(cfg.Password.Iterations),
		Parallelism:   uint8(cfg.Password.Parallelism),
		MaxConcurrent: cfg.Password.MaxConcurrent,
	}
	if err := params.Validate(); err != nil {
		stop()
		return nil, nil, fmt.Errorf("password hashing: %w", err)
	}
	policy := password.Policy{
		MinLength: cfg.Password.MinLength, MaxLength: cfg.Password.MaxLength, RejectCommon: cfg.Password.RejectCommon,
		MinScore: cfg.Password.MinScore, RequireUpper: cfg.Password.RequireUpper, RequireLower: cfg.Password.RequireLower,
		RequireDigit: cfg.Password.RequireDigit, RequireSymbol: cfg.Password.RequireSymbol,
	}
	accounts, err := account.NewService(account.Deps{
		Store: a.db, Ephemeral: a.ephemeral, Hasher: password.NewHasher(params), Policy: policy,
		Tokens: tokens, Sessions: sessions, Audit: recorder, Logger: logger, Mail: mail.NewQueuer(mailSealer),
		OTP: codes, SMS: smsQueue,
	}, account.Options{
		DefaultRegion:        cfg.OTP.DefaultRegion,
		NotifyExistingBySMS:  cfg.SMS.NotifyExisting,
		AppName:              cfg.SMS.AppName,
		PublicURL:            cfg.AccountLinkURL(),
		DefaultRoles:         cfg.Account.DefaultRoles,
		AllowUnverifiedLogin: cfg.Account.AllowUnverifiedLogin,
		ResendCooldown:       resendCooldown(cfg.Account.VerifyResendCooldown),
		CodeKey:              secrets.codes,
	})
	if err != nil {
		stop()
		return nil, nil, fmt.Errorf("accounts: %w", err)
	}
	// The profile near cache serves only while this node hears the other nodes' invalidations.
	if err := accounts.Start(bg); err != nil {
		stop()
		return nil, nil, fmt.Errorf("subscribe to profile invalidations: %w", err)
	}
	stopSessions := stop
	stop = func() {
		stopSessions()
		if err := accounts.Close(); err != nil && !errors.Is(err, context.Canceled) {
			logger.Warn("close the profile invalidation subscription", "err", err)
		}
	}
	// GET /api/v1/dev/outbox exists only while no real provider is configured at all (API.md).
	served := outbox
	if cfg.MailSender() != config.MailDevOutbox || (cfg.SMSProvider() != config.SMSDevOutbox && cfg.SMSProvider() != config.SMSNone) {
		served = nil
	}
	return &httpapi.Auth{
		Accounts: accounts, Sessions: sessions, Tokens: tokens, Keys: km, Revocations: revocations, Outbox: served,
	}, stop, nil
}

// buildSMS builds the SMS sender the configuration names, registers the SMS job, and returns the
// queue the account flows use. With no provider ("none"), queueing answers 503.
func (a *app) buildSMS(outbox *mail.DevOutbox, secrets derivedKeys) (account.SMSQueue, error) {
	cfg := a.cfg
	var sender sms.Sender
	switch cfg.SMSProvider() {
	case config.SMSDevOutbox:
		sender = sms.NewDevOutbox(outbox)
	case config.SMSTwilio:
		t, err := sms.NewTwilio(sms.TwilioOptions{BaseURL: cfg.SMS.TwilioBaseURL, AccountSID: cfg.SMS.TwilioAccountSID,
			AuthToken: cfg.SMS.TwilioAuthToken, From: cfg.SMS.TwilioFrom})
		if err != nil {
			return nil, fmt.Errorf("SMS provider: %w", err)
		}
		sender = t
	case config.SMSWebhook:
		w, err := sms.NewWebhook(sms.WebhookOptions{URL: cfg.SMS.WebhookURL, Secret: cfg.SMS.WebhookSecret})
		if err != nil {
			return nil, fmt.Errorf("SMS provider: %w", err)
		}
		sender = w
	default:
		return account.SMSQueueFunc(func(context.Context, records.Tx, account.SMS) error {
			return gatehouse.Errorf(gatehouse.EUNAVAILABLE, "Text messages are not configured on this server (GATEHOUSE_SMS_PROVIDER).")
		}), nil
	}
	sealer, err := seal.NewSealer(secrets.smsJobs)
	if err != nil {
		return nil, fmt.Errorf("SMS job sealing: %w", err)
	}
	if err := jobs.Handle(a.workers, sms.NewWorker(sms.WorkerDeps{Sender: sender, Sealer: sealer, Logger: a.logger}).Work); err != nil {
		return nil, fmt.Errorf("register the SMS job: %w", err)
	}
	return account.SMSQueueFunc(func(ctx context.Context, tx records.Tx, m account.SMS) error {
		if tx == nil {
			// On its own: the queue writes concurrent messages together (group insert).
			return sms.Queue(ctx, a.db.Queue(), sealer, sms.Outgoing(m))
		}
		return sms.Queue(ctx, tx, sealer, sms.Outgoing(m))
	}), nil
}

// refreshGrace maps the configured window to the session package's convention (negative: none).
func refreshGrace(d time.Duration) time.Duration {
	if d == 0 {
		return -1
	}
	return d
}

// resendCooldown maps the configured cooldown to the account package's convention (zero: its
// default), keeping an explicit 0s meaning "no cooldown" as closely as it allows.
func resendCooldown(d time.Duration) time.Duration {
	if d == 0 {
		return time.Nanosecond
	}
	return d
}
