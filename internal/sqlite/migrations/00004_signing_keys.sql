-- Signing keys of the access tokens (internal/token). The token package seals the private key before
-- it gets here; the public key is PKIX DER, in the clear for operators. Times are ISO-8601 UTC text
-- with exactly six fractional digits, so that text order is time order; NULL is "not scheduled".
-- The unique generation is how nodes starting or rotating at once settle on one key.

-- +goose Up
CREATE TABLE signing_keys (
    id           TEXT PRIMARY KEY NOT NULL,
    generation   INTEGER NOT NULL UNIQUE,
    algorithm    TEXT NOT NULL,
    public_key   BLOB NOT NULL,
    private_key  BLOB NOT NULL,
    created_at   TEXT,
    activates_at TEXT,
    retires_at   TEXT,
    expires_at   TEXT
) STRICT;

-- +goose Down
DROP TABLE signing_keys;
