-- +goose Up
-- The User module's end-user lists (villa, community, office): newest
-- first, scoped by installer or by the projects of one kind, searched by
-- SIP prefix and by "contains" on name, email and mobile number, at a
-- million end users.

-- Newest first: the order of every list.
CREATE INDEX end_users_created ON end_users (created_at, id);
-- One installer's users, newest first (installer portal, a scoped account).
CREATE INDEX end_users_installer_created ON end_users (installer_id, created_at, id);
-- The users of a set of projects (a kind within a subtree), by account
-- type: covers the capped count of a list.
CREATE INDEX end_users_project_role ON end_users (project_id, role, installer_id);
-- SIP prefix search (LIKE '600%') whatever the database's collation.
CREATE INDEX end_users_sip_prefix ON end_users (sip text_pattern_ops);

-- "Contains" searches (LIKE '%text%') use trigram indexes from the pg_trgm
-- extension (shipped with PostgreSQL; trusted, so the database owner may
-- create it). It is created in schema public, where every schema's
-- indexes can share it. Where it cannot be had, the lists still work and
-- these searches read the users in scope instead: create the extension as
-- a superuser and run this migration's indexes by hand to get them back.
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
                RAISE NOTICE 'pg_trgm is not available (%): end-user "contains" searches will not be indexed', SQLERRM;
        END;
        SELECT n.nspname INTO nsp FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace WHERE e.extname = 'pg_trgm';
    END IF;
    IF nsp IS NOT NULL THEN
        EXECUTE format('CREATE INDEX end_users_name_trgm ON end_users USING gin (lower(name) %I.gin_trgm_ops)', nsp);
        EXECUTE format('CREATE INDEX end_users_email_trgm ON end_users USING gin (lower(email) %I.gin_trgm_ops)', nsp);
        EXECUTE format('CREATE INDEX end_users_mobile_trgm ON end_users USING gin (mobile %I.gin_trgm_ops)', nsp);
    END IF;
END
$$;
-- +goose StatementEnd

-- +goose Down
DROP INDEX IF EXISTS end_users_mobile_trgm;
DROP INDEX IF EXISTS end_users_email_trgm;
DROP INDEX IF EXISTS end_users_name_trgm;
DROP INDEX end_users_sip_prefix;
DROP INDEX end_users_project_role;
DROP INDEX end_users_installer_created;
DROP INDEX end_users_created;
