-- Installation settings (key/value), read at start-up and by the admin console. SQLite has no
-- timestamp type: updated_at holds an ISO-8601 UTC text, which sorts as time.

-- +goose Up
CREATE TABLE meta (
    key        TEXT PRIMARY KEY NOT NULL,
    value      TEXT NOT NULL,
    updated_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
) WITHOUT ROWID;

-- +goose Down
DROP TABLE meta;
