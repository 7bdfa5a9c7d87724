-- +goose Up
-- Webhooks for integrators (issue 16). An account's HTTPS endpoints, each
-- with the event types it wants (event_mask: bit i is the i-th type of
-- model.WebhookEventTypes, the list in events) and its signing secret,
-- sealed with the cluster's secret key. all_tree: an admin's endpoint, which
-- hears every tree. failing_since: the first failure since the last success
-- (a day of them disables the endpoint).
CREATE TABLE webhook_endpoints (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    account_id       BIGINT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    all_tree         BOOLEAN NOT NULL DEFAULT false,
    url              TEXT NOT NULL,
    description      TEXT NOT NULL DEFAULT '',
    events           TEXT NOT NULL DEFAULT '',
    event_mask       BIGINT NOT NULL DEFAULT 0,
    secret           TEXT NOT NULL,
    enabled          BOOLEAN NOT NULL DEFAULT true,
    disabled_reason  TEXT NOT NULL DEFAULT '',
    failing_since    DATETIME,
    created_at       DATETIME NOT NULL,
    updated_at       DATETIME NOT NULL
);
CREATE INDEX webhook_endpoints_account ON webhook_endpoints (account_id);
-- The outbox: an event is written in the transaction of what it tells,
-- with the tree it belongs to (the owning account and its ancestors), and
-- fanned out to the subscribed endpoints by the dispatcher. uid is the id
-- receivers see (their idempotency key).
CREATE TABLE webhook_events (
    id                 INTEGER PRIMARY KEY AUTOINCREMENT,
    uid                TEXT NOT NULL,
    type               TEXT NOT NULL,
    type_bit           BIGINT NOT NULL DEFAULT 0,
    account_id         BIGINT,
    subdistributor_id  BIGINT,
    distributor_id     BIGINT,
    data               TEXT NOT NULL DEFAULT '{}',
    created_at         DATETIME NOT NULL,
    fanned             BOOLEAN NOT NULL DEFAULT false
);
-- Only the waiting ones are indexed: a device's hello that writes an event
-- pays for as little as can be (uid is 96 random bits; pruning walks ids).
CREATE INDEX webhook_events_unfanned ON webhook_events (id) WHERE fanned = false;
-- One event's delivery to one endpoint: queued in the database (never in
-- a node's memory), claimed by a node with a lease, retried with backoff
-- until give_up_at.
CREATE TABLE webhook_deliveries (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    endpoint_id  BIGINT NOT NULL REFERENCES webhook_endpoints(id) ON DELETE CASCADE,
    event_id     BIGINT NOT NULL REFERENCES webhook_events(id) ON DELETE CASCADE,
    state        TEXT NOT NULL DEFAULT 'pending' CHECK (state IN ('pending','succeeded','failed')),
    attempts     INTEGER NOT NULL DEFAULT 0,
    next_at      DATETIME,
    give_up_at   DATETIME NOT NULL,
    lease_node   TEXT NOT NULL DEFAULT '',
    lease_until  DATETIME,
    last_at      DATETIME,
    http_status  INTEGER NOT NULL DEFAULT 0,
    latency_ms   BIGINT NOT NULL DEFAULT 0,
    excerpt      TEXT NOT NULL DEFAULT '',
    error        TEXT NOT NULL DEFAULT '',
    created_at   DATETIME NOT NULL
);
CREATE UNIQUE INDEX webhook_deliveries_once ON webhook_deliveries (endpoint_id, event_id);
CREATE INDEX webhook_deliveries_endpoint ON webhook_deliveries (endpoint_id, id);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_at, id) WHERE state = 'pending';
CREATE INDEX webhook_deliveries_event ON webhook_deliveries (event_id);
-- Periodic jobs one node runs at a time (the end users' expiry events).
CREATE TABLE webhook_jobs (
    name         TEXT NOT NULL PRIMARY KEY,
    lease_node   TEXT NOT NULL DEFAULT '',
    lease_until  DATETIME,
    last_run     DATETIME
);
-- enduser.expiring is told once per end user, service, threshold and
-- expiry (a renewal arms it again).
CREATE TABLE webhook_expiry_marks (
    end_user_id  BIGINT NOT NULL REFERENCES end_users(id) ON DELETE CASCADE,
    service      TEXT NOT NULL,
    days         INTEGER NOT NULL,
    expires_at   DATETIME NOT NULL,
    PRIMARY KEY (end_user_id, service, days, expires_at)
);

-- +goose Down
DROP TABLE webhook_expiry_marks;
DROP TABLE webhook_jobs;
DROP TABLE webhook_deliveries;
DROP TABLE webhook_events;
DROP TABLE webhook_endpoints;
