-- +goose Up
-- Single-use links that set a password (welcome mail, reset).
CREATE TABLE password_tokens (
    token_hash  TEXT PRIMARY KEY,
    account_id  BIGINT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    purpose     TEXT NOT NULL CHECK (purpose IN ('welcome','reset')),
    created_at  DATETIME NOT NULL,
    expires_at  DATETIME NOT NULL,
    used_at     DATETIME
);
CREATE INDEX password_tokens_account ON password_tokens (account_id);

-- The installer's MAC library: MACs registered for its single tenants.
CREATE TABLE installer_macs (
    id            INTEGER PRIMARY KEY,
    installer_id  BIGINT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    mac           TEXT NOT NULL UNIQUE,
    name          TEXT NOT NULL DEFAULT '',
    created_at    DATETIME NOT NULL
);
CREATE INDEX installer_macs_installer ON installer_macs (installer_id, created_at);

-- Sessions acting as another account end with it.
CREATE INDEX sessions_acting_as ON sessions (acting_as_id);

-- Installer lists search by account and email.
CREATE INDEX accounts_email ON accounts (lower(email));

-- +goose Down
DROP INDEX accounts_email;
DROP INDEX sessions_acting_as;
DROP TABLE installer_macs;
DROP TABLE password_tokens;
