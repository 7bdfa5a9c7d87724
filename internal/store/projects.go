package store

import (
	"context"
	"fmt"
	"slices"
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
	if failed(err) {
		return nil, err
	}
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
	return s.readProject(ctx, q, act, id, "")
}

// readProject reads a project of the actor's subtree; lock is appended to
// the query (s.lockFor(" FOR UPDATE") to hold the row until the commit).
func (s *Store) readProject(ctx context.Context, q querier, act *model.Actor, id int64, lock string) (*model.Project, error) {
	cond, args := installerScope(act, "p.installer_id")
	p, err := scanProject(q.QueryRowContext(ctx, s.q(`SELECT `+projectCols+` FROM projects p WHERE p.id = ? AND `+cond+lock), append([]any{id}, args...)...))
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

// ProjectEdit is what an edit of a project changes; a nil field keeps the
// stored value.
type ProjectEdit struct {
	Kind     *model.ProjectKind // cannot change: a different kind is refused ("" keeps it)
	Name     *string
	Manager  *string
	Address  *string
	TimeZone *string // "" keeps the stored time zone
}

// UpdateProject applies an edit to the name, manager, address and time zone
// of a project of the actor's subtree and returns the project as saved. The
// edit is merged into the row read (and locked) in the writing transaction,
// so two edits of different fields at once both land. The kind of a project
// cannot change: its buildings or departments depend on it.
func (s *Store) UpdateProject(ctx context.Context, id int64, e ProjectEdit) (*model.Project, error) {
	act, err := actor(ctx)
	if err != nil {
		return nil, err
	}
	var p model.Project
	err = s.inTx(ctx, func(tx *Tx) error {
		old, err := s.readProject(ctx, tx.tx, act, id, s.lockFor(" FOR UPDATE"))
		if err != nil {
			return err
		}
		p = *old
		if e.Kind != nil && *e.Kind != "" {
			p.Kind = *e.Kind
		}
		for _, f := range []struct{ dst, src *string }{{&p.Name, e.Name}, {&p.Manager, e.Manager}, {&p.Address, e.Address}} {
			if f.src != nil {
				*f.dst = *f.src
			}
		}
		if e.TimeZone != nil && *e.TimeZone != "" {
			p.TimeZone = *e.TimeZone
		}
		p.Address = strings.TrimSpace(p.Address)
		if err := p.Validate(); err != nil {
			return err
		}
		if p.Kind != old.Kind {
			return model.Invalid("kind", "cannot be changed: a %s stays a %s", old.Kind, old.Kind)
		}
		tx.changed(model.AutoPChange{ProjectIDs: []int64{p.ID}})
		if _, err := tx.exec(ctx, `UPDATE projects SET name = ?, manager = ?, address = ?, time_zone = ? WHERE id = ?`,
			p.Name, p.Manager, p.Address, p.TimeZone, p.ID); err != nil {
			return err
		}
		return s.audit(ctx, tx, "project.update", "project", p.ID, auditChanges(
			"name", old.Name, p.Name, "manager", old.Manager, p.Manager, "address", old.Address, p.Address,
			"time_zone", old.TimeZone, p.TimeZone))
	})
	if err != nil {
		return nil, err
	}
	return &p, nil
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

// deviceMACsOf reads the MACs of the devices whose column (installer_id,
// project_id) is id, in tx: those a deletion is about to remove.
func (s *Store) deviceMACsOf(ctx context.Context, tx *Tx, column string, id int64) ([]string, error) {
	rows, err := tx.query(ctx, `SELECT mac FROM devices WHERE `+column+` = ?`, id)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var macs []string
	for rows.Next() {
		var mac string
		if err := rows.Scan(&mac); err != nil {
			return nil, err
		}
		macs = append(macs, mac)
	}
	return macs, rows.Err()
}

// ProjectDeleted is what deleting a project removed.
type ProjectDeleted struct {
	ProjectContents
	// DeviceMACs are the devices removed: their connections are to be
	// closed.
	DeviceMACs []string `json:"-"`
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
// one transaction, and returns what went (with the MACs of its devices).
func (s *Store) DeleteProject(ctx context.Context, id int64) (*ProjectDeleted, error) {
	act, err := actor(ctx)
	if err != nil {
		return nil, err
	}
	gone := &ProjectDeleted{}
	err = s.inTx(ctx, func(tx *Tx) error {
		p, err := s.getProject(ctx, tx.tx, act, id)
		if err != nil {
			return err
		}
		c, err := s.projectContents(ctx, tx.tx, id)
		if err != nil {
			return err
		}
		gone.ProjectContents = *c
		if gone.DeviceMACs, err = s.deviceMACsOf(ctx, tx, "project_id", id); err != nil {
			return err
		}
		tx.changed(model.AutoPChange{ProjectIDs: []int64{id}, MACs: gone.DeviceMACs})
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

// Buildings, apartments and departments are the places inside a project.
// Their create, update and delete are one implementation (placeTable's
// methods); what differs — columns, limits, which parent, what keeps a
// place in use — is each table's description below.

// placeTable describes a table of places for the writes they share.
type placeTable[T any] struct {
	object string   // the audit log's object type and action prefix: "building"
	label  string   // how a message names one: "Building"
	table  string   // "buildings"
	cols   []string // what a create writes, the parent's column first; an update writes the rest
	values func(T) []any
	ids    func(T) (id, parentID *int64)
	// validate trims and checks what a person typed.
	validate func(T) error
	// parent refuses, as an invalid field, a parent outside the actor's
	// subtree or of the wrong kind.
	parent func(ctx context.Context, s *Store, q querier, act *model.Actor, id int64) error
	// get reads a place of the actor's subtree (or not found) and the name
	// messages give it.
	get func(ctx context.Context, s *Store, q querier, act *model.Actor, id int64) (T, string, error)
	// checkUpdate is a rule an update must keep against what is stored
	// (nil: none).
	checkUpdate func(ctx context.Context, tx *Tx, edited T) error
	// inUse counts the end users and devices still in a place (every ? is
	// its id): a place in use is not deleted.
	inUse string
	// cascade deletes what goes with a place (? is its id); the audit log
	// counts the rows under the key.
	cascade []placeCascade
	// logged names a place in the audit log when it comes and goes.
	logged func(T) map[string]any
}

type placeCascade struct{ auditKey, query string }

var buildingTable = placeTable[*model.Building]{
	object: "building", label: "Building", table: "buildings", cols: []string{"project_id", "name"},
	values:   func(b *model.Building) []any { return []any{b.ProjectID, b.Name} },
	ids:      func(b *model.Building) (*int64, *int64) { return &b.ID, &b.ProjectID },
	validate: func(b *model.Building) error { return validPlaceName(&b.Name) },
	parent:   projectOfKind(model.ProjectCommunity, "no such community"),
	get: func(ctx context.Context, s *Store, q querier, act *model.Actor, id int64) (*model.Building, string, error) {
		b, err := s.getBuilding(ctx, q, act, id)
		if err != nil {
			return nil, "", err
		}
		return b, b.Name, nil
	},
	inUse: `SELECT
		(SELECT count(*) FROM end_users WHERE apartment_id IN (SELECT id FROM apartments WHERE building_id = ?)),
		(SELECT count(*) FROM devices WHERE building_id = ? OR apartment_id IN (SELECT id FROM apartments WHERE building_id = ?))`,
	cascade: []placeCascade{{"apartments", `DELETE FROM apartments WHERE building_id = ?`}},
	logged: func(b *model.Building) map[string]any {
		return map[string]any{"project_id": b.ProjectID, "name": b.Name}
	},
}

var apartmentTable = placeTable[*model.Apartment]{
	object: "apartment", label: "Apartment", table: "apartments",
	cols: []string{"building_id", "floor", "number", "name", "family_member_limit"},
	values: func(a *model.Apartment) []any {
		return []any{a.BuildingID, a.Floor, a.Number, a.Name, a.FamilyMemberLimit}
	},
	ids:      func(a *model.Apartment) (*int64, *int64) { return &a.ID, &a.BuildingID },
	validate: validApartment,
	parent: func(ctx context.Context, s *Store, q querier, act *model.Actor, id int64) error {
		if _, err := s.getBuilding(ctx, q, act, id); err != nil {
			return model.Invalid("building_id", "no such building")
		}
		return nil
	},
	get: func(ctx context.Context, s *Store, q querier, act *model.Actor, id int64) (*model.Apartment, string, error) {
		a, err := s.getApartment(ctx, q, act, id)
		if err != nil {
			return nil, "", err
		}
		return &a.Apartment, a.Label(), nil
	},
	// The limit cannot go below the family members the apartment has.
	checkUpdate: func(ctx context.Context, tx *Tx, a *model.Apartment) error {
		var members int
		if err := tx.queryRow(ctx, `SELECT count(*) FROM end_users WHERE apartment_id = ? AND role = 'family_member'`, a.ID).Scan(&members); err != nil {
			return err
		}
		if a.FamilyMemberLimit < members {
			return model.Invalid("family_member_limit", "must be at least %d: the apartment already has %d family members", members, members)
		}
		return nil
	},
	inUse: `SELECT (SELECT count(*) FROM end_users WHERE apartment_id = ?), (SELECT count(*) FROM devices WHERE apartment_id = ?)`,
	logged: func(a *model.Apartment) map[string]any {
		return map[string]any{"building_id": a.BuildingID, "number": a.Number}
	},
}

var departmentTable = placeTable[*model.Department]{
	object: "department", label: "Department", table: "departments", cols: []string{"project_id", "name"},
	values:   func(d *model.Department) []any { return []any{d.ProjectID, d.Name} },
	ids:      func(d *model.Department) (*int64, *int64) { return &d.ID, &d.ProjectID },
	validate: func(d *model.Department) error { return validPlaceName(&d.Name) },
	parent:   projectOfKind(model.ProjectOffice, "no such office"),
	get: func(ctx context.Context, s *Store, q querier, act *model.Actor, id int64) (*model.Department, string, error) {
		d, err := s.getDepartment(ctx, q, act, id)
		if err != nil {
			return nil, "", err
		}
		return &d.Department, d.Name, nil
	},
	inUse: `SELECT (SELECT count(*) FROM end_users WHERE department_id = ?), (SELECT count(*) FROM devices WHERE department_id = ?)`,
	logged: func(d *model.Department) map[string]any {
		return map[string]any{"project_id": d.ProjectID, "name": d.Name}
	},
}

// projectOfKind is the parent rule of buildings (a community) and
// departments (an office).
func projectOfKind(kind model.ProjectKind, refusal string) func(context.Context, *Store, querier, *model.Actor, int64) error {
	return func(ctx context.Context, s *Store, q querier, act *model.Actor, id int64) error {
		p, err := s.getProject(ctx, q, act, id)
		if failed(err) {
			return err
		}
		if err != nil || p.Kind != kind {
			return model.Invalid("project_id", "%s", refusal)
		}
		return nil
	}
}

// validPlaceName trims and checks the name of a building or department.
func validPlaceName(name *string) error {
	*name = strings.TrimSpace(*name)
	if *name == "" || len(*name) > 64 {
		return model.Invalid("name", "is required, at most 64 characters")
	}
	return nil
}

func validApartment(a *model.Apartment) error {
	a.Floor, a.Number, a.Name = strings.TrimSpace(a.Floor), strings.TrimSpace(a.Number), strings.TrimSpace(a.Name)
	err := a.Validate()
	var v model.Validator
	v.Merge(err)
	v.Check(len(a.Floor) <= 16, "floor", "must be at most 16 characters")
	v.Check(len(a.Number) <= 16, "number", "must be at most 16 characters")
	v.Check(len(a.Name) <= 64, "name", "must be at most 64 characters")
	return v.Err()
}

// create adds a place to a parent of the actor's subtree.
func (t placeTable[T]) create(ctx context.Context, s *Store, x T) error {
	act, err := actor(ctx)
	if err != nil {
		return err
	}
	if err := t.validate(x); err != nil {
		return err
	}
	id, parentID := t.ids(x)
	return s.inTx(ctx, func(tx *Tx) error {
		if err := t.parent(ctx, s, tx.tx, act, *parentID); err != nil {
			return err
		}
		marks := strings.TrimSuffix(strings.Repeat("?,", len(t.cols)), ",")
		if err := tx.queryRow(ctx, `INSERT INTO `+t.table+` (`+strings.Join(t.cols, ", ")+`) VALUES (`+marks+`) RETURNING id`,
			t.values(x)...).Scan(id); err != nil {
			return err
		}
		return s.audit(ctx, tx, t.object+".create", t.object, *id, t.logged(x))
	})
}

// update applies edit to a place of the actor's subtree, as stored, and
// saves it; its parent stays. It returns the place as saved. The row is read
// (and locked) in the writing transaction, so two edits of different fields
// at once both land.
func (t placeTable[T]) update(ctx context.Context, s *Store, id int64, edit func(T) error) (T, error) {
	var saved T
	act, err := actor(ctx)
	if err != nil {
		return saved, err
	}
	err = s.inTx(ctx, func(tx *Tx) error {
		if lock := s.lockFor(" FOR UPDATE"); lock != "" {
			if _, err := tx.exec(ctx, `SELECT id FROM `+t.table+` WHERE id = ?`+lock, id); err != nil {
				return err
			}
		}
		x, _, err := t.get(ctx, s, tx.tx, act, id)
		if err != nil {
			return err
		}
		before := t.values(x)
		_, parentID := t.ids(x)
		parent := *parentID
		if err := edit(x); err != nil {
			return err
		}
		xID, parentID := t.ids(x)
		*xID, *parentID = id, parent
		if err := t.validate(x); err != nil {
			return err
		}
		if t.checkUpdate != nil {
			if err := t.checkUpdate(ctx, tx, x); err != nil {
				return err
			}
		}
		set := strings.Join(t.cols[1:], " = ?, ") + " = ?"
		if _, err := tx.exec(ctx, `UPDATE `+t.table+` SET `+set+` WHERE id = ?`, append(t.values(x)[1:], id)...); err != nil {
			return err
		}
		var changes []any
		for i, col := range t.cols[1:] {
			changes = append(changes, col, before[i+1], t.values(x)[i+1])
		}
		saved = x
		return s.audit(ctx, tx, t.object+".update", t.object, id, auditChanges(changes...))
	})
	return saved, err
}

// remove deletes a place of the actor's subtree with what goes with it; a
// place that still holds end users or devices is refused: they would lose
// where they belong.
func (t placeTable[T]) remove(ctx context.Context, s *Store, id int64) error {
	act, err := actor(ctx)
	if err != nil {
		return err
	}
	return s.inTx(ctx, func(tx *Tx) error {
		x, name, err := t.get(ctx, s, tx.tx, act, id)
		if err != nil {
			return err
		}
		var users, devices int
		ids := slices.Repeat([]any{id}, strings.Count(t.inUse, "?"))
		if err := tx.queryRow(ctx, t.inUse, ids...).Scan(&users, &devices); err != nil {
			return err
		}
		if users != 0 || devices != 0 {
			return model.Errorf(model.ECONFLICT, "%s %s still holds %d end users and %d devices: move or delete them first.",
				t.label, name, users, devices)
		}
		logged := t.logged(x)
		for _, c := range t.cascade {
			res, err := tx.exec(ctx, c.query, id)
			if err != nil {
				return err
			}
			n, err := res.RowsAffected()
			if err != nil {
				return err
			}
			logged[c.auditKey] = n
		}
		if _, err := tx.exec(ctx, `DELETE FROM `+t.table+` WHERE id = ?`, id); err != nil {
			return err
		}
		return s.audit(ctx, tx, t.object+".delete", t.object, id, logged)
	})
}

// CreateBuilding adds a building to a community of the actor's subtree.
func (s *Store) CreateBuilding(ctx context.Context, b *model.Building) error {
	return buildingTable.create(ctx, s, b)
}

// UpdateBuilding renames a building of the actor's subtree.
func (s *Store) UpdateBuilding(ctx context.Context, b *model.Building) error {
	saved, err := buildingTable.update(ctx, s, b.ID, func(x *model.Building) error { x.Name = b.Name; return nil })
	if err == nil {
		*b = *saved
	}
	return err
}

// DeleteBuilding deletes a building of the actor's subtree with its
// apartments; a building whose apartments still hold end users or devices
// is refused.
func (s *Store) DeleteBuilding(ctx context.Context, id int64) error {
	return buildingTable.remove(ctx, s, id)
}

// CreateApartment adds an apartment to a building of the actor's subtree.
func (s *Store) CreateApartment(ctx context.Context, a *model.Apartment) error {
	return apartmentTable.create(ctx, s, a)
}

// UpdateApartment saves the floor, number, name and family member limit of
// an apartment of the actor's subtree. The limit cannot go below the family
// members the apartment already has.
//
// edit changes the stored apartment to what is to be saved, inside the
// writing transaction (it only sets fields; an error it returns is returned
// as it is). It returns the apartment as saved.
func (s *Store) UpdateApartment(ctx context.Context, id int64, edit func(*model.Apartment) error) (*model.Apartment, error) {
	return apartmentTable.update(ctx, s, id, edit)
}

// DeleteApartment deletes an empty apartment of the actor's subtree; one
// that still holds end users or devices is refused.
func (s *Store) DeleteApartment(ctx context.Context, id int64) error {
	return apartmentTable.remove(ctx, s, id)
}

// CreateDepartment adds a department to an office of the actor's subtree.
func (s *Store) CreateDepartment(ctx context.Context, d *model.Department) error {
	return departmentTable.create(ctx, s, d)
}

// UpdateDepartment renames a department of the actor's subtree.
func (s *Store) UpdateDepartment(ctx context.Context, d *model.Department) error {
	saved, err := departmentTable.update(ctx, s, d.ID, func(x *model.Department) error { x.Name = d.Name; return nil })
	if err == nil {
		*d = *saved
	}
	return err
}

// DeleteDepartment deletes an empty department of the actor's subtree; one
// that still has staff or devices is refused.
func (s *Store) DeleteDepartment(ctx context.Context, id int64) error {
	return departmentTable.remove(ctx, s, id)
}

// scopedPlace reads one row of a place whose project is in the actor's
// subtree: query selects it by id and has the projects table as p.
func scopedPlace[T any](ctx context.Context, s *Store, q querier, act *model.Actor, what, query string, scan func(scanner) (T, error), id int64) (T, error) {
	cond, args := installerScope(act, "p.installer_id")
	x, err := scan(q.QueryRowContext(ctx, s.q(query+` AND `+cond), append([]any{id}, args...)...))
	if isNoRows(err) {
		var none T
		return none, model.NotFound(what)
	}
	return x, err
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
	return scopedPlace(ctx, s, q, act, "building", `SELECT b.id, b.project_id, b.name FROM buildings b
		JOIN projects p ON p.id = b.project_id WHERE b.id = ?`, func(r scanner) (*model.Building, error) {
		var b model.Building
		err := r.Scan(&b.ID, &b.ProjectID, &b.Name)
		return &b, err
	}, id)
}

// GetBuilding returns a building of the actor's subtree.
func (s *Store) GetBuilding(ctx context.Context, id int64) (*model.Building, error) {
	act, err := actor(ctx)
	if err != nil {
		return nil, err
	}
	return s.getBuilding(ctx, s.db, act, id)
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
	return scopedPlace(ctx, s, q, act, "apartment", `SELECT `+apartmentRowCols+` FROM apartments a
		JOIN buildings b ON b.id = a.building_id JOIN projects p ON p.id = b.project_id WHERE a.id = ?`, scanApartmentRow, id)
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
	return scopedPlace(ctx, s, q, act, "department", `SELECT `+departmentRowCols+` FROM departments dp
		JOIN projects p ON p.id = dp.project_id WHERE dp.id = ?`, scanDepartmentRow, id)
}

// GetDepartment returns a department of the actor's subtree.
func (s *Store) GetDepartment(ctx context.Context, id int64) (*DepartmentRow, error) {
	act, err := actor(ctx)
	if err != nil {
		return nil, err
	}
	return s.getDepartment(ctx, s.db, act, id)
}
