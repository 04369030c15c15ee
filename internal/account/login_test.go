package account_test

import (
	"bytes"
	"fmt"
	"log/slog"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/gatehouse/gatehouse"
	"github.com/gatehouse/gatehouse/internal/account"
	"github.com/gatehouse/gatehouse/internal/audit"
	"github.com/gatehouse/gatehouse/internal/password"
	"github.com/gatehouse/gatehouse/internal/session"
)

func TestLoginSuccess(t *testing.T) {
	eachBackend(t, nil, func(t *testing.T, e *env) {
		a := e.verified(t, "login@example.com")
		e.clock.Advance(time.Hour)
		tk, err := e.svc.Login(t.Context(), account.LoginInput{Identifier: " LOGIN@EXAMPLE.COM ", Password: goodPassword}, firefox)
		if err != nil {
			t.Fatalf("Login: %v", err)
		}
		if tk.TokenType != "Bearer" || tk.ExpiresIn != 900 || tk.RefreshToken == "" || tk.AccessToken == "" {
			t.Errorf("tokens = type %q, expires_in %d, refresh %t, access %t", tk.TokenType, tk.ExpiresIn, tk.RefreshToken != "", tk.AccessToken != "")
		}
		if tk.Account.ID != a.ID || tk.Account.PasswordHash != "" || tk.Session.AccountID != a.ID {
			t.Errorf("account %+v, session %+v", tk.Account, tk.Session)
		}
		claims, err := e.tokens.Verify(tk.AccessToken)
		if err != nil {
			t.Fatalf("Verify: %v", err)
		}
		if claims.Subject != a.ID || claims.SessionID != tk.Session.ID || !slices.Equal(claims.Roles, []string{"user"}) ||
			!slices.Equal(claims.AMR, []string{"pwd"}) || !claims.AuthTime.Equal(tk.Session.CreatedAt) {
			t.Errorf("claims = %+v", claims)
		}
		if _, err := e.sessions.Get(t.Context(), a.ID, tk.Session.ID); err != nil {
			t.Errorf("session not live: %v", err)
		}
		if tk.Session.IP != firefox.IP || !slices.Equal(tk.Session.AMR, []string{"pwd"}) {
			t.Errorf("session = %+v", tk.Session)
		}
		ev := e.audit.last(t, audit.ActionSessionLogin)
		if ev.SubjectID != a.ID || ev.SessionID != tk.Session.ID || ev.IP != firefox.IP || ev.UserAgent != firefox.UserAgent {
			t.Errorf("audit event = %+v", ev)
		}
		// The tokens never print.
		var buf bytes.Buffer
		slog.New(slog.NewTextHandler(&buf, nil)).Info("x", "tokens", tk)
		if strings.Contains(buf.String(), tk.RefreshToken) || strings.Contains(buf.String(), tk.AccessToken) {
			t.Errorf("tokens logged: %s", buf.String())
		}
	})
}

func TestLoginFailures(t *testing.T) {
	eachBackend(t, nil, func(t *testing.T, e *env) {
		active := e.create(t, nil)
		disabled := e.create(t, func(a *gatehouse.Account) { a.Status = gatehouse.AccountDisabled })
		locked := e.create(t, func(a *gatehouse.Account) { a.Status = gatehouse.AccountLocked })
		unverified := e.create(t, func(a *gatehouse.Account) { a.EmailVerifiedAt = time.Time{} })
		noPassword := e.create(t, func(a *gatehouse.Account) { a.PasswordHash = "" })
		badHash := e.create(t, func(a *gatehouse.Account) { a.PasswordHash = "$argon2i$v=19$m=64,t=1,p=1$c2FsdHNhbHQ$a2V5a2V5a2V5a2V5" })
		deleted := e.create(t, nil)
		if err := e.svc.Delete(t.Context(), deleted.ID, ""); err != nil {
			t.Fatal(err)
		}

		var unknownErr error
		for _, tc := range []struct {
			name       string
			identifier string
			password   string
			code       string
			reason     string // what the client sees
			audit      string // what the audit log records
			subject    string
		}{
			{"unknown email", "nobody@example.com", goodPassword, gatehouse.EUNAUTHENTICATED, account.ReasonInvalidCredentials, account.FailureUnknownAccount, ""},
			{"malformed email", "no@bo@dy", goodPassword, gatehouse.EUNAUTHENTICATED, account.ReasonInvalidCredentials, account.FailureUnknownAccount, ""},
			{"unknown phone", "+15550000000", goodPassword, gatehouse.EUNAUTHENTICATED, account.ReasonInvalidCredentials, account.FailureUnknownAccount, ""},
			{"wrong password", active.Email, "wrong password!", gatehouse.EUNAUTHENTICATED, account.ReasonInvalidCredentials, account.FailureInvalidPassword, active.ID},
			{"deleted", deleted.Email, goodPassword, gatehouse.EUNAUTHENTICATED, account.ReasonInvalidCredentials, account.FailureUnknownAccount, ""},
			{"no password", noPassword.Email, goodPassword, gatehouse.EUNAUTHENTICATED, account.ReasonInvalidCredentials, account.FailureNoPassword, noPassword.ID},
			{"unusable hash", badHash.Email, goodPassword, gatehouse.EUNAUTHENTICATED, account.ReasonInvalidCredentials, account.FailureUnusablePassword, badHash.ID},
			{"disabled", disabled.Email, goodPassword, gatehouse.EFORBIDDEN, account.ReasonAccountDisabled, account.ReasonAccountDisabled, disabled.ID},
			{"disabled, wrong password", disabled.Email, "wrong password!", gatehouse.EUNAUTHENTICATED, account.ReasonInvalidCredentials, account.FailureInvalidPassword, disabled.ID},
			{"locked", locked.Email, goodPassword, gatehouse.EFORBIDDEN, account.ReasonAccountLocked, account.ReasonAccountLocked, locked.ID},
			{"unverified", unverified.Email, goodPassword, gatehouse.EFORBIDDEN, account.ReasonEmailNotVerified, account.ReasonEmailNotVerified, unverified.ID},
		} {
			t.Run(tc.name, func(t *testing.T) {
				_, err := e.svc.Login(t.Context(), account.LoginInput{Identifier: tc.identifier, Password: password.Plain(tc.password)}, firefox)
				ge := wantError(t, "Login", err, tc.code, tc.reason)
				if tc.reason == account.ReasonInvalidCredentials {
					// Byte-identical answers for every failure that could tell whether the account exists.
					if unknownErr == nil {
						unknownErr = err
					} else if !reflect.DeepEqual(err, unknownErr) || err.Error() != unknownErr.Error() {
						t.Errorf("err = %#v, differs from the unknown account's %#v", err, unknownErr)
					}
				}
				if tc.reason == account.ReasonEmailNotVerified && !strings.Contains(ge.Message, "new one") {
					t.Errorf("message %q does not offer a new link", ge.Message)
				}
				ev := e.audit.last(t, audit.ActionSessionLoginFailed)
				if ev.Reason != tc.audit || ev.SubjectID != tc.subject || ev.IP != firefox.IP || ev.Outcome != audit.OutcomeFailure {
					t.Errorf("audit event = %+v, want reason %s, subject %q", ev, tc.audit, tc.subject)
				}
			})
		}
		if n := len(e.audit.find(audit.ActionSessionLogin, "")); n != 0 {
			t.Errorf("%d sign-ins succeeded", n)
		}
	})
}

func TestLoginInputValidation(t *testing.T) {
	e := newEnv(t, backends()[0], nil)
	for _, tc := range []struct {
		in     account.LoginInput
		fields []string
	}{
		{account.LoginInput{Password: goodPassword}, []string{"identifier"}},
		{account.LoginInput{Identifier: "  ", Password: goodPassword}, []string{"identifier"}},
		{account.LoginInput{Identifier: "a@example.com"}, []string{"password"}},
		{account.LoginInput{}, []string{"identifier", "password"}},
	} {
		_, err := e.svc.Login(t.Context(), tc.in, firefox)
		wantError(t, fmt.Sprint(tc.fields), err, gatehouse.EINVALID, account.ReasonValidationFailed)
		if got := fieldErrors(err); !slices.Equal(got, tc.fields) {
			t.Errorf("fields = %v, want %v", got, tc.fields)
		}
	}
}

func TestLoginUnverifiedAllowedByOption(t *testing.T) {
	eachBackend(t, func(o *account.Options) { o.AllowUnverifiedLogin = true }, func(t *testing.T, e *env) {
		e.register(t, "early@example.com")
		tk, err := e.svc.Login(t.Context(), account.LoginInput{Identifier: "early@example.com", Password: goodPassword}, firefox)
		if err != nil {
			t.Fatalf("Login: %v", err)
		}
		if !tk.Account.EmailVerifiedAt.IsZero() {
			t.Error("the account claims a verified email")
		}
	})
}

func TestLoginByPhone(t *testing.T) {
	eachBackend(t, nil, func(t *testing.T, e *env) {
		a := e.create(t, func(a *gatehouse.Account) {
			a.Email = ""
			a.EmailVerifiedAt = time.Time{}
			a.Phone = "+15551234567"
			a.PhoneVerifiedAt = epoch
		})
		tk, err := e.svc.Login(t.Context(), account.LoginInput{Identifier: "+15551234567", Password: goodPassword}, firefox)
		if err != nil {
			t.Fatalf("Login: %v", err)
		}
		if tk.Account.ID != a.ID {
			t.Errorf("signed in as %s, want %s", tk.Account.ID, a.ID)
		}
		b := e.create(t, func(a *gatehouse.Account) { a.Phone = "+15557654321" })
		_, err = e.svc.Login(t.Context(), account.LoginInput{Identifier: "+15557654321", Password: goodPassword}, firefox)
		wantError(t, "unverified phone", err, gatehouse.EFORBIDDEN, account.ReasonPhoneNotVerified)
		if ev := e.audit.last(t, audit.ActionSessionLoginFailed); ev.SubjectID != b.ID {
			t.Errorf("audit event = %+v", ev)
		}
	})
}

func TestLoginUpgradesBcrypt(t *testing.T) {
	eachBackend(t, nil, func(t *testing.T, e *env) {
		bh, err := bcrypt.GenerateFromPassword([]byte(goodPassword), bcrypt.MinCost)
		if err != nil {
			t.Fatal(err)
		}
		a := e.create(t, func(a *gatehouse.Account) { a.PasswordHash = "$2y$" + string(bh[4:]) })
		if _, err := e.svc.Profile(t.Context(), a.ID); err != nil { // cached
			t.Fatal(err)
		}
		if _, err := e.svc.Login(t.Context(), account.LoginInput{Identifier: a.Email, Password: "wrong password!"}, firefox); err == nil {
			t.Fatal("wrong password accepted")
		}
		if h := e.get(t, a.ID).PasswordHash; !strings.HasPrefix(h, "$2y$") {
			t.Fatalf("a failed sign-in changed the hash to %q", h)
		}
		if _, err := e.svc.Login(t.Context(), account.LoginInput{Identifier: a.Email, Password: goodPassword}, firefox); err != nil {
			t.Fatalf("Login with a bcrypt hash: %v", err)
		}
		h := e.get(t, a.ID).PasswordHash
		if !strings.HasPrefix(h, "$argon2id$") {
			t.Fatalf("hash after sign-in = %q, want Argon2id", h)
		}
		if ev := e.audit.last(t, audit.ActionSessionLogin); ev.Data["rehashed"] != true {
			t.Errorf("audit event = %+v", ev)
		}
		if _, err := e.svc.Login(t.Context(), account.LoginInput{Identifier: a.Email, Password: goodPassword}, firefox); err != nil {
			t.Fatalf("Login with the upgraded hash: %v", err)
		}
		if h2 := e.get(t, a.ID).PasswordHash; h2 != h {
			t.Error("a current Argon2id hash was rehashed")
		}
	})
}

func TestRefresh(t *testing.T) {
	eachBackend(t, nil, func(t *testing.T, e *env) {
		a := e.verified(t, "refresh@example.com")
		tk, err := e.svc.Login(t.Context(), account.LoginInput{Identifier: a.Email, Password: goodPassword}, firefox)
		if err != nil {
			t.Fatal(err)
		}
		e.clock.Advance(time.Minute)
		next, err := e.svc.Refresh(t.Context(), tk.RefreshToken, firefox)
		if err != nil {
			t.Fatalf("Refresh: %v", err)
		}
		if next.RefreshToken == tk.RefreshToken || next.Session.ID != tk.Session.ID || next.ExpiresIn != 900 || next.TokenType != "Bearer" {
			t.Errorf("refresh = %+v", next)
		}
		claims, err := e.tokens.Verify(next.AccessToken)
		if err != nil {
			t.Fatal(err)
		}
		if claims.SessionID != tk.Session.ID || !slices.Equal(claims.AMR, []string{"pwd"}) || !claims.AuthTime.Equal(tk.Session.CreatedAt) {
			t.Errorf("claims = %+v", claims)
		}

		// New roles reach the next access token once the profile is invalidated.
		e.update(t, a.ID, func(a *gatehouse.Account) { a.Roles = []string{"user", "admin"} })
		if err := e.svc.InvalidateProfile(t.Context(), a.ID); err != nil {
			t.Fatal(err)
		}
		next, err = e.svc.Refresh(t.Context(), next.RefreshToken, firefox)
		if err != nil {
			t.Fatal(err)
		}
		if claims, _ := e.tokens.Verify(next.AccessToken); !slices.Equal(claims.Roles, []string{"user", "admin"}) {
			t.Errorf("roles = %v", claims.Roles)
		}

		_, err = e.svc.Refresh(t.Context(), "ghr_not-a-token", firefox)
		wantError(t, "unknown token", err, gatehouse.EUNAUTHENTICATED, session.ReasonInvalidRefreshToken)
	})
}

func TestRefreshInactiveAccount(t *testing.T) {
	for _, tc := range []struct {
		name       string
		deactivate func(t *testing.T, e *env, id string)
		revoke     string
	}{
		{"disabled", func(t *testing.T, e *env, id string) {
			e.update(t, id, func(a *gatehouse.Account) { a.Status = gatehouse.AccountDisabled })
			_ = e.svc.InvalidateProfile(t.Context(), id)
		}, "account_disabled"},
		{"locked", func(t *testing.T, e *env, id string) {
			e.update(t, id, func(a *gatehouse.Account) { a.Status = gatehouse.AccountLocked })
			_ = e.svc.InvalidateProfile(t.Context(), id)
		}, "account_locked"},
		{"deleted behind the service's back", func(t *testing.T, e *env, id string) {
			e.update(t, id, func(a *gatehouse.Account) {
				a.Status, a.DeletedAt = gatehouse.AccountDeleted, epoch
			})
			_ = e.svc.InvalidateProfile(t.Context(), id)
		}, session.RevokeAccountDeleted},
	} {
		t.Run(tc.name, func(t *testing.T) {
			eachBackend(t, nil, func(t *testing.T, e *env) {
				a := e.create(t, nil)
				tk, err := e.svc.Login(t.Context(), account.LoginInput{Identifier: a.Email, Password: goodPassword}, firefox)
				if err != nil {
					t.Fatal(err)
				}
				tc.deactivate(t, e, a.ID)
				_, err = e.svc.Refresh(t.Context(), tk.RefreshToken, firefox)
				wantError(t, "Refresh", err, gatehouse.EUNAUTHENTICATED, account.ReasonAccountInactive)
				if _, err := e.sessions.Get(t.Context(), a.ID, tk.Session.ID); gatehouse.ErrorCode(err) != gatehouse.ENOTFOUND {
					t.Errorf("session after refusing the refresh: %v, want ENOTFOUND", err)
				}
				s, err := e.store.GetSession(t.Context(), tk.Session.ID)
				if err != nil {
					t.Fatal(err)
				}
				if s.RevokeReason != tc.revoke {
					t.Errorf("RevokeReason = %q, want %q", s.RevokeReason, tc.revoke)
				}
			})
		})
	}
}

func TestLogout(t *testing.T) {
	eachBackend(t, nil, func(t *testing.T, e *env) {
		a := e.create(t, nil)
		b := e.create(t, nil)
		tk, err := e.svc.Login(t.Context(), account.LoginInput{Identifier: a.Email, Password: goodPassword}, firefox)
		if err != nil {
			t.Fatal(err)
		}
		err = e.svc.Logout(t.Context(), b.ID, tk.Session.ID)
		wantError(t, "another account's session", err, gatehouse.ENOTFOUND, "")
		if err := e.svc.Logout(t.Context(), a.ID, tk.Session.ID); err != nil {
			t.Fatalf("Logout: %v", err)
		}
		if _, err := e.svc.Refresh(t.Context(), tk.RefreshToken, firefox); gatehouse.ErrorCode(err) != gatehouse.EUNAUTHENTICATED {
			t.Errorf("refresh after logout: %v", err)
		}
		ev := e.audit.last(t, audit.ActionSessionLogout)
		if ev.SessionID != tk.Session.ID || ev.SubjectID != a.ID {
			t.Errorf("audit event = %+v", ev)
		}
		if n := len(e.audit.find(audit.ActionSessionLogout, "")); n != 1 {
			t.Errorf("%d logout events, want 1", n)
		}
		err = e.svc.Logout(t.Context(), a.ID, tk.Session.ID)
		wantError(t, "second logout", err, gatehouse.ENOTFOUND, "")
	})
}
