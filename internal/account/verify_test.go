package account_test

import (
	"sync"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse"
	"github.com/gatehouse/gatehouse/internal/account"
	"github.com/gatehouse/gatehouse/internal/audit"
	"github.com/gatehouse/gatehouse/internal/mail"
)

// otherCode returns a 6-digit code different from code.
func otherCode(code string) string {
	if code == "000000" {
		return "000001"
	}
	return "000000"
}

func TestVerifyEmailCodeFailures(t *testing.T) {
	eachBackend(t, nil, func(t *testing.T, e *env) {
		e.register(t, "codes@example.com")
		_, code := e.verification(t, "codes@example.com")
		for _, tc := range []struct {
			name   string
			in     account.VerifyInput
			reason string
		}{
			{"unknown email", account.VerifyInput{Email: "nobody@example.com", Code: code}, account.ReasonInvalidCode},
			{"not six digits", account.VerifyInput{Email: "codes@example.com", Code: "12345"}, account.ReasonInvalidCode},
			{"letters", account.VerifyInput{Email: "codes@example.com", Code: "12345a"}, account.ReasonInvalidCode},
			{"no code", account.VerifyInput{Email: "codes@example.com"}, account.ReasonValidationFailed},
			{"bad email", account.VerifyInput{Email: "codes", Code: code}, account.ReasonValidationFailed},
		} {
			_, err := e.svc.VerifyEmail(t.Context(), tc.in)
			wantError(t, tc.name, err, gatehouse.EINVALID, tc.reason)
		}
		a := e.byEmail(t, "codes@example.com")
		if v := e.latestVerification(t, a); v.CodeAttempts != 0 {
			t.Errorf("malformed codes counted as attempts: %d", v.CodeAttempts)
		}
		e.clock.Advance(account.DefaultVerifyCodeTTL)
		_, err := e.svc.VerifyEmail(t.Context(), account.VerifyInput{Email: "codes@example.com", Code: code})
		wantError(t, "expired code", err, gatehouse.EINVALID, account.ReasonCodeExpired)
		if !e.byEmail(t, "codes@example.com").EmailVerifiedAt.IsZero() {
			t.Error("verified by an expired code")
		}
	})
}

func TestVerifyEmailCodeAttemptsExhausted(t *testing.T) {
	eachBackend(t, nil, func(t *testing.T, e *env) {
		e.register(t, "guess@example.com")
		tok, code := e.verification(t, "guess@example.com")
		in := account.VerifyInput{Email: "guess@example.com", Code: otherCode(code)}
		for i := range account.DefaultVerifyCodeMaxAttempts {
			_, err := e.svc.VerifyEmail(t.Context(), in)
			wantError(t, "wrong code", err, gatehouse.EINVALID, account.ReasonInvalidCode)
			if v := e.latestVerification(t, e.byEmail(t, "guess@example.com")); v.CodeAttempts != i+1 {
				t.Fatalf("after %d wrong codes CodeAttempts = %d", i+1, v.CodeAttempts)
			}
		}
		_, err := e.svc.VerifyEmail(t.Context(), account.VerifyInput{Email: "guess@example.com", Code: code})
		wantError(t, "right code after the limit", err, gatehouse.EINVALID, account.ReasonCodeAttemptsExceeded)
		// The link is not burnt with the code.
		if _, err := e.svc.VerifyEmail(t.Context(), account.VerifyInput{Token: tok}); err != nil {
			t.Errorf("link after the code burnt: %v", err)
		}
	})
}

func TestVerifyEmailParallelGuessesAreCounted(t *testing.T) {
	eachBackend(t, nil, func(t *testing.T, e *env) {
		e.register(t, "parallel@example.com")
		_, code := e.verification(t, "parallel@example.com")
		const n = 16
		var (
			wg      sync.WaitGroup
			mu      sync.Mutex
			reasons = map[string]int{}
		)
		for range n {
			wg.Go(func() {
				_, err := e.svc.VerifyEmail(t.Context(), account.VerifyInput{Email: "parallel@example.com", Code: otherCode(code)})
				ge := wantError(t, "parallel guess", err, gatehouse.EINVALID, "")
				mu.Lock()
				reasons[ge.Reason]++
				mu.Unlock()
			})
		}
		wg.Wait()
		if reasons[account.ReasonInvalidCode] != account.DefaultVerifyCodeMaxAttempts ||
			reasons[account.ReasonCodeAttemptsExceeded] != n-account.DefaultVerifyCodeMaxAttempts {
			t.Errorf("answers to %d parallel guesses: %v; want exactly %d checked", n, reasons, account.DefaultVerifyCodeMaxAttempts)
		}
	})
}

func TestResendVerification(t *testing.T) {
	eachBackend(t, nil, func(t *testing.T, e *env) {
		const email = "resend@example.com"
		e.register(t, email)
		oldTok, oldCode := e.verification(t, email)

		if err := e.svc.ResendVerification(t.Context(), " RESEND@example.com "); err != nil {
			t.Fatalf("ResendVerification: %v", err)
		}
		if n := len(e.deliveries(t, email, mail.TemplateVerifyEmail)); n != 2 {
			t.Fatalf("%d verification emails, want 2", n)
		}
		newTok, newCode := e.verification(t, email)
		if newTok == oldTok {
			t.Fatal("the resent email has the old link")
		}
		if e.audit.last(t, account.ActionVerificationResent).SubjectID != e.byEmail(t, email).ID {
			t.Error("resend not audited")
		}
		// Within the cooldown: the same answer, no email.
		if err := e.svc.ResendVerification(t.Context(), email); err != nil {
			t.Fatalf("ResendVerification in cooldown: %v", err)
		}
		if n := len(e.deliveries(t, email, mail.TemplateVerifyEmail)); n != 2 {
			t.Errorf("%d verification emails after a resend in the cooldown, want 2", n)
		}
		// Codes are checked against the newest verification only (unless both codes are equal).
		if oldCode != newCode {
			_, err := e.svc.VerifyEmail(t.Context(), account.VerifyInput{Email: email, Code: oldCode})
			wantError(t, "old code", err, gatehouse.EINVALID, account.ReasonInvalidCode)
		}
		// Older links stay valid until they expire.
		if _, err := e.svc.VerifyEmail(t.Context(), account.VerifyInput{Token: oldTok}); err != nil {
			t.Fatalf("old link after a resend: %v", err)
		}
		// Verified: resending does nothing, still with the same answer.
		if e.fakeTime {
			e.clock.Advance(account.DefaultResendCooldown)
		}
		if err := e.svc.ResendVerification(t.Context(), email); err != nil {
			t.Fatalf("ResendVerification of a verified address: %v", err)
		}
		if n := len(e.deliveries(t, email, mail.TemplateVerifyEmail)); n != 2 {
			t.Errorf("%d verification emails after a resend to a verified address, want 2", n)
		}
	})
}

func TestResendVerificationCooldownEnds(t *testing.T) {
	e := newEnv(t, backends()[0], func(o *account.Options) { o.ResendCooldown = 90 * time.Second }) // memory: the clock moves TTLs
	const email = "cool@example.com"
	e.register(t, email)
	for i, advance := range []time.Duration{0, 89 * time.Second, time.Second} {
		e.clock.Advance(advance)
		if err := e.svc.ResendVerification(t.Context(), email); err != nil {
			t.Fatal(err)
		}
		want := []int{2, 2, 3}[i]
		if n := len(e.deliveries(t, email, mail.TemplateVerifyEmail)); n != want {
			t.Errorf("after %d resends: %d emails, want %d", i+1, n, want)
		}
	}
}

func TestResendVerificationGeneric(t *testing.T) {
	eachBackend(t, nil, func(t *testing.T, e *env) {
		if err := e.svc.ResendVerification(t.Context(), "unknown@example.com"); err != nil {
			t.Errorf("unknown address: %v", err)
		}
		if err := e.svc.ResendVerification(t.Context(), "not an address"); err == nil {
			t.Error("malformed address accepted")
		} else {
			wantError(t, "malformed", err, gatehouse.EINVALID, account.ReasonValidationFailed)
		}
		if all, _ := e.store.ListMailDeliveries(t.Context(), 10); len(all) != 0 {
			t.Errorf("%d emails queued for unknown addresses", len(all))
		}
		if len(e.audit.find(account.ActionVerificationResent, "")) != 0 || len(e.audit.find(audit.ActionAccountRegistered, "")) != 0 {
			t.Error("events recorded for an unknown address")
		}
	})
}
