package main

import (
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/gatehouse/gatehouse/internal/config"
)

// secretKeyFile is where the embedded default keeps the master secret it generated.
const secretKeyFile = "secret.key"

// derivedKeys are the keys gatehouse derives from the master secret, one per purpose, so that no key
// ever serves two purposes.
type derivedKeys struct {
	signingKeyEncryption []byte // encrypts token signing keys at rest
	codes                []byte // HMAC key of email verification code hashes
	otp                  []byte // HMAC key of one-time codes and of their limit keys
	smsJobs              []byte // seals the template data (codes) of queued text messages
	mailJobs             []byte // seals the template data (links, codes) of queued emails
}

// loadSecrets decodes GATEHOUSE_SECRET_KEY, or in development reads (creating it on first start) the
// generated secret in the data directory, and derives the purpose keys.
func loadSecrets(cfg *config.Config) (derivedKeys, error) {
	raw := cfg.SecretKey
	if raw == "" {
		if cfg.Production() {
			return derivedKeys{}, errors.New("GATEHOUSE_SECRET_KEY: required in production")
		}
		var err error
		if raw, err = devSecret(cfg.DataDir); err != nil {
			return derivedKeys{}, err
		}
	}
	master, err := config.DecodeSecretKey(raw)
	if err != nil {
		return derivedKeys{}, fmt.Errorf("GATEHOUSE_SECRET_KEY: %w", err)
	}
	derive := func(purpose string) ([]byte, error) {
		return hkdf.Key(sha256.New, master, nil, "gatehouse "+purpose, 32)
	}
	var k derivedKeys
	if k.signingKeyEncryption, err = derive("signing-key encryption v1"); err != nil {
		return derivedKeys{}, err
	}
	if k.codes, err = derive("one-time codes v1"); err != nil {
		return derivedKeys{}, err
	}
	if k.otp, err = derive("otp engine v1"); err != nil {
		return derivedKeys{}, err
	}
	if k.smsJobs, err = derive("sms job data v1"); err != nil {
		return derivedKeys{}, err
	}
	if k.mailJobs, err = derive("mail job data v1"); err != nil {
		return derivedKeys{}, err
	}
	return k, nil
}

// devSecret returns the development master secret kept in dataDir, generating it (0600) on first
// use. Losing it only means that the stored signing keys are replaced on the next start.
func devSecret(dataDir string) (string, error) {
	path := filepath.Join(dataDir, secretKeyFile)
	b, err := os.ReadFile(path)
	if err == nil {
		return strings.TrimSpace(string(b)), nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return "", fmt.Errorf("read the development secret %s: %w", path, err)
	}
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return "", fmt.Errorf("create the data directory %s (GATEHOUSE_DATA_DIR): %w", dataDir, err)
	}
	secret := make([]byte, 32)
	if _, err := rand.Read(secret); err != nil {
		return "", err
	}
	enc := base64.StdEncoding.EncodeToString(secret)
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) { // another process made it first
		return devSecret(dataDir)
	}
	if err != nil {
		return "", fmt.Errorf("create the development secret %s: %w", path, err)
	}
	if _, err := f.WriteString(enc + "\n"); err != nil {
		f.Close()
		return "", fmt.Errorf("write the development secret %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return "", fmt.Errorf("write the development secret %s: %w", path, err)
	}
	return enc, nil
}
