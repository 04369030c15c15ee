package session_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/gatehouse/gatehouse"
	"github.com/gatehouse/gatehouse/internal/ephemeral"
	"github.com/gatehouse/gatehouse/internal/records"
	"github.com/gatehouse/gatehouse/internal/session"
)

func TestStart(t *testing.T) {
	eachBackend(t, func(t *testing.T, e *env) {
		acct := e.account(t)
		now := e.clock.Now()
		sess, tok := e.start(t, acct)

		if sess.AccountID != acct || sess.Device != "Firefox 120 on Linux" || sess.IP != firefox.IP ||
			sess.Location != firefox.Location || !slices.Equal(sess.AMR, firefox.AMR) || sess.UserAgent != firefox.UserAgent {
			t.Errorf("Start = %+v", sess)
		}
		if !sess.CreatedAt.Equal(now) || !sess.LastActiveAt.Equal(now) || !sess.ExpiresAt.Equal(now.Add(session.DefaultAbsoluteLifetime)) {
			t.Errorf("Start times = %v, %v, %v", sess.CreatedAt, sess.LastActiveAt, sess.ExpiresAt)
		}
		raw, err := base64.RawURLEncoding.DecodeString(strings.TrimPrefix(tok, session.RefreshTokenPrefix))
		if !strings.HasPrefix(tok, session.RefreshTokenPrefix) || err != nil || len(raw) != 32 {
			t.Errorf("refresh token %q: want %q and the base64url of 32 bytes", tok, session.RefreshTokenPrefix)
		}
		rt, err := e.token(t, tok)
		if err != nil {
			t.Fatalf("the first token is not stored under its SHA-256: %v", err)
		}
		if rt.SessionID != sess.ID || rt.AccountID != acct || rt.Generation != 1 || !rt.ExpiresAt.Equal(sess.ExpiresAt) || !rt.UsedAt.IsZero() {
			t.Errorf("stored token = %+v", rt)
		}
		got, err := e.svc.Get(t.Context(), acct, sess.ID)
		if err != nil || got.ID != sess.ID || got.Device != sess.Device {
			t.Errorf("Get = %+v, %v", got, err)
		}
	})
}

// TestRefreshActivityResolution checks that a refresh stores the session's activity only when it
// changed meaningfully: the stored time is a minute old or more, or the client moved.
func TestRefreshActivityResolution(t *testing.T) {
	eachBackend(t, func(t *testing.T, e *env) {
		sess, tok := e.start(t, e.account(t))
		started := e.clock.Now()
		stored := func(what string, at time.Time, ip, location string) {
			t.Helper()
			got, err := e.store.GetSession(t.Context(), sess.ID)
			if err != nil || !got.LastActiveAt.Equal(at) || got.IP != ip || got.Location != location {
				t.Errorf("%s: stored session = %+v, %v; want last active at %v from %s (%s)", what, got, err, at, ip, location)
			}
		}
		refresh := func(meta session.ClientMeta) *gatehouse.Session {
			t.Helper()
			got, next, err := e.svc.Refresh(t.Context(), tok, meta)
			if err != nil {
				t.Fatalf("Refresh: %v", err)
			}
			tok = next
			return got
		}

		e.clock.Advance(59 * time.Second)
		if got := refresh(firefox); !got.LastActiveAt.Equal(started) {
			t.Errorf("refresh within the minute returned last active at %v, want the stored %v", got.LastActiveAt, started)
		}
		stored("same place, within the minute", started, firefox.IP, firefox.Location)

		e.clock.Advance(time.Second)
		refresh(firefox)
		stored("same place, a minute later", e.clock.Now(), firefox.IP, firefox.Location)
		touched := e.clock.Now()

		e.clock.Advance(time.Second)
		refresh(session.ClientMeta{UserAgent: firefox.UserAgent}) // no IP known: nothing moved
		stored("no IP, within the minute", touched, firefox.IP, firefox.Location)

		e.clock.Advance(time.Second)
		moved := firefox
		moved.IP, moved.Location = "198.51.100.9", "Porto, PT"
		if got := refresh(moved); !got.LastActiveAt.Equal(e.clock.Now()) || got.IP != moved.IP {
			t.Errorf("refresh from another IP returned %+v", got)
		}
		stored("another IP, within the minute", e.clock.Now(), moved.IP, moved.Location)

		e.clock.Advance(time.Second)
		moved.Location = "Braga, PT"
		refresh(moved)
		stored("another place, within the minute", e.clock.Now(), moved.IP, moved.Location)
	})
}

// TestStartRecorded checks that StartRecorded stores the session, its token and the event about it
// together, and none of them when the event cannot be stored.
func TestStartRecorded(t *testing.T) {
	eachBackend(t, func(t *testing.T, e *env) {
		acct := e.account(t)
		event := func(action string) gatehouse.AuditEvent {
			return gatehouse.AuditEvent{ID: uuid.Must(uuid.NewV7()).String(), Action: action, Outcome: "success",
				ActorID: acct, SubjectID: acct, CreatedAt: e.clock.Now()}
		}
		var (
			sess *gatehouse.Session
			tok  string
		)
		err := e.store.InTx(t.Context(), func(ctx context.Context, tx records.Tx) error {
			var err error
			sess, tok, err = e.svc.StartRecorded(ctx, tx, acct, firefox, event("session.login"))
			return err
		})
		if err != nil {
			t.Fatalf("StartRecorded: %v", err)
		}
		if got := e.audit.actions(sess.ID); !slices.Equal(got, []string{"session.login"}) {
			t.Errorf("events about the new session = %v, want its sign-in", got)
		}
		if stored, err := e.store.GetSession(t.Context(), sess.ID); err != nil || stored.AccountID != acct || stored.IP != firefox.IP {
			t.Errorf("stored session = %+v, %v", stored, err)
		}
		e.refresh(t, tok)

		err = e.store.InTx(t.Context(), func(ctx context.Context, tx records.Tx) error {
			_, _, err := e.svc.StartRecorded(ctx, tx, acct, firefox, event("")) // refused by the store
			return err
		})
		if err == nil {
			t.Fatal("StartRecorded with an event the store refuses succeeded")
		}
		if list, err := e.svc.List(t.Context(), acct); err != nil || len(list) != 1 {
			t.Errorf("sessions after a failed StartRecorded = %d, %v; want only the first", len(list), err)
		}
	})
}

// graceKey is where the grace entry of tok's rotation lives (see TestGraceEntryIsSealed).
func graceKey(tok string) string { return "refresh-grace:" + hex.EncodeToString(hash(tok)) }

// TestLeftoverGraceEntries checks refreshes when the ephemeral store holds a grace entry that no
// committed rotation wrote (one a failed rotation left, or one written while the true entry was
// lost): the token still rotates, a retry gets the successor the token records, and an entry for
// another successor is never handed out.
func TestLeftoverGraceEntries(t *testing.T) {
	eachBackend(t, func(t *testing.T, e *env) {
		ctx := t.Context()
		sess, t1 := e.start(t, e.account(t))
		plant := func(old string) {
			t.Helper()
			sealed, err := session.SealGrace(old, session.RefreshTokenPrefix+strings.Repeat("A", 43))
			if err != nil {
				t.Fatal(err)
			}
			if err := e.eph.Set(ctx, graceKey(old), sealed, time.Minute); err != nil {
				t.Fatal(err)
			}
		}

		// An entry for t1 before its rotation: t1 rotates all the same, and a retry gets its
		// successor.
		plant(t1)
		_, t2 := e.refresh(t, t1)
		if _, again, err := e.svc.Refresh(ctx, t1, firefox); err != nil || again != t2 {
			t.Fatalf("retry after a rotation over a leftover entry = %v (same successor: %v)", err, again == t2)
		}

		// t2's entry replaced by one for another successor: a retry is refused as if the entry
		// were lost, and the session goes on.
		_, t3 := e.refresh(t, t2)
		plant(t2)
		_, _, err := e.svc.Refresh(ctx, t2, firefox)
		wantReason(t, "retry finding an entry for another successor", err, gatehouse.EUNAUTHENTICATED, session.ReasonInvalidRefreshToken)
		e.refresh(t, t3)
		if acts := e.audit.actions(sess.ID); len(acts) != 0 {
			t.Errorf("honest refreshes recorded %v", acts)
		}
	})
}

// TestRefusedRefreshLeavesNoGraceEntry checks that a refresh that rotates nothing removes the grace
// entry it kept in advance.
func TestRefusedRefreshLeavesNoGraceEntry(t *testing.T) {
	eachBackend(t, func(t *testing.T, e *env) {
		acct := e.account(t)
		sess, revoked := e.start(t, acct)
		if err := e.svc.Revoke(t.Context(), acct, sess.ID, session.RevokeLogout); err != nil {
			t.Fatal(err)
		}
		unknown := session.RefreshTokenPrefix + base64.RawURLEncoding.EncodeToString(bytes.Repeat([]byte{9}, 32))
		for name, tc := range map[string]struct {
			tok    string
			reason string
		}{
			"unknown token":   {unknown, session.ReasonInvalidRefreshToken},
			"revoked session": {revoked, session.ReasonSessionExpired},
		} {
			_, _, err := e.svc.Refresh(t.Context(), tc.tok, firefox)
			wantReason(t, name, err, gatehouse.EUNAUTHENTICATED, tc.reason)
			if _, err := e.eph.Get(t.Context(), graceKey(tc.tok)); !errors.Is(err, ephemeral.ErrNotFound) {
				t.Errorf("%s: grace entry left behind (%v)", name, err)
			}
		}
	})
}

func TestRotationChain(t *testing.T) {
	eachBackend(t, func(t *testing.T, e *env) {
		acct := e.account(t)
		sess, tok := e.start(t, acct)
		chain := []string{tok}
		for i := range 4 {
			e.clock.Advance(time.Hour)
			meta := firefox
			meta.IP, meta.Location = "198.51.100."+string(rune('1'+i)), "Porto, PT"
			got, next, err := e.svc.Refresh(t.Context(), tok, meta)
			if err != nil {
				t.Fatalf("refresh %d: %v", i+1, err)
			}
			if got.ID != sess.ID || got.AccountID != acct || !got.LastActiveAt.Equal(e.clock.Now()) || got.IP != meta.IP || got.Location != meta.Location {
				t.Errorf("refresh %d: session = %+v", i+1, got)
			}
			if slices.Contains(chain, next) || !strings.HasPrefix(next, session.RefreshTokenPrefix) {
				t.Fatalf("refresh %d: successor %q is not a fresh token", i+1, next)
			}
			chain = append(chain, next)
			tok = next
		}
		for i, tok := range chain {
			rt, err := e.token(t, tok)
			if err != nil {
				t.Fatalf("token %d: %v", i+1, err)
			}
			if rt.Generation != i+1 {
				t.Errorf("token %d: generation %d", i+1, rt.Generation)
			}
			last := i == len(chain)-1
			if last != rt.UsedAt.IsZero() || (!last && !bytes.Equal(rt.ReplacedBy, hash(chain[i+1]))) {
				t.Errorf("token %d: used at %v, replaced by %x", i+1, rt.UsedAt, rt.ReplacedBy)
			}
		}
		stored, err := e.store.GetSession(t.Context(), sess.ID)
		if err != nil || !stored.LastActiveAt.Equal(e.clock.Now()) || stored.IP != "198.51.100.4" {
			t.Errorf("stored session after the chain = %+v, %v", stored, err)
		}
		if got := e.audit.actions(sess.ID); len(got) != 0 {
			t.Errorf("rotations recorded audit events %v; only security events are recorded", got)
		}
	})
}

func TestRefreshRejectsUnknownTokens(t *testing.T) {
	eachBackend(t, func(t *testing.T, e *env) {
		_, tok := e.start(t, e.account(t))
		unknown := session.RefreshTokenPrefix + base64.RawURLEncoding.EncodeToString(bytes.Repeat([]byte{7}, 32))
		for name, presented := range map[string]string{
			"empty":         "",
			"no prefix":     strings.TrimPrefix(tok, session.RefreshTokenPrefix),
			"other prefix":  "ghx_" + strings.TrimPrefix(tok, session.RefreshTokenPrefix),
			"truncated":     tok[:len(tok)-1],
			"extended":      tok + "A",
			"not base64url": tok[:len(tok)-1] + "+",
			"unknown":       unknown,
			"access token":  "eyJhbGciOiJFZERTQSJ9.eyJzdWIiOiJ4In0.c2ln",
			"padded":        tok + "=",
			"space":         " " + tok,
			"non-canonical": tok[:len(tok)-1] + "B", // sets the 2 unused bits of the last character
		} {
			t.Run(name, func(t *testing.T) {
				_, _, err := e.svc.Refresh(t.Context(), presented, firefox)
				wantReason(t, "Refresh", err, gatehouse.EUNAUTHENTICATED, session.ReasonInvalidRefreshToken)
			})
		}
		// The real token still works: nothing above touched it.
		e.refresh(t, tok)
	})
}

func TestRetryInsideGrace(t *testing.T) {
	for _, tc := range []struct {
		name  string
		after time.Duration
		same  bool
	}{
		{"at once", 0, true},
		{"after 5s", 5 * time.Second, true},
		{"at the end of the window", session.DefaultRefreshGrace, true},
		{"just after the window", session.DefaultRefreshGrace + time.Millisecond, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			eachBackend(t, func(t *testing.T, e *env) {
				sess, t1 := e.start(t, e.account(t))
				_, t2 := e.refresh(t, t1)
				e.clock.Advance(tc.after)
				got, again, err := e.svc.Refresh(t.Context(), t1, firefox)
				if !tc.same {
					wantReason(t, "Refresh after the grace window", err, gatehouse.EUNAUTHENTICATED, session.ReasonRefreshTokenReused)
					return
				}
				if err != nil {
					t.Fatalf("retry within the grace window: %v", err)
				}
				if again != t2 || got.ID != sess.ID {
					t.Fatalf("retry within the grace window gave another successor (%v)", again == t2)
				}
				if acts := e.audit.actions(sess.ID); len(acts) != 0 {
					t.Errorf("an honest retry recorded %v", acts)
				}
				// The successor is the one live token: it rotates normally.
				e.refresh(t, t2)
			})
		})
	}
}

func TestReuseRevokesTheFamily(t *testing.T) {
	eachBackend(t, func(t *testing.T, e *env) {
		acct := e.account(t)
		sess, t1 := e.start(t, acct)
		_, t2 := e.refresh(t, t1)
		e.clock.Advance(time.Minute)
		_, t3 := e.refresh(t, t2)
		e.clock.Advance(time.Minute)

		checker := session.NewRevocationChecker(e.eph, session.CheckerOptions{Now: e.clock.Now})
		if revoked, err := checker.IsRevoked(t.Context(), sess.ID); err != nil || revoked {
			t.Fatalf("IsRevoked before the reuse = %v, %v", revoked, err)
		}

		attacker := session.ClientMeta{UserAgent: "curl/8.4.0", IP: "203.0.113.66"}
		_, _, err := e.svc.Refresh(t.Context(), t1, attacker)
		wantReason(t, "Refresh of a rotated token", err, gatehouse.EUNAUTHENTICATED, session.ReasonRefreshTokenReused)

		stored, err := e.store.GetSession(t.Context(), sess.ID)
		if err != nil || !stored.RevokedAt.Equal(e.clock.Now()) || stored.RevokeReason != session.RevokeReuseDetected {
			t.Fatalf("session after the reuse = %+v, %v; want revoked for reuse", stored, err)
		}
		ev, ok := e.audit.find(session.ActionReuseDetected, sess.ID)
		if !ok || ev.SubjectID != acct || ev.ActorID != "" || ev.IP != attacker.IP || ev.UserAgent != attacker.UserAgent ||
			ev.Outcome != "failure" || ev.Reason != session.ReasonRefreshTokenReused {
			t.Errorf("reuse event = %+v (found %v)", ev, ok)
		}
		// Every token of the family now fails, the newest included, and no more events are recorded.
		for name, tok := range map[string]string{"t1": t1, "t2": t2, "t3": t3} {
			_, _, err := e.svc.Refresh(t.Context(), tok, firefox)
			wantReason(t, "Refresh of "+name+" after the reuse", err, gatehouse.EUNAUTHENTICATED, session.ReasonSessionExpired)
		}
		if acts := e.audit.actions(sess.ID); !slices.Equal(acts, []string{session.ActionReuseDetected}) {
			t.Errorf("events = %v, want one %s", acts, session.ActionReuseDetected)
		}
		// The access tokens of the session are refused within the cache TTL.
		e.clock.Advance(session.DefaultCacheTTL)
		if revoked, err := checker.IsRevoked(t.Context(), sess.ID); err != nil || !revoked {
			t.Errorf("IsRevoked after the reuse = %v, %v", revoked, err)
		}
		if list, err := e.svc.List(t.Context(), acct); err != nil || len(list) != 0 {
			t.Errorf("List after the reuse = %d sessions, %v", len(list), err)
		}
	})
}

func TestConcurrentRefreshes(t *testing.T) {
	eachBackend(t, func(t *testing.T, e *env) {
		sess, t1 := e.start(t, e.account(t))
		const n = 20
		var (
			wg    sync.WaitGroup
			start = make(chan struct{})
			mu    sync.Mutex
			got   = map[string]int{}
			errs  []error
		)
		for range n {
			wg.Go(func() {
				<-start
				s, next, err := e.svc.Refresh(context.WithoutCancel(t.Context()), t1, firefox)
				mu.Lock()
				defer mu.Unlock()
				if err != nil {
					errs = append(errs, err)
					return
				}
				if s.ID != sess.ID {
					errs = append(errs, errors.New("answer for another session"))
				}
				got[next]++
			})
		}
		close(start)
		wg.Wait()
		if len(errs) > 0 {
			t.Fatalf("%d of %d concurrent refreshes failed: %v", len(errs), n, errs[0])
		}
		if len(got) != 1 {
			t.Fatalf("concurrent refreshes of one token gave %d different successors, want 1", len(got))
		}
		var t2 string
		for tok := range got {
			t2 = tok
		}
		rt, err := e.token(t, t1)
		if err != nil || !bytes.Equal(rt.ReplacedBy, hash(t2)) {
			t.Fatalf("the presented token records successor %x, want the one every caller got (%v)", rt.ReplacedBy, err)
		}
		succ, err := e.token(t, t2)
		if err != nil || succ.Generation != 2 || !succ.UsedAt.IsZero() {
			t.Fatalf("successor = %+v, %v", succ, err)
		}
		// A second generation-2 token cannot exist (one token per generation of a family), and the
		// one that exists is live.
		e.refresh(t, t2)
		if acts := e.audit.actions(sess.ID); len(acts) != 0 {
			t.Errorf("concurrent honest refreshes recorded %v", acts)
		}
	})
}

func TestExpiry(t *testing.T) {
	const day = 24 * time.Hour
	for _, tc := range []struct {
		name string
		// steps are the waits before each refresh; the last refresh's outcome is checked.
		steps   []time.Duration
		expired bool
	}{
		{"idle just under the timeout", []time.Duration{session.DefaultIdleTimeout}, false},
		{"idle past the timeout", []time.Duration{session.DefaultIdleTimeout + time.Second}, true},
		{"active until just before the lifetime", []time.Duration{6 * day, 6 * day, 6 * day, 6 * day, 6*day - time.Second}, false},
		{"active past the lifetime", []time.Duration{6 * day, 6 * day, 6 * day, 6 * day, 6 * day}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			eachBackend(t, func(t *testing.T, e *env) {
				acct := e.account(t)
				sess, tok := e.start(t, acct)
				for i, wait := range tc.steps {
					e.clock.Advance(wait)
					_, next, err := e.svc.Refresh(t.Context(), tok, firefox)
					if i < len(tc.steps)-1 || !tc.expired {
						if err != nil {
							t.Fatalf("refresh %d: %v", i+1, err)
						}
						tok = next
						continue
					}
					wantReason(t, "Refresh of an ended session", err, gatehouse.EUNAUTHENTICATED, session.ReasonSessionExpired)
				}
				list, err := e.svc.List(t.Context(), acct)
				if err != nil {
					t.Fatal(err)
				}
				_, getErr := e.svc.Get(t.Context(), acct, sess.ID)
				if tc.expired {
					if len(list) != 0 || gatehouse.ErrorCode(getErr) != gatehouse.ENOTFOUND {
						t.Errorf("an ended session is still listed (%d) or found (%v)", len(list), getErr)
					}
				} else if len(list) != 1 || getErr != nil {
					t.Errorf("a live session is not listed (%d) or found (%v)", len(list), getErr)
				}
			})
		})
	}
}

func TestListAndGet(t *testing.T) {
	eachBackend(t, func(t *testing.T, e *env) {
		acct, other := e.account(t), e.account(t)
		idle, _ := e.start(t, acct)
		e.clock.Advance(4 * 24 * time.Hour)
		older, _ := e.start(t, acct)
		e.clock.Advance(time.Hour)
		newer, _ := e.start(t, acct)
		e.clock.Advance(time.Hour)
		gone, _ := e.start(t, acct)
		theirs, _ := e.start(t, other)
		if err := e.svc.Revoke(t.Context(), acct, gone.ID, session.RevokeByUser); err != nil {
			t.Fatal(err)
		}
		e.clock.Advance(3*24*time.Hour + time.Minute) // the first session is now idle for 7 days and a minute

		list, err := e.svc.List(t.Context(), acct)
		if err != nil {
			t.Fatal(err)
		}
		ids := make([]string, len(list))
		for i, s := range list {
			ids[i] = s.ID
		}
		if want := []string{newer.ID, older.ID}; !slices.Equal(ids, want) {
			t.Errorf("List = %v, want %v (newest first; idle and revoked left out)", ids, want)
		}
		for name, id := range map[string]string{"idle": idle.ID, "revoked": gone.ID, "another account's": theirs.ID, "unknown": "01890a5d-ac96-774b-bcce-b302099a8057", "malformed": "x"} {
			if _, err := e.svc.Get(t.Context(), acct, id); gatehouse.ErrorCode(err) != gatehouse.ENOTFOUND {
				t.Errorf("Get of the %s session: err = %v, want not found", name, err)
			}
		}
	})
}

func TestRevoke(t *testing.T) {
	eachBackend(t, func(t *testing.T, e *env) {
		acct, other := e.account(t), e.account(t)
		mine, tok := e.start(t, acct)
		loggedOut, _ := e.start(t, acct)
		theirs, theirTok := e.start(t, other)
		checker := session.NewRevocationChecker(e.eph, session.CheckerOptions{Now: e.clock.Now})

		for name, id := range map[string]string{"another account's": theirs.ID, "an unknown": "01890a5d-ac96-774b-bcce-b302099a8057", "a malformed": "nope"} {
			err := e.svc.Revoke(t.Context(), acct, id, session.RevokeByUser)
			if gatehouse.ErrorCode(err) != gatehouse.ENOTFOUND {
				t.Errorf("Revoke of %s session: err = %v, want not found", name, err)
			}
		}
		if err := e.svc.Revoke(t.Context(), acct, mine.ID, session.RevokeByUser); err != nil {
			t.Fatalf("Revoke: %v", err)
		}
		if err := e.svc.Revoke(t.Context(), acct, loggedOut.ID, session.RevokeLogout); err != nil {
			t.Fatalf("Revoke (logout): %v", err)
		}
		if err := e.svc.Revoke(t.Context(), acct, mine.ID, session.RevokeByUser); gatehouse.ErrorCode(err) != gatehouse.ENOTFOUND {
			t.Errorf("second Revoke: err = %v, want not found", err)
		}

		stored, err := e.store.GetSession(t.Context(), mine.ID)
		if err != nil || stored.RevokedAt.IsZero() || stored.RevokeReason != session.RevokeByUser {
			t.Errorf("stored session after Revoke = %+v, %v", stored, err)
		}
		if acts := e.audit.actions(mine.ID); !slices.Equal(acts, []string{session.ActionRevoked}) {
			t.Errorf("events of the revoked session = %v", acts)
		}
		if acts := e.audit.actions(loggedOut.ID); !slices.Equal(acts, []string{session.ActionLogout}) {
			t.Errorf("events of the logged-out session = %v", acts)
		}
		if ev, _ := e.audit.find(session.ActionRevoked, mine.ID); ev.ActorID != acct || ev.SubjectID != acct || ev.Data["reason"] != session.RevokeByUser {
			t.Errorf("revocation event = %+v", ev)
		}
		_, _, err = e.svc.Refresh(t.Context(), tok, firefox)
		wantReason(t, "Refresh of a revoked session", err, gatehouse.EUNAUTHENTICATED, session.ReasonSessionExpired)
		for _, id := range []string{mine.ID, loggedOut.ID} {
			if revoked, err := checker.IsRevoked(t.Context(), id); err != nil || !revoked {
				t.Errorf("IsRevoked(%s) = %v, %v", id, revoked, err)
			}
		}
		if revoked, err := checker.IsRevoked(t.Context(), theirs.ID); err != nil || revoked {
			t.Errorf("IsRevoked of an untouched session = %v, %v", revoked, err)
		}
		e.refresh(t, theirTok)
	})
}

func TestRevokeAll(t *testing.T) {
	eachBackend(t, func(t *testing.T, e *env) {
		acct, other := e.account(t), e.account(t)
		current, curTok := e.start(t, acct)
		a, aTok := e.start(t, acct)
		b, _ := e.start(t, acct)
		theirs, _ := e.start(t, other)

		ids, err := e.svc.RevokeAll(t.Context(), acct, current.ID, session.RevokePasswordChanged)
		if err != nil {
			t.Fatal(err)
		}
		if got, want := sortedCopy(ids), sortedCopy([]string{a.ID, b.ID}); !slices.Equal(got, want) {
			t.Fatalf("RevokeAll = %v, want %v", got, want)
		}
		checker := session.NewRevocationChecker(e.eph, session.CheckerOptions{Now: e.clock.Now})
		for id, want := range map[string]bool{current.ID: false, a.ID: true, b.ID: true, theirs.ID: false} {
			if revoked, err := checker.IsRevoked(t.Context(), id); err != nil || revoked != want {
				t.Errorf("IsRevoked(%s) = %v, %v; want %v", id, revoked, err, want)
			}
			acts := e.audit.actions(id)
			if want != slices.Equal(acts, []string{session.ActionRevoked}) {
				t.Errorf("events of %s = %v", id, acts)
			}
		}
		_, _, err = e.svc.Refresh(t.Context(), aTok, firefox)
		wantReason(t, "Refresh of a revoked session", err, gatehouse.EUNAUTHENTICATED, session.ReasonSessionExpired)
		e.refresh(t, curTok)

		ids, err = e.svc.RevokeAll(t.Context(), acct, "", session.RevokeAccountDeleted)
		if err != nil || !slices.Equal(ids, []string{current.ID}) {
			t.Fatalf("RevokeAll except none = %v, %v; want the current session", ids, err)
		}
		if ids, err = e.svc.RevokeAll(t.Context(), acct, "", session.RevokeAccountDeleted); err != nil || len(ids) != 0 {
			t.Errorf("RevokeAll with nothing left = %v, %v", ids, err)
		}
	})
}

// TestRevocationSeenByOtherNodes runs three checkers on one ephemeral store, as three nodes would:
// one that follows the announcements sees a revocation as soon as its message arrives; one that
// missed it (not subscribed) keeps its cached answer only until the cache TTL passes.
func TestRevocationSeenByOtherNodes(t *testing.T) {
	eachBackend(t, func(t *testing.T, e *env) {
		acct := e.account(t)
		sess, _ := e.start(t, acct)
		opts := session.CheckerOptions{CacheTTL: time.Second, Now: e.clock.Now}
		following := session.NewRevocationChecker(e.eph, opts)
		if err := following.Start(t.Context()); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = following.Close() })
		deaf := session.NewRevocationChecker(e.eph, opts)
		for _, c := range []*session.RevocationChecker{following, deaf} {
			if revoked, err := c.IsRevoked(t.Context(), sess.ID); err != nil || revoked {
				t.Fatalf("IsRevoked before = %v, %v", revoked, err)
			}
		}

		if err := e.svc.Revoke(t.Context(), acct, sess.ID, session.RevokeLogout); err != nil {
			t.Fatal(err)
		}
		// The clock does not move: only the announcement can change the cached answer.
		eventually(t, "the announcement to reach the subscribed checker", func() bool {
			revoked, err := following.IsRevoked(t.Context(), sess.ID)
			return err == nil && revoked
		})
		if revoked, _ := deaf.IsRevoked(t.Context(), sess.ID); revoked {
			t.Fatal("the checker that missed the announcement asked the store within its cache TTL")
		}
		e.clock.Advance(time.Second)
		if revoked, err := deaf.IsRevoked(t.Context(), sess.ID); err != nil || !revoked {
			t.Fatalf("IsRevoked one cache TTL after a missed announcement = %v, %v", revoked, err)
		}
	})
}

func TestEphemeralStoreDown(t *testing.T) {
	eachBackend(t, func(t *testing.T, e *env) {
		acct := e.account(t)
		sess, tok := e.start(t, acct)
		checker := session.NewRevocationChecker(e.eph, session.CheckerOptions{Now: e.clock.Now})
		if revoked, err := checker.IsRevoked(t.Context(), sess.ID); err != nil || revoked {
			t.Fatalf("IsRevoked = %v, %v", revoked, err)
		}
		if err := e.eph.Close(); err != nil {
			t.Fatal(err)
		}
		e.clock.Advance(time.Second)
		revoked, err := checker.IsRevoked(t.Context(), sess.ID)
		if !errors.Is(err, ephemeral.ErrUnavailable) || gatehouse.ErrorCode(err) != gatehouse.EUNAVAILABLE {
			t.Fatalf("IsRevoked with the store down = %v, %v; want an EUNAVAILABLE error wrapping ephemeral.ErrUnavailable", revoked, err)
		}

		// A revocation that other nodes could not see fails and changes nothing.
		err = e.svc.Revoke(t.Context(), acct, sess.ID, session.RevokeLogout)
		if gatehouse.ErrorCode(err) != gatehouse.EUNAVAILABLE {
			t.Fatalf("Revoke with the store down: err = %v, want unavailable", err)
		}
		if stored, err := e.store.GetSession(t.Context(), sess.ID); err != nil || !stored.RevokedAt.IsZero() {
			t.Errorf("the failed Revoke left %+v, %v", stored, err)
		}
		// A rotation whose successor cannot be kept for the grace window fails and changes nothing.
		_, _, err = e.svc.Refresh(t.Context(), tok, firefox)
		if gatehouse.ErrorCode(err) != gatehouse.EUNAVAILABLE {
			t.Fatalf("Refresh with the store down: err = %v, want unavailable", err)
		}
		if rt, err := e.token(t, tok); err != nil || !rt.UsedAt.IsZero() {
			t.Errorf("the failed Refresh left %+v, %v", rt, err)
		}
	})
}

func TestNewServiceValidates(t *testing.T) {
	c := newClock()
	store, eph := openSQLiteMemory(t, c)
	for name, tc := range map[string]struct {
		store records.Store
		eph   ephemeral.Store
		opts  session.Options
	}{
		"no store":         {nil, eph, session.Options{Audit: &auditLog{}}},
		"no eph":           {store, nil, session.Options{Audit: &auditLog{}}},
		"no audit":         {store, eph, session.Options{}},
		"negative ttl":     {store, eph, session.Options{Audit: &auditLog{}, AccessTokenTTL: -time.Second}},
		"negative idle":    {store, eph, session.Options{Audit: &auditLog{}, IdleTimeout: -time.Second}},
		"negative absolut": {store, eph, session.Options{Audit: &auditLog{}, AbsoluteLifetime: -time.Second}},
	} {
		if _, err := session.NewService(tc.store, tc.eph, tc.opts); err == nil {
			t.Errorf("%s: NewService succeeded", name)
		}
	}
}

func TestNoGraceWindow(t *testing.T) {
	c := newClock()
	store, eph := openSQLiteMemory(t, c)
	a := &auditLog{}
	opts := testOptions(c, a)
	opts.RefreshGrace = -1
	svc, err := session.NewService(store, eph, opts)
	if err != nil {
		t.Fatal(err)
	}
	e := &env{store: store, eph: eph, clock: c, audit: a, svc: svc}
	_, t1 := e.start(t, e.account(t))
	e.refresh(t, t1)
	_, _, err = svc.Refresh(t.Context(), t1, firefox)
	wantReason(t, "an immediate retry without a grace window", err, gatehouse.EUNAUTHENTICATED, session.ReasonRefreshTokenReused)
}

func TestDeviceName(t *testing.T) {
	for _, tc := range []struct{ ua, want string }{
		{firefox.UserAgent, "Firefox 120 on Linux"},
		{"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36", "Chrome 120 on Windows"},
		{"Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.1 Mobile/15E148 Safari/604.1", "Safari 17 on iOS"},
		{"Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.1 Safari/605.1.15", "Safari 17 on macOS"},
		{"", ""},
		{"   ", ""},
	} {
		if got := session.DeviceName(tc.ua); got != tc.want {
			t.Errorf("DeviceName(%q) = %q, want %q", tc.ua, got, tc.want)
		}
	}
	if got := session.DeviceName(strings.Repeat("é", 400)); len(got) > 100 || !utf8Valid(got) {
		t.Errorf("DeviceName of a long user agent = %q", got)
	}
}

func utf8Valid(s string) bool { return strings.ToValidUTF8(s, "") == s }

// TestNoAdapterDependencies keeps the package a domain package: no HTTP, SQL or Redis code in its
// (non-test) dependency graph.
func TestNoAdapterDependencies(t *testing.T) {
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skip("go tool not on PATH; install Go to run this check")
	}
	out, err := exec.Command(goTool, "list", "-deps", ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go list -deps: %v\n%s", err, out)
	}
	for _, dep := range strings.Fields(string(out)) {
		if dep == "database/sql" { // database/sql/driver comes with github.com/google/uuid: interfaces only
			t.Errorf("session depends on %s", dep)
		}
		for _, banned := range []string{"net/http", "github.com/jackc/", "modernc.org/sqlite", "github.com/redis/",
			"github.com/gatehouse/gatehouse/internal/postgres", "github.com/gatehouse/gatehouse/internal/sqlite",
			"github.com/gatehouse/gatehouse/internal/redis", "github.com/gatehouse/gatehouse/internal/memory",
			"github.com/gatehouse/gatehouse/internal/httpapi"} {
			if dep == banned || strings.HasPrefix(dep, banned+"/") || (strings.HasSuffix(banned, "/") && strings.HasPrefix(dep, banned)) {
				t.Errorf("session depends on %s", dep)
			}
		}
	}
}

// TestGraceEntryIsSealed reads the grace entry as anyone with access to the ephemeral store could:
// it must not reveal the successor.
func TestGraceEntryIsSealed(t *testing.T) {
	eachBackend(t, func(t *testing.T, e *env) {
		_, t1 := e.start(t, e.account(t))
		_, t2 := e.refresh(t, t1)
		raw, err := e.eph.Get(t.Context(), "refresh-grace:"+hex.EncodeToString(hash(t1)))
		if err != nil {
			t.Fatalf("the grace entry is not under refresh-grace:<hex of the old token's hash>: %v", err)
		}
		if bytes.Contains(raw, []byte(t2)) || bytes.Contains(raw, []byte(strings.TrimPrefix(t2, session.RefreshTokenPrefix))) {
			t.Fatal("the grace entry holds the successor in clear")
		}
		ttl, err := e.eph.TTL(t.Context(), "refresh-grace:"+hex.EncodeToString(hash(t1)))
		if err != nil || ttl <= 0 || ttl > session.DefaultRefreshGrace+2*time.Second {
			t.Errorf("grace entry TTL = %v, %v; want about the grace window", ttl, err)
		}
	})
}
