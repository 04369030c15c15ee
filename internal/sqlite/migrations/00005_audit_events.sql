-- The append-only security log (internal/audit). Empty strings are stored as NULL; data is a JSON
-- object or NULL. created_at is ISO-8601 UTC text with exactly six fractional digits, so that text
-- order is time order. Each index serves one filter of the audit query API, newest first, with the id
-- as tie-breaker for keyset pagination. Rows are never updated (a trigger refuses it); retention
-- deletes old ones.

-- +goose Up
CREATE TABLE audit_events (
    id         TEXT PRIMARY KEY NOT NULL,
    action     TEXT NOT NULL,
    outcome    TEXT NOT NULL CHECK (outcome IN ('success', 'failure')),
    reason     TEXT,
    actor_id   TEXT,
    subject_id TEXT,
    session_id TEXT,
    ip         TEXT,
    user_agent TEXT,
    request_id TEXT,
    data       TEXT CHECK (data IS NULL OR json_valid(data)),
    created_at TEXT NOT NULL
) STRICT;

CREATE INDEX audit_events_subject_created ON audit_events (subject_id, created_at DESC, id DESC);
CREATE INDEX audit_events_actor_created ON audit_events (actor_id, created_at DESC, id DESC);
CREATE INDEX audit_events_action_created ON audit_events (action, created_at DESC, id DESC);
CREATE INDEX audit_events_created ON audit_events (created_at DESC, id DESC);

-- +goose StatementBegin
CREATE TRIGGER audit_events_append_only BEFORE UPDATE ON audit_events
BEGIN
    SELECT RAISE(ABORT, 'audit_events is append-only');
END;
-- +goose StatementEnd

-- +goose Down
DROP TABLE audit_events;
