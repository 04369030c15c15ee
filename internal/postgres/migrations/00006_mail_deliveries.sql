-- The delivery record of each outgoing email, for the sending job and for operators. Empty strings
-- are stored as NULL; sent_at is NULL until sent. Listing is newest first, overall or by status.

-- +goose Up
CREATE TABLE mail_deliveries (
    id                  text PRIMARY KEY,
    recipient           text NOT NULL,
    template            text NOT NULL,
    subject             text NOT NULL,
    status              text NOT NULL CHECK (status IN ('queued', 'sent', 'failed')),
    attempts            integer NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    last_error          text,
    provider_message_id text,
    created_at          timestamptz NOT NULL,
    updated_at          timestamptz NOT NULL,
    sent_at             timestamptz
);

CREATE INDEX mail_deliveries_created ON mail_deliveries (created_at DESC, id DESC);
CREATE INDEX mail_deliveries_status_created ON mail_deliveries (status, created_at DESC, id DESC);

-- +goose Down
DROP TABLE mail_deliveries;
