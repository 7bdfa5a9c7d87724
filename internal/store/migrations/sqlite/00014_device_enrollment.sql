-- +goose Up
-- Device enrollment (docs/device-protocol.md §1): a key the cloud has not
-- accepted waits here as pending until a person accepts or rejects it, an
-- acceptance window or a claim code accepts it. devices.key_hash stays the
-- accepted key, so every binding made before this migration (trust on first
-- use) is accepted as it stands.
CREATE TABLE device_keys (
    id           INTEGER PRIMARY KEY,
    device_id    BIGINT NOT NULL REFERENCES devices(id) ON DELETE CASCADE,
    key_hash     TEXT NOT NULL,
    status       TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ('pending','rejected')),
    remote_addr  TEXT NOT NULL DEFAULT '',
    model        TEXT NOT NULL DEFAULT '',
    firmware     TEXT NOT NULL DEFAULT '',
    attempts     BIGINT NOT NULL DEFAULT 1,
    first_at     DATETIME NOT NULL,
    last_at      DATETIME NOT NULL,
    decided_by   BIGINT REFERENCES accounts(id) ON DELETE SET NULL,
    decided_at   DATETIME
);
CREATE UNIQUE INDEX device_keys_device_key ON device_keys (device_id, key_hash);
CREATE INDEX device_keys_pending ON device_keys (last_at) WHERE status = 'pending';

-- "Accept the next key" windows an installer opens standing at a device
-- (one MAC) or a project (each of its devices without an accepted key).
CREATE TABLE enroll_windows (
    id           INTEGER PRIMARY KEY,
    device_id    BIGINT REFERENCES devices(id) ON DELETE CASCADE,
    project_id   BIGINT REFERENCES projects(id) ON DELETE CASCADE,
    opened_by    BIGINT REFERENCES accounts(id) ON DELETE SET NULL,
    opened_at    DATETIME NOT NULL,
    expires_at   DATETIME NOT NULL,
    closed_at    DATETIME,
    CHECK ((device_id IS NULL) <> (project_id IS NULL))
);
CREATE INDEX enroll_windows_device ON enroll_windows (device_id) WHERE device_id IS NOT NULL;
CREATE INDEX enroll_windows_project ON enroll_windows (project_id) WHERE project_id IS NOT NULL;

-- A maker's claim code per MAC, imported with the MAC library: SHA-256 hex,
-- empty for none.
ALTER TABLE installer_macs ADD COLUMN claim_hash TEXT NOT NULL DEFAULT '';

-- +goose Down
ALTER TABLE installer_macs DROP COLUMN claim_hash;
DROP TABLE enroll_windows;
DROP TABLE device_keys;
