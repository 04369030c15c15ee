package token

import (
	"sync"
	"time"
)

// verifiedCache remembers tokens that passed verification, keyed by the SHA-256 of the token string,
// so that a client presenting the same token again costs a hash and a map lookup instead of a
// signature check. Only successes are stored, a hit is re-checked for time and for its key still being
// in the key set, and entries are dropped at expiry. The size is bounded: a full shard first sweeps
// expired entries (only when one can have expired), then evicts an arbitrary entry.
type verifiedCache struct {
	shards   [cacheShards]cacheShard
	perShard int
}

const cacheShards = 16

type cacheShard struct {
	mu      sync.RWMutex
	entries map[[32]byte]cacheEntry
	// nextExpiry is the earliest dropAt among entries: no sweep is useful before it.
	nextExpiry time.Time
}

type cacheEntry struct {
	claims *AccessClaims // never handed out: Verify returns clones
	dropAt time.Time
}

func newVerifiedCache(size int) *verifiedCache {
	c := &verifiedCache{perShard: max(1, (size+cacheShards-1)/cacheShards)}
	for i := range c.shards {
		c.shards[i].entries = make(map[[32]byte]cacheEntry)
	}
	return c
}

func (c *verifiedCache) shard(sum [32]byte) *cacheShard { return &c.shards[sum[0]%cacheShards] }

func (c *verifiedCache) get(sum [32]byte, now time.Time) *AccessClaims {
	s := c.shard(sum)
	s.mu.RLock()
	e, ok := s.entries[sum]
	s.mu.RUnlock()
	if !ok || !now.Before(e.dropAt) {
		return nil
	}
	return e.claims
}

func (c *verifiedCache) put(sum [32]byte, claims *AccessClaims, dropAt, now time.Time) {
	s := c.shard(sum)
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.entries[sum]; !ok && len(s.entries) >= c.perShard {
		if !now.Before(s.nextExpiry) {
			s.sweep(now)
		}
		for k := range s.entries {
			if len(s.entries) < c.perShard {
				break
			}
			delete(s.entries, k)
		}
	}
	s.entries[sum] = cacheEntry{claims: claims, dropAt: dropAt}
	if s.nextExpiry.IsZero() || dropAt.Before(s.nextExpiry) {
		s.nextExpiry = dropAt
	}
}

// sweep drops expired entries and recomputes nextExpiry. The caller holds the lock.
func (s *cacheShard) sweep(now time.Time) {
	s.nextExpiry = time.Time{}
	for k, e := range s.entries {
		if !now.Before(e.dropAt) {
			delete(s.entries, k)
			continue
		}
		if s.nextExpiry.IsZero() || e.dropAt.Before(s.nextExpiry) {
			s.nextExpiry = e.dropAt
		}
	}
}

func (c *verifiedCache) len() int {
	n := 0
	for i := range c.shards {
		s := &c.shards[i]
		s.mu.RLock()
		n += len(s.entries)
		s.mu.RUnlock()
	}
	return n
}
