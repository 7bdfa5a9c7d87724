-- +goose Up
-- The sub-distributor's Project Device (community, office) and Personal
-- Device lists, fast at a million devices.
--
-- A device carries the kind of its project and the distributor and
-- sub-distributor above its installer, so that a list is one range of one
-- index, in the order it shows, instead of a join of every device in scope
-- to its project. They never change on their own: a device stays with its
-- installer and a project keeps its kind. The store fills them when it adds
-- a device; the triggers below keep them right when a device is moved to
-- another project of its installer, or written without them.
ALTER TABLE devices ADD COLUMN project_kind TEXT NOT NULL DEFAULT '';
ALTER TABLE devices ADD COLUMN distributor_id BIGINT;
ALTER TABLE devices ADD COLUMN subdistributor_id BIGINT;

UPDATE devices SET
    project_kind = (SELECT p.kind FROM projects p WHERE p.id = devices.project_id),
    distributor_id = (SELECT a.distributor_id FROM accounts a WHERE a.id = devices.installer_id),
    subdistributor_id = (SELECT a.subdistributor_id FROM accounts a WHERE a.id = devices.installer_id);

-- +goose StatementBegin
CREATE TRIGGER devices_fill_list_columns AFTER INSERT ON devices WHEN new.project_kind = '' BEGIN
    UPDATE devices SET
        project_kind = (SELECT p.kind FROM projects p WHERE p.id = new.project_id),
        distributor_id = (SELECT a.distributor_id FROM accounts a WHERE a.id = new.installer_id),
        subdistributor_id = (SELECT a.subdistributor_id FROM accounts a WHERE a.id = new.installer_id)
    WHERE id = new.id;
END;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE TRIGGER devices_follow_project AFTER UPDATE OF project_id ON devices BEGIN
    UPDATE devices SET project_kind = (SELECT p.kind FROM projects p WHERE p.id = new.project_id) WHERE id = new.id;
END;
-- +goose StatementEnd

-- One list index per level of the tree (sub-distributor, distributor,
-- admin, installer), in the lists' order: newest first, the id breaking
-- ties. The first three also hold what the filters test, so that counting
-- a list and walking it read the index alone: the online switch, the
-- project (community, office and manager searches), the MAC (a partial
-- MAC), the SIP and the name.
CREATE INDEX devices_list_sub ON devices (subdistributor_id, project_kind, created_at, id, online, project_id, mac, sip, name);
CREATE INDEX devices_list_dist ON devices (distributor_id, project_kind, created_at, id, online, project_id, mac, sip, name);
CREATE INDEX devices_list_all ON devices (project_kind, created_at, id, online, project_id, mac, sip, name);
CREATE INDEX devices_list_inst ON devices (installer_id, project_kind, created_at, id);
-- A project's devices, newest first: the community, office and manager
-- searches (with the online switch of the status filter), and the lists
-- sorted by project or manager.
CREATE INDEX devices_project_created ON devices (project_id, created_at, id, online);
DROP INDEX devices_project;
-- SIP prefix within a scope, read from the index alone; the lists sorted
-- by SIP and by MAC.
CREATE INDEX devices_sip_scope ON devices (project_kind, sip, subdistributor_id, distributor_id, installer_id);
CREATE INDEX devices_mac_scope ON devices (project_kind, mac, subdistributor_id, distributor_id, installer_id);
-- Projects in scope searched by name or manager without reading them; the
-- lists sorted by manager; installers in name order (the lists sorted by
-- installer: its name, or its account name when it has none).
CREATE INDEX projects_list ON projects (installer_id, kind, name, manager);
CREATE INDEX projects_kind_manager ON projects (kind, manager);
CREATE INDEX accounts_display_name ON accounts (role, (CASE WHEN name <> '' THEN name ELSE username END));

-- A partial MAC or a part of a device name ("contains"): a trigram index
-- over both, kept in step with devices by the triggers below, finds the
-- devices holding the text instead of reading every device in scope.
CREATE VIRTUAL TABLE devices_search USING fts5(mac, name, content='devices', content_rowid='id',
    tokenize='trigram', detail='column', columnsize=0);
INSERT INTO devices_search(devices_search) VALUES ('rebuild');

-- +goose StatementBegin
CREATE TRIGGER devices_search_insert AFTER INSERT ON devices BEGIN
    INSERT INTO devices_search(rowid, mac, name) VALUES (new.id, new.mac, new.name);
END;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE TRIGGER devices_search_delete AFTER DELETE ON devices BEGIN
    INSERT INTO devices_search(devices_search, rowid, mac, name) VALUES ('delete', old.id, old.mac, old.name);
END;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE TRIGGER devices_search_update AFTER UPDATE OF id, mac, name ON devices BEGIN
    INSERT INTO devices_search(devices_search, rowid, mac, name) VALUES ('delete', old.id, old.mac, old.name);
    INSERT INTO devices_search(rowid, mac, name) VALUES (new.id, new.mac, new.name);
END;
-- +goose StatementEnd

-- +goose Down
DROP TRIGGER devices_search_update;
DROP TRIGGER devices_search_delete;
DROP TRIGGER devices_search_insert;
DROP TABLE devices_search;
DROP INDEX accounts_display_name;
DROP INDEX projects_kind_manager;
DROP INDEX projects_list;
DROP INDEX devices_mac_scope;
DROP INDEX devices_sip_scope;
CREATE INDEX devices_project ON devices (project_id);
DROP INDEX devices_project_created;
DROP INDEX devices_list_inst;
DROP INDEX devices_list_all;
DROP INDEX devices_list_dist;
DROP INDEX devices_list_sub;
DROP TRIGGER devices_follow_project;
DROP TRIGGER devices_fill_list_columns;
ALTER TABLE devices DROP COLUMN subdistributor_id;
ALTER TABLE devices DROP COLUMN distributor_id;
ALTER TABLE devices DROP COLUMN project_kind;
