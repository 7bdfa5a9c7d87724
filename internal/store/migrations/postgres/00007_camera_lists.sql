-- +goose Up
-- The sub-distributor's Third-Party Device lists (Project and Personal
-- cameras), fast at hundreds of thousands of cameras.
--
-- A camera carries copies of what its lists filter and sort by but keep
-- elsewhere: its list (project: a community or office camera; personal: a
-- single-tenant home's), the distributor and sub-distributor above its
-- installer, its project's name and manager, its owner's name and its
-- installer's name (the name, or the account name when there is none). A
-- list is then one range of one index: counted, searched ("contains" on the
-- copies) and, when short, sorted by any column; when long, walked in the
-- order it shows. The triggers below keep the copies right whoever writes:
-- the store, the demo loader, a rename of the project, the owner or the
-- installer. The store never writes them.
ALTER TABLE third_party_devices ADD COLUMN scope TEXT NOT NULL DEFAULT '';
ALTER TABLE third_party_devices ADD COLUMN distributor_id BIGINT;
ALTER TABLE third_party_devices ADD COLUMN subdistributor_id BIGINT;
ALTER TABLE third_party_devices ADD COLUMN project_name TEXT NOT NULL DEFAULT '';
ALTER TABLE third_party_devices ADD COLUMN project_manager TEXT NOT NULL DEFAULT '';
ALTER TABLE third_party_devices ADD COLUMN owner_name TEXT NOT NULL DEFAULT '';
ALTER TABLE third_party_devices ADD COLUMN installer_name TEXT NOT NULL DEFAULT '';

UPDATE third_party_devices t SET
    scope = CASE p.kind WHEN 'personal' THEN 'personal' ELSE 'project' END,
    distributor_id = a.distributor_id,
    subdistributor_id = a.subdistributor_id,
    project_name = p.name,
    project_manager = p.manager,
    owner_name = coalesce((SELECT u.name FROM end_users u WHERE u.id = t.owner_id), ''),
    installer_name = CASE WHEN a.name <> '' THEN a.name ELSE a.username END
FROM projects p, accounts a WHERE p.id = t.project_id AND a.id = t.installer_id;

-- A new camera, and a camera moved to another project or owner.
-- +goose StatementBegin
CREATE FUNCTION third_party_devices_fill_list() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    SELECT CASE p.kind WHEN 'personal' THEN 'personal' ELSE 'project' END, p.name, p.manager
        INTO NEW.scope, NEW.project_name, NEW.project_manager
        FROM projects p WHERE p.id = NEW.project_id;
    SELECT a.distributor_id, a.subdistributor_id, CASE WHEN a.name <> '' THEN a.name ELSE a.username END
        INTO NEW.distributor_id, NEW.subdistributor_id, NEW.installer_name
        FROM accounts a WHERE a.id = NEW.installer_id;
    NEW.owner_name := coalesce((SELECT u.name FROM end_users u WHERE u.id = NEW.owner_id), '');
    -- A project or installer that does not exist fails on its foreign key.
    NEW.scope := coalesce(NEW.scope, '');
    NEW.project_name := coalesce(NEW.project_name, '');
    NEW.project_manager := coalesce(NEW.project_manager, '');
    NEW.installer_name := coalesce(NEW.installer_name, '');
    RETURN NEW;
END
$$;
-- +goose StatementEnd
CREATE TRIGGER third_party_devices_list_fill BEFORE INSERT OR UPDATE OF installer_id, project_id, owner_id ON third_party_devices
    FOR EACH ROW EXECUTE FUNCTION third_party_devices_fill_list();

-- A renamed project, owner or installer.
-- +goose StatementBegin
CREATE FUNCTION projects_camera_list() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE third_party_devices SET project_name = NEW.name, project_manager = NEW.manager WHERE project_id = NEW.id;
    RETURN NULL;
END
$$;
-- +goose StatementEnd
CREATE TRIGGER projects_camera_list AFTER UPDATE OF name, manager ON projects FOR EACH ROW
    WHEN (OLD.name IS DISTINCT FROM NEW.name OR OLD.manager IS DISTINCT FROM NEW.manager)
    EXECUTE FUNCTION projects_camera_list();

-- +goose StatementBegin
CREATE FUNCTION end_users_camera_list() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE third_party_devices SET owner_name = NEW.name WHERE owner_id = NEW.id;
    RETURN NULL;
END
$$;
-- +goose StatementEnd
CREATE TRIGGER end_users_camera_list AFTER UPDATE OF name ON end_users FOR EACH ROW
    WHEN (OLD.name IS DISTINCT FROM NEW.name)
    EXECUTE FUNCTION end_users_camera_list();

-- +goose StatementBegin
CREATE FUNCTION accounts_camera_list() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE third_party_devices SET installer_name = CASE WHEN NEW.name <> '' THEN NEW.name ELSE NEW.username END
        WHERE installer_id = NEW.id;
    RETURN NULL;
END
$$;
-- +goose StatementEnd
CREATE TRIGGER accounts_camera_list AFTER UPDATE OF name, username ON accounts FOR EACH ROW
    WHEN (NEW.role = 'installer' AND (OLD.name IS DISTINCT FROM NEW.name OR OLD.username IS DISTINCT FROM NEW.username))
    EXECUTE FUNCTION accounts_camera_list();

-- One list index per level of the tree (sub-distributor, distributor,
-- admin, installer): a scope's cameras newest first, the id breaking ties,
-- with the installer (the store checks it on every row) and every column
-- the lists search and sort by, so that a vacuumed table is not read.
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
DROP TRIGGER accounts_camera_list ON accounts;
DROP FUNCTION accounts_camera_list();
DROP TRIGGER end_users_camera_list ON end_users;
DROP FUNCTION end_users_camera_list();
DROP TRIGGER projects_camera_list ON projects;
DROP FUNCTION projects_camera_list();
DROP TRIGGER third_party_devices_list_fill ON third_party_devices;
DROP FUNCTION third_party_devices_fill_list();
ALTER TABLE third_party_devices DROP COLUMN installer_name;
ALTER TABLE third_party_devices DROP COLUMN owner_name;
ALTER TABLE third_party_devices DROP COLUMN project_manager;
ALTER TABLE third_party_devices DROP COLUMN project_name;
ALTER TABLE third_party_devices DROP COLUMN subdistributor_id;
ALTER TABLE third_party_devices DROP COLUMN distributor_id;
ALTER TABLE third_party_devices DROP COLUMN scope;
