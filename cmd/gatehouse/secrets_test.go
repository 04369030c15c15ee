package main

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/gatehouse/gatehouse/internal/config"
)

func TestLoadSecrets(t *testing.T) {
	t.Run("development generates one secret and keeps it", func(t *testing.T) {
		dir := t.TempDir()
		cfg := config.Default()
		cfg.DataDir = dir
		k1, err := loadSecrets(cfg)
		if err != nil {
			t.Fatal(err)
		}
		info, err := os.Stat(filepath.Join(dir, secretKeyFile))
		if err != nil || info.Mode().Perm() != 0o600 {
			t.Fatalf("secret file: %v, mode %v", err, info.Mode())
		}
		k2, err := loadSecrets(cfg)
		if err != nil || !bytes.Equal(k1.signingKeyEncryption, k2.signingKeyEncryption) || !bytes.Equal(k1.codes, k2.codes) {
			t.Fatalf("second load differs: %v", err)
		}
		keys := [][]byte{k1.signingKeyEncryption, k1.codes, k1.otp, k1.smsJobs, k1.mailJobs}
		for i, a := range keys {
			if len(a) != 32 {
				t.Errorf("key %d is %d bytes, want 32", i, len(a))
			}
			for _, b := range keys[i+1:] {
				if bytes.Equal(a, b) {
					t.Fatal("the purposes share a key")
				}
			}
		}
	})
	t.Run("configured secret is used and derived deterministically", func(t *testing.T) {
		cfg := config.Default()
		cfg.DataDir = t.TempDir()
		cfg.SecretKey = "GIV82tiV23zZNBb5AWiRUjiwSwA6rLfgW8F5p+8uugQ="
		k1, err := loadSecrets(cfg)
		if err != nil {
			t.Fatal(err)
		}
		k2, _ := loadSecrets(cfg)
		if !bytes.Equal(k1.codes, k2.codes) || len(k1.codes) != 32 {
			t.Fatal("derivation is not deterministic")
		}
		if _, err := os.Stat(filepath.Join(cfg.DataDir, secretKeyFile)); !os.IsNotExist(err) {
			t.Fatal("a secret file was written although the secret is configured")
		}
	})
	t.Run("production without a secret fails", func(t *testing.T) {
		cfg := config.Default()
		cfg.Env = config.EnvProduction
		if _, err := loadSecrets(cfg); err == nil {
			t.Fatal("no error")
		}
	})
}
