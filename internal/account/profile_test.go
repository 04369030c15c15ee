package account_test

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse"
	"github.com/gatehouse/gatehouse/internal/account"
	"github.com/gatehouse/gatehouse/internal/audit"
	"github.com/gatehouse/gatehouse/internal/mail"
	"github.com/gatehouse/gatehouse/internal/session"
)

func ptr[T any](v T) *T { return &v }

func TestProfileReadThroughCache(t *testing.T) {
	eachBackend(t, nil, func(t *testing.T, e *env) {
		a := e.create(t, nil)
		p, err := e.svc.Profile(t.Context(), a.ID)
		if err != nil {
			t.Fatalf("Profile: %v", err)
		}
		if p.ID != a.ID || p.Email != a.Email || p.PasswordHash != "" || !slices.Equal(p.Roles, a.Roles) || !p.CreatedAt.Equal(a.CreatedAt) {
			t.Errorf("profile = %+v", p)
		}
		// The cache holds the profile, and never the hash.
		raw, err := e.eph.Get(t.Context(), "account:"+a.ID)
		if err != nil {
			t.Fatalf("cache entry: %v", err)
		}
		if strings.Contains(string(raw), "argon2") || strings.Contains(strings.ToLower(string(raw)), "password") {
			t.Errorf("cache entry holds the password hash: %s", raw)
		}
		// A change behind the Service's back is not seen: the read costs no database query.
		e.update(t, a.ID, func(a *gatehouse.Account) { a.Name = "Changed behind" })
		if p, _ := e.svc.Profile(t.Context(), a.ID); p.Name != "Bob" {
			t.Errorf("Name = %q, want the cached %q", p.Name, "Bob")
		}
		// A change through the Service is seen at once, and so is what was changed behind.
		if _, err := e.svc.UpdateProfile(t.Context(), a.ID, account.ProfilePatch{Locale: ptr("ar")}); err != nil {
			t.Fatal(err)
		}
		p, err = e.svc.Profile(t.Context(), a.ID)
		if err != nil || p.Locale != "ar" || p.Name != "Changed behind" {
			t.Errorf("after UpdateProfile: %+v, %v", p, err)
		}
		if e.fakeTime {
			// Once the invalidation's tombstone expires, reads fill the cache again.
			e.clock.Advance(10 * time.Second)
			if _, err := e.svc.Profile(t.Context(), a.ID); err != nil {
				t.Fatal(err)
			}
			e.update(t, a.ID, func(a *gatehouse.Account) { a.Name = "Again" })
			if p, _ := e.svc.Profile(t.Context(), a.ID); p.Name != "Changed behind" {
				t.Errorf("Name = %q, want the cached %q", p.Name, "Changed behind")
			}
			e.clock.Advance(account.DefaultProfileCacheTTL)
			if p, _ := e.svc.Profile(t.Context(), a.ID); p.Name != "Again" {
				t.Errorf("Name = %q after the cache TTL, want %q", p.Name, "Again")
			}
		}
		for _, id := range []string{"", "0190a5b2-0000-7000-8000-000000000000", "not-a-uuid"} {
			_, err := e.svc.Profile(t.Context(), id)
			wantError(t, "Profile("+id+")", err, gatehouse.ENOTFOUND, "")
		}
	})
}

func TestProfileStaleReaderCannotRefill(t *testing.T) {
	eachBackend(t, nil, func(t *testing.T, e *env) {
		a := e.create(t, nil)
		stale := e.get(t, a.ID) // a reader that loaded the row before the change
		if _, err := e.svc.UpdateProfile(t.Context(), a.ID, account.ProfilePatch{Name: ptr("New")}); err != nil {
			t.Fatal(err)
		}
		// The slow reader now tries to fill the cache with what it read: the tombstone refuses it.
		b := []byte(`{"f":1,"id":"` + stale.ID + `","status":"active","roles":["user"],"name":"Bob"}`)
		if ok, err := e.eph.SetNX(t.Context(), "account:"+a.ID, b, time.Minute); err != nil || ok {
			t.Fatalf("SetNX over the tombstone = %t, %v", ok, err)
		}
		if p, _ := e.svc.Profile(t.Context(), a.ID); p.Name != "New" {
			t.Errorf("Name = %q, want %q", p.Name, "New")
		}
	})
}

func TestUpdateProfile(t *testing.T) {
	eachBackend(t, nil, func(t *testing.T, e *env) {
		a := e.create(t, nil)
		for _, tc := range []struct {
			name    string
			patch   account.ProfilePatch
			want    func(*gatehouse.Account) bool
			changed []string // nil: no audit event
		}{
			{"name", account.ProfilePatch{Name: ptr("  Robert  ")}, func(a *gatehouse.Account) bool { return a.Name == "Robert" && a.Locale == "en" }, []string{"name"}},
			{"locale canonicalised", account.ProfilePatch{Locale: ptr("pt-br")}, func(a *gatehouse.Account) bool { return a.Locale == "pt-BR" && a.Name == "Robert" }, []string{"locale"}},
			{"both", account.ProfilePatch{Name: ptr("Bobby"), Locale: ptr("ar")}, func(a *gatehouse.Account) bool { return a.Name == "Bobby" && a.Locale == "ar" }, []string{"name", "locale"}},
			{"no change", account.ProfilePatch{Name: ptr("Bobby")}, func(a *gatehouse.Account) bool { return a.Name == "Bobby" }, nil},
			{"empty patch", account.ProfilePatch{}, func(a *gatehouse.Account) bool { return a.Name == "Bobby" }, nil},
			{"clear both", account.ProfilePatch{Name: ptr(""), Locale: ptr("")}, func(a *gatehouse.Account) bool { return a.Name == "" && a.Locale == "" }, []string{"name", "locale"}},
		} {
			t.Run(tc.name, func(t *testing.T) {
				before := len(e.audit.find(audit.ActionAccountUpdated, a.ID))
				e.clock.Advance(time.Second)
				got, err := e.svc.UpdateProfile(t.Context(), a.ID, tc.patch)
				if err != nil {
					t.Fatalf("UpdateProfile: %v", err)
				}
				stored := e.get(t, a.ID)
				if !tc.want(got) || !tc.want(stored) || got.PasswordHash != "" {
					t.Errorf("returned %+v, stored %+v", got, stored)
				}
				if stored.Email != a.Email || !slices.Equal(stored.Roles, a.Roles) || stored.Status != a.Status || stored.PasswordHash != a.PasswordHash {
					t.Errorf("a profile patch changed more than the profile: %+v", stored)
				}
				evs := e.audit.find(audit.ActionAccountUpdated, a.ID)
				if tc.changed == nil {
					if len(evs) != before {
						t.Error("an update that changed nothing was audited")
					}
					return
				}
				if len(evs) != before+1 {
					t.Fatalf("%d update events, want %d", len(evs), before+1)
				}
				if got := evs[len(evs)-1].Data["fields"]; !slices.Equal(toStrings(got), tc.changed) {
					t.Errorf("audited fields = %v, want %v", got, tc.changed)
				}
				if !stored.UpdatedAt.Equal(e.clock.Now()) {
					t.Errorf("UpdatedAt = %v, want %v", stored.UpdatedAt, e.clock.Now())
				}
			})
		}
	})
}

func toStrings(v any) []string {
	switch v := v.(type) {
	case []string:
		return v
	case []any:
		out := make([]string, len(v))
		for i, x := range v {
			out[i], _ = x.(string)
		}
		return out
	}
	return nil
}

func TestUpdateProfileValidation(t *testing.T) {
	e := newEnv(t, backends()[0], nil)
	a := e.create(t, nil)
	for _, tc := range []struct {
		name   string
		patch  account.ProfilePatch
		fields []string
	}{
		{"long name", account.ProfilePatch{Name: ptr(strings.Repeat("x", 201))}, []string{"name"}},
		{"control characters", account.ProfilePatch{Name: ptr("a\x00b")}, []string{"name"}},
		{"bad locale", account.ProfilePatch{Locale: ptr("english please")}, []string{"locale"}},
		{"both", account.ProfilePatch{Name: ptr("a\nb"), Locale: ptr("??")}, []string{"locale", "name"}},
	} {
		_, err := e.svc.UpdateProfile(t.Context(), a.ID, tc.patch)
		wantError(t, tc.name, err, gatehouse.EINVALID, account.ReasonValidationFailed)
		if got := fieldErrors(err); !slices.Equal(got, tc.fields) {
			t.Errorf("%s: fields = %v, want %v", tc.name, got, tc.fields)
		}
	}
	if s := e.get(t, a.ID); s.Name != "Bob" || s.Locale != "en" {
		t.Errorf("a refused patch changed the account: %+v", s)
	}
	_, err := e.svc.UpdateProfile(t.Context(), "0190a5b2-0000-7000-8000-000000000000", account.ProfilePatch{Name: ptr("x")})
	wantError(t, "unknown account", err, gatehouse.ENOTFOUND, "")
}

func TestDelete(t *testing.T) {
	eachBackend(t, nil, func(t *testing.T, e *env) {
		a := e.verified(t, "leaving@example.com")
		var refresh []string
		for range 2 {
			tk, err := e.svc.Login(t.Context(), account.LoginInput{Identifier: a.Email, Password: goodPassword}, firefox)
			if err != nil {
				t.Fatal(err)
			}
			refresh = append(refresh, tk.RefreshToken)
		}
		if _, err := e.svc.Profile(t.Context(), a.ID); err != nil { // cached
			t.Fatal(err)
		}
		e.clock.Advance(time.Minute)
		sessions, _ := e.sessions.List(t.Context(), a.ID)
		if err := e.svc.Delete(t.Context(), a.ID, sessions[0].ID); err != nil {
			t.Fatalf("Delete: %v", err)
		}

		stored := e.get(t, a.ID)
		if stored.Status != gatehouse.AccountDeleted || !stored.DeletedAt.Equal(e.clock.Now()) || stored.Email != "" {
			t.Errorf("stored after delete: status %s, deleted %v, email %q", stored.Status, stored.DeletedAt, stored.Email)
		}
		_, err := e.svc.Profile(t.Context(), a.ID)
		wantError(t, "Profile after delete", err, gatehouse.ENOTFOUND, "")
		if live, err := e.sessions.List(t.Context(), a.ID); err != nil || len(live) != 0 {
			t.Errorf("live sessions after delete: %d, %v", len(live), err)
		}
		for _, tok := range refresh {
			if _, err := e.svc.Refresh(t.Context(), tok, firefox); gatehouse.ErrorCode(err) != gatehouse.EUNAUTHENTICATED {
				t.Errorf("refresh after delete: %v", err)
			}
		}
		for _, s := range sessions {
			if got, _ := e.store.GetSession(t.Context(), s.ID); got.RevokeReason != session.RevokeAccountDeleted {
				t.Errorf("session %s RevokeReason = %q", s.ID, got.RevokeReason)
			}
		}
		ev := e.audit.last(t, audit.ActionAccountDeleted)
		if ev.SubjectID != a.ID || ev.SessionID != sessions[0].ID {
			t.Errorf("audit event = %+v", ev)
		}
		_, err = e.svc.Login(t.Context(), account.LoginInput{Identifier: "leaving@example.com", Password: goodPassword}, firefox)
		wantError(t, "Login after delete", err, gatehouse.EUNAUTHENTICATED, account.ReasonInvalidCredentials)
		err = e.svc.Delete(t.Context(), a.ID, "")
		wantError(t, "second Delete", err, gatehouse.ENOTFOUND, "")
		_, err = e.svc.UpdateProfile(t.Context(), a.ID, account.ProfilePatch{Name: ptr("ghost")})
		wantError(t, "UpdateProfile after delete", err, gatehouse.ENOTFOUND, "")

		// The address is free: a new sign-up creates a new account and verifies it.
		e.register(t, "leaving@example.com")
		fresh := e.byEmail(t, "leaving@example.com")
		if fresh.ID == a.ID || fresh.Status != gatehouse.AccountActive || !fresh.EmailVerifiedAt.IsZero() {
			t.Errorf("new account = %+v", fresh)
		}
		if n := len(e.deliveries(t, "leaving@example.com", mail.TemplateVerifyEmail)); n != 2 {
			t.Errorf("%d verification emails, want 2", n)
		}
		if n := len(e.deliveries(t, "leaving@example.com", mail.TemplateRegisterExisting)); n != 0 {
			t.Errorf("the new sign-up was told the address is taken")
		}
		tok, _ := e.verification(t, "leaving@example.com")
		if v, err := e.svc.VerifyEmail(t.Context(), account.VerifyInput{Token: tok}); err != nil || v.ID != fresh.ID {
			t.Errorf("VerifyEmail of the new account: %v, %v", v, err)
		}
	})
}
