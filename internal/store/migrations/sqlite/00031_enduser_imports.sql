-- +goose Up
-- End-user imports remembered by their file (issue 18): the SHA-256 of a
-- file imported into a project, written in the import's transaction, so
-- that the same file sent again (a retry after a lost answer, a node killed
-- between the commit and the answer, a double submit) imports nothing twice
-- (README "Installer portal"; store.ImportEndUserFile).
CREATE TABLE end_user_imports (
    project_id  BIGINT NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    digest      TEXT NOT NULL,
    imported    INTEGER NOT NULL,
    at          DATETIME NOT NULL,
    PRIMARY KEY (project_id, digest)
) WITHOUT ROWID;

-- +goose Down
DROP TABLE end_user_imports;
