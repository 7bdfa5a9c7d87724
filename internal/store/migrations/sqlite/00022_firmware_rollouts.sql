-- +goose Up
-- Firmware over the air (issue 15; docs/device-protocol.md "upgrade").
--
-- An image the cloud keeps is stored in the database in chunks, so that
-- every node can serve every image (each node caches it in its data
-- directory on first download, checked against the sha256). An entry
-- without a stored image points at an external file_url; size is the
-- image's length in bytes (0: not known, an entry made before this).
ALTER TABLE firmware ADD COLUMN size BIGINT NOT NULL DEFAULT 0;
ALTER TABLE firmware ADD COLUMN stored BOOLEAN NOT NULL DEFAULT false;

CREATE TABLE firmware_chunks (
    firmware_id  BIGINT NOT NULL REFERENCES firmware(id) ON DELETE CASCADE,
    seq          INTEGER NOT NULL,
    data         BLOB NOT NULL,
    PRIMARY KEY (firmware_id, seq)
);

-- A rollout puts one firmware on the devices its creator chose (model and
-- the device lists' filters, kept in targets as JSON to show), in waves:
-- wave 0 is the canary. The ancestor columns scope it like the audit log:
-- the creator's account, its sub-distributor and distributor see it.
CREATE TABLE rollouts (
    id                 INTEGER PRIMARY KEY AUTOINCREMENT,
    firmware_id        BIGINT NOT NULL REFERENCES firmware(id),
    account_id         BIGINT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    distributor_id     BIGINT,
    subdistributor_id  BIGINT,
    name               TEXT NOT NULL DEFAULT '',
    status             TEXT NOT NULL DEFAULT 'draft' CHECK (status IN ('draft','running','paused','canceled','done')),
    targets            TEXT NOT NULL DEFAULT '{}',
    total              INTEGER NOT NULL DEFAULT 0,
    waves              INTEGER NOT NULL DEFAULT 0,
    current_wave       INTEGER NOT NULL DEFAULT 0,
    canary_count       INTEGER NOT NULL DEFAULT 0,
    canary_percent     INTEGER NOT NULL DEFAULT 0,
    wave_size          INTEGER NOT NULL DEFAULT 0,
    wave_percent       INTEGER NOT NULL DEFAULT 0,
    window_start       INTEGER NOT NULL DEFAULT 0,
    window_end         INTEGER NOT NULL DEFAULT 1440,
    failure_threshold  INTEGER NOT NULL DEFAULT 10,
    device_timeout     INTEGER NOT NULL DEFAULT 3600,
    pause_reason       TEXT NOT NULL DEFAULT '',
    created_by         BIGINT REFERENCES accounts(id) ON DELETE SET NULL,
    created_at         DATETIME NOT NULL,
    started_at         DATETIME,
    finished_at        DATETIME,
    updated_at         DATETIME NOT NULL,
    lease_node         TEXT NOT NULL DEFAULT '',
    lease_until        DATETIME
);
CREATE INDEX rollouts_account ON rollouts (account_id, id);
CREATE INDEX rollouts_sub ON rollouts (subdistributor_id, id);
CREATE INDEX rollouts_dist ON rollouts (distributor_id, id);
CREATE INDEX rollouts_running ON rollouts (id) WHERE status = 'running';

-- One device's upgrade within a rollout, and the command the device is sent
-- (its id is "u" and this id: never reused, as devices deduplicate on it).
-- draft (its rollout is a draft: it holds no device) → pending at the start
-- (waits for its wave, its window, the device online) → queued
-- (released; the gateway sends it) → sent → downloading → verifying →
-- installing → rebooting → done | failed; canceled, skipped (never sent).
-- A device is in at most one open upgrade at a time.
CREATE TABLE firmware_upgrades (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    rollout_id    BIGINT NOT NULL REFERENCES rollouts(id) ON DELETE CASCADE,
    device_id     BIGINT NOT NULL REFERENCES devices(id) ON DELETE CASCADE,
    firmware_id   BIGINT NOT NULL REFERENCES firmware(id),
    wave          INTEGER NOT NULL,
    time_zone     TEXT NOT NULL DEFAULT '',
    state         TEXT NOT NULL DEFAULT 'pending' CHECK (state IN ('draft','pending','queued','sent','downloading','verifying','installing','rebooting','done','failed','canceled','skipped')),
    percent       INTEGER NOT NULL DEFAULT 0,
    from_version  TEXT NOT NULL DEFAULT '',
    to_version    TEXT NOT NULL DEFAULT '',
    error         TEXT NOT NULL DEFAULT '',
    attempts      INTEGER NOT NULL DEFAULT 0,
    queued_at     DATETIME,
    sent_at       DATETIME,
    updated_at    DATETIME,
    finished_at   DATETIME,
    deadline_at   DATETIME,
    window_deadline BOOLEAN NOT NULL DEFAULT false
);
CREATE UNIQUE INDEX firmware_upgrades_one_open ON firmware_upgrades (device_id)
    WHERE state IN ('pending','queued','sent','downloading','verifying','installing','rebooting');
CREATE INDEX firmware_upgrades_rollout ON firmware_upgrades (rollout_id, wave, state);
CREATE INDEX firmware_upgrades_device ON firmware_upgrades (device_id, id);
CREATE INDEX firmware_upgrades_deadline ON firmware_upgrades (deadline_at)
    WHERE state IN ('queued','sent','downloading','verifying','installing','rebooting');

-- The device lists' filter by firmware version (and the rollouts' targets):
-- one range of this index per version, newest first within a kind. It holds
-- no online column and the hello writes firmware only when it changed
-- (store/gateway.go), so a connect does not rewrite it.
CREATE INDEX devices_firmware ON devices (firmware, project_kind, created_at, id, subdistributor_id, distributor_id, installer_id);
-- A rollout's targets: the devices of one model in a subtree (the preview's
-- count and the draft's rows), narrowed by version, scope and project.
CREATE INDEX devices_model ON devices (model, firmware, distributor_id, subdistributor_id, installer_id, project_kind, project_id);

-- +goose Down
DROP INDEX devices_model;
DROP INDEX devices_firmware;
DROP TABLE firmware_upgrades;
DROP TABLE rollouts;
DROP TABLE firmware_chunks;
ALTER TABLE firmware DROP COLUMN stored;
ALTER TABLE firmware DROP COLUMN size;
