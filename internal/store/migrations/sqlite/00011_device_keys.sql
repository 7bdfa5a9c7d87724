-- +goose Up
-- Keys a factory reset voided, newest first, separated by spaces (at most
-- eight SHA-256 hashes): a request still in flight with such a key must not
-- bind it again once the binding is cleared (docs/device-protocol.md §1).
ALTER TABLE devices ADD COLUMN retired_keys TEXT NOT NULL DEFAULT '';

-- +goose Down
ALTER TABLE devices DROP COLUMN retired_keys;
