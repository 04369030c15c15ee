package tokentest

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse"
	"github.com/gatehouse/gatehouse/internal/token"
)

// RunKeyStoreContract checks the behaviour every token.KeyStore must show. newStore returns an empty
// store for each subtest (a fresh schema, for SQL adapters). Call it from each adapter's tests:
//
//	func TestKeyStore(t *testing.T) { tokentest.RunKeyStoreContract(t, newKeyStore) }
//
// Times are whole seconds in UTC, as the token package writes them; a zero time must come back zero.
func RunKeyStoreContract(t *testing.T, newStore func(t *testing.T) token.KeyStore) {
	t.Helper()
	ctx := context.Background()
	base := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)

	t.Run("empty store lists nothing", func(t *testing.T) {
		keys, err := newStore(t).ListKeys(ctx)
		if err != nil {
			t.Fatalf("ListKeys: %v", err)
		}
		if len(keys) != 0 {
			t.Fatalf("ListKeys = %d keys, want 0", len(keys))
		}
	})

	t.Run("insert and list keep every field", func(t *testing.T) {
		s := newStore(t)
		k1 := sampleKey(t, 1, base)
		k1.RetiresAt, k1.ExpiresAt = base.Add(time.Hour), base.Add(25*time.Hour)
		k2 := sampleKey(t, 2, base.Add(time.Minute))
		k2.ActivatesAt = base.Add(time.Hour)
		k3 := sampleKey(t, 1<<40, base.Add(2*time.Minute))
		k3.Algorithm = token.ES256
		for _, k := range []token.StoredKey{k1, k2, k3} {
			if err := s.InsertKey(ctx, k); err != nil {
				t.Fatalf("InsertKey(generation %d): %v", k.Generation, err)
			}
		}
		got := listSorted(t, s)
		want := []token.StoredKey{k1, k2, k3}
		if len(got) != len(want) {
			t.Fatalf("ListKeys = %d keys, want %d", len(got), len(want))
		}
		for i := range want {
			assertKey(t, got[i], want[i])
		}
	})

	t.Run("listed keys are copies", func(t *testing.T) {
		s := newStore(t)
		k := sampleKey(t, 1, base)
		if err := s.InsertKey(ctx, k); err != nil {
			t.Fatalf("InsertKey: %v", err)
		}
		got := listSorted(t, s)
		got[0].PrivateKey[0] ^= 0xff
		got[0].PublicKey[0] ^= 0xff
		assertKey(t, listSorted(t, s)[0], k)
	})

	t.Run("duplicate generation is a conflict", func(t *testing.T) {
		s := newStore(t)
		if err := s.InsertKey(ctx, sampleKey(t, 1, base)); err != nil {
			t.Fatalf("InsertKey: %v", err)
		}
		err := s.InsertKey(ctx, sampleKey(t, 1, base.Add(time.Second)))
		if code := gatehouse.ErrorCode(err); code != gatehouse.ECONFLICT {
			t.Fatalf("second InsertKey of generation 1: code %q (%v), want %q", code, err, gatehouse.ECONFLICT)
		}
		if n := len(listSorted(t, s)); n != 1 {
			t.Fatalf("ListKeys = %d keys, want 1", n)
		}
	})

	t.Run("duplicate id is a conflict", func(t *testing.T) {
		s := newStore(t)
		k := sampleKey(t, 1, base)
		if err := s.InsertKey(ctx, k); err != nil {
			t.Fatalf("InsertKey: %v", err)
		}
		dup := sampleKey(t, 2, base)
		dup.ID = k.ID
		err := s.InsertKey(ctx, dup)
		if code := gatehouse.ErrorCode(err); code != gatehouse.ECONFLICT {
			t.Fatalf("InsertKey with a taken id: code %q (%v), want %q", code, err, gatehouse.ECONFLICT)
		}
	})

	t.Run("concurrent inserts of one generation: exactly one wins", func(t *testing.T) {
		s := newStore(t)
		const n = 8
		errs := make([]error, n)
		var wg sync.WaitGroup
		for i := range n {
			k := sampleKey(t, 1, base)
			wg.Go(func() { errs[i] = s.InsertKey(ctx, k) })
		}
		wg.Wait()
		won := 0
		for _, err := range errs {
			switch code := gatehouse.ErrorCode(err); code {
			case "":
				won++
			case gatehouse.ECONFLICT:
			default:
				t.Errorf("InsertKey: code %q (%v), want success or %q", code, err, gatehouse.ECONFLICT)
			}
		}
		if won != 1 {
			t.Fatalf("%d inserts succeeded, want 1", won)
		}
		if got := len(listSorted(t, s)); got != 1 {
			t.Fatalf("ListKeys = %d keys, want 1", got)
		}
	})

	t.Run("retire sets and overwrites the times", func(t *testing.T) {
		s := newStore(t)
		k1, k2 := sampleKey(t, 1, base), sampleKey(t, 2, base)
		for _, k := range []token.StoredKey{k1, k2} {
			if err := s.InsertKey(ctx, k); err != nil {
				t.Fatalf("InsertKey: %v", err)
			}
		}
		for _, at := range []time.Time{base.Add(time.Hour), base.Add(2 * time.Hour)} {
			if err := s.RetireKey(ctx, k1.ID, at, at.Add(24*time.Hour)); err != nil {
				t.Fatalf("RetireKey: %v", err)
			}
			k1.RetiresAt, k1.ExpiresAt = at, at.Add(24*time.Hour)
			got := listSorted(t, s)
			assertKey(t, got[0], k1)
			assertKey(t, got[1], k2)
		}
	})

	t.Run("retire of an unknown key is not found", func(t *testing.T) {
		err := newStore(t).RetireKey(ctx, "no-such-key", base, base)
		if code := gatehouse.ErrorCode(err); code != gatehouse.ENOTFOUND {
			t.Fatalf("RetireKey: code %q (%v), want %q", code, err, gatehouse.ENOTFOUND)
		}
	})
}

func sampleKey(t *testing.T, generation int64, created time.Time) token.StoredKey {
	t.Helper()
	id := make([]byte, 16)
	pub := make([]byte, 44)
	priv := make([]byte, 69)
	for _, b := range [][]byte{id, pub, priv} {
		if _, err := rand.Read(b); err != nil {
			t.Fatal(err)
		}
	}
	return token.StoredKey{
		ID:          base64.RawURLEncoding.EncodeToString(id),
		Generation:  generation,
		Algorithm:   token.EdDSA,
		PublicKey:   pub,
		PrivateKey:  priv,
		CreatedAt:   created,
		ActivatesAt: created,
	}
}

func listSorted(t *testing.T, s token.KeyStore) []token.StoredKey {
	t.Helper()
	keys, err := s.ListKeys(context.Background())
	if err != nil {
		t.Fatalf("ListKeys: %v", err)
	}
	return sortedByGeneration(keys)
}

func assertKey(t *testing.T, got, want token.StoredKey) {
	t.Helper()
	if got.ID != want.ID || got.Generation != want.Generation || got.Algorithm != want.Algorithm {
		t.Errorf("key = {%s %d %s}, want {%s %d %s}", got.ID, got.Generation, got.Algorithm, want.ID, want.Generation, want.Algorithm)
	}
	if !bytes.Equal(got.PublicKey, want.PublicKey) || !bytes.Equal(got.PrivateKey, want.PrivateKey) {
		t.Errorf("key %s: stored bytes changed", want.ID)
	}
	for _, tt := range []struct {
		name      string
		got, want time.Time
	}{
		{"CreatedAt", got.CreatedAt, want.CreatedAt},
		{"ActivatesAt", got.ActivatesAt, want.ActivatesAt},
		{"RetiresAt", got.RetiresAt, want.RetiresAt},
		{"ExpiresAt", got.ExpiresAt, want.ExpiresAt},
	} {
		if !tt.got.Equal(tt.want) || tt.got.IsZero() != tt.want.IsZero() {
			t.Errorf("key %s: %s = %v, want %v", want.ID, tt.name, tt.got, tt.want)
		}
	}
}
