-- +goose Up
-- The dashboard (issue 17): every role's home page shows its subtree's
-- devices, upgrades, expiring end users and orders at a glance. Counting a
-- million devices per page view is too slow, so a node holding the
-- dashboard lease recomputes these summaries every minute (and at start),
-- one row per installer and what it is counted by; a page sums the rows of
-- the subtree (README "Dashboard").

-- Devices now: per installer, project kind and status (the shares below
-- count them by model and firmware).
CREATE TABLE dashboard_devices (
    installer_id       BIGINT NOT NULL,
    subdistributor_id  BIGINT NOT NULL DEFAULT 0,
    distributor_id     BIGINT NOT NULL DEFAULT 0,
    project_kind       TEXT NOT NULL,
    online             BOOLEAN NOT NULL,
    devices            BIGINT NOT NULL,
    PRIMARY KEY (installer_id, project_kind, online)
);
CREATE INDEX dashboard_devices_sub ON dashboard_devices (subdistributor_id);
CREATE INDEX dashboard_devices_dist ON dashboard_devices (distributor_id);

-- The most common models and firmware versions of each scope (account_id:
-- a distributor, sub-distributor or installer; 0 the whole platform):
-- the DashboardTop first by rank, then one row of the others summed, with
-- the devices per list. A scope has too many versions to sum per page view.
CREATE TABLE dashboard_shares (
    account_id  BIGINT NOT NULL,
    dim         TEXT NOT NULL,
    rank        INTEGER NOT NULL,
    name        TEXT NOT NULL,
    others      BOOLEAN NOT NULL DEFAULT false,
    community   BIGINT NOT NULL DEFAULT 0,
    office      BIGINT NOT NULL DEFAULT 0,
    personal    BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (account_id, dim, rank)
);

-- Per installer: devices being upgraded, end users whose App service
-- expires within 30 days, per end-user list (villa, community, office).
CREATE TABLE dashboard_installers (
    installer_id        BIGINT NOT NULL PRIMARY KEY,
    subdistributor_id   BIGINT NOT NULL DEFAULT 0,
    distributor_id      BIGINT NOT NULL DEFAULT 0,
    upgrading           BIGINT NOT NULL DEFAULT 0,
    expiring_villa      BIGINT NOT NULL DEFAULT 0,
    expiring_community  BIGINT NOT NULL DEFAULT 0,
    expiring_office     BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX dashboard_installers_sub ON dashboard_installers (subdistributor_id);
CREATE INDEX dashboard_installers_dist ON dashboard_installers (distributor_id);

-- The last figure of each day per installer (the 30-day chart), kept 35 days.
CREATE TABLE dashboard_days (
    day                TEXT NOT NULL,
    installer_id       BIGINT NOT NULL,
    subdistributor_id  BIGINT NOT NULL DEFAULT 0,
    distributor_id     BIGINT NOT NULL DEFAULT 0,
    online             BIGINT NOT NULL DEFAULT 0,
    offline            BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (day, installer_id)
);
CREATE INDEX dashboard_days_sub ON dashboard_days (subdistributor_id, day);
CREATE INDEX dashboard_days_dist ON dashboard_days (distributor_id, day);

-- Orders per month (UTC) of the last 12 months, per installer and currency:
-- every order shown in Payments, and the amount of the completed ones.
CREATE TABLE dashboard_orders (
    month              TEXT NOT NULL,
    installer_id       BIGINT NOT NULL,
    subdistributor_id  BIGINT NOT NULL DEFAULT 0,
    distributor_id     BIGINT NOT NULL DEFAULT 0,
    currency           TEXT NOT NULL,
    orders             BIGINT NOT NULL DEFAULT 0,
    amount             BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (month, installer_id, currency)
);
CREATE INDEX dashboard_orders_sub ON dashboard_orders (subdistributor_id, month);
CREATE INDEX dashboard_orders_dist ON dashboard_orders (distributor_id, month);

-- The recompute's lease (the node that recomputes until then) and when
-- the summaries were last computed.
CREATE TABLE dashboard_state (
    name         TEXT NOT NULL PRIMARY KEY,
    node         TEXT NOT NULL DEFAULT '',
    until_at     DATETIME,
    computed_at  DATETIME
);

-- The failed commands and AutoP of the last day (live, not summarised).
CREATE INDEX device_commands_failed ON device_commands (finished_at, id) WHERE status IN ('failed','expired');

-- The device lists' filter by model (the dashboard's devices by model
-- link to it): one range of this index per model, newest first within a
-- kind, with the scope columns, as devices_firmware is for a version.
CREATE INDEX devices_model_list ON devices (model, project_kind, created_at, id, subdistributor_id, distributor_id, installer_id);

-- The end-user lists' expiring filter (expiring=N: App service expiring from
-- now to now + N days; the dashboard's expiring figures link to it): per
-- level, its users of a kind by App expiry, so the window is one range, with
-- the date order's and the filters' columns (and the name, tested by a name
-- search among the window's users when they are fewer than the name's) so
-- that a window of up to 10,000 users is counted and sorted from the index
-- alone. The admin's and
-- a distributor's share one (the distributor tested in the index).
CREATE INDEX end_users_expiry_all ON end_users (project_kind, app_expires_at, distributor_id, created_at, id, role, installer_id, project_id, name);
CREATE INDEX end_users_expiry_sub ON end_users (subdistributor_id, project_kind, app_expires_at, created_at, id, role, installer_id, project_id, name);
CREATE INDEX end_users_expiry_inst ON end_users (installer_id, project_kind, app_expires_at, created_at, id, role, project_id, name);

-- +goose Down
DROP INDEX end_users_expiry_inst;
DROP INDEX end_users_expiry_sub;
DROP INDEX end_users_expiry_all;
DROP INDEX devices_model_list;
DROP INDEX device_commands_failed;
DROP TABLE dashboard_state;
DROP TABLE dashboard_orders;
DROP TABLE dashboard_days;
DROP TABLE dashboard_installers;
DROP TABLE dashboard_shares;
DROP TABLE dashboard_devices;
