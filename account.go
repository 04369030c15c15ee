package gatehouse

import "time"

// AccountStatus is the lifecycle state of an account.
type AccountStatus string

// Account statuses.
const (
	AccountActive   AccountStatus = "active"
	AccountLocked   AccountStatus = "locked"   // too many failed sign-ins; unlocked by email link or admin
	AccountDisabled AccountStatus = "disabled" // by an administrator
	AccountDeleted  AccountStatus = "deleted"  // soft-deleted: the row stays, the identifiers are freed
)

// Account is a user of an app that trusts gatehouse. It has an email and/or a phone number, each
// with the time it was verified (zero when not verified).
type Account struct {
	ID              string // UUIDv7
	Status          AccountStatus
	Roles           []string
	Name            string
	Locale          string // BCP 47 tag, e.g. "en", "ar"
	Email           string // normalised (trimmed, domain lower-cased); "" when none
	EmailVerifiedAt time.Time
	Phone           string // E.164; "" when none
	PhoneVerifiedAt time.Time
	// PasswordHash is a PHC string (Argon2id) or an imported bcrypt hash; "" when the account has no
	// password (passwordless or social sign-in only). It never leaves the service.
	PasswordHash string
	CreatedAt    time.Time
	UpdatedAt    time.Time
	DeletedAt    time.Time // zero unless Status is AccountDeleted
}

// EmailVerification is one verification email's secrets, stored only as hashes: a link token (long,
// single use) and a short code (for apps that cannot open links) with an attempt counter.
type EmailVerification struct {
	ID            string // UUIDv7
	AccountID     string
	Email         string
	TokenHash     []byte // SHA-256 of the 32-byte link token
	CodeHash      []byte // keyed hash of the 6-digit code
	ExpiresAt     time.Time
	CodeExpiresAt time.Time
	CodeAttempts  int
	ConsumedAt    time.Time // zero until used (or superseded)
	CreatedAt     time.Time
}
