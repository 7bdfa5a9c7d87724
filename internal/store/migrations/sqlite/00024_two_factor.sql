-- +goose Up
-- Two-factor sign-in (issue 16). An account's TOTP secret (RFC 6238), sealed
-- with the cluster's secret key like other secrets; confirmed once the
-- person typed a code from their app. last_step is the last 30-second step
-- accepted: a code works once.
CREATE TABLE account_totp (
    account_id    BIGINT NOT NULL PRIMARY KEY REFERENCES accounts(id) ON DELETE CASCADE,
    secret        TEXT NOT NULL,
    confirmed_at  DATETIME,
    last_step     BIGINT NOT NULL DEFAULT 0,
    created_at    DATETIME NOT NULL
);
-- Single-use recovery codes, stored as SHA-256 hashes.
CREATE TABLE recovery_codes (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    account_id  BIGINT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    code_hash   TEXT NOT NULL,
    used_at     DATETIME
);
CREATE INDEX recovery_codes_account ON recovery_codes (account_id);
-- A login whose password was right and whose second factor is awaited: a
-- few minutes and a few attempts.
CREATE TABLE login_challenges (
    token_hash  TEXT NOT NULL PRIMARY KEY,
    account_id  BIGINT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    attempts    INTEGER NOT NULL DEFAULT 0,
    created_at  DATETIME NOT NULL,
    expires_at  DATETIME NOT NULL
);
CREATE INDEX login_challenges_expires ON login_challenges (expires_at);
-- A parent (admin, distributor, sub-distributor) may require two-factor
-- sign-in of its children.
ALTER TABLE accounts ADD COLUMN require_2fa_children BOOLEAN NOT NULL DEFAULT false;

-- +goose Down
ALTER TABLE accounts DROP COLUMN require_2fa_children;
DROP TABLE login_challenges;
DROP TABLE recovery_codes;
DROP TABLE account_totp;
