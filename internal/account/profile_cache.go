package account

import (
	"context"
	"errors"
	"fmt"
	"hash/maphash"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gatehouse/gatehouse"
	"github.com/gatehouse/gatehouse/internal/cachemap"
	"github.com/gatehouse/gatehouse/internal/ephemeral"
)

// The near cache keeps profiles in process for at most Options.LocalProfileTTL, in front of the
// profile cache in the ephemeral store, so that the common authenticated read of an account costs no
// round trip at all. Every invalidation is announced on ProfileInvalidationChannel and each started
// Service drops its entry when the announcement arrives. Announcements are best effort (a node that
// is reconnecting misses them), so the local TTL bounds how long a node can answer with a profile
// changed elsewhere; the node that made the change drops its own entry at once.
//
// The near cache answers only while the Service follows the announcements (see Start): a Service
// that is not started, or whose subscription has ended, reads the ephemeral store every time rather
// than risk serving what it was never told had changed.

// ProfileInvalidationChannel is the ephemeral pub/sub channel on which the id of an account whose
// profile changed is announced.
const ProfileInvalidationChannel = "account-invalidations"

// DefaultLocalProfileTTL is the default of Options.LocalProfileTTL.
const DefaultLocalProfileTTL = time.Second

const (
	// localProfileCacheSize bounds the near cache. Each entry is a small profile; at 10,000 entries
	// the cache stays within a few MiB while holding every account active within a second on a busy
	// node.
	localProfileCacheSize = 10_000
	nearShards            = 16
)

// nearCache is the in-process profile cache. Entries hold the public form of an account (no
// password hash) and are never handed out: readers get copies, so that no caller can change what
// the next one reads.
type nearCache struct {
	ttl      time.Duration
	perShard int
	seed     maphash.Seed
	// active is set while the subscription to the announcements is live; lookups miss and stores are
	// ignored otherwise.
	active atomic.Bool
	shards [nearShards]nearShard
	// applied, when set (by tests, before Start), is called after each announcement has been applied.
	applied func(accountID string)

	follower ephemeral.Follower
}

type nearShard struct {
	mu sync.RWMutex
	// epoch counts the drops in this shard (and the resets of the whole cache): a read that began
	// before one must not store its answer, which may be older than the change that caused the drop.
	epoch uint64
	m     map[string]nearEntry
}

type nearEntry struct {
	account *gatehouse.Account
	expires time.Time
}

func newNearCache(ttl time.Duration, size int) *nearCache {
	n := &nearCache{ttl: ttl, perShard: max(size/nearShards, 1), seed: maphash.MakeSeed()}
	for i := range n.shards {
		n.shards[i].m = make(map[string]nearEntry)
	}
	return n
}

func (n *nearCache) shard(accountID string) *nearShard {
	return &n.shards[maphash.String(n.seed, accountID)%nearShards]
}

// lookup returns a copy of the cached profile when the cache is active and holds a fresh one. It
// always returns the shard's epoch, which the caller passes to store with what it then reads.
func (n *nearCache) lookup(accountID string, now time.Time) (_ *gatehouse.Account, epoch uint64, ok bool) {
	sh := n.shard(accountID)
	sh.mu.RLock()
	e, found := sh.m[accountID]
	epoch = sh.epoch
	sh.mu.RUnlock()
	if !found || !n.active.Load() || !now.Before(e.expires) {
		return nil, epoch, false
	}
	return public(e.account), epoch, true
}

// store keeps a copy of a, read since lookup returned epoch at time now, unless the entry was dropped
// (or the cache reset) meanwhile or the cache is not active.
func (n *nearCache) store(a *gatehouse.Account, epoch uint64, now time.Time) {
	sh := n.shard(a.ID)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if sh.epoch != epoch || !n.active.Load() {
		return
	}
	if _, ok := sh.m[a.ID]; !ok {
		cachemap.MakeRoom(sh.m, n.perShard, func(e nearEntry) bool { return !now.Before(e.expires) })
	}
	sh.m[a.ID] = nearEntry{account: public(a), expires: now.Add(n.ttl)}
}

// drop forgets the account's entry and fails the stores of the reads in flight in its shard.
func (n *nearCache) drop(accountID string) {
	sh := n.shard(accountID)
	sh.mu.Lock()
	sh.epoch++
	delete(sh.m, accountID)
	sh.mu.Unlock()
}

// reset empties the cache and fails every store in flight.
func (n *nearCache) reset() {
	for i := range n.shards {
		sh := &n.shards[i]
		sh.mu.Lock()
		sh.epoch++
		clear(sh.m)
		sh.mu.Unlock()
	}
}

// activate lets the cache answer. It starts empty: nothing read before the subscription was live
// can be trusted, since its invalidation may have gone unheard.
func (n *nearCache) activate() {
	n.reset()
	n.active.Store(true)
}

// deactivate stops the cache from answering and empties it.
func (n *nearCache) deactivate() {
	n.active.Store(false)
	n.reset()
}

// len counts the entries, expired or not.
func (n *nearCache) len() int {
	total := 0
	for i := range n.shards {
		sh := &n.shards[i]
		sh.mu.RLock()
		total += len(sh.m)
		sh.mu.RUnlock()
	}
	return total
}

// Start subscribes to the profile invalidations that every node announces and applies them until
// ctx ends or Close is called; meanwhile Profile answers from the near cache when it can. The
// subscription is active when Start returns. A Service that is never started reads the ephemeral
// store for every profile, which is how to run without the near cache.
func (s *Service) Start(ctx context.Context) error {
	n := s.near
	err := n.follower.Start(ctx, s.eph, ephemeral.Follow{
		Channel: ProfileInvalidationChannel,
		Apply: func(msg []byte) {
			if id := string(msg); id != "" {
				n.drop(id)
				if n.applied != nil {
					n.applied(id)
				}
			}
		},
		Ready: n.activate,
		Ended: n.deactivate,
		Lost: func() {
			// The ephemeral store was closed under the Service (a lost connection does not end the
			// subscription: the store reconnects by itself).
			s.log.Warn("profile cache: invalidation subscription ended; reading the ephemeral store from now on")
		},
	})
	switch {
	case errors.Is(err, ephemeral.ErrFollowerStarted), errors.Is(err, ephemeral.ErrFollowerClosed):
		return fmt.Errorf("account: start the profile near cache: %w", err)
	case err != nil:
		return fail("subscribe to profile invalidations", err)
	}
	return nil
}

// Close stops following the profile invalidations; Profile then reads the ephemeral store every
// time. It may be called more than once.
func (s *Service) Close() error {
	if err := s.near.follower.Close(); err != nil {
		return fmt.Errorf("account: close the profile invalidation subscription: %w", err)
	}
	return nil
}

// announceInvalidation tells every node to drop its near cache entry of the account. It is a hint:
// a node that misses it drops the entry when it expires.
func (s *Service) announceInvalidation(ctx context.Context, accountID string) {
	if err := s.eph.Publish(ctx, ProfileInvalidationChannel, []byte(accountID)); err != nil {
		s.log.WarnContext(ctx, "profile cache: invalidation not announced; other nodes see the change when their entry expires",
			slog.String("account_id", accountID), slog.Any("err", err))
	}
}
