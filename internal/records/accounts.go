package records

import (
	"context"

	"github.com/gatehouse/gatehouse"
)

// AccountReader reads accounts, inside or outside a transaction. Lookups by email or phone find
// only accounts that are not deleted (a soft delete frees the identifiers).
type AccountReader interface {
	GetAccount(ctx context.Context, id string) (*gatehouse.Account, error)
	// GetAccountByEmail compares case-insensitively.
	GetAccountByEmail(ctx context.Context, email string) (*gatehouse.Account, error)
	GetAccountByPhone(ctx context.Context, phone string) (*gatehouse.Account, error)
}

// AccountWriter changes accounts and their email verifications.
type AccountWriter interface {
	// CreateAccount stores a new account; ErrConflict when its email or phone belongs to an account
	// that is not deleted.
	CreateAccount(ctx context.Context, a *gatehouse.Account) error
	// UpdateAccount replaces every field of the account but ID and CreatedAt; ErrNotFound if it does
	// not exist, ErrConflict on an identifier clash. A deleted account's email and phone are stored
	// as "" (freed).
	UpdateAccount(ctx context.Context, a *gatehouse.Account) error

	CreateEmailVerification(ctx context.Context, v *gatehouse.EmailVerification) error
	// GetEmailVerificationByTokenHash finds a verification by its link token hash, used or not.
	GetEmailVerificationByTokenHash(ctx context.Context, hash []byte) (*gatehouse.EmailVerification, error)
	// GetLatestEmailVerification returns the newest verification for the account and email.
	GetLatestEmailVerification(ctx context.Context, accountID, email string) (*gatehouse.EmailVerification, error)
	// UpdateEmailVerification stores CodeAttempts and ConsumedAt.
	UpdateEmailVerification(ctx context.Context, v *gatehouse.EmailVerification) error
}
