-- Accounts and their email verifications.
--
-- email_key is the email folded to lower case by the program (Go's strings.ToLower), which backs the
-- case-insensitive uniqueness and lookup: PostgreSQL's lower() folds by the database's locale and
-- SQLite's by ASCII only, so a key computed outside both makes the two backends agree on which
-- addresses clash. email and phone are NULL when absent, and NULL once the account is deleted (the
-- identifiers are freed; the former values stay in deleted_email and deleted_phone for the audit
-- trail), so the unique indexes only ever see live identifiers.

-- +goose Up
CREATE TABLE accounts (
    id                uuid PRIMARY KEY,
    status            text NOT NULL
        CONSTRAINT accounts_status_check CHECK (status IN ('active', 'locked', 'disabled', 'deleted')),
    roles             text[] NOT NULL DEFAULT '{}',
    name              text NOT NULL DEFAULT '',
    locale            text NOT NULL DEFAULT '',
    email             text CONSTRAINT accounts_email_check CHECK (email <> ''),
    email_key         text,
    email_verified_at timestamptz,
    phone             text CONSTRAINT accounts_phone_check CHECK (phone <> ''),
    phone_verified_at timestamptz,
    password_hash     text NOT NULL DEFAULT '',
    created_at        timestamptz NOT NULL,
    updated_at        timestamptz NOT NULL,
    deleted_at        timestamptz,
    deleted_email     text,
    deleted_phone     text,
    CONSTRAINT accounts_email_key_check CHECK ((email IS NULL) = (email_key IS NULL)),
    CONSTRAINT accounts_deleted_check
        CHECK (status <> 'deleted' OR (email IS NULL AND phone IS NULL AND deleted_at IS NOT NULL)),
    CONSTRAINT accounts_live_check
        CHECK (status = 'deleted' OR (deleted_at IS NULL AND deleted_email IS NULL AND deleted_phone IS NULL))
);

-- The partial indexes serve the lookups, which repeat their condition (status <> 'deleted').
CREATE UNIQUE INDEX accounts_email_key ON accounts (email_key) WHERE status <> 'deleted';
CREATE UNIQUE INDEX accounts_phone_key ON accounts (phone) WHERE status <> 'deleted';

CREATE TABLE email_verifications (
    id              uuid PRIMARY KEY,
    account_id      uuid NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    email           text NOT NULL,
    token_hash      bytea NOT NULL CONSTRAINT email_verifications_token_hash_key UNIQUE,
    code_hash       bytea,
    expires_at      timestamptz NOT NULL,
    code_expires_at timestamptz,
    code_attempts   integer NOT NULL DEFAULT 0 CONSTRAINT email_verifications_code_attempts_check CHECK (code_attempts >= 0),
    consumed_at     timestamptz,
    created_at      timestamptz NOT NULL
);

-- The newest verification for an account and address; also serves the foreign key's cascade.
CREATE INDEX email_verifications_latest ON email_verifications (account_id, email, created_at DESC, id DESC);

-- +goose Down
DROP TABLE email_verifications;
DROP TABLE accounts;
