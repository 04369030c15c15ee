package storetest

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/gatehouse/gatehouse"
	"github.com/gatehouse/gatehouse/internal/records"
)

// RunAccounts runs the contract of records.AccountReader and records.AccountWriter: accounts and
// their email verifications. newDatabase makes a fresh, empty, isolated database for each subtest
// and returns an opener of handles on it.
//
// Stored times keep microseconds (PostgreSQL's precision; the rest is truncated) and read back in
// UTC; the zero time stays zero. Roles read back as a non-nil slice, empty when none.
func RunAccounts(t *testing.T, newDatabase func(t *testing.T) RecordsOpener) {
	t.Helper()
	for _, tc := range []struct {
		name string
		fn   func(t *testing.T, s RecordsStore)
	}{
		{"Create/GetByID", accountsCreateGet},
		{"Create/GetByEmailIgnoresCase", accountsByEmail},
		{"Create/GetByPhoneExact", accountsByPhone},
		{"Create/NoIdentifiers", accountsNoIdentifiers},
		{"Create/DuplicateEmail", accountsDuplicateEmail},
		{"Create/DuplicatePhone", accountsDuplicatePhone},
		{"Create/DuplicateID", accountsDuplicateID},
		{"Create/ConcurrentSameEmail", accountsConcurrentEmail},
		{"Create/RolledBack", accountsRolledBack},
		{"Create/Invalid", accountsInvalid},
		{"Get/NotFound", accountsNotFound},
		{"Update/ReplacesFields", accountsUpdate},
		{"Update/NotFound", accountsUpdateMissing},
		{"Update/Conflict", accountsUpdateConflict},
		{"SoftDelete/FreesIdentifiers", accountsSoftDelete},
		{"Times", accountsTimes},
		{"Roles", accountsRoles},
		{"EmailVerification/CreateGet", accountsVerificationCreateGet},
		{"EmailVerification/Latest", accountsVerificationLatest},
		{"EmailVerification/Update", accountsVerificationUpdate},
		{"EmailVerification/NotFound", accountsVerificationNotFound},
		{"EmailVerification/Conflict", accountsVerificationConflict},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.fn(t, recordsOpenMigrated(t, newDatabase(t), RecordsOptions{}))
		})
	}
}

// accountsT0 has nanoseconds and a zone other than UTC, which the stores drop.
var accountsT0 = time.Date(2025, 6, 7, 8, 9, 10, 123456789, time.FixedZone("UTC+3", 3*60*60))

func accountsNewID() string { return uuid.Must(uuid.NewV7()).String() }

// accountsNew is an active account with every field set but the deleted time.
func accountsNew(email, phone string) *gatehouse.Account {
	return &gatehouse.Account{
		ID:              accountsNewID(),
		Status:          gatehouse.AccountActive,
		Roles:           []string{"user"},
		Name:            "Ada Lovelace",
		Locale:          "en-GB",
		Email:           email,
		EmailVerifiedAt: accountsT0.Add(time.Minute),
		Phone:           phone,
		PhoneVerifiedAt: accountsT0.Add(2 * time.Minute),
		PasswordHash:    "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA",
		CreatedAt:       accountsT0,
		UpdatedAt:       accountsT0.Add(time.Second),
	}
}

// accountsTx runs fn in a transaction of s.
func accountsTx(ctx context.Context, s records.Store, fn func(tx records.Tx) error) error {
	return s.InTx(ctx, func(ctx context.Context, tx records.Tx) error { return fn(tx) })
}

func accountsCreate(t *testing.T, s records.Store, a *gatehouse.Account) {
	t.Helper()
	recordsMust(t, "CreateAccount "+a.Email+" "+a.Phone, accountsTx(recordsCtx(t), s, func(tx records.Tx) error {
		return tx.CreateAccount(recordsCtx(t), a)
	}))
}

func accountsTryCreate(ctx context.Context, s records.Store, a *gatehouse.Account) error {
	return accountsTx(ctx, s, func(tx records.Tx) error { return tx.CreateAccount(ctx, a) })
}

func accountsTryUpdate(ctx context.Context, s records.Store, a *gatehouse.Account) error {
	return accountsTx(ctx, s, func(tx records.Tx) error { return tx.UpdateAccount(ctx, a) })
}

// accountsStored is what a store gives back for a time it was given.
func accountsStored(t time.Time) time.Time {
	if t.IsZero() {
		return time.Time{}
	}
	return t.Truncate(time.Microsecond).UTC()
}

// accountsTimeDiff describes how got differs from the stored form of want, or returns "".
func accountsTimeDiff(name string, got, want time.Time) string {
	want = accountsStored(want)
	switch {
	case want.IsZero() && !got.IsZero():
		return fmt.Sprintf("%s = %v, want zero", name, got)
	case want.IsZero():
		return ""
	case !got.Equal(want):
		return fmt.Sprintf("%s = %v, want %v", name, got.Format(time.RFC3339Nano), want.Format(time.RFC3339Nano))
	case got.Location() != time.UTC:
		return fmt.Sprintf("%s = %v: want it in UTC", name, got)
	}
	return ""
}

// accountsWant fails unless got is what the store should return for want: times in UTC at
// microsecond precision, roles non-nil, and a deleted account's identifiers empty.
func accountsWant(t *testing.T, what string, got, want *gatehouse.Account) {
	t.Helper()
	if got == nil {
		t.Errorf("%s: nil account", what)
		return
	}
	wantEmail, wantPhone := want.Email, want.Phone
	if want.Status == gatehouse.AccountDeleted {
		wantEmail, wantPhone = "", ""
	}
	wantRoles := want.Roles
	if wantRoles == nil {
		wantRoles = []string{}
	}
	var diffs []string
	add := func(d string) {
		if d != "" {
			diffs = append(diffs, d)
		}
	}
	for _, f := range []struct{ name, got, want string }{
		{"ID", got.ID, strings.ToLower(want.ID)},
		{"Status", string(got.Status), string(want.Status)},
		{"Name", got.Name, want.Name},
		{"Locale", got.Locale, want.Locale},
		{"Email", got.Email, wantEmail},
		{"Phone", got.Phone, wantPhone},
		{"PasswordHash", got.PasswordHash, want.PasswordHash},
	} {
		if f.got != f.want {
			add(fmt.Sprintf("%s = %q, want %q", f.name, f.got, f.want))
		}
	}
	if got.Roles == nil || !slices.Equal(got.Roles, wantRoles) {
		add(fmt.Sprintf("Roles = %#v, want %#v", got.Roles, wantRoles))
	}
	add(accountsTimeDiff("EmailVerifiedAt", got.EmailVerifiedAt, want.EmailVerifiedAt))
	add(accountsTimeDiff("PhoneVerifiedAt", got.PhoneVerifiedAt, want.PhoneVerifiedAt))
	add(accountsTimeDiff("CreatedAt", got.CreatedAt, want.CreatedAt))
	add(accountsTimeDiff("UpdatedAt", got.UpdatedAt, want.UpdatedAt))
	add(accountsTimeDiff("DeletedAt", got.DeletedAt, want.DeletedAt))
	if len(diffs) > 0 {
		t.Errorf("%s:\n\t%s", what, strings.Join(diffs, "\n\t"))
	}
}

// accountsGet reads an account through the store (outside any transaction) and checks it.
func accountsGet(t *testing.T, s records.Store, want *gatehouse.Account) {
	t.Helper()
	got, err := s.GetAccount(recordsCtx(t), want.ID)
	if err != nil {
		t.Errorf("GetAccount(%s): %v", want.ID, err)
		return
	}
	accountsWant(t, "GetAccount", got, want)
}

// accountsWantAbsent fails unless the account with this id does not exist.
func accountsWantAbsent(t *testing.T, s records.Store, what, id string) {
	t.Helper()
	_, err := s.GetAccount(recordsCtx(t), id)
	recordsWantIs(t, what, err, records.ErrNotFound)
}

func accountsCreateGet(t *testing.T, s RecordsStore) {
	ctx := recordsCtx(t)
	a := accountsNew("Ada@example.org", "+447700900123")
	a.Roles = []string{"user", "admin"}
	recordsMust(t, "InTx", accountsTx(ctx, s, func(tx records.Tx) error {
		if err := tx.CreateAccount(ctx, a); err != nil {
			return err
		}
		// A transaction reads its own writes, by every path.
		got, err := tx.GetAccount(ctx, a.ID)
		if err != nil {
			return fmt.Errorf("tx.GetAccount: %w", err)
		}
		accountsWant(t, "tx.GetAccount", got, a)
		if got, err = tx.GetAccountByEmail(ctx, "ada@example.org"); err != nil {
			return fmt.Errorf("tx.GetAccountByEmail: %w", err)
		}
		accountsWant(t, "tx.GetAccountByEmail", got, a)
		if got, err = tx.GetAccountByPhone(ctx, a.Phone); err != nil {
			return fmt.Errorf("tx.GetAccountByPhone: %w", err)
		}
		accountsWant(t, "tx.GetAccountByPhone", got, a)
		return nil
	}))
	accountsGet(t, s, a)
	// An id is a UUID, however it is written.
	got, err := s.GetAccount(ctx, strings.ToUpper(a.ID))
	recordsMust(t, "GetAccount(upper-case id)", err)
	accountsWant(t, "GetAccount(upper-case id)", got, a)
}

func accountsByEmail(t *testing.T, s RecordsStore) {
	ctx := recordsCtx(t)
	grace := accountsNew("Grace.Hopper@example.com", "")
	jurgen := accountsNew("Jürgen.Ärger@example.de", "")
	accountsCreate(t, s, grace)
	accountsCreate(t, s, jurgen)
	for _, tc := range []struct {
		email string
		want  *gatehouse.Account
	}{
		{"Grace.Hopper@example.com", grace},
		{"grace.hopper@example.com", grace},
		{"GRACE.HOPPER@EXAMPLE.COM", grace},
		{"Jürgen.Ärger@example.de", jurgen},
		{"jürgen.ärger@example.de", jurgen}, // case folding is not limited to ASCII
		{"JÜRGEN.ÄRGER@EXAMPLE.DE", jurgen},
		{"grace.hopper@example.co", nil},
		{"grace.hopper@example.com ", nil},
		{"", nil},
	} {
		got, err := s.GetAccountByEmail(ctx, tc.email)
		if tc.want == nil {
			recordsWantIs(t, fmt.Sprintf("GetAccountByEmail(%q)", tc.email), err, records.ErrNotFound)
			continue
		}
		if err != nil {
			t.Errorf("GetAccountByEmail(%q): %v", tc.email, err)
			continue
		}
		accountsWant(t, fmt.Sprintf("GetAccountByEmail(%q)", tc.email), got, tc.want)
	}
}

func accountsByPhone(t *testing.T, s RecordsStore) {
	ctx := recordsCtx(t)
	a := accountsNew("", "+15555550100")
	accountsCreate(t, s, a)
	got, err := s.GetAccountByPhone(ctx, "+15555550100")
	recordsMust(t, "GetAccountByPhone", err)
	accountsWant(t, "GetAccountByPhone", got, a)
	for _, phone := range []string{"+1 555 555 0100", "15555550100", "+15555550101", ""} {
		_, err := s.GetAccountByPhone(ctx, phone)
		recordsWantIs(t, fmt.Sprintf("GetAccountByPhone(%q)", phone), err, records.ErrNotFound)
	}
}

// accountsNoIdentifiers checks that accounts without email or phone do not clash.
func accountsNoIdentifiers(t *testing.T, s RecordsStore) {
	a, b := accountsNew("", ""), accountsNew("", "")
	a.EmailVerifiedAt, a.PhoneVerifiedAt = time.Time{}, time.Time{}
	b.EmailVerifiedAt, b.PhoneVerifiedAt = time.Time{}, time.Time{}
	accountsCreate(t, s, a)
	accountsCreate(t, s, b)
	accountsGet(t, s, a)
	accountsGet(t, s, b)
}

func accountsDuplicateEmail(t *testing.T, s RecordsStore) {
	ctx := recordsCtx(t)
	a := accountsNew("Sam@example.com", "+15555550001")
	accountsCreate(t, s, a)
	b := accountsNew("sAM@EXAMPLE.com", "+15555550002")
	recordsWantIs(t, "CreateAccount with the email in another case", accountsTryCreate(ctx, s, b), records.ErrConflict)
	accountsWantAbsent(t, s, "GetAccount of the refused account", b.ID)
	got, err := s.GetAccountByEmail(ctx, b.Email)
	recordsMust(t, "GetAccountByEmail", err)
	accountsWant(t, "GetAccountByEmail after the conflict", got, a)
}

func accountsDuplicatePhone(t *testing.T, s RecordsStore) {
	ctx := recordsCtx(t)
	a := accountsNew("one@example.com", "+15555550001")
	accountsCreate(t, s, a)
	b := accountsNew("two@example.com", "+15555550001")
	recordsWantIs(t, "CreateAccount with the same phone", accountsTryCreate(ctx, s, b), records.ErrConflict)
	accountsWantAbsent(t, s, "GetAccount of the refused account", b.ID)
	got, err := s.GetAccountByPhone(ctx, a.Phone)
	recordsMust(t, "GetAccountByPhone", err)
	accountsWant(t, "GetAccountByPhone after the conflict", got, a)
}

func accountsDuplicateID(t *testing.T, s RecordsStore) {
	a := accountsNew("one@example.com", "")
	accountsCreate(t, s, a)
	b := accountsNew("two@example.com", "")
	b.ID = a.ID
	recordsWantIs(t, "CreateAccount with a taken id", accountsTryCreate(recordsCtx(t), s, b), records.ErrConflict)
	accountsGet(t, s, a)
}

// accountsConcurrentEmail races sign-ups of one address: exactly one wins.
func accountsConcurrentEmail(t *testing.T, s RecordsStore) {
	ctx := recordsCtx(t)
	const n = 4
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		a := accountsNew("Race@example.com", "")
		if i%2 == 1 {
			a.Email = "race@EXAMPLE.COM"
		}
		wg.Go(func() { errs[i] = accountsTryCreate(ctx, s, a) })
	}
	wg.Wait()
	won := 0
	for i, err := range errs {
		switch {
		case err == nil:
			won++
		case !errors.Is(err, records.ErrConflict):
			t.Errorf("CreateAccount #%d: %v; want success or records.ErrConflict", i, err)
		}
	}
	if won != 1 {
		t.Errorf("%d of %d concurrent sign-ups with one email succeeded; want 1 (errors %v)", won, n, errs)
	}
}

func accountsRolledBack(t *testing.T, s RecordsStore) {
	ctx := recordsCtx(t)
	a := accountsNew("undo@example.com", "+15555550003")
	err := accountsTx(ctx, s, func(tx records.Tx) error {
		if err := tx.CreateAccount(ctx, a); err != nil {
			return err
		}
		if err := tx.CreateEmailVerification(ctx, accountsNewVerification(a, accountsT0)); err != nil {
			return err
		}
		return errRecordsRollback
	})
	recordsWantIs(t, "InTx", err, errRecordsRollback)
	accountsWantAbsent(t, s, "GetAccount after rollback", a.ID)
	_, err = s.GetAccountByEmail(ctx, a.Email)
	recordsWantIs(t, "GetAccountByEmail after rollback", err, records.ErrNotFound)
	_, err = s.GetAccountByPhone(ctx, a.Phone)
	recordsWantIs(t, "GetAccountByPhone after rollback", err, records.ErrNotFound)
	recordsWantIs(t, "GetLatestEmailVerification after rollback", accountsTx(ctx, s, func(tx records.Tx) error {
		_, err := tx.GetLatestEmailVerification(ctx, a.ID, a.Email)
		return err
	}), records.ErrNotFound)
	// The identifiers were never taken.
	again := accountsNew(a.Email, a.Phone)
	accountsCreate(t, s, again)
	accountsGet(t, s, again)
}

// accountsInvalid checks that the store refuses accounts that break its invariants, storing or
// changing nothing.
func accountsInvalid(t *testing.T, s RecordsStore) {
	ctx := recordsCtx(t)
	for i, tc := range []struct {
		name   string
		change func(a *gatehouse.Account)
	}{
		{"deleted without a deleted time", func(a *gatehouse.Account) { a.Status = gatehouse.AccountDeleted }},
		{"a deleted time on an active account", func(a *gatehouse.Account) { a.DeletedAt = accountsT0 }},
		{"unknown status", func(a *gatehouse.Account) { a.Status = "frozen" }},
		{"empty status", func(a *gatehouse.Account) { a.Status = "" }},
		{"no created time", func(a *gatehouse.Account) { a.CreatedAt = time.Time{} }},
		{"id not a UUID", func(a *gatehouse.Account) { a.ID = "not-a-uuid" }},
	} {
		bad := accountsNew(fmt.Sprintf("bad%d@example.com", i), "")
		tc.change(bad)
		if err := accountsTryCreate(ctx, s, bad); err == nil {
			t.Errorf("CreateAccount with %s succeeded", tc.name)
		}
		if _, err := s.GetAccountByEmail(ctx, bad.Email); !errors.Is(err, records.ErrNotFound) {
			t.Errorf("GetAccountByEmail after CreateAccount with %s: %v; want records.ErrNotFound", tc.name, err)
		}
		if tc.name == "no created time" {
			continue // UpdateAccount leaves the created time alone
		}
		good := accountsNew(fmt.Sprintf("good%d@example.com", i), "")
		accountsCreate(t, s, good)
		changed := *good
		tc.change(&changed)
		if err := accountsTryUpdate(ctx, s, &changed); err == nil {
			t.Errorf("UpdateAccount with %s succeeded", tc.name)
		}
		accountsGet(t, s, good)
	}
}

func accountsNotFound(t *testing.T, s RecordsStore) {
	ctx := recordsCtx(t)
	accountsCreate(t, s, accountsNew("someone@example.com", "+15555550004"))
	check := func(where string, r records.AccountReader) {
		t.Helper()
		for _, id := range []string{accountsNewID(), "not-a-uuid", ""} {
			_, err := r.GetAccount(ctx, id)
			recordsWantIs(t, fmt.Sprintf("%s.GetAccount(%q)", where, id), err, records.ErrNotFound)
		}
		_, err := r.GetAccountByEmail(ctx, "nobody@example.com")
		recordsWantIs(t, where+".GetAccountByEmail(unknown)", err, records.ErrNotFound)
		_, err = r.GetAccountByPhone(ctx, "+15555559999")
		recordsWantIs(t, where+".GetAccountByPhone(unknown)", err, records.ErrNotFound)
	}
	check("store", s)
	recordsMust(t, "InTx", accountsTx(ctx, s, func(tx records.Tx) error {
		check("tx", tx)
		return nil
	}))
}

func accountsUpdate(t *testing.T, s RecordsStore) {
	ctx := recordsCtx(t)
	a := accountsNew("before@example.com", "+15555550005")
	a.EmailVerifiedAt = time.Time{}
	accountsCreate(t, s, a)

	b := *a
	b.Status = gatehouse.AccountLocked
	b.Roles = []string{"user", "support"}
	b.Name = "Ada King"
	b.Locale = "ar"
	b.Email = "After@example.com"
	b.EmailVerifiedAt = accountsT0.Add(time.Hour)
	b.Phone = "+15555550006"
	b.PhoneVerifiedAt = time.Time{}
	b.PasswordHash = "$2b$10$abcdefghijklmnopqrstuuABCDEFGHIJKLMNOPQRSTUVWXYZ01234"
	b.UpdatedAt = accountsT0.Add(2 * time.Hour)
	b.CreatedAt = accountsT0.Add(3 * time.Hour) // ignored: the created time never changes
	recordsMust(t, "UpdateAccount", accountsTryUpdate(ctx, s, &b))

	want := b
	want.CreatedAt = a.CreatedAt
	accountsGet(t, s, &want)
	got, err := s.GetAccountByEmail(ctx, "after@example.com")
	recordsMust(t, "GetAccountByEmail(new email)", err)
	accountsWant(t, "GetAccountByEmail(new email)", got, &want)
	got, err = s.GetAccountByPhone(ctx, "+15555550006")
	recordsMust(t, "GetAccountByPhone(new phone)", err)
	accountsWant(t, "GetAccountByPhone(new phone)", got, &want)
	_, err = s.GetAccountByEmail(ctx, "before@example.com")
	recordsWantIs(t, "GetAccountByEmail(old email)", err, records.ErrNotFound)
	_, err = s.GetAccountByPhone(ctx, "+15555550005")
	recordsWantIs(t, "GetAccountByPhone(old phone)", err, records.ErrNotFound)

	// Removing the identifiers frees them.
	c := want
	c.Email, c.EmailVerifiedAt, c.Phone = "", time.Time{}, ""
	recordsMust(t, "UpdateAccount without identifiers", accountsTryUpdate(ctx, s, &c))
	accountsGet(t, s, &c)
	accountsCreate(t, s, accountsNew("after@example.com", "+15555550006"))
}

func accountsUpdateMissing(t *testing.T, s RecordsStore) {
	ctx := recordsCtx(t)
	accountsCreate(t, s, accountsNew("someone@example.com", ""))
	ghost := accountsNew("ghost@example.com", "")
	recordsWantIs(t, "UpdateAccount(unknown)", accountsTryUpdate(ctx, s, ghost), records.ErrNotFound)
	accountsWantAbsent(t, s, "GetAccount after UpdateAccount(unknown)", ghost.ID)
}

func accountsUpdateConflict(t *testing.T, s RecordsStore) {
	ctx := recordsCtx(t)
	a := accountsNew("a@example.com", "+15555550007")
	b := accountsNew("b@example.com", "+15555550008")
	accountsCreate(t, s, a)
	accountsCreate(t, s, b)
	takeEmail := *b
	takeEmail.Email = "A@EXAMPLE.COM"
	recordsWantIs(t, "UpdateAccount to another's email", accountsTryUpdate(ctx, s, &takeEmail), records.ErrConflict)
	takePhone := *b
	takePhone.Phone = a.Phone
	recordsWantIs(t, "UpdateAccount to another's phone", accountsTryUpdate(ctx, s, &takePhone), records.ErrConflict)
	accountsGet(t, s, a)
	accountsGet(t, s, b)
}

func accountsSoftDelete(t *testing.T, s RecordsStore) {
	ctx := recordsCtx(t)
	a := accountsNew("Leaving@example.com", "+15555550009")
	accountsCreate(t, s, a)

	deleted := *a
	deleted.Status = gatehouse.AccountDeleted
	deleted.DeletedAt = accountsT0.Add(time.Hour)
	deleted.UpdatedAt = deleted.DeletedAt
	recordsMust(t, "UpdateAccount(deleted)", accountsTryUpdate(ctx, s, &deleted))
	accountsGet(t, s, &deleted) // Email and Phone read back empty
	_, err := s.GetAccountByEmail(ctx, a.Email)
	recordsWantIs(t, "GetAccountByEmail(deleted)", err, records.ErrNotFound)
	_, err = s.GetAccountByPhone(ctx, a.Phone)
	recordsWantIs(t, "GetAccountByPhone(deleted)", err, records.ErrNotFound)

	// The identifiers are free for a new account.
	next := accountsNew("leaving@EXAMPLE.com", a.Phone)
	accountsCreate(t, s, next)
	got, err := s.GetAccountByEmail(ctx, a.Email)
	recordsMust(t, "GetAccountByEmail after re-use", err)
	accountsWant(t, "GetAccountByEmail after re-use", got, next)
	got, err = s.GetAccountByPhone(ctx, a.Phone)
	recordsMust(t, "GetAccountByPhone after re-use", err)
	accountsWant(t, "GetAccountByPhone after re-use", got, next)

	// The deleted account, as read back, can still be updated without clashing.
	stored, err := s.GetAccount(ctx, a.ID)
	recordsMust(t, "GetAccount(deleted)", err)
	stored.Name = "anonymised"
	stored.UpdatedAt = accountsT0.Add(2 * time.Hour)
	recordsMust(t, "UpdateAccount(deleted, again)", accountsTryUpdate(ctx, s, stored))
	accountsGet(t, s, stored)
	accountsGet(t, s, next)

	// Restoring it with the identifiers another account now holds clashes.
	restored := *a
	restored.UpdatedAt = accountsT0.Add(3 * time.Hour)
	recordsWantIs(t, "UpdateAccount(restored with taken identifiers)", accountsTryUpdate(ctx, s, &restored), records.ErrConflict)
}

func accountsTimes(t *testing.T, s RecordsStore) {
	ctx := recordsCtx(t)
	for i, tm := range []time.Time{
		accountsT0,
		time.Date(2000, 1, 1, 0, 0, 0, 1000, time.UTC),                               // one microsecond
		time.Date(2000, 1, 1, 0, 0, 0, 999, time.UTC),                                // less than one: truncated to the second
		time.Date(2199, 12, 31, 23, 59, 59, 999999999, time.FixedZone("W", -7*3600)), // crosses into 2200 in UTC
		time.Date(1970, 1, 1, 0, 0, 0, 0, time.UTC),                                  // the Unix epoch is not the zero time
		time.Unix(1_700_000_000, 500).In(time.Local),
	} {
		a := accountsNew(fmt.Sprintf("t%d@example.com", i), "")
		a.CreatedAt, a.UpdatedAt, a.EmailVerifiedAt, a.PhoneVerifiedAt = tm, tm, tm, time.Time{}
		accountsCreate(t, s, a)
		got, err := s.GetAccount(ctx, a.ID)
		recordsMust(t, "GetAccount", err)
		accountsWant(t, fmt.Sprintf("GetAccount(times %v)", tm), got, a)
		if !got.PhoneVerifiedAt.IsZero() || !got.DeletedAt.IsZero() {
			t.Errorf("zero times read back as %v, %v", got.PhoneVerifiedAt, got.DeletedAt)
		}
	}
}

func accountsRoles(t *testing.T, s RecordsStore) {
	ctx := recordsCtx(t)
	for i, roles := range [][]string{
		nil,
		{},
		{"admin"},
		{"user", "admin", "support"}, // order kept
		{"x", "x"},
		{`with "quotes"`, `back\slash`, "<html>&amp;", "ünïcödé", "comma,{brace}", "", " "},
	} {
		a := accountsNew(fmt.Sprintf("r%d@example.com", i), "")
		a.Roles = roles
		accountsCreate(t, s, a)
		accountsGet(t, s, a)
		// And on update, from something else to these roles.
		b := accountsNew(fmt.Sprintf("u%d@example.com", i), "")
		b.Roles = []string{"before"}
		accountsCreate(t, s, b)
		b.Roles = roles
		recordsMust(t, "UpdateAccount(roles)", accountsTryUpdate(ctx, s, b))
		accountsGet(t, s, b)
	}
}

// accountsNewVerification is a fresh verification of a's email created at created.
func accountsNewVerification(a *gatehouse.Account, created time.Time) *gatehouse.EmailVerification {
	id := accountsNewID()
	token := sha256.Sum256([]byte("token " + id))
	code := sha256.Sum256([]byte("code " + id))
	return &gatehouse.EmailVerification{
		ID:            id,
		AccountID:     a.ID,
		Email:         a.Email,
		TokenHash:     token[:],
		CodeHash:      code[:],
		ExpiresAt:     created.Add(24 * time.Hour),
		CodeExpiresAt: created.Add(15 * time.Minute),
		CreatedAt:     created,
	}
}

// accountsWantVerification fails unless got is what the store should return for want.
func accountsWantVerification(t *testing.T, what string, got, want *gatehouse.EmailVerification) {
	t.Helper()
	if got == nil {
		t.Errorf("%s: nil verification", what)
		return
	}
	var diffs []string
	add := func(d string) {
		if d != "" {
			diffs = append(diffs, d)
		}
	}
	for _, f := range []struct{ name, got, want string }{
		{"ID", got.ID, strings.ToLower(want.ID)},
		{"AccountID", got.AccountID, strings.ToLower(want.AccountID)},
		{"Email", got.Email, want.Email},
	} {
		if f.got != f.want {
			add(fmt.Sprintf("%s = %q, want %q", f.name, f.got, f.want))
		}
	}
	if string(got.TokenHash) != string(want.TokenHash) {
		add(fmt.Sprintf("TokenHash = %x, want %x", got.TokenHash, want.TokenHash))
	}
	if string(got.CodeHash) != string(want.CodeHash) || (len(want.CodeHash) == 0 && got.CodeHash != nil) {
		add(fmt.Sprintf("CodeHash = %#v, want %#v", got.CodeHash, want.CodeHash))
	}
	if got.CodeAttempts != want.CodeAttempts {
		add(fmt.Sprintf("CodeAttempts = %d, want %d", got.CodeAttempts, want.CodeAttempts))
	}
	add(accountsTimeDiff("ExpiresAt", got.ExpiresAt, want.ExpiresAt))
	add(accountsTimeDiff("CodeExpiresAt", got.CodeExpiresAt, want.CodeExpiresAt))
	add(accountsTimeDiff("ConsumedAt", got.ConsumedAt, want.ConsumedAt))
	add(accountsTimeDiff("CreatedAt", got.CreatedAt, want.CreatedAt))
	if len(diffs) > 0 {
		t.Errorf("%s:\n\t%s", what, strings.Join(diffs, "\n\t"))
	}
}

// accountsGetVerification reads a verification by its token hash in a transaction.
func accountsGetVerification(ctx context.Context, s records.Store, hash []byte) (*gatehouse.EmailVerification, error) {
	var v *gatehouse.EmailVerification
	err := accountsTx(ctx, s, func(tx records.Tx) (err error) {
		v, err = tx.GetEmailVerificationByTokenHash(ctx, hash)
		return err
	})
	return v, err
}

// accountsLatest reads the latest verification in a transaction.
func accountsLatest(ctx context.Context, s records.Store, accountID, email string) (*gatehouse.EmailVerification, error) {
	var v *gatehouse.EmailVerification
	err := accountsTx(ctx, s, func(tx records.Tx) (err error) {
		v, err = tx.GetLatestEmailVerification(ctx, accountID, email)
		return err
	})
	return v, err
}

func accountsCreateVerification(t *testing.T, s records.Store, v *gatehouse.EmailVerification) {
	t.Helper()
	recordsMust(t, "CreateEmailVerification", accountsTx(recordsCtx(t), s, func(tx records.Tx) error {
		return tx.CreateEmailVerification(recordsCtx(t), v)
	}))
}

func accountsVerificationCreateGet(t *testing.T, s RecordsStore) {
	ctx := recordsCtx(t)
	a := accountsNew("verify@example.com", "")
	accountsCreate(t, s, a)
	full := accountsNewVerification(a, accountsT0)
	linkOnly := accountsNewVerification(a, accountsT0.Add(time.Second))
	linkOnly.CodeHash, linkOnly.CodeExpiresAt = nil, time.Time{}
	recordsMust(t, "InTx", accountsTx(ctx, s, func(tx records.Tx) error {
		for _, v := range []*gatehouse.EmailVerification{full, linkOnly} {
			if err := tx.CreateEmailVerification(ctx, v); err != nil {
				return err
			}
			// A transaction reads its own writes.
			got, err := tx.GetEmailVerificationByTokenHash(ctx, v.TokenHash)
			if err != nil {
				return fmt.Errorf("tx.GetEmailVerificationByTokenHash: %w", err)
			}
			accountsWantVerification(t, "GetEmailVerificationByTokenHash in the creating transaction", got, v)
		}
		return nil
	}))
	for _, v := range []*gatehouse.EmailVerification{full, linkOnly} {
		got, err := accountsGetVerification(ctx, s, v.TokenHash)
		recordsMust(t, "GetEmailVerificationByTokenHash", err)
		accountsWantVerification(t, "GetEmailVerificationByTokenHash", got, v)
	}
}

func accountsVerificationLatest(t *testing.T, s RecordsStore) {
	ctx := recordsCtx(t)
	a := accountsNew("first@example.com", "")
	b := accountsNew("other@example.com", "")
	accountsCreate(t, s, a)
	accountsCreate(t, s, b)
	v1 := accountsNewVerification(a, accountsT0)
	v3 := accountsNewVerification(a, accountsT0.Add(2*time.Minute))
	v2 := accountsNewVerification(a, accountsT0.Add(time.Minute))
	second := accountsNewVerification(a, accountsT0.Add(3*time.Minute))
	second.Email = "second@example.com"
	others := accountsNewVerification(b, accountsT0.Add(4*time.Minute))
	others.Email = a.Email
	for _, v := range []*gatehouse.EmailVerification{v1, v3, v2, second, others} { // not in time order
		accountsCreateVerification(t, s, v)
	}
	for _, tc := range []struct {
		account, email string
		want           *gatehouse.EmailVerification
	}{
		{a.ID, a.Email, v3},
		{a.ID, second.Email, second},
		{b.ID, a.Email, others},
		{strings.ToUpper(a.ID), a.Email, v3},
		{a.ID, "unknown@example.com", nil},
		{b.ID, b.Email, nil},
		{accountsNewID(), a.Email, nil},
		{"not-a-uuid", a.Email, nil},
	} {
		what := fmt.Sprintf("GetLatestEmailVerification(%s, %s)", tc.account, tc.email)
		got, err := accountsLatest(ctx, s, tc.account, tc.email)
		if tc.want == nil {
			recordsWantIs(t, what, err, records.ErrNotFound)
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", what, err)
			continue
		}
		accountsWantVerification(t, what, got, tc.want)
	}

	// Of two created at the same time, the greater id (the later UUIDv7) wins.
	x, y := accountsNewVerification(a, accountsT0.Add(time.Hour)), accountsNewVerification(a, accountsT0.Add(time.Hour))
	if x.ID > y.ID {
		x, y = y, x
	}
	accountsCreateVerification(t, s, y)
	accountsCreateVerification(t, s, x)
	got, err := accountsLatest(ctx, s, a.ID, a.Email)
	recordsMust(t, "GetLatestEmailVerification(tie)", err)
	accountsWantVerification(t, "GetLatestEmailVerification(tie)", got, y)
}

func accountsVerificationUpdate(t *testing.T, s RecordsStore) {
	ctx := recordsCtx(t)
	a := accountsNew("update@example.com", "")
	accountsCreate(t, s, a)
	v := accountsNewVerification(a, accountsT0)
	accountsCreateVerification(t, s, v)

	want := *v
	for attempt := 1; attempt <= 3; attempt++ {
		change := want
		change.CodeAttempts = attempt
		change.Email = "ignored@example.com" // only attempts and consumed time change
		change.ExpiresAt = accountsT0.Add(time.Hour)
		recordsMust(t, "UpdateEmailVerification(attempts)", accountsTx(ctx, s, func(tx records.Tx) error {
			return tx.UpdateEmailVerification(ctx, &change)
		}))
		want.CodeAttempts = attempt
		got, err := accountsGetVerification(ctx, s, v.TokenHash)
		recordsMust(t, "GetEmailVerificationByTokenHash", err)
		accountsWantVerification(t, fmt.Sprintf("after attempt %d", attempt), got, &want)
	}

	want.ConsumedAt = accountsT0.Add(5 * time.Minute)
	recordsMust(t, "UpdateEmailVerification(consumed)", accountsTx(ctx, s, func(tx records.Tx) error {
		return tx.UpdateEmailVerification(ctx, &want)
	}))
	got, err := accountsGetVerification(ctx, s, v.TokenHash)
	recordsMust(t, "GetEmailVerificationByTokenHash(consumed)", err)
	accountsWantVerification(t, "after consuming", got, &want)
	got, err = accountsLatest(ctx, s, a.ID, a.Email)
	recordsMust(t, "GetLatestEmailVerification(consumed)", err)
	accountsWantVerification(t, "GetLatestEmailVerification finds a consumed verification", got, &want)

	ghost := accountsNewVerification(a, accountsT0)
	recordsWantIs(t, "UpdateEmailVerification(unknown)", accountsTx(ctx, s, func(tx records.Tx) error {
		return tx.UpdateEmailVerification(ctx, ghost)
	}), records.ErrNotFound)
}

func accountsVerificationNotFound(t *testing.T, s RecordsStore) {
	ctx := recordsCtx(t)
	a := accountsNew("nf@example.com", "")
	accountsCreate(t, s, a)
	accountsCreateVerification(t, s, accountsNewVerification(a, accountsT0))
	unknown := sha256.Sum256([]byte("unknown"))
	for _, hash := range [][]byte{unknown[:], nil, {}} {
		_, err := accountsGetVerification(ctx, s, hash)
		recordsWantIs(t, fmt.Sprintf("GetEmailVerificationByTokenHash(%x)", hash), err, records.ErrNotFound)
	}
}

func accountsVerificationConflict(t *testing.T, s RecordsStore) {
	ctx := recordsCtx(t)
	a := accountsNew("conflict@example.com", "")
	accountsCreate(t, s, a)
	v := accountsNewVerification(a, accountsT0)
	accountsCreateVerification(t, s, v)
	create := func(v *gatehouse.EmailVerification) error {
		return accountsTx(ctx, s, func(tx records.Tx) error { return tx.CreateEmailVerification(ctx, v) })
	}

	sameToken := accountsNewVerification(a, accountsT0.Add(time.Minute))
	sameToken.TokenHash = v.TokenHash
	recordsWantIs(t, "CreateEmailVerification with a taken token hash", create(sameToken), records.ErrConflict)

	sameID := accountsNewVerification(a, accountsT0.Add(time.Minute))
	sameID.ID = v.ID
	recordsWantIs(t, "CreateEmailVerification with a taken id", create(sameID), records.ErrConflict)

	orphan := accountsNewVerification(&gatehouse.Account{ID: accountsNewID(), Email: "x@example.com"}, accountsT0)
	recordsWantIs(t, "CreateEmailVerification for an unknown account", create(orphan), records.ErrConflict)

	got, err := accountsLatest(ctx, s, a.ID, a.Email)
	recordsMust(t, "GetLatestEmailVerification", err)
	accountsWantVerification(t, "GetLatestEmailVerification after the conflicts", got, v)
}
