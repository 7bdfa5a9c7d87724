-- +goose Up
-- The guide's remote maintenance sets a device's data transmission type:
-- '' follows the installer's Connect Type; udp, tcp or tls overrides it in
-- the device's AutoP file.
ALTER TABLE devices ADD COLUMN connect_type TEXT NOT NULL DEFAULT '';

-- +goose Down
ALTER TABLE devices DROP COLUMN connect_type;
