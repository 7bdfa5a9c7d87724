package store

import (
	"context"
	"strings"

	"github.com/gatehouse-dev/gatehouse/internal/model"
)

const deviceCols = `d.id, d.mac, d.installer_id, d.project_id, d.building_id, d.apartment_id, d.department_id, d.owner_id,
	d.type, d.model, d.name, d.sip, d.firmware, d.location, d.online, d.last_seen, d.created_at`

func scanDevice(r scanner) (*model.Device, error) {
	var d model.Device
	err := r.Scan(&d.ID, &d.MAC, &d.InstallerID, &d.ProjectID, nid(&d.BuildingID), nid(&d.ApartmentID), nid(&d.DepartmentID),
		nid(&d.OwnerID), &d.Type, &d.Model, &d.Name, &d.SIP, &d.Firmware, &d.Location, &d.Online, &d.LastSeen, &d.Created)
	return &d, err
}

// PublicArea is the location of a community or office device that belongs
// to no building, apartment or department.
const PublicArea = "Public area"

// validateDevice checks what a person types about a device.
func validateDevice(d *model.Device, v *model.Validator) {
	valid := false
	for _, t := range model.DeviceTypes {
		valid = valid || t == d.Type
	}
	v.Check(valid, "type", "must be door_phone, indoor_monitor, access_control or guard_phone")
	d.Name, d.Model, d.Location = strings.TrimSpace(d.Name), strings.TrimSpace(d.Model), strings.TrimSpace(d.Location)
	d.SIP = strings.TrimSpace(d.SIP)
	v.Check(len(d.Name) <= 64, "name", "must be at most 64 characters")
	v.Check(len(d.Model) <= 32, "model", "must be at most 32 characters")
	v.Check(len(d.Location) <= 128, "location", "must be at most 128 characters")
	v.Check(len(d.SIP) <= 64, "sip", "must be at most 64 characters")
}

// placeDevice checks where a device belongs — a building, an apartment
// (whose building it takes), a department or an owner, all of its project
// p — and returns the location that place gives it ("Building A-101", the
// department's name, the owner's name, "Public area").
func (s *Store) placeDevice(ctx context.Context, tx *Tx, p *model.Project, d *model.Device) (string, error) {
	var v model.Validator
	community, office, personal := p.Kind == model.ProjectCommunity, p.Kind == model.ProjectOffice, p.Kind == model.ProjectPersonal
	v.Check(community || d.BuildingID == 0, "building_id", "no such building in this project: only communities have buildings")
	v.Check(community || d.ApartmentID == 0, "apartment_id", "no such apartment in this project: only communities have apartments")
	v.Check(office || d.DepartmentID == 0, "department_id", "no such department in this project: only offices have departments")
	if err := v.Err(); err != nil {
		return "", err
	}
	auto := PublicArea
	if d.BuildingID != 0 {
		var name string
		err := tx.queryRow(ctx, `SELECT name FROM buildings WHERE id = ? AND project_id = ?`, d.BuildingID, p.ID).Scan(&name)
		if isNoRows(err) {
			return "", model.Invalid("building_id", "no such building in this project")
		} else if err != nil {
			return "", err
		}
		auto = name
	}
	if d.ApartmentID != 0 {
		var bid int64
		var building, number string
		err := tx.queryRow(ctx, `SELECT b.id, b.name, a.number FROM apartments a JOIN buildings b ON b.id = a.building_id
			WHERE a.id = ? AND b.project_id = ?`, d.ApartmentID, p.ID).Scan(&bid, &building, &number)
		if isNoRows(err) {
			return "", model.Invalid("apartment_id", "no such apartment in this project")
		} else if err != nil {
			return "", err
		}
		if d.BuildingID != 0 && d.BuildingID != bid {
			return "", model.Invalid("apartment_id", "is not in building %d", d.BuildingID)
		}
		d.BuildingID, auto = bid, apartmentLabel(building, number)
	}
	if d.DepartmentID != 0 {
		err := tx.queryRow(ctx, `SELECT name FROM departments WHERE id = ? AND project_id = ?`, d.DepartmentID, p.ID).Scan(&auto)
		if isNoRows(err) {
			return "", model.Invalid("department_id", "no such department in this project")
		} else if err != nil {
			return "", err
		}
	}
	if personal && d.OwnerID == 0 {
		// A single-tenant home's device belongs to its family master.
		err := tx.queryRow(ctx, `SELECT id FROM end_users WHERE project_id = ? AND role = 'family_master' ORDER BY id LIMIT 1`, p.ID).Scan(&d.OwnerID)
		if err != nil && !isNoRows(err) {
			return "", err
		}
	}
	if d.OwnerID != 0 {
		var name string
		var apt int64
		err := tx.queryRow(ctx, `SELECT name, apartment_id FROM end_users WHERE id = ? AND project_id = ?`, d.OwnerID, p.ID).Scan(&name, nid(&apt))
		if isNoRows(err) {
			return "", model.Invalid("owner_id", "no such end user in this project")
		} else if err != nil {
			return "", err
		}
		if d.ApartmentID != 0 && apt != d.ApartmentID {
			return "", model.Invalid("owner_id", "does not live in apartment %s", auto)
		}
		if personal {
			auto = name
		}
	}
	return auto, nil
}

func macConflict(mac string) error {
	return model.Errorf(model.ECONFLICT, "MAC %s is already registered.", mac).
		WithField("mac", "is already registered")
}

// CreateDevice registers a device by MAC in a project of the actor's
// subtree. A MAC is registered once on the whole platform: a device, or an
// entry of another installer's MAC library, holds it; the installer's own
// library entry is what the device is added from. Where the device
// is placed in an apartment, a department or with an owner and no location
// is typed, the location is filled in from that place.
func (s *Store) CreateDevice(ctx context.Context, d *model.Device) error {
	act, err := actor(ctx)
	if err != nil {
		return err
	}
	var v model.Validator
	mac, ok := model.NormalizeMAC(d.MAC)
	v.Check(ok, "mac", "must be 12 hex digits, e.g. 0C:11:05:AA:BB:CC")
	if ok {
		d.MAC = mac
	}
	validateDevice(d, &v)
	if err := v.Err(); err != nil {
		return err
	}
	return s.inTx(ctx, func(tx *Tx) error {
		p, err := s.getProject(ctx, tx.tx, act, d.ProjectID)
		if err != nil {
			return model.Invalid("project_id", "no such project")
		}
		auto, err := s.placeDevice(ctx, tx, p, d)
		if err != nil {
			return err
		}
		if d.Location == "" {
			d.Location = auto
		}
		// Checked before the insert: a failed statement would end a
		// PostgreSQL transaction. A MAC in another installer's MAC library
		// is registered to that installer.
		var n int
		if err := tx.queryRow(ctx, `SELECT (SELECT count(*) FROM devices WHERE mac = ?)
			+ (SELECT count(*) FROM installer_macs WHERE mac = ? AND installer_id <> ?)`, d.MAC, d.MAC, p.InstallerID).Scan(&n); err != nil {
			return err
		} else if n > 0 {
			return macConflict(d.MAC)
		}
		d.InstallerID, d.Created = p.InstallerID, s.now()
		// The device lists' columns (00006_device_lists.sql): its project's
		// kind and the distributor and sub-distributor above its installer.
		err = tx.queryRow(ctx, `INSERT INTO devices (mac, installer_id, project_id, building_id, apartment_id, department_id,
			owner_id, type, model, name, sip, firmware, location, created_at, project_kind, distributor_id, subdistributor_id)
			VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,(SELECT a.distributor_id FROM accounts a WHERE a.id = ?),
			(SELECT a.subdistributor_id FROM accounts a WHERE a.id = ?)) RETURNING id`,
			d.MAC, d.InstallerID, d.ProjectID, nullID(d.BuildingID), nullID(d.ApartmentID), nullID(d.DepartmentID),
			nullID(d.OwnerID), d.Type, d.Model, d.Name, d.SIP, d.Firmware, d.Location, d.Created, string(p.Kind),
			d.InstallerID, d.InstallerID).Scan(&d.ID)
		if isUniqueViolation(err) {
			return macConflict(d.MAC)
		} else if err != nil {
			return err
		}
		return s.audit(ctx, tx, "device.create", "device", d.MAC, map[string]any{"project_id": d.ProjectID, "type": d.Type})
	})
}

// GetDevice returns a device of the actor's subtree by MAC, in any notation.
func (s *Store) GetDevice(ctx context.Context, mac string) (*model.Device, error) {
	act, err := actor(ctx)
	if err != nil {
		return nil, err
	}
	return s.getDevice(ctx, s.db, act, mac)
}

// getDevice reads a device of the actor's subtree by MAC; lock, if given,
// is appended to the query (s.lockFor(" FOR UPDATE") to hold the row until
// the commit).
func (s *Store) getDevice(ctx context.Context, q querier, act *model.Actor, mac string, lock ...string) (*model.Device, error) {
	m, ok := model.NormalizeMAC(mac)
	if !ok {
		return nil, model.NotFound("device")
	}
	cond, args := installerScope(act, "d.installer_id")
	d, err := scanDevice(q.QueryRowContext(ctx, s.q(`SELECT `+deviceCols+` FROM devices d WHERE d.mac = ? AND `+cond+strings.Join(lock, "")), append([]any{m}, args...)...))
	if isNoRows(err) {
		return nil, model.NotFound("device")
	}
	return d, err
}

// UpdateDevice saves a device of the actor's subtree, found by its MAC (in
// any notation; the MAC itself does not change): type, model, name, SIP,
// location and where it belongs, which may be another project of the same
// installer. A location that was filled in from the old place follows the
// device to its new place; a typed one is kept.
//
// edit changes the stored row, read (and locked) in the writing transaction,
// to what is to be saved — so two edits of different fields at once both
// land. It runs inside the transaction: it only sets fields (an error it
// returns is returned as it is).
func (s *Store) UpdateDevice(ctx context.Context, mac string, edit func(*model.Device) error) error {
	act, err := actor(ctx)
	if err != nil {
		return err
	}
	return s.inTx(ctx, func(tx *Tx) error {
		old, err := s.getDevice(ctx, tx.tx, act, mac, s.lockFor(" FOR UPDATE"))
		if err != nil {
			return err
		}
		edited := *old
		d := &edited
		if err := edit(d); err != nil {
			return err
		}
		var v model.Validator
		validateDevice(d, &v)
		if err := v.Err(); err != nil {
			return err
		}
		if d.ProjectID == 0 {
			d.ProjectID = old.ProjectID
		}
		p, err := s.getProject(ctx, tx.tx, act, d.ProjectID)
		if failed(err) {
			return err
		}
		if err != nil || p.InstallerID != old.InstallerID {
			return model.Invalid("project_id", "no such project")
		}
		oldProject, err := s.getProject(ctx, tx.tx, act, old.ProjectID)
		if err != nil {
			return err
		}
		placed := *old
		oldAuto, err := s.placeDevice(ctx, tx, oldProject, &placed)
		if err != nil {
			oldAuto = "" // the old place no longer checks out: treat its location as typed
		}
		auto, err := s.placeDevice(ctx, tx, p, d)
		if err != nil {
			return err
		}
		if d.Location == "" || (d.Location == old.Location && old.Location == oldAuto) {
			d.Location = auto
		}
		d.ID, d.MAC, d.InstallerID, d.Created = old.ID, old.MAC, old.InstallerID, old.Created
		d.Firmware, d.Online, d.LastSeen = old.Firmware, old.Online, old.LastSeen
		tx.changed(model.AutoPChange{DeviceIDs: []int64{d.ID}, MACs: []string{d.MAC}, ProjectIDs: []int64{old.ProjectID, d.ProjectID}})
		if _, err := tx.exec(ctx, `UPDATE devices SET project_id = ?, building_id = ?, apartment_id = ?, department_id = ?,
			owner_id = ?, type = ?, model = ?, name = ?, sip = ?, location = ? WHERE id = ?`,
			d.ProjectID, nullID(d.BuildingID), nullID(d.ApartmentID), nullID(d.DepartmentID), nullID(d.OwnerID),
			d.Type, d.Model, d.Name, d.SIP, d.Location, d.ID); err != nil {
			return err
		}
		return s.audit(ctx, tx, "device.update", "device", d.MAC, auditChanges("project_id", old.ProjectID, d.ProjectID,
			"building_id", old.BuildingID, d.BuildingID, "apartment_id", old.ApartmentID, d.ApartmentID,
			"department_id", old.DepartmentID, d.DepartmentID, "owner_id", old.OwnerID, d.OwnerID, "type", old.Type, d.Type,
			"model", old.Model, d.Model, "name", old.Name, d.Name, "sip", old.SIP, d.SIP, "location", old.Location, d.Location))
	})
}

// DeleteDevice deletes a device of the actor's subtree by MAC; the MAC may
// then be registered again.
func (s *Store) DeleteDevice(ctx context.Context, mac string) error {
	act, err := actor(ctx)
	if err != nil {
		return err
	}
	return s.inTx(ctx, func(tx *Tx) error {
		d, err := s.getDevice(ctx, tx.tx, act, mac)
		if err != nil {
			return err
		}
		if err := deleteDeviceRow(ctx, tx, d.ID); err != nil {
			return err
		}
		return s.audit(ctx, tx, "device.delete", "device", d.MAC, map[string]any{"project_id": d.ProjectID, "type": d.Type, "name": d.Name})
	})
}

// deleteDeviceRow deletes one device inside tx, for DeleteDevice and
// DeleteDevices: everything that hangs on the device goes with it, so that
// its MAC can be registered again as a new device.
func deleteDeviceRow(ctx context.Context, tx *Tx, id int64) error {
	// The device's accepted key goes with the row; its pending keys,
	// acceptance windows, commands and AutoP cascade: a device added again
	// under this MAC is enrolled afresh.
	tx.changed(model.AutoPChange{DeviceIDs: []int64{id}})
	_, err := tx.exec(ctx, `DELETE FROM devices WHERE id = ?`, id)
	return err
}

// DeviceFilter is the installer portal's device search: one project, and
// MAC or device name contains the text (a MAC in any notation), and the
// firmware version (exact).
type DeviceFilter struct {
	ProjectID int64
	Search    string
	Firmware  string
	Model     string // exact
	Online    *bool  // nil: both
	model.Page
}

// DeviceRow is a device as the installer's list shows it.
type DeviceRow struct {
	model.Device
	Project     string            `json:"project"`
	ProjectKind model.ProjectKind `json:"project_kind"`
	Owner       string            `json:"owner"`
}

// ListInstallerDevices lists the devices of the actor's subtree, newest
// first: the installer portal's simple device list.
func (s *Store) ListInstallerDevices(ctx context.Context, f DeviceFilter) (model.List[*DeviceRow], error) {
	act, err := actor(ctx)
	if err != nil {
		return model.List[*DeviceRow]{}, err
	}
	cond, args := installerScope(act, "d.installer_id")
	where := []string{cond}
	if f.ProjectID != 0 {
		where = append(where, "d.project_id = ?")
		args = append(args, f.ProjectID)
	}
	if q := strings.TrimSpace(f.Search); q != "" {
		// The MAC is stored as 12 upper-case hex digits: search it without
		// separators.
		m := strings.NewReplacer(":", "", "-", "", ".", "").Replace(q)
		where = append(where, `(lower(d.mac) LIKE ? ESCAPE '\' OR lower(d.name) LIKE ? ESCAPE '\')`)
		args = append(args, likeContains(m), likeContains(q))
	}
	if f.Firmware != "" {
		where = append(where, "d.firmware = ?")
		args = append(args, f.Firmware)
	}
	if f.Model != "" {
		where = append(where, "d.model = ?")
		args = append(args, f.Model)
	}
	if f.Online != nil {
		where = append(where, "d.online = ?")
		args = append(args, *f.Online)
	}
	// The project and owner are read for the page's rows only, so that the
	// count and the sort touch the devices alone.
	return list(ctx, s, "devices d", strings.Join(where, " AND "), "d.created_at DESC, d.id DESC",
		deviceCols+`, (SELECT p.name FROM projects p WHERE p.id = d.project_id), (SELECT p.kind FROM projects p WHERE p.id = d.project_id),
		coalesce((SELECT o.name FROM end_users o WHERE o.id = d.owner_id), '')`,
		args, f.Page, func(r scanner) (*DeviceRow, error) {
			var d DeviceRow
			err := r.Scan(&d.ID, &d.MAC, &d.InstallerID, &d.ProjectID, nid(&d.BuildingID), nid(&d.ApartmentID), nid(&d.DepartmentID),
				nid(&d.OwnerID), &d.Type, &d.Model, &d.Name, &d.SIP, &d.Firmware, &d.Location, &d.Online, &d.LastSeen, &d.Created,
				&d.Project, &d.ProjectKind, &d.Owner)
			return &d, err
		})
}
