// Package seal owns the encryption of the secrets that durable jobs carry (the one-time codes of
// text messages, the verification links and codes of emails): the job table lives in SQL and
// keeps finished jobs for a while, so what a job must not show is sealed when it is queued and
// opened by the worker that runs it.
package seal

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
)

// KeyLen is the length of a Sealer key: AES-256.
const KeyLen = 32

// version is the first byte of a sealed blob, so that the format can change.
const version = 1

// Sealer encrypts the data of queued jobs (AES-256-GCM), bound to the job by additional data. Its
// key should be derived from the master secret for one use alone (HKDF), so that a blob of one
// kind of job never opens as another. Older keys may be given to open jobs queued before a key
// change.
type Sealer struct {
	aeads []cipher.AEAD // aeads[0] seals; all open
}

// NewSealer returns a sealer that seals with key and opens with key or any of previous. Each key
// must be KeyLen bytes.
func NewSealer(key []byte, previous ...[]byte) (*Sealer, error) {
	s := &Sealer{}
	for i, k := range append([][]byte{key}, previous...) {
		if len(k) != KeyLen {
			return nil, fmt.Errorf("seal: key %d is %d bytes, want %d", i, len(k), KeyLen)
		}
		block, err := aes.NewCipher(k)
		if err != nil {
			return nil, fmt.Errorf("seal: %w", err)
		}
		aead, err := cipher.NewGCM(block)
		if err != nil {
			return nil, fmt.Errorf("seal: %w", err)
		}
		s.aeads = append(s.aeads, aead)
	}
	return s, nil
}

// ErrUnsealable is returned when no key opens a blob (it was altered, moved to another job, or
// sealed with a key that is no longer configured).
var ErrUnsealable = errors.New("seal: the job's data cannot be opened")

// Seal encrypts data, bound to aad: the blob opens only with the same aad.
func (s *Sealer) Seal(data map[string]string, aad []byte) ([]byte, error) {
	plain, err := json.Marshal(data)
	if err != nil {
		return nil, fmt.Errorf("seal: %w", err)
	}
	aead := s.aeads[0]
	out := make([]byte, 1+aead.NonceSize(), 1+aead.NonceSize()+len(plain)+aead.Overhead())
	out[0] = version
	nonce := out[1:]
	if _, err := rand.Read(nonce); err != nil {
		return nil, fmt.Errorf("seal: nonce: %w", err)
	}
	return aead.Seal(out, nonce, plain, aad), nil
}

// Open decrypts a blob made by Seal with the same aad. It returns ErrUnsealable when no key opens
// it.
func (s *Sealer) Open(blob, aad []byte) (map[string]string, error) {
	if len(blob) < 1 || blob[0] != version {
		return nil, ErrUnsealable
	}
	for _, aead := range s.aeads {
		if len(blob) < 1+aead.NonceSize() {
			return nil, ErrUnsealable
		}
		nonce, sealed := blob[1:1+aead.NonceSize()], blob[1+aead.NonceSize():]
		plain, err := aead.Open(nil, nonce, sealed, aad)
		if err != nil {
			continue
		}
		var data map[string]string
		if err := json.Unmarshal(plain, &data); err != nil {
			return nil, fmt.Errorf("seal: %w", err)
		}
		return data, nil
	}
	return nil, ErrUnsealable
}
