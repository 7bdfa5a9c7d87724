-- +goose Up
-- The User module's end-user lists (villa, community, office): newest
-- first, scoped by installer or by the projects of one kind, searched by
-- SIP prefix and by "contains" on name, email and mobile number, at a
-- million end users.

-- Newest first: the order of every list (the rowid, which is id, follows
-- created_at in the index, so the index serves ORDER BY created_at, id).
CREATE INDEX end_users_created ON end_users (created_at);
-- One installer's users, newest first (installer portal, a scoped account).
CREATE INDEX end_users_installer_created ON end_users (installer_id, created_at);
-- The users of a set of projects (a kind within a subtree), by account
-- type: covers the capped count of a list.
CREATE INDEX end_users_project_role ON end_users (project_id, role, installer_id);

-- "Contains" searches: a trigram full-text index over the searched columns,
-- kept in step with end_users by the triggers below. LIKE '%text%' on it
-- finds the rows holding every trigram of the text instead of reading all
-- users. detail=column keeps the columns apart (a name search does not
-- read every email) at a fraction of the size of detail=full.
CREATE VIRTUAL TABLE end_users_search USING fts5(name, email, mobile, content='end_users', content_rowid='id',
    tokenize='trigram', detail='column', columnsize=0);
INSERT INTO end_users_search(end_users_search) VALUES ('rebuild');

-- +goose StatementBegin
CREATE TRIGGER end_users_search_insert AFTER INSERT ON end_users BEGIN
    INSERT INTO end_users_search(rowid, name, email, mobile) VALUES (new.id, new.name, new.email, new.mobile);
END;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE TRIGGER end_users_search_delete AFTER DELETE ON end_users BEGIN
    INSERT INTO end_users_search(end_users_search, rowid, name, email, mobile) VALUES ('delete', old.id, old.name, old.email, old.mobile);
END;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE TRIGGER end_users_search_update AFTER UPDATE OF id, name, email, mobile ON end_users BEGIN
    INSERT INTO end_users_search(end_users_search, rowid, name, email, mobile) VALUES ('delete', old.id, old.name, old.email, old.mobile);
    INSERT INTO end_users_search(rowid, name, email, mobile) VALUES (new.id, new.name, new.email, new.mobile);
END;
-- +goose StatementEnd

-- +goose Down
DROP TRIGGER end_users_search_update;
DROP TRIGGER end_users_search_delete;
DROP TRIGGER end_users_search_insert;
DROP TABLE end_users_search;
DROP INDEX end_users_project_role;
DROP INDEX end_users_installer_created;
DROP INDEX end_users_created;
