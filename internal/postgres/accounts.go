package postgres

import (
	"context"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/gatehouse/gatehouse"
	"github.com/gatehouse/gatehouse/internal/records"
)

// accountColumns is the select list scanAccount reads.
const accountColumns = `id, status, roles, name, locale, email, email_verified_at, phone, phone_verified_at,
	password_hash, created_at, updated_at, deleted_at`

// GetAccount reads an account, deleted or not. An id that is not a UUID is not found.
func (db *DB) GetAccount(ctx context.Context, id string) (*gatehouse.Account, error) {
	return getAccount(ctx, db.pool, id)
}

// GetAccountByEmail finds the account that is not deleted with this email, compared
// case-insensitively.
func (db *DB) GetAccountByEmail(ctx context.Context, email string) (*gatehouse.Account, error) {
	return getAccountByEmail(ctx, db.pool, email)
}

// GetAccountByPhone finds the account that is not deleted with this phone number, compared
// exactly.
func (db *DB) GetAccountByPhone(ctx context.Context, phone string) (*gatehouse.Account, error) {
	return getAccountByPhone(ctx, db.pool, phone)
}

func (t *tx) GetAccount(ctx context.Context, id string) (*gatehouse.Account, error) {
	return getAccount(ctx, t.tx, id)
}

func (t *tx) GetAccountByEmail(ctx context.Context, email string) (*gatehouse.Account, error) {
	return getAccountByEmail(ctx, t.tx, email)
}

func (t *tx) GetAccountByPhone(ctx context.Context, phone string) (*gatehouse.Account, error) {
	return getAccountByPhone(ctx, t.tx, phone)
}

func getAccount(ctx context.Context, q querier, id string) (*gatehouse.Account, error) {
	key, ok := canonicalUUID(id)
	if !ok {
		return nil, fmt.Errorf("postgres: get account %q: %w", id, records.ErrNotFound)
	}
	a, err := scanAccount(q.QueryRow(ctx, "SELECT "+accountColumns+" FROM accounts WHERE id = $1", key))
	if err != nil {
		return nil, fmt.Errorf("postgres: get account %s: %w", key, translateCtx(ctx, err))
	}
	return a, nil
}

func getAccountByEmail(ctx context.Context, q querier, email string) (*gatehouse.Account, error) {
	if email == "" {
		return nil, fmt.Errorf("postgres: get account by empty email: %w", records.ErrNotFound)
	}
	a, err := scanAccount(q.QueryRow(ctx,
		"SELECT "+accountColumns+" FROM accounts WHERE email_key = $1 AND status <> 'deleted'", accountEmailKey(email)))
	if err != nil {
		return nil, fmt.Errorf("postgres: get account by email: %w", translateCtx(ctx, err))
	}
	return a, nil
}

func getAccountByPhone(ctx context.Context, q querier, phone string) (*gatehouse.Account, error) {
	if phone == "" {
		return nil, fmt.Errorf("postgres: get account by empty phone: %w", records.ErrNotFound)
	}
	a, err := scanAccount(q.QueryRow(ctx,
		"SELECT "+accountColumns+" FROM accounts WHERE phone = $1 AND status <> 'deleted'", phone))
	if err != nil {
		return nil, fmt.Errorf("postgres: get account by phone: %w", translateCtx(ctx, err))
	}
	return a, nil
}

// scanAccount reads one row of accountColumns.
func scanAccount(row pgx.Row) (*gatehouse.Account, error) {
	var (
		a            gatehouse.Account
		email, phone pgtype.Text
	)
	err := row.Scan(&a.ID, &a.Status, &a.Roles, &a.Name, &a.Locale,
		&email, timeDest{&a.EmailVerifiedAt}, &phone, timeDest{&a.PhoneVerifiedAt},
		&a.PasswordHash, timeDest{&a.CreatedAt}, timeDest{&a.UpdatedAt}, timeDest{&a.DeletedAt})
	if err != nil {
		return nil, err
	}
	a.Email, a.Phone = email.String, phone.String
	if a.Roles == nil {
		a.Roles = []string{}
	}
	return &a, nil
}

// accountRow is an account as its columns hold it.
type accountRow struct {
	id, status string
	roles      []string // never nil: pgx sends a nil slice as NULL
	// email, emailKey and phone are NULL when absent or when the account is deleted; a deleted
	// account's identifiers go to deletedEmail and deletedPhone instead.
	email, emailKey, phone     pgtype.Text
	deletedEmail, deletedPhone pgtype.Text
}

// newAccountRow checks the invariants the schema also enforces, with a clearer message, and maps
// the account to its columns: an empty identifier is NULL, and a deleted account's identifiers move
// aside so that they are free.
func newAccountRow(a *gatehouse.Account) (accountRow, error) {
	id, ok := canonicalUUID(a.ID)
	if !ok {
		return accountRow{}, fmt.Errorf("account id %q is not a UUID", a.ID)
	}
	deleted := a.Status == gatehouse.AccountDeleted
	if deleted == a.DeletedAt.IsZero() {
		return accountRow{}, fmt.Errorf("account %s: status %q with deleted time %v: the deleted time is set exactly when the status is deleted",
			id, a.Status, a.DeletedAt)
	}
	r := accountRow{id: id, status: string(a.Status), roles: a.Roles}
	if r.roles == nil {
		r.roles = []string{}
	}
	if deleted {
		r.deletedEmail, r.deletedPhone = nullText(a.Email), nullText(a.Phone)
	} else {
		r.email, r.emailKey, r.phone = nullText(a.Email), nullText(accountEmailKey(a.Email)), nullText(a.Phone)
	}
	return r, nil
}

// CreateAccount inserts the account; records.ErrConflict when its id, email or phone is taken.
// A conflict aborts the transaction, as any error does on PostgreSQL.
func (t *tx) CreateAccount(ctx context.Context, a *gatehouse.Account) error {
	r, err := newAccountRow(a)
	if err != nil {
		return fmt.Errorf("postgres: create account: %w", err)
	}
	const q = `INSERT INTO accounts (id, status, roles, name, locale, email, email_key, email_verified_at,
		phone, phone_verified_at, password_hash, created_at, updated_at, deleted_at, deleted_email, deleted_phone)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)`
	_, err = t.tx.Exec(ctx, q, r.id, r.status, r.roles, a.Name, a.Locale,
		r.email, r.emailKey, timeArg(a.EmailVerifiedAt), r.phone, timeArg(a.PhoneVerifiedAt),
		a.PasswordHash, timeArg(a.CreatedAt), timeArg(a.UpdatedAt), timeArg(a.DeletedAt),
		r.deletedEmail, r.deletedPhone)
	if err != nil {
		return fmt.Errorf("postgres: create account %s: %w", r.id, translateCtx(ctx, err))
	}
	return nil
}

// UpdateAccount replaces every column but id and created_at. When the account is deleted its
// email and phone become NULL, and the former values (those given, else those stored) move to
// deleted_email and deleted_phone.
func (t *tx) UpdateAccount(ctx context.Context, a *gatehouse.Account) error {
	r, err := newAccountRow(a)
	if err != nil {
		return fmt.Errorf("postgres: update account: %w", err)
	}
	const q = `UPDATE accounts SET status = $1, roles = $2, name = $3, locale = $4,
		email = $5, email_key = $6, email_verified_at = $7, phone = $8, phone_verified_at = $9,
		password_hash = $10, updated_at = $11, deleted_at = $12,
		deleted_email = CASE WHEN $1 = 'deleted' THEN coalesce($13, email, deleted_email) END,
		deleted_phone = CASE WHEN $1 = 'deleted' THEN coalesce($14, phone, deleted_phone) END
		WHERE id = $15`
	tag, err := t.tx.Exec(ctx, q, r.status, r.roles, a.Name, a.Locale,
		r.email, r.emailKey, timeArg(a.EmailVerifiedAt), r.phone, timeArg(a.PhoneVerifiedAt),
		a.PasswordHash, timeArg(a.UpdatedAt), timeArg(a.DeletedAt),
		r.deletedEmail, r.deletedPhone, r.id)
	if err != nil {
		return fmt.Errorf("postgres: update account %s: %w", r.id, translateCtx(ctx, err))
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("postgres: update account %s: %w", r.id, records.ErrNotFound)
	}
	return nil
}

// verificationColumns is the select list scanEmailVerification reads.
const verificationColumns = `id, account_id, email, token_hash, code_hash, expires_at, code_expires_at,
	code_attempts, consumed_at, created_at`

// CreateEmailVerification inserts the verification; records.ErrConflict when its id or token hash
// is taken or its account does not exist.
func (t *tx) CreateEmailVerification(ctx context.Context, v *gatehouse.EmailVerification) error {
	id, ok := canonicalUUID(v.ID)
	if !ok {
		return fmt.Errorf("postgres: create email verification: id %q is not a UUID", v.ID)
	}
	accountID, ok := canonicalUUID(v.AccountID)
	if !ok {
		return fmt.Errorf("postgres: create email verification %s: account id %q is not a UUID", id, v.AccountID)
	}
	const q = `INSERT INTO email_verifications (id, account_id, email, token_hash, code_hash, expires_at,
		code_expires_at, code_attempts, consumed_at, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`
	_, err := t.tx.Exec(ctx, q, id, accountID, v.Email, v.TokenHash, nullBytes(v.CodeHash),
		timeArg(v.ExpiresAt), timeArg(v.CodeExpiresAt), v.CodeAttempts,
		timeArg(v.ConsumedAt), timeArg(v.CreatedAt))
	if err != nil {
		return fmt.Errorf("postgres: create email verification %s: %w", id, translateCtx(ctx, err))
	}
	return nil
}

// GetEmailVerificationByTokenHash finds a verification by its link token hash, used or not.
func (t *tx) GetEmailVerificationByTokenHash(ctx context.Context, hash []byte) (*gatehouse.EmailVerification, error) {
	if len(hash) == 0 {
		return nil, fmt.Errorf("postgres: get email verification by empty token hash: %w", records.ErrNotFound)
	}
	v, err := scanEmailVerification(t.tx.QueryRow(ctx,
		"SELECT "+verificationColumns+" FROM email_verifications WHERE token_hash = $1", hash))
	if err != nil {
		return nil, fmt.Errorf("postgres: get email verification by token hash: %w", translateCtx(ctx, err))
	}
	return v, nil
}

// GetLatestEmailVerification returns the verification created last for the account and email
// (compared exactly); of two created at the same time, the one with the greater id.
func (t *tx) GetLatestEmailVerification(ctx context.Context, accountID, email string) (*gatehouse.EmailVerification, error) {
	key, ok := canonicalUUID(accountID)
	if !ok {
		return nil, fmt.Errorf("postgres: get latest email verification of account %q: %w", accountID, records.ErrNotFound)
	}
	v, err := scanEmailVerification(t.tx.QueryRow(ctx, "SELECT "+verificationColumns+
		` FROM email_verifications WHERE account_id = $1 AND email = $2
		ORDER BY created_at DESC, id DESC LIMIT 1`, key, email))
	if err != nil {
		return nil, fmt.Errorf("postgres: get latest email verification of account %s: %w", key, translateCtx(ctx, err))
	}
	return v, nil
}

// UpdateEmailVerification stores CodeAttempts and ConsumedAt; records.ErrNotFound if the
// verification does not exist.
func (t *tx) UpdateEmailVerification(ctx context.Context, v *gatehouse.EmailVerification) error {
	id, ok := canonicalUUID(v.ID)
	if !ok {
		return fmt.Errorf("postgres: update email verification %q: %w", v.ID, records.ErrNotFound)
	}
	tag, err := t.tx.Exec(ctx, "UPDATE email_verifications SET code_attempts = $1, consumed_at = $2 WHERE id = $3",
		v.CodeAttempts, timeArg(v.ConsumedAt), id)
	if err != nil {
		return fmt.Errorf("postgres: update email verification %s: %w", id, translateCtx(ctx, err))
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("postgres: update email verification %s: %w", id, records.ErrNotFound)
	}
	return nil
}

func scanEmailVerification(row pgx.Row) (*gatehouse.EmailVerification, error) {
	var v gatehouse.EmailVerification
	err := row.Scan(&v.ID, &v.AccountID, &v.Email, &v.TokenHash, &v.CodeHash,
		timeDest{&v.ExpiresAt}, timeDest{&v.CodeExpiresAt}, &v.CodeAttempts,
		timeDest{&v.ConsumedAt}, timeDest{&v.CreatedAt})
	if err != nil {
		return nil, err
	}
	return &v, nil
}

// accountEmailKey is the case-folded form of an email that uniqueness and lookups compare. It is
// computed here, not by SQL's lower(), so that both backends fold alike (see the migration).
func accountEmailKey(email string) string { return strings.ToLower(email) }
