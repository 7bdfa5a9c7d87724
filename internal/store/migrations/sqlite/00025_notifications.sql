-- +goose Up
-- Notifications (issue 16): Setting → Notification, per account and per
-- kind, and the ledger of what was decided to be sent (README
-- "Notifications").
--
-- An account's e-mail switches; an account without a row has the defaults
-- (every kind on, devices reported after 10 minutes offline).
CREATE TABLE notification_settings (
    account_id       BIGINT NOT NULL PRIMARY KEY REFERENCES accounts(id) ON DELETE CASCADE,
    enduser_expiry   BOOLEAN NOT NULL DEFAULT true,
    device_offline   BOOLEAN NOT NULL DEFAULT true,
    order_result     BOOLEAN NOT NULL DEFAULT true,
    rollout_paused   BOOLEAN NOT NULL DEFAULT true,
    offline_minutes  INTEGER NOT NULL DEFAULT 10,
    updated_at       DATETIME NOT NULL
);

-- The ledger: one row per notice an account is owed, unique by (account,
-- kind, subject, occasion), written in the transaction that decides it, so
-- that no node and no restart decides it twice. pending until the digest
-- that carries it was accepted by the SMTP server (sent) or could never be
-- (dropped: the account has no address or turned the kind off); a failed
-- delivery leaves it pending with a later next_try_at. project_id groups
-- the device notices of one project into one digest (0 for the others).
CREATE TABLE notifications (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    account_id   BIGINT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    kind         TEXT NOT NULL CHECK (kind IN ('enduser_expiry','device_offline','order_result','rollout_paused')),
    subject      TEXT NOT NULL,
    occasion     TEXT NOT NULL,
    project_id   BIGINT NOT NULL DEFAULT 0,
    line         TEXT NOT NULL DEFAULT '{}',
    status       TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ('pending','sent','dropped')),
    attempts     INTEGER NOT NULL DEFAULT 0,
    created_at   DATETIME NOT NULL,
    next_try_at  DATETIME NOT NULL,
    sent_at      DATETIME
);
CREATE UNIQUE INDEX notifications_key ON notifications (account_id, kind, subject, occasion);
-- The run's work: the digests due (by their oldest row), and one digest's rows.
CREATE INDEX notifications_due ON notifications (next_try_at) WHERE status = 'pending';
CREATE INDEX notifications_digest ON notifications (account_id, kind, project_id, id) WHERE status = 'pending';
CREATE INDEX notifications_sent ON notifications (sent_at) WHERE status <> 'pending';

-- Where each generator stopped: a position in its index (a time and the id
-- breaking ties), advanced in the transaction that wrote the ledger rows.
CREATE TABLE notification_cursors (
    name     TEXT NOT NULL PRIMARY KEY,
    at       DATETIME NOT NULL,
    last_id  BIGINT NOT NULL DEFAULT 0
);

-- The scheduler's lease: the node that runs the notifications until then.
CREATE TABLE notification_leases (
    name      TEXT NOT NULL PRIMARY KEY,
    node      TEXT NOT NULL DEFAULT '',
    until_at  DATETIME
);

-- A device's current offline episode, kept by the triggers below when
-- devices.online changes (the gateway's writes stay as they are): since
-- when it is offline, when it came back, and when the scheduler should
-- look at it next (NULL: nothing to do until it comes back).
CREATE TABLE device_offline (
    device_id      BIGINT NOT NULL PRIMARY KEY REFERENCES devices(id) ON DELETE CASCADE,
    offline_since  DATETIME NOT NULL,
    back_at        DATETIME,
    check_at       DATETIME,
    alerted        BOOLEAN NOT NULL DEFAULT false
);
CREATE INDEX device_offline_check ON device_offline (check_at) WHERE check_at IS NOT NULL;

-- +goose StatementBegin
CREATE TRIGGER devices_went_offline AFTER UPDATE OF online ON devices WHEN old.online AND NOT new.online BEGIN
    -- Back and offline again before the scheduler looked at the return:
    -- one episode (its start and whether it was told are kept), so that
    -- its end is told once it is really back.
    INSERT INTO device_offline (device_id, offline_since, back_at, check_at, alerted)
    VALUES (new.id, COALESCE(new.last_seen, new.created_at), NULL, COALESCE(new.last_seen, new.created_at), false)
    ON CONFLICT (device_id) DO UPDATE SET
        offline_since = CASE WHEN device_offline.back_at IS NOT NULL THEN device_offline.offline_since ELSE excluded.offline_since END,
        alerted = CASE WHEN device_offline.back_at IS NOT NULL THEN device_offline.alerted ELSE false END,
        back_at = NULL, check_at = excluded.check_at;
END;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE TRIGGER devices_came_online AFTER UPDATE OF online ON devices WHEN new.online AND NOT old.online BEGIN
    UPDATE device_offline SET back_at = COALESCE(new.connected_at, new.last_seen, new.created_at),
        check_at = COALESCE(new.connected_at, new.last_seen, new.created_at)
    WHERE device_id = new.id AND back_at IS NULL;
END;
-- +goose StatementEnd

-- End users by the expiry of each service (the expiry notices' scans), and
-- the orders and rollouts the order and rollout notices read.
CREATE INDEX end_users_app_expiry ON end_users (app_expires_at, id) WHERE app_expires_at IS NOT NULL;
CREATE INDEX end_users_premium_expiry ON end_users (premium_expires_at, id) WHERE premium_expires_at IS NOT NULL;
CREATE INDEX orders_result ON orders (updated_at, id) WHERE status IN ('completed','failed');
CREATE INDEX rollouts_paused ON rollouts (updated_at, id) WHERE status = 'paused';

-- +goose Down
DROP INDEX rollouts_paused;
DROP INDEX orders_result;
DROP INDEX end_users_premium_expiry;
DROP INDEX end_users_app_expiry;
DROP TRIGGER devices_came_online;
DROP TRIGGER devices_went_offline;
DROP TABLE device_offline;
DROP TABLE notification_leases;
DROP TABLE notification_cursors;
DROP TABLE notifications;
DROP TABLE notification_settings;
