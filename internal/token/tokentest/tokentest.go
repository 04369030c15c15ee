// Package tokentest holds what tests of the token package and of its store adapters share: an
// in-memory KeyStore, the KeyStore contract every adapter must pass, and a settable clock.
package tokentest

import (
	"bytes"
	"context"
	"slices"
	"sync"
	"time"

	"github.com/gatehouse/gatehouse"
	"github.com/gatehouse/gatehouse/internal/token"
)

// MemoryKeyStore is an in-memory token.KeyStore for tests. It is safe for concurrent use.
type MemoryKeyStore struct {
	mu   sync.Mutex
	keys []token.StoredKey
}

var _ token.KeyStore = (*MemoryKeyStore)(nil)

// NewMemoryKeyStore returns an empty store.
func NewMemoryKeyStore() *MemoryKeyStore { return &MemoryKeyStore{} }

// ListKeys returns copies of every key.
func (s *MemoryKeyStore) ListKeys(ctx context.Context) ([]token.StoredKey, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]token.StoredKey, len(s.keys))
	for i, k := range s.keys {
		out[i] = clone(k)
	}
	return out, nil
}

// InsertKey adds a copy of k; ECONFLICT when its ID or Generation is taken.
func (s *MemoryKeyStore) InsertKey(ctx context.Context, k token.StoredKey) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, old := range s.keys {
		if old.ID == k.ID || old.Generation == k.Generation {
			return gatehouse.Errorf(gatehouse.ECONFLICT, "signing key %s (generation %d) already exists", k.ID, k.Generation)
		}
	}
	s.keys = append(s.keys, clone(k))
	return nil
}

// RetireKey sets the retirement and expiry of key id; ENOTFOUND when there is none.
func (s *MemoryKeyStore) RetireKey(ctx context.Context, id string, retiresAt, expiresAt time.Time) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for i := range s.keys {
		if s.keys[i].ID == id {
			s.keys[i].RetiresAt, s.keys[i].ExpiresAt = retiresAt, expiresAt
			return nil
		}
	}
	return gatehouse.Errorf(gatehouse.ENOTFOUND, "signing key %s not found", id)
}

// Update changes the stored key id in place with f, for tests that simulate tampering or a database
// edited behind the service's back. It reports whether the key existed.
func (s *MemoryKeyStore) Update(id string, f func(*token.StoredKey)) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i := range s.keys {
		if s.keys[i].ID == id {
			f(&s.keys[i])
			return true
		}
	}
	return false
}

func clone(k token.StoredKey) token.StoredKey {
	k.PublicKey = bytes.Clone(k.PublicKey)
	k.PrivateKey = bytes.Clone(k.PrivateKey)
	return k
}

// Clock is a settable clock for tests; its Now method fits the Now options. It is safe for concurrent
// use.
type Clock struct {
	mu  sync.Mutex
	now time.Time
}

// NewClock returns a clock stopped at t.
func NewClock(t time.Time) *Clock { return &Clock{now: t} }

// Now returns the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Advance moves the clock by d.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// Set moves the clock to t.
func (c *Clock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = t
}

// sortedByGeneration returns keys ordered by generation, for comparisons.
func sortedByGeneration(keys []token.StoredKey) []token.StoredKey {
	keys = slices.Clone(keys)
	slices.SortFunc(keys, func(a, b token.StoredKey) int {
		switch {
		case a.Generation < b.Generation:
			return -1
		case a.Generation > b.Generation:
			return 1
		}
		return 0
	})
	return keys
}
