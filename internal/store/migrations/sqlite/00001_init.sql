-- +goose Up
CREATE TABLE accounts (
    id                      INTEGER PRIMARY KEY,
    role                    TEXT NOT NULL CHECK (role IN ('admin','distributor','subdistributor','installer')),
    username                TEXT NOT NULL,
    password_hash           TEXT NOT NULL DEFAULT '',
    name                    TEXT NOT NULL DEFAULT '',
    email                   TEXT NOT NULL DEFAULT '',
    phone                   TEXT NOT NULL DEFAULT '',
    company                 TEXT NOT NULL DEFAULT '',
    parent_id               BIGINT REFERENCES accounts(id),
    distributor_id          BIGINT REFERENCES accounts(id),
    subdistributor_id       BIGINT REFERENCES accounts(id),
    disabled                BOOLEAN NOT NULL DEFAULT false,
    business                TEXT NOT NULL DEFAULT '',
    time_zone               TEXT NOT NULL DEFAULT '',
    language                TEXT NOT NULL DEFAULT '',
    charge_mode             TEXT NOT NULL DEFAULT '',
    connect_type            TEXT NOT NULL DEFAULT '',
    rtp_confusion           BOOLEAN NOT NULL DEFAULT false,
    access_without_password BOOLEAN NOT NULL DEFAULT false,
    payment_enabled         BOOLEAN NOT NULL DEFAULT false,
    pay_by_distributor      BOOLEAN NOT NULL DEFAULT false,
    created_at              DATETIME NOT NULL,
    updated_at              DATETIME NOT NULL
);
CREATE UNIQUE INDEX accounts_username ON accounts (lower(username));
CREATE INDEX accounts_parent ON accounts (parent_id, role);
CREATE INDEX accounts_distributor ON accounts (distributor_id, role);
CREATE INDEX accounts_subdistributor ON accounts (subdistributor_id, role);

CREATE TABLE sessions (
    token_hash    TEXT PRIMARY KEY,
    account_id    BIGINT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    acting_as_id  BIGINT REFERENCES accounts(id) ON DELETE CASCADE,
    csrf_token    TEXT NOT NULL,
    user_agent    TEXT NOT NULL DEFAULT '',
    ip            TEXT NOT NULL DEFAULT '',
    created_at    DATETIME NOT NULL,
    last_seen_at  DATETIME NOT NULL,
    expires_at    DATETIME NOT NULL
);
CREATE INDEX sessions_account ON sessions (account_id);
CREATE INDEX sessions_expires ON sessions (expires_at);

CREATE TABLE api_tokens (
    id            INTEGER PRIMARY KEY,
    account_id    BIGINT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    name          TEXT NOT NULL,
    token_hash    TEXT NOT NULL UNIQUE,
    created_at    DATETIME NOT NULL,
    last_used_at  DATETIME,
    expires_at    DATETIME
);
CREATE INDEX api_tokens_account ON api_tokens (account_id);

CREATE TABLE login_failures (
    id        INTEGER PRIMARY KEY,
    username  TEXT NOT NULL,
    ip        TEXT NOT NULL,
    at        DATETIME NOT NULL
);
CREATE INDEX login_failures_username ON login_failures (username, at);
CREATE INDEX login_failures_ip ON login_failures (ip, at);

CREATE TABLE projects (
    id            INTEGER PRIMARY KEY,
    installer_id  BIGINT NOT NULL REFERENCES accounts(id),
    kind          TEXT NOT NULL CHECK (kind IN ('community','office','personal')),
    name          TEXT NOT NULL,
    manager       TEXT NOT NULL DEFAULT '',
    address       TEXT NOT NULL DEFAULT '',
    time_zone     TEXT NOT NULL DEFAULT '',
    created_at    DATETIME NOT NULL
);
CREATE INDEX projects_installer ON projects (installer_id, kind);
CREATE INDEX projects_kind_name ON projects (kind, name);

CREATE TABLE buildings (
    id          INTEGER PRIMARY KEY,
    project_id  BIGINT NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    name        TEXT NOT NULL
);
CREATE INDEX buildings_project ON buildings (project_id);

CREATE TABLE apartments (
    id                   INTEGER PRIMARY KEY,
    building_id          BIGINT NOT NULL REFERENCES buildings(id) ON DELETE CASCADE,
    floor                TEXT NOT NULL DEFAULT '',
    number               TEXT NOT NULL,
    name                 TEXT NOT NULL DEFAULT '',
    family_member_limit  INTEGER NOT NULL DEFAULT 0 CHECK (family_member_limit BETWEEN 0 AND 63)
);
CREATE INDEX apartments_building ON apartments (building_id);

CREATE TABLE departments (
    id          INTEGER PRIMARY KEY,
    project_id  BIGINT NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    name        TEXT NOT NULL
);
CREATE INDEX departments_project ON departments (project_id);

CREATE TABLE end_users (
    id                  INTEGER PRIMARY KEY,
    installer_id        BIGINT NOT NULL REFERENCES accounts(id),
    project_id          BIGINT NOT NULL REFERENCES projects(id),
    apartment_id        BIGINT REFERENCES apartments(id),
    department_id       BIGINT REFERENCES departments(id),
    role                TEXT NOT NULL CHECK (role IN ('family_master','family_member','office_staff','property_manager')),
    family_master_id    BIGINT REFERENCES end_users(id),
    name                TEXT NOT NULL,
    sip                 TEXT NOT NULL DEFAULT '',
    email               TEXT NOT NULL DEFAULT '',
    mobile              TEXT NOT NULL DEFAULT '',
    phone               TEXT NOT NULL DEFAULT '',
    address             TEXT NOT NULL DEFAULT '',
    active              BOOLEAN NOT NULL DEFAULT false,
    premium             BOOLEAN NOT NULL DEFAULT false,
    created_at          DATETIME NOT NULL,
    app_expires_at      DATETIME,
    premium_expires_at  DATETIME
);
CREATE INDEX end_users_installer ON end_users (installer_id, role);
CREATE INDEX end_users_project ON end_users (project_id);
CREATE INDEX end_users_family_master ON end_users (family_master_id);
CREATE INDEX end_users_sip ON end_users (sip);
CREATE INDEX end_users_email ON end_users (email);

CREATE TABLE devices (
    id             INTEGER PRIMARY KEY,
    mac            TEXT NOT NULL UNIQUE,
    installer_id   BIGINT NOT NULL REFERENCES accounts(id),
    project_id     BIGINT NOT NULL REFERENCES projects(id),
    building_id    BIGINT REFERENCES buildings(id),
    apartment_id   BIGINT REFERENCES apartments(id),
    department_id  BIGINT REFERENCES departments(id),
    owner_id       BIGINT REFERENCES end_users(id),
    type           TEXT NOT NULL,
    model          TEXT NOT NULL DEFAULT '',
    name           TEXT NOT NULL DEFAULT '',
    sip            TEXT NOT NULL DEFAULT '',
    firmware       TEXT NOT NULL DEFAULT '',
    location       TEXT NOT NULL DEFAULT '',
    online         BOOLEAN NOT NULL DEFAULT false,
    last_seen      DATETIME,
    created_at     DATETIME NOT NULL
);
CREATE INDEX devices_installer ON devices (installer_id, created_at);
CREATE INDEX devices_project ON devices (project_id);
CREATE INDEX devices_sip ON devices (sip);

CREATE TABLE third_party_devices (
    id            INTEGER PRIMARY KEY,
    installer_id  BIGINT NOT NULL REFERENCES accounts(id),
    project_id    BIGINT NOT NULL REFERENCES projects(id),
    owner_id      BIGINT REFERENCES end_users(id),
    kind          TEXT NOT NULL DEFAULT 'camera',
    name          TEXT NOT NULL,
    stream_url    TEXT NOT NULL DEFAULT '',
    username      TEXT NOT NULL DEFAULT '',
    password      TEXT NOT NULL DEFAULT '',
    created_at    DATETIME NOT NULL
);
CREATE INDEX third_party_devices_installer ON third_party_devices (installer_id);
CREATE INDEX third_party_devices_project ON third_party_devices (project_id);

CREATE TABLE firmware (
    id          INTEGER PRIMARY KEY,
    version     TEXT NOT NULL,
    model       TEXT NOT NULL,
    change_log  TEXT NOT NULL DEFAULT '',
    file_url    TEXT NOT NULL,
    checksum    TEXT NOT NULL,
    created_at  DATETIME NOT NULL
);
CREATE UNIQUE INDEX firmware_model_version ON firmware (model, version);
CREATE INDEX firmware_created ON firmware (created_at);

CREATE TABLE audit_log (
    id                 INTEGER PRIMARY KEY,
    at                 DATETIME NOT NULL,
    actor_id           BIGINT,
    actor              TEXT NOT NULL,
    real_actor_id      BIGINT,
    real_actor         TEXT NOT NULL DEFAULT '',
    account_id         BIGINT,
    account            TEXT NOT NULL DEFAULT '',
    distributor_id     BIGINT,
    subdistributor_id  BIGINT,
    action             TEXT NOT NULL,
    object_type        TEXT NOT NULL,
    object_id          TEXT NOT NULL,
    details            TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX audit_log_account ON audit_log (account_id, id);
CREATE INDEX audit_log_distributor ON audit_log (distributor_id, id);
CREATE INDEX audit_log_subdistributor ON audit_log (subdistributor_id, id);
CREATE INDEX audit_log_object ON audit_log (object_type, object_id, id);

-- +goose Down
DROP TABLE audit_log;
DROP TABLE firmware;
DROP TABLE third_party_devices;
DROP TABLE devices;
DROP TABLE end_users;
DROP TABLE departments;
DROP TABLE apartments;
DROP TABLE buildings;
DROP TABLE projects;
DROP TABLE login_failures;
DROP TABLE api_tokens;
DROP TABLE sessions;
DROP TABLE accounts;
