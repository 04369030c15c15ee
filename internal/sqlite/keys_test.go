package sqlite

import (
	"bytes"
	"path/filepath"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/internal/token"
	"github.com/gatehouse/gatehouse/internal/token/tokentest"
)

func TestKeyStore(t *testing.T) {
	tokentest.RunKeyStoreContract(t, func(t *testing.T) token.KeyStore {
		return openMigrated(t, filepath.Join(t.TempDir(), "g.db"), time.Second)
	})
}

// TestKeyManagerOnSQLite runs the token package's key manager on the store: the first node creates
// the key, a rotation adds the next, and a second handle (another node) loads the same key set.
func TestKeyManagerOnSQLite(t *testing.T) {
	path := filepath.Join(t.TempDir(), "g.db")
	encKey := bytes.Repeat([]byte{7}, token.EncryptionKeySize)
	clock := tokentest.NewClock(time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC))
	newManager := func(store token.KeyStore) *token.KeyManager {
		t.Helper()
		km, err := token.NewKeyManager(store, token.KeyOptions{EncryptionKey: encKey, Now: clock.Now})
		if err != nil {
			t.Fatal(err)
		}
		if err := km.Load(t.Context()); err != nil {
			t.Fatalf("Load: %v", err)
		}
		return km
	}
	first := newManager(openMigrated(t, path, time.Second))
	if _, err := first.Rotate(t.Context()); err != nil {
		t.Fatalf("Rotate: %v", err)
	}
	second := newManager(openMigrated(t, path, time.Second))
	if got, want := second.JWKS(), first.JWKS(); !bytes.Equal(got, want) {
		t.Errorf("second node's JWKS differs:\n got %s\nwant %s", got, want)
	}
	if n := len(second.Keys()); n != 2 {
		t.Errorf("second node sees %d keys, want 2", n)
	}
}
