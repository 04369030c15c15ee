package sqlite

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/gatehouse/gatehouse"
	"github.com/gatehouse/gatehouse/internal/records"
	"github.com/gatehouse/gatehouse/internal/storetest"
)

func TestAccounts(t *testing.T) { storetest.RunAccounts(t, newDatabase) }

// TestAccountsKeepDeletedIdentifiers checks the audit trail the contract cannot see: a deleted
// account's former email and phone stay in deleted_email and deleted_phone, through later updates.
func TestAccountsKeepDeletedIdentifiers(t *testing.T) {
	db := openMigrated(t, filepath.Join(t.TempDir(), "g.db"), time.Second)
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
	if err := db.read.QueryRowContext(ctx,
		"SELECT email, email_key, phone, deleted_email, deleted_phone FROM accounts WHERE id = ?", a.ID,
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

// TestAccountLookupsUseIndexes checks that every lookup path is served by an index, not a scan.
func TestAccountLookupsUseIndexes(t *testing.T) {
	db := openMigrated(t, filepath.Join(t.TempDir(), "g.db"), time.Second)
	for _, tc := range []struct{ query, index string }{
		{"SELECT " + accountColumns + " FROM accounts WHERE id = ?", "sqlite_autoindex_accounts_1"},
		{"SELECT " + accountColumns + " FROM accounts WHERE email_key = ? AND status <> 'deleted'", "accounts_email_key"},
		{"SELECT " + accountColumns + " FROM accounts WHERE phone = ? AND status <> 'deleted'", "accounts_phone_key"},
		{"SELECT " + verificationColumns + " FROM email_verifications WHERE token_hash = ?", "sqlite_autoindex_email_verifications_2"},
		{"SELECT " + verificationColumns + ` FROM email_verifications WHERE account_id = ? AND email = ?
			ORDER BY created_at DESC, id DESC LIMIT 1`, "email_verifications_latest"},
		{"UPDATE email_verifications SET code_attempts = 1 WHERE id = ?", "sqlite_autoindex_email_verifications_1"},
	} {
		rows, err := db.read.QueryContext(t.Context(), "EXPLAIN QUERY PLAN "+tc.query, "x", "y")
		if err != nil {
			t.Fatalf("EXPLAIN %s: %v", tc.query, err)
		}
		var plan []string
		for rows.Next() {
			var id, parent, unused int
			var detail string
			if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
				t.Fatal(err)
			}
			plan = append(plan, detail)
		}
		if err := rows.Close(); err != nil {
			t.Fatal(err)
		}
		text := strings.Join(plan, "; ")
		if !strings.Contains(text, "USING INDEX "+tc.index) && !strings.Contains(text, "USING COVERING INDEX "+tc.index) {
			t.Errorf("%s\nplan: %s\nwant a search using index %s", tc.query, text, tc.index)
		}
		if strings.Contains(text, "TEMP B-TREE") {
			t.Errorf("%s\nplan: %s\nwant no sort", tc.query, text)
		}
	}
}

// BenchmarkGetAccountByEmail measures the sign-in lookup through the read pool.
func BenchmarkGetAccountByEmail(b *testing.B) {
	db, err := Open(b.Context(), Options{Path: filepath.Join(b.TempDir(), "g.db")})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { db.Close() })
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
