package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"text/tabwriter"
	"time"

	"github.com/gatehouse/gatehouse/internal/config"
	"github.com/gatehouse/gatehouse/internal/token"
)

// newKeyManager builds the signing-key manager over the records store.
func newKeyManager(cfg *config.Config, store token.KeyStore, secrets derivedKeys, logger *slog.Logger) (*token.KeyManager, error) {
	km, err := token.NewKeyManager(store, token.KeyOptions{
		Algorithm:       cfg.Token.Algorithm,
		EncryptionKey:   secrets.signingKeyEncryption,
		Overlap:         cfg.Token.KeyOverlap,
		ActivationDelay: activationDelay(cfg.Token.ActivationDelay),
		Logger:          logger,
	})
	if err != nil {
		return nil, fmt.Errorf("signing keys: %w", err)
	}
	return km, nil
}

// activationDelay maps the configured delay to the token package's convention (negative:
// immediately; zero: its default).
func activationDelay(d time.Duration) time.Duration {
	if d == 0 {
		return -1
	}
	return d
}

// keys manages the access-token signing keys: "keys list" shows them, "keys rotate" creates a new
// signing key (published at once, signing after the activation delay) and retires the current one,
// which keeps verifying until the overlap has passed.
func keys(ctx context.Context, cfg *config.Config, args []string, stdout io.Writer) (err error) {
	if len(args) != 1 || (args[0] != "list" && args[0] != "rotate") {
		return fmt.Errorf("%w: keys takes one of: list, rotate", errUsage)
	}
	logger, logCloser, err := newLogger(cfg, io.Discard)
	if err != nil {
		return err
	}
	defer logCloser.Close()
	secrets, err := loadSecrets(cfg)
	if err != nil {
		return err
	}
	db, err := openRecords(ctx, cfg, logger, nil)
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, db.Close()) }()
	if cfg.Database.AutoMigrate {
		if err := db.Migrate(ctx); err != nil {
			return fmt.Errorf("database migrations: %w", err)
		}
	}
	km, err := newKeyManager(cfg, db, secrets, logger)
	if err != nil {
		return err
	}
	if err := km.Load(ctx); err != nil {
		return fmt.Errorf("load signing keys: %w", err)
	}
	if args[0] == "rotate" {
		k, err := km.Rotate(ctx)
		if err != nil {
			return fmt.Errorf("rotate signing keys: %w", err)
		}
		fmt.Fprintf(stdout, "new signing key %s (%s) published now, signing from %s\n", k.ID, k.Algorithm, k.ActivatesAt.UTC().Format(time.RFC3339))
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "KID\tALG\tGEN\tSTATE\tCREATED\tSIGNS FROM\tRETIRES\tEXPIRES")
	for _, k := range km.Keys() {
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\t%s\t%s\t%s\n", k.ID, k.Algorithm, k.Generation, k.State,
			stamp(k.CreatedAt), stamp(k.ActivatesAt), stamp(k.RetiresAt), stamp(k.ExpiresAt))
	}
	return tw.Flush()
}

func stamp(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format(time.RFC3339)
}
