-- +goose Up
-- Device gateway (docs/device-protocol.md): the key a device bound on its
-- first connection (trust on first use; a cloud reset or a delete clears it),
-- what it last reported, and the node holding its connection.
ALTER TABLE devices ADD COLUMN key_hash TEXT NOT NULL DEFAULT '';
ALTER TABLE devices ADD COLUMN ip TEXT NOT NULL DEFAULT '';
ALTER TABLE devices ADD COLUMN uptime BIGINT NOT NULL DEFAULT 0;
ALTER TABLE devices ADD COLUMN config_version TEXT NOT NULL DEFAULT '';
ALTER TABLE devices ADD COLUMN node TEXT NOT NULL DEFAULT '';
ALTER TABLE devices ADD COLUMN connected_at DATETIME;
ALTER TABLE devices ADD COLUMN autop_fetched_at DATETIME;
CREATE INDEX devices_online_node ON devices (node) WHERE online;

-- Commands for one device: reboot, reset, autop (fetch now). queued → sent →
-- done | failed | expired. The id is what the device deduplicates on.
CREATE TABLE device_commands (
    id            INTEGER PRIMARY KEY,
    device_id     BIGINT NOT NULL REFERENCES devices(id) ON DELETE CASCADE,
    kind          TEXT NOT NULL CHECK (kind IN ('reboot','reset','autop')),
    mode          TEXT NOT NULL DEFAULT '' CHECK (mode IN ('','factory','config')),
    status        TEXT NOT NULL DEFAULT 'queued' CHECK (status IN ('queued','sent','done','failed','expired')),
    batch_id      BIGINT,
    created_by    BIGINT REFERENCES accounts(id),
    created_at    DATETIME NOT NULL,
    sent_at       DATETIME,
    finished_at   DATETIME,
    expires_at    DATETIME NOT NULL,
    attempts      INTEGER NOT NULL DEFAULT 0,
    error         TEXT NOT NULL DEFAULT '',
    version       TEXT NOT NULL DEFAULT ''
);
CREATE INDEX device_commands_device ON device_commands (device_id, id);
CREATE INDEX device_commands_open ON device_commands (expires_at) WHERE status IN ('queued','sent');
CREATE INDEX device_commands_batch ON device_commands (batch_id) WHERE batch_id IS NOT NULL;

-- AutoP commands kept per device, one command a line, normalised on save.
CREATE TABLE device_autop (
    device_id   BIGINT PRIMARY KEY REFERENCES devices(id) ON DELETE CASCADE,
    regular     TEXT NOT NULL DEFAULT '',
    once        TEXT NOT NULL DEFAULT '',
    updated_at  DATETIME NOT NULL
);

-- One Batch AutoP request: its commands and who sent it; the progress is the
-- status of its device_commands.
CREATE TABLE autop_batches (
    id                 INTEGER PRIMARY KEY,
    account_id         BIGINT NOT NULL REFERENCES accounts(id),
    distributor_id     BIGINT,
    subdistributor_id  BIGINT,
    scope              TEXT NOT NULL CHECK (scope IN ('community','office','personal')),
    type               TEXT NOT NULL CHECK (type IN ('regular','once')),
    commands           TEXT NOT NULL,
    device_count       INTEGER NOT NULL,
    created_at         DATETIME NOT NULL
);
CREATE INDEX autop_batches_account ON autop_batches (account_id, id);

-- Remote Control sessions: the hash of a random token, bound to the account
-- that opened it, short-lived.
CREATE TABLE remote_sessions (
    token_hash   TEXT PRIMARY KEY,
    device_id    BIGINT NOT NULL REFERENCES devices(id) ON DELETE CASCADE,
    account_id   BIGINT NOT NULL REFERENCES accounts(id),
    created_at   DATETIME NOT NULL,
    expires_at   DATETIME NOT NULL
);
CREATE INDEX remote_sessions_device ON remote_sessions (device_id);

-- +goose Down
DROP TABLE remote_sessions;
DROP TABLE autop_batches;
DROP TABLE device_autop;
DROP TABLE device_commands;
DROP INDEX devices_online_node;
ALTER TABLE devices DROP COLUMN autop_fetched_at;
ALTER TABLE devices DROP COLUMN connected_at;
ALTER TABLE devices DROP COLUMN node;
ALTER TABLE devices DROP COLUMN config_version;
ALTER TABLE devices DROP COLUMN uptime;
ALTER TABLE devices DROP COLUMN ip;
ALTER TABLE devices DROP COLUMN key_hash;
