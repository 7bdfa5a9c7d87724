-- +goose Up
-- The User module's end-user lists (villa, community, office) at a million
-- end users, built as the device lists are (00006_device_lists.sql).
--
-- An end user carries the kind of its project and the distributor and
-- sub-distributor above its installer, so that a list is one range of one
-- index per level of the tree, newest first. They never change on their
-- own: a user stays with its installer and project, and a project keeps its
-- kind. The store fills them when it adds a user; the trigger below keeps
-- them right for a user written without them, or moved.
ALTER TABLE end_users ADD COLUMN project_kind TEXT NOT NULL DEFAULT '';
ALTER TABLE end_users ADD COLUMN distributor_id BIGINT;
ALTER TABLE end_users ADD COLUMN subdistributor_id BIGINT;

UPDATE end_users u SET project_kind = p.kind, distributor_id = a.distributor_id, subdistributor_id = a.subdistributor_id
    FROM projects p, accounts a WHERE p.id = u.project_id AND a.id = u.installer_id;

-- +goose StatementBegin
CREATE FUNCTION end_users_fill_list_columns() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' AND NEW.project_kind <> '' THEN
        RETURN NEW;
    END IF;
    SELECT p.kind INTO NEW.project_kind FROM projects p WHERE p.id = NEW.project_id;
    SELECT a.distributor_id, a.subdistributor_id INTO NEW.distributor_id, NEW.subdistributor_id
        FROM accounts a WHERE a.id = NEW.installer_id;
    RETURN NEW;
END
$$;
-- +goose StatementEnd
CREATE TRIGGER end_users_fill_list_columns BEFORE INSERT OR UPDATE OF project_id, installer_id ON end_users
    FOR EACH ROW EXECUTE FUNCTION end_users_fill_list_columns();

-- One list index per level of the tree (sub-distributor, distributor,
-- admin, installer), newest first, the id breaking ties, holding what the
-- Account Type filter and the installer, office and name searches test.
CREATE INDEX end_users_list_sub ON end_users (subdistributor_id, project_kind, created_at, id) INCLUDE (role, installer_id, project_id, name);
CREATE INDEX end_users_list_dist ON end_users (distributor_id, project_kind, created_at, id) INCLUDE (role, installer_id, project_id, name);
CREATE INDEX end_users_list_all ON end_users (project_kind, created_at, id) INCLUDE (role, installer_id, project_id, name);
CREATE INDEX end_users_list_inst ON end_users (installer_id, project_kind, created_at, id) INCLUDE (role, project_id, name);
-- A SIP prefix within a scope (a range in C order, as SQLite compares),
-- counted from the index alone; an office's users newest first (the Office
-- search).
CREATE INDEX end_users_sip_scope ON end_users (project_kind, sip COLLATE "C") INCLUDE (subdistributor_id, distributor_id, installer_id, role, created_at);
CREATE INDEX end_users_project_created ON end_users (project_id, created_at, id) INCLUDE (role);
DROP INDEX end_users_created;

-- The Name and Family Master searches look words up: every word of a
-- user's name (field 'name') and of its Family Master column (field
-- 'master': a family master's own name, a family member's master's name),
-- lower-cased, split at spaces, with the user's list columns, so that a
-- search by a word (or the start of one) counts and sorts its users in
-- scope from one index range, however common the name. Kept in step with
-- end_users by the triggers below (a family master's rename rewrites its
-- members' Family Master words). Words compare byte by byte (C), as
-- SQLite's do: a prefix is a range.
CREATE TABLE end_user_words (
    user_id           BIGINT NOT NULL,
    field             TEXT NOT NULL CHECK (field IN ('name', 'master')),
    word              TEXT COLLATE "C" NOT NULL,
    project_kind      TEXT NOT NULL,
    role              TEXT NOT NULL,
    installer_id      BIGINT NOT NULL,
    distributor_id    BIGINT,
    subdistributor_id BIGINT,
    created_at        TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (user_id, field, word)
);
-- The admin's (and a distributor's) word ranges; a sub-distributor's (and
-- its installers').
CREATE INDEX end_user_words_all ON end_user_words (project_kind, field, word, created_at, user_id) INCLUDE (role, distributor_id, installer_id);
CREATE INDEX end_user_words_sub ON end_user_words (subdistributor_id, project_kind, field, word, created_at, user_id) INCLUDE (role, installer_id);

-- A text's words, as the words table holds them: the text lower-cased
-- (a tab read as a space) from the start of each of its words (split at
-- spaces) to its end, so that "contains from the start of a word" is a
-- prefix: Anna Maria Smith gives "anna maria smith", "maria smith" and
-- "smith". SQLite's triggers split the same way, and the store joins a
-- search's words by one space.
-- +goose StatementBegin
CREATE FUNCTION end_user_words_of(t text) RETURNS SETOF text LANGUAGE sql IMMUTABLE AS $$
    SELECT DISTINCT substr(s.t, s.pos::int) FROM (
        SELECT r.w, sum(length(r.w) + 1) OVER (ORDER BY r.n) - length(r.w) AS pos, x.t
        FROM (SELECT replace(lower(t), chr(9), ' ') AS t) x
        CROSS JOIN LATERAL regexp_split_to_table(x.t, ' ') WITH ORDINALITY AS r(w, n)) s
    WHERE s.w <> ''
$$;
-- +goose StatementEnd

INSERT INTO end_user_words (user_id, field, word, project_kind, role, installer_id, distributor_id, subdistributor_id, created_at)
SELECT u.id, f.field, w, u.project_kind, u.role, u.installer_id, u.distributor_id, u.subdistributor_id, u.created_at
FROM end_users u LEFT JOIN end_users m ON m.id = u.family_master_id
CROSS JOIN (VALUES ('name'), ('master')) f(field)
CROSS JOIN LATERAL end_user_words_of(CASE WHEN f.field = 'name' OR u.role = 'family_master' THEN u.name ELSE m.name END) w;

-- A user's words are written when it is added and rewritten when what they
-- hold changes; a family master's members' Family Master words follow its
-- name.
-- +goose StatementBegin
CREATE FUNCTION end_user_words_write() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP <> 'INSERT' THEN
        DELETE FROM end_user_words WHERE user_id = OLD.id;
    END IF;
    IF TG_OP = 'DELETE' THEN
        RETURN NULL;
    END IF;
    INSERT INTO end_user_words (user_id, field, word, project_kind, role, installer_id, distributor_id, subdistributor_id, created_at)
    SELECT NEW.id, t.field, w, NEW.project_kind, NEW.role, NEW.installer_id, NEW.distributor_id, NEW.subdistributor_id, NEW.created_at
    FROM (SELECT 'name' AS field, NEW.name AS text
        UNION ALL
        SELECT 'master', CASE WHEN NEW.role = 'family_master' THEN NEW.name
            ELSE (SELECT m.name FROM end_users m WHERE m.id = NEW.family_master_id) END) t
    CROSS JOIN LATERAL end_user_words_of(t.text) w;
    IF TG_OP = 'UPDATE' THEN
        DELETE FROM end_user_words WHERE field = 'master' AND user_id IN (SELECT u.id FROM end_users u WHERE u.family_master_id = NEW.id);
        INSERT INTO end_user_words (user_id, field, word, project_kind, role, installer_id, distributor_id, subdistributor_id, created_at)
        SELECT u.id, 'master', w, u.project_kind, u.role, u.installer_id, u.distributor_id, u.subdistributor_id, u.created_at
        FROM end_users u CROSS JOIN LATERAL end_user_words_of(NEW.name) w WHERE u.family_master_id = NEW.id;
    END IF;
    RETURN NULL;
END
$$;
-- +goose StatementEnd
CREATE TRIGGER end_user_words_insert AFTER INSERT ON end_users FOR EACH ROW EXECUTE FUNCTION end_user_words_write();
CREATE TRIGGER end_user_words_delete AFTER DELETE ON end_users FOR EACH ROW EXECUTE FUNCTION end_user_words_write();
CREATE TRIGGER end_user_words_update AFTER UPDATE OF id, name, role, family_master_id, project_id, installer_id, created_at ON end_users
    FOR EACH ROW EXECUTE FUNCTION end_user_words_write();

-- +goose Down
DROP TRIGGER end_user_words_update ON end_users;
DROP TRIGGER end_user_words_delete ON end_users;
DROP TRIGGER end_user_words_insert ON end_users;
DROP FUNCTION end_user_words_write();
DROP TABLE end_user_words;
DROP FUNCTION end_user_words_of(text);
CREATE INDEX end_users_created ON end_users (created_at, id);
DROP INDEX end_users_project_created;
DROP INDEX end_users_sip_scope;
DROP INDEX end_users_list_inst;
DROP INDEX end_users_list_all;
DROP INDEX end_users_list_dist;
DROP INDEX end_users_list_sub;
DROP TRIGGER end_users_fill_list_columns ON end_users;
DROP FUNCTION end_users_fill_list_columns();
ALTER TABLE end_users DROP COLUMN subdistributor_id;
ALTER TABLE end_users DROP COLUMN distributor_id;
ALTER TABLE end_users DROP COLUMN project_kind;
