package gatehouse

import "time"

// Session is one sign-in on one device. Its refresh tokens form one family; revoking the session
// ends the family and makes its access tokens fail on every node.
type Session struct {
	ID           string // UUIDv7; the access token's sid claim
	AccountID    string
	UserAgent    string
	Device       string // human description derived from the user agent, e.g. "Firefox on Linux"
	IP           string
	Location     string // coarse place of the IP when known
	AMR          []string
	CreatedAt    time.Time
	LastActiveAt time.Time
	ExpiresAt    time.Time // absolute lifetime; idle timeout is judged from LastActiveAt
	RevokedAt    time.Time // zero while active
	RevokeReason string    // "logout", "revoked", "reuse_detected", "account_deleted", ...
}

// RefreshToken is one member of a session's refresh-token family, stored only as the SHA-256 of the
// opaque token. Each use marks it used and creates its successor.
type RefreshToken struct {
	Hash       []byte // SHA-256 of the token
	SessionID  string
	AccountID  string
	Generation int // 1 for the first token of the session, +1 per rotation
	CreatedAt  time.Time
	ExpiresAt  time.Time
	UsedAt     time.Time // zero until rotated
	ReplacedBy []byte    // hash of the successor once rotated
}
