package session

import (
	"bytes"
	"context"
	"crypto/rand"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/internal/ephemeral"
	"github.com/gatehouse/gatehouse/internal/memory"
)

func TestRefreshTokenShape(t *testing.T) {
	tok, hash, err := newRefreshToken(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	if len(tok) != refreshTokenLen || !strings.HasPrefix(tok, RefreshTokenPrefix) {
		t.Fatalf("token %q", tok)
	}
	got, ok := parseRefreshToken(tok)
	if !ok || !bytes.Equal(got, hash) || len(hash) != 32 {
		t.Fatalf("parseRefreshToken of a fresh token = %x, %v; want its hash %x", got, ok, hash)
	}
	other, _, _ := newRefreshToken(rand.Reader)
	if other == tok {
		t.Fatal("two tokens are equal")
	}
}

func TestGraceEntry(t *testing.T) {
	old, oldHash, _ := newRefreshToken(rand.Reader)
	next, _, _ := newRefreshToken(rand.Reader)
	sealed, err := sealGrace(old, oldHash, next, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(sealed, []byte(next)) || bytes.Contains(sealed, []byte(next[len(RefreshTokenPrefix):])) {
		t.Fatal("the grace entry holds the successor in clear")
	}
	if got, err := openGrace(old, oldHash, sealed); err != nil || got != next {
		t.Fatalf("openGrace with the old token = %q, %v", got, err)
	}
	stranger, strangerHash, _ := newRefreshToken(rand.Reader)
	for name, tc := range map[string]struct {
		tok    string
		hash   []byte
		sealed []byte
	}{
		"another token":   {stranger, oldHash, sealed},
		"another hash":    {old, strangerHash, sealed},
		"truncated":       {old, oldHash, sealed[:len(sealed)-1]},
		"shorter than IV": {old, oldHash, sealed[:5]},
		"flipped bit":     {old, oldHash, append(append([]byte{}, sealed[:20]...), append([]byte{sealed[20] ^ 1}, sealed[21:]...)...)},
		"another's entry": {stranger, strangerHash, sealed},
	} {
		if got, err := openGrace(tc.tok, tc.hash, tc.sealed); err == nil {
			t.Errorf("%s: openGrace = %q, want an error", name, got)
		}
	}
}

func TestCheckerCacheIsBounded(t *testing.T) {
	eph := memory.New(nil)
	defer eph.Close()
	c := NewRevocationChecker(eph, CheckerOptions{CacheSize: 2 * checkerShards})
	for i := range 10_000 {
		if _, err := c.IsRevoked(t.Context(), strings.Repeat("x", i%7)+string(rune('a'+i%26))+string(rune(i))); err != nil {
			t.Fatal(err)
		}
	}
	for i := range c.shards {
		if n := len(c.shards[i].m); n > c.perShard {
			t.Fatalf("shard %d holds %d answers, over its bound %d", i, n, c.perShard)
		}
	}
}

func TestCheckerCacheTTLIsCapped(t *testing.T) {
	for _, ttl := range []time.Duration{time.Hour, -time.Second} {
		if c := NewRevocationChecker(memory.New(nil), CheckerOptions{CacheTTL: ttl}); c.ttl != MaxCacheTTL {
			t.Errorf("CacheTTL %v gives %v, want %v", ttl, c.ttl, MaxCacheTTL)
		}
	}
	if c := NewRevocationChecker(memory.New(nil), CheckerOptions{CacheTTL: 100 * time.Millisecond}); c.ttl != 100*time.Millisecond {
		t.Errorf("CacheTTL 100ms gives %v", c.ttl)
	}
}

// racingStore answers "not revoked" for a session, but only after the revocation announcement for
// it has reached the checker: the stale answer must not hide the announcement.
type racingStore struct {
	ephemeral.Store
	onGet func()
}

func (s racingStore) Get(ctx context.Context, key string) ([]byte, error) {
	s.onGet()
	return nil, ephemeral.ErrNotFound
}

func TestCheckerKeepsAnnouncementOverStaleAnswer(t *testing.T) {
	const sid = "01890a5d-ac96-774b-bcce-b302099a8057"
	eph := memory.New(nil)
	defer eph.Close()
	var c *RevocationChecker
	c = NewRevocationChecker(racingStore{Store: eph, onGet: func() { c.announced(sid) }}, CheckerOptions{})
	revoked, err := c.IsRevoked(t.Context(), sid)
	if err != nil || !revoked {
		t.Fatalf("IsRevoked = %v, %v; want the announcement that arrived during the lookup to win", revoked, err)
	}
	if revoked, _ := c.IsRevoked(t.Context(), sid); !revoked {
		t.Fatal("the stale answer replaced the announced revocation in the cache")
	}
}

func TestCheckerStartAndClose(t *testing.T) {
	eph := memory.New(nil)
	defer eph.Close()
	c := NewRevocationChecker(eph, CheckerOptions{})
	if err := c.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	if err := c.Start(t.Context()); err == nil {
		t.Error("a second Start succeeded")
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if err := c.Close(); err != nil {
		t.Errorf("a second Close: %v", err)
	}
	if err := c.Start(t.Context()); err == nil {
		t.Error("Start after Close succeeded")
	}
	if _, err := c.IsRevoked(t.Context(), ""); err == nil {
		t.Error("IsRevoked of an empty session id succeeded")
	}
}

func TestCheckerStopsWithContext(t *testing.T) {
	eph := memory.New(nil)
	defer eph.Close()
	c := NewRevocationChecker(eph, CheckerOptions{})
	ctx, cancel := context.WithCancel(t.Context())
	if err := c.Start(ctx); err != nil {
		t.Fatal(err)
	}
	cancel()
	select {
	case <-c.follower.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("the listener did not stop when its context ended")
	}
	if err := c.Close(); err != nil {
		t.Errorf("Close after the context ended: %v", err)
	}
}
