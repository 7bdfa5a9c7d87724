-- +goose Up
-- A Remote Control session opened while working as an installer ("access
-- without password") is stored under the installer; acting_by keeps the
-- account that really opened it, so revoking the access, or ending that
-- account's credentials, ends the session too.
ALTER TABLE remote_sessions ADD COLUMN acting_by BIGINT;

-- +goose Down
ALTER TABLE remote_sessions DROP COLUMN acting_by;
