-- The append-only security log (internal/audit). Empty strings are stored as NULL; data is a JSON
-- object or NULL. Ids are text, not uuid, so that a malformed id in a query is simply not found (as on
-- SQLite) rather than an error. Each index serves one filter of the audit query API, newest first,
-- with the id as tie-breaker for keyset pagination. Rows are never updated (a trigger refuses it);
-- retention deletes old ones.

-- +goose Up
CREATE TABLE audit_events (
    id         text PRIMARY KEY,
    action     text NOT NULL,
    outcome    text NOT NULL CHECK (outcome IN ('success', 'failure')),
    reason     text,
    actor_id   text,
    subject_id text,
    session_id text,
    ip         text,
    user_agent text,
    request_id text,
    data       jsonb CHECK (data IS NULL OR jsonb_typeof(data) = 'object'),
    created_at timestamptz NOT NULL
);

CREATE INDEX audit_events_subject_created ON audit_events (subject_id, created_at DESC, id DESC);
CREATE INDEX audit_events_actor_created ON audit_events (actor_id, created_at DESC, id DESC);
CREATE INDEX audit_events_action_created ON audit_events (action, created_at DESC, id DESC);
CREATE INDEX audit_events_created ON audit_events (created_at DESC, id DESC);

-- +goose StatementBegin
CREATE FUNCTION audit_events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_events is append-only';
END
$$;
-- +goose StatementEnd

CREATE TRIGGER audit_events_append_only BEFORE UPDATE ON audit_events
    FOR EACH ROW EXECUTE FUNCTION audit_events_append_only();

-- +goose Down
DROP TABLE audit_events;
DROP FUNCTION audit_events_append_only();
