package account_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse"
	"github.com/gatehouse/gatehouse/internal/account"
	"github.com/gatehouse/gatehouse/internal/ephemeral"
	"github.com/gatehouse/gatehouse/internal/password"
)

// countingStore is an ephemeral store that counts the reads of profile cache entries. afterGet,
// when set, runs after such a read has been answered and before its caller sees the answer.
type countingStore struct {
	ephemeral.Store
	gets          atomic.Int64
	afterGet      func(key string)
	failSubscribe bool
}

func (c *countingStore) Get(ctx context.Context, key string) ([]byte, error) {
	b, err := c.Store.Get(ctx, key)
	if strings.HasPrefix(key, "account:") {
		c.gets.Add(1)
		if c.afterGet != nil {
			c.afterGet(key)
		}
	}
	return b, err
}

func (c *countingStore) Subscribe(ctx context.Context, channel string) (ephemeral.Subscription, error) {
	if c.failSubscribe {
		return nil, ephemeral.ErrUnavailable
	}
	return c.Store.Subscribe(ctx, channel)
}

// node is one Service of a deployment of several, sharing the env's stores: it reads the ephemeral
// store through its own countingStore and reports each invalidation it applies on invalidations.
type node struct {
	svc           *account.Service
	eph           *countingStore
	invalidations chan string
}

// node builds another node over the env's stores, started unless start is false, with the tests'
// options adjusted by opts.
func (e *env) node(t testing.TB, start bool, opts func(*account.Options)) *node {
	t.Helper()
	n := &node{eph: &countingStore{Store: e.eph}, invalidations: make(chan string, 1024)}
	o := account.Options{PublicURL: publicURL, CodeKey: []byte("0123456789abcdef0123456789abcdef"), DefaultRegion: "KW"}
	if opts != nil {
		opts(&o)
	}
	svc, err := account.NewService(account.Deps{
		Store: e.store, Ephemeral: n.eph, Hasher: e.hasher, Policy: password.DefaultPolicy(), Tokens: e.tokens,
		Sessions: e.sessions, Audit: e.audit, Mail: e.mail, OTP: e.otp, SMS: e.texts, Now: e.clock.Now,
	}, o)
	if err != nil {
		t.Fatalf("NewService: %v", err)
	}
	n.svc = svc
	account.OnProfileInvalidation(svc, func(id string) { n.invalidations <- id })
	if start {
		if err := svc.Start(t.Context()); err != nil {
			t.Fatalf("Start: %v", err)
		}
		t.Cleanup(func() {
			if err := svc.Close(); err != nil {
				t.Errorf("Close: %v", err)
			}
		})
	}
	return n
}

// awaitInvalidation waits until the node has applied an announced invalidation of the account.
func (n *node) awaitInvalidation(t testing.TB, accountID string) {
	t.Helper()
	timeout := time.After(wait)
	for {
		select {
		case id := <-n.invalidations:
			if id == accountID {
				return
			}
		case <-timeout:
			t.Fatalf("no invalidation of %s announced within %v", accountID, wait)
		}
	}
}

// profile reads the account's profile on the node and checks the number of reads of the ephemeral
// store it cost.
func (n *node) profile(t testing.TB, accountID string, wantReads int64) (*gatehouse.Account, error) {
	t.Helper()
	before := n.eph.gets.Load()
	p, err := n.svc.Profile(t.Context(), accountID)
	if got := n.eph.gets.Load() - before; got != wantReads {
		t.Errorf("Profile cost %d reads of the ephemeral store, want %d", got, wantReads)
	}
	return p, err
}

func TestNearCacheHit(t *testing.T) {
	eachBackend(t, nil, func(t *testing.T, e *env) {
		a := e.create(t, func(a *gatehouse.Account) { a.Roles = []string{"user", "support"} })
		for _, tc := range []struct {
			name    string
			start   bool
			reReads int64 // ephemeral reads of a second read of the profile
		}{
			{"started", true, 0},
			{"not started: no near cache", false, 1},
		} {
			t.Run(tc.name, func(t *testing.T) {
				n := e.node(t, tc.start, nil)
				p, err := n.profile(t, a.ID, 1)
				if err != nil {
					t.Fatalf("Profile: %v", err)
				}
				// What a caller gets is its own: changing it changes nothing for the next reader.
				p.Roles[0], p.Name = "admin", "Mallory"
				for range 3 {
					p, err := n.profile(t, a.ID, tc.reReads)
					if err != nil || p.Name != "Bob" || !slices.Equal(p.Roles, []string{"user", "support"}) || p.PasswordHash != "" {
						t.Fatalf("Profile = %+v, %v", p, err)
					}
					p.Roles[1] = "admin"
				}
			})
		}
	})
}

func TestNearCacheInvalidationAcrossNodes(t *testing.T) {
	eachBackend(t, nil, func(t *testing.T, e *env) {
		a := e.create(t, nil)
		nodeA, nodeB := e.node(t, true, nil), e.node(t, true, nil)
		for _, tc := range []struct {
			name   string
			change func(t *testing.T)
			check  func(t *testing.T, p *gatehouse.Account, err error)
		}{
			{
				"profile update",
				func(t *testing.T) {
					if _, err := nodeA.svc.UpdateProfile(t.Context(), a.ID, account.ProfilePatch{Name: ptr("Robert")}); err != nil {
						t.Fatal(err)
					}
				},
				func(t *testing.T, p *gatehouse.Account, err error) {
					if err != nil || p.Name != "Robert" {
						t.Errorf("Profile = %+v, %v, want the name Robert", p, err)
					}
				},
			},
			{
				"locked by an administrator",
				func(t *testing.T) {
					e.update(t, a.ID, func(a *gatehouse.Account) { a.Status = gatehouse.AccountLocked })
					if err := nodeA.svc.InvalidateProfile(t.Context(), a.ID); err != nil {
						t.Fatal(err)
					}
				},
				func(t *testing.T, p *gatehouse.Account, err error) {
					if err != nil || p.Status != gatehouse.AccountLocked {
						t.Errorf("Profile = %+v, %v, want status locked", p, err)
					}
				},
			},
			{
				"deleted",
				func(t *testing.T) {
					if err := nodeA.svc.Delete(t.Context(), a.ID, ""); err != nil {
						t.Fatal(err)
					}
				},
				func(t *testing.T, _ *gatehouse.Account, err error) {
					wantError(t, "Profile after delete", err, gatehouse.ENOTFOUND, "")
				},
			},
		} {
			t.Run(tc.name, func(t *testing.T) {
				// Both nodes hold the profile in their near caches.
				for _, n := range []*node{nodeA, nodeB} {
					if _, err := n.svc.Profile(t.Context(), a.ID); err != nil {
						t.Fatal(err)
					}
					if _, err := n.profile(t, a.ID, 0); err != nil {
						t.Fatal(err)
					}
				}
				tc.change(t)
				// Node A sees its change at once; node B as soon as the announcement arrives. The
				// clock does not move: without the announcement, B would answer from its cache.
				p, err := nodeA.profile(t, a.ID, 1)
				tc.check(t, p, err)
				nodeB.awaitInvalidation(t, a.ID)
				p, err = nodeB.profile(t, a.ID, 1)
				tc.check(t, p, err)
				// The new answer is cached in turn.
				p, err = nodeB.profile(t, a.ID, 0)
				tc.check(t, p, err)
			})
		}
	})
}

func TestNearCacheExpiresAfterLocalTTL(t *testing.T) {
	eachBackend(t, nil, func(t *testing.T, e *env) {
		for _, tc := range []struct {
			name string
			ttl  time.Duration
			want time.Duration
		}{
			{"default", 0, account.DefaultLocalProfileTTL},
			{"set", 250 * time.Millisecond, 250 * time.Millisecond},
		} {
			t.Run(tc.name, func(t *testing.T) {
				a := e.create(t, nil)
				n := e.node(t, true, func(o *account.Options) { o.LocalProfileTTL = tc.ttl })
				if got := n.svc.Options().LocalProfileTTL; got != tc.want {
					t.Fatalf("LocalProfileTTL = %v, want %v", got, tc.want)
				}
				if _, err := n.profile(t, a.ID, 1); err != nil {
					t.Fatal(err)
				}
				// A change behind the Services' backs (no invalidation): the near cache answers until
				// its entry expires, then the ephemeral store's entry is read again.
				e.update(t, a.ID, func(a *gatehouse.Account) { a.Name = "Changed behind" })
				e.clock.Advance(tc.want - time.Nanosecond)
				if p, err := n.profile(t, a.ID, 0); err != nil || p.Name != "Bob" {
					t.Fatalf("Profile = %+v, %v", p, err)
				}
				e.clock.Advance(time.Nanosecond)
				if _, err := n.profile(t, a.ID, 1); err != nil {
					t.Fatal(err)
				}
				if _, err := n.profile(t, a.ID, 0); err != nil {
					t.Fatal(err)
				}
			})
		}
	})
}

func TestNearCacheRejectsNegativeTTL(t *testing.T) {
	e := newEnv(t, backends()[0], nil)
	_, err := account.NewService(account.Deps{
		Store: e.store, Ephemeral: e.eph, Hasher: e.hasher, Policy: password.DefaultPolicy(),
		Tokens: e.tokens, Sessions: e.sessions, Audit: e.audit, Mail: e.mail,
	}, account.Options{PublicURL: publicURL, CodeKey: []byte("0123456789abcdef"), LocalProfileTTL: -time.Second})
	if err == nil || !strings.Contains(err.Error(), "LocalProfileTTL") {
		t.Errorf("NewService with a negative LocalProfileTTL: %v", err)
	}
}

// TestNearCacheNoResurrection changes the profile while another read is between its read of the
// ephemeral store (which returned the old profile) and its fill of the near cache: the fill must
// not take, or the old profile would be served until the local TTL ends.
func TestNearCacheNoResurrection(t *testing.T) {
	eachBackend(t, nil, func(t *testing.T, e *env) {
		for _, tc := range []struct {
			name      string
			otherNode bool // the change is made on another node
		}{
			{"change on the same node", false},
			{"change on another node", true},
		} {
			t.Run(tc.name, func(t *testing.T) {
				a := e.create(t, nil)
				reader, writer := e.node(t, true, nil), e.node(t, true, nil)
				if !tc.otherNode {
					writer = reader
				}
				// The ephemeral store holds the old profile.
				if _, err := e.node(t, false, nil).profile(t, a.ID, 1); err != nil {
					t.Fatal(err)
				}
				var once sync.Once
				reader.eph.afterGet = func(string) {
					once.Do(func() {
						if _, err := writer.svc.UpdateProfile(t.Context(), a.ID, account.ProfilePatch{Name: ptr("New")}); err != nil {
							t.Error(err)
						}
						if tc.otherNode {
							reader.awaitInvalidation(t, a.ID)
						}
					})
				}
				// The read in flight answers with what it read before the change...
				if p, err := reader.profile(t, a.ID, 1); err != nil || p.Name != "Bob" {
					t.Fatalf("Profile in flight = %+v, %v", p, err)
				}
				// ... but does not keep it: the next read goes to the ephemeral store and sees the change.
				if p, err := reader.profile(t, a.ID, 1); err != nil || p.Name != "New" {
					t.Errorf("Profile after the change = %+v, %v, want the name New", p, err)
				}
			})
		}
	})
}

// TestNearCacheServesOnlyWhileSubscribed checks that a Service whose subscription is not active
// reads the ephemeral store every time.
func TestNearCacheServesOnlyWhileSubscribed(t *testing.T) {
	eachBackend(t, nil, func(t *testing.T, e *env) {
		a := e.create(t, nil)
		reads := func(t *testing.T, n *node, want ...int64) {
			t.Helper()
			for _, w := range want {
				if _, err := n.profile(t, a.ID, w); err != nil {
					t.Fatal(err)
				}
			}
		}

		t.Run("subscribe fails", func(t *testing.T) {
			n := e.node(t, false, nil)
			n.eph.failSubscribe = true
			err := n.svc.Start(t.Context())
			if !errors.Is(err, ephemeral.ErrUnavailable) || gatehouse.ErrorCode(err) != gatehouse.EUNAVAILABLE {
				t.Fatalf("Start = %v, want EUNAVAILABLE", err)
			}
			reads(t, n, 1, 1)
		})
		t.Run("closed", func(t *testing.T) {
			n := e.node(t, false, nil)
			if err := n.svc.Start(t.Context()); err != nil {
				t.Fatal(err)
			}
			if err := n.svc.Start(t.Context()); err == nil {
				t.Error("second Start succeeded")
			}
			reads(t, n, 1, 0)
			for range 2 {
				if err := n.svc.Close(); err != nil {
					t.Fatalf("Close: %v", err)
				}
			}
			reads(t, n, 1, 1)
			if err := n.svc.Start(t.Context()); err == nil {
				t.Error("Start after Close succeeded")
			}
		})
		t.Run("context ended", func(t *testing.T) {
			n := e.node(t, false, nil)
			ctx, cancel := context.WithCancel(t.Context())
			if err := n.svc.Start(ctx); err != nil {
				t.Fatal(err)
			}
			reads(t, n, 1, 0)
			cancel()
			if err := n.svc.Close(); err != nil { // waits for the listener to stop
				t.Fatalf("Close: %v", err)
			}
			reads(t, n, 1, 1)
		})
	})
}

// BenchmarkProfile reads one profile over and over, from the near cache and, without it, from the
// profile cache in the (in-memory) ephemeral store.
func BenchmarkProfile(b *testing.B) {
	e := newEnv(b, backends()[0], nil)
	a := e.create(b, nil)
	for _, bc := range []struct {
		name  string
		start bool
	}{
		{"near cache", true},
		{"ephemeral store", false},
	} {
		b.Run(bc.name, func(b *testing.B) {
			n := e.node(b, bc.start, nil)
			b.ReportAllocs()
			for b.Loop() {
				if _, err := n.svc.Profile(b.Context(), a.ID); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
