-- +goose Up
-- The two migration trees describe one schema (TestSchemaSameOnBothEngines).
-- What this version brings together:
--
-- Projects by kind and name: SQLite has projects_kind_name (kind, name),
-- whose entries end with the id (the rowid); PostgreSQL had it as well as
-- projects_kind_name_id (kind, name, id), which serves everything the
-- shorter one did. The longer one takes the name the SQLite queries use
-- (INDEXED BY, indexes.go), as projects_kind_manager (kind, manager, id)
-- already has.
DROP INDEX projects_kind_name;
ALTER INDEX projects_kind_name_id RENAME TO projects_kind_name;

-- On SQLite a key column that is not an INTEGER rowid was let hold NULL;
-- version 20 makes it NOT NULL there (migrate_not_null.go). A PostgreSQL
-- primary key never holds one: nothing else changes here.

-- +goose Down
ALTER INDEX projects_kind_name RENAME TO projects_kind_name_id;
CREATE INDEX projects_kind_name ON projects (kind, name);
