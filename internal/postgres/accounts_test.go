package postgres

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/gatehouse/gatehouse"
	"github.com/gatehouse/gatehouse/internal/records"
	"github.com/gatehouse/gatehouse/internal/storetest"
)

func TestAccounts(t *testing.T) { storetest.RunAccounts(t, newDatabase) }

// TestAccountsKeepDeletedIdentifiers checks the audit trail the contract cannot see: a deleted
// account's former email and phone stay in deleted_email and deleted_phone, through later updates.
func TestAccountsKeepDeletedIdentifiers(t *testing.T) {
	url := testURL(t)
	db := openMigrated(t, Options{URL: url, Schema: newSchema(t, url)})
	ctx := t.Context()
	now := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	a := &gatehouse.Account{
		ID: uuid.Must(uuid.NewV7()).String(), Status: gatehouse.AccountActive,
		Email: "Gone@example.com", Phone: "+15555550123", CreatedAt: now, UpdatedAt: now,
	}
	update := func(a *gatehouse.Account) {
		t.Helper()
		if err := db.InTx(ctx, func(ctx context.Context, tx records.Tx) error { return tx.UpdateAccount(ctx, a) }); err != nil {
			t.Fatalf("UpdateAccount: %v", err)
		}
	}
	if err := db.InTx(ctx, func(ctx context.Context, tx records.Tx) error { return tx.CreateAccount(ctx, a) }); err != nil {
		t.Fatalf("CreateAccount: %v", err)
	}
	a.Status, a.DeletedAt = gatehouse.AccountDeleted, now.Add(time.Hour)
	update(a)
	stored, err := db.GetAccount(ctx, a.ID)
	if err != nil {
		t.Fatalf("GetAccount: %v", err)
	}
	stored.Name = "anonymised" // updating the account as read, with empty identifiers, keeps them
	update(stored)

	var email, emailKey, phone, deletedEmail, deletedPhone *string
	if err := db.pool.QueryRow(ctx,
		"SELECT email, email_key, phone, deleted_email, deleted_phone FROM accounts WHERE id = $1", a.ID,
	).Scan(&email, &emailKey, &phone, &deletedEmail, &deletedPhone); err != nil {
		t.Fatal(err)
	}
	if email != nil || emailKey != nil || phone != nil {
		t.Errorf("deleted account holds email %v, key %v, phone %v; want NULLs", email, emailKey, phone)
	}
	if deletedEmail == nil || *deletedEmail != a.Email || deletedPhone == nil || *deletedPhone != a.Phone {
		t.Errorf("deleted_email, deleted_phone = %v, %v; want %q, %q", deletedEmail, deletedPhone, a.Email, a.Phone)
	}
}

// TestAccountLookupsUseIndexes checks that an index serves every lookup path. The tables are
// nearly empty, so sequential scans are switched off for the check: the question is whether an
// index can serve the query, not whether the planner prefers it on three rows.
func TestAccountLookupsUseIndexes(t *testing.T) {
	url := testURL(t)
	db := openMigrated(t, Options{URL: url, Schema: newSchema(t, url)})
	id := uuid.Must(uuid.NewV7()).String()
	for _, tc := range []struct {
		query string
		args  []any
		index string
	}{
		{"SELECT " + accountColumns + " FROM accounts WHERE id = $1", []any{id}, "accounts_pkey"},
		{"SELECT " + accountColumns + " FROM accounts WHERE email_key = $1 AND status <> 'deleted'", []any{"x"}, "accounts_email_key"},
		{"SELECT " + accountColumns + " FROM accounts WHERE phone = $1 AND status <> 'deleted'", []any{"x"}, "accounts_phone_key"},
		{"SELECT " + verificationColumns + " FROM email_verifications WHERE token_hash = $1", []any{[]byte("x")}, "email_verifications_token_hash_key"},
		{"SELECT " + verificationColumns + ` FROM email_verifications WHERE account_id = $1 AND email = $2
			ORDER BY created_at DESC, id DESC LIMIT 1`, []any{id, "x"}, "email_verifications_latest"},
		{"UPDATE email_verifications SET code_attempts = 1 WHERE id = $1", []any{id}, "email_verifications_pkey"},
	} {
		err := pgx.BeginFunc(t.Context(), db.pool, func(tx pgx.Tx) error {
			if _, err := tx.Exec(t.Context(), "SET LOCAL enable_seqscan = off"); err != nil {
				return err
			}
			rows, err := tx.Query(t.Context(), "EXPLAIN "+tc.query, tc.args...)
			if err != nil {
				return err
			}
			plan, err := pgx.CollectRows(rows, pgx.RowTo[string])
			if err != nil {
				return err
			}
			text := strings.Join(plan, "\n")
			if !strings.Contains(text, " using "+tc.index+" on ") {
				t.Errorf("%s\nplan:\n%s\nwant a scan using index %s", tc.query, text, tc.index)
			}
			if strings.Contains(text, "Sort") {
				t.Errorf("%s\nplan:\n%s\nwant no sort", tc.query, text)
			}
			return nil
		})
		if err != nil {
			t.Fatalf("EXPLAIN %s: %v", tc.query, err)
		}
	}
}

// BenchmarkGetAccountByEmail measures the sign-in lookup through the pool.
func BenchmarkGetAccountByEmail(b *testing.B) {
	url := os.Getenv("GATEHOUSE_TEST_POSTGRES_URL")
	if url == "" {
		b.Skip("set GATEHOUSE_TEST_POSTGRES_URL (e.g. postgres://postgres@127.0.0.1:5432/test?sslmode=disable) to run the PostgreSQL benchmarks")
	}
	schema := "gh_bench_" + strings.ReplaceAll(uuid.NewString(), "-", "")[:16]
	db, err := Open(b.Context(), Options{URL: url, Schema: schema, MaxConns: 8})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if _, err := db.pool.Exec(ctx, "DROP SCHEMA "+pgx.Identifier{schema}.Sanitize()+" CASCADE"); err != nil {
			b.Errorf("drop schema %s: %v", schema, err)
		}
		db.Close()
	})
	if err := db.Migrate(b.Context()); err != nil {
		b.Fatal(err)
	}
	now := time.Now()
	a := &gatehouse.Account{
		ID: uuid.Must(uuid.NewV7()).String(), Status: gatehouse.AccountActive, Roles: []string{"user"},
		Email: "bench@example.com", EmailVerifiedAt: now, PasswordHash: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA",
		CreatedAt: now, UpdatedAt: now,
	}
	if err := db.InTx(b.Context(), func(ctx context.Context, tx records.Tx) error { return tx.CreateAccount(ctx, a) }); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := db.GetAccountByEmail(context.Background(), "Bench@example.com"); err != nil {
				b.Error(err)
				return
			}
		}
	})
}
