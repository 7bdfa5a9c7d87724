-- +goose Up
-- The Setting module: a sub-distributor's customer service contacts and
-- its Receive Feedback switch (one row per sub-distributor, made on first save).
CREATE TABLE customer_service (
    subdistributor_id  BIGINT PRIMARY KEY REFERENCES accounts(id) ON DELETE CASCADE,
    email              TEXT NOT NULL DEFAULT '',
    phone              TEXT NOT NULL DEFAULT '',
    other              TEXT NOT NULL DEFAULT '',
    receive_feedback   BOOLEAN NOT NULL DEFAULT false,
    feedback_email     TEXT NOT NULL DEFAULT '',
    language           TEXT NOT NULL DEFAULT 'en',
    updated_at         DATETIME NOT NULL
);

-- Feedback from installers to their sub-distributor. The installer's name
-- is kept with the row, so feedback outlives a deleted installer.
CREATE TABLE feedback (
    id                  INTEGER PRIMARY KEY,
    subdistributor_id   BIGINT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    installer_id        BIGINT REFERENCES accounts(id) ON DELETE SET NULL,
    installer_username  TEXT NOT NULL,
    installer_name      TEXT NOT NULL DEFAULT '',
    subject             TEXT NOT NULL,
    message             TEXT NOT NULL,
    contact_email       TEXT NOT NULL DEFAULT '',
    mailed              BOOLEAN NOT NULL DEFAULT false,
    created_at          DATETIME NOT NULL
);
CREATE INDEX feedback_subdistributor ON feedback (subdistributor_id, created_at);
CREATE INDEX feedback_installer ON feedback (installer_id);

-- +goose Down
DROP TABLE feedback;
DROP TABLE customer_service;
