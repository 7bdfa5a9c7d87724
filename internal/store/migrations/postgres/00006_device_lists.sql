-- +goose Up
-- The sub-distributor's Project Device (community, office) and Personal
-- Device lists, fast at a million devices.
--
-- A device carries the kind of its project and the distributor and
-- sub-distributor above its installer, so that a list is one range of one
-- index, in the order it shows, instead of a join of every device in scope
-- to its project. They never change on their own: a device stays with its
-- installer and a project keeps its kind. The store fills them when it adds
-- a device; the trigger below keeps them right when a device is moved to
-- another project of its installer, or written without them.
ALTER TABLE devices ADD COLUMN project_kind TEXT NOT NULL DEFAULT '';
ALTER TABLE devices ADD COLUMN distributor_id BIGINT;
ALTER TABLE devices ADD COLUMN subdistributor_id BIGINT;

UPDATE devices d SET project_kind = p.kind, distributor_id = a.distributor_id, subdistributor_id = a.subdistributor_id
    FROM projects p, accounts a WHERE p.id = d.project_id AND a.id = d.installer_id;

-- +goose StatementBegin
CREATE FUNCTION devices_fill_list_columns() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' AND NEW.project_kind <> '' THEN
        RETURN NEW;
    END IF;
    SELECT p.kind INTO NEW.project_kind FROM projects p WHERE p.id = NEW.project_id;
    IF TG_OP = 'INSERT' THEN
        SELECT a.distributor_id, a.subdistributor_id INTO NEW.distributor_id, NEW.subdistributor_id
            FROM accounts a WHERE a.id = NEW.installer_id;
    END IF;
    RETURN NEW;
END
$$;
-- +goose StatementEnd
CREATE TRIGGER devices_fill_list_columns BEFORE INSERT OR UPDATE OF project_id ON devices
    FOR EACH ROW EXECUTE FUNCTION devices_fill_list_columns();

-- One list index per level of the tree (sub-distributor, distributor,
-- admin, installer), in the lists' order: newest first, the id breaking
-- ties. The first three also hold what the filters test, so that counting
-- a list and walking it read the index alone: the online switch, the
-- project (community, office and manager searches), the MAC (a partial
-- MAC), the SIP and the name.
CREATE INDEX devices_list_sub ON devices (subdistributor_id, project_kind, created_at, id) INCLUDE (online, project_id, mac, sip, name);
CREATE INDEX devices_list_dist ON devices (distributor_id, project_kind, created_at, id) INCLUDE (online, project_id, mac, sip, name);
CREATE INDEX devices_list_all ON devices (project_kind, created_at, id) INCLUDE (online, project_id, mac, sip, name);
CREATE INDEX devices_list_inst ON devices (installer_id, project_kind, created_at, id);
-- A project's devices, newest first: the community, office and manager
-- searches (with the online switch of the status filter), and the lists
-- sorted by project or manager.
CREATE INDEX devices_project_created ON devices (project_id, created_at, id) INCLUDE (online);
DROP INDEX devices_project;
-- SIP prefix (LIKE '600%': the C collation makes it a range, whatever the
-- database's collation) within a scope, read from the index alone; the
-- lists sorted by SIP (in C order, as SQLite sorts) and by MAC.
CREATE INDEX devices_sip_scope ON devices (project_kind, sip COLLATE "C") INCLUDE (subdistributor_id, distributor_id, installer_id);
CREATE INDEX devices_mac_scope ON devices (project_kind, mac) INCLUDE (subdistributor_id, distributor_id, installer_id);
-- Projects in scope searched by name or manager without reading them; the
-- lists sorted by project or manager; installers in name order (the lists
-- sorted by installer: its name, or its account name when it has none).
CREATE INDEX projects_list ON projects (installer_id, kind) INCLUDE (name, manager);
CREATE INDEX projects_kind_name_id ON projects (kind, name, id);
CREATE INDEX projects_kind_manager ON projects (kind, manager, id);
CREATE INDEX accounts_display_name ON accounts (role, (CASE WHEN name <> '' THEN name ELSE username END), id);

-- A partial MAC or a part of a device name ("contains") uses trigram
-- indexes (pg_trgm, see 00003_enduser_search.sql), and so do the
-- community, office and manager searches; without the extension these
-- searches read the devices (projects) in scope instead.
-- +goose StatementBegin
DO $$
DECLARE
    nsp text;
BEGIN
    SELECT n.nspname INTO nsp FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace WHERE e.extname = 'pg_trgm';
    IF nsp IS NULL THEN
        BEGIN
            CREATE EXTENSION IF NOT EXISTS pg_trgm SCHEMA public;
        EXCEPTION
            WHEN unique_violation OR duplicate_object THEN
                NULL; -- created at the same moment by another migration
            WHEN OTHERS THEN
                RAISE NOTICE 'pg_trgm is not available (%): device "contains" searches will not be indexed', SQLERRM;
        END;
        SELECT n.nspname INTO nsp FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace WHERE e.extname = 'pg_trgm';
    END IF;
    IF nsp IS NOT NULL THEN
        EXECUTE format('CREATE INDEX devices_mac_trgm ON devices USING gin (mac %I.gin_trgm_ops)', nsp);
        EXECUTE format('CREATE INDEX devices_name_trgm ON devices USING gin (lower(name) %I.gin_trgm_ops)', nsp);
        -- The community, office and manager searches find their projects.
        EXECUTE format('CREATE INDEX projects_name_trgm ON projects USING gin (lower(name) %I.gin_trgm_ops)', nsp);
        EXECUTE format('CREATE INDEX projects_manager_trgm ON projects USING gin (lower(manager) %I.gin_trgm_ops)', nsp);
    END IF;
END
$$;
-- +goose StatementEnd

-- +goose Down
DROP INDEX IF EXISTS projects_manager_trgm;
DROP INDEX IF EXISTS projects_name_trgm;
DROP INDEX IF EXISTS devices_name_trgm;
DROP INDEX IF EXISTS devices_mac_trgm;
DROP INDEX accounts_display_name;
DROP INDEX projects_kind_manager;
DROP INDEX projects_kind_name_id;
DROP INDEX projects_list;
DROP INDEX devices_mac_scope;
DROP INDEX devices_sip_scope;
CREATE INDEX devices_project ON devices (project_id);
DROP INDEX devices_project_created;
DROP INDEX devices_list_inst;
DROP INDEX devices_list_all;
DROP INDEX devices_list_dist;
DROP INDEX devices_list_sub;
DROP TRIGGER devices_fill_list_columns ON devices;
DROP FUNCTION devices_fill_list_columns();
ALTER TABLE devices DROP COLUMN subdistributor_id;
ALTER TABLE devices DROP COLUMN distributor_id;
ALTER TABLE devices DROP COLUMN project_kind;
