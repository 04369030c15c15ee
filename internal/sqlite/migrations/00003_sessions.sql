-- Sessions (one per sign-in on a device) and their refresh-token families. Times are ISO-8601 UTC
-- text with microseconds (fixed width, so they sort as time); NULL is "not yet" (revoked_at, used_at).
-- Refresh tokens are stored only as the SHA-256 of the opaque token.

-- +goose Up
CREATE TABLE sessions (
    id             TEXT PRIMARY KEY NOT NULL,
    account_id     TEXT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    user_agent     TEXT NOT NULL DEFAULT '',
    device         TEXT NOT NULL DEFAULT '',
    ip             TEXT NOT NULL DEFAULT '',
    location       TEXT NOT NULL DEFAULT '',
    amr            TEXT NOT NULL DEFAULT '[]', -- JSON array of strings
    created_at     TEXT NOT NULL,
    last_active_at TEXT NOT NULL,
    expires_at     TEXT NOT NULL,
    revoked_at     TEXT,
    revoke_reason  TEXT NOT NULL DEFAULT ''
) WITHOUT ROWID;

-- Listing and revoking an account's live sessions, newest first.
CREATE INDEX sessions_account_live ON sessions (account_id, created_at DESC) WHERE revoked_at IS NULL;
-- The cascade from accounts, which also reaches revoked sessions.
CREATE INDEX sessions_account ON sessions (account_id);

CREATE TABLE refresh_tokens (
    hash        BLOB PRIMARY KEY NOT NULL,
    session_id  TEXT NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
    account_id  TEXT NOT NULL,
    generation  INTEGER NOT NULL,
    created_at  TEXT NOT NULL,
    expires_at  TEXT NOT NULL,
    used_at     TEXT,
    replaced_by BLOB
) WITHOUT ROWID;

-- One token per generation of a family: a backstop against two successors of one token. It also
-- serves the cascade from sessions.
CREATE UNIQUE INDEX refresh_tokens_session_generation ON refresh_tokens (session_id, generation);

-- +goose Down
DROP TABLE refresh_tokens;
DROP TABLE sessions;
