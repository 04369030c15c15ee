package postgres

import (
	"bytes"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/internal/token"
	"github.com/gatehouse/gatehouse/internal/token/tokentest"
)

func TestKeyStore(t *testing.T) {
	url := testURL(t)
	tokentest.RunKeyStoreContract(t, func(t *testing.T) token.KeyStore {
		return openMigrated(t, Options{URL: url, Schema: newSchema(t, url), MaxConns: 8})
	})
}

// TestKeyManagerOnPostgres runs the token package's key manager on the store: two nodes starting at
// once settle on one key, a rotation adds the next, and both then publish the same key set.
func TestKeyManagerOnPostgres(t *testing.T) {
	url := testURL(t)
	schema := newSchema(t, url)
	encKey := bytes.Repeat([]byte{7}, token.EncryptionKeySize)
	clock := tokentest.NewClock(time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC))
	var managers [2]*token.KeyManager
	for i := range managers {
		km, err := token.NewKeyManager(openMigrated(t, Options{URL: url, Schema: schema}), token.KeyOptions{EncryptionKey: encKey, Now: clock.Now})
		if err != nil {
			t.Fatal(err)
		}
		managers[i] = km
	}
	errs := make(chan error, len(managers))
	for _, km := range managers {
		go func() { errs <- km.Load(t.Context()) }()
	}
	for range managers {
		if err := <-errs; err != nil {
			t.Fatalf("Load: %v", err)
		}
	}
	if got, want := managers[1].JWKS(), managers[0].JWKS(); !bytes.Equal(got, want) {
		t.Fatalf("nodes starting at once publish different keys:\n%s\n%s", got, want)
	}
	if _, err := managers[0].Rotate(t.Context()); err != nil {
		t.Fatalf("Rotate: %v", err)
	}
	if err := managers[1].Refresh(t.Context()); err != nil {
		t.Fatalf("Refresh: %v", err)
	}
	if got, want := managers[1].JWKS(), managers[0].JWKS(); !bytes.Equal(got, want) {
		t.Errorf("after rotation and refresh the key sets differ:\n%s\n%s", got, want)
	}
	if n := len(managers[1].Keys()); n != 2 {
		t.Errorf("second node sees %d keys, want 2", n)
	}
}
