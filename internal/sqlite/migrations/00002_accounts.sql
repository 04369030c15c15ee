-- Accounts and their email verifications.
--
-- Times are ISO-8601 UTC text with six fractional digits (2006-01-02T15:04:05.000000Z): fixed width,
-- so they sort and compare as times; NULL is the zero time.
--
-- email_key is the email folded to lower case by the program (Go's strings.ToLower), which backs the
-- case-insensitive uniqueness and lookup. SQLite's lower() folds ASCII only, while PostgreSQL's
-- folds by the database's locale: a key computed outside both makes the two backends agree on which
-- addresses clash. email and phone are NULL when absent, and NULL once the account is deleted (the
-- identifiers are freed; the former values stay in deleted_email and deleted_phone for the audit
-- trail), so the unique indexes only ever see live identifiers.

-- +goose Up
CREATE TABLE accounts (
    id                TEXT PRIMARY KEY NOT NULL,
    status            TEXT NOT NULL CHECK (status IN ('active', 'locked', 'disabled', 'deleted')),
    roles             TEXT NOT NULL DEFAULT '[]' CHECK (json_valid(roles) AND json_type(roles) = 'array'),
    name              TEXT NOT NULL DEFAULT '',
    locale            TEXT NOT NULL DEFAULT '',
    email             TEXT CHECK (email <> ''),
    email_key         TEXT,
    email_verified_at TEXT,
    phone             TEXT CHECK (phone <> ''),
    phone_verified_at TEXT,
    password_hash     TEXT NOT NULL DEFAULT '',
    created_at        TEXT NOT NULL,
    updated_at        TEXT NOT NULL,
    deleted_at        TEXT,
    deleted_email     TEXT,
    deleted_phone     TEXT,
    CHECK ((email IS NULL) = (email_key IS NULL)),
    CHECK (status <> 'deleted' OR (email IS NULL AND phone IS NULL AND deleted_at IS NOT NULL)),
    CHECK (status = 'deleted' OR (deleted_at IS NULL AND deleted_email IS NULL AND deleted_phone IS NULL))
);

-- The partial indexes serve the lookups, which repeat their condition (status <> 'deleted').
CREATE UNIQUE INDEX accounts_email_key ON accounts (email_key) WHERE status <> 'deleted';
CREATE UNIQUE INDEX accounts_phone_key ON accounts (phone) WHERE status <> 'deleted';

CREATE TABLE email_verifications (
    id              TEXT PRIMARY KEY NOT NULL,
    account_id      TEXT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    email           TEXT NOT NULL,
    token_hash      BLOB NOT NULL UNIQUE,
    code_hash       BLOB,
    expires_at      TEXT NOT NULL,
    code_expires_at TEXT,
    code_attempts   INTEGER NOT NULL DEFAULT 0 CHECK (code_attempts >= 0),
    consumed_at     TEXT,
    created_at      TEXT NOT NULL
);

-- The newest verification for an account and address; also serves the foreign key's cascade.
CREATE INDEX email_verifications_latest ON email_verifications (account_id, email, created_at DESC, id DESC);

-- +goose Down
DROP TABLE email_verifications;
DROP TABLE accounts;
