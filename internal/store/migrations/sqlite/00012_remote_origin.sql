-- +goose Up
-- Remote Control on a separate origin (--remote-url): the link carries a
-- single-use handoff code; the browser that claims it gets a secret of its
-- own for the rest of the session.
ALTER TABLE remote_sessions ADD COLUMN handoff_hash TEXT NOT NULL DEFAULT '';
ALTER TABLE remote_sessions ADD COLUMN browser_hash TEXT NOT NULL DEFAULT '';

-- +goose Down
ALTER TABLE remote_sessions DROP COLUMN browser_hash;
ALTER TABLE remote_sessions DROP COLUMN handoff_hash;
