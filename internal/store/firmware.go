package store

import (
	"context"
	"strings"

	"github.com/gatehouse-dev/gatehouse/internal/model"
)

// The firmware catalogue is the platform's: every signed-in account reads
// it, only the admin adds to it.

const firmwareCols = `id, version, model, change_log, file_url, checksum, size, stored, created_at`

func scanFirmware(r scanner) (*model.Firmware, error) {
	var f model.Firmware
	err := r.Scan(&f.ID, &f.Version, &f.Model, &f.ChangeLog, &f.FileURL, &f.Checksum, &f.Size, &f.Stored, &f.Created)
	return &f, err
}

// CreateFirmware adds a catalogue entry whose image is at an external URL
// (admin only); CreateFirmwareImage adds one with its image.
func (s *Store) CreateFirmware(ctx context.Context, f *model.Firmware) error {
	act, err := actor(ctx)
	if err != nil {
		return err
	}
	if act.Role != model.RoleAdmin {
		return model.Errorf(model.EFORBIDDEN, "Only the admin adds firmware.")
	}
	f.Normalize()
	f.Stored = false
	if err := f.Validate(); err != nil {
		return err
	}
	return s.inTx(ctx, func(tx *Tx) error {
		if err := insertFirmware(ctx, s, tx, f); err != nil {
			return err
		}
		return s.audit(ctx, tx, "firmware.create", "firmware", f.ID, map[string]any{"version": f.Version, "model": f.Model, "size": f.Size})
	})
}

// insertFirmware inserts f's row, setting its ID and Created.
func insertFirmware(ctx context.Context, s *Store, tx *Tx, f *model.Firmware) error {
	f.Created = s.now()
	err := tx.queryRow(ctx, `INSERT INTO firmware (version, model, change_log, file_url, checksum, size, stored, created_at)
		VALUES (?,?,?,?,?,?,?,?) RETURNING id`, f.Version, f.Model, f.ChangeLog, f.FileURL, f.Checksum, f.Size, f.Stored, f.Created).Scan(&f.ID)
	if isUniqueViolation(err) {
		return model.Errorf(model.ECONFLICT, "Firmware %s for %s already exists.", f.Version, f.Model).
			WithField("version", "already exists for this model")
	}
	return err
}

// GetFirmware returns one catalogue entry.
func (s *Store) GetFirmware(ctx context.Context, id int64) (*model.Firmware, error) {
	if _, err := actor(ctx); err != nil {
		return nil, err
	}
	f, err := scanFirmware(s.queryRow(ctx, `SELECT `+firmwareCols+` FROM firmware WHERE id = ?`, id))
	if isNoRows(err) {
		return nil, model.NotFound("firmware")
	}
	return f, err
}

// ListFirmware searches the catalogue by version and model (case-insensitive
// "contains"), newest first.
func (s *Store) ListFirmware(ctx context.Context, f model.FirmwareFilter) (model.List[*model.Firmware], error) {
	if _, err := actor(ctx); err != nil {
		return model.List[*model.Firmware]{}, err
	}
	where, args := []string{"1=1"}, []any{}
	if v := strings.TrimSpace(f.Version); v != "" {
		where = append(where, `lower(version) LIKE ? ESCAPE '\'`)
		args = append(args, likeContains(v))
	}
	if m := strings.TrimSpace(f.Model); m != "" {
		where = append(where, `lower(model) LIKE ? ESCAPE '\'`)
		args = append(args, likeContains(m))
	}
	return list(ctx, s, "firmware", strings.Join(where, " AND "), "created_at DESC, id DESC", firmwareCols, args, f.Page, scanFirmware)
}
