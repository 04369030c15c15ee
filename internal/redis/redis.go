// Package redis implements ephemeral.Store on Redis, so that every node of a deployment shares one-time
// codes, rate counters, revocations and notifications. It passes the same contract suite as
// internal/memory.
//
// # URLs
//
// One URL chooses the deployment:
//
//	redis://[user:password@]host[:port][/db][?options]      one server (port 6379, db 0 by default)
//	rediss://...                                             the same over TLS
//	unix://[user:password@]/path/to/socket[?db=N]            one server on a Unix socket
//	redis-sentinel://[user:password@]host1[:port],host2[:port]/master[/db][?options]
//	rediss-sentinel://...                                    Sentinel, TLS to Sentinels and master
//	redis-cluster://[user:password@]host1[:port],host2[:port][?options]
//	rediss-cluster://...                                     Cluster over TLS
//
// In the Sentinel form the user and password are the master's (and its replicas'); Sentinels that
// want their own credentials get them from the sentinel_username and sentinel_password query
// parameters. Sentinel addresses default to port 26379, cluster nodes to 6379. Every other query
// parameter is a go-redis option in snake case (dial_timeout=2s, read_timeout=500ms, pool_size=50,
// max_retries=2, skip_verify=true, ...); unknown ones are an error. Context deadlines always bound
// network waits.
//
// # Keys, atomicity and errors
//
// Every key and every pub/sub channel gets Options.KeyPrefix, so that several deployments (or test
// runs) share one Redis. Incr (INCRBY, then PEXPIRE only while the key has no expiry) and
// DeleteIfEqual (GET, compare, DEL) are Lua scripts, atomic and one round trip each, and so is
// Reserve (a whole ephemeral.Reservation: cooldown gate, counters, streak), except on a cluster,
// where its keys span slots and it runs step by step; SetAdd sends SADD and PEXPIRE in one MULTI. Expiry uses milliseconds (PX, PEXPIRE, PTTL); a TTL is rounded up to a
// whole millisecond. redis.Nil becomes ephemeral.ErrNotFound; an unreachable or failing server
// (network errors, timeouts, an exhausted pool, a closed client, LOADING, CLUSTERDOWN, MASTERDOWN,
// READONLY, TRYAGAIN, OOM, authentication refused, ...) gives errors that wrap ephemeral.ErrUnavailable.
//
// # Publish/subscribe
//
// Subscribe holds one connection per subscription, returns once Redis has confirmed the
// subscription, and copies messages into a buffer of SubscriptionBuffer messages. A message that finds
// the buffer full is dropped and counted (Store.Dropped), so a slow reader never makes Redis
// disconnect the subscriber. go-redis resubscribes after a lost connection; messages published
// meanwhile are lost, which is why subscribers treat messages as hints.
package redis

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/gatehouse/gatehouse/internal/ephemeral"
)

// SubscriptionBuffer is how many undelivered messages a subscription holds before it drops new ones.
const SubscriptionBuffer = 1024

// Options configures New.
type Options struct {
	// URL selects the server(s); see the package comment for the forms.
	URL string
	// KeyPrefix is put before every key and channel name, e.g. "gatehouse:".
	KeyPrefix string
	// Logger receives warnings about dropped pub/sub messages; nil discards them.
	Logger *slog.Logger
}

// incrScript adds ARGV[1] to KEYS[1] and, only if the key has no expiry (it has just been created),
// sets it to expire after ARGV[2] milliseconds.
const incrScript = `
local n = redis.call('INCRBY', KEYS[1], ARGV[1])
if redis.call('PTTL', KEYS[1]) == -1 then
	redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return n`

// deleteIfEqualScript deletes KEYS[1] if it holds exactly ARGV[1] and returns how many keys it deleted.
const deleteIfEqualScript = `
if redis.call('GET', KEYS[1]) == ARGV[1] then
	return redis.call('DEL', KEYS[1])
end
return 0`

var errTTL = errors.New("ttl must be positive")

var _ ephemeral.Store = (*Store)(nil)

// Store is an ephemeral.Store on Redis.
type Store struct {
	client goredis.UniversalClient
	prefix string
	log    *slog.Logger

	incr          *goredis.Script
	deleteIfEqual *goredis.Script
	reserve       *goredis.Script

	mu     sync.Mutex
	closed bool
	subs   map[*subscription]struct{}

	dropped atomic.Uint64
}

// connectTimeout bounds New's first ping when ctx allows longer: go-redis's own retries against
// unreachable Sentinels can otherwise take over half a minute.
const connectTimeout = 10 * time.Second

// New connects to the Redis that opts.URL names and checks that it answers, within ctx and at most
// connectTimeout. An unreachable server is an error that wraps ephemeral.ErrUnavailable and names the
// server (never the password).
func New(ctx context.Context, opts Options) (*Store, error) {
	cfg, err := parseURL(opts.URL)
	if err != nil {
		return nil, err
	}
	s := newStore(newClient(cfg), opts.KeyPrefix, opts.Logger)
	ctx, cancel := context.WithTimeout(ctx, connectTimeout)
	defer cancel()
	if err := s.client.Ping(ctx).Err(); err != nil {
		_ = s.client.Close()
		return nil, fmt.Errorf("redis: cannot reach %s: %w", cfg.where, translate("ping", err))
	}
	return s, nil
}

// newStore wraps a client that is already made; New checks it answers, tests may not.
func newStore(client goredis.UniversalClient, prefix string, log *slog.Logger) *Store {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Store{
		client:        client,
		prefix:        prefix,
		log:           log,
		incr:          goredis.NewScript(incrScript),
		deleteIfEqual: goredis.NewScript(deleteIfEqualScript),
		reserve:       goredis.NewScript(reserveScript),
		subs:          make(map[*subscription]struct{}),
	}
}

// Client returns the underlying go-redis client, for readiness checks and features beyond
// ephemeral.Store. Keys written through it do not get the store's prefix.
func (s *Store) Client() goredis.UniversalClient { return s.client }

// KeyPrefix returns the prefix the store puts before keys and channels.
func (s *Store) KeyPrefix() string { return s.prefix }

// Time returns the Redis server's clock (TIME), to compare with the local one.
func (s *Store) Time(ctx context.Context) (time.Time, error) {
	t, err := s.client.Time(ctx).Result()
	return t, translate("time", err)
}

// Dropped returns how many pub/sub messages were dropped, over all subscriptions, because a
// subscriber's buffer was full.
func (s *Store) Dropped() uint64 { return s.dropped.Load() }

func (s *Store) key(k string) string { return s.prefix + k }

// ms converts a TTL to whole milliseconds, rounding up so that no positive TTL becomes zero.
func ms(ttl time.Duration) int64 {
	return int64((ttl + time.Millisecond - 1) / time.Millisecond)
}

func checkTTL(op string, ttl time.Duration) error {
	if ttl <= 0 {
		return fmt.Errorf("redis: %s: %w (got %s)", op, errTTL, ttl)
	}
	return nil
}

// Set implements ephemeral.Store.
func (s *Store) Set(ctx context.Context, key string, value []byte, ttl time.Duration) error {
	if err := checkTTL("set", ttl); err != nil {
		return err
	}
	err := s.client.Set(ctx, s.key(key), value, time.Duration(ms(ttl))*time.Millisecond).Err()
	return translate("set", err)
}

// SetNX implements ephemeral.Store.
func (s *Store) SetNX(ctx context.Context, key string, value []byte, ttl time.Duration) (bool, error) {
	if err := checkTTL("setnx", ttl); err != nil {
		return false, err
	}
	ok, err := s.client.SetNX(ctx, s.key(key), value, time.Duration(ms(ttl))*time.Millisecond).Result()
	return ok, translate("setnx", err)
}

// Get implements ephemeral.Store.
func (s *Store) Get(ctx context.Context, key string) ([]byte, error) {
	v, err := s.client.Get(ctx, s.key(key)).Bytes()
	if err != nil {
		return nil, translate("get", err)
	}
	return v, nil
}

// Delete implements ephemeral.Store. Each key is its own DEL in one pipeline, because a cluster
// refuses one DEL of keys in different slots.
func (s *Store) Delete(ctx context.Context, keys ...string) error {
	switch len(keys) {
	case 0:
		return nil
	case 1:
		return translate("delete", s.client.Del(ctx, s.key(keys[0])).Err())
	}
	_, err := s.client.Pipelined(ctx, func(p goredis.Pipeliner) error {
		for _, k := range keys {
			p.Del(ctx, s.key(k))
		}
		return nil
	})
	return translate("delete", err)
}

// DeleteIfEqual implements ephemeral.Store.
func (s *Store) DeleteIfEqual(ctx context.Context, key string, want []byte) (bool, error) {
	n, err := s.deleteIfEqual.Run(ctx, s.client, []string{s.key(key)}, want).Int64()
	if err != nil {
		return false, translate("delete if equal", err)
	}
	return n == 1, nil
}

// Incr implements ephemeral.Store.
func (s *Store) Incr(ctx context.Context, key string, delta int64, ttl time.Duration) (int64, error) {
	if err := checkTTL("incr", ttl); err != nil {
		return 0, err
	}
	n, err := s.incr.Run(ctx, s.client, []string{s.key(key)}, delta, ms(ttl)).Int64()
	if err != nil {
		return 0, translate("incr", err)
	}
	return n, nil
}

// TTL implements ephemeral.Store.
func (s *Store) TTL(ctx context.Context, key string) (time.Duration, error) {
	d, err := s.client.PTTL(ctx, s.key(key)).Result()
	switch {
	case err != nil:
		return 0, translate("ttl", err)
	case d == -2: // go-redis passes PTTL's "no such key" through as -2ns
		return 0, fmt.Errorf("redis: ttl: %w", ephemeral.ErrNotFound)
	case d == -1: // a key gatehouse did not write: every TTL it sets is positive
		return 0, errors.New("redis: ttl: key has no expiry")
	}
	return d, nil
}

// SetAdd implements ephemeral.Store.
func (s *Store) SetAdd(ctx context.Context, key string, ttl time.Duration, members ...string) error {
	if err := checkTTL("set add", ttl); err != nil {
		return err
	}
	k := s.key(key)
	if len(members) == 0 {
		return translate("set add", s.client.PExpire(ctx, k, time.Duration(ms(ttl))*time.Millisecond).Err())
	}
	_, err := s.client.TxPipelined(ctx, func(p goredis.Pipeliner) error {
		p.SAdd(ctx, k, stringsToAny(members)...)
		p.PExpire(ctx, k, time.Duration(ms(ttl))*time.Millisecond)
		return nil
	})
	return translate("set add", err)
}

// SetRemove implements ephemeral.Store.
func (s *Store) SetRemove(ctx context.Context, key string, members ...string) error {
	if len(members) == 0 {
		// SREM needs a member; still report a key of the wrong kind, as SREM would.
		_, err := s.SetIsMember(ctx, key, "")
		return err
	}
	return translate("set remove", s.client.SRem(ctx, s.key(key), stringsToAny(members)...).Err())
}

// SetIsMember implements ephemeral.Store.
func (s *Store) SetIsMember(ctx context.Context, key, member string) (bool, error) {
	ok, err := s.client.SIsMember(ctx, s.key(key), member).Result()
	return ok, translate("set is member", err)
}

// SetMembers implements ephemeral.Store.
func (s *Store) SetMembers(ctx context.Context, key string) ([]string, error) {
	m, err := s.client.SMembers(ctx, s.key(key)).Result()
	if err != nil {
		return nil, translate("set members", err)
	}
	return m, nil
}

func stringsToAny(ss []string) []any {
	out := make([]any, len(ss))
	for i, s := range ss {
		out[i] = s
	}
	return out
}

// Publish implements ephemeral.Store.
func (s *Store) Publish(ctx context.Context, channel string, msg []byte) error {
	return translate("publish", s.client.Publish(ctx, s.key(channel), msg).Err())
}

// Subscribe implements ephemeral.Store.
func (s *Store) Subscribe(ctx context.Context, channel string) (ephemeral.Subscription, error) {
	s.mu.Lock()
	closed := s.closed
	s.mu.Unlock()
	if closed {
		return nil, translate("subscribe", goredis.ErrClosed)
	}
	ps := s.client.Subscribe(ctx, s.key(channel))
	// The first reply is the confirmation; once it has come, publishers reach this subscriber.
	if err := confirm(ctx, ps); err != nil {
		_ = ps.Close()
		return nil, translate("subscribe", err)
	}
	sub := &subscription{
		store:   s,
		channel: channel,
		ps:      ps,
		out:     make(chan []byte, SubscriptionBuffer),
		done:    make(chan struct{}),
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		_ = ps.Close()
		return nil, translate("subscribe", goredis.ErrClosed)
	}
	s.subs[sub] = struct{}{}
	s.mu.Unlock()
	go sub.pump(ps.Channel())
	return sub, nil
}

func confirm(ctx context.Context, ps *goredis.PubSub) error {
	reply, err := ps.Receive(ctx)
	if err != nil {
		return err
	}
	if _, ok := reply.(*goredis.Subscription); !ok {
		return fmt.Errorf("unexpected reply %T to SUBSCRIBE", reply)
	}
	return nil
}

// Ping implements ephemeral.Store.
func (s *Store) Ping(ctx context.Context) error {
	return translate("ping", s.client.Ping(ctx).Err())
}

// Close closes every open subscription and the client. Later calls fail with
// ephemeral.ErrUnavailable.
func (s *Store) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	subs := s.subs
	s.subs = nil
	s.mu.Unlock()
	for sub := range subs {
		_ = sub.Close()
	}
	if err := s.client.Close(); err != nil {
		return fmt.Errorf("redis: close: %w", err)
	}
	return nil
}

type subscription struct {
	store   *Store
	channel string
	ps      *goredis.PubSub
	out     chan []byte
	done    chan struct{} // closed when pump has returned and out is closed

	closeOnce sync.Once
	dropped   atomic.Uint64
}

// pump copies messages from go-redis until the PubSub closes. It never blocks on the reader.
func (sub *subscription) pump(in <-chan *goredis.Message) {
	defer close(sub.done)
	defer close(sub.out)
	for msg := range in {
		select {
		case sub.out <- []byte(msg.Payload):
		default:
			if sub.dropped.Add(1) == 1 {
				sub.store.log.Warn("redis: subscriber too slow, dropping messages",
					slog.String("channel", sub.channel))
			}
			sub.store.dropped.Add(1)
		}
	}
}

func (sub *subscription) Messages() <-chan []byte { return sub.out }

// Dropped returns how many messages this subscription lost because its buffer was full.
func (sub *subscription) Dropped() uint64 { return sub.dropped.Load() }

func (sub *subscription) Close() error {
	sub.closeOnce.Do(func() {
		_ = sub.ps.Close()
		<-sub.done
		s := sub.store
		s.mu.Lock()
		delete(s.subs, sub)
		s.mu.Unlock()
		if n := sub.dropped.Load(); n > 0 {
			s.log.Warn("redis: subscription closed after dropping messages",
				slog.String("channel", sub.channel), slog.Uint64("dropped", n))
		}
	})
	return nil
}

// reserveScript runs an ephemeral.Reservation atomically. KEYS: the streak, the gate, then the
// counters (an unused streak or gate gets a placeholder it never touches). ARGV: has streak (1/0),
// the streak's TTL in ms, has gate (1/0), the gate's value, the number of cooldowns, the cooldowns in
// ms, then per counter its limit, its TTL in ms and whether a refused count is kept (1/0). It
// returns {streak, refused (-1 none, -2 gate, else the counter's 0-based index), counts, TTLs in
// ms}. A counter holding something that is not an integer aborts with an error reply after the
// reservations made so far are released, so that a failed script leaves nothing behind.
const reserveScript = `
local hasStreak, hasGate = ARGV[1] == '1', ARGV[3] == '1'
local nc = tonumber(ARGV[5])
local base = 6 + nc
local streak = 0
if hasStreak then
	local v = redis.call('GET', KEYS[1])
	if v and string.match(v, '^[0-9]+$') then
		streak = tonumber(v)
	end
end
local function release(upto)
	for j = 1, upto do
		redis.call('DECRBY', KEYS[j + 2], 1)
	end
	if hasGate then
		redis.call('DEL', KEYS[2])
	end
end
if hasGate then
	local cd = ARGV[6 + math.min(streak, nc - 1)]
	if not redis.call('SET', KEYS[2], ARGV[4], 'PX', cd, 'NX') then
		return {streak, -2, {}, {redis.call('PTTL', KEYS[2])}}
	end
end
local counts, ttls = {}, {}
for i = 1, #KEYS - 2 do
	local key, a = KEYS[i + 2], base + 3 * (i - 1)
	local n = redis.pcall('INCRBY', key, 1)
	if type(n) == 'table' and n.err then
		release(i - 1)
		return n
	end
	local left = redis.call('PTTL', key)
	if left == -1 then
		redis.call('PEXPIRE', key, ARGV[a + 1])
		left = tonumber(ARGV[a + 1])
	end
	counts[i], ttls[i] = n, left
	if n > tonumber(ARGV[a]) then
		release(i - 1)
		if ARGV[a + 2] ~= '1' then
			redis.call('DECRBY', key, 1)
		end
		return {streak, i - 1, counts, ttls}
	end
end
if hasStreak then
	redis.call('SET', KEYS[1], tostring(streak + 1), 'PX', ARGV[2])
end
return {streak, -1, counts, ttls}`

var _ ephemeral.Reserver = (*Store)(nil)

// Reserve implements ephemeral.Reserver: one script, one round trip. A cluster spreads the keys of
// one reservation over several slots, which one script cannot reach, so there Reserve runs the
// reservation step by step (ephemeral.ReserveSteps).
func (s *Store) Reserve(ctx context.Context, r ephemeral.Reservation) (ephemeral.ReserveResult, error) {
	if err := r.Check(); err != nil {
		return ephemeral.ReserveResult{}, err
	}
	if _, cluster := s.client.(*goredis.ClusterClient); cluster {
		return ephemeral.ReserveSteps(ctx, s, r, s.log)
	}
	keys := make([]string, 0, 2+len(r.Counters))
	args := make([]any, 0, 5+len(r.Cooldowns)+3*len(r.Counters))
	flag := func(b bool) int {
		if b {
			return 1
		}
		return 0
	}
	keys = append(keys, s.key(r.Streak), s.key(r.Gate))
	args = append(args, flag(r.Streak != ""), ms(r.StreakTTL), flag(r.Gate != ""), r.GateValue, len(r.Cooldowns))
	for _, d := range r.Cooldowns {
		args = append(args, ms(d))
	}
	for _, c := range r.Counters {
		keys = append(keys, s.key(c.Key))
		args = append(args, c.Limit, ms(c.TTL), flag(c.KeepRefused))
	}
	v, err := s.reserve.Run(ctx, s.client, keys, args...).Slice()
	if err != nil {
		return ephemeral.ReserveResult{}, translate("reserve", err)
	}
	res, ok := reserveResult(v)
	if !ok {
		return ephemeral.ReserveResult{}, fmt.Errorf("redis: reserve: unexpected reply %v", v)
	}
	return res, nil
}

// reserveResult decodes reserveScript's reply.
func reserveResult(v []any) (ephemeral.ReserveResult, bool) {
	if len(v) != 4 {
		return ephemeral.ReserveResult{}, false
	}
	streak, ok1 := v[0].(int64)
	refused, ok2 := v[1].(int64)
	counts, ok3 := v[2].([]any)
	ttls, ok4 := v[3].([]any)
	if !ok1 || !ok2 || !ok3 || !ok4 {
		return ephemeral.ReserveResult{}, false
	}
	res := ephemeral.ReserveResult{Streak: streak, Refused: int(refused)}
	for _, c := range counts {
		n, ok := c.(int64)
		if !ok {
			return ephemeral.ReserveResult{}, false
		}
		res.Counts = append(res.Counts, n)
	}
	for _, t := range ttls {
		n, ok := t.(int64)
		if !ok {
			return ephemeral.ReserveResult{}, false
		}
		res.TTLs = append(res.TTLs, max(time.Duration(n)*time.Millisecond, time.Millisecond))
	}
	return res, true
}
