package redis

import (
	"context"
	"errors"
	"fmt"

	goredis "github.com/redis/go-redis/v9"

	"github.com/gatehouse/gatehouse/internal/ephemeral"
)

// unavailableReplies are the prefixes of Redis error replies that mean the server cannot serve now
// (loading, failing over, read-only replica, out of memory, refusing our credentials), as opposed to
// replies about the command itself (WRONGTYPE, "not an integer").
var unavailableReplies = []string{
	"LOADING", "CLUSTERDOWN", "MASTERDOWN", "READONLY", "TRYAGAIN", "NOREPLICAS", "BUSY", "MISCONF",
	"OOM", "NOAUTH", "WRONGPASS", "NOPERM", "max number of clients reached",
}

// translate is the one place that turns go-redis errors into the store's: redis.Nil becomes
// ephemeral.ErrNotFound, a canceled context stays a canceled context, and every failure of the
// server or the way to it wraps ephemeral.ErrUnavailable. op names the operation; keys are left out
// of messages because they may hold personal data (phone numbers, addresses).
func translate(op string, err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, goredis.Nil):
		return fmt.Errorf("redis: %s: %w", op, ephemeral.ErrNotFound)
	case errors.Is(err, context.Canceled):
		return fmt.Errorf("redis: %s: %w", op, err)
	case unavailable(err):
		return fmt.Errorf("redis: %s: %w: %w", op, ephemeral.ErrUnavailable, err)
	default:
		return fmt.Errorf("redis: %s: %w", op, err)
	}
}

// unavailable reports whether err says the server could not serve rather than that the command was
// wrong. Anything that is not an error reply from the server (network errors, timeouts and deadlines,
// an exhausted pool, a closed client, no master found by the Sentinels, a broken reply) is an outage.
func unavailable(err error) bool {
	var reply goredis.Error
	if !errors.As(err, &reply) {
		return true
	}
	for _, prefix := range unavailableReplies {
		if goredis.HasErrorPrefix(err, prefix) {
			return true
		}
	}
	return false
}
