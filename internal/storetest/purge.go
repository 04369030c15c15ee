package storetest

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/gatehouse/gatehouse"
	"github.com/gatehouse/gatehouse/internal/records"
)

// The purge contract (records.Purger) runs as part of RunRecords.

// purgeNow is the time of the purge in these tests; purgeBefore its cutoff, a week earlier.
var (
	purgeNow    = sessionsT0.Add(60 * 24 * time.Hour)
	purgeBefore = purgeNow.Add(-7 * 24 * time.Hour)
)

// purgeFamily is a session with its refresh tokens: the first used (rotated), the last not.
type purgeFamily struct {
	sess   *gatehouse.Session
	tokens []*gatehouse.RefreshToken
}

// purgeSession stores a session of the account created at created, expiring at expires and revoked
// at revoked (zero: not revoked), with n tokens of which all but the last are used.
func purgeSession(t *testing.T, s records.Store, accountID string, created, expires, revoked time.Time, n int) purgeFamily {
	t.Helper()
	sess := sessionsNew(accountID, 0)
	sess.CreatedAt, sess.LastActiveAt, sess.ExpiresAt = created, created, expires
	if !revoked.IsZero() {
		sess.RevokedAt, sess.RevokeReason = revoked, "logout"
	}
	f := purgeFamily{sess: sess}
	for i := range n {
		rt := sessionsToken(sess, fmt.Sprintf("purge %s %d", sess.ID, i), i)
		if i < n-1 {
			next := sessionsToken(sess, fmt.Sprintf("purge %s %d", sess.ID, i+1), i+1)
			rt.UsedAt, rt.ReplacedBy = created.Add(time.Duration(i+1)*time.Minute), next.Hash
		}
		f.tokens = append(f.tokens, rt)
	}
	recordsMust(t, "store session", s.InTx(recordsCtx(t), func(ctx context.Context, tx records.Tx) error {
		if err := tx.CreateSession(ctx, sess); err != nil {
			return err
		}
		for _, rt := range f.tokens {
			if err := tx.CreateRefreshToken(ctx, rt); err != nil {
				return err
			}
		}
		return nil
	}))
	return f
}

// purgeWantFamily checks that the session and its tokens are all stored (kept) or all gone.
func purgeWantFamily(t *testing.T, s records.Store, name string, f purgeFamily, kept bool) {
	t.Helper()
	_, err := s.GetSession(recordsCtx(t), f.sess.ID)
	purgeWant(t, "session "+name, err, kept)
	for i, rt := range f.tokens {
		_, err := sessionsGetToken(t, s, rt.Hash)
		purgeWant(t, fmt.Sprintf("session %s, token %d", name, i), err, kept)
	}
}

// purgeWant fails unless err says the record is there (kept) or gone.
func purgeWant(t *testing.T, what string, err error, kept bool) {
	t.Helper()
	switch {
	case kept && err != nil:
		t.Errorf("%s: %v; want it kept", what, err)
	case !kept && err == nil:
		t.Errorf("%s is still stored; want it purged", what)
	case !kept:
		recordsWantIs(t, what, err, records.ErrNotFound)
	}
}

// purgeVerification stores a verification of the account whose link expires at expires, whose
// code expires at codeExpires (zero: no code) and which was consumed at consumed (zero: not used).
func purgeVerification(t *testing.T, s records.Store, a *gatehouse.Account, expires, codeExpires, consumed time.Time) *gatehouse.EmailVerification {
	t.Helper()
	v := accountsNewVerification(a, purgeBefore.Add(-30*24*time.Hour))
	v.ExpiresAt, v.CodeExpiresAt, v.ConsumedAt = expires, codeExpires, consumed
	if codeExpires.IsZero() {
		v.CodeHash = nil
	}
	accountsCreateVerification(t, s, v)
	return v
}

func purgeAccount(t *testing.T, s records.Store) *gatehouse.Account {
	t.Helper()
	id := sessionsAccount(t, s)
	return &gatehouse.Account{ID: id, Email: "s-" + id + "@example.com"}
}

// recordsPurgeRules checks which records one purge deletes and which it keeps, and its counts.
func recordsPurgeRules(t *testing.T, open RecordsOpener) {
	s := recordsOpenMigrated(t, open, RecordsOptions{})
	ctx := recordsCtx(t)
	a := purgeAccount(t, s)
	day := 24 * time.Hour
	never := time.Time{}

	families := []struct {
		name string
		f    purgeFamily
		kept bool
	}{
		// A live session keeps every token, the used ones too (reuse detection needs them), however
		// long ago they were used.
		{"live, tokens used long ago", purgeSession(t, s, a.ID, purgeBefore.Add(-20*day), purgeNow.Add(10*day), never, 3), true},
		{"expired before the cutoff", purgeSession(t, s, a.ID, purgeBefore.Add(-31*day), purgeBefore.Add(-time.Hour), never, 2), false},
		{"expired at the cutoff", purgeSession(t, s, a.ID, purgeBefore.Add(-30*day), purgeBefore, never, 2), true},
		{"expired after the cutoff", purgeSession(t, s, a.ID, purgeBefore.Add(-29*day), purgeBefore.Add(time.Hour), never, 2), true},
		{"revoked before the cutoff", purgeSession(t, s, a.ID, purgeBefore.Add(-day), purgeNow.Add(20*day), purgeBefore.Add(-time.Minute), 2), false},
		{"revoked after the cutoff", purgeSession(t, s, a.ID, purgeBefore.Add(-day), purgeNow.Add(20*day), purgeNow.Add(-time.Hour), 2), true},
		{"revoked before the cutoff, no tokens", purgeSession(t, s, a.ID, purgeBefore.Add(-day), purgeNow.Add(20*day), purgeBefore.Add(-day/2), 0), false},
	}

	verifications := []struct {
		name string
		v    *gatehouse.EmailVerification
		kept bool
	}{
		{"consumed before the cutoff", purgeVerification(t, s, a, purgeNow.Add(day), never, purgeBefore.Add(-time.Hour)), false},
		{"consumed after the cutoff", purgeVerification(t, s, a, purgeNow.Add(day), purgeNow.Add(time.Hour), purgeNow.Add(-time.Hour)), true},
		{"link and code expired before the cutoff", purgeVerification(t, s, a, purgeBefore.Add(-time.Hour), purgeBefore.Add(-2*time.Hour), never), false},
		{"link expired before the cutoff, no code", purgeVerification(t, s, a, purgeBefore.Add(-time.Hour), never, never), false},
		{"link expired before the cutoff, code after", purgeVerification(t, s, a, purgeBefore.Add(-time.Hour), purgeBefore.Add(time.Hour), never), true},
		{"link expired after the cutoff", purgeVerification(t, s, a, purgeBefore.Add(time.Hour), purgeBefore.Add(-time.Hour), never), true},
		{"live", purgeVerification(t, s, a, purgeNow.Add(day), purgeNow.Add(time.Minute), never), true},
	}

	// Audit events and mail deliveries have retention rules of their own: the purge keeps them,
	// however old.
	event := sessionsLoginEvent(families[1].f.sess)
	recordsMust(t, "InsertAuditEvent", s.InsertAuditEvent(ctx, event))
	mail := mailSample(uuid.Must(uuid.NewV7()).String(), purgeBefore.Add(-100*day))
	recordsMust(t, "CreateMailDelivery", s.CreateMailDelivery(ctx, mail))

	got, err := s.PurgeExpired(ctx, purgeBefore, 100)
	recordsMust(t, "PurgeExpired", err)
	if want := (records.PurgeCounts{RefreshTokens: 4, Sessions: 3, EmailVerifications: 3}); got != want {
		t.Errorf("PurgeExpired = %+v; want %+v", got, want)
	}
	for _, tc := range families {
		purgeWantFamily(t, s, tc.name, tc.f, tc.kept)
	}
	for _, tc := range verifications {
		_, err := accountsGetVerification(ctx, s, tc.v.TokenHash)
		purgeWant(t, "verification "+tc.name, err, tc.kept)
	}
	_, err = sessionsAudit(t, s).GetAuditEvent(ctx, event.ID)
	purgeWant(t, "audit event", err, true)
	_, err = s.GetMailDelivery(ctx, mail.ID)
	purgeWant(t, "mail delivery", err, true)

	// What is left is not purgeable yet: a second run deletes nothing.
	got, err = s.PurgeExpired(ctx, purgeBefore, 100)
	recordsMust(t, "PurgeExpired again", err)
	if got != (records.PurgeCounts{}) {
		t.Errorf("PurgeExpired again = %+v; want nothing", got)
	}
}

// recordsPurgeBatches checks that a purge deletes at most limit rows per table, and that repeating
// it until no table gives limit rows leaves nothing purgeable.
func recordsPurgeBatches(t *testing.T, open RecordsOpener) {
	s := recordsOpenMigrated(t, open, RecordsOptions{})
	ctx := recordsCtx(t)
	a := purgeAccount(t, s)
	ended := purgeBefore.Add(-time.Hour)
	var families []purgeFamily
	families = append(families, purgeSession(t, s, a.ID, ended.Add(-30*24*time.Hour), ended, time.Time{}, 5))
	for range 3 {
		families = append(families, purgeSession(t, s, a.ID, ended.Add(-30*24*time.Hour), ended, time.Time{}, 1))
	}
	live := purgeSession(t, s, a.ID, purgeNow.Add(-time.Hour), purgeNow.Add(24*time.Hour), time.Time{}, 2)
	var verifications []*gatehouse.EmailVerification
	for range 5 {
		verifications = append(verifications, purgeVerification(t, s, a, ended, ended, time.Time{}))
	}

	const limit = 2
	var total records.PurgeCounts
	calls := 0
	for {
		got, err := s.PurgeExpired(ctx, purgeBefore, limit)
		recordsMust(t, "PurgeExpired", err)
		calls++
		if got.RefreshTokens > limit || got.Sessions > limit || got.EmailVerifications > limit {
			t.Fatalf("call %d: PurgeExpired = %+v; want at most %d rows per table", calls, got, limit)
		}
		if calls == 1 && got.RefreshTokens != limit {
			t.Errorf("call 1: PurgeExpired = %+v; want a full batch of %d tokens", got, limit)
		}
		total = total.Add(got)
		if !got.Full(limit) {
			break
		}
		if calls > 20 {
			t.Fatalf("PurgeExpired still gives full batches after %d calls (total %+v)", calls, total)
		}
	}
	if want := (records.PurgeCounts{RefreshTokens: 8, Sessions: 4, EmailVerifications: 5}); total != want {
		t.Errorf("PurgeExpired in batches of %d deleted %+v; want %+v", limit, total, want)
	}
	for i, f := range families {
		purgeWantFamily(t, s, fmt.Sprintf("ended %d", i), f, false)
	}
	purgeWantFamily(t, s, "live", live, true)
	for i, v := range verifications {
		_, err := accountsGetVerification(ctx, s, v.TokenHash)
		purgeWant(t, fmt.Sprintf("verification %d", i), err, false)
	}
}

// recordsPurgeLimit checks that a purge refuses a limit that is not positive.
func recordsPurgeLimit(t *testing.T, open RecordsOpener) {
	s := recordsOpenMigrated(t, open, RecordsOptions{})
	for _, limit := range []int{0, -1} {
		if _, err := s.PurgeExpired(recordsCtx(t), purgeBefore, limit); err == nil {
			t.Errorf("PurgeExpired with limit %d: no error", limit)
		}
	}
}
