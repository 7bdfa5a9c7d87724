-- +goose Up
-- Ids are never handed out twice (issue 12). A PostgreSQL identity never
-- goes back, whatever is deleted or rolled back, so nothing changes here; on
-- SQLite, version 18 rebuilds the tables with AUTOINCREMENT
-- (internal/store/migrate_ids.go). The demo loader's rows with their own
-- ids move an identity forward only (BulkInsert).
SELECT 1;

-- +goose Down
SELECT 1;
