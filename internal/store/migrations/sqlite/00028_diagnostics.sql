-- +goose Up
-- Diagnostics of devices (issue 17, docs/device-protocol.md §5.2): a
-- system log, ping, traceroute or packet capture a person asked a device
-- for. The metadata here; the result file apart (device_diagnostic_files),
-- so that lists never read a file. params is the kind's parameters (JSON).
CREATE TABLE device_diagnostics (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    device_id     BIGINT NOT NULL REFERENCES devices(id) ON DELETE CASCADE,
    kind          TEXT NOT NULL CHECK (kind IN ('log','ping','traceroute','pcap')),
    params        TEXT NOT NULL,
    state         TEXT NOT NULL DEFAULT 'queued' CHECK (state IN ('queued','running','done','failed','expired')),
    error         TEXT NOT NULL DEFAULT '',
    requested_by  BIGINT REFERENCES accounts(id) ON DELETE SET NULL,
    created_at    DATETIME NOT NULL,
    started_at    DATETIME,
    finished_at   DATETIME,
    expires_at    DATETIME NOT NULL,
    max_bytes     BIGINT NOT NULL,
    node          TEXT NOT NULL DEFAULT '',
    file_name     TEXT NOT NULL DEFAULT '',
    content_type  TEXT NOT NULL DEFAULT '',
    size          BIGINT NOT NULL DEFAULT 0,
    sha256        TEXT NOT NULL DEFAULT ''
);
CREATE INDEX device_diagnostics_device ON device_diagnostics (device_id, id);
CREATE INDEX device_diagnostics_open ON device_diagnostics (device_id) WHERE state IN ('queued','running');
CREATE INDEX device_diagnostics_requester_open ON device_diagnostics (requested_by) WHERE state IN ('queued','running');
CREATE INDEX device_diagnostics_created ON device_diagnostics (created_at);
-- The requests of an account in the last hour (their bound).
CREATE INDEX device_diagnostics_requester ON device_diagnostics (requested_by, created_at);
-- A diagnostic's result, written once when it is done.
CREATE TABLE device_diagnostic_files (
    diagnostic_id  BIGINT NOT NULL PRIMARY KEY REFERENCES device_diagnostics(id) ON DELETE CASCADE,
    data           BLOB NOT NULL
);

-- +goose Down
DROP TABLE device_diagnostic_files;
DROP TABLE device_diagnostics;
