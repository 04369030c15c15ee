package storetest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"reflect"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/gatehouse/gatehouse"
	"github.com/gatehouse/gatehouse/internal/records"
)

// RunSessions runs the contract of records.SessionReader and records.SessionWriter: sessions, their
// refresh-token families and the row lock that serialises two rotations of one token. newDatabase
// makes a fresh, empty, isolated database for each subtest, as for RunRecords.
func RunSessions(t *testing.T, newDatabase func(t *testing.T) RecordsOpener) {
	t.Helper()
	for _, tc := range []struct {
		name string
		fn   func(t *testing.T, s records.Store)
	}{
		{"Session/CreateGet", sessionsCreateGet},
		{"Session/GetNotFound", sessionsGetNotFound},
		{"Session/CreateConflict", sessionsCreateConflict},
		{"Session/Update", sessionsUpdate},
		{"Session/UpdateNotFound", sessionsUpdateNotFound},
		{"Session/List", sessionsList},
		{"Session/Revoke", sessionsRevoke},
		{"RefreshToken/CreateGetUpdate", sessionsRefreshRoundTrip},
		{"RefreshToken/NotFound", sessionsRefreshNotFound},
		{"RefreshToken/Conflict", sessionsRefreshConflict},
		{"RefreshToken/LockHandsOver", sessionsRefreshLockHandsOver},
		{"RefreshToken/LockSerialises", sessionsRefreshLockSerialises},
		{"Rotation/GetRotate", sessionsRotationGetRotate},
		{"Rotation/NotFound", sessionsRotationNotFound},
		{"Rotation/Conflict", sessionsRotationConflict},
		{"Rotation/LockHandsOver", sessionsRotationLockHandsOver},
		{"Start/SessionTokenEvent", sessionsStart},
		{"Start/ConflictLeavesNothing", sessionsStartConflict},
		{"RotateLive/Rules", sessionsRotateLiveRules},
		{"RotateLive/NotFound", sessionsRotateLiveNotFound},
		{"RotateLive/Serialises", sessionsRotateLiveSerialises},
		{"RotateLive/WaitsForLock", sessionsRotateLiveWaitsForLock},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := recordsOpenMigrated(t, newDatabase(t), RecordsOptions{})
			tc.fn(t, s)
		})
	}
}

// sessionsT0 has microseconds (the precision both adapters keep) and a zone other than UTC, to
// check that times come back as the same instant, in UTC.
var sessionsT0 = time.Date(2031, 3, 4, 5, 6, 7, 123456000, time.FixedZone("UTC+2", 2*3600))

// sessionsAccount stores an account for sessions to belong to and returns its id.
func sessionsAccount(t *testing.T, s records.Store) string {
	t.Helper()
	id := uuid.Must(uuid.NewV7()).String()
	recordsMust(t, "CreateAccount", s.InTx(recordsCtx(t), func(ctx context.Context, tx records.Tx) error {
		return tx.CreateAccount(ctx, &gatehouse.Account{
			ID:        id,
			Status:    gatehouse.AccountActive,
			Roles:     []string{"user"},
			Name:      "Session Tester",
			Locale:    "en",
			Email:     "s-" + id + "@example.com",
			CreatedAt: sessionsT0,
			UpdatedAt: sessionsT0,
		})
	}))
	return id
}

// sessionsNew returns a session of the account created at t0 plus offset.
func sessionsNew(accountID string, offset time.Duration) *gatehouse.Session {
	created := sessionsT0.Add(offset)
	return &gatehouse.Session{
		ID:           uuid.Must(uuid.NewV7()).String(),
		AccountID:    accountID,
		UserAgent:    "Mozilla/5.0 (X11; Linux x86_64; rv:120.0) Gecko/20100101 Firefox/120.0",
		Device:       "Firefox 120 on Linux",
		IP:           "192.0.2.7",
		Location:     "Lisbon, PT",
		AMR:          []string{"pwd", "otp"},
		CreatedAt:    created,
		LastActiveAt: created.Add(time.Minute),
		ExpiresAt:    created.Add(30 * 24 * time.Hour),
	}
}

func sessionsCreate(t *testing.T, s records.Store, sessions ...*gatehouse.Session) {
	t.Helper()
	recordsMust(t, "CreateSession", s.InTx(recordsCtx(t), func(ctx context.Context, tx records.Tx) error {
		for _, sess := range sessions {
			if err := tx.CreateSession(ctx, sess); err != nil {
				return err
			}
		}
		return nil
	}))
}

// sessionsEqual fails unless got is want with every time the same instant and in UTC.
func sessionsEqual(t *testing.T, what string, got, want *gatehouse.Session) {
	t.Helper()
	if got == nil {
		t.Fatalf("%s: nil session", what)
	}
	if got.ID != want.ID || got.AccountID != want.AccountID || got.UserAgent != want.UserAgent ||
		got.Device != want.Device || got.IP != want.IP || got.Location != want.Location ||
		!slices.Equal(got.AMR, want.AMR) || got.RevokeReason != want.RevokeReason {
		t.Errorf("%s: got %+v, want %+v", what, got, want)
	}
	sessionsTimes(t, what, []time.Time{got.CreatedAt, got.LastActiveAt, got.ExpiresAt, got.RevokedAt},
		[]time.Time{want.CreatedAt, want.LastActiveAt, want.ExpiresAt, want.RevokedAt})
}

func sessionsTimes(t *testing.T, what string, got, want []time.Time) {
	t.Helper()
	for i := range got {
		if !got[i].Equal(want[i]) || got[i].IsZero() != want[i].IsZero() {
			t.Errorf("%s: time %d = %v, want %v", what, i, got[i], want[i])
		}
		if !got[i].IsZero() && got[i].Location() != time.UTC {
			t.Errorf("%s: time %d = %v, want it in UTC", what, i, got[i])
		}
	}
}

func sessionsCreateGet(t *testing.T, s records.Store) {
	ctx := recordsCtx(t)
	acct := sessionsAccount(t, s)
	want := sessionsNew(acct, 0)
	bare := sessionsNew(acct, time.Second)
	bare.UserAgent, bare.Device, bare.IP, bare.Location, bare.AMR = "", "", "", "", nil
	recordsMust(t, "InTx", s.InTx(ctx, func(ctx context.Context, tx records.Tx) error {
		for _, sess := range []*gatehouse.Session{want, bare} {
			if err := tx.CreateSession(ctx, sess); err != nil {
				return err
			}
		}
		got, err := tx.GetSession(ctx, want.ID)
		if err != nil {
			return err
		}
		sessionsEqual(t, "tx.GetSession in the creating transaction", got, want)
		return nil
	}))
	got, err := s.GetSession(ctx, want.ID)
	recordsMust(t, "GetSession", err)
	sessionsEqual(t, "GetSession", got, want)

	got, err = s.GetSession(ctx, bare.ID)
	recordsMust(t, "GetSession", err)
	if len(got.AMR) != 0 {
		t.Errorf("AMR stored as nil reads back as %q, want empty", got.AMR)
	}
	bare.AMR = got.AMR
	sessionsEqual(t, "GetSession of a session with empty fields", got, bare)
}

func sessionsGetNotFound(t *testing.T, s records.Store) {
	ctx := recordsCtx(t)
	for _, id := range []string{uuid.Must(uuid.NewV7()).String(), "not-a-uuid", ""} {
		_, err := s.GetSession(ctx, id)
		recordsWantIs(t, "GetSession("+id+")", err, records.ErrNotFound)
		err = s.InTx(ctx, func(ctx context.Context, tx records.Tx) error {
			_, err := tx.GetSession(ctx, id)
			return err
		})
		recordsWantIs(t, "tx.GetSession("+id+")", err, records.ErrNotFound)
	}
}

func sessionsCreateConflict(t *testing.T, s records.Store) {
	ctx := recordsCtx(t)
	acct := sessionsAccount(t, s)
	first := sessionsNew(acct, 0)
	sessionsCreate(t, s, first)

	dup := sessionsNew(acct, time.Hour)
	dup.ID = first.ID
	orphan := sessionsNew(uuid.Must(uuid.NewV7()).String(), 0)
	for what, sess := range map[string]*gatehouse.Session{"duplicate id": dup, "unknown account": orphan} {
		err := s.InTx(ctx, func(ctx context.Context, tx records.Tx) error { return tx.CreateSession(ctx, sess) })
		recordsWantIs(t, "CreateSession with a "+what, err, records.ErrConflict)
	}
	got, err := s.GetSession(ctx, first.ID)
	recordsMust(t, "GetSession", err)
	sessionsEqual(t, "the first session after a clashing create", got, first)
}

func sessionsUpdate(t *testing.T, s records.Store) {
	ctx := recordsCtx(t)
	acct := sessionsAccount(t, s)
	sess := sessionsNew(acct, 0)
	sessionsCreate(t, s, sess)

	changed := *sess
	changed.LastActiveAt = sess.LastActiveAt.Add(3 * time.Hour)
	changed.IP = "2001:db8::1"
	changed.Location = "Porto, PT"
	changed.ExpiresAt = sess.ExpiresAt.Add(-time.Hour)
	changed.RevokedAt = sess.CreatedAt.Add(4 * time.Hour)
	changed.RevokeReason = "logout"
	// Fields UpdateSession does not store.
	changed.UserAgent, changed.Device, changed.AMR, changed.CreatedAt = "curl/8", "curl", []string{"x"}, sessionsT0.Add(time.Hour)
	recordsMust(t, "UpdateSession", s.InTx(ctx, func(ctx context.Context, tx records.Tx) error {
		return tx.UpdateSession(ctx, &changed)
	}))
	want := changed
	want.UserAgent, want.Device, want.AMR, want.CreatedAt = sess.UserAgent, sess.Device, sess.AMR, sess.CreatedAt
	got, err := s.GetSession(ctx, sess.ID)
	recordsMust(t, "GetSession", err)
	sessionsEqual(t, "GetSession after UpdateSession", got, &want)

	// Clearing the revocation stores NULL again.
	want.RevokedAt, want.RevokeReason = time.Time{}, ""
	recordsMust(t, "UpdateSession", s.InTx(ctx, func(ctx context.Context, tx records.Tx) error {
		return tx.UpdateSession(ctx, &want)
	}))
	got, err = s.GetSession(ctx, sess.ID)
	recordsMust(t, "GetSession", err)
	sessionsEqual(t, "GetSession after clearing RevokedAt", got, &want)
}

func sessionsUpdateNotFound(t *testing.T, s records.Store) {
	ctx := recordsCtx(t)
	for _, id := range []string{uuid.Must(uuid.NewV7()).String(), "not-a-uuid"} {
		sess := sessionsNew(uuid.Must(uuid.NewV7()).String(), 0)
		sess.ID = id
		err := s.InTx(ctx, func(ctx context.Context, tx records.Tx) error { return tx.UpdateSession(ctx, sess) })
		recordsWantIs(t, "UpdateSession("+id+")", err, records.ErrNotFound)
	}
}

func sessionsIDs(list []*gatehouse.Session) []string {
	ids := make([]string, len(list))
	for i, s := range list {
		ids[i] = s.ID
	}
	return ids
}

func sessionsList(t *testing.T, s records.Store) {
	ctx := recordsCtx(t)
	acct, other, none := sessionsAccount(t, s), sessionsAccount(t, s), sessionsAccount(t, s)
	// Created out of order, so that the order of the answer is not the order of insertion.
	mid, old, newest, revoked := sessionsNew(acct, time.Hour), sessionsNew(acct, 0), sessionsNew(acct, 2*time.Hour), sessionsNew(acct, 3*time.Hour)
	revoked.RevokedAt, revoked.RevokeReason = sessionsT0.Add(4*time.Hour), "revoked"
	sessionsCreate(t, s, mid, old, newest, revoked, sessionsNew(other, 0))

	want := []string{newest.ID, mid.ID, old.ID}
	got, err := s.ListSessions(ctx, acct)
	recordsMust(t, "ListSessions", err)
	if ids := sessionsIDs(got); !slices.Equal(ids, want) {
		t.Fatalf("ListSessions = %v, want %v (newest first, revoked left out)", ids, want)
	}
	sessionsEqual(t, "ListSessions[0]", got[0], newest)
	recordsMust(t, "InTx", s.InTx(ctx, func(ctx context.Context, tx records.Tx) error {
		got, err := tx.ListSessions(ctx, acct)
		if err != nil {
			return err
		}
		if ids := sessionsIDs(got); !slices.Equal(ids, want) {
			t.Errorf("tx.ListSessions = %v, want %v", ids, want)
		}
		return nil
	}))
	for _, id := range []string{none, uuid.Must(uuid.NewV7()).String(), "not-a-uuid"} {
		got, err := s.ListSessions(ctx, id)
		recordsMust(t, "ListSessions", err)
		if len(got) != 0 {
			t.Errorf("ListSessions(%s) = %v, want none", id, sessionsIDs(got))
		}
	}
}

func sessionsRevoke(t *testing.T, s records.Store) {
	ctx := recordsCtx(t)
	acct, other := sessionsAccount(t, s), sessionsAccount(t, s)
	keep, a, b, done := sessionsNew(acct, 0), sessionsNew(acct, time.Hour), sessionsNew(acct, 2*time.Hour), sessionsNew(acct, 3*time.Hour)
	done.RevokedAt, done.RevokeReason = sessionsT0.Add(time.Minute), "logout"
	otherSess := sessionsNew(other, 0)
	sessionsCreate(t, s, keep, a, b, done, otherSess)

	at := sessionsT0.Add(5 * time.Hour)
	revoke := func(exceptID string, at time.Time, reason string) []string {
		t.Helper()
		var ids []string
		recordsMust(t, "RevokeSessions", s.InTx(ctx, func(ctx context.Context, tx records.Tx) error {
			var err error
			ids, err = tx.RevokeSessions(ctx, acct, exceptID, at, reason)
			return err
		}))
		slices.Sort(ids)
		return ids
	}
	want := []string{a.ID, b.ID}
	slices.Sort(want)
	if got := revoke(keep.ID, at, "password_changed"); !slices.Equal(got, want) {
		t.Fatalf("RevokeSessions except %s = %v, want %v", keep.ID, got, want)
	}
	for _, sess := range []*gatehouse.Session{a, b} {
		sess.RevokedAt, sess.RevokeReason = at, "password_changed"
	}
	for _, sess := range []*gatehouse.Session{keep, a, b, done, otherSess} {
		got, err := s.GetSession(ctx, sess.ID)
		recordsMust(t, "GetSession", err)
		sessionsEqual(t, "GetSession after RevokeSessions", got, sess)
	}
	if got, err := s.ListSessions(ctx, acct); err != nil || !slices.Equal(sessionsIDs(got), []string{keep.ID}) {
		t.Fatalf("ListSessions after RevokeSessions = %v, %v; want only the kept session", sessionsIDs(got), err)
	}

	// Nothing left but the kept one; then "" excepts nothing.
	if got := revoke(keep.ID, at, "revoked"); len(got) != 0 {
		t.Errorf("RevokeSessions again = %v, want none", got)
	}
	if got := revoke("", at.Add(time.Hour), "account_deleted"); !slices.Equal(got, []string{keep.ID}) {
		t.Errorf("RevokeSessions except none = %v, want %v", got, []string{keep.ID})
	}
	if got, err := s.GetSession(ctx, a.ID); err != nil || !got.RevokedAt.Equal(at) || got.RevokeReason != "password_changed" {
		t.Errorf("a revoked session was revoked again: %+v, %v", got, err)
	}
	if got, err := s.GetSession(ctx, otherSess.ID); err != nil || !got.RevokedAt.IsZero() {
		t.Errorf("another account's session was revoked: %+v, %v", got, err)
	}
}

// sessionsToken returns a refresh token of sess with a hash made from seed.
func sessionsToken(sess *gatehouse.Session, seed string, generation int) *gatehouse.RefreshToken {
	h := sha256.Sum256([]byte(seed))
	return &gatehouse.RefreshToken{
		Hash:       h[:],
		SessionID:  sess.ID,
		AccountID:  sess.AccountID,
		Generation: generation,
		CreatedAt:  sess.CreatedAt,
		ExpiresAt:  sess.ExpiresAt,
	}
}

func sessionsTokenEqual(t *testing.T, what string, got, want *gatehouse.RefreshToken) {
	t.Helper()
	if got == nil {
		t.Fatalf("%s: nil token", what)
	}
	if !bytes.Equal(got.Hash, want.Hash) || got.SessionID != want.SessionID || got.AccountID != want.AccountID ||
		got.Generation != want.Generation || !bytes.Equal(got.ReplacedBy, want.ReplacedBy) || (got.ReplacedBy == nil) != (want.ReplacedBy == nil) {
		t.Errorf("%s: got %+v, want %+v", what, got, want)
	}
	sessionsTimes(t, what, []time.Time{got.CreatedAt, got.ExpiresAt, got.UsedAt}, []time.Time{want.CreatedAt, want.ExpiresAt, want.UsedAt})
}

// sessionsGetToken reads a token in a transaction of its own.
func sessionsGetToken(t *testing.T, s records.Store, hash []byte) (*gatehouse.RefreshToken, error) {
	t.Helper()
	var rt *gatehouse.RefreshToken
	err := s.InTx(recordsCtx(t), func(ctx context.Context, tx records.Tx) error {
		var err error
		rt, err = tx.GetRefreshTokenForUpdate(ctx, hash)
		return err
	})
	return rt, err
}

func sessionsRefreshRoundTrip(t *testing.T, s records.Store) {
	ctx := recordsCtx(t)
	sess := sessionsNew(sessionsAccount(t, s), 0)
	sessionsCreate(t, s, sess)
	first, second := sessionsToken(sess, "first", 1), sessionsToken(sess, "second", 2)
	recordsMust(t, "CreateRefreshToken", s.InTx(ctx, func(ctx context.Context, tx records.Tx) error {
		if err := tx.CreateRefreshToken(ctx, first); err != nil {
			return err
		}
		got, err := tx.GetRefreshTokenForUpdate(ctx, first.Hash)
		if err != nil {
			return err
		}
		sessionsTokenEqual(t, "GetRefreshTokenForUpdate in the creating transaction", got, first)
		return nil
	}))
	got, err := sessionsGetToken(t, s, first.Hash)
	recordsMust(t, "GetRefreshTokenForUpdate", err)
	sessionsTokenEqual(t, "GetRefreshTokenForUpdate", got, first)
	if !got.UsedAt.IsZero() || got.ReplacedBy != nil {
		t.Errorf("a new token reads back used: %+v", got)
	}

	// Rotate: the successor and the used mark in one transaction.
	first.UsedAt, first.ReplacedBy = sessionsT0.Add(time.Hour), second.Hash
	second.CreatedAt = first.UsedAt
	recordsMust(t, "rotate", s.InTx(ctx, func(ctx context.Context, tx records.Tx) error {
		if _, err := tx.GetRefreshTokenForUpdate(ctx, first.Hash); err != nil {
			return err
		}
		if err := tx.CreateRefreshToken(ctx, second); err != nil {
			return err
		}
		return tx.UpdateRefreshToken(ctx, first)
	}))
	for _, want := range []*gatehouse.RefreshToken{first, second} {
		got, err := sessionsGetToken(t, s, want.Hash)
		recordsMust(t, "GetRefreshTokenForUpdate", err)
		sessionsTokenEqual(t, "GetRefreshTokenForUpdate after the rotation", got, want)
	}
}

func sessionsRefreshNotFound(t *testing.T, s records.Store) {
	ctx := recordsCtx(t)
	sess := sessionsNew(sessionsAccount(t, s), 0)
	sessionsCreate(t, s, sess)
	missing := sessionsToken(sess, "never stored", 1)
	_, err := sessionsGetToken(t, s, missing.Hash)
	recordsWantIs(t, "GetRefreshTokenForUpdate of an unknown hash", err, records.ErrNotFound)
	missing.UsedAt = sessionsT0
	err = s.InTx(ctx, func(ctx context.Context, tx records.Tx) error { return tx.UpdateRefreshToken(ctx, missing) })
	recordsWantIs(t, "UpdateRefreshToken of an unknown hash", err, records.ErrNotFound)
}

func sessionsRefreshConflict(t *testing.T, s records.Store) {
	ctx := recordsCtx(t)
	sess := sessionsNew(sessionsAccount(t, s), 0)
	sessionsCreate(t, s, sess)
	first := sessionsToken(sess, "first", 1)
	recordsMust(t, "CreateRefreshToken", s.InTx(ctx, func(ctx context.Context, tx records.Tx) error {
		return tx.CreateRefreshToken(ctx, first)
	}))
	dupHash := sessionsToken(sess, "first", 2)
	dupGeneration := sessionsToken(sess, "other", 1)
	orphan := sessionsToken(sessionsNew(sess.AccountID, 0), "orphan", 1)
	for what, rt := range map[string]*gatehouse.RefreshToken{
		"duplicate hash":               dupHash,
		"second token of a generation": dupGeneration,
		"unknown session":              orphan,
	} {
		err := s.InTx(ctx, func(ctx context.Context, tx records.Tx) error { return tx.CreateRefreshToken(ctx, rt) })
		recordsWantIs(t, "CreateRefreshToken with a "+what, err, records.ErrConflict)
	}
	got, err := sessionsGetToken(t, s, first.Hash)
	recordsMust(t, "GetRefreshTokenForUpdate", err)
	sessionsTokenEqual(t, "the first token after clashing creates", got, first)
}

// sessionsRefreshLockHandsOver checks that a transaction that locks a token after another locked
// and rotated it sees the rotation: it waits for the first to commit rather than reading the row
// as it was.
func sessionsRefreshLockHandsOver(t *testing.T, s records.Store) {
	ctx := recordsCtx(t)
	sess := sessionsNew(sessionsAccount(t, s), 0)
	sessionsCreate(t, s, sess)
	rt := sessionsToken(sess, "contended", 1)
	recordsMust(t, "CreateRefreshToken", s.InTx(ctx, func(ctx context.Context, tx records.Tx) error {
		return tx.CreateRefreshToken(ctx, rt)
	}))

	usedAt := sessionsT0.Add(time.Minute)
	replacedBy := sha256.Sum256([]byte("successor"))
	type result struct {
		rt  *gatehouse.RefreshToken
		err error
	}
	second := make(chan result, 1)
	recordsMust(t, "first transaction", s.InTx(ctx, func(ctx context.Context, tx records.Tx) error {
		got, err := tx.GetRefreshTokenForUpdate(ctx, rt.Hash)
		if err != nil {
			return err
		}
		started := make(chan struct{})
		go func() {
			close(started)
			got, err := sessionsGetToken(t, s, rt.Hash)
			second <- result{got, err}
		}()
		<-started
		got.UsedAt, got.ReplacedBy = usedAt, replacedBy[:]
		return tx.UpdateRefreshToken(ctx, got)
	}))
	r := <-second
	recordsMust(t, "second transaction", r.err)
	if !r.rt.UsedAt.Equal(usedAt) || !bytes.Equal(r.rt.ReplacedBy, replacedBy[:]) {
		t.Fatalf("the second transaction read %+v, want the first one's rotation (used at %v)", r.rt, usedAt)
	}
}

// sessionsRefreshLockSerialises starts several transactions at once, each locking the same token and
// marking it used if it finds it unused: exactly one may find it unused.
func sessionsRefreshLockSerialises(t *testing.T, s records.Store) {
	ctx := recordsCtx(t)
	sess := sessionsNew(sessionsAccount(t, s), 0)
	sessionsCreate(t, s, sess)
	rt := sessionsToken(sess, "contended", 1)
	recordsMust(t, "CreateRefreshToken", s.InTx(ctx, func(ctx context.Context, tx records.Tx) error {
		return tx.CreateRefreshToken(ctx, rt)
	}))

	const n = 8
	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		winners []int
		start   = make(chan struct{})
		errs    = make(chan error, n)
	)
	for i := range n {
		wg.Go(func() {
			<-start
			errs <- s.InTx(ctx, func(ctx context.Context, tx records.Tx) error {
				got, err := tx.GetRefreshTokenForUpdate(ctx, rt.Hash)
				if err != nil || !got.UsedAt.IsZero() {
					return err
				}
				mark := sha256.Sum256([]byte{byte(i)})
				got.UsedAt, got.ReplacedBy = sessionsT0.Add(time.Duration(i+1)*time.Second), mark[:]
				if err := tx.UpdateRefreshToken(ctx, got); err != nil {
					return err
				}
				mu.Lock()
				winners = append(winners, i)
				mu.Unlock()
				return nil
			})
		})
	}
	close(start)
	wg.Wait()
	close(errs)
	for err := range errs {
		recordsMust(t, "InTx", err)
	}
	if len(winners) != 1 {
		t.Fatalf("%d transactions found the token unused (%v), want exactly 1", len(winners), winners)
	}
	got, err := sessionsGetToken(t, s, rt.Hash)
	recordsMust(t, "GetRefreshTokenForUpdate", err)
	mark := sha256.Sum256([]byte{byte(winners[0])})
	if !bytes.Equal(got.ReplacedBy, mark[:]) {
		t.Errorf("the token records another rotation than the winner's: %+v", got)
	}
}

// sessionsGetForRotation reads a token and its session with GetRefreshTokenAndSessionForUpdate, in a
// transaction of its own.
func sessionsGetForRotation(t *testing.T, s records.Store, hash []byte) (*gatehouse.RefreshToken, *gatehouse.Session, error) {
	t.Helper()
	var (
		rt   *gatehouse.RefreshToken
		sess *gatehouse.Session
	)
	err := s.InTx(recordsCtx(t), func(ctx context.Context, tx records.Tx) error {
		var err error
		rt, sess, err = tx.GetRefreshTokenAndSessionForUpdate(ctx, hash)
		return err
	})
	return rt, sess, err
}

// sessionsRotationGetRotate checks GetRefreshTokenAndSessionForUpdate and RotateRefreshToken: a
// rotation that also stores the session, then one that leaves it alone.
func sessionsRotationGetRotate(t *testing.T, s records.Store) {
	ctx := recordsCtx(t)
	sess := sessionsNew(sessionsAccount(t, s), 0)
	other := sessionsNew(sess.AccountID, time.Hour) // a second family, which must not be touched
	sessionsCreate(t, s, sess, other)
	first, second, third := sessionsToken(sess, "first", 1), sessionsToken(sess, "second", 2), sessionsToken(sess, "third", 3)
	otherTok := sessionsToken(other, "other", 1)
	recordsMust(t, "CreateRefreshToken", s.InTx(ctx, func(ctx context.Context, tx records.Tx) error {
		if err := tx.CreateRefreshToken(ctx, first); err != nil {
			return err
		}
		return tx.CreateRefreshToken(ctx, otherTok)
	}))

	gotTok, gotSess, err := sessionsGetForRotation(t, s, first.Hash)
	recordsMust(t, "GetRefreshTokenAndSessionForUpdate", err)
	sessionsTokenEqual(t, "GetRefreshTokenAndSessionForUpdate token", gotTok, first)
	sessionsEqual(t, "GetRefreshTokenAndSessionForUpdate session", gotSess, sess)

	// The first rotation stores the session's activity too.
	first.UsedAt, first.ReplacedBy = sessionsT0.Add(time.Hour), second.Hash
	second.CreatedAt = first.UsedAt
	touched := *sess
	touched.LastActiveAt, touched.IP, touched.Location = first.UsedAt, "2001:db8::1", "Porto, PT"
	recordsMust(t, "RotateRefreshToken with the session", s.InTx(ctx, func(ctx context.Context, tx records.Tx) error {
		if _, _, err := tx.GetRefreshTokenAndSessionForUpdate(ctx, first.Hash); err != nil {
			return err
		}
		return tx.RotateRefreshToken(ctx, first, second, &touched)
	}))
	for _, want := range []*gatehouse.RefreshToken{first, second, otherTok} {
		got, err := sessionsGetToken(t, s, want.Hash)
		recordsMust(t, "GetRefreshTokenForUpdate", err)
		sessionsTokenEqual(t, "token after the first rotation", got, want)
	}
	gotTok, gotSess, err = sessionsGetForRotation(t, s, second.Hash)
	recordsMust(t, "GetRefreshTokenAndSessionForUpdate of the successor", err)
	sessionsTokenEqual(t, "the successor", gotTok, second)
	sessionsEqual(t, "the session after the first rotation", gotSess, &touched)
	gotSess, err = s.GetSession(ctx, other.ID)
	recordsMust(t, "GetSession", err)
	sessionsEqual(t, "the other session", gotSess, other)

	// The second leaves the session as it is.
	second.UsedAt, second.ReplacedBy = sessionsT0.Add(2*time.Hour), third.Hash
	third.CreatedAt = second.UsedAt
	recordsMust(t, "RotateRefreshToken without the session", s.InTx(ctx, func(ctx context.Context, tx records.Tx) error {
		return tx.RotateRefreshToken(ctx, second, third, nil)
	}))
	for _, want := range []*gatehouse.RefreshToken{first, second, third} {
		got, err := sessionsGetToken(t, s, want.Hash)
		recordsMust(t, "GetRefreshTokenForUpdate", err)
		sessionsTokenEqual(t, "token after the second rotation", got, want)
	}
	gotSess, err = s.GetSession(ctx, sess.ID)
	recordsMust(t, "GetSession", err)
	sessionsEqual(t, "the session after a rotation without it", gotSess, &touched)
}

// sessionsRotationNotFound checks that a rotation of an unknown token, or one naming an unknown
// session, fails with records.ErrNotFound and stores nothing.
func sessionsRotationNotFound(t *testing.T, s records.Store) {
	ctx := recordsCtx(t)
	sess := sessionsNew(sessionsAccount(t, s), 0)
	sessionsCreate(t, s, sess)
	first := sessionsToken(sess, "first", 1)
	recordsMust(t, "CreateRefreshToken", s.InTx(ctx, func(ctx context.Context, tx records.Tx) error {
		return tx.CreateRefreshToken(ctx, first)
	}))
	_, _, err := sessionsGetForRotation(t, s, sessionsToken(sess, "never stored", 1).Hash)
	recordsWantIs(t, "GetRefreshTokenAndSessionForUpdate of an unknown hash", err, records.ErrNotFound)

	rotate := func(old, successor *gatehouse.RefreshToken, touched *gatehouse.Session) error {
		return s.InTx(ctx, func(ctx context.Context, tx records.Tx) error {
			return tx.RotateRefreshToken(ctx, old, successor, touched)
		})
	}
	missing := sessionsToken(sess, "never stored", 1)
	missing.UsedAt = sessionsT0.Add(time.Hour)
	successor := sessionsToken(sess, "successor", 2)
	missing.ReplacedBy = successor.Hash
	recordsWantIs(t, "RotateRefreshToken of an unknown token", rotate(missing, successor, sess), records.ErrNotFound)

	used := *first
	used.UsedAt, used.ReplacedBy = sessionsT0.Add(time.Hour), successor.Hash
	for what, id := range map[string]string{"an unknown session": uuid.Must(uuid.NewV7()).String(), "a malformed session id": "not-a-uuid"} {
		ghost := *sess
		ghost.ID, ghost.LastActiveAt = id, used.UsedAt
		recordsWantIs(t, "RotateRefreshToken with "+what, rotate(&used, successor, &ghost), records.ErrNotFound)
	}

	// Nothing of the failed rotations stayed.
	_, err = sessionsGetToken(t, s, successor.Hash)
	recordsWantIs(t, "the successor of a failed rotation", err, records.ErrNotFound)
	got, err := sessionsGetToken(t, s, first.Hash)
	recordsMust(t, "GetRefreshTokenForUpdate", err)
	sessionsTokenEqual(t, "the token after failed rotations", got, first)
	gotSess, err := s.GetSession(ctx, sess.ID)
	recordsMust(t, "GetSession", err)
	sessionsEqual(t, "the session after failed rotations", gotSess, sess)
}

// sessionsRotationConflict checks that a successor clashing with a stored token fails the rotation
// with records.ErrConflict and leaves the old token and the session unchanged.
func sessionsRotationConflict(t *testing.T, s records.Store) {
	ctx := recordsCtx(t)
	sess := sessionsNew(sessionsAccount(t, s), 0)
	sessionsCreate(t, s, sess)
	first := sessionsToken(sess, "first", 1)
	recordsMust(t, "CreateRefreshToken", s.InTx(ctx, func(ctx context.Context, tx records.Tx) error {
		return tx.CreateRefreshToken(ctx, first)
	}))
	used := *first
	used.UsedAt = sessionsT0.Add(time.Hour)
	touched := *sess
	touched.LastActiveAt = used.UsedAt
	for what, successor := range map[string]*gatehouse.RefreshToken{
		"the old token's hash":       sessionsToken(sess, "first", 2),
		"the old token's generation": sessionsToken(sess, "other", 1),
	} {
		used.ReplacedBy = successor.Hash
		err := s.InTx(ctx, func(ctx context.Context, tx records.Tx) error {
			return tx.RotateRefreshToken(ctx, &used, successor, &touched)
		})
		recordsWantIs(t, "RotateRefreshToken to a successor with "+what, err, records.ErrConflict)
	}
	got, err := sessionsGetToken(t, s, first.Hash)
	recordsMust(t, "GetRefreshTokenForUpdate", err)
	sessionsTokenEqual(t, "the token after clashing rotations", got, first)
	gotSess, err := s.GetSession(ctx, sess.ID)
	recordsMust(t, "GetSession", err)
	sessionsEqual(t, "the session after clashing rotations", gotSess, sess)
}

// sessionsRotationLockHandsOver checks that a transaction that reads a token and its session for a
// rotation after another read and rotated them sees both as the first left them: the token used and
// the session's new activity.
func sessionsRotationLockHandsOver(t *testing.T, s records.Store) {
	ctx := recordsCtx(t)
	sess := sessionsNew(sessionsAccount(t, s), 0)
	sessionsCreate(t, s, sess)
	first, second := sessionsToken(sess, "contended", 1), sessionsToken(sess, "successor", 2)
	recordsMust(t, "CreateRefreshToken", s.InTx(ctx, func(ctx context.Context, tx records.Tx) error {
		return tx.CreateRefreshToken(ctx, first)
	}))

	type result struct {
		rt   *gatehouse.RefreshToken
		sess *gatehouse.Session
		err  error
	}
	done := make(chan result, 1)
	hash := first.Hash
	var (
		wantTok  gatehouse.RefreshToken
		wantSess gatehouse.Session
	)
	recordsMust(t, "first transaction", s.InTx(ctx, func(ctx context.Context, tx records.Tx) error {
		got, cur, err := tx.GetRefreshTokenAndSessionForUpdate(ctx, hash)
		if err != nil {
			return err
		}
		started := make(chan struct{})
		go func() {
			close(started)
			rt, sess, err := sessionsGetForRotation(t, s, hash)
			done <- result{rt, sess, err}
		}()
		<-started
		got.UsedAt, got.ReplacedBy = sessionsT0.Add(time.Minute), second.Hash
		second.CreatedAt = got.UsedAt
		cur.LastActiveAt, cur.IP, cur.Location = got.UsedAt, "2001:db8::1", "Porto, PT"
		wantTok, wantSess = *got, *cur
		return tx.RotateRefreshToken(ctx, got, second, cur)
	}))
	r := <-done
	recordsMust(t, "second transaction", r.err)
	sessionsTokenEqual(t, "the token the second transaction read", r.rt, &wantTok)
	sessionsEqual(t, "the session the second transaction read", r.sess, &wantSess)
}

// sessionsAuditReader is the part of AuditStore the start tests read events back with.
type sessionsAuditReader interface {
	GetAuditEvent(ctx context.Context, id string) (*gatehouse.AuditEvent, error)
}

// sessionsAudit returns s as a sessionsAuditReader, failing the test if it cannot read events.
func sessionsAudit(t *testing.T, s records.Store) sessionsAuditReader {
	t.Helper()
	as, ok := s.(sessionsAuditReader)
	if !ok {
		t.Fatalf("%T has no GetAuditEvent method: it is not a storetest.AuditStore", s)
	}
	return as
}

// sessionsLoginEvent is the event of a sign-in to sess.
func sessionsLoginEvent(sess *gatehouse.Session) *gatehouse.AuditEvent {
	return &gatehouse.AuditEvent{
		ID:        uuid.Must(uuid.NewV7()).String(),
		Action:    "session.login",
		Outcome:   "success",
		ActorID:   sess.AccountID,
		SubjectID: sess.AccountID,
		SessionID: sess.ID,
		IP:        sess.IP,
		UserAgent: sess.UserAgent,
		Data:      map[string]any{"amr": []any{"pwd"}},
		CreatedAt: sess.CreatedAt.UTC(),
	}
}

// sessionsStart checks StartSession: the session, its first token and the event, or the first two
// alone, stored as CreateSession, CreateRefreshToken and InsertAuditEvent store them.
func sessionsStart(t *testing.T, s records.Store) {
	ctx := recordsCtx(t)
	as := sessionsAudit(t, s)
	acct := sessionsAccount(t, s)
	for _, withEvent := range []bool{true, false} {
		sess := sessionsNew(acct, 0)
		first := sessionsToken(sess, "first of "+sess.ID, 1)
		var ev *gatehouse.AuditEvent
		if withEvent {
			ev = sessionsLoginEvent(sess)
		}
		recordsMust(t, "StartSession", s.InTx(ctx, func(ctx context.Context, tx records.Tx) error {
			return tx.StartSession(ctx, sess, first, ev)
		}))
		got, err := s.GetSession(ctx, sess.ID)
		recordsMust(t, "GetSession", err)
		sessionsEqual(t, "the started session", got, sess)
		gotTok, err := sessionsGetToken(t, s, first.Hash)
		recordsMust(t, "GetRefreshTokenForUpdate", err)
		sessionsTokenEqual(t, "the first token", gotTok, first)
		if withEvent {
			gotEv, err := as.GetAuditEvent(ctx, ev.ID)
			recordsMust(t, "GetAuditEvent", err)
			if gotEv.Action != ev.Action || gotEv.SessionID != sess.ID || gotEv.ActorID != acct || gotEv.IP != sess.IP ||
				!gotEv.CreatedAt.Equal(ev.CreatedAt) || !reflect.DeepEqual(gotEv.Data, ev.Data) {
				t.Errorf("the sign-in event read back as %+v, want %+v", gotEv, ev)
			}
		}
	}
}

// sessionsStartConflict checks that a StartSession whose session, token or event clashes with a
// stored one (or whose account does not exist) fails with records.ErrConflict, and that an event
// the log refuses fails it too, with nothing of it stored.
func sessionsStartConflict(t *testing.T, s records.Store) {
	ctx := recordsCtx(t)
	as := sessionsAudit(t, s)
	acct := sessionsAccount(t, s)
	stored := sessionsNew(acct, 0)
	storedTok := sessionsToken(stored, "stored", 1)
	storedEv := sessionsLoginEvent(stored)
	recordsMust(t, "StartSession", s.InTx(ctx, func(ctx context.Context, tx records.Tx) error {
		return tx.StartSession(ctx, stored, storedTok, storedEv)
	}))

	for _, tc := range []struct {
		name string
		edit func(sess *gatehouse.Session, first *gatehouse.RefreshToken, ev *gatehouse.AuditEvent)
		want error // nil: any error
	}{
		{"session id", func(sess *gatehouse.Session, _ *gatehouse.RefreshToken, ev *gatehouse.AuditEvent) {
			sess.ID = stored.ID
		}, records.ErrConflict},
		{"token hash", func(_ *gatehouse.Session, first *gatehouse.RefreshToken, _ *gatehouse.AuditEvent) {
			first.Hash = storedTok.Hash
		}, records.ErrConflict},
		{"event id", func(_ *gatehouse.Session, _ *gatehouse.RefreshToken, ev *gatehouse.AuditEvent) {
			ev.ID = storedEv.ID
		}, records.ErrConflict},
		{"unknown account", func(sess *gatehouse.Session, first *gatehouse.RefreshToken, _ *gatehouse.AuditEvent) {
			sess.AccountID = uuid.Must(uuid.NewV7()).String()
			first.AccountID = sess.AccountID
		}, records.ErrConflict},
		{"event without an action", func(_ *gatehouse.Session, _ *gatehouse.RefreshToken, ev *gatehouse.AuditEvent) {
			ev.Action = ""
		}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sess := sessionsNew(acct, time.Hour)
			first := sessionsToken(sess, "clash "+sess.ID, 1)
			ev := sessionsLoginEvent(sess)
			tc.edit(sess, first, ev)
			fresh := *sess // what a failed start must not leave behind, when its id is new
			err := s.InTx(ctx, func(ctx context.Context, tx records.Tx) error {
				return tx.StartSession(ctx, sess, first, ev)
			})
			if err == nil {
				t.Fatalf("StartSession (%s) succeeded", tc.name)
			}
			if tc.want != nil {
				recordsWantIs(t, "StartSession ("+tc.name+")", err, tc.want)
			}
			if fresh.ID != stored.ID {
				_, err := s.GetSession(ctx, fresh.ID)
				recordsWantIs(t, "GetSession of the failed start's session", err, records.ErrNotFound)
			}
			if !bytes.Equal(first.Hash, storedTok.Hash) {
				_, err := sessionsGetToken(t, s, first.Hash)
				recordsWantIs(t, "the failed start's token", err, records.ErrNotFound)
			}
			if ev.ID != storedEv.ID {
				_, err := as.GetAuditEvent(ctx, ev.ID)
				recordsWantIs(t, "the failed start's event", err, records.ErrNotFound)
			}
			got, err := s.GetSession(ctx, stored.ID)
			recordsMust(t, "GetSession", err)
			sessionsEqual(t, "the stored session after a failed start", got, stored)
		})
	}
}

// sessionsRotation returns a rotation of rt (a token of sess) an hour after the session's last
// activity, by the client sess was last seen from, which the store applies: the session is live
// (its idle limit is a week before), the token unused and unexpired, and the stored activity older
// than the resolution (a minute), so it is rewritten.
func sessionsRotation(sess *gatehouse.Session, rt *gatehouse.RefreshToken) *records.RefreshRotation {
	at := sess.LastActiveAt.Add(time.Hour)
	successor := sha256.Sum256(append([]byte("successor of "), rt.Hash...))
	return &records.RefreshRotation{
		Hash:        rt.Hash,
		Successor:   successor[:],
		At:          at,
		ActiveSince: at.Add(-7 * 24 * time.Hour),
		TouchBy:     at.Add(-time.Minute),
		IP:          sess.IP,
		Location:    sess.Location,
	}
}

// sessionsRotateLiveRules checks each rule of RotateLiveRefreshToken against records.RefreshRotation's
// (Live, Touches, Apply), at the edges: what the store rotates and the session activity it writes,
// and that a refused rotation changes nothing.
func sessionsRotateLiveRules(t *testing.T, s records.Store) {
	ctx := recordsCtx(t)
	acct := sessionsAccount(t, s)
	const us = time.Microsecond
	for _, tc := range []struct {
		name             string
		edit             func(sess *gatehouse.Session, rt *gatehouse.RefreshToken, r *records.RefreshRotation)
		rotates, touches bool
	}{
		{"stale activity", func(*gatehouse.Session, *gatehouse.RefreshToken, *records.RefreshRotation) {}, true, true},
		{"activity at TouchBy", func(sess *gatehouse.Session, _ *gatehouse.RefreshToken, r *records.RefreshRotation) {
			r.TouchBy = sess.LastActiveAt
		}, true, true},
		{"recent activity", func(sess *gatehouse.Session, _ *gatehouse.RefreshToken, r *records.RefreshRotation) {
			r.TouchBy = sess.LastActiveAt.Add(-us)
		}, true, false},
		{"recent activity, IP unknown", func(sess *gatehouse.Session, _ *gatehouse.RefreshToken, r *records.RefreshRotation) {
			r.TouchBy = sess.LastActiveAt.Add(-us)
			r.IP, r.Location = "", "Faro, PT"
		}, true, false},
		{"stale activity, IP unknown", func(_ *gatehouse.Session, _ *gatehouse.RefreshToken, r *records.RefreshRotation) {
			r.IP, r.Location = "", "Faro, PT" // the stored IP and place stay
		}, true, true},
		{"recent activity, another IP", func(sess *gatehouse.Session, _ *gatehouse.RefreshToken, r *records.RefreshRotation) {
			r.TouchBy = sess.LastActiveAt.Add(-us)
			r.IP = "2001:db8::9"
		}, true, true},
		{"recent activity, another place", func(sess *gatehouse.Session, _ *gatehouse.RefreshToken, r *records.RefreshRotation) {
			r.TouchBy = sess.LastActiveAt.Add(-us)
			r.Location = "Porto, PT"
		}, true, true},
		{"idle up to the limit", func(sess *gatehouse.Session, _ *gatehouse.RefreshToken, r *records.RefreshRotation) {
			r.ActiveSince = sess.LastActiveAt
		}, true, true},
		{"idle past the limit", func(sess *gatehouse.Session, _ *gatehouse.RefreshToken, r *records.RefreshRotation) {
			r.ActiveSince = sess.LastActiveAt.Add(us)
		}, false, false},
		{"token expiring just after", func(_ *gatehouse.Session, rt *gatehouse.RefreshToken, r *records.RefreshRotation) {
			rt.ExpiresAt = r.At.Add(us)
		}, true, true},
		{"token expiring then", func(_ *gatehouse.Session, rt *gatehouse.RefreshToken, r *records.RefreshRotation) {
			rt.ExpiresAt = r.At
		}, false, false},
		{"session expiring just after", func(sess *gatehouse.Session, _ *gatehouse.RefreshToken, r *records.RefreshRotation) {
			sess.ExpiresAt = r.At.Add(us)
		}, true, true},
		{"session expiring then", func(sess *gatehouse.Session, _ *gatehouse.RefreshToken, r *records.RefreshRotation) {
			sess.ExpiresAt = r.At
		}, false, false},
		{"session revoked", func(sess *gatehouse.Session, _ *gatehouse.RefreshToken, r *records.RefreshRotation) {
			sess.RevokedAt, sess.RevokeReason = r.At.Add(-time.Minute), "logout"
		}, false, false},
		{"token used", func(_ *gatehouse.Session, rt *gatehouse.RefreshToken, r *records.RefreshRotation) {
			other := sha256.Sum256([]byte("an earlier successor"))
			rt.UsedAt, rt.ReplacedBy = r.At.Add(-time.Second), other[:]
		}, false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sess := sessionsNew(acct, 0)
			rt := sessionsToken(sess, "rules "+sess.ID, 3)
			r := sessionsRotation(sess, rt)
			tc.edit(sess, rt, r)
			sessionsCreate(t, s, sess)
			recordsMust(t, "CreateRefreshToken", s.InTx(ctx, func(ctx context.Context, tx records.Tx) error {
				return tx.CreateRefreshToken(ctx, rt)
			}))
			if live := r.Live(rt, sess); live != tc.rotates {
				t.Fatalf("RefreshRotation.Live = %v, want %v", live, tc.rotates)
			}
			if tc.rotates && r.Touches(sess) != tc.touches {
				t.Fatalf("RefreshRotation.Touches = %v, want %v", r.Touches(sess), tc.touches)
			}

			got, rotated, err := s.RotateLiveRefreshToken(ctx, r)
			recordsMust(t, "RotateLiveRefreshToken", err)
			wantSess, wantTok := *sess, *rt
			var successor *gatehouse.RefreshToken
			if tc.rotates {
				var touched bool
				successor, touched = r.Apply(&wantTok, &wantSess)
				if touched != tc.touches {
					t.Fatalf("RefreshRotation.Apply touched = %v, want %v", touched, tc.touches)
				}
			}
			if rotated != tc.rotates {
				t.Fatalf("RotateLiveRefreshToken rotated = %v, want %v", rotated, tc.rotates)
			}
			if tc.rotates {
				sessionsEqual(t, "the session RotateLiveRefreshToken returned", got, &wantSess)
			} else if got != nil {
				t.Errorf("RotateLiveRefreshToken rotated nothing but returned %+v", got)
			}

			stored, err := s.GetSession(ctx, sess.ID)
			recordsMust(t, "GetSession", err)
			sessionsEqual(t, "the stored session", stored, &wantSess)
			storedTok, err := sessionsGetToken(t, s, rt.Hash)
			recordsMust(t, "GetRefreshTokenForUpdate", err)
			sessionsTokenEqual(t, "the presented token", storedTok, &wantTok)
			storedNext, err := sessionsGetToken(t, s, r.Successor)
			if !tc.rotates {
				recordsWantIs(t, "the successor of a refused rotation", err, records.ErrNotFound)
				return
			}
			recordsMust(t, "GetRefreshTokenForUpdate of the successor", err)
			sessionsTokenEqual(t, "the successor", storedNext, successor)
			if successor.Generation != 4 || !successor.CreatedAt.Equal(r.At) || !successor.ExpiresAt.Equal(sess.ExpiresAt) {
				t.Errorf("successor = %+v, want generation 4, created at %v, expiring with the session", successor, r.At)
			}
		})
	}
}

// sessionsRotateLiveNotFound checks that an unknown hash is records.ErrNotFound and stores nothing.
func sessionsRotateLiveNotFound(t *testing.T, s records.Store) {
	ctx := recordsCtx(t)
	sess := sessionsNew(sessionsAccount(t, s), 0)
	sessionsCreate(t, s, sess)
	r := sessionsRotation(sess, sessionsToken(sess, "never stored", 1))
	got, rotated, err := s.RotateLiveRefreshToken(ctx, r)
	recordsWantIs(t, "RotateLiveRefreshToken of an unknown hash", err, records.ErrNotFound)
	if rotated || got != nil {
		t.Errorf("RotateLiveRefreshToken of an unknown hash = %+v, %v", got, rotated)
	}
	_, err = sessionsGetToken(t, s, r.Successor)
	recordsWantIs(t, "the successor of an unknown token", err, records.ErrNotFound)
	stored, err := s.GetSession(ctx, sess.ID)
	recordsMust(t, "GetSession", err)
	sessionsEqual(t, "the session", stored, sess)
}

// sessionsRotateLiveSerialises starts several rotations of one token at once, each to its own
// successor: exactly one may rotate, and the token records its successor.
func sessionsRotateLiveSerialises(t *testing.T, s records.Store) {
	ctx := recordsCtx(t)
	sess := sessionsNew(sessionsAccount(t, s), 0)
	sessionsCreate(t, s, sess)
	rt := sessionsToken(sess, "contended", 1)
	recordsMust(t, "CreateRefreshToken", s.InTx(ctx, func(ctx context.Context, tx records.Tx) error {
		return tx.CreateRefreshToken(ctx, rt)
	}))

	const n = 8
	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		winners []*records.RefreshRotation
		start   = make(chan struct{})
		errs    = make(chan error, n)
	)
	for i := range n {
		r := sessionsRotation(sess, rt)
		succ := sha256.Sum256([]byte{byte(i)})
		r.Successor = succ[:]
		wg.Go(func() {
			<-start
			_, rotated, err := s.RotateLiveRefreshToken(ctx, r)
			errs <- err
			if rotated {
				mu.Lock()
				winners = append(winners, r)
				mu.Unlock()
			}
		})
	}
	close(start)
	wg.Wait()
	close(errs)
	for err := range errs {
		recordsMust(t, "RotateLiveRefreshToken", err)
	}
	if len(winners) != 1 {
		t.Fatalf("%d concurrent rotations of one token rotated it, want exactly 1", len(winners))
	}
	got, err := sessionsGetToken(t, s, rt.Hash)
	recordsMust(t, "GetRefreshTokenForUpdate", err)
	if !bytes.Equal(got.ReplacedBy, winners[0].Successor) {
		t.Errorf("the token records successor %x, want the winner's %x", got.ReplacedBy, winners[0].Successor)
	}
	next, err := sessionsGetToken(t, s, winners[0].Successor)
	recordsMust(t, "GetRefreshTokenForUpdate of the successor", err)
	if next.Generation != 2 {
		t.Errorf("successor generation = %d, want 2", next.Generation)
	}
}

// sessionsRotateLiveWaitsForLock checks that RotateLiveRefreshToken respects the locks of a
// transaction that holds the token and its session: started while another transaction rotates the
// token (or, second case, revokes the session), it acts on what that transaction committed and
// rotates nothing.
func sessionsRotateLiveWaitsForLock(t *testing.T, s records.Store) {
	for _, tc := range []struct {
		name string
		// change runs in the first transaction, which holds the locks of
		// GetRefreshTokenAndSessionForUpdate.
		change func(ctx context.Context, tx records.Tx, rt *gatehouse.RefreshToken, sess *gatehouse.Session) error
	}{
		{"rotated", func(ctx context.Context, tx records.Tx, rt *gatehouse.RefreshToken, sess *gatehouse.Session) error {
			successor := sessionsToken(sess, "the first transaction's successor", rt.Generation+1)
			rt.UsedAt, rt.ReplacedBy = sess.LastActiveAt.Add(time.Minute), successor.Hash
			return tx.RotateRefreshToken(ctx, rt, successor, nil)
		}},
		{"revoked", func(ctx context.Context, tx records.Tx, _ *gatehouse.RefreshToken, sess *gatehouse.Session) error {
			_, err := tx.RevokeSessions(ctx, sess.AccountID, "", sess.LastActiveAt.Add(time.Minute), "password_changed")
			return err
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := recordsCtx(t)
			sess := sessionsNew(sessionsAccount(t, s), 0)
			sessionsCreate(t, s, sess)
			rt := sessionsToken(sess, "held "+sess.ID, 1)
			recordsMust(t, "CreateRefreshToken", s.InTx(ctx, func(ctx context.Context, tx records.Tx) error {
				return tx.CreateRefreshToken(ctx, rt)
			}))
			type result struct {
				rotated bool
				err     error
			}
			done := make(chan result, 1)
			recordsMust(t, "first transaction", s.InTx(ctx, func(ctx context.Context, tx records.Tx) error {
				got, cur, err := tx.GetRefreshTokenAndSessionForUpdate(ctx, rt.Hash)
				if err != nil {
					return err
				}
				started := make(chan struct{})
				go func() {
					close(started)
					_, rotated, err := s.RotateLiveRefreshToken(ctx, sessionsRotation(sess, rt))
					done <- result{rotated, err}
				}()
				<-started
				return tc.change(ctx, tx, got, cur)
			}))
			r := <-done
			recordsMust(t, "RotateLiveRefreshToken", r.err)
			if r.rotated {
				t.Fatalf("RotateLiveRefreshToken rotated the token after another transaction had %s it first", tc.name)
			}
		})
	}
}
