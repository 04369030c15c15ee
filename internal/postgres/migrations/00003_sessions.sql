-- Sessions (one per sign-in on a device) and their refresh-token families. Refresh tokens are
-- stored only as the SHA-256 of the opaque token.

-- +goose Up
CREATE TABLE sessions (
    id             uuid PRIMARY KEY,
    account_id     uuid NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    user_agent     text NOT NULL DEFAULT '',
    device         text NOT NULL DEFAULT '',
    ip             text NOT NULL DEFAULT '',
    location       text NOT NULL DEFAULT '',
    amr            jsonb NOT NULL DEFAULT '[]', -- array of strings
    created_at     timestamptz NOT NULL,
    last_active_at timestamptz NOT NULL,
    expires_at     timestamptz NOT NULL,
    revoked_at     timestamptz,
    revoke_reason  text NOT NULL DEFAULT ''
);

-- Listing and revoking an account's live sessions, newest first.
CREATE INDEX sessions_account_live ON sessions (account_id, created_at DESC) WHERE revoked_at IS NULL;
-- The cascade from accounts, which also reaches revoked sessions.
CREATE INDEX sessions_account ON sessions (account_id);

CREATE TABLE refresh_tokens (
    hash        bytea PRIMARY KEY,
    session_id  uuid NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
    account_id  uuid NOT NULL,
    generation  integer NOT NULL,
    created_at  timestamptz NOT NULL,
    expires_at  timestamptz NOT NULL,
    used_at     timestamptz,
    replaced_by bytea
);

-- One token per generation of a family: a backstop against two successors of one token. It also
-- serves the cascade from sessions.
CREATE UNIQUE INDEX refresh_tokens_session_generation ON refresh_tokens (session_id, generation);

-- +goose Down
DROP TABLE refresh_tokens;
DROP TABLE sessions;
