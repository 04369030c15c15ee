package sms

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
)

// SealerKeyLen is the length of a Sealer key: AES-256.
const SealerKeyLen = 32

// sealVersion is the first byte of a sealed blob, so that the format can change.
const sealVersion = 1

// Sealer encrypts the template data of queued messages (AES-256-GCM), so that the one-time codes
// they carry are never readable in the job table, which lives in SQL and keeps finished jobs for a
// while. The key should be derived from the master secret for this use alone (HKDF). Older keys
// may be given to open jobs queued before a key change.
type Sealer struct {
	aeads []cipher.AEAD // aeads[0] seals; all open
}

// NewSealer returns a sealer that seals with key and opens with key or any of previous. Each key
// must be SealerKeyLen bytes.
func NewSealer(key []byte, previous ...[]byte) (*Sealer, error) {
	s := &Sealer{}
	for i, k := range append([][]byte{key}, previous...) {
		if len(k) != SealerKeyLen {
			return nil, fmt.Errorf("sms sealer: key %d is %d bytes, want %d", i, len(k), SealerKeyLen)
		}
		block, err := aes.NewCipher(k)
		if err != nil {
			return nil, fmt.Errorf("sms sealer: %w", err)
		}
		aead, err := cipher.NewGCM(block)
		if err != nil {
			return nil, fmt.Errorf("sms sealer: %w", err)
		}
		s.aeads = append(s.aeads, aead)
	}
	return s, nil
}

// errUnsealable is returned when no key opens a blob (it was altered, moved to another job, or
// sealed with a key that is no longer configured).
var errUnsealable = errors.New("sms sealer: the job's data cannot be opened")

// seal encrypts data, bound to aad: the blob opens only with the same aad.
func (s *Sealer) seal(data map[string]string, aad []byte) ([]byte, error) {
	plain, err := json.Marshal(data)
	if err != nil {
		return nil, fmt.Errorf("sms sealer: %w", err)
	}
	aead := s.aeads[0]
	out := make([]byte, 1+aead.NonceSize(), 1+aead.NonceSize()+len(plain)+aead.Overhead())
	out[0] = sealVersion
	nonce := out[1:]
	if _, err := rand.Read(nonce); err != nil {
		return nil, fmt.Errorf("sms sealer: nonce: %w", err)
	}
	return aead.Seal(out, nonce, plain, aad), nil
}

// open decrypts a blob made by seal with the same aad.
func (s *Sealer) open(blob, aad []byte) (map[string]string, error) {
	if len(blob) < 1 || blob[0] != sealVersion {
		return nil, errUnsealable
	}
	for _, aead := range s.aeads {
		if len(blob) < 1+aead.NonceSize() {
			return nil, errUnsealable
		}
		nonce, sealed := blob[1:1+aead.NonceSize()], blob[1+aead.NonceSize():]
		plain, err := aead.Open(nil, nonce, sealed, aad)
		if err != nil {
			continue
		}
		var data map[string]string
		if err := json.Unmarshal(plain, &data); err != nil {
			return nil, fmt.Errorf("sms sealer: %w", err)
		}
		return data, nil
	}
	return nil, errUnsealable
}
