package token

import (
	"crypto/sha256"
	"strconv"
	"testing"
	"time"
)

func TestVerifiedCacheBounds(t *testing.T) {
	now := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	c := newVerifiedCache(160) // 10 per shard
	key := func(i int) [32]byte { return sha256.Sum256([]byte(strconv.Itoa(i))) }
	claims := &AccessClaims{Subject: "a"}

	for i := range 5000 {
		c.put(key(i), claims, now.Add(time.Hour), now)
	}
	if n := c.len(); n > 160 {
		t.Fatalf("cache holds %d entries, bound 160", n)
	}
	// The newest entry is always kept.
	if c.get(key(4999), now) == nil {
		t.Fatal("newest entry missing")
	}
	// Entries are not served at or after their drop time.
	if c.get(key(4999), now.Add(time.Hour)) != nil {
		t.Fatal("expired entry served")
	}
	// Once entries expire, a full shard sweeps them rather than evicting live ones.
	later := now.Add(2 * time.Hour)
	for i := range 100 {
		c.put(key(10_000+i), claims, later.Add(time.Hour), later)
	}
	live := 0
	for i := range 5000 {
		if c.get(key(i), later) != nil {
			live++
		}
	}
	if live != 0 {
		t.Fatalf("%d expired entries served", live)
	}
	if n := c.len(); n > 160 {
		t.Fatalf("cache holds %d entries after sweeping, bound 160", n)
	}
}

func TestVerifiedCacheSweepsOnlyWhenUseful(t *testing.T) {
	now := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	c := newVerifiedCache(16) // one per shard
	var k1, k2 [32]byte
	k2[1] = 1 // same shard as k1 (shard is byte 0)
	c.put(k1, &AccessClaims{}, now.Add(time.Minute), now)
	s := c.shard(k1)
	if !s.nextExpiry.Equal(now.Add(time.Minute)) {
		t.Fatalf("nextExpiry = %v", s.nextExpiry)
	}
	// Full and nothing expired: k1 is evicted for k2 without a sweep.
	c.put(k2, &AccessClaims{}, now.Add(2*time.Minute), now)
	if c.get(k1, now) != nil || c.get(k2, now) == nil || len(s.entries) != 1 {
		t.Fatalf("entries = %d", len(s.entries))
	}
	// After k2's expiry, putting k1 sweeps k2 and recomputes nextExpiry.
	c.put(k1, &AccessClaims{}, now.Add(time.Hour), now.Add(3*time.Minute))
	if len(s.entries) != 1 || c.get(k1, now.Add(3*time.Minute)) == nil || !s.nextExpiry.Equal(now.Add(time.Hour)) {
		t.Fatalf("after sweep: %d entries, nextExpiry %v", len(s.entries), s.nextExpiry)
	}
}
