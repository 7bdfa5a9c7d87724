package store

import (
	"context"
	"fmt"
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

// CreateDevice registers a device by MAC in a project of the actor's subtree.
func (s *Store) CreateDevice(ctx context.Context, d *model.Device) error {
	act, err := actor(ctx)
	if err != nil {
		return err
	}
	var v model.Validator
	mac, ok := model.NormalizeMAC(d.MAC)
	v.Check(ok, "mac", "must be 12 hex digits, e.g. 0C:11:05:AA:BB:CC")
	d.MAC = mac
	valid := false
	for _, t := range model.DeviceTypes {
		valid = valid || t == d.Type
	}
	v.Check(valid, "type", "must be door_phone, indoor_monitor, access_control or guard_phone")
	d.Name = strings.TrimSpace(d.Name)
	v.Check(len(d.Name) <= 64, "name", "must be at most 64 characters")
	if err := v.Err(); err != nil {
		return err
	}
	return s.inTx(ctx, func(tx *Tx) error {
		p, err := s.getProject(ctx, tx.tx, act, d.ProjectID)
		if err != nil {
			return model.Invalid("project_id", "no such project")
		}
		d.InstallerID, d.Created = p.InstallerID, s.now()
		err = tx.queryRow(ctx, `INSERT INTO devices (mac, installer_id, project_id, building_id, apartment_id, department_id,
			owner_id, type, model, name, sip, firmware, location, created_at) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?) RETURNING id`,
			d.MAC, d.InstallerID, d.ProjectID, nullID(d.BuildingID), nullID(d.ApartmentID), nullID(d.DepartmentID),
			nullID(d.OwnerID), d.Type, d.Model, d.Name, d.SIP, d.Firmware, d.Location, d.Created).Scan(&d.ID)
		if isUniqueViolation(err) {
			return &model.Error{Code: model.ECONFLICT, Message: fmt.Sprintf("MAC %s is already registered.", d.MAC),
				Fields: map[string]string{"mac": "is already registered"}}
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
	m, ok := model.NormalizeMAC(mac)
	if !ok {
		return nil, model.NotFound("device")
	}
	cond, args := installerScope(act, "d.installer_id")
	d, err := scanDevice(s.queryRow(ctx, `SELECT `+deviceCols+` FROM devices d WHERE d.mac = ? AND `+cond, append([]any{m}, args...)...))
	if isNoRows(err) {
		return nil, model.NotFound("device")
	}
	return d, err
}

// CreateThirdPartyDevice adds a camera to a project of the actor's subtree.
func (s *Store) CreateThirdPartyDevice(ctx context.Context, d *model.ThirdPartyDevice) error {
	act, err := actor(ctx)
	if err != nil {
		return err
	}
	d.Name = strings.TrimSpace(d.Name)
	if d.Name == "" || len(d.Name) > 64 {
		return model.Invalid("name", "is required, at most 64 characters")
	}
	if d.Kind == "" {
		d.Kind = "camera"
	}
	return s.inTx(ctx, func(tx *Tx) error {
		p, err := s.getProject(ctx, tx.tx, act, d.ProjectID)
		if err != nil {
			return model.Invalid("project_id", "no such project")
		}
		d.InstallerID, d.Created = p.InstallerID, s.now()
		if err := tx.queryRow(ctx, `INSERT INTO third_party_devices (installer_id, project_id, owner_id, kind, name, stream_url,
			username, password, created_at) VALUES (?,?,?,?,?,?,?,?,?) RETURNING id`, d.InstallerID, d.ProjectID, nullID(d.OwnerID),
			d.Kind, d.Name, d.StreamURL, d.Username, d.Password, d.Created).Scan(&d.ID); err != nil {
			return err
		}
		return s.audit(ctx, tx, "third_party_device.create", "third_party_device", d.ID, map[string]any{"name": d.Name})
	})
}

// GetThirdPartyDevice returns a camera of the actor's subtree, without its
// credentials.
func (s *Store) GetThirdPartyDevice(ctx context.Context, id int64) (*model.ThirdPartyDevice, error) {
	act, err := actor(ctx)
	if err != nil {
		return nil, err
	}
	cond, args := installerScope(act, "t.installer_id")
	var d model.ThirdPartyDevice
	err = s.queryRow(ctx, `SELECT t.id, t.installer_id, t.project_id, t.owner_id, t.kind, t.name, t.stream_url, t.created_at
		FROM third_party_devices t WHERE t.id = ? AND `+cond, append([]any{id}, args...)...).
		Scan(&d.ID, &d.InstallerID, &d.ProjectID, nid(&d.OwnerID), &d.Kind, &d.Name, &d.StreamURL, &d.Created)
	if isNoRows(err) {
		return nil, model.NotFound("third-party device")
	}
	return &d, err
}
