package store

import (
	"context"
	"net/url"
	"strings"

	"github.com/gatehouse-dev/gatehouse/internal/model"
)

// Third-party devices are cameras an installer adds to a project (community
// or office: a project camera) or to a single-tenant home (a personal
// camera, owned by one of its users). Their user name and password are
// sealed at rest (crypto.go); no list and no API answer carries them, and
// only the installer who owns the camera reads them back.

// validateCamera checks what a person types about a camera.
func validateCamera(d *model.ThirdPartyDevice, v *model.Validator) {
	d.Name, d.StreamURL = strings.TrimSpace(d.Name), strings.TrimSpace(d.StreamURL)
	v.Check(d.Name != "" && len(d.Name) <= 64, "name", "is required, at most 64 characters")
	if d.Kind == "" {
		d.Kind = "camera"
	}
	v.Check(d.Kind == "camera", "kind", "must be camera: installers add third-party cameras only")
	if d.StreamURL != "" {
		u, err := url.Parse(d.StreamURL)
		switch {
		case err != nil || (u.Scheme != "rtsp" && u.Scheme != "rtsps") || u.Host == "" || len(d.StreamURL) > 512:
			v.Add("stream_url", "must be an rtsp:// or rtsps:// URL, e.g. rtsp://10.0.0.5:554/stream1, at most 512 characters")
		case u.User != nil:
			// Credentials in the URL would be stored in the clear.
			v.Add("stream_url", "must not hold a user name or password: use the user and password fields")
		}
	}
}

func validateCameraCredentials(user, password *string, v *model.Validator) {
	if user != nil {
		*user = strings.TrimSpace(*user)
		v.Check(len(*user) <= 64, "username", "must be at most 64 characters")
	}
	if password != nil {
		v.Check(len(*password) <= 128, "password", "must be at most 128 characters")
	}
}

// placeCamera checks the camera's owner: a personal camera belongs to a user
// of its single-tenant home (its family master unless another is named); a
// project camera has no owner.
func (s *Store) placeCamera(ctx context.Context, tx *Tx, p *model.Project, d *model.ThirdPartyDevice) error {
	if p.Kind != model.ProjectPersonal {
		if d.OwnerID != 0 {
			return model.Invalid("owner_id", "no such owner: a community or office camera belongs to the project, not to a user")
		}
		return nil
	}
	if d.OwnerID == 0 {
		err := tx.queryRow(ctx, `SELECT id FROM end_users WHERE project_id = ? AND role = 'family_master' ORDER BY id LIMIT 1`, p.ID).Scan(&d.OwnerID)
		if err != nil && !isNoRows(err) {
			return err
		}
		return nil
	}
	var n int
	if err := tx.queryRow(ctx, `SELECT count(*) FROM end_users WHERE id = ? AND project_id = ?`, d.OwnerID, p.ID).Scan(&n); err != nil {
		return err
	} else if n == 0 {
		return model.Invalid("owner_id", "no such user in this single-tenant home")
	}
	return nil
}

// CreateThirdPartyDevice adds a camera to a project of the actor's subtree,
// sealing its user name and password.
func (s *Store) CreateThirdPartyDevice(ctx context.Context, d *model.ThirdPartyDevice) error {
	act, err := actor(ctx)
	if err != nil {
		return err
	}
	var v model.Validator
	validateCamera(d, &v)
	validateCameraCredentials(&d.Username, &d.Password, &v)
	if err := v.Err(); err != nil {
		return err
	}
	user, err := s.encryptSecret(d.Username)
	if err != nil {
		return err
	}
	pass, err := s.encryptSecret(d.Password)
	if err != nil {
		return err
	}
	return s.inTx(ctx, func(tx *Tx) error {
		p, err := s.getProject(ctx, tx.tx, act, d.ProjectID)
		if err != nil {
			return model.Invalid("project_id", "no such project")
		}
		if err := s.placeCamera(ctx, tx, p, d); err != nil {
			return err
		}
		d.InstallerID, d.Created = p.InstallerID, s.now()
		if err := tx.queryRow(ctx, `INSERT INTO third_party_devices (installer_id, project_id, owner_id, kind, name, stream_url,
			username, password, created_at) VALUES (?,?,?,?,?,?,?,?,?) RETURNING id`, d.InstallerID, d.ProjectID, nullID(d.OwnerID),
			d.Kind, d.Name, d.StreamURL, user, pass, d.Created).Scan(&d.ID); err != nil {
			return err
		}
		d.Username, d.Password = "", ""
		return s.audit(ctx, tx, "third_party_device.create", "third_party_device", d.ID, map[string]any{"name": d.Name, "project_id": d.ProjectID})
	})
}

const cameraCols = `t.id, t.installer_id, t.project_id, t.owner_id, t.kind, t.name, t.stream_url, t.created_at`

func scanCamera(r scanner) (*model.ThirdPartyDevice, error) {
	var d model.ThirdPartyDevice
	err := r.Scan(&d.ID, &d.InstallerID, &d.ProjectID, nid(&d.OwnerID), &d.Kind, &d.Name, &d.StreamURL, &d.Created)
	return &d, err
}

// getCamera reads a camera of the actor's subtree; lock is appended to the
// query (s.lockFor(" FOR UPDATE") to hold the row until the commit).
func (s *Store) getCamera(ctx context.Context, q querier, act *model.Actor, id int64, lock string) (*model.ThirdPartyDevice, error) {
	cond, args := installerScope(act, "t.installer_id")
	d, err := scanCamera(q.QueryRowContext(ctx, s.q(`SELECT `+cameraCols+` FROM third_party_devices t WHERE t.id = ? AND `+cond+lock),
		append([]any{id}, args...)...))
	if isNoRows(err) {
		return nil, model.NotFound("third-party device")
	}
	return d, err
}

// GetThirdPartyDevice returns a camera of the actor's subtree, without its
// credentials.
func (s *Store) GetThirdPartyDevice(ctx context.Context, id int64) (*model.ThirdPartyDevice, error) {
	act, err := actor(ctx)
	if err != nil {
		return nil, err
	}
	return s.getCamera(ctx, s.db, act, id, "")
}

// CameraCredentials are a camera's user name and password in the clear.
type CameraCredentials struct {
	Username, Password string
}

// GetThirdPartyDeviceCredentials opens the sealed user name and password of
// a camera for the installer who owns it; for anyone else the camera does
// not exist.
func (s *Store) GetThirdPartyDeviceCredentials(ctx context.Context, id int64) (*CameraCredentials, error) {
	act, err := actor(ctx)
	if err != nil {
		return nil, err
	}
	if act.Role != model.RoleInstaller {
		return nil, model.NotFound("third-party device")
	}
	var user, pass string
	err = s.queryRow(ctx, `SELECT username, password FROM third_party_devices WHERE id = ? AND installer_id = ?`, id, act.AccountID).Scan(&user, &pass)
	if isNoRows(err) {
		return nil, model.NotFound("third-party device")
	} else if err != nil {
		return nil, err
	}
	var c CameraCredentials
	if c.Username, err = s.decryptSecret(user); err != nil {
		return nil, err
	}
	if c.Password, err = s.decryptSecret(pass); err != nil {
		return nil, err
	}
	return &c, nil
}

// CameraUpdate changes a camera; nil fields keep their value. A nil
// Password keeps the stored one ("unchanged"); an empty one removes it.
type CameraUpdate struct {
	Name      *string
	StreamURL *string
	ProjectID *int64
	OwnerID   *int64
	Username  *string
	Password  *string
}

// UpdateThirdPartyDevice changes a camera of the actor's subtree. It may
// move to another project of the same installer.
func (s *Store) UpdateThirdPartyDevice(ctx context.Context, id int64, u CameraUpdate) (*model.ThirdPartyDevice, error) {
	act, err := actor(ctx)
	if err != nil {
		return nil, err
	}
	var out *model.ThirdPartyDevice
	err = s.inTx(ctx, func(tx *Tx) error {
		// Locked: the edit is merged into the row as it is now.
		old, err := s.getCamera(ctx, tx.tx, act, id, s.lockFor(" FOR UPDATE"))
		if err != nil {
			return err
		}
		d := *old
		if u.Name != nil {
			d.Name = *u.Name
		}
		if u.StreamURL != nil {
			d.StreamURL = *u.StreamURL
		}
		if u.ProjectID != nil {
			d.ProjectID = *u.ProjectID
			if d.ProjectID != old.ProjectID && u.OwnerID == nil {
				d.OwnerID = 0 // the old owner is not a user of the new project
			}
		}
		if u.OwnerID != nil {
			d.OwnerID = *u.OwnerID
		}
		var v model.Validator
		validateCamera(&d, &v)
		validateCameraCredentials(u.Username, u.Password, &v)
		if err := v.Err(); err != nil {
			return err
		}
		p, err := s.getProject(ctx, tx.tx, act, d.ProjectID)
		if err != nil || p.InstallerID != old.InstallerID {
			return model.Invalid("project_id", "no such project")
		}
		if err := s.placeCamera(ctx, tx, p, &d); err != nil {
			return err
		}
		if _, err := tx.exec(ctx, `UPDATE third_party_devices SET project_id = ?, owner_id = ?, name = ?, stream_url = ? WHERE id = ?`,
			d.ProjectID, nullID(d.OwnerID), d.Name, d.StreamURL, id); err != nil {
			return err
		}
		details := auditChanges("project_id", old.ProjectID, d.ProjectID, "owner_id", old.OwnerID, d.OwnerID, "name", old.Name, d.Name,
			"stream_url", old.StreamURL, d.StreamURL)
		for _, c := range []struct {
			col string
			val *string
		}{{"username", u.Username}, {"password", u.Password}} {
			if c.val == nil {
				continue
			}
			sealed, err := s.encryptSecret(*c.val)
			if err != nil {
				return err
			}
			if _, err := tx.exec(ctx, `UPDATE third_party_devices SET `+c.col+` = ? WHERE id = ?`, sealed, id); err != nil {
				return err
			}
			details[c.col] = "changed" // never the value
		}
		out = &d
		return s.audit(ctx, tx, "third_party_device.update", "third_party_device", id, details)
	})
	return out, err
}

// DeleteThirdPartyDevice deletes a camera of the actor's subtree.
func (s *Store) DeleteThirdPartyDevice(ctx context.Context, id int64) error {
	act, err := actor(ctx)
	if err != nil {
		return err
	}
	return s.inTx(ctx, func(tx *Tx) error {
		d, err := s.getCamera(ctx, tx.tx, act, id, "")
		if err != nil {
			return err
		}
		if _, err := tx.exec(ctx, `DELETE FROM third_party_devices WHERE id = ?`, id); err != nil {
			return err
		}
		return s.audit(ctx, tx, "third_party_device.delete", "third_party_device", id, map[string]any{"name": d.Name, "project_id": d.ProjectID})
	})
}

// CameraFilter selects cameras: one project, and name contains the text.
type CameraFilter struct {
	ProjectID int64
	Name      string
	model.Page
}

// CameraRow is a camera as the lists show it: its project, the project's
// manager, its owner, and whether it has a password (never the password).
type CameraRow struct {
	model.ThirdPartyDevice
	Project     string            `json:"project"`
	ProjectKind model.ProjectKind `json:"project_kind"`
	Manager     string            `json:"manager"`
	Owner       string            `json:"owner"`
	HasPassword bool              `json:"has_password"`
}

// ListThirdPartyDevices lists the cameras of the actor's subtree, newest
// first.
func (s *Store) ListThirdPartyDevices(ctx context.Context, f CameraFilter) (model.List[*CameraRow], error) {
	act, err := actor(ctx)
	if err != nil {
		return model.List[*CameraRow]{}, err
	}
	cond, args := installerScope(act, "t.installer_id")
	where := []string{cond}
	if f.ProjectID != 0 {
		where = append(where, "t.project_id = ?")
		args = append(args, f.ProjectID)
	}
	if q := strings.TrimSpace(f.Name); q != "" {
		where = append(where, `lower(t.name) LIKE ? ESCAPE '\'`)
		args = append(args, likeContains(q))
	}
	// The project and owner are read for the page's rows only.
	return list(ctx, s, "third_party_devices t", strings.Join(where, " AND "), "t.created_at DESC, t.id DESC",
		cameraCols+`, (SELECT p.name FROM projects p WHERE p.id = t.project_id), (SELECT p.kind FROM projects p WHERE p.id = t.project_id),
		(SELECT p.manager FROM projects p WHERE p.id = t.project_id), coalesce((SELECT o.name FROM end_users o WHERE o.id = t.owner_id), ''),
		CASE WHEN t.password <> '' THEN 1 ELSE 0 END`,
		args, f.Page, func(r scanner) (*CameraRow, error) {
			var c CameraRow
			var hasPw int
			err := r.Scan(&c.ID, &c.InstallerID, &c.ProjectID, nid(&c.OwnerID), &c.Kind, &c.Name, &c.StreamURL, &c.Created,
				&c.Project, &c.ProjectKind, &c.Manager, &c.Owner, &hasPw)
			c.HasPassword = hasPw == 1
			return &c, err
		})
}
