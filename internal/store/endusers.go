package store

import (
	"context"
	"strings"

	"github.com/gatehouse-dev/gatehouse/internal/model"
)

const endUserCols = `u.id, u.installer_id, u.project_id, u.apartment_id, u.department_id, u.role, u.family_master_id,
	u.name, u.sip, u.email, u.mobile, u.phone, u.address, u.active, u.premium, u.created_at, u.app_expires_at, u.premium_expires_at`

func scanEndUser(r scanner) (*model.EndUser, error) {
	var u model.EndUser
	err := r.Scan(&u.ID, &u.InstallerID, &u.ProjectID, nid(&u.ApartmentID), nid(&u.DepartmentID), &u.Role, nid(&u.FamilyMasterID),
		&u.Name, &u.SIP, &u.Email, &u.Mobile, &u.Phone, &u.Address, &u.Active, &u.Premium, &u.Created, &u.AppExpires, &u.PremiumExpires)
	return &u, err
}

// CreateEndUser adds a resident, office user or property manager to a
// project of the actor's subtree.
func (s *Store) CreateEndUser(ctx context.Context, u *model.EndUser) error {
	act, err := actor(ctx)
	if err != nil {
		return err
	}
	u.Name = strings.TrimSpace(u.Name)
	var v model.Validator
	v.Check(u.Name != "" && len(u.Name) <= 128, "name", "is required, at most 128 characters")
	switch u.Role {
	case model.FamilyMaster, model.FamilyMember, model.OfficeStaff, model.PropertyManager:
	default:
		v.Add("role", "must be family_master, family_member, office_staff or property_manager")
	}
	v.Check(model.ValidPhone(u.Phone), "phone", "may hold only digits, spaces and + - ( )")
	v.Check(model.ValidPhone(u.Mobile), "mobile", "may hold only digits, spaces and + - ( )")
	if err := v.Err(); err != nil {
		return err
	}
	return s.inTx(ctx, func(tx *Tx) error {
		p, err := s.getProject(ctx, tx.tx, act, u.ProjectID)
		if err != nil {
			return model.Invalid("project_id", "no such project")
		}
		if u.FamilyMasterID != 0 {
			var n int
			if err := tx.queryRow(ctx, `SELECT count(*) FROM end_users WHERE id = ? AND project_id = ? AND role = 'family_master'`,
				u.FamilyMasterID, u.ProjectID).Scan(&n); err != nil {
				return err
			} else if n == 0 {
				return model.Invalid("family_master_id", "no such family master in this project")
			}
		}
		u.InstallerID, u.Created = p.InstallerID, s.now()
		if err := tx.queryRow(ctx, `INSERT INTO end_users (installer_id, project_id, apartment_id, department_id, role,
			family_master_id, name, sip, email, mobile, phone, address, active, premium, created_at, app_expires_at,
			premium_expires_at) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?) RETURNING id`,
			u.InstallerID, u.ProjectID, nullID(u.ApartmentID), nullID(u.DepartmentID), u.Role, nullID(u.FamilyMasterID),
			u.Name, u.SIP, u.Email, u.Mobile, u.Phone, u.Address, u.Active, u.Premium, u.Created, u.AppExpires,
			u.PremiumExpires).Scan(&u.ID); err != nil {
			return err
		}
		return s.audit(ctx, tx, "end_user.create", "end_user", u.ID, map[string]any{"name": u.Name, "role": u.Role})
	})
}

// GetEndUser returns an end user of the actor's subtree.
func (s *Store) GetEndUser(ctx context.Context, id int64) (*model.EndUser, error) {
	act, err := actor(ctx)
	if err != nil {
		return nil, err
	}
	cond, args := installerScope(act, "u.installer_id")
	u, err := scanEndUser(s.queryRow(ctx, `SELECT `+endUserCols+` FROM end_users u WHERE u.id = ? AND `+cond, append([]any{id}, args...)...))
	if isNoRows(err) {
		return nil, model.NotFound("end user")
	}
	return u, err
}
