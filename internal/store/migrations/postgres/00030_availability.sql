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
-- Keyed by (device, time): the key holds the rows in the order every read
-- wants (two changes at the same instant: the later one wins).
CREATE TABLE device_availability (
    device_id  BIGINT NOT NULL REFERENCES devices(id) ON DELETE CASCADE,
    at         TIMESTAMPTZ NOT NULL,
    online     BOOLEAN NOT NULL,
    PRIMARY KEY (device_id, at)
);
-- The retention sweep: the oldest rows first.
CREATE INDEX device_availability_at ON device_availability (at);

-- Where the history of the devices already here starts: now, in the state
-- they are in.
INSERT INTO device_availability (device_id, at, online) SELECT id, now(), online FROM devices;

-- +goose StatementBegin
CREATE FUNCTION device_availability_track() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    t timestamptz;
    n integer;
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO device_availability (device_id, at, online) VALUES (NEW.id, NEW.created_at, NEW.online)
        ON CONFLICT (device_id, at) DO UPDATE SET online = excluded.online;
        RETURN NULL;
    END IF;
    IF NEW.online THEN
        t := coalesce(NEW.connected_at, NEW.last_seen, now());
    ELSE
        t := coalesce(NEW.last_seen, now());
    END IF;
    -- Never before the device's latest row: the times come from the nodes
    -- that made the changes, whose clocks (and commits) need not be in
    -- order. A change stamped at or before the latest row merges into it
    -- (ON CONFLICT below), so the latest change is the history's last.
    t := greatest(t, (SELECT max(at) FROM device_availability WHERE device_id = NEW.id));
    SELECT count(*) INTO n FROM (SELECT 1 FROM device_availability WHERE device_id = NEW.id
        AND at > t - interval '1 hour' LIMIT 12) c;
    IF n >= 12 THEN
        -- 12 rows or more in the hour before this change: merged into the latest.
        UPDATE device_availability SET online = NEW.online WHERE device_id = NEW.id
            AND at = (SELECT max(at) FROM device_availability WHERE device_id = NEW.id);
    ELSE
        INSERT INTO device_availability (device_id, at, online) VALUES (NEW.id, t, NEW.online)
        ON CONFLICT (device_id, at) DO UPDATE SET online = excluded.online;
    END IF;
    RETURN NULL;
END $$;
-- +goose StatementEnd
CREATE TRIGGER devices_availability_added AFTER INSERT ON devices FOR EACH ROW
    EXECUTE FUNCTION device_availability_track();
CREATE TRIGGER devices_availability_change AFTER UPDATE OF online ON devices FOR EACH ROW
    WHEN (OLD.online <> NEW.online) EXECUTE FUNCTION device_availability_track();

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
    until_at       TIMESTAMPTZ,
    recomputed_at  TIMESTAMPTZ,
    pruned_before  TIMESTAMPTZ
);

-- +goose Down
DROP TABLE availability_leases;
DROP INDEX devices_avail_inst;
DROP INDEX devices_avail_all;
DROP INDEX devices_avail_dist;
DROP INDEX devices_avail_sub;
ALTER TABLE devices DROP COLUMN availability_7d;
DROP TRIGGER devices_availability_change ON devices;
DROP TRIGGER devices_availability_added ON devices;
DROP FUNCTION device_availability_track();
DROP TABLE device_availability;
