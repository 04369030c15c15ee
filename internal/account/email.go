package account

import (
	"context"
	"fmt"

	"github.com/gatehouse/gatehouse"
	"github.com/gatehouse/gatehouse/internal/mail"
	"github.com/gatehouse/gatehouse/internal/records"
)

// queueVerifyEmail enqueues the verification email of a, in tx.
func (s *Service) queueVerifyEmail(ctx context.Context, tx records.Tx, a *gatehouse.Account, link, code string) error {
	data := map[string]string{
		"Link":    link,
		"Code":    code,
		"LinkTTL": s.opts.VerifyTokenTTL.String(),
		"CodeTTL": s.opts.VerifyCodeTTL.String(),
	}
	if a.Name != "" {
		data["Name"] = a.Name
	}
	err := s.mail.Queue(ctx, tx, mail.Outgoing{To: a.Email, Template: mail.TemplateVerifyEmail, Locale: a.Locale, Data: data, QueuedAt: s.nowUTC()})
	if err != nil {
		return fmt.Errorf("queue %s email: %w", mail.TemplateVerifyEmail, err)
	}
	return nil
}

// registerExistingEmail is the email to the owner of an address someone tried to sign up with.
func (s *Service) registerExistingEmail(owner *gatehouse.Account) mail.Outgoing {
	data := map[string]string{
		"SignInLink": s.publicURL + PathSignIn,
		"ResetLink":  s.publicURL + PathForgotPassword,
	}
	if owner.Name != "" {
		data["Name"] = owner.Name
	}
	return mail.Outgoing{To: owner.Email, Template: mail.TemplateRegisterExisting, Locale: owner.Locale, Data: data, QueuedAt: s.nowUTC()}
}
