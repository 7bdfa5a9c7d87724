package store

import (
	"context"
	"fmt"
	"strings"

	"github.com/gatehouse-dev/gatehouse/internal/model"
)

const projectCols = `p.id, p.installer_id, p.kind, p.name, p.manager, p.address, p.time_zone, p.created_at`

func scanProject(r scanner) (*model.Project, error) {
	var p model.Project
	err := r.Scan(&p.ID, &p.InstallerID, &p.Kind, &p.Name, &p.Manager, &p.Address, &p.TimeZone, &p.Created)
	return &p, err
}

// installerFor resolves the installer a new row belongs to: the actor when
// it is an installer, else id, which must be an installer of its subtree.
func (s *Store) installerFor(ctx context.Context, tx *Tx, act *model.Actor, id int64) (*model.Account, error) {
	if act.Role == model.RoleInstaller {
		if id != 0 && id != act.AccountID {
			return nil, model.Invalid("installer_id", "no such installer")
		}
		id = act.AccountID
	}
	a, err := s.getAccount(ctx, tx.tx, act, id)
	if err != nil || a.Role != model.RoleInstaller {
		return nil, model.Invalid("installer_id", "no such installer")
	}
	return a, nil
}

// CreateProject adds a community, office or single-tenant home for an
// installer of the actor's subtree. The installer's time zone is the default.
func (s *Store) CreateProject(ctx context.Context, p *model.Project) error {
	act, err := actor(ctx)
	if err != nil {
		return err
	}
	p.Address = strings.TrimSpace(p.Address)
	if err := p.Validate(); err != nil {
		return err
	}
	return s.inTx(ctx, func(tx *Tx) error {
		inst, err := s.installerFor(ctx, tx, act, p.InstallerID)
		if err != nil {
			return err
		}
		p.InstallerID = inst.ID
		if p.TimeZone == "" {
			p.TimeZone = inst.TimeZone
		}
		p.Created = s.now()
		if err := tx.queryRow(ctx, `INSERT INTO projects (installer_id, kind, name, manager, address, time_zone, created_at)
			VALUES (?,?,?,?,?,?,?) RETURNING id`, p.InstallerID, p.Kind, p.Name, p.Manager, p.Address, p.TimeZone, p.Created).Scan(&p.ID); err != nil {
			return err
		}
		return s.audit(ctx, tx, "project.create", "project", p.ID, map[string]any{"kind": p.Kind, "name": p.Name})
	})
}

// GetProject returns a project of the actor's subtree.
func (s *Store) GetProject(ctx context.Context, id int64) (*model.Project, error) {
	act, err := actor(ctx)
	if err != nil {
		return nil, err
	}
	return s.getProject(ctx, s.db, act, id)
}

func (s *Store) getProject(ctx context.Context, q querier, act *model.Actor, id int64) (*model.Project, error) {
	cond, args := installerScope(act, "p.installer_id")
	p, err := scanProject(q.QueryRowContext(ctx, s.q(`SELECT `+projectCols+` FROM projects p WHERE p.id = ? AND `+cond), append([]any{id}, args...)...))
	if isNoRows(err) {
		return nil, model.NotFound("project")
	}
	return p, err
}

// ProjectFilter is the installer portal's project search: the kind, and a
// case-insensitive "contains" over the project's name and its manager (the
// Community / Office / Single-tenant Manager the guide searches by).
type ProjectFilter struct {
	Kind        model.ProjectKind // "" for every kind
	Search      string
	InstallerID int64 // optional narrowing, for the installer's ancestors
	model.Page
}

// ProjectRow is a project as the lists show it.
type ProjectRow struct {
	model.Project
	Installer string `json:"installer"`
	EndUsers  int    `json:"end_users"`
	Devices   int    `json:"devices"`
}

const projectRowCols = projectCols + `, ia.username,
	(SELECT count(*) FROM end_users cu WHERE cu.project_id = p.id),
	(SELECT count(*) FROM devices cd WHERE cd.project_id = p.id)`

func scanProjectRow(r scanner) (*ProjectRow, error) {
	var p ProjectRow
	err := r.Scan(&p.ID, &p.InstallerID, &p.Kind, &p.Name, &p.Manager, &p.Address, &p.TimeZone, &p.Created,
		&p.Installer, &p.EndUsers, &p.Devices)
	return &p, err
}

// ListProjects lists the projects of the actor's subtree, newest first.
func (s *Store) ListProjects(ctx context.Context, f ProjectFilter) (model.List[*ProjectRow], error) {
	act, err := actor(ctx)
	if err != nil {
		return model.List[*ProjectRow]{}, err
	}
	cond, args := installerScope(act, "p.installer_id")
	where := []string{cond}
	if f.Kind != "" {
		if !f.Kind.Valid() {
			return model.List[*ProjectRow]{}, model.Invalid("kind", "must be community, office or personal")
		}
		where = append(where, "p.kind = ?")
		args = append(args, f.Kind)
	}
	if f.InstallerID != 0 {
		where = append(where, "p.installer_id = ?")
		args = append(args, f.InstallerID)
	}
	if q := strings.TrimSpace(f.Search); q != "" {
		where = append(where, `(lower(p.name) LIKE ? ESCAPE '\' OR lower(p.manager) LIKE ? ESCAPE '\')`)
		args = append(args, likeContains(q), likeContains(q))
	}
	return list(ctx, s, "projects p JOIN accounts ia ON ia.id = p.installer_id", strings.Join(where, " AND "),
		"p.created_at DESC, p.id DESC", projectRowCols, args, f.Page, scanProjectRow)
}

// UpdateProject saves the name, manager, address and time zone of a project
// of the actor's subtree. The kind of a project cannot change: its
// buildings or departments depend on it.
func (s *Store) UpdateProject(ctx context.Context, p *model.Project) error {
	act, err := actor(ctx)
	if err != nil {
		return err
	}
	return s.inTx(ctx, func(tx *Tx) error {
		old, err := s.getProject(ctx, tx.tx, act, p.ID)
		if err != nil {
			return err
		}
		if p.Kind == "" {
			p.Kind = old.Kind
		}
		p.Address = strings.TrimSpace(p.Address)
		if err := p.Validate(); err != nil {
			return err
		}
		if p.Kind != old.Kind {
			return model.Invalid("kind", "cannot be changed: a %s stays a %s", old.Kind, old.Kind)
		}
		if p.TimeZone == "" {
			p.TimeZone = old.TimeZone
		}
		p.InstallerID, p.Created = old.InstallerID, old.Created
		tx.changed(model.AutoPChange{ProjectIDs: []int64{p.ID}})
		if _, err := tx.exec(ctx, `UPDATE projects SET name = ?, manager = ?, address = ?, time_zone = ? WHERE id = ?`,
			p.Name, p.Manager, p.Address, p.TimeZone, p.ID); err != nil {
			return err
		}
		return s.audit(ctx, tx, "project.update", "project", p.ID, auditChanges(
			"name", old.Name, p.Name, "manager", old.Manager, p.Manager, "address", old.Address, p.Address,
			"time_zone", old.TimeZone, p.TimeZone))
	})
}

// changes describes what an update changed, for the audit log: name, old,
// new triples; unchanged values are left out.
func auditChanges(kv ...any) map[string]any {
	out := map[string]any{}
	for i := 0; i+2 < len(kv); i += 3 {
		if fmt.Sprint(kv[i+1]) != fmt.Sprint(kv[i+2]) {
			out[kv[i].(string)] = map[string]any{"from": kv[i+1], "to": kv[i+2]}
		}
	}
	return out
}

// ProjectContents counts what a project holds: what deleting it removes.
type ProjectContents struct {
	Buildings   int `json:"buildings"`
	Apartments  int `json:"apartments"`
	Departments int `json:"departments"`
	EndUsers    int `json:"end_users"`
	Devices     int `json:"devices"`
	Cameras     int `json:"cameras"`
}

// Total is the number of things in the project.
func (c ProjectContents) Total() int {
	return c.Buildings + c.Apartments + c.Departments + c.EndUsers + c.Devices + c.Cameras
}

func (s *Store) projectContents(ctx context.Context, q querier, id int64) (*ProjectContents, error) {
	var c ProjectContents
	err := q.QueryRowContext(ctx, s.q(`SELECT
		(SELECT count(*) FROM buildings WHERE project_id = ?),
		(SELECT count(*) FROM apartments a JOIN buildings b ON b.id = a.building_id WHERE b.project_id = ?),
		(SELECT count(*) FROM departments WHERE project_id = ?),
		(SELECT count(*) FROM end_users WHERE project_id = ?),
		(SELECT count(*) FROM devices WHERE project_id = ?),
		(SELECT count(*) FROM third_party_devices WHERE project_id = ?)`), id, id, id, id, id, id).
		Scan(&c.Buildings, &c.Apartments, &c.Departments, &c.EndUsers, &c.Devices, &c.Cameras)
	return &c, err
}

// CountProjectContents tells what a project of the actor's subtree holds,
// for the confirmation before it is deleted.
func (s *Store) CountProjectContents(ctx context.Context, id int64) (*ProjectContents, error) {
	act, err := actor(ctx)
	if err != nil {
		return nil, err
	}
	if _, err := s.getProject(ctx, s.db, act, id); err != nil {
		return nil, err
	}
	return s.projectContents(ctx, s.db, id)
}

// DeleteProject deletes a project of the actor's subtree with everything in
// it — cameras, devices, end users, apartments, buildings, departments — in
// one transaction, and returns what went.
func (s *Store) DeleteProject(ctx context.Context, id int64) (*ProjectContents, error) {
	act, err := actor(ctx)
	if err != nil {
		return nil, err
	}
	var gone *ProjectContents
	err = s.inTx(ctx, func(tx *Tx) error {
		p, err := s.getProject(ctx, tx.tx, act, id)
		if err != nil {
			return err
		}
		if gone, err = s.projectContents(ctx, tx.tx, id); err != nil {
			return err
		}
		tx.changed(model.AutoPChange{ProjectIDs: []int64{id}})
		for _, q := range []string{
			`DELETE FROM third_party_devices WHERE project_id = ?`,
			`DELETE FROM devices WHERE project_id = ?`,
			// Members first: they point at their family master.
			`DELETE FROM end_users WHERE project_id = ? AND family_master_id IS NOT NULL`,
			`DELETE FROM end_users WHERE project_id = ?`,
			`DELETE FROM apartments WHERE building_id IN (SELECT id FROM buildings WHERE project_id = ?)`,
			`DELETE FROM buildings WHERE project_id = ?`,
			`DELETE FROM departments WHERE project_id = ?`,
			`DELETE FROM projects WHERE id = ?`,
		} {
			if _, err := tx.exec(ctx, q, id); err != nil {
				return err
			}
		}
		return s.audit(ctx, tx, "project.delete", "project", id, map[string]any{"kind": p.Kind, "name": p.Name,
			"buildings": gone.Buildings, "apartments": gone.Apartments, "departments": gone.Departments,
			"end_users": gone.EndUsers, "devices": gone.Devices, "cameras": gone.Cameras})
	})
	if err != nil {
		return nil, err
	}
	return gone, nil
}

// validName checks the name of a building or department.
func validPlaceName(name string) error {
	if name == "" || len(name) > 64 {
		return model.Invalid("name", "is required, at most 64 characters")
	}
	return nil
}

// CreateBuilding adds a building to a community of the actor's subtree.
func (s *Store) CreateBuilding(ctx context.Context, b *model.Building) error {
	act, err := actor(ctx)
	if err != nil {
		return err
	}
	b.Name = strings.TrimSpace(b.Name)
	if err := validPlaceName(b.Name); err != nil {
		return err
	}
	return s.inTx(ctx, func(tx *Tx) error {
		p, err := s.getProject(ctx, tx.tx, act, b.ProjectID)
		if err != nil || p.Kind != model.ProjectCommunity {
			return model.Invalid("project_id", "no such community")
		}
		if err := tx.queryRow(ctx, `INSERT INTO buildings (project_id, name) VALUES (?,?) RETURNING id`, b.ProjectID, b.Name).Scan(&b.ID); err != nil {
			return err
		}
		return s.audit(ctx, tx, "building.create", "building", b.ID, map[string]any{"project_id": b.ProjectID, "name": b.Name})
	})
}

// BuildingRow is a building with the number of its apartments.
type BuildingRow struct {
	model.Building
	Apartments int `json:"apartments"`
}

// ListBuildings lists the buildings of a community of the actor's subtree.
func (s *Store) ListBuildings(ctx context.Context, projectID int64, page model.Page) (model.List[*BuildingRow], error) {
	act, err := actor(ctx)
	if err != nil {
		return model.List[*BuildingRow]{}, err
	}
	if _, err := s.getProject(ctx, s.db, act, projectID); err != nil {
		return model.List[*BuildingRow]{}, err
	}
	return list(ctx, s, "buildings b", "b.project_id = ?", "b.name, b.id",
		`b.id, b.project_id, b.name, (SELECT count(*) FROM apartments ca WHERE ca.building_id = b.id)`,
		[]any{projectID}, page, func(r scanner) (*BuildingRow, error) {
			var b BuildingRow
			err := r.Scan(&b.ID, &b.ProjectID, &b.Name, &b.Apartments)
			return &b, err
		})
}

// getBuilding returns a building whose community is in the actor's subtree.
func (s *Store) getBuilding(ctx context.Context, q querier, act *model.Actor, id int64) (*model.Building, error) {
	cond, args := installerScope(act, "p.installer_id")
	var b model.Building
	err := q.QueryRowContext(ctx, s.q(`SELECT b.id, b.project_id, b.name FROM buildings b JOIN projects p ON p.id = b.project_id
		WHERE b.id = ? AND `+cond), append([]any{id}, args...)...).Scan(&b.ID, &b.ProjectID, &b.Name)
	if isNoRows(err) {
		return nil, model.NotFound("building")
	}
	return &b, err
}

// GetBuilding returns a building of the actor's subtree.
func (s *Store) GetBuilding(ctx context.Context, id int64) (*model.Building, error) {
	act, err := actor(ctx)
	if err != nil {
		return nil, err
	}
	return s.getBuilding(ctx, s.db, act, id)
}

// UpdateBuilding renames a building of the actor's subtree.
func (s *Store) UpdateBuilding(ctx context.Context, b *model.Building) error {
	act, err := actor(ctx)
	if err != nil {
		return err
	}
	b.Name = strings.TrimSpace(b.Name)
	if err := validPlaceName(b.Name); err != nil {
		return err
	}
	return s.inTx(ctx, func(tx *Tx) error {
		old, err := s.getBuilding(ctx, tx.tx, act, b.ID)
		if err != nil {
			return err
		}
		b.ProjectID = old.ProjectID
		if _, err := tx.exec(ctx, `UPDATE buildings SET name = ? WHERE id = ?`, b.Name, b.ID); err != nil {
			return err
		}
		return s.audit(ctx, tx, "building.update", "building", b.ID, auditChanges("name", old.Name, b.Name))
	})
}

// inUse refuses to delete a place that still holds end users or devices:
// they would lose where they belong. The message says what is left.
func placeInUse(what, name string, users, devices int) error {
	if users == 0 && devices == 0 {
		return nil
	}
	return model.Errorf(model.ECONFLICT, "%s %s still holds %d end users and %d devices: move or delete them first.", what, name, users, devices)
}

// DeleteBuilding deletes a building of the actor's subtree with its
// apartments; a building whose apartments still hold end users or devices
// is refused.
func (s *Store) DeleteBuilding(ctx context.Context, id int64) error {
	act, err := actor(ctx)
	if err != nil {
		return err
	}
	return s.inTx(ctx, func(tx *Tx) error {
		b, err := s.getBuilding(ctx, tx.tx, act, id)
		if err != nil {
			return err
		}
		var users, devices, apts int
		if err := tx.queryRow(ctx, `SELECT
			(SELECT count(*) FROM end_users WHERE apartment_id IN (SELECT id FROM apartments WHERE building_id = ?)),
			(SELECT count(*) FROM devices WHERE building_id = ? OR apartment_id IN (SELECT id FROM apartments WHERE building_id = ?)),
			(SELECT count(*) FROM apartments WHERE building_id = ?)`, id, id, id, id).Scan(&users, &devices, &apts); err != nil {
			return err
		}
		if err := placeInUse("Building", b.Name, users, devices); err != nil {
			return err
		}
		if _, err := tx.exec(ctx, `DELETE FROM apartments WHERE building_id = ?`, id); err != nil {
			return err
		}
		if _, err := tx.exec(ctx, `DELETE FROM buildings WHERE id = ?`, id); err != nil {
			return err
		}
		return s.audit(ctx, tx, "building.delete", "building", id, map[string]any{"project_id": b.ProjectID, "name": b.Name, "apartments": apts})
	})
}

func validApartment(a *model.Apartment) error {
	a.Floor, a.Number, a.Name = strings.TrimSpace(a.Floor), strings.TrimSpace(a.Number), strings.TrimSpace(a.Name)
	err := a.Validate()
	var v model.Validator
	for f, m := range model.ErrorFields(err) {
		v.Add(f, "%s", m)
	}
	v.Check(len(a.Floor) <= 16, "floor", "must be at most 16 characters")
	v.Check(len(a.Number) <= 16, "number", "must be at most 16 characters")
	v.Check(len(a.Name) <= 64, "name", "must be at most 64 characters")
	return v.Err()
}

// CreateApartment adds an apartment to a building of the actor's subtree.
func (s *Store) CreateApartment(ctx context.Context, a *model.Apartment) error {
	act, err := actor(ctx)
	if err != nil {
		return err
	}
	if err := validApartment(a); err != nil {
		return err
	}
	return s.inTx(ctx, func(tx *Tx) error {
		if _, err := s.getBuilding(ctx, tx.tx, act, a.BuildingID); err != nil {
			return model.Invalid("building_id", "no such building")
		}
		if err := tx.queryRow(ctx, `INSERT INTO apartments (building_id, floor, number, name, family_member_limit)
			VALUES (?,?,?,?,?) RETURNING id`, a.BuildingID, a.Floor, a.Number, a.Name, a.FamilyMemberLimit).Scan(&a.ID); err != nil {
			return err
		}
		return s.audit(ctx, tx, "apartment.create", "apartment", a.ID, map[string]any{"building_id": a.BuildingID, "number": a.Number})
	})
}

// ApartmentFilter selects the apartments of one building or of a whole
// community.
type ApartmentFilter struct {
	BuildingID int64
	ProjectID  int64
	model.Page
}

// ApartmentRow is an apartment with its building and its household.
type ApartmentRow struct {
	model.Apartment
	ProjectID     int64  `json:"project_id"`
	Building      string `json:"building"`
	FamilyMaster  string `json:"family_master"`
	FamilyMembers int    `json:"family_members"`
	Devices       int    `json:"devices"`
}

// Label is how people name the apartment: "Building A-101".
func (a *ApartmentRow) Label() string { return apartmentLabel(a.Building, a.Number) }

func apartmentLabel(building, number string) string { return building + "-" + number }

const apartmentRowCols = `a.id, a.building_id, a.floor, a.number, a.name, a.family_member_limit, b.project_id, b.name,
	coalesce((SELECT min(m.name) FROM end_users m WHERE m.apartment_id = a.id AND m.role = 'family_master'), ''),
	(SELECT count(*) FROM end_users m WHERE m.apartment_id = a.id AND m.role = 'family_member'),
	(SELECT count(*) FROM devices d WHERE d.apartment_id = a.id)`

func scanApartmentRow(r scanner) (*ApartmentRow, error) {
	var a ApartmentRow
	err := r.Scan(&a.ID, &a.BuildingID, &a.Floor, &a.Number, &a.Name, &a.FamilyMemberLimit, &a.ProjectID, &a.Building,
		&a.FamilyMaster, &a.FamilyMembers, &a.Devices)
	return &a, err
}

// ListApartments lists the apartments of a building, or of every building
// of a community, of the actor's subtree, in building and number order.
func (s *Store) ListApartments(ctx context.Context, f ApartmentFilter) (model.List[*ApartmentRow], error) {
	act, err := actor(ctx)
	if err != nil {
		return model.List[*ApartmentRow]{}, err
	}
	var where string
	var args []any
	switch {
	case f.BuildingID != 0:
		if _, err := s.getBuilding(ctx, s.db, act, f.BuildingID); err != nil {
			return model.List[*ApartmentRow]{}, err
		}
		where, args = "a.building_id = ?", []any{f.BuildingID}
	case f.ProjectID != 0:
		if _, err := s.getProject(ctx, s.db, act, f.ProjectID); err != nil {
			return model.List[*ApartmentRow]{}, err
		}
		where, args = "b.project_id = ?", []any{f.ProjectID}
	default:
		return model.List[*ApartmentRow]{}, model.Invalid("building_id", "is required")
	}
	return list(ctx, s, "apartments a JOIN buildings b ON b.id = a.building_id", where,
		"b.name, b.id, length(a.floor), a.floor, length(a.number), a.number, a.id", apartmentRowCols, args, f.Page, scanApartmentRow)
}

func (s *Store) getApartment(ctx context.Context, q querier, act *model.Actor, id int64) (*ApartmentRow, error) {
	cond, args := installerScope(act, "p.installer_id")
	a, err := scanApartmentRow(q.QueryRowContext(ctx, s.q(`SELECT `+apartmentRowCols+` FROM apartments a
		JOIN buildings b ON b.id = a.building_id JOIN projects p ON p.id = b.project_id WHERE a.id = ? AND `+cond),
		append([]any{id}, args...)...))
	if isNoRows(err) {
		return nil, model.NotFound("apartment")
	}
	return a, err
}

// GetApartment returns an apartment of the actor's subtree with its
// building and household.
func (s *Store) GetApartment(ctx context.Context, id int64) (*ApartmentRow, error) {
	act, err := actor(ctx)
	if err != nil {
		return nil, err
	}
	return s.getApartment(ctx, s.db, act, id)
}

// UpdateApartment saves the floor, number, name and family member limit of
// an apartment of the actor's subtree. The limit cannot go below the family
// members the apartment already has.
func (s *Store) UpdateApartment(ctx context.Context, a *model.Apartment) error {
	act, err := actor(ctx)
	if err != nil {
		return err
	}
	if err := validApartment(a); err != nil {
		return err
	}
	return s.inTx(ctx, func(tx *Tx) error {
		old, err := s.getApartment(ctx, tx.tx, act, a.ID)
		if err != nil {
			return err
		}
		a.BuildingID = old.BuildingID
		if a.FamilyMemberLimit < old.FamilyMembers {
			return model.Invalid("family_member_limit", "must be at least %d: the apartment already has %d family members", old.FamilyMembers, old.FamilyMembers)
		}
		if _, err := tx.exec(ctx, `UPDATE apartments SET floor = ?, number = ?, name = ?, family_member_limit = ? WHERE id = ?`,
			a.Floor, a.Number, a.Name, a.FamilyMemberLimit, a.ID); err != nil {
			return err
		}
		return s.audit(ctx, tx, "apartment.update", "apartment", a.ID, auditChanges("floor", old.Floor, a.Floor,
			"number", old.Number, a.Number, "name", old.Name, a.Name, "family_member_limit", old.FamilyMemberLimit, a.FamilyMemberLimit))
	})
}

// DeleteApartment deletes an empty apartment of the actor's subtree; one
// that still holds end users or devices is refused.
func (s *Store) DeleteApartment(ctx context.Context, id int64) error {
	act, err := actor(ctx)
	if err != nil {
		return err
	}
	return s.inTx(ctx, func(tx *Tx) error {
		a, err := s.getApartment(ctx, tx.tx, act, id)
		if err != nil {
			return err
		}
		var users int
		if err := tx.queryRow(ctx, `SELECT count(*) FROM end_users WHERE apartment_id = ?`, id).Scan(&users); err != nil {
			return err
		}
		if err := placeInUse("Apartment", a.Label(), users, a.Devices); err != nil {
			return err
		}
		if _, err := tx.exec(ctx, `DELETE FROM apartments WHERE id = ?`, id); err != nil {
			return err
		}
		return s.audit(ctx, tx, "apartment.delete", "apartment", id, map[string]any{"building_id": a.BuildingID, "number": a.Number})
	})
}

// CreateDepartment adds a department to an office of the actor's subtree.
func (s *Store) CreateDepartment(ctx context.Context, d *model.Department) error {
	act, err := actor(ctx)
	if err != nil {
		return err
	}
	d.Name = strings.TrimSpace(d.Name)
	if err := validPlaceName(d.Name); err != nil {
		return err
	}
	return s.inTx(ctx, func(tx *Tx) error {
		p, err := s.getProject(ctx, tx.tx, act, d.ProjectID)
		if err != nil || p.Kind != model.ProjectOffice {
			return model.Invalid("project_id", "no such office")
		}
		if err := tx.queryRow(ctx, `INSERT INTO departments (project_id, name) VALUES (?,?) RETURNING id`, d.ProjectID, d.Name).Scan(&d.ID); err != nil {
			return err
		}
		return s.audit(ctx, tx, "department.create", "department", d.ID, map[string]any{"project_id": d.ProjectID, "name": d.Name})
	})
}

// DepartmentRow is a department with its staff and devices counted.
type DepartmentRow struct {
	model.Department
	EndUsers int `json:"end_users"`
	Devices  int `json:"devices"`
}

const departmentRowCols = `dp.id, dp.project_id, dp.name,
	(SELECT count(*) FROM end_users u WHERE u.department_id = dp.id),
	(SELECT count(*) FROM devices d WHERE d.department_id = dp.id)`

func scanDepartmentRow(r scanner) (*DepartmentRow, error) {
	var d DepartmentRow
	err := r.Scan(&d.ID, &d.ProjectID, &d.Name, &d.EndUsers, &d.Devices)
	return &d, err
}

// ListDepartments lists the departments of an office of the actor's subtree.
func (s *Store) ListDepartments(ctx context.Context, projectID int64, page model.Page) (model.List[*DepartmentRow], error) {
	act, err := actor(ctx)
	if err != nil {
		return model.List[*DepartmentRow]{}, err
	}
	if _, err := s.getProject(ctx, s.db, act, projectID); err != nil {
		return model.List[*DepartmentRow]{}, err
	}
	return list(ctx, s, "departments dp", "dp.project_id = ?", "dp.name, dp.id", departmentRowCols, []any{projectID}, page, scanDepartmentRow)
}

func (s *Store) getDepartment(ctx context.Context, q querier, act *model.Actor, id int64) (*DepartmentRow, error) {
	cond, args := installerScope(act, "p.installer_id")
	d, err := scanDepartmentRow(q.QueryRowContext(ctx, s.q(`SELECT `+departmentRowCols+` FROM departments dp
		JOIN projects p ON p.id = dp.project_id WHERE dp.id = ? AND `+cond), append([]any{id}, args...)...))
	if isNoRows(err) {
		return nil, model.NotFound("department")
	}
	return d, err
}

// GetDepartment returns a department of the actor's subtree.
func (s *Store) GetDepartment(ctx context.Context, id int64) (*DepartmentRow, error) {
	act, err := actor(ctx)
	if err != nil {
		return nil, err
	}
	return s.getDepartment(ctx, s.db, act, id)
}

// UpdateDepartment renames a department of the actor's subtree.
func (s *Store) UpdateDepartment(ctx context.Context, d *model.Department) error {
	act, err := actor(ctx)
	if err != nil {
		return err
	}
	d.Name = strings.TrimSpace(d.Name)
	if err := validPlaceName(d.Name); err != nil {
		return err
	}
	return s.inTx(ctx, func(tx *Tx) error {
		old, err := s.getDepartment(ctx, tx.tx, act, d.ID)
		if err != nil {
			return err
		}
		d.ProjectID = old.ProjectID
		if _, err := tx.exec(ctx, `UPDATE departments SET name = ? WHERE id = ?`, d.Name, d.ID); err != nil {
			return err
		}
		return s.audit(ctx, tx, "department.update", "department", d.ID, auditChanges("name", old.Name, d.Name))
	})
}

// DeleteDepartment deletes an empty department of the actor's subtree; one
// that still has staff or devices is refused.
func (s *Store) DeleteDepartment(ctx context.Context, id int64) error {
	act, err := actor(ctx)
	if err != nil {
		return err
	}
	return s.inTx(ctx, func(tx *Tx) error {
		d, err := s.getDepartment(ctx, tx.tx, act, id)
		if err != nil {
			return err
		}
		if err := placeInUse("Department", d.Name, d.EndUsers, d.Devices); err != nil {
			return err
		}
		if _, err := tx.exec(ctx, `DELETE FROM departments WHERE id = ?`, id); err != nil {
			return err
		}
		return s.audit(ctx, tx, "department.delete", "department", id, map[string]any{"project_id": d.ProjectID, "name": d.Name})
	})
}
