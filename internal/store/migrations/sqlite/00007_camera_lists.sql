-- +goose Up
-- The sub-distributor's Third-Party Device lists (Project and Personal
-- cameras), fast at hundreds of thousands of cameras.
--
-- A camera carries copies of what its lists filter and sort by but keep
-- elsewhere: its list (project: a community or office camera; personal: a
-- single-tenant home's), the distributor and sub-distributor above its
-- installer, its project's name and manager, its owner's name and its
-- installer's name (the name, or the account name when there is none). A
-- list is then one range of one index, read without the table: counted,
-- searched ("contains" on the copies) and, when short, sorted by any
-- column; when long, walked in the order it shows. The triggers below keep
-- the copies right whoever writes: the store, the demo loader, a rename of
-- the project, the owner or the installer. The store never writes them.
ALTER TABLE third_party_devices ADD COLUMN scope TEXT NOT NULL DEFAULT '';
ALTER TABLE third_party_devices ADD COLUMN distributor_id BIGINT;
ALTER TABLE third_party_devices ADD COLUMN subdistributor_id BIGINT;
ALTER TABLE third_party_devices ADD COLUMN project_name TEXT NOT NULL DEFAULT '';
ALTER TABLE third_party_devices ADD COLUMN project_manager TEXT NOT NULL DEFAULT '';
ALTER TABLE third_party_devices ADD COLUMN owner_name TEXT NOT NULL DEFAULT '';
ALTER TABLE third_party_devices ADD COLUMN installer_name TEXT NOT NULL DEFAULT '';

UPDATE third_party_devices SET
    scope = CASE (SELECT p.kind FROM projects p WHERE p.id = third_party_devices.project_id) WHEN 'personal' THEN 'personal' ELSE 'project' END,
    distributor_id = (SELECT a.distributor_id FROM accounts a WHERE a.id = third_party_devices.installer_id),
    subdistributor_id = (SELECT a.subdistributor_id FROM accounts a WHERE a.id = third_party_devices.installer_id),
    project_name = coalesce((SELECT p.name FROM projects p WHERE p.id = third_party_devices.project_id), ''),
    project_manager = coalesce((SELECT p.manager FROM projects p WHERE p.id = third_party_devices.project_id), ''),
    owner_name = coalesce((SELECT u.name FROM end_users u WHERE u.id = third_party_devices.owner_id), ''),
    installer_name = coalesce((SELECT CASE WHEN a.name <> '' THEN a.name ELSE a.username END FROM accounts a
        WHERE a.id = third_party_devices.installer_id), '');

-- A new camera, and a camera moved to another project or owner.
-- +goose StatementBegin
CREATE TRIGGER third_party_devices_list_insert AFTER INSERT ON third_party_devices BEGIN
    UPDATE third_party_devices SET
        scope = CASE (SELECT p.kind FROM projects p WHERE p.id = new.project_id) WHEN 'personal' THEN 'personal' ELSE 'project' END,
        distributor_id = (SELECT a.distributor_id FROM accounts a WHERE a.id = new.installer_id),
        subdistributor_id = (SELECT a.subdistributor_id FROM accounts a WHERE a.id = new.installer_id),
        project_name = coalesce((SELECT p.name FROM projects p WHERE p.id = new.project_id), ''),
        project_manager = coalesce((SELECT p.manager FROM projects p WHERE p.id = new.project_id), ''),
        owner_name = coalesce((SELECT u.name FROM end_users u WHERE u.id = new.owner_id), ''),
        installer_name = coalesce((SELECT CASE WHEN a.name <> '' THEN a.name ELSE a.username END FROM accounts a
            WHERE a.id = new.installer_id), '')
    WHERE id = new.id;
END;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE TRIGGER third_party_devices_list_update AFTER UPDATE OF installer_id, project_id, owner_id ON third_party_devices BEGIN
    UPDATE third_party_devices SET
        scope = CASE (SELECT p.kind FROM projects p WHERE p.id = new.project_id) WHEN 'personal' THEN 'personal' ELSE 'project' END,
        distributor_id = (SELECT a.distributor_id FROM accounts a WHERE a.id = new.installer_id),
        subdistributor_id = (SELECT a.subdistributor_id FROM accounts a WHERE a.id = new.installer_id),
        project_name = coalesce((SELECT p.name FROM projects p WHERE p.id = new.project_id), ''),
        project_manager = coalesce((SELECT p.manager FROM projects p WHERE p.id = new.project_id), ''),
        owner_name = coalesce((SELECT u.name FROM end_users u WHERE u.id = new.owner_id), ''),
        installer_name = coalesce((SELECT CASE WHEN a.name <> '' THEN a.name ELSE a.username END FROM accounts a
            WHERE a.id = new.installer_id), '')
    WHERE id = new.id;
END;
-- +goose StatementEnd

-- A renamed project, owner or installer.
-- +goose StatementBegin
CREATE TRIGGER projects_camera_list AFTER UPDATE OF name, manager ON projects
WHEN new.name IS NOT old.name OR new.manager IS NOT old.manager BEGIN
    UPDATE third_party_devices SET project_name = new.name, project_manager = new.manager WHERE project_id = new.id;
END;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE TRIGGER end_users_camera_list AFTER UPDATE OF name ON end_users WHEN new.name IS NOT old.name BEGIN
    UPDATE third_party_devices SET owner_name = new.name WHERE owner_id = new.id;
END;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE TRIGGER accounts_camera_list AFTER UPDATE OF name, username ON accounts
WHEN new.role = 'installer' AND (new.name IS NOT old.name OR new.username IS NOT old.username) BEGIN
    UPDATE third_party_devices SET installer_name = CASE WHEN new.name <> '' THEN new.name ELSE new.username END
    WHERE installer_id = new.id;
END;
-- +goose StatementEnd

-- One list index per level of the tree (sub-distributor, distributor,
-- admin, installer): a scope's cameras newest first, the id breaking ties,
-- with the installer (the store checks it on every row) and every column
-- the lists search and sort by.
CREATE INDEX third_party_devices_list_sub ON third_party_devices (subdistributor_id, scope, created_at, id, installer_id,
    name, project_name, project_manager, owner_name, installer_name);
CREATE INDEX third_party_devices_list_dist ON third_party_devices (distributor_id, scope, created_at, id, installer_id,
    name, project_name, project_manager, owner_name, installer_name);
CREATE INDEX third_party_devices_list_all ON third_party_devices (scope, created_at, id, installer_id,
    name, project_name, project_manager, owner_name, installer_name);
CREATE INDEX third_party_devices_list_inst ON third_party_devices (installer_id, scope, created_at, id,
    name, project_name, project_manager, owner_name, installer_name);

-- +goose Down
DROP INDEX third_party_devices_list_inst;
DROP INDEX third_party_devices_list_all;
DROP INDEX third_party_devices_list_dist;
DROP INDEX third_party_devices_list_sub;
DROP TRIGGER accounts_camera_list;
DROP TRIGGER end_users_camera_list;
DROP TRIGGER projects_camera_list;
DROP TRIGGER third_party_devices_list_update;
DROP TRIGGER third_party_devices_list_insert;
ALTER TABLE third_party_devices DROP COLUMN installer_name;
ALTER TABLE third_party_devices DROP COLUMN owner_name;
ALTER TABLE third_party_devices DROP COLUMN project_manager;
ALTER TABLE third_party_devices DROP COLUMN project_name;
ALTER TABLE third_party_devices DROP COLUMN subdistributor_id;
ALTER TABLE third_party_devices DROP COLUMN distributor_id;
ALTER TABLE third_party_devices DROP COLUMN scope;
