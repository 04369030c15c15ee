-- Indexes for the purge job (records.Purger), which finds what ended before a cutoff without
-- reading whole tables. Refresh tokens get none: they are found through their sessions (by the
-- session_id index of refresh_tokens_session_generation), which keeps the hottest table to the
-- indexes its writes already pay for.
--
-- IF NOT EXISTS lets an operator with a large sessions table build the indexes beforehand with
-- CREATE INDEX CONCURRENTLY (docs/operations.md), so that this migration does not hold writes to
-- the table while they build. The migration itself cannot build them concurrently: that waits for
-- every transaction in the database, other schemas' and other nodes' included.

-- +goose Up
CREATE INDEX IF NOT EXISTS sessions_expires ON sessions (expires_at);
CREATE INDEX IF NOT EXISTS sessions_revoked ON sessions (revoked_at) WHERE revoked_at IS NOT NULL;
CREATE INDEX IF NOT EXISTS email_verifications_expires ON email_verifications (expires_at);
CREATE INDEX IF NOT EXISTS email_verifications_consumed ON email_verifications (consumed_at) WHERE consumed_at IS NOT NULL;

-- +goose Down
DROP INDEX email_verifications_consumed;
DROP INDEX email_verifications_expires;
DROP INDEX sessions_revoked;
DROP INDEX sessions_expires;
