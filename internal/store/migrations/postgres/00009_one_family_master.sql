-- +goose Up
-- One family master per apartment and per single-tenant home, whatever runs
-- at once (the store checks first; the index settles races).
CREATE UNIQUE INDEX end_users_one_master_per_apartment ON end_users (apartment_id) WHERE role = 'family_master' AND apartment_id IS NOT NULL;
CREATE UNIQUE INDEX end_users_one_master_per_home ON end_users (project_id) WHERE role = 'family_master' AND apartment_id IS NULL;

-- +goose Down
DROP INDEX end_users_one_master_per_home;
DROP INDEX end_users_one_master_per_apartment;
