package sqlite

// TEMPORARY: replaced by the accounts slice in this session.

import (
	"context"
	"time"

	"github.com/gatehouse/gatehouse"
	"github.com/gatehouse/gatehouse/internal/token"
)

var (
	_ = time.Now
	_ token.StoredKey
	_ gatehouse.Account
)

func (db *DB) GetAccount(ctx context.Context, id string) (*gatehouse.Account, error) {
	return nil, errPending
}

func (t *tx) GetAccount(ctx context.Context, id string) (*gatehouse.Account, error) {
	return nil, errPending
}

func (db *DB) GetAccountByEmail(ctx context.Context, email string) (*gatehouse.Account, error) {
	return nil, errPending
}

func (t *tx) GetAccountByEmail(ctx context.Context, email string) (*gatehouse.Account, error) {
	return nil, errPending
}

func (db *DB) GetAccountByPhone(ctx context.Context, phone string) (*gatehouse.Account, error) {
	return nil, errPending
}

func (t *tx) GetAccountByPhone(ctx context.Context, phone string) (*gatehouse.Account, error) {
	return nil, errPending
}

func (t *tx) CreateAccount(ctx context.Context, a *gatehouse.Account) error { return errPending }

func (t *tx) UpdateAccount(ctx context.Context, a *gatehouse.Account) error { return errPending }

func (t *tx) CreateEmailVerification(ctx context.Context, v *gatehouse.EmailVerification) error {
	return errPending
}

func (t *tx) GetEmailVerificationByTokenHash(ctx context.Context, hash []byte) (*gatehouse.EmailVerification, error) {
	return nil, errPending
}

func (t *tx) GetLatestEmailVerification(ctx context.Context, accountID, email string) (*gatehouse.EmailVerification, error) {
	return nil, errPending
}

func (t *tx) UpdateEmailVerification(ctx context.Context, v *gatehouse.EmailVerification) error {
	return errPending
}
