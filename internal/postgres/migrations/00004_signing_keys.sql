-- Signing keys of the access tokens (internal/token). The token package seals the private key before
-- it gets here; the public key is PKIX DER, in the clear for operators. NULL times are "not
-- scheduled". The unique generation is how nodes starting or rotating at once settle on one key.

-- +goose Up
CREATE TABLE signing_keys (
    id           text PRIMARY KEY,
    generation   bigint NOT NULL UNIQUE,
    algorithm    text NOT NULL,
    public_key   bytea NOT NULL,
    private_key  bytea NOT NULL,
    created_at   timestamptz,
    activates_at timestamptz,
    retires_at   timestamptz,
    expires_at   timestamptz
);

-- +goose Down
DROP TABLE signing_keys;
