-- Installation settings (key/value), read at start-up and by the admin console.

-- +goose Up
CREATE TABLE meta (
    key        text PRIMARY KEY,
    value      text NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now()
);

-- +goose Down
DROP TABLE meta;
