package session_test

import (
	"context"
	"testing"

	"github.com/google/uuid"

	"github.com/gatehouse/gatehouse"
	"github.com/gatehouse/gatehouse/internal/memory"
	"github.com/gatehouse/gatehouse/internal/records"
	"github.com/gatehouse/gatehouse/internal/session"
)

// BenchmarkRefresh measures one rotation (lock, successor, used mark, session activity, grace
// entry) end to end, on each backend.
func BenchmarkRefresh(b *testing.B) {
	for _, be := range backends() {
		b.Run(be.name, func(b *testing.B) {
			e := newEnv(b, be)
			_, tok := e.start(b, e.account(b))
			b.ReportAllocs()
			for b.Loop() {
				_, next, err := e.svc.Refresh(b.Context(), tok, firefox)
				if err != nil {
					b.Fatal(err)
				}
				tok = next
			}
		})
	}
}

// BenchmarkIsRevokedCached measures the revocation check of an authenticated request whose answer
// is cached: the common case, which must cost no round trip.
func BenchmarkIsRevokedCached(b *testing.B) {
	c := newClock()
	eph := memory.New(c.Now)
	b.Cleanup(func() { _ = eph.Close() })
	checker := session.NewRevocationChecker(eph, session.CheckerOptions{Now: c.Now})
	const sid = "01890a5d-ac96-774b-bcce-b302099a8057"
	if _, err := checker.IsRevoked(b.Context(), sid); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if revoked, err := checker.IsRevoked(b.Context(), sid); err != nil || revoked {
				b.Fatal(revoked, err)
			}
		}
	})
}

// BenchmarkRefreshParallel rotates 32 sessions' tokens at once (16 goroutines per core on the 2-core
// reference machine), as many clients would.
func BenchmarkRefreshParallel(b *testing.B) {
	for _, be := range backends() {
		b.Run(be.name, func(b *testing.B) {
			e := newEnv(b, be)
			acct := e.account(b)
			b.ReportAllocs()
			b.SetParallelism(16)
			b.RunParallel(func(pb *testing.PB) {
				var tok string
				err := e.store.InTx(b.Context(), func(ctx context.Context, tx records.Tx) error {
					var err error
					_, tok, err = e.svc.Start(ctx, tx, acct, firefox)
					return err
				})
				if err != nil {
					b.Error(err) // not Fatal: this is not the benchmark's goroutine
					return
				}
				for pb.Next() {
					_, next, err := e.svc.Refresh(b.Context(), tok, firefox)
					if err != nil {
						b.Error(err)
						return
					}
					tok = next
				}
			})
		})
	}
}

// BenchmarkSignInTx measures the transaction of a password sign-in after the hash check: the account
// read again, then the session, its first refresh token and the sign-in event written together.
func BenchmarkSignInTx(b *testing.B) {
	for _, be := range backends() {
		b.Run(be.name, func(b *testing.B) {
			e := newEnv(b, be)
			acct := e.account(b)
			b.ReportAllocs()
			for b.Loop() {
				err := e.store.InTx(b.Context(), func(ctx context.Context, tx records.Tx) error {
					if _, err := tx.GetAccount(ctx, acct); err != nil {
						return err
					}
					_, _, err := e.svc.StartRecorded(ctx, tx, acct, firefox, gatehouse.AuditEvent{
						ID: uuid.Must(uuid.NewV7()).String(), Action: "session.login", Outcome: "success",
						ActorID: acct, SubjectID: acct, CreatedAt: e.clock.Now(),
						Data: map[string]any{"amr": []string{"pwd"}},
					})
					return err
				})
				if err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
