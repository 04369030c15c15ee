package seal

import (
	"bytes"
	"errors"
	"testing"
)

func testKey(b byte) []byte { return bytes.Repeat([]byte{b}, KeyLen) }

func mustSealer(t *testing.T, key []byte, previous ...[]byte) *Sealer {
	t.Helper()
	s, err := NewSealer(key, previous...)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestSealer(t *testing.T) {
	const code = "739146"
	old := mustSealer(t, testKey(1))
	rotated := mustSealer(t, testKey(2), testKey(1))
	other := mustSealer(t, testKey(3))
	data := map[string]string{"Code": code, "Link": "https://id.example.com/verify-email?token=SECRET"}
	aad := []byte("job")

	blob, err := old.Seal(data, aad)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(blob, []byte(code)) || bytes.Contains(blob, []byte("SECRET")) {
		t.Error("the blob holds the data in the clear")
	}
	if got, err := old.Open(blob, aad); err != nil || got["Code"] != code || got["Link"] != data["Link"] || len(got) != 2 {
		t.Errorf("Open = %v, %v; want the sealed data", got, err)
	}
	if again, _ := old.Seal(data, aad); bytes.Equal(again, blob) {
		t.Error("two seals of the same data are equal: the nonce is not fresh")
	}
	if got, err := rotated.Open(blob, aad); err != nil || got["Code"] != code {
		t.Errorf("a previous key does not open an old blob: %v %v", got, err)
	}
	newBlob, _ := rotated.Seal(data, aad)
	if _, err := old.Open(newBlob, aad); err == nil {
		t.Error("the new key did not seal: the old sealer opens its blob")
	}
	if _, err := other.Open(blob, aad); !errors.Is(err, ErrUnsealable) {
		t.Errorf("a wrong key: Open = %v, want ErrUnsealable", err)
	}
	if _, err := old.Open(blob, []byte("another job")); !errors.Is(err, ErrUnsealable) {
		t.Errorf("the blob opens for another job: %v", err)
	}
	tampered := bytes.Clone(blob)
	tampered[len(tampered)-1] ^= 1
	for name, b := range map[string][]byte{"tampered": tampered, "empty": nil, "version": append([]byte{9}, blob[1:]...), "short": blob[:5]} {
		t.Run(name, func(t *testing.T) {
			if _, err := old.Open(b, aad); !errors.Is(err, ErrUnsealable) {
				t.Errorf("Open = %v, want ErrUnsealable", err)
			}
		})
	}
}

func TestNewSealerChecksKeys(t *testing.T) {
	for _, k := range [][]byte{nil, make([]byte, 16), make([]byte, 33)} {
		if _, err := NewSealer(k); err == nil {
			t.Errorf("NewSealer accepted a %d-byte key", len(k))
		}
	}
	if _, err := NewSealer(testKey(1), make([]byte, 8)); err == nil {
		t.Error("NewSealer accepted a short previous key")
	}
}
