package store

import (
	"context"
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

// CreateBuilding adds a building to a community of the actor's subtree.
func (s *Store) CreateBuilding(ctx context.Context, b *model.Building) error {
	act, err := actor(ctx)
	if err != nil {
		return err
	}
	b.Name = strings.TrimSpace(b.Name)
	if b.Name == "" || len(b.Name) > 64 {
		return model.Invalid("name", "is required, at most 64 characters")
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

// CreateApartment adds an apartment to a building of the actor's subtree.
func (s *Store) CreateApartment(ctx context.Context, a *model.Apartment) error {
	act, err := actor(ctx)
	if err != nil {
		return err
	}
	if err := a.Validate(); err != nil {
		return err
	}
	return s.inTx(ctx, func(tx *Tx) error {
		cond, args := installerScope(act, "p.installer_id")
		var pid int64
		err := tx.queryRow(ctx, `SELECT p.id FROM buildings b JOIN projects p ON p.id = b.project_id WHERE b.id = ? AND `+cond,
			append([]any{a.BuildingID}, args...)...).Scan(&pid)
		if isNoRows(err) {
			return model.Invalid("building_id", "no such building")
		} else if err != nil {
			return err
		}
		if err := tx.queryRow(ctx, `INSERT INTO apartments (building_id, floor, number, name, family_member_limit)
			VALUES (?,?,?,?,?) RETURNING id`, a.BuildingID, a.Floor, a.Number, a.Name, a.FamilyMemberLimit).Scan(&a.ID); err != nil {
			return err
		}
		return s.audit(ctx, tx, "apartment.create", "apartment", a.ID, map[string]any{"building_id": a.BuildingID, "number": a.Number})
	})
}

// CreateDepartment adds a department to an office of the actor's subtree.
func (s *Store) CreateDepartment(ctx context.Context, d *model.Department) error {
	act, err := actor(ctx)
	if err != nil {
		return err
	}
	d.Name = strings.TrimSpace(d.Name)
	if d.Name == "" || len(d.Name) > 64 {
		return model.Invalid("name", "is required, at most 64 characters")
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
