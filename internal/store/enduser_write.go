package store

import (
	"context"
	"fmt"
	"net/mail"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/model"
)

// The installer's writes of end users, with the household rules:
//
//   - a community holds family masters and family members in apartments, and
//     property managers; an apartment has one family master, and no more
//     family members than its family member limit;
//   - an office holds office staff, each in a department of that office;
//   - a single-tenant home (villa) holds one family master and its family
//     members; the Premium Plan is a villa feature;
//   - a family member belongs to the family master of its apartment or villa.

// validateEndUser checks the fields a person types about an end user.
func validateEndUser(u *model.EndUser, v *model.Validator) {
	u.Name, u.SIP, u.Email = strings.TrimSpace(u.Name), strings.TrimSpace(u.SIP), strings.TrimSpace(u.Email)
	u.Mobile, u.Phone, u.Address = strings.TrimSpace(u.Mobile), strings.TrimSpace(u.Phone), strings.TrimSpace(u.Address)
	v.Check(u.Name != "" && len(u.Name) <= 128, "name", "is required, at most 128 characters")
	switch u.Role {
	case model.FamilyMaster, model.FamilyMember, model.OfficeStaff, model.PropertyManager:
	default:
		v.Add("role", "must be family_master, family_member, office_staff or property_manager")
	}
	v.Check(len(u.SIP) <= 64 && !strings.ContainsAny(u.SIP, " \t"), "sip", "must be at most 64 characters, without spaces")
	if u.Email != "" {
		_, err := mail.ParseAddress(u.Email)
		v.Check(err == nil && !strings.ContainsAny(u.Email, "<> ") && len(u.Email) <= 254, "email", "is not a valid email address")
	}
	v.Check(model.ValidPhone(u.Mobile), "mobile", "may hold only digits, spaces and + - ( ), at most 32")
	v.Check(model.ValidPhone(u.Phone), "phone", "may hold only digits, spaces and + - ( ), at most 32")
	v.Check(len(u.Address) <= 256, "address", "must be at most 256 characters")
}

// placeEndUser checks where an end user belongs in project p and fills in
// the apartment and family master a family member takes from its
// household. self is the user's own id on an update (0 for a new one), so
// that it does not count against itself.
func (s *Store) placeEndUser(ctx context.Context, tx *Tx, p *model.Project, u *model.EndUser, self int64) error {
	var v model.Validator
	switch p.Kind {
	case model.ProjectCommunity:
		v.Check(u.Role != model.OfficeStaff, "role", "office staff belong to an office, not a community")
		v.Check(u.DepartmentID == 0, "department_id", "no such department: a community has buildings and apartments")
	case model.ProjectOffice:
		v.Check(u.Role == model.OfficeStaff, "role", "an office holds office staff only")
		v.Check(u.ApartmentID == 0, "apartment_id", "no such apartment: an office has departments")
		v.Check(u.FamilyMasterID == 0, "family_master_id", "no such family master: an office has no households")
	case model.ProjectPersonal:
		v.Check(u.Role == model.FamilyMaster || u.Role == model.FamilyMember, "role",
			"a single-tenant home holds a family master and its family members")
		v.Check(u.ApartmentID == 0, "apartment_id", "no such apartment: a single-tenant home has none")
		v.Check(u.DepartmentID == 0, "department_id", "no such department: a single-tenant home has none")
	}
	v.Check(!u.Premium || p.Kind == model.ProjectPersonal, "premium", "the Premium Plan is a single-tenant (villa) feature")
	if err := v.Err(); err != nil {
		return err
	}
	switch u.Role {
	case model.PropertyManager:
		if u.ApartmentID != 0 || u.FamilyMasterID != 0 {
			return model.Invalid("apartment_id", "a property manager belongs to the community, not to an apartment")
		}
	case model.OfficeStaff:
		if u.DepartmentID == 0 {
			return model.Invalid("department_id", "is required: office staff work in a department of the office")
		}
		var n int
		if err := tx.queryRow(ctx, `SELECT count(*) FROM departments WHERE id = ? AND project_id = ?`, u.DepartmentID, p.ID).Scan(&n); err != nil {
			return err
		} else if n == 0 {
			return model.Invalid("department_id", "no such department in this office")
		}
	case model.FamilyMaster:
		if u.FamilyMasterID != 0 {
			return model.Invalid("family_master_id", "a family master has no family master")
		}
		if p.Kind == model.ProjectCommunity {
			if u.ApartmentID == 0 {
				return model.Invalid("apartment_id", "is required: a family master lives in an apartment")
			}
			if _, _, err := s.apartmentOf(ctx, tx, p.ID, u.ApartmentID); err != nil {
				return err
			}
		}
		master, err := s.householdMaster(ctx, tx, p.ID, u.ApartmentID, self)
		if err != nil {
			return err
		}
		if master != "" {
			field, where := "apartment_id", "this apartment"
			if p.Kind == model.ProjectPersonal {
				field, where = "role", "this single-tenant home"
			}
			return model.Invalid(field, "%s already has a family master (%s)", where, master)
		}
	case model.FamilyMember:
		return s.placeFamilyMember(ctx, tx, p, u, self)
	}
	return nil
}

// apartmentOf returns the family member limit and label of an apartment of
// project pid.
func (s *Store) apartmentOf(ctx context.Context, tx *Tx, pid, aid int64) (limit int, label string, err error) {
	var building, number string
	err = tx.queryRow(ctx, `SELECT a.family_member_limit, b.name, a.number FROM apartments a JOIN buildings b ON b.id = a.building_id
		WHERE a.id = ? AND b.project_id = ?`, aid, pid).Scan(&limit, &building, &number)
	if isNoRows(err) {
		return 0, "", model.Invalid("apartment_id", "no such apartment in this community")
	}
	return limit, apartmentLabel(building, number), err
}

// householdMaster names the family master of an apartment (apt ≠ 0) or of
// single-tenant home pid, other than user self; "" when there is none.
func (s *Store) householdMaster(ctx context.Context, tx *Tx, pid, apt, self int64) (string, error) {
	var name string
	var err error
	if apt != 0 {
		err = tx.queryRow(ctx, `SELECT name FROM end_users WHERE apartment_id = ? AND role = 'family_master' AND id <> ? ORDER BY id LIMIT 1`,
			apt, self).Scan(&name)
	} else {
		err = tx.queryRow(ctx, `SELECT name FROM end_users WHERE project_id = ? AND role = 'family_master' AND id <> ? ORDER BY id LIMIT 1`,
			pid, self).Scan(&name)
	}
	if isNoRows(err) {
		return "", nil
	}
	return name, err
}

func (s *Store) placeFamilyMember(ctx context.Context, tx *Tx, p *model.Project, u *model.EndUser, self int64) error {
	byMaster := u.FamilyMasterID != 0
	if byMaster {
		var apt int64
		err := tx.queryRow(ctx, `SELECT apartment_id FROM end_users WHERE id = ? AND project_id = ? AND role = 'family_master'`,
			u.FamilyMasterID, p.ID).Scan(nid(&apt))
		if isNoRows(err) {
			return model.Invalid("family_master_id", "no such family master in this project")
		} else if err != nil {
			return err
		}
		if u.ApartmentID != 0 && u.ApartmentID != apt {
			return model.Invalid("apartment_id", "is not the apartment of the family master: a family member lives with its family master")
		}
		u.ApartmentID = apt
	} else {
		var err error
		switch {
		case p.Kind == model.ProjectPersonal:
			err = tx.queryRow(ctx, `SELECT id FROM end_users WHERE project_id = ? AND role = 'family_master' ORDER BY id LIMIT 1`, p.ID).Scan(&u.FamilyMasterID)
			if isNoRows(err) {
				return model.Invalid("family_master_id", "is required: this single-tenant home has no family master yet; add the family master first")
			}
		case u.ApartmentID == 0:
			return model.Invalid("family_master_id", "is required: a family member needs a family master in the same apartment")
		default:
			if _, _, err := s.apartmentOf(ctx, tx, p.ID, u.ApartmentID); err != nil {
				return err
			}
			err = tx.queryRow(ctx, `SELECT id FROM end_users WHERE apartment_id = ? AND role = 'family_master' ORDER BY id LIMIT 1`, u.ApartmentID).Scan(&u.FamilyMasterID)
			if isNoRows(err) {
				return model.Invalid("apartment_id", "has no family master yet: add the family master first")
			}
		}
		if err != nil {
			return err
		}
	}
	if u.ApartmentID == 0 {
		return nil // a villa's household has no limit
	}
	limit, label, err := s.apartmentOf(ctx, tx, p.ID, u.ApartmentID)
	if err != nil {
		return err
	}
	var members int
	if err := tx.queryRow(ctx, `SELECT count(*) FROM end_users WHERE apartment_id = ? AND role = 'family_member' AND id <> ?`,
		u.ApartmentID, self).Scan(&members); err != nil {
		return err
	}
	if members >= limit {
		return model.Invalid("family_member_limit", "apartment %s allows %d family members and has %d: raise its family member limit (at most %d) first",
			label, limit, members, model.MaxFamilyMembers)
	}
	return nil
}

func (s *Store) insertEndUser(ctx context.Context, tx *Tx, u *model.EndUser) error {
	// The list columns (the project's kind, the distributor and
	// sub-distributor above the installer) are written with the user.
	err := tx.queryRow(ctx, `INSERT INTO end_users (installer_id, project_id, apartment_id, department_id, role,
		family_master_id, name, sip, email, mobile, phone, address, active, premium, created_at, app_expires_at,
		premium_expires_at, project_kind, distributor_id, subdistributor_id)
		SELECT ?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?, p.kind, a.distributor_id, a.subdistributor_id
		FROM projects p, accounts a WHERE p.id = ? AND a.id = ? RETURNING id`,
		u.InstallerID, u.ProjectID, nullID(u.ApartmentID), nullID(u.DepartmentID), u.Role, nullID(u.FamilyMasterID),
		u.Name, u.SIP, u.Email, u.Mobile, u.Phone, u.Address, u.Active, u.Premium, u.Created, u.AppExpires,
		u.PremiumExpires, u.ProjectID, u.InstallerID).Scan(&u.ID)
	if isUniqueViolation(err) {
		// Two family masters added at once: the unique index decides.
		return model.Invalid("role", "this home already has a family master")
	}
	if err != nil || u.SIP != "" {
		return err
	}
	// No SIP number typed: the user gets the platform's, derived from its
	// id. This is the one place every way of adding a user passes (portal
	// form, installer API, import).
	u.SIP = AssignedSIP(u.ID)
	_, err = tx.exec(ctx, `UPDATE end_users SET sip = ? WHERE id = ?`, u.SIP, u.ID)
	return err
}

// AssignedSIP is the SIP number the platform gives end user id when none
// was typed: 10 digits, 8 then the id (8000000001, 8000000002, …), apart
// from the demo's 6… numbers.
func AssignedSIP(id int64) string {
	return strconv.FormatInt(8_000_000_000+id, 10)
}

// AddEndUser adds an end user to a project of the actor's subtree under the
// household rules: the installer portal's way to create one.
func (s *Store) AddEndUser(ctx context.Context, u *model.EndUser) error {
	act, err := actor(ctx)
	if err != nil {
		return err
	}
	var v model.Validator
	validateEndUser(u, &v)
	if err := v.Err(); err != nil {
		return err
	}
	return s.inTx(ctx, func(tx *Tx) error {
		p, err := s.getProject(ctx, tx.tx, act, u.ProjectID)
		if err != nil {
			return model.Invalid("project_id", "no such project")
		}
		if err := s.placeEndUser(ctx, tx, p, u, 0); err != nil {
			return err
		}
		u.InstallerID, u.Created = p.InstallerID, s.now()
		if err := s.insertEndUser(ctx, tx, u); err != nil {
			return err
		}
		return s.audit(ctx, tx, "end_user.create", "end_user", u.ID, map[string]any{"name": u.Name, "role": u.Role, "project_id": u.ProjectID})
	})
}

func (s *Store) loadEndUser(ctx context.Context, q querier, act *model.Actor, id int64) (*model.EndUser, error) {
	return s.readEndUser(ctx, q, act, id, "")
}

// readEndUser reads an end user of the actor's subtree; lock is appended to
// the query (s.lockFor(" FOR UPDATE") to hold the row until the commit).
func (s *Store) readEndUser(ctx context.Context, q querier, act *model.Actor, id int64, lock string) (*model.EndUser, error) {
	cond, args := installerScope(act, "u.installer_id")
	u, err := scanEndUser(q.QueryRowContext(ctx, s.q(`SELECT `+endUserCols+` FROM end_users u WHERE u.id = ? AND `+cond+lock), append([]any{id}, args...)...))
	if isNoRows(err) {
		return nil, model.NotFound("end user")
	}
	return u, err
}

// UpdateEndUser saves an end user of the actor's subtree: the list's fields
// (name, SIP, email, mobile, phone, address, active, premium and the
// expiration times) and, for office staff, the department. The role and
// the household of a family master or member stay: to move one, delete it
// and add it again.
//
// edit changes the stored row, read (and locked) in the writing transaction,
// to what is to be saved — so two edits of different fields at once both
// land. It runs inside the transaction: it only sets fields (an error it
// returns, such as a field that does not parse, is returned as it is).
func (s *Store) UpdateEndUser(ctx context.Context, id int64, edit func(*model.EndUser) error) error {
	act, err := actor(ctx)
	if err != nil {
		return err
	}
	return s.inTx(ctx, func(tx *Tx) error {
		old, err := s.readEndUser(ctx, tx.tx, act, id, s.lockFor(" FOR UPDATE"))
		if err != nil {
			return err
		}
		u := endUserCopy(old)
		if err := edit(u); err != nil {
			return err
		}
		u.ID = old.ID
		if u.Role == "" {
			u.Role = old.Role
		}
		var v model.Validator
		validateEndUser(u, &v)
		v.Check(u.Role == old.Role, "role", "cannot be changed: delete the user and add it again")
		if u.Role == model.FamilyMaster || u.Role == model.FamilyMember {
			if u.ApartmentID == 0 {
				u.ApartmentID = old.ApartmentID
			}
			if u.FamilyMasterID == 0 {
				u.FamilyMasterID = old.FamilyMasterID
			}
			v.Check(u.ApartmentID == old.ApartmentID, "apartment_id", "cannot be changed: delete the user and add it to the other apartment")
			v.Check(u.FamilyMasterID == old.FamilyMasterID, "family_master_id", "cannot be changed: delete the user and add it again")
		}
		if u.Role == model.OfficeStaff && u.DepartmentID == 0 {
			u.DepartmentID = old.DepartmentID
		}
		if err := v.Err(); err != nil {
			return err
		}
		p, err := s.getProject(ctx, tx.tx, act, old.ProjectID)
		if err != nil {
			return err
		}
		u.ProjectID, u.InstallerID, u.Created = old.ProjectID, old.InstallerID, old.Created
		if err := s.placeEndUser(ctx, tx, p, u, u.ID); err != nil {
			return err
		}
		if _, err := tx.exec(ctx, `UPDATE end_users SET department_id = ?, name = ?, sip = ?, email = ?, mobile = ?, phone = ?,
			address = ?, active = ?, premium = ?, app_expires_at = ?, premium_expires_at = ? WHERE id = ?`,
			nullID(u.DepartmentID), u.Name, u.SIP, u.Email, u.Mobile, u.Phone, u.Address, u.Active, u.Premium,
			u.AppExpires, u.PremiumExpires, u.ID); err != nil {
			return err
		}
		return s.audit(ctx, tx, "end_user.update", "end_user", u.ID, auditChanges("department_id", old.DepartmentID, u.DepartmentID,
			"name", old.Name, u.Name, "sip", old.SIP, u.SIP, "email", old.Email, u.Email, "mobile", old.Mobile, u.Mobile,
			"phone", old.Phone, u.Phone, "address", old.Address, u.Address, "active", old.Active, u.Active,
			"premium", old.Premium, u.Premium, "app_expires_at", auditTime(old.AppExpires), auditTime(u.AppExpires),
			"premium_expires_at", auditTime(old.PremiumExpires), auditTime(u.PremiumExpires)))
	})
}

// endUserCopy copies u, its times too, so that an edit of the copy leaves
// u as it was read.
func endUserCopy(u *model.EndUser) *model.EndUser {
	c := *u
	for _, t := range []**time.Time{&c.AppExpires, &c.PremiumExpires} {
		if *t != nil {
			v := **t
			*t = &v
		}
	}
	return &c
}

func auditTime(t *time.Time) string {
	if t == nil {
		return ""
	}
	return t.UTC().Format(time.RFC3339)
}

// EndUserDependents is what deleting an end user takes with it: a family
// master's family members are deleted, and the devices and cameras the
// user (or those members) owned lose their owner but stay in the project.
type EndUserDependents struct {
	FamilyMembers int `json:"family_members"`
	Devices       int `json:"devices"`
	Cameras       int `json:"cameras"`
}

func (s *Store) endUserDependents(ctx context.Context, q querier, id int64) (*EndUserDependents, error) {
	var d EndUserDependents
	err := q.QueryRowContext(ctx, s.q(`SELECT
		(SELECT count(*) FROM end_users WHERE family_master_id = ?),
		(SELECT count(*) FROM devices WHERE owner_id = ? OR owner_id IN (SELECT id FROM end_users WHERE family_master_id = ?)),
		(SELECT count(*) FROM third_party_devices WHERE owner_id = ? OR owner_id IN (SELECT id FROM end_users WHERE family_master_id = ?))`),
		id, id, id, id, id).Scan(&d.FamilyMembers, &d.Devices, &d.Cameras)
	return &d, err
}

// CountEndUserDependents tells what deleting an end user of the actor's
// subtree would take with it, for the confirmation.
func (s *Store) CountEndUserDependents(ctx context.Context, id int64) (*EndUserDependents, error) {
	act, err := actor(ctx)
	if err != nil {
		return nil, err
	}
	if _, err := s.loadEndUser(ctx, s.db, act, id); err != nil {
		return nil, err
	}
	return s.endUserDependents(ctx, s.db, id)
}

// DeleteEndUser deletes an end user of the actor's subtree; a family master
// goes with its family members. Devices and cameras they owned stay in the
// project without an owner.
func (s *Store) DeleteEndUser(ctx context.Context, id int64) (*EndUserDependents, error) {
	act, err := actor(ctx)
	if err != nil {
		return nil, err
	}
	var gone *EndUserDependents
	err = s.inTx(ctx, func(tx *Tx) error {
		u, err := s.loadEndUser(ctx, tx.tx, act, id)
		if err != nil {
			return err
		}
		if gone, err = s.endUserDependents(ctx, tx.tx, id); err != nil {
			return err
		}
		for _, q := range []string{
			`UPDATE devices SET owner_id = NULL WHERE owner_id = ? OR owner_id IN (SELECT id FROM end_users WHERE family_master_id = ?)`,
			`UPDATE third_party_devices SET owner_id = NULL WHERE owner_id = ? OR owner_id IN (SELECT id FROM end_users WHERE family_master_id = ?)`,
			`DELETE FROM end_users WHERE family_master_id = ? OR id = ?`,
		} {
			if _, err := tx.exec(ctx, q, id, id); err != nil {
				return err
			}
		}
		return s.audit(ctx, tx, "end_user.delete", "end_user", id, map[string]any{"name": u.Name, "role": u.Role,
			"project_id": u.ProjectID, "family_members": gone.FamilyMembers, "devices_unassigned": gone.Devices, "cameras_unassigned": gone.Cameras})
	})
	if err != nil {
		return nil, err
	}
	return gone, nil
}

// EndUserImportRow is one row of an end-user CSV, as typed: Row is its line
// in the file (the header is line 1), for the error report.
type EndUserImportRow struct {
	Row            int
	Role           string
	Name           string
	Building       string // building name, for a community's apartment
	Apartment      string // apartment number
	Department     string // department name, for office staff
	SIP            string
	Email          string
	Mobile         string
	Phone          string
	Address        string
	Active         string
	Premium        string
	AppExpires     string
	PremiumExpires string
}

// MaxEndUserImport bounds one import.
const MaxEndUserImport = 10_000

// ImportEndUsers adds the rows' users to a project of the actor's subtree
// in one transaction: every valid row is imported (a family master in an
// earlier row counts for the family members in later ones), every other
// row is reported by its number and reason, the reason naming the file's
// column.
func (s *Store) ImportEndUsers(ctx context.Context, projectID int64, rows []EndUserImportRow) (model.ImportResult, error) {
	return s.ImportEndUserFile(ctx, projectID, "", rows)
}

// EndUserImportMemory is how long an imported file is remembered: the same
// file sent again into the same project within it imports nothing.
const EndUserImportMemory = 24 * time.Hour

// ImportEndUserFile is ImportEndUsers for the rows of a file whose SHA-256
// is digest (hex; "" remembers nothing). A file that imported users into
// the project is remembered, in the import's transaction, for
// EndUserImportMemory: the same file sent again within it — a retry after
// a lost answer, a node killed between the commit and the answer, a double
// submit, two at once — is refused (ECONFLICT, saying when it was
// imported) and imports nothing twice.
func (s *Store) ImportEndUserFile(ctx context.Context, projectID int64, digest string, rows []EndUserImportRow) (model.ImportResult, error) {
	res := model.ImportResult{Rejected: []model.RowError{}}
	act, err := actor(ctx)
	if err != nil {
		return res, err
	}
	if len(rows) > MaxEndUserImport {
		return res, model.Invalid("file", "holds %d rows; at most %d may be imported at once", len(rows), MaxEndUserImport)
	}
	err = s.inTx(ctx, func(tx *Tx) error {
		p, err := s.getProject(ctx, tx.tx, act, projectID)
		if err != nil {
			return err
		}
		now := s.now()
		if digest != "" {
			if err := s.importedBefore(ctx, tx, p.ID, digest, now); err != nil {
				return err
			}
		}
		places, err := s.loadImportPlaces(ctx, tx, p)
		if err != nil {
			return err
		}
		for _, r := range rows {
			u, err := s.importRow(ctx, tx, p, places, r)
			if err == nil {
				u.ProjectID, u.InstallerID, u.Created = p.ID, p.InstallerID, now
				if err = s.insertEndUser(ctx, tx, u); err != nil {
					return err
				}
				if err = s.audit(ctx, tx, "end_user.create", "end_user", u.ID, map[string]any{"name": u.Name, "role": u.Role,
					"project_id": p.ID, "import_row": r.Row}); err != nil {
					return err
				}
				res.Imported++
				continue
			}
			if model.ErrorCode(err) != model.EINVALID {
				return err
			}
			res.Rejected = append(res.Rejected, model.RowError{Row: r.Row, Value: strings.TrimSpace(r.Name), Reason: importReason(err)})
		}
		if res.Imported == 0 {
			return nil
		}
		if digest != "" {
			// Guarded: of two imports of the file at once, the second waits
			// here for the first and is refused (rolled back) once it commits.
			// The project's files older than the memory are forgotten here,
			// so the table holds at most a day of each project's imports.
			if _, err := tx.exec(ctx, `DELETE FROM end_user_imports WHERE project_id = ? AND at < ?`,
				p.ID, now.Add(-EndUserImportMemory)); err != nil {
				return err
			}
			r, err := tx.exec(ctx, `INSERT INTO end_user_imports (project_id, digest, imported, at) VALUES (?,?,?,?)
				ON CONFLICT (project_id, digest) DO UPDATE SET imported = excluded.imported, at = excluded.at
				WHERE end_user_imports.at < ?`, p.ID, digest, res.Imported, now, now.Add(-EndUserImportMemory))
			if err != nil {
				return err
			}
			if n, _ := r.RowsAffected(); n != 1 {
				return s.importedBefore(ctx, tx, p.ID, digest, now)
			}
		}
		return s.audit(ctx, tx, "end_user.import", "project", p.ID, map[string]any{"imported": res.Imported, "rejected": len(res.Rejected)})
	})
	if err != nil {
		return model.ImportResult{Rejected: []model.RowError{}}, err
	}
	return res, nil
}

// importedBefore refuses a file imported into project projectID within
// EndUserImportMemory before now.
func (s *Store) importedBefore(ctx context.Context, tx *Tx, projectID int64, digest string, now time.Time) error {
	var at time.Time
	var imported int
	err := tx.queryRow(ctx, `SELECT at, imported FROM end_user_imports WHERE project_id = ? AND digest = ? AND at >= ?`,
		projectID, digest, now.Add(-EndUserImportMemory)).Scan(&at, &imported)
	if isNoRows(err) {
		return nil
	} else if err != nil {
		return err
	}
	return model.Errorf(model.ECONFLICT, "This file was imported into this project at %s UTC (%d users): nothing was imported again. "+
		"To import the same rows once more, change the file.", at.UTC().Format("2006-01-02 15:04"), imported).
		WithField("file", "was imported before")
}

// importColumn maps the store's field names to the file's column names.
var importColumn = map[string]string{
	"apartment_id": "apartment", "department_id": "department", "family_master_id": "family_master",
	"app_expires_at": "app_expires", "premium_expires_at": "premium_expires",
}

// importReason turns a row's error into "column: why; column: why".
func importReason(err error) string {
	var parts []string
	for f, m := range model.ErrorFields(err) {
		if c, ok := importColumn[f]; ok {
			f = c
		}
		parts = append(parts, f+": "+m)
	}
	sort.Strings(parts)
	if len(parts) == 0 {
		return model.ErrorMessage(err)
	}
	return strings.Join(parts, "; ")
}

// ParseRole reads a role as people write it: "Family Master", "member",
// "office staff", "property-manager" …
func ParseRole(s string) (model.EndUserRole, bool) {
	k := strings.NewReplacer(" ", "_", "-", "_").Replace(strings.ToLower(strings.TrimSpace(s)))
	switch k {
	case "family_master", "master", "main":
		return model.FamilyMaster, true
	case "family_member", "member":
		return model.FamilyMember, true
	case "office_staff", "staff", "office_user", "personnel":
		return model.OfficeStaff, true
	case "property_manager", "manager":
		return model.PropertyManager, true
	}
	return "", false
}

// ParseYesNo reads a yes/no cell; empty is no.
func ParseYesNo(s string) (bool, bool) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "", "no", "n", "false", "0", "off", "inactive":
		return false, true
	case "yes", "y", "true", "1", "on", "active":
		return true, true
	}
	return false, false
}

// ParseDate reads an expiration time: a date (2026-12-31, taken as
// midnight UTC), a date and time (UTC), or RFC 3339. Empty is none.
func ParseDate(s string) (*time.Time, bool) {
	s = strings.TrimSpace(s)
	if s == "" {
		return nil, true
	}
	for _, layout := range []string{time.RFC3339, "2006-01-02 15:04:05", "2006-01-02 15:04", "2006-01-02T15:04:05", "2006-01-02"} {
		if t, err := time.ParseInLocation(layout, s, time.UTC); err == nil {
			t = t.UTC()
			return &t, true
		}
	}
	return nil, false
}

// importPlaces are a project's apartments and departments by the names a
// file uses, read once per import.
type importPlaces struct {
	apts  map[string][]importApt // apartment number → apartments
	depts map[string]int64       // lower-case department name → id
}

type importApt struct {
	id       int64
	building string // lower-case
}

func (s *Store) loadImportPlaces(ctx context.Context, tx *Tx, p *model.Project) (*importPlaces, error) {
	pl := &importPlaces{apts: map[string][]importApt{}, depts: map[string]int64{}}
	var q string
	switch p.Kind {
	case model.ProjectCommunity:
		q = `SELECT a.id, a.number, b.name FROM apartments a JOIN buildings b ON b.id = a.building_id WHERE b.project_id = ? ORDER BY a.id`
	case model.ProjectOffice:
		q = `SELECT id, name, '' FROM departments WHERE project_id = ? ORDER BY id`
	default:
		return pl, nil
	}
	rows, err := tx.query(ctx, q, p.ID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var id int64
		var name, building string
		if err := rows.Scan(&id, &name, &building); err != nil {
			return nil, err
		}
		if p.Kind == model.ProjectCommunity {
			pl.apts[name] = append(pl.apts[name], importApt{id, strings.ToLower(building)})
		} else if _, dup := pl.depts[strings.ToLower(name)]; !dup {
			pl.depts[strings.ToLower(name)] = id
		}
	}
	return pl, rows.Err()
}

// importRow turns a row into an end user of project p, finding the
// building, apartment and department by name within the project.
func (s *Store) importRow(ctx context.Context, tx *Tx, p *model.Project, places *importPlaces, r EndUserImportRow) (*model.EndUser, error) {
	u := &model.EndUser{Name: r.Name, SIP: r.SIP, Email: r.Email, Mobile: r.Mobile, Phone: r.Phone, Address: r.Address}
	var v model.Validator
	role, ok := ParseRole(r.Role)
	if strings.TrimSpace(r.Role) == "" && p.Kind == model.ProjectOffice {
		role, ok = model.OfficeStaff, true
	}
	v.Check(ok, "role", "must be Family Master, Family Member, Office Staff or Property Manager")
	u.Role = role
	if !ok {
		u.Role = model.PropertyManager // lets the other fields be checked
	}
	u.Active, ok = ParseYesNo(r.Active)
	v.Check(ok, "active", "must be yes or no")
	u.Premium, ok = ParseYesNo(r.Premium)
	v.Check(ok, "premium", "must be yes or no")
	u.AppExpires, ok = ParseDate(r.AppExpires)
	v.Check(ok, "app_expires", "must be a date such as 2026-12-31")
	u.PremiumExpires, ok = ParseDate(r.PremiumExpires)
	v.Check(ok, "premium_expires", "must be a date such as 2026-12-31")
	validateEndUser(u, &v)
	if err := v.Err(); err != nil {
		return nil, err
	}
	building, number := strings.TrimSpace(r.Building), strings.TrimSpace(r.Apartment)
	switch {
	case number != "" && p.Kind != model.ProjectCommunity:
		return nil, model.Invalid("apartment", "must be empty: only communities have apartments")
	case building != "" && number == "":
		return nil, model.Invalid("apartment", "is required with a building: give the apartment number")
	case number != "":
		var ids []int64
		for _, a := range places.apts[number] {
			if building == "" || a.building == strings.ToLower(building) {
				ids = append(ids, a.id)
			}
		}
		switch {
		case len(ids) == 0 && building != "":
			return nil, model.Invalid("apartment", "no apartment %s in building %q of this community", number, building)
		case len(ids) == 0:
			return nil, model.Invalid("apartment", "no apartment %s in this community", number)
		case len(ids) > 1 && building == "":
			return nil, model.Invalid("building", "is required: more than one building has an apartment %s", number)
		case len(ids) > 1:
			return nil, model.Invalid("apartment", "building %q has more than one apartment %s", building, number)
		}
		u.ApartmentID = ids[0]
	}
	if dept := strings.TrimSpace(r.Department); dept != "" {
		if p.Kind != model.ProjectOffice {
			return nil, model.Invalid("department", "must be empty: only offices have departments")
		}
		id, ok := places.depts[strings.ToLower(dept)]
		if !ok {
			return nil, model.Invalid("department", "no department %q in this office", dept)
		}
		u.DepartmentID = id
	}
	if err := s.placeEndUser(ctx, tx, p, u, 0); err != nil {
		return nil, err
	}
	return u, nil
}

// String describes a dependents count for a confirmation.
func (d *EndUserDependents) String() string {
	return fmt.Sprintf("%d family members, %d devices, %d cameras", d.FamilyMembers, d.Devices, d.Cameras)
}
