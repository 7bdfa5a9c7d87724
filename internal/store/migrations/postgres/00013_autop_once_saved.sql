-- +goose Up
-- When the one-time list last changed: part of the AutoP version while
-- one-time commands are pending, so the same commands queued again after
-- they were applied are a new version, while saves that leave the list as
-- it was (a regular change, a batch of commands already there) do not make
-- one.
ALTER TABLE device_autop ADD COLUMN once_saved_at TIMESTAMPTZ;
UPDATE device_autop SET once_saved_at = updated_at WHERE once <> '';

-- +goose Down
ALTER TABLE device_autop DROP COLUMN once_saved_at;
