package usecase

import (
	"context"

	"github.com/gatehouse-dev/gatehouse/internal/model"
	"github.com/gatehouse-dev/gatehouse/internal/store"
)

// The installer's projects — communities with buildings and apartments,
// offices with departments, single-tenant homes — as the installer portal
// and the API write them. The store checks tenancy and each table's rules
// inside its transaction; these use cases are the one place both transports
// call.

// CreateProject adds a community, office or single-tenant home for an
// installer of the caller's subtree (the caller itself when it is one).
func (c *Cases) CreateProject(ctx context.Context, p *model.Project) error {
	return c.internal(ctx, "creating the project", c.store.CreateProject(ctx, p))
}

// ProjectEdit is what an edit of a project changes; a nil field keeps the
// stored value.
type ProjectEdit = store.ProjectEdit

// UpdateProject saves an edit of a project of the caller's subtree and
// returns the project as saved. The store merges the edit into the row in
// its one transaction: concurrent edits of different fields both land.
func (c *Cases) UpdateProject(ctx context.Context, id int64, e ProjectEdit) (*model.Project, error) {
	p, err := c.store.UpdateProject(ctx, id, e)
	if err != nil {
		return nil, c.internal(ctx, "saving the project", err)
	}
	return p, nil
}

// DeleteProject deletes a project of the caller's subtree with everything
// in it, in one transaction, and returns what went. The connections of its
// devices are closed, on whichever node holds them.
func (c *Cases) DeleteProject(ctx context.Context, id int64) (*store.ProjectDeleted, error) {
	gone, err := c.store.DeleteProject(ctx, id)
	if err != nil {
		return nil, c.internal(ctx, "deleting the project", err)
	}
	c.deviceGatewayDeleted(ctx, gone.DeviceMACs...)
	return gone, nil
}

// projectsCreateIn adds a place to a parent of the caller's subtree. A
// parent outside it is not found, as everywhere else; the store, which
// checks the parent again inside its transaction, calls a parent it cannot
// use (another kind of project, or gone meanwhile) an invalid field.
func projectsCreateIn[P any](ctx context.Context, c *Cases, what string, parent func(context.Context, int64) (P, error), parentID int64,
	create func() error) error {
	if _, err := parent(ctx, parentID); err != nil {
		return c.internal(ctx, what, err)
	}
	return c.internal(ctx, what, create())
}

// CreateBuilding adds a building to a community.
func (c *Cases) CreateBuilding(ctx context.Context, b *model.Building) error {
	return projectsCreateIn(ctx, c, "adding the building", c.store.GetProject, b.ProjectID,
		func() error { return c.store.CreateBuilding(ctx, b) })
}

// UpdateBuilding renames a building; b's project is filled in.
func (c *Cases) UpdateBuilding(ctx context.Context, b *model.Building) error {
	return c.internal(ctx, "renaming the building", c.store.UpdateBuilding(ctx, b))
}

// DeleteBuilding deletes a building with its apartments; one whose
// apartments still hold end users or devices is refused.
func (c *Cases) DeleteBuilding(ctx context.Context, id int64) error {
	return c.internal(ctx, "deleting the building", c.store.DeleteBuilding(ctx, id))
}

// CreateApartment adds an apartment to a building.
func (c *Cases) CreateApartment(ctx context.Context, a *model.Apartment) error {
	return projectsCreateIn(ctx, c, "adding the apartment", c.store.GetBuilding, a.BuildingID,
		func() error { return c.store.CreateApartment(ctx, a) })
}

// UpdateApartment saves an edit of apartment id and returns it as saved;
// its family member limit cannot go below the family members it has. edit
// sets the fields that change on the stored row, inside the store's one
// transaction, so concurrent edits of different fields both land.
func (c *Cases) UpdateApartment(ctx context.Context, id int64, edit func(*model.Apartment) error) (*model.Apartment, error) {
	a, err := c.store.UpdateApartment(ctx, id, edit)
	return a, c.internal(ctx, "saving the apartment", err)
}

// DeleteApartment deletes an apartment that holds no end users or devices.
func (c *Cases) DeleteApartment(ctx context.Context, id int64) error {
	return c.internal(ctx, "deleting the apartment", c.store.DeleteApartment(ctx, id))
}

// CreateDepartment adds a department to an office.
func (c *Cases) CreateDepartment(ctx context.Context, d *model.Department) error {
	return projectsCreateIn(ctx, c, "adding the department", c.store.GetProject, d.ProjectID,
		func() error { return c.store.CreateDepartment(ctx, d) })
}

// UpdateDepartment renames a department; d's project is filled in.
func (c *Cases) UpdateDepartment(ctx context.Context, d *model.Department) error {
	return c.internal(ctx, "renaming the department", c.store.UpdateDepartment(ctx, d))
}

// DeleteDepartment deletes a department that has no staff or devices.
func (c *Cases) DeleteDepartment(ctx context.Context, id int64) error {
	return c.internal(ctx, "deleting the department", c.store.DeleteDepartment(ctx, id))
}
