-- +goose Up
-- Passkeys and security keys (WebAuthn) as a second factor (issue 16). An
-- account's credentials: the credential id (base64url, unique across
-- accounts), the name its person gave it, the credential record as
-- go-webauthn keeps it (JSON: public key, flags, AAGUID, transports), and
-- the signature counter, checked and moved forward at each sign-in.
CREATE TABLE account_passkeys (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    account_id     BIGINT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    credential_id  TEXT NOT NULL,
    name           TEXT NOT NULL,
    credential     TEXT NOT NULL,
    sign_count     BIGINT NOT NULL DEFAULT 0,
    created_at     DATETIME NOT NULL,
    last_used_at   DATETIME
);
CREATE UNIQUE INDEX account_passkeys_credential ON account_passkeys (credential_id);
CREATE INDEX account_passkeys_account ON account_passkeys (account_id);
-- A registration begun and not finished: its ceremony (the challenge, as
-- go-webauthn's session data, JSON), one per account, for a few minutes.
CREATE TABLE passkey_registrations (
    account_id  BIGINT NOT NULL PRIMARY KEY REFERENCES accounts(id) ON DELETE CASCADE,
    session     TEXT NOT NULL,
    expires_at  DATETIME NOT NULL
);
-- A login waiting for its second factor may wait for a passkey: the
-- assertion's ceremony, bound to the login challenge and ending with it.
ALTER TABLE login_challenges ADD COLUMN passkey_session TEXT;

-- +goose Down
ALTER TABLE login_challenges DROP COLUMN passkey_session;
DROP TABLE passkey_registrations;
DROP TABLE account_passkeys;
