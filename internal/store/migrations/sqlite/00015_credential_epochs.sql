-- +goose Up
-- Every session and API token carries the credential generation of its
-- account (and, acting as an installer, of the installer) from when it was
-- made; setting a password or deleting the account moves the generation on,
-- so a credential made under the old password, even by a login racing the
-- change, is refused by the one read that authenticates it.
ALTER TABLE accounts ADD COLUMN credential_epoch BIGINT NOT NULL DEFAULT 0;
ALTER TABLE sessions ADD COLUMN epoch BIGINT NOT NULL DEFAULT 0;
ALTER TABLE sessions ADD COLUMN acting_epoch BIGINT NOT NULL DEFAULT 0;
ALTER TABLE api_tokens ADD COLUMN epoch BIGINT NOT NULL DEFAULT 0;

-- Login failures are counted per (user name, address) and per address.
-- The user name is kept as a fixed-length hash of its lower-case form, never
-- as the text an attacker sent; failures are short-lived, so the old table
-- is simply replaced.
DROP TABLE login_failures;
CREATE TABLE login_failures (
    id        INTEGER PRIMARY KEY,
    user_key  TEXT NOT NULL,
    ip        TEXT NOT NULL,
    at        DATETIME NOT NULL
);
CREATE INDEX login_failures_pair ON login_failures (ip, user_key, at);
CREATE INDEX login_failures_at ON login_failures (at);

-- +goose Down
DROP TABLE login_failures;
CREATE TABLE login_failures (
    id        INTEGER PRIMARY KEY,
    username  TEXT NOT NULL,
    ip        TEXT NOT NULL,
    at        DATETIME NOT NULL
);
CREATE INDEX login_failures_username ON login_failures (username, at);
CREATE INDEX login_failures_ip ON login_failures (ip, at);
ALTER TABLE api_tokens DROP COLUMN epoch;
ALTER TABLE sessions DROP COLUMN acting_epoch;
ALTER TABLE sessions DROP COLUMN epoch;
ALTER TABLE accounts DROP COLUMN credential_epoch;
