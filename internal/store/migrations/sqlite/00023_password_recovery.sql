-- +goose Up
-- "Forgot password?" (issue 16): every request, by the address that asked
-- and the account it named (when one matched), for the rate limits: per
-- address, and per account (a mailbox is not flooded). Kept a day.
CREATE TABLE password_recovery_requests (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    address     TEXT NOT NULL,
    account_id  BIGINT REFERENCES accounts(id) ON DELETE CASCADE,
    at          DATETIME NOT NULL
);
CREATE INDEX password_recovery_address ON password_recovery_requests (address, at);
CREATE INDEX password_recovery_account ON password_recovery_requests (account_id, at);

-- +goose Down
DROP TABLE password_recovery_requests;
