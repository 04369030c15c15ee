package session

import "crypto/rand"

// SealGrace seals successor as the grace entry of old's rotation, for tests that plant entries.
func SealGrace(old, successor string) ([]byte, error) {
	return sealGrace(old, hashRefreshToken(old), successor, rand.Reader)
}
