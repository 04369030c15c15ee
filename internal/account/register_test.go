package account_test

import (
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse"
	"github.com/gatehouse/gatehouse/internal/account"
	"github.com/gatehouse/gatehouse/internal/audit"
	"github.com/gatehouse/gatehouse/internal/mail"
	"github.com/gatehouse/gatehouse/internal/password"
)

func TestRegisterCreatesAccountAndSendsVerification(t *testing.T) {
	eachBackend(t, nil, func(t *testing.T, e *env) {
		err := e.svc.Register(t.Context(), account.RegisterInput{
			Email: "  Alice@Example.COM ", Password: goodPassword, Name: " Alice Liddell ", Locale: "en-gb",
		})
		if err != nil {
			t.Fatalf("Register: %v", err)
		}
		const email = "Alice@example.com" // trimmed, domain lower-cased, local part kept
		a := e.byEmail(t, email)
		if a.Email != email || a.Name != "Alice Liddell" || a.Locale != "en-GB" {
			t.Errorf("account = email %q, name %q, locale %q", a.Email, a.Name, a.Locale)
		}
		if a.Status != gatehouse.AccountActive || !slices.Equal(a.Roles, []string{"user"}) {
			t.Errorf("account = status %s, roles %v; want active, [user]", a.Status, a.Roles)
		}
		if !strings.HasPrefix(a.PasswordHash, "$argon2id$") {
			t.Errorf("password hash %q is not Argon2id", a.PasswordHash)
		}
		if !a.EmailVerifiedAt.IsZero() {
			t.Error("the new email is verified")
		}
		if ok, _, err := e.hasher.Verify(t.Context(), goodPassword, a.PasswordHash); err != nil || !ok {
			t.Errorf("the stored hash does not verify the password: %v", err)
		}

		ds := e.deliveries(t, email, mail.TemplateVerifyEmail)
		if len(ds) != 1 {
			t.Fatalf("%d verification emails, want 1", len(ds))
		}
		m := e.message(t, ds[0])
		if !strings.Contains(m.Text, "Alice Liddell") || !strings.Contains(m.Text, "24 hours") {
			t.Errorf("verification email lacks the name or the link lifetime:\n%s", m.Text)
		}
		tok, code := e.verification(t, email)
		if len(tok) != 43 || len(code) != 6 {
			t.Errorf("token %q, code %q", tok, code)
		}

		v := e.latestVerification(t, a)
		if v.ExpiresAt.Sub(v.CreatedAt) != account.DefaultVerifyTokenTTL || v.CodeExpiresAt.Sub(v.CreatedAt) != account.DefaultVerifyCodeTTL {
			t.Errorf("verification expiries %v / %v after creation", v.ExpiresAt.Sub(v.CreatedAt), v.CodeExpiresAt.Sub(v.CreatedAt))
		}
		if strings.Contains(string(v.TokenHash), tok) || strings.Contains(string(v.CodeHash), code) || len(v.TokenHash) != 32 || len(v.CodeHash) != 32 {
			t.Error("the verification does not store 32-byte hashes only")
		}

		ev := e.audit.last(t, audit.ActionAccountRegistered)
		if ev.SubjectID != a.ID || ev.ActorID != a.ID {
			t.Errorf("audit event = %+v", ev)
		}
	})
}

func TestRegisterDefaultRoles(t *testing.T) {
	eachBackend(t, func(o *account.Options) { o.DefaultRoles = []string{"member", "beta"} }, func(t *testing.T, e *env) {
		e.register(t, "roles@example.com")
		if a := e.byEmail(t, "roles@example.com"); !slices.Equal(a.Roles, []string{"member", "beta"}) {
			t.Errorf("roles = %v", a.Roles)
		}
	})
}

func TestRegisterExistingEmailAnswersAlike(t *testing.T) {
	eachBackend(t, nil, func(t *testing.T, e *env) {
		owner := e.verified(t, "owner@example.com")
		// Same answer (nil) for a new address and a taken one, in any case of the address.
		for i, email := range []string{"owner@example.com", "OWNER@EXAMPLE.COM"} {
			err := e.svc.Register(t.Context(), account.RegisterInput{Email: email, Password: "another good passphrase", Name: "Mallory"})
			if err != nil {
				t.Fatalf("Register(%s) #%d: %v", email, i, err)
			}
		}
		a := e.get(t, owner.ID)
		if a.Name != "Alice" || a.EmailVerifiedAt.IsZero() {
			t.Errorf("the owner's account changed: %+v", a)
		}
		if ok, _, _ := e.hasher.Verify(t.Context(), goodPassword, a.PasswordHash); !ok {
			t.Error("the owner's password changed")
		}
		// One email to the owner: the second attempt falls in the cooldown.
		ds := e.deliveries(t, owner.Email, mail.TemplateRegisterExisting)
		if len(ds) != 1 {
			t.Fatalf("%d register_existing emails, want 1", len(ds))
		}
		m := e.message(t, ds[0])
		for _, want := range []string{publicURL + account.PathSignIn, publicURL + account.PathForgotPassword, "Alice"} {
			if !strings.Contains(m.Text, want) {
				t.Errorf("register_existing email lacks %q:\n%s", want, m.Text)
			}
		}
		if strings.Contains(m.Text, "Mallory") {
			t.Error("the email to the owner carries the name the stranger typed")
		}
		if n := len(e.deliveries(t, owner.Email, mail.TemplateVerifyEmail)); n != 1 {
			t.Errorf("%d verification emails, want only the first sign-up's", n)
		}
		evs := e.audit.find(audit.ActionAccountRegisterExistingEmail, owner.ID)
		if len(evs) != 2 {
			t.Fatalf("%d register_existing_email events, want 2", len(evs))
		}
		if evs[0].Data["email_sent"] != true || evs[1].Data["email_sent"] != false {
			t.Errorf("events' email_sent = %v, %v", evs[0].Data["email_sent"], evs[1].Data["email_sent"])
		}
		if len(e.audit.find(audit.ActionAccountRegistered, "")) != 1 {
			t.Error("a taken address was audited as a new account")
		}

		if e.fakeTime {
			e.clock.Advance(account.DefaultResendCooldown)
			if err := e.svc.Register(t.Context(), account.RegisterInput{Email: "owner@example.com", Password: goodPassword}); err != nil {
				t.Fatal(err)
			}
			if n := len(e.deliveries(t, owner.Email, mail.TemplateRegisterExisting)); n != 2 {
				t.Errorf("%d register_existing emails after the cooldown, want 2", n)
			}
		}
	})
}

func TestRegisterConcurrentSameEmail(t *testing.T) {
	eachBackend(t, nil, func(t *testing.T, e *env) {
		const n = 4
		var wg sync.WaitGroup
		errs := make([]error, n)
		for i := range n {
			wg.Go(func() {
				errs[i] = e.svc.Register(t.Context(), account.RegisterInput{Email: "race@example.com", Password: goodPassword})
			})
		}
		wg.Wait()
		for i, err := range errs {
			if err != nil {
				t.Errorf("Register #%d: %v", i, err)
			}
		}
		if got := len(e.audit.find(audit.ActionAccountRegistered, "")); got != 1 {
			t.Errorf("%d accounts registered, want 1", got)
		}
		if got := len(e.audit.find(audit.ActionAccountRegisterExistingEmail, "")); got != n-1 {
			t.Errorf("%d attempts on a taken address, want %d", got, n-1)
		}
	})
}

func TestRegisterValidation(t *testing.T) {
	e := newEnv(t, backends()[0], nil)
	long := strings.Repeat("a", 64) + "@" + strings.Repeat("b", 63) + "." + strings.Repeat("c", 63) + "." + strings.Repeat("d", 60) + ".com"
	for _, tc := range []struct {
		name   string
		in     account.RegisterInput
		fields []string
		reason string // of the first error, when one field
	}{
		{"no email", account.RegisterInput{Password: goodPassword}, []string{"email"}, account.ReasonValidationFailed},
		{"not an email", account.RegisterInput{Email: "alice", Password: goodPassword}, []string{"email"}, account.ReasonValidationFailed},
		{"display name", account.RegisterInput{Email: "Alice <alice@example.com>", Password: goodPassword}, []string{"email"}, account.ReasonValidationFailed},
		{"angle brackets", account.RegisterInput{Email: "<alice@example.com>", Password: goodPassword}, []string{"email"}, account.ReasonValidationFailed},
		{"two addresses", account.RegisterInput{Email: "a@example.com, b@example.com", Password: goodPassword}, []string{"email"}, account.ReasonValidationFailed},
		{"header injection", account.RegisterInput{Email: "a@example.com\r\nBcc: x@example.com", Password: goodPassword}, []string{"email"}, account.ReasonValidationFailed},
		{"too long", account.RegisterInput{Email: long, Password: goodPassword}, []string{"email"}, account.ReasonValidationFailed},
		{"name too long", account.RegisterInput{Email: "a@example.com", Password: goodPassword, Name: strings.Repeat("é", 201)}, []string{"name"}, account.ReasonValidationFailed},
		{"name with line break", account.RegisterInput{Email: "a@example.com", Password: goodPassword, Name: "Eve\r\nBcc: x@example.com"}, []string{"name"}, account.ReasonValidationFailed},
		{"bad locale", account.RegisterInput{Email: "a@example.com", Password: goodPassword, Locale: "not a tag!"}, []string{"locale"}, account.ReasonValidationFailed},
		{"short password", account.RegisterInput{Email: "a@example.com", Password: "abc12"}, []string{"password"}, password.ReasonTooShort},
		{"common password", account.RegisterInput{Email: "a@example.com", Password: "password1"}, []string{"password"}, password.ReasonTooCommon},
		{"password contains email", account.RegisterInput{Email: "zebedee@example.com", Password: "my zebedee@example.com pw"}, []string{"password"}, password.ReasonContainsIdentifier},
		{"every field", account.RegisterInput{Email: "nope", Password: "x", Name: strings.Repeat("n", 201), Locale: "!!"}, []string{"email", "locale", "name", "password"}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := e.svc.Register(t.Context(), tc.in)
			ge := wantError(t, "Register", err, gatehouse.EINVALID, tc.reason)
			if got := fieldErrors(err); !slices.Equal(got, tc.fields) {
				t.Errorf("fields = %v, want %v", got, tc.fields)
			}
			if len(tc.fields) == 1 && ge.Field != tc.fields[0] {
				t.Errorf("Field = %q", ge.Field)
			}
		})
	}
	if all, _ := e.store.ListMailDeliveries(t.Context(), 10); len(all) != 0 {
		t.Errorf("invalid sign-ups queued %d emails", len(all))
	}
}

func TestVerifyEmailWithLink(t *testing.T) {
	eachBackend(t, nil, func(t *testing.T, e *env) {
		e.register(t, "link@example.com")
		tok, _ := e.verification(t, "link@example.com")

		before := e.byEmail(t, "link@example.com")
		if _, err := e.svc.Profile(t.Context(), before.ID); err != nil { // cached, unverified
			t.Fatal(err)
		}
		e.clock.Advance(time.Hour)
		a, err := e.svc.VerifyEmail(t.Context(), account.VerifyInput{Token: tok})
		if err != nil {
			t.Fatalf("VerifyEmail: %v", err)
		}
		if !a.EmailVerifiedAt.Equal(epoch.Add(time.Hour)) || a.PasswordHash != "" {
			t.Errorf("verified account: EmailVerifiedAt %v, hash %q", a.EmailVerifiedAt, a.PasswordHash)
		}
		if p, err := e.svc.Profile(t.Context(), a.ID); err != nil || p.EmailVerifiedAt.IsZero() {
			t.Errorf("the profile cache still has the unverified account: %+v, %v", p, err)
		}
		ev := e.audit.last(t, audit.ActionAccountEmailVerified)
		if ev.SubjectID != a.ID || ev.Data["method"] != "link" {
			t.Errorf("audit event = %+v", ev)
		}

		// Single use.
		_, err = e.svc.VerifyEmail(t.Context(), account.VerifyInput{Token: tok})
		wantError(t, "second use", err, gatehouse.EINVALID, account.ReasonInvalidToken)
	})
}

func TestVerifyEmailLinkFailures(t *testing.T) {
	eachBackend(t, nil, func(t *testing.T, e *env) {
		e.register(t, "expire@example.com")
		tok, _ := e.verification(t, "expire@example.com")
		for _, tc := range []struct {
			name   string
			in     account.VerifyInput
			reason string
		}{
			{"garbage", account.VerifyInput{Token: "not-a-token"}, account.ReasonInvalidToken},
			{"unknown", account.VerifyInput{Token: strings.Repeat("A", 43)}, account.ReasonInvalidToken},
			{"altered", account.VerifyInput{Token: flipFirst(tok)}, account.ReasonInvalidToken},
			{"token and code", account.VerifyInput{Token: tok, Email: "expire@example.com", Code: "123456"}, account.ReasonValidationFailed},
			{"nothing", account.VerifyInput{}, account.ReasonValidationFailed},
		} {
			_, err := e.svc.VerifyEmail(t.Context(), tc.in)
			wantError(t, tc.name, err, gatehouse.EINVALID, tc.reason)
		}
		e.clock.Advance(account.DefaultVerifyTokenTTL)
		_, err := e.svc.VerifyEmail(t.Context(), account.VerifyInput{Token: tok})
		wantError(t, "expired", err, gatehouse.EINVALID, account.ReasonTokenExpired)
		if a := e.byEmail(t, "expire@example.com"); !a.EmailVerifiedAt.IsZero() {
			t.Error("a failed verification verified the email")
		}
	})
}

func TestVerifyEmailWithCode(t *testing.T) {
	eachBackend(t, nil, func(t *testing.T, e *env) {
		e.register(t, "code@example.com")
		tok, code := e.verification(t, "code@example.com")
		// Addresses compare case-insensitively; surrounding spaces are ignored.
		a, err := e.svc.VerifyEmail(t.Context(), account.VerifyInput{Email: " CODE@Example.com ", Code: " " + code + " "})
		if err != nil {
			t.Fatalf("VerifyEmail: %v", err)
		}
		if a.EmailVerifiedAt.IsZero() {
			t.Error("not verified")
		}
		if ev := e.audit.last(t, audit.ActionAccountEmailVerified); ev.Data["method"] != "code" {
			t.Errorf("audit event = %+v", ev)
		}
		_, err = e.svc.VerifyEmail(t.Context(), account.VerifyInput{Email: "code@example.com", Code: code})
		wantError(t, "second use", err, gatehouse.EINVALID, account.ReasonCodeExpired)
		// The code used up the verification, link included.
		_, err = e.svc.VerifyEmail(t.Context(), account.VerifyInput{Token: tok})
		wantError(t, "link after code", err, gatehouse.EINVALID, account.ReasonInvalidToken)
	})
}

// flipFirst changes the first character of a base64url token to another valid one.
func flipFirst(tok string) string {
	if tok[0] == 'A' {
		return "B" + tok[1:]
	}
	return "A" + tok[1:]
}
