-- +goose Up
-- The User module's end-user lists (villa, community, office) at a million
-- end users, built as the device lists are (00006_device_lists.sql).
--
-- An end user carries the kind of its project and the distributor and
-- sub-distributor above its installer, so that a list is one range of one
-- index per level of the tree, newest first. They never change on their
-- own: a user stays with its installer and project, and a project keeps its
-- kind. The store fills them when it adds a user; the triggers below keep
-- them right for a user written without them, or moved.
ALTER TABLE end_users ADD COLUMN project_kind TEXT NOT NULL DEFAULT '';
ALTER TABLE end_users ADD COLUMN distributor_id BIGINT;
ALTER TABLE end_users ADD COLUMN subdistributor_id BIGINT;

UPDATE end_users SET
    project_kind = (SELECT p.kind FROM projects p WHERE p.id = end_users.project_id),
    distributor_id = (SELECT a.distributor_id FROM accounts a WHERE a.id = end_users.installer_id),
    subdistributor_id = (SELECT a.subdistributor_id FROM accounts a WHERE a.id = end_users.installer_id);

-- +goose StatementBegin
CREATE TRIGGER end_users_fill_list_columns AFTER INSERT ON end_users WHEN new.project_kind = '' BEGIN
    UPDATE end_users SET
        project_kind = (SELECT p.kind FROM projects p WHERE p.id = new.project_id),
        distributor_id = (SELECT a.distributor_id FROM accounts a WHERE a.id = new.installer_id),
        subdistributor_id = (SELECT a.subdistributor_id FROM accounts a WHERE a.id = new.installer_id)
    WHERE id = new.id;
END;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE TRIGGER end_users_follow_move AFTER UPDATE OF project_id, installer_id ON end_users BEGIN
    UPDATE end_users SET
        project_kind = (SELECT p.kind FROM projects p WHERE p.id = new.project_id),
        distributor_id = (SELECT a.distributor_id FROM accounts a WHERE a.id = new.installer_id),
        subdistributor_id = (SELECT a.subdistributor_id FROM accounts a WHERE a.id = new.installer_id)
    WHERE id = new.id;
END;
-- +goose StatementEnd

-- One list index per level of the tree (sub-distributor, distributor,
-- admin, installer), newest first, the id breaking ties, holding what the
-- Account Type filter and the installer, office and name searches test.
CREATE INDEX end_users_list_sub ON end_users (subdistributor_id, project_kind, created_at, id, role, installer_id, project_id, name);
CREATE INDEX end_users_list_dist ON end_users (distributor_id, project_kind, created_at, id, role, installer_id, project_id, name);
CREATE INDEX end_users_list_all ON end_users (project_kind, created_at, id, role, installer_id, project_id, name);
CREATE INDEX end_users_list_inst ON end_users (installer_id, project_kind, created_at, id, role, project_id, name);
-- A SIP prefix within a scope, counted from the index alone; an office's
-- users newest first (the Office search).
CREATE INDEX end_users_sip_scope ON end_users (project_kind, sip, subdistributor_id, distributor_id, installer_id, role, created_at);
CREATE INDEX end_users_project_created ON end_users (project_id, created_at, id, role);
DROP INDEX end_users_created;

-- The Name and Family Master searches look words up: every word of a
-- user's name (field 'name') and of its Family Master column (field
-- 'master': a family master's own name, a family member's master's name),
-- lower-cased, split at spaces, with the user's list columns, so that a
-- search by a word (or the start of one) counts and sorts its users in
-- scope from one index range, however common the name. Kept in step with
-- end_users by the triggers below (a family master's rename rewrites its
-- members' Family Master words).
CREATE TABLE end_user_words (
    user_id           BIGINT NOT NULL,
    field             TEXT NOT NULL CHECK (field IN ('name', 'master')),
    word              TEXT NOT NULL,
    project_kind      TEXT NOT NULL,
    role              TEXT NOT NULL,
    installer_id      BIGINT NOT NULL,
    distributor_id    BIGINT,
    subdistributor_id BIGINT,
    created_at        DATETIME NOT NULL,
    PRIMARY KEY (user_id, field, word)
) WITHOUT ROWID;
-- The admin's (and a distributor's) word ranges; a sub-distributor's (and
-- its installers').
CREATE INDEX end_user_words_all ON end_user_words (project_kind, field, word, created_at, user_id, role, distributor_id, installer_id);
CREATE INDEX end_user_words_sub ON end_user_words (subdistributor_id, project_kind, field, word, created_at, user_id, role, installer_id);

-- A text's words, as the words table holds them: the text lower-cased
-- (a tab read as a space) from the start of each of its words (split at
-- spaces) to its end, so that "contains from the start of a word" is a
-- prefix: Anna Maria Smith gives "anna maria smith", "maria smith" and
-- "smith". Here the words come from json_each over the text made a JSON
-- array; PostgreSQL's end_user_words_of splits the same way, and the store
-- joins a search's words by one space.
INSERT OR IGNORE INTO end_user_words (user_id, field, word, project_kind, role, installer_id, distributor_id, subdistributor_id, created_at)
SELECT t.id, t.field, substr(t.t, coalesce((SELECT sum(length(k.value)) FROM json_each(t.js) k WHERE k.key < j.key), 0) + j.key + 1), t.project_kind, t.role, t.installer_id, t.distributor_id, t.subdistributor_id, t.created_at
FROM (SELECT id, field, project_kind, role, installer_id, distributor_id, subdistributor_id, created_at,
        replace(lower(text), char(9), ' ') AS t, '["' || replace(replace(replace(replace(lower(text), char(9), ' '), '\', '\\'), '"', '\"'), ' ', '","') || '"]' AS js
    FROM (SELECT u.id, f.field, u.project_kind, u.role, u.installer_id, u.distributor_id, u.subdistributor_id, u.created_at,
            CASE WHEN f.field = 'name' OR u.role = 'family_master' THEN u.name ELSE m.name END AS text
        FROM end_users u LEFT JOIN end_users m ON m.id = u.family_master_id
        CROSS JOIN (SELECT 'name' AS field UNION ALL SELECT 'master') f)) t
JOIN json_each(CASE WHEN json_valid(t.js) THEN t.js END) j
WHERE j.value <> '';

-- +goose StatementBegin
CREATE TRIGGER end_user_words_insert AFTER INSERT ON end_users BEGIN
    INSERT OR IGNORE INTO end_user_words (user_id, field, word, project_kind, role, installer_id, distributor_id, subdistributor_id, created_at)
    SELECT new.id, t.field, substr(t.t, coalesce((SELECT sum(length(k.value)) FROM json_each(t.js) k WHERE k.key < j.key), 0) + j.key + 1), p.kind, new.role, new.installer_id, a.distributor_id, a.subdistributor_id, new.created_at
    FROM (SELECT field, replace(lower(text), char(9), ' ') AS t, '["' || replace(replace(replace(replace(lower(text), char(9), ' '), '\', '\\'), '"', '\"'), ' ', '","') || '"]' AS js
        FROM (SELECT 'name' AS field, new.name AS text
            UNION ALL
            SELECT 'master', CASE WHEN new.role = 'family_master' THEN new.name
                ELSE (SELECT m.name FROM end_users m WHERE m.id = new.family_master_id) END)) t
    JOIN json_each(CASE WHEN json_valid(t.js) THEN t.js END) j
    JOIN projects p ON p.id = new.project_id JOIN accounts a ON a.id = new.installer_id
    WHERE j.value <> '';
END;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE TRIGGER end_user_words_delete AFTER DELETE ON end_users BEGIN
    DELETE FROM end_user_words WHERE user_id = old.id;
END;
-- +goose StatementEnd

-- A user's words are rewritten when what they hold changes; a family
-- master's members' Family Master words follow its name.
-- +goose StatementBegin
CREATE TRIGGER end_user_words_update AFTER UPDATE OF id, name, role, family_master_id, project_id, installer_id, created_at ON end_users BEGIN
    DELETE FROM end_user_words WHERE user_id = old.id;
    INSERT OR IGNORE INTO end_user_words (user_id, field, word, project_kind, role, installer_id, distributor_id, subdistributor_id, created_at)
    SELECT new.id, t.field, substr(t.t, coalesce((SELECT sum(length(k.value)) FROM json_each(t.js) k WHERE k.key < j.key), 0) + j.key + 1), p.kind, new.role, new.installer_id, a.distributor_id, a.subdistributor_id, new.created_at
    FROM (SELECT field, replace(lower(text), char(9), ' ') AS t, '["' || replace(replace(replace(replace(lower(text), char(9), ' '), '\', '\\'), '"', '\"'), ' ', '","') || '"]' AS js
        FROM (SELECT 'name' AS field, new.name AS text
            UNION ALL
            SELECT 'master', CASE WHEN new.role = 'family_master' THEN new.name
                ELSE (SELECT m.name FROM end_users m WHERE m.id = new.family_master_id) END)) t
    JOIN json_each(CASE WHEN json_valid(t.js) THEN t.js END) j
    JOIN projects p ON p.id = new.project_id JOIN accounts a ON a.id = new.installer_id
    WHERE j.value <> '';
    DELETE FROM end_user_words WHERE field = 'master' AND user_id IN (SELECT u.id FROM end_users u WHERE u.family_master_id = new.id);
    INSERT OR IGNORE INTO end_user_words (user_id, field, word, project_kind, role, installer_id, distributor_id, subdistributor_id, created_at)
    SELECT u.id, 'master', substr(t.t, coalesce((SELECT sum(length(k.value)) FROM json_each(t.js) k WHERE k.key < j.key), 0) + j.key + 1), p.kind, u.role, u.installer_id, a.distributor_id, a.subdistributor_id, u.created_at
    FROM (SELECT replace(lower(new.name), char(9), ' ') AS t, '["' || replace(replace(replace(replace(lower(new.name), char(9), ' '), '\', '\\'), '"', '\"'), ' ', '","') || '"]' AS js) t
    JOIN json_each(CASE WHEN json_valid(t.js) THEN t.js END) j
    JOIN end_users u ON u.family_master_id = new.id
    JOIN projects p ON p.id = u.project_id JOIN accounts a ON a.id = u.installer_id
    WHERE j.value <> '';
END;
-- +goose StatementEnd

-- +goose Down
DROP TRIGGER end_user_words_update;
DROP TRIGGER end_user_words_delete;
DROP TRIGGER end_user_words_insert;
DROP TABLE end_user_words;
CREATE INDEX end_users_created ON end_users (created_at);
DROP INDEX end_users_project_created;
DROP INDEX end_users_sip_scope;
DROP INDEX end_users_list_inst;
DROP INDEX end_users_list_all;
DROP INDEX end_users_list_dist;
DROP INDEX end_users_list_sub;
DROP TRIGGER end_users_follow_move;
DROP TRIGGER end_users_fill_list_columns;
ALTER TABLE end_users DROP COLUMN subdistributor_id;
ALTER TABLE end_users DROP COLUMN distributor_id;
ALTER TABLE end_users DROP COLUMN project_kind;
