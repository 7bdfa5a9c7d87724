-- +goose Up
-- The guide's remote maintenance sets a device's data transmission type:
-- '' follows the installer's Connect Type; udp, tcp or tls overrides it in
-- the device's AutoP file.
ALTER TABLE devices ADD COLUMN connect_type TEXT NOT NULL DEFAULT '';
-- A renewal by day (the guide's orders "renewed daily", whose details show
-- the Next Expiration Date): days instead of months.
ALTER TABLE order_items ADD COLUMN days INTEGER NOT NULL DEFAULT 0;

-- +goose Down
ALTER TABLE order_items DROP COLUMN days;
ALTER TABLE devices DROP COLUMN connect_type;
