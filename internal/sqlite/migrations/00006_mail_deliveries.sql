-- The delivery record of each outgoing email, for the sending job and for operators. Empty strings
-- are stored as NULL; times are ISO-8601 UTC text with exactly six fractional digits (text order is
-- time order), sent_at NULL until sent. Listing is newest first, overall or by status.

-- +goose Up
CREATE TABLE mail_deliveries (
    id                  TEXT PRIMARY KEY NOT NULL,
    recipient           TEXT NOT NULL,
    template            TEXT NOT NULL,
    subject             TEXT NOT NULL,
    status              TEXT NOT NULL CHECK (status IN ('queued', 'sent', 'failed')),
    attempts            INTEGER NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    last_error          TEXT,
    provider_message_id TEXT,
    created_at          TEXT NOT NULL,
    updated_at          TEXT NOT NULL,
    sent_at             TEXT
) STRICT;

CREATE INDEX mail_deliveries_created ON mail_deliveries (created_at DESC, id DESC);
CREATE INDEX mail_deliveries_status_created ON mail_deliveries (status, created_at DESC, id DESC);

-- +goose Down
DROP TABLE mail_deliveries;
