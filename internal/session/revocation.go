package session

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"hash/maphash"
	"log/slog"
	"sync"
	"time"

	"github.com/gatehouse/gatehouse/internal/cachemap"
	"github.com/gatehouse/gatehouse/internal/ephemeral"
)

// RevocationChannel is the ephemeral pub/sub channel on which a revoked session's id is announced.
const RevocationChannel = "session-revocations"

// revokedKey names a session's entry in the revocation set. A key per session (rather than one set)
// expires on its own once every access token of the session has.
func revokedKey(sessionID string) string { return "revoked-session:" + sessionID }

// markRevoked puts the sessions in the revocation set, for as long as an access token issued before
// now can live, then announces them so that every node's RevocationChecker drops its cached answer
// at once. The announcement is a hint: a node that misses it sees the revocation when its cache
// entry expires.
func (s *Service) markRevoked(ctx context.Context, sessionIDs ...string) error {
	for _, id := range sessionIDs {
		if err := s.eph.Set(ctx, revokedKey(id), []byte("1"), s.revokeTTL); err != nil {
			return ephemeralErr(fmt.Sprintf("add session %s to the revocation set", id), err)
		}
	}
	for _, id := range sessionIDs {
		if err := s.eph.Publish(ctx, RevocationChannel, []byte(id)); err != nil {
			s.log.WarnContext(ctx, "session: revocation not announced; other nodes see it when their cached answer expires",
				slog.String("session_id", id), slog.Any("err", err))
		}
	}
	return nil
}

// Revocation cache defaults and bounds.
const (
	// MaxCacheTTL bounds CheckerOptions.CacheTTL: a revocation must be seen everywhere within a
	// second even when its announcement is lost.
	MaxCacheTTL      = time.Second
	DefaultCacheTTL  = time.Second
	DefaultCacheSize = 1 << 16
	checkerShards    = 64
)

// CheckerOptions configures a RevocationChecker.
type CheckerOptions struct {
	// CacheTTL is how long an answer is reused; default and maximum MaxCacheTTL.
	CacheTTL time.Duration
	// CacheSize bounds the number of cached answers; default DefaultCacheSize.
	CacheSize int
	Now       func() time.Time // default time.Now
	Logger    *slog.Logger
}

// RevocationChecker answers, for every authenticated request, whether the access token's session
// was revoked. It keeps each answer for at most CacheTTL in a small sharded cache, so the common
// request costs no database query and usually no round trip to the ephemeral store; revocation
// announcements (see Start) mark the session revoked in the cache as soon as they arrive. It is safe
// for concurrent use.
type RevocationChecker struct {
	eph      ephemeral.Store
	ttl      time.Duration
	perShard int
	now      func() time.Time
	log      *slog.Logger
	seed     maphash.Seed
	shards   [checkerShards]checkerShard

	follower ephemeral.Follower
}

type checkerShard struct {
	mu sync.RWMutex
	// epoch counts the announcements that reached this shard: a lookup that began before one
	// arrived must not overwrite what it said.
	epoch uint64
	m     map[string]checkerEntry
}

type checkerEntry struct {
	revoked bool
	expires time.Time
}

// NewRevocationChecker returns a checker reading the revocation set in eph. Call Start to follow the
// announcements; without them, a revocation is seen when the cached answer expires.
func NewRevocationChecker(eph ephemeral.Store, opts CheckerOptions) *RevocationChecker {
	ttl := cmp.Or(opts.CacheTTL, DefaultCacheTTL)
	if ttl < 0 || ttl > MaxCacheTTL {
		ttl = MaxCacheTTL
	}
	c := &RevocationChecker{
		eph:      eph,
		ttl:      ttl,
		perShard: max(cmp.Or(opts.CacheSize, DefaultCacheSize)/checkerShards, 1),
		now:      opts.Now,
		log:      cmp.Or(opts.Logger, slog.New(slog.DiscardHandler)),
		seed:     maphash.MakeSeed(),
	}
	if c.now == nil {
		c.now = time.Now
	}
	for i := range c.shards {
		c.shards[i].m = make(map[string]checkerEntry)
	}
	return c
}

// Start subscribes to the revocation announcements and applies them until ctx ends or Close is
// called. The subscription is active when Start returns.
func (c *RevocationChecker) Start(ctx context.Context) error {
	err := c.follower.Start(ctx, c.eph, ephemeral.Follow{
		Channel: RevocationChannel,
		Apply:   func(msg []byte) { c.announced(string(msg)) },
	})
	switch {
	case errors.Is(err, ephemeral.ErrFollowerStarted), errors.Is(err, ephemeral.ErrFollowerClosed):
		return fmt.Errorf("revocation checker: start: %w", err)
	case err != nil:
		return ephemeralErr("revocation checker: subscribe", err)
	}
	return nil
}

// announced records that the session was revoked.
func (c *RevocationChecker) announced(sessionID string) {
	if sessionID == "" {
		return
	}
	now := c.now()
	sh := c.shard(sessionID)
	sh.mu.Lock()
	sh.epoch++
	sh.put(sessionID, checkerEntry{revoked: true, expires: now.Add(c.ttl)}, now, c.perShard)
	sh.mu.Unlock()
}

// Close stops following the announcements. IsRevoked keeps working (on cache expiry only).
func (c *RevocationChecker) Close() error {
	if err := c.follower.Close(); err != nil {
		return fmt.Errorf("revocation checker: close subscription: %w", err)
	}
	return nil
}

// IsRevoked reports whether the session was revoked. When the ephemeral store cannot answer (and
// no fresh answer is cached) it returns the error, EUNAVAILABLE when the store is unreachable: the
// caller must then refuse the request (fail closed).
func (c *RevocationChecker) IsRevoked(ctx context.Context, sessionID string) (bool, error) {
	if sessionID == "" {
		return false, errors.New("revocation check: empty session id")
	}
	now := c.now()
	sh := c.shard(sessionID)
	sh.mu.RLock()
	e, ok := sh.m[sessionID]
	epoch := sh.epoch
	sh.mu.RUnlock()
	if ok && now.Before(e.expires) {
		return e.revoked, nil
	}

	_, err := c.eph.Get(ctx, revokedKey(sessionID))
	revoked := err == nil
	if err != nil && !errors.Is(err, ephemeral.ErrNotFound) {
		return false, ephemeralErr("revocation check", err)
	}
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if !revoked && sh.epoch != epoch {
		// An announcement arrived while we asked: if it was about this session, it is newer than
		// our answer.
		if e, ok := sh.m[sessionID]; ok && e.revoked && now.Before(e.expires) {
			return true, nil
		}
		return false, nil
	}
	sh.put(sessionID, checkerEntry{revoked: revoked, expires: now.Add(c.ttl)}, now, c.perShard)
	return revoked, nil
}

func (c *RevocationChecker) shard(sessionID string) *checkerShard {
	return &c.shards[maphash.String(c.seed, sessionID)%checkerShards]
}

// put stores an entry, first making room if the shard is full (cachemap.MakeRoom).
func (sh *checkerShard) put(id string, e checkerEntry, now time.Time, limit int) {
	if _, ok := sh.m[id]; !ok {
		cachemap.MakeRoom(sh.m, limit, func(v checkerEntry) bool { return !now.Before(v.expires) })
	}
	sh.m[id] = e
}
