package account

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse"
)

var nearEpoch = time.Date(2030, 6, 1, 12, 0, 0, 0, time.UTC)

func nearAccount(id, name string) *gatehouse.Account {
	return &gatehouse.Account{ID: id, Status: gatehouse.AccountActive, Roles: []string{"user"}, Name: name}
}

// TestNearCacheRefusesStaleStores interleaves a read (lookup, then store of what it read) with
// what may happen meanwhile: whenever that could make the read's answer stale, the store must not
// take it.
func TestNearCacheRefusesStaleStores(t *testing.T) {
	for _, tc := range []struct {
		name      string
		active    bool // the cache is active when the read begins
		meanwhile func(n *nearCache)
		stored    bool
	}{
		{"nothing", true, func(*nearCache) {}, true},
		{"the entry dropped", true, func(n *nearCache) { n.drop("a") }, false},
		{"the entry dropped twice", true, func(n *nearCache) { n.drop("a"); n.drop("a") }, false},
		{"the cache deactivated", true, (*nearCache).deactivate, false},
		{"the cache deactivated and activated again", true, func(n *nearCache) { n.deactivate(); n.activate() }, false},
		{"not active", false, func(*nearCache) {}, false},
		{"activated during a read begun before", false, (*nearCache).activate, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n := newNearCache(time.Second, 100)
			if tc.active {
				n.activate()
			}
			if _, _, ok := n.lookup("a", nearEpoch); ok {
				t.Fatal("hit in an empty cache")
			}
			_, epoch, _ := n.lookup("a", nearEpoch)
			tc.meanwhile(n)
			n.store(nearAccount("a", "old"), epoch, nearEpoch)
			got, _, ok := n.lookup("a", nearEpoch)
			if ok != tc.stored {
				t.Fatalf("stored = %t, want %t", ok, tc.stored)
			}
			if ok && got.Name != "old" {
				t.Errorf("Name = %q", got.Name)
			}
			// A read that begins after the events stores its answer whenever the cache is active.
			_, epoch, _ = n.lookup("a", nearEpoch)
			n.store(nearAccount("a", "new"), epoch, nearEpoch)
			if got, _, ok := n.lookup("a", nearEpoch); ok != n.active.Load() || (ok && got.Name != "new") {
				t.Errorf("fresh read: %+v, %t (active %t)", got, ok, n.active.Load())
			}
		})
	}
}

func TestNearCacheExpiryAndCopies(t *testing.T) {
	n := newNearCache(time.Second, 100)
	n.activate()
	_, epoch, _ := n.lookup("a", nearEpoch)
	src := nearAccount("a", "Bob")
	src.PasswordHash = "$argon2id$secret"
	n.store(src, epoch, nearEpoch)
	src.Roles[0] = "admin" // the caller's account is not the entry

	got, _, ok := n.lookup("a", nearEpoch.Add(time.Second-time.Nanosecond))
	if !ok || got.Roles[0] != "user" || got.PasswordHash != "" {
		t.Fatalf("lookup = %+v, %t", got, ok)
	}
	got.Roles[0], got.Name = "admin", "Mallory" // nor is what a reader gets
	if again, _, _ := n.lookup("a", nearEpoch); again.Roles[0] != "user" || again.Name != "Bob" {
		t.Errorf("a reader changed the entry: %+v", again)
	}
	if _, _, ok := n.lookup("a", nearEpoch.Add(time.Second)); ok {
		t.Error("hit at the TTL")
	}
}

func TestNearCacheSizeBound(t *testing.T) {
	const size = 64
	n := newNearCache(time.Minute, size)
	n.activate()
	for i := range 1000 {
		id := fmt.Sprint("account-", i)
		now := nearEpoch.Add(time.Duration(i) * time.Millisecond)
		_, epoch, _ := n.lookup(id, now)
		n.store(nearAccount(id, "x"), epoch, now)
		if got := n.len(); got > size {
			t.Fatalf("after %d stores: %d entries, want at most %d", i+1, got, size)
		}
		if _, _, ok := n.lookup(id, now); !ok {
			t.Fatalf("the entry just stored (%s) is missing", id)
		}
	}
	if got := n.len(); got < size/2 {
		t.Errorf("%d entries left of %d: eviction removes too much", got, size)
	}
}

// TestNearCacheConcurrent runs reads, stores and drops together for the race detector, then checks
// that a read begun after the last drop of every account finds nothing older than that drop.
func TestNearCacheConcurrent(t *testing.T) {
	n := newNearCache(time.Minute, 1000)
	n.activate()
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 2000 {
				id := fmt.Sprint("account-", i%50)
				a, epoch, ok := n.lookup(id, nearEpoch)
				if ok {
					a.Roles = append(a.Roles, "mutated")
				}
				if (i+g)%7 == 0 {
					n.drop(id)
					continue
				}
				n.store(nearAccount(id, "old"), epoch, nearEpoch)
			}
		})
	}
	wg.Wait()
	for i := range 50 {
		id := fmt.Sprint("account-", i)
		n.drop(id)
		if _, _, ok := n.lookup(id, nearEpoch); ok {
			t.Fatalf("%s found after its drop", id)
		}
		_, epoch, _ := n.lookup(id, nearEpoch)
		n.store(nearAccount(id, "new"), epoch, nearEpoch)
		if a, _, ok := n.lookup(id, nearEpoch); !ok || a.Name != "new" || len(a.Roles) != 1 {
			t.Errorf("%s = %+v, %t", id, a, ok)
		}
	}
}
