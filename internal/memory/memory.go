// Package memory keeps the ephemeral state of a single node in its own process: values, counters and
// sets with a time to live, and publish/subscribe between the goroutines of that process. It is the
// ephemeral.Store of the embedded default and passes the same contract suite as internal/redis.
//
// Keys live in a fixed number of shards, each a map behind its own mutex, so that unrelated keys do
// not contend. Expiry is judged with the injected clock: an expired key is removed when it is next
// touched, and a sweeper goroutine (stopped by Close) removes the ones nobody touches again.
//
// Publish never blocks: each subscription has a buffer of SubscriptionBuffer messages, and a message
// that finds the buffer full is dropped for that subscriber and counted (see Dropped). That matches
// the Redis store, where a slow subscriber also loses messages rather than slowing publishers.
package memory

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"hash/maphash"
	"math"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gatehouse/gatehouse/internal/ephemeral"
)

// SubscriptionBuffer is how many undelivered messages a subscription holds before it drops new ones.
const SubscriptionBuffer = 1024

const (
	// shardCount spreads keys over enough mutexes that a busy node's cores rarely meet on one.
	shardCount = 64
	// sweepInterval bounds how long an expired key nobody reads keeps its memory.
	sweepInterval = 30 * time.Second
)

var (
	errClosed     = fmt.Errorf("memory: store closed: %w", ephemeral.ErrUnavailable)
	errWrongKind  = errors.New("operation against a key holding the wrong kind of value")
	errNotInteger = errors.New("value is not an integer or out of range")
	errOverflow   = errors.New("increment would overflow")
	errTTL        = errors.New("ttl must be positive")
)

var _ ephemeral.Store = (*Store)(nil)

// kind says which field of an entry holds its value.
type kind uint8

const (
	kindBytes kind = iota
	kindInt
	kindSet
)

type entry struct {
	kind    kind
	b       []byte
	n       int64
	set     map[string]struct{}
	expires time.Time
}

type shard struct {
	mu sync.Mutex
	m  map[string]entry
}

// Store is an in-process ephemeral.Store. The zero value is not usable; call New.
type Store struct {
	now    func() time.Time
	seed   maphash.Seed
	shards [shardCount]shard

	closed    atomic.Bool
	closeOnce sync.Once
	stop      chan struct{}
	swept     chan struct{}

	psMu    sync.RWMutex
	subs    map[string]map[*subscription]struct{}
	dropped atomic.Uint64
}

// New returns an empty store that judges expiry with now (time.Now when nil) and starts its sweeper.
func New(now func() time.Time) *Store {
	if now == nil {
		now = time.Now
	}
	s := &Store{
		now:   now,
		seed:  maphash.MakeSeed(),
		stop:  make(chan struct{}),
		swept: make(chan struct{}),
		subs:  make(map[string]map[*subscription]struct{}),
	}
	for i := range s.shards {
		s.shards[i].m = make(map[string]entry)
	}
	go s.sweepLoop()
	return s
}

func (s *Store) sweepLoop() {
	defer close(s.swept)
	t := time.NewTicker(sweepInterval)
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-t.C:
			s.Sweep()
		}
	}
}

// Sweep removes every expired key now and returns how many it removed. The sweeper calls it
// periodically; tests call it directly.
func (s *Store) Sweep() int {
	now := s.now()
	removed := 0
	for i := range s.shards {
		sh := &s.shards[i]
		sh.mu.Lock()
		for k, e := range sh.m {
			if !now.Before(e.expires) {
				delete(sh.m, k)
				removed++
			}
		}
		sh.mu.Unlock()
	}
	return removed
}

// Dropped returns how many messages were dropped, over all subscriptions, because a subscriber's
// buffer was full.
func (s *Store) Dropped() uint64 { return s.dropped.Load() }

func (s *Store) shard(key string) *shard {
	return &s.shards[maphash.String(s.seed, key)%shardCount]
}

// begin checks what every operation checks first and returns the current time.
func (s *Store) begin(ctx context.Context, op string) (time.Time, error) {
	if err := ctx.Err(); err != nil {
		return time.Time{}, fmt.Errorf("memory: %s: %w", op, err)
	}
	if s.closed.Load() {
		return time.Time{}, fmt.Errorf("%s: %w", op, errClosed)
	}
	return s.now(), nil
}

// live returns the entry under key if it has not expired, removing it if it has. The shard's mutex
// must be held.
func (sh *shard) live(key string, now time.Time) (entry, bool) {
	e, ok := sh.m[key]
	if !ok {
		return entry{}, false
	}
	if !now.Before(e.expires) {
		delete(sh.m, key)
		return entry{}, false
	}
	return e, true
}

func checkTTL(op string, ttl time.Duration) error {
	if ttl <= 0 {
		return fmt.Errorf("memory: %s: %w (got %s)", op, errTTL, ttl)
	}
	return nil
}

func opErr(op string, err error) error { return fmt.Errorf("memory: %s: %w", op, err) }

// Set implements ephemeral.Store.
func (s *Store) Set(ctx context.Context, key string, value []byte, ttl time.Duration) error {
	if err := checkTTL("set", ttl); err != nil {
		return err
	}
	now, err := s.begin(ctx, "set")
	if err != nil {
		return err
	}
	e := entry{kind: kindBytes, b: bytes.Clone(value), expires: now.Add(ttl)}
	sh := s.shard(key)
	sh.mu.Lock()
	sh.m[key] = e
	sh.mu.Unlock()
	return nil
}

// SetNX implements ephemeral.Store.
func (s *Store) SetNX(ctx context.Context, key string, value []byte, ttl time.Duration) (bool, error) {
	if err := checkTTL("setnx", ttl); err != nil {
		return false, err
	}
	now, err := s.begin(ctx, "setnx")
	if err != nil {
		return false, err
	}
	sh := s.shard(key)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if _, ok := sh.live(key, now); ok {
		return false, nil
	}
	sh.m[key] = entry{kind: kindBytes, b: bytes.Clone(value), expires: now.Add(ttl)}
	return true, nil
}

// Get implements ephemeral.Store.
func (s *Store) Get(ctx context.Context, key string) ([]byte, error) {
	now, err := s.begin(ctx, "get")
	if err != nil {
		return nil, err
	}
	sh := s.shard(key)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	e, ok := sh.live(key, now)
	if !ok {
		return nil, opErr("get", ephemeral.ErrNotFound)
	}
	return e.bytes("get")
}

// bytes returns the entry's value as Get sees it, as a fresh slice.
func (e entry) bytes(op string) ([]byte, error) {
	switch e.kind {
	case kindBytes:
		return append([]byte{}, e.b...), nil
	case kindInt:
		return strconv.AppendInt(nil, e.n, 10), nil
	default:
		return nil, opErr(op, errWrongKind)
	}
}

// Delete implements ephemeral.Store.
func (s *Store) Delete(ctx context.Context, keys ...string) error {
	if _, err := s.begin(ctx, "delete"); err != nil {
		return err
	}
	for _, key := range keys {
		sh := s.shard(key)
		sh.mu.Lock()
		delete(sh.m, key)
		sh.mu.Unlock()
	}
	return nil
}

// DeleteIfEqual implements ephemeral.Store.
func (s *Store) DeleteIfEqual(ctx context.Context, key string, want []byte) (bool, error) {
	now, err := s.begin(ctx, "delete if equal")
	if err != nil {
		return false, err
	}
	sh := s.shard(key)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	e, ok := sh.live(key, now)
	if !ok {
		return false, nil
	}
	have, err := e.bytes("delete if equal")
	if err != nil {
		return false, err
	}
	if !bytes.Equal(have, want) {
		return false, nil
	}
	delete(sh.m, key)
	return true, nil
}

// Incr implements ephemeral.Store.
func (s *Store) Incr(ctx context.Context, key string, delta int64, ttl time.Duration) (int64, error) {
	if err := checkTTL("incr", ttl); err != nil {
		return 0, err
	}
	now, err := s.begin(ctx, "incr")
	if err != nil {
		return 0, err
	}
	sh := s.shard(key)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	e, ok := sh.live(key, now)
	if !ok {
		sh.m[key] = entry{kind: kindInt, n: delta, expires: now.Add(ttl)}
		return delta, nil
	}
	var n int64
	switch e.kind {
	case kindInt:
		n = e.n
	case kindBytes:
		if n, ok = parseCanonicalInt(e.b); !ok {
			return 0, opErr("incr", errNotInteger)
		}
	default:
		return 0, opErr("incr", errWrongKind)
	}
	if (delta > 0 && n > math.MaxInt64-delta) || (delta < 0 && n < math.MinInt64-delta) {
		return 0, opErr("incr", errOverflow)
	}
	n += delta
	sh.m[key] = entry{kind: kindInt, n: n, expires: e.expires}
	return n, nil
}

// parseCanonicalInt accepts exactly the texts Redis's INCRBY accepts: the canonical decimal form of
// an int64, with no sign other than a leading minus, no leading zeros and no spaces.
func parseCanonicalInt(b []byte) (int64, bool) {
	n, err := strconv.ParseInt(string(b), 10, 64)
	if err != nil || strconv.FormatInt(n, 10) != string(b) {
		return 0, false
	}
	return n, true
}

// TTL implements ephemeral.Store.
func (s *Store) TTL(ctx context.Context, key string) (time.Duration, error) {
	now, err := s.begin(ctx, "ttl")
	if err != nil {
		return 0, err
	}
	sh := s.shard(key)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	e, ok := sh.live(key, now)
	if !ok {
		return 0, opErr("ttl", ephemeral.ErrNotFound)
	}
	return e.expires.Sub(now), nil
}

// SetAdd implements ephemeral.Store.
func (s *Store) SetAdd(ctx context.Context, key string, ttl time.Duration, members ...string) error {
	if err := checkTTL("set add", ttl); err != nil {
		return err
	}
	now, err := s.begin(ctx, "set add")
	if err != nil {
		return err
	}
	sh := s.shard(key)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	e, ok := sh.live(key, now)
	switch {
	case !ok && len(members) == 0:
		return nil
	case !ok:
		e = entry{kind: kindSet, set: make(map[string]struct{}, len(members))}
	case e.kind != kindSet:
		return opErr("set add", errWrongKind)
	}
	for _, m := range members {
		e.set[m] = struct{}{}
	}
	e.expires = now.Add(ttl)
	sh.m[key] = e
	return nil
}

// SetRemove implements ephemeral.Store.
func (s *Store) SetRemove(ctx context.Context, key string, members ...string) error {
	now, err := s.begin(ctx, "set remove")
	if err != nil {
		return err
	}
	sh := s.shard(key)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	e, ok := sh.live(key, now)
	if !ok {
		return nil
	}
	if e.kind != kindSet {
		return opErr("set remove", errWrongKind)
	}
	for _, m := range members {
		delete(e.set, m)
	}
	if len(e.set) == 0 {
		delete(sh.m, key)
	}
	return nil
}

// SetIsMember implements ephemeral.Store.
func (s *Store) SetIsMember(ctx context.Context, key, member string) (bool, error) {
	now, err := s.begin(ctx, "set is member")
	if err != nil {
		return false, err
	}
	sh := s.shard(key)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	e, ok := sh.live(key, now)
	if !ok {
		return false, nil
	}
	if e.kind != kindSet {
		return false, opErr("set is member", errWrongKind)
	}
	_, ok = e.set[member]
	return ok, nil
}

// SetMembers implements ephemeral.Store.
func (s *Store) SetMembers(ctx context.Context, key string) ([]string, error) {
	now, err := s.begin(ctx, "set members")
	if err != nil {
		return nil, err
	}
	sh := s.shard(key)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	e, ok := sh.live(key, now)
	if !ok {
		return []string{}, nil
	}
	if e.kind != kindSet {
		return nil, opErr("set members", errWrongKind)
	}
	out := make([]string, 0, len(e.set))
	for m := range e.set {
		out = append(out, m)
	}
	return out, nil
}

// Publish implements ephemeral.Store. It never blocks; see the package comment.
func (s *Store) Publish(ctx context.Context, channel string, msg []byte) error {
	if _, err := s.begin(ctx, "publish"); err != nil {
		return err
	}
	s.psMu.RLock()
	defer s.psMu.RUnlock()
	for sub := range s.subs[channel] {
		select {
		case sub.ch <- append([]byte{}, msg...):
		default:
			sub.dropped.Add(1)
			s.dropped.Add(1)
		}
	}
	return nil
}

// Subscribe implements ephemeral.Store.
func (s *Store) Subscribe(ctx context.Context, channel string) (ephemeral.Subscription, error) {
	if _, err := s.begin(ctx, "subscribe"); err != nil {
		return nil, err
	}
	sub := &subscription{store: s, channel: channel, ch: make(chan []byte, SubscriptionBuffer)}
	s.psMu.Lock()
	defer s.psMu.Unlock()
	// Checked again under the lock so that Close, which closes subscriptions under it, cannot miss
	// this one.
	if s.closed.Load() {
		return nil, fmt.Errorf("subscribe: %w", errClosed)
	}
	if s.subs[channel] == nil {
		s.subs[channel] = make(map[*subscription]struct{})
	}
	s.subs[channel][sub] = struct{}{}
	return sub, nil
}

// Ping implements ephemeral.Store.
func (s *Store) Ping(ctx context.Context) error {
	_, err := s.begin(ctx, "ping")
	return err
}

// Close stops the sweeper and closes every open subscription. Later calls fail with
// ephemeral.ErrUnavailable.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		s.psMu.Lock()
		s.closed.Store(true)
		for _, subs := range s.subs {
			for sub := range subs {
				sub.closeLocked()
			}
		}
		clear(s.subs)
		s.psMu.Unlock()
		close(s.stop)
		<-s.swept
	})
	return nil
}

type subscription struct {
	store   *Store
	channel string
	ch      chan []byte
	closed  bool // guarded by store.psMu
	dropped atomic.Uint64
}

func (sub *subscription) Messages() <-chan []byte { return sub.ch }

// Dropped returns how many messages this subscription lost because its buffer was full.
func (sub *subscription) Dropped() uint64 { return sub.dropped.Load() }

func (sub *subscription) Close() error {
	s := sub.store
	s.psMu.Lock()
	defer s.psMu.Unlock()
	if sub.closed {
		return nil
	}
	sub.closeLocked()
	if subs := s.subs[sub.channel]; subs != nil {
		delete(subs, sub)
		if len(subs) == 0 {
			delete(s.subs, sub.channel)
		}
	}
	return nil
}

// closeLocked closes the channel once; store.psMu must be held for writing, which also guarantees no
// Publish is sending on it.
func (sub *subscription) closeLocked() {
	if !sub.closed {
		sub.closed = true
		close(sub.ch)
	}
}
