package token_test

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"strings"
	"testing"

	"github.com/gatehouse/gatehouse/internal/token"
)

func TestParseEncryptionKey(t *testing.T) {
	raw := make([]byte, 32)
	if _, err := rand.Read(raw); err != nil {
		t.Fatal(err)
	}
	raw[0], raw[1] = 0xfb, 0xff // makes std and URL alphabets differ
	cases := []struct {
		name    string
		in      string
		wantErr string
	}{
		{"std padded", base64.StdEncoding.EncodeToString(raw), ""},
		{"std unpadded", base64.RawStdEncoding.EncodeToString(raw), ""},
		{"url padded", base64.URLEncoding.EncodeToString(raw), ""},
		{"url unpadded", base64.RawURLEncoding.EncodeToString(raw), ""},
		{"surrounding space", "  " + base64.StdEncoding.EncodeToString(raw) + "\n", ""},
		{"empty", "", "empty"},
		{"blank", "   ", "empty"},
		{"not base64", "this is not base64!", "not valid base64"},
		{"16 bytes", base64.StdEncoding.EncodeToString(raw[:16]), "decodes to 16 bytes, want exactly 32"},
		{"64 bytes", base64.StdEncoding.EncodeToString(append(raw, raw...)), "decodes to 64 bytes"},
		{"hex", hex.EncodeToString(raw), "decodes to 48 bytes"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := token.ParseEncryptionKey(tc.in)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("ParseEncryptionKey: %v, want an error containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseEncryptionKey: %v", err)
			}
			if string(got) != string(raw) {
				t.Fatalf("ParseEncryptionKey = %x, want %x", got, raw)
			}
		})
	}
}

func TestSealOpen(t *testing.T) {
	for _, alg := range algorithms {
		t.Run(alg, func(t *testing.T) {
			e := newEnv(t, alg, algOption(alg))
			sk := e.storedKeys(t)[0]
			k, err := token.OpenKey(sk, e.encKey)
			if err != nil {
				t.Fatalf("OpenKey: %v", err)
			}

			// The stored bytes never contain the private key in any encoding.
			der, err := x509.MarshalPKCS8PrivateKey(k.Private)
			if err != nil {
				t.Fatal(err)
			}
			var secret []byte
			switch p := k.Private.(type) {
			case ed25519.PrivateKey:
				secret = p.Seed()
			case *ecdsa.PrivateKey:
				secret, err = p.Bytes()
				if err != nil {
					t.Fatal(err)
				}
			}
			for _, field := range [][]byte{sk.PrivateKey, sk.PublicKey, []byte(sk.ID)} {
				if containsBytes(field, der, secret, []byte(base64.StdEncoding.EncodeToString(secret)), []byte(base64.RawURLEncoding.EncodeToString(secret))) {
					t.Fatal("a stored field contains the private key")
				}
			}
			// Sealing twice gives different ciphertexts (random nonce).
			again, err := token.SealKey(k, e.encKey, rand.Reader)
			if err != nil {
				t.Fatal(err)
			}
			if string(again.PrivateKey) == string(sk.PrivateKey) {
				t.Error("two seals of one key are identical")
			}

			other := newEncryptionKey(t)
			tests := []struct {
				name     string
				mutate   func(*token.StoredKey)
				keys     [][]byte
				mismatch bool // the error must wrap ErrEncryptionKeyMismatch
				ok       bool
			}{
				{"configured key", func(*token.StoredKey) {}, [][]byte{e.encKey}, false, true},
				{"previous key list", func(*token.StoredKey) {}, [][]byte{other, e.encKey}, false, true},
				{"wrong key", func(*token.StoredKey) {}, [][]byte{other}, true, false},
				{"no key", func(*token.StoredKey) {}, nil, true, false},
				{"flipped ciphertext bit", func(s *token.StoredKey) { s.PrivateKey[len(s.PrivateKey)-1] ^= 1 }, [][]byte{e.encKey}, false, false},
				{"flipped nonce bit", func(s *token.StoredKey) { s.PrivateKey[10] ^= 1 }, [][]byte{e.encKey}, false, false},
				{"moved to another kid", func(s *token.StoredKey) { s.ID = "another-kid" }, [][]byte{e.encKey}, false, false},
				{"algorithm column changed", func(s *token.StoredKey) {
					if s.Algorithm == token.EdDSA {
						s.Algorithm = token.ES256
					} else {
						s.Algorithm = token.EdDSA
					}
				}, [][]byte{e.encKey}, false, false},
				{"unknown envelope version", func(s *token.StoredKey) { s.PrivateKey[0] = 9 }, [][]byte{e.encKey}, false, false},
				{"truncated envelope", func(s *token.StoredKey) { s.PrivateKey = s.PrivateKey[:20] }, [][]byte{e.encKey}, false, false},
				{"public key replaced", func(s *token.StoredKey) { s.PublicKey = again.PublicKey[:len(again.PublicKey)-1] }, [][]byte{e.encKey}, false, false},
			}
			for _, tc := range tests {
				t.Run(tc.name, func(t *testing.T) {
					s := sk
					s.PrivateKey = append([]byte(nil), sk.PrivateKey...)
					tc.mutate(&s)
					k, err := token.OpenKey(s, tc.keys...)
					if tc.ok {
						if err != nil {
							t.Fatalf("OpenKey: %v", err)
						}
						if k.ID != sk.ID || k.Algorithm != alg {
							t.Fatalf("OpenKey = %s %s", k.ID, k.Algorithm)
						}
						return
					}
					if err == nil {
						t.Fatal("OpenKey succeeded, want an error")
					}
					if got := errors.Is(err, token.ErrEncryptionKeyMismatch); got != tc.mismatch {
						t.Fatalf("errors.Is(%v, ErrEncryptionKeyMismatch) = %v, want %v", err, got, tc.mismatch)
					}
				})
			}
		})
	}
}

func TestSealKeyRejectsBadEncryptionKey(t *testing.T) {
	e := newEnv(t, token.EdDSA)
	k := e.privateKey(t, activeKID(t, e.km))
	if _, err := token.SealKey(k, make([]byte, 16), rand.Reader); err == nil {
		t.Fatal("SealKey with a 16-byte key succeeded")
	}
}
