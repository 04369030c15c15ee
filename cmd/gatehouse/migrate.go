package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"text/tabwriter"

	"github.com/gatehouse/gatehouse/internal/config"
)

// migrate applies the pending migrations ("migrate" or "migrate up") or lists them ("migrate status").
func migrate(ctx context.Context, cfg *config.Config, args []string, stdout io.Writer) (err error) {
	action := "up"
	if len(args) > 0 {
		action = args[0]
	}
	if len(args) > 1 || (action != "up" && action != "status") {
		return fmt.Errorf("%w: migrate takes one of: up, status", errUsage)
	}
	logger, logCloser, err := newLogger(cfg, io.Discard)
	if err != nil {
		return err
	}
	defer logCloser.Close()
	db, err := openRecords(ctx, cfg, logger, nil)
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, db.Close()) }()

	if action == "up" {
		if err := db.Migrate(ctx); err != nil {
			return fmt.Errorf("apply migrations: %w", err)
		}
	}
	list, err := db.MigrationStatus(ctx)
	if err != nil {
		return fmt.Errorf("migration status: %w", err)
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "VERSION\tNAME\tAPPLIED\n")
	pending := 0
	for _, m := range list {
		applied := "pending"
		if !m.AppliedAt.IsZero() {
			applied = m.AppliedAt.UTC().Format("2006-01-02 15:04:05Z")
		} else {
			pending++
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\n", m.Version, m.Name, applied)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%s: %d migrations, %d pending\n", db.Backend(), len(list), pending)
	return nil
}
