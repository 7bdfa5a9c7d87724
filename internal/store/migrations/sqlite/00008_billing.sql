-- +goose Up
-- Subscriptions and Payments (DESIGN.md §5).

-- Price lists: distributor_id 0 is the admin's default, any other id a
-- distributor's override of single items. Fees in minor units.
CREATE TABLE price_items (
    distributor_id  BIGINT NOT NULL,
    item            TEXT NOT NULL CHECK (item IN ('community_app','family_member_app','property_manager_app','villa_app','villa_premium','villa_extra_member','office_user')),
    activation_fee  BIGINT NOT NULL CHECK (activation_fee >= 0),
    monthly_fee     BIGINT NOT NULL CHECK (monthly_fee >= 0),
    currency        TEXT NOT NULL,
    updated_at      DATETIME NOT NULL,
    PRIMARY KEY (distributor_id, item)
);
INSERT INTO price_items (distributor_id, item, activation_fee, monthly_fee, currency, updated_at) VALUES
    (0, 'community_app', 500, 100, 'USD', '2024-01-01 00:00:00'),
    (0, 'family_member_app', 200, 50, 'USD', '2024-01-01 00:00:00'),
    (0, 'property_manager_app', 500, 150, 'USD', '2024-01-01 00:00:00'),
    (0, 'villa_app', 800, 150, 'USD', '2024-01-01 00:00:00'),
    (0, 'villa_premium', 1000, 300, 'USD', '2024-01-01 00:00:00'),
    (0, 'villa_extra_member', 200, 50, 'USD', '2024-01-01 00:00:00'),
    (0, 'office_user', 400, 100, 'USD', '2024-01-01 00:00:00');

CREATE TABLE orders (
    id                 INTEGER PRIMARY KEY,
    number             TEXT NOT NULL UNIQUE,
    type               TEXT NOT NULL CHECK (type IN ('activation','subscription','features')),
    installer_id       BIGINT NOT NULL REFERENCES accounts(id),
    subdistributor_id  BIGINT NOT NULL REFERENCES accounts(id),
    distributor_id     BIGINT NOT NULL REFERENCES accounts(id),
    created_by         BIGINT REFERENCES accounts(id),
    payer_id           BIGINT REFERENCES accounts(id),
    project_id         BIGINT REFERENCES projects(id) ON DELETE SET NULL,
    project_name       TEXT NOT NULL DEFAULT '-',
    project_type       TEXT NOT NULL CHECK (project_type IN ('community','villa','office')),
    status             TEXT NOT NULL CHECK (status IN ('processing','system_processing','completed','failed','timeout','cancel')),
    counts             INTEGER NOT NULL,
    total              BIGINT NOT NULL CHECK (total >= 0),
    currency           TEXT NOT NULL,
    provider           TEXT NOT NULL DEFAULT '',
    provider_ref       TEXT NOT NULL DEFAULT '',
    hidden             BOOLEAN NOT NULL DEFAULT false,
    created_at         DATETIME NOT NULL,
    processing_since   DATETIME NOT NULL,
    paid_at            DATETIME,
    updated_at         DATETIME NOT NULL
);
CREATE INDEX orders_installer ON orders (installer_id, created_at);
CREATE INDEX orders_subdistributor ON orders (subdistributor_id, created_at);
CREATE INDEX orders_distributor ON orders (distributor_id, created_at);
CREATE INDEX orders_status ON orders (status, processing_since);
CREATE INDEX orders_provider_ref ON orders (provider, provider_ref);

CREATE TABLE order_items (
    id              INTEGER PRIMARY KEY,
    order_id        BIGINT NOT NULL REFERENCES orders(id) ON DELETE CASCADE,
    end_user_id     BIGINT REFERENCES end_users(id) ON DELETE SET NULL,
    user_name       TEXT NOT NULL DEFAULT '',
    item            TEXT NOT NULL,
    service         TEXT NOT NULL DEFAULT 'app' CHECK (service IN ('app','premium')),
    months          INTEGER NOT NULL CHECK (months BETWEEN 1 AND 60),
    amount          BIGINT NOT NULL CHECK (amount >= 0),
    new_expires_at  DATETIME
);
CREATE INDEX order_items_order ON order_items (order_id);
CREATE INDEX order_items_user ON order_items (end_user_id);

-- An order's history: every change of status, with a message.
CREATE TABLE order_events (
    id        INTEGER PRIMARY KEY,
    order_id  BIGINT NOT NULL REFERENCES orders(id) ON DELETE CASCADE,
    at        DATETIME NOT NULL,
    status    TEXT NOT NULL,
    message   TEXT NOT NULL DEFAULT ''
);
CREATE INDEX order_events_order ON order_events (order_id, id);

CREATE TABLE coupons (
    id                 INTEGER PRIMARY KEY,
    code               TEXT NOT NULL UNIQUE,
    subdistributor_id  BIGINT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    distributor_id     BIGINT NOT NULL REFERENCES accounts(id),
    value              BIGINT NOT NULL CHECK (value > 0),
    balance            BIGINT NOT NULL CHECK (balance >= 0),
    currency           TEXT NOT NULL,
    expires_at         DATETIME NOT NULL,
    issued_by          BIGINT REFERENCES accounts(id),
    created_at         DATETIME NOT NULL
);
CREATE INDEX coupons_subdistributor ON coupons (subdistributor_id, expires_at);
CREATE INDEX coupons_distributor ON coupons (distributor_id, created_at);

CREATE TABLE coupon_debits (
    id         INTEGER PRIMARY KEY,
    coupon_id  BIGINT NOT NULL REFERENCES coupons(id) ON DELETE CASCADE,
    order_id   BIGINT NOT NULL REFERENCES orders(id) ON DELETE CASCADE,
    amount     BIGINT NOT NULL CHECK (amount > 0),
    at         DATETIME NOT NULL,
    UNIQUE (coupon_id, order_id)
);
CREATE INDEX coupon_debits_order ON coupon_debits (order_id);

-- Billing information, one row per payer account.
CREATE TABLE billing_info (
    account_id  BIGINT PRIMARY KEY REFERENCES accounts(id) ON DELETE CASCADE,
    company     TEXT NOT NULL DEFAULT '',
    attn        TEXT NOT NULL DEFAULT '',
    address     TEXT NOT NULL DEFAULT '',
    tel         TEXT NOT NULL DEFAULT '',
    fax         TEXT NOT NULL DEFAULT '',
    email       TEXT NOT NULL DEFAULT '',
    updated_at  DATETIME NOT NULL
);

-- Provider events already applied: a repeat delivery finds its row here.
CREATE TABLE payment_events (
    provider      TEXT NOT NULL,
    event_id      TEXT NOT NULL,
    order_number  TEXT NOT NULL DEFAULT '',
    kind          TEXT NOT NULL,
    received_at   DATETIME NOT NULL,
    PRIMARY KEY (provider, event_id)
);

-- +goose Down
DROP TABLE payment_events;
DROP TABLE billing_info;
DROP TABLE coupon_debits;
DROP TABLE coupons;
DROP TABLE order_events;
DROP TABLE order_items;
DROP TABLE orders;
DROP TABLE price_items;
