-- Installer portal: deleting an apartment, a department, a building or an
-- end user checks (and the confirmations count) the rows that point at it;
-- without these indexes each of those checks scans every end user or device.
-- +goose Up
CREATE INDEX IF NOT EXISTS end_users_apartment_ref ON end_users (apartment_id, role);
CREATE INDEX IF NOT EXISTS end_users_department_ref ON end_users (department_id);
CREATE INDEX IF NOT EXISTS devices_building_ref ON devices (building_id);
CREATE INDEX IF NOT EXISTS devices_apartment_ref ON devices (apartment_id);
CREATE INDEX IF NOT EXISTS devices_department_ref ON devices (department_id);
CREATE INDEX IF NOT EXISTS devices_owner_ref ON devices (owner_id);
CREATE INDEX IF NOT EXISTS third_party_devices_owner_ref ON third_party_devices (owner_id);

-- +goose Down
DROP INDEX IF EXISTS third_party_devices_owner_ref;
DROP INDEX IF EXISTS devices_owner_ref;
DROP INDEX IF EXISTS devices_department_ref;
DROP INDEX IF EXISTS devices_apartment_ref;
DROP INDEX IF EXISTS devices_building_ref;
DROP INDEX IF EXISTS end_users_department_ref;
DROP INDEX IF EXISTS end_users_apartment_ref;
