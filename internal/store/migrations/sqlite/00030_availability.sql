-- +goose Up
-- Availability history (issue 17): a device's online / offline transitions,
-- kept for --availability-retention (README "Availability").
--
-- One row per change of devices.online, written by the triggers below in
-- the transaction of the change (the gateway's writes stay as they are),
-- and one when a device is added (its state then): a device's first row is
-- where its history starts, and time before it counts as neither online
-- nor offline. A device that changes state more than 12 times within an
-- hour has its further changes of that hour merged into its latest row
-- (the row takes the new state, its time stays): at most 12 rows an hour,
-- 288 a day, per device, however fast it flaps.
-- A change's row is never stamped before the device's latest row (the
-- nodes' clocks and commits need not be in order): one stamped earlier
-- merges into the latest, so the latest change is the history's last.
--
-- Keyed by (device, time), without a rowid: one B-tree holds the rows in
-- the order every read wants, and a change costs the device's connect
-- path one insert (two changes at the same instant: the later one wins).
CREATE TABLE device_availability (
    device_id  BIGINT NOT NULL REFERENCES devices(id) ON DELETE CASCADE,
    at         DATETIME NOT NULL,
    online     BOOLEAN NOT NULL,
    PRIMARY KEY (device_id, at)
) WITHOUT ROWID;
-- The retention sweep: the oldest rows first.
CREATE INDEX device_availability_at ON device_availability (at);

-- Where the history of the devices already here starts: now, in the state
-- they are in.
INSERT INTO device_availability (device_id, at, online)
SELECT id, strftime('%Y-%m-%d %H:%M:%f+00:00', 'now'), online FROM devices;

-- +goose StatementBegin
CREATE TRIGGER devices_availability_added AFTER INSERT ON devices BEGIN
    INSERT INTO device_availability (device_id, at, online) VALUES (new.id, new.created_at, new.online)
    ON CONFLICT (device_id, at) DO UPDATE SET online = excluded.online;
END;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE TRIGGER devices_availability_change AFTER UPDATE OF online ON devices WHEN old.online <> new.online BEGIN
    -- The change's time (x.t below), never before the device's latest row:
    -- the times come from the nodes that made the changes, whose clocks
    -- (and commits) need not be in order. A change stamped at or before the
    -- latest row merges into it (ON CONFLICT below), so the latest change
    -- is the history's last.
    -- 12 rows or more in the hour before this change: merged into the latest.
    UPDATE device_availability SET online = new.online
    WHERE device_id = new.id AND at = (SELECT max(at) FROM device_availability WHERE device_id = new.id)
      AND (SELECT count(*) FROM (SELECT 1 FROM device_availability,
             (SELECT max(c.t, coalesce((SELECT max(at) FROM device_availability WHERE device_id = new.id), c.t)) AS t
              FROM (SELECT CASE WHEN new.online
                 THEN coalesce(new.connected_at, new.last_seen, strftime('%Y-%m-%d %H:%M:%f+00:00', 'now'))
                 ELSE coalesce(new.last_seen, strftime('%Y-%m-%d %H:%M:%f+00:00', 'now')) END AS t) c) x
             WHERE device_id = new.id AND at > strftime('%Y-%m-%d %H:%M:%f+00:00', x.t, '-1 hour') LIMIT 12)) >= 12;
    INSERT INTO device_availability (device_id, at, online)
    SELECT new.id, x.t, new.online
    FROM (SELECT max(c.t, coalesce((SELECT max(at) FROM device_availability WHERE device_id = new.id), c.t)) AS t
          FROM (SELECT CASE WHEN new.online
                 THEN coalesce(new.connected_at, new.last_seen, strftime('%Y-%m-%d %H:%M:%f+00:00', 'now'))
                 ELSE coalesce(new.last_seen, strftime('%Y-%m-%d %H:%M:%f+00:00', 'now')) END AS t) c) x
    WHERE (SELECT count(*) FROM (SELECT 1 FROM device_availability WHERE device_id = new.id
             AND at > strftime('%Y-%m-%d %H:%M:%f+00:00', x.t, '-1 hour') LIMIT 12)) < 12
    ON CONFLICT (device_id, at) DO UPDATE SET online = excluded.online;
END;
-- +goose StatementEnd

-- The share of the last 7 days each device was online, in basis points
-- (0–10000) of the time its history covers, recomputed every 10 minutes
-- for the devices whose figure can have changed; the lists sort by it
-- through one index per level of the tree (as 00006's list indexes).
ALTER TABLE devices ADD COLUMN availability_7d INTEGER NOT NULL DEFAULT 0;
CREATE INDEX devices_avail_sub ON devices (subdistributor_id, project_kind, availability_7d, id);
CREATE INDEX devices_avail_dist ON devices (distributor_id, project_kind, availability_7d, id);
CREATE INDEX devices_avail_all ON devices (project_kind, availability_7d, id);
CREATE INDEX devices_avail_inst ON devices (installer_id, project_kind, availability_7d, id);

-- The sweep's lease (the node that recomputes and prunes until then),
-- when the last recompute ran and before when the last prune removed rows.
CREATE TABLE availability_leases (
    name           TEXT NOT NULL PRIMARY KEY,
    node           TEXT NOT NULL DEFAULT '',
    until_at       DATETIME,
    recomputed_at  DATETIME,
    pruned_before  DATETIME
);

-- +goose Down
DROP TABLE availability_leases;
DROP INDEX devices_avail_inst;
DROP INDEX devices_avail_all;
DROP INDEX devices_avail_dist;
DROP INDEX devices_avail_sub;
ALTER TABLE devices DROP COLUMN availability_7d;
DROP TRIGGER devices_availability_change;
DROP TRIGGER devices_availability_added;
DROP TABLE device_availability;
