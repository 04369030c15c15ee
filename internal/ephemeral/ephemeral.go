// Package ephemeral defines the small store for fast, short-lived, shared state: one-time codes, rate
// counters, revocations, caches and cross-node notifications. Nothing kept here is a record of truth;
// everything has a time to live. Two implementations pass the same contract suite
// (internal/storetest): internal/memory for one node and internal/redis for many.
package ephemeral

import (
	"context"
	"errors"
	"time"
)

// ErrNotFound is returned by Get and TTL when the key does not exist (or has expired).
var ErrNotFound = errors.New("ephemeral: key not found")

// ErrUnavailable wraps every error caused by the backend being unreachable or failing, and every
// call made after Close. Callers that guard security decisions (one-time codes, rate limits) fail
// closed on it.
var ErrUnavailable = errors.New("ephemeral: store unavailable")

// Store is the ephemeral state every node shares. Keys are plain strings; implementations may add a
// prefix of their own. Every TTL must be positive: a zero or negative TTL is an error (neither
// ErrNotFound nor ErrUnavailable) and changes nothing. Using a key with an operation meant for another
// kind of value (Get on a set, SetAdd on a counter) is also such an error.
type Store interface {
	// Set stores value under key for ttl, replacing any previous value and expiry.
	Set(ctx context.Context, key string, value []byte, ttl time.Duration) error
	// SetNX stores value under key for ttl only if key does not exist; it reports whether it stored.
	SetNX(ctx context.Context, key string, value []byte, ttl time.Duration) (bool, error)
	// Get returns the value under key, or ErrNotFound. A counter reads as its decimal text.
	Get(ctx context.Context, key string) ([]byte, error)
	// Delete removes the keys; missing keys are not an error.
	Delete(ctx context.Context, keys ...string) error
	// DeleteIfEqual removes key only if its current value equals want, atomically; it reports whether
	// it removed it.
	DeleteIfEqual(ctx context.Context, key string, want []byte) (bool, error)
	// Incr atomically adds delta to the integer counter under key and returns the new value. A counter
	// that did not exist starts at zero and expires after ttl; an existing counter keeps its expiry.
	// A value written by Set counts as a counter when it is the canonical decimal text of an int64;
	// any other value, or an overflow, is an error and the value is left as it was.
	Incr(ctx context.Context, key string, delta int64, ttl time.Duration) (int64, error)
	// TTL returns the time left before key expires, or ErrNotFound.
	TTL(ctx context.Context, key string) (time.Duration, error)

	// SetAdd adds members to the set under key and sets the whole set to expire after ttl. With no
	// members it only renews the expiry of an existing set.
	SetAdd(ctx context.Context, key string, ttl time.Duration, members ...string) error
	// SetRemove removes members from the set under key; a set left empty no longer exists.
	SetRemove(ctx context.Context, key string, members ...string) error
	// SetIsMember reports whether member is in the set under key.
	SetIsMember(ctx context.Context, key, member string) (bool, error)
	// SetMembers returns the members of the set under key, in no particular order (empty if none).
	SetMembers(ctx context.Context, key string) ([]string, error)

	// Publish sends msg to every current subscriber of channel, on every node. Delivery is best
	// effort: a subscriber that does not keep up, or that is reconnecting, misses messages, so
	// subscribers treat a message as a hint (drop a cache entry) and never as the only record.
	Publish(ctx context.Context, channel string, msg []byte) error
	// Subscribe starts receiving the messages published on channel. The subscription is active when
	// Subscribe returns.
	Subscribe(ctx context.Context, channel string) (Subscription, error)

	// Ping checks that the backend answers.
	Ping(ctx context.Context) error
	// Close releases the store's resources and closes its open subscriptions. It may be called more
	// than once.
	Close() error
}

// Subscription delivers the messages of one channel until it is closed.
type Subscription interface {
	// Messages is closed when the subscription is closed. Each message is the receiver's own copy.
	Messages() <-chan []byte
	// Close stops delivery; Messages is closed (after any messages still buffered) by the time it
	// returns. It may be called more than once.
	Close() error
}
