package api

import (
	"context"
	"net/http"
	"strconv"

	"github.com/gatehouse-dev/gatehouse/internal/listquery"
	"github.com/gatehouse-dev/gatehouse/internal/model"
	"github.com/gatehouse-dev/gatehouse/internal/store"
	"github.com/gatehouse-dev/gatehouse/internal/usecase"
)

// The installer's projects: communities with buildings and apartments,
// offices with departments, single-tenant homes. Installers write; their
// ancestors read, as far as the store's scoping lets them.

// ListProjects searches the caller's projects by kind and name or manager.
func (a *API) ListProjects(w http.ResponseWriter, r *http.Request) error {
	var v model.Validator
	f := listquery.Projects(r.URL.Query(), &v)
	format := checkFormat(r, &v)
	if err := v.Err(); err != nil {
		return err
	}
	f.Page = exportPage(format, f.Page)
	l, err := a.Store.ListProjects(r.Context(), f)
	if err != nil {
		return err
	}
	return writeList(w, format, "projects", l,
		[]string{"id", "kind", "name", "manager", "address", "time_zone", "installer", "end_users", "devices", "created_at"},
		func(p *store.ProjectRow) []string {
			return []string{strconv.FormatInt(p.ID, 10), string(p.Kind), p.Name, p.Manager, p.Address, p.TimeZone, p.Installer,
				strconv.Itoa(p.EndUsers), strconv.Itoa(p.Devices), formatTime(p.Created)}
		})
}

type projectRequest struct {
	Kind     *string `json:"kind"`
	Name     *string `json:"name"`
	Manager  *string `json:"manager"`
	Address  *string `json:"address"`
	TimeZone *string `json:"time_zone"`
}

func (req projectRequest) apply(p *model.Project) {
	set := func(dst *string, src *string) {
		if src != nil {
			*dst = *src
		}
	}
	if req.Kind != nil {
		p.Kind = model.ProjectKind(*req.Kind)
	}
	set(&p.Name, req.Name)
	set(&p.Manager, req.Manager)
	set(&p.Address, req.Address)
	set(&p.TimeZone, req.TimeZone)
}

// CreateProject adds a community, office or single-tenant home.
func (a *API) CreateProject(w http.ResponseWriter, r *http.Request) error {
	var req projectRequest
	if err := decodeJSON(w, r, &req); err != nil {
		return err
	}
	p := &model.Project{}
	req.apply(p)
	if err := a.Cases.CreateProject(r.Context(), p); err != nil {
		return err
	}
	return writeJSON(w, http.StatusCreated, p)
}

type projectDetail struct {
	*model.Project
	Contents *store.ProjectContents `json:"contents"`
}

// GetProject returns a project with the counts of what it holds.
func (a *API) GetProject(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "id", "project")
	if err != nil {
		return err
	}
	p, err := a.Store.GetProject(r.Context(), id)
	if err != nil {
		return err
	}
	c, err := a.Store.CountProjectContents(r.Context(), id)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, projectDetail{p, c})
}

// UpdateProject changes a project's name, manager, address or time zone;
// omitted fields keep their value.
func (a *API) UpdateProject(w http.ResponseWriter, r *http.Request) error {
	return ipWrite(w, r, "project", http.StatusOK, func(ctx context.Context, id int64, req projectRequest) (*model.Project, error) {
		return a.Cases.UpdateProject(ctx, id, usecase.ProjectEdit{Kind: (*model.ProjectKind)(req.Kind), Name: req.Name,
			Manager: req.Manager, Address: req.Address, TimeZone: req.TimeZone})
	})
}

// DeleteProject deletes a project and everything in it, answering what went.
func (a *API) DeleteProject(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "id", "project")
	if err != nil {
		return err
	}
	gone, err := a.Cases.DeleteProject(r.Context(), id)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, map[string]any{"deleted": gone})
}

// Buildings, apartments and departments — and projects and cameras where
// they fit — are listed, added, changed and deleted alike through the id in
// the path: these helpers answer those requests; each handler says what it
// parses and which use case runs.

// ipListIn answers a GET of the children of the parent the path names:
// page, per_page and format=csv.
func ipListIn[T any](w http.ResponseWriter, r *http.Request, parent, name string,
	list func(ctx context.Context, parentID int64, page model.Page) (model.List[T], error), columns []string, row func(T) []string) error {
	id, err := pathID(r, "id", parent)
	if err != nil {
		return err
	}
	var v model.Validator
	page := model.ParsePage(r.URL.Query(), &v)
	format := checkFormat(r, &v)
	if err := v.Err(); err != nil {
		return err
	}
	l, err := list(r.Context(), id, exportPage(format, page))
	if err != nil {
		return err
	}
	return writeList(w, format, name, l, columns, row)
}

// ipWrite answers a POST or PATCH addressed by the path's id (the parent
// a child is added to, or the object changed): it decodes the body, runs
// the use case and answers status with what it returns.
func ipWrite[Req, T any](w http.ResponseWriter, r *http.Request, what string, status int,
	write func(ctx context.Context, id int64, req Req) (T, error)) error {
	id, err := pathID(r, "id", what)
	if err != nil {
		return err
	}
	var req Req
	if err := decodeJSON(w, r, &req); err != nil {
		return err
	}
	x, err := write(r.Context(), id, req)
	if err != nil {
		return err
	}
	return writeJSON(w, status, x)
}

// ipDelete answers a DELETE of what the path names: 204.
func ipDelete(w http.ResponseWriter, r *http.Request, what string, del func(ctx context.Context, id int64) error) error {
	id, err := pathID(r, "id", what)
	if err != nil {
		return err
	}
	if err := del(r.Context(), id); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

type nameRequest struct {
	Name string `json:"name"`
}

// ListBuildings lists the buildings of a community.
func (a *API) ListBuildings(w http.ResponseWriter, r *http.Request) error {
	return ipListIn(w, r, "project", "buildings", a.Store.ListBuildings, []string{"id", "name", "apartments"},
		func(b *store.BuildingRow) []string {
			return []string{strconv.FormatInt(b.ID, 10), b.Name, strconv.Itoa(b.Apartments)}
		})
}

// CreateBuilding adds a building to a community.
func (a *API) CreateBuilding(w http.ResponseWriter, r *http.Request) error {
	return ipWrite(w, r, "project", http.StatusCreated, func(ctx context.Context, pid int64, req nameRequest) (*model.Building, error) {
		b := &model.Building{ProjectID: pid, Name: req.Name}
		return b, a.Cases.CreateBuilding(ctx, b)
	})
}

// UpdateBuilding renames a building.
func (a *API) UpdateBuilding(w http.ResponseWriter, r *http.Request) error {
	return ipWrite(w, r, "building", http.StatusOK, func(ctx context.Context, id int64, req nameRequest) (*model.Building, error) {
		b := &model.Building{ID: id, Name: req.Name}
		return b, a.Cases.UpdateBuilding(ctx, b)
	})
}

// DeleteBuilding deletes an empty building with its apartments.
func (a *API) DeleteBuilding(w http.ResponseWriter, r *http.Request) error {
	return ipDelete(w, r, "building", a.Cases.DeleteBuilding)
}

// ListApartments lists the apartments of a building.
func (a *API) ListApartments(w http.ResponseWriter, r *http.Request) error {
	list := func(ctx context.Context, id int64, page model.Page) (model.List[*store.ApartmentRow], error) {
		return a.Store.ListApartments(ctx, store.ApartmentFilter{BuildingID: id, Page: page})
	}
	return ipListIn(w, r, "building", "apartments", list,
		[]string{"id", "building", "floor", "number", "name", "family_member_limit", "family_master", "family_members", "devices"},
		func(x *store.ApartmentRow) []string {
			return []string{strconv.FormatInt(x.ID, 10), x.Building, x.Floor, x.Number, x.Name, strconv.Itoa(x.FamilyMemberLimit),
				x.FamilyMaster, strconv.Itoa(x.FamilyMembers), strconv.Itoa(x.Devices)}
		})
}

type apartmentRequest struct {
	Floor             *string `json:"floor"`
	Number            *string `json:"number"`
	Name              *string `json:"name"`
	FamilyMemberLimit *int    `json:"family_member_limit"`
}

func (req apartmentRequest) apply(x *model.Apartment) {
	if req.Floor != nil {
		x.Floor = *req.Floor
	}
	if req.Number != nil {
		x.Number = *req.Number
	}
	if req.Name != nil {
		x.Name = *req.Name
	}
	if req.FamilyMemberLimit != nil {
		x.FamilyMemberLimit = *req.FamilyMemberLimit
	}
}

// CreateApartment adds an apartment to a building.
func (a *API) CreateApartment(w http.ResponseWriter, r *http.Request) error {
	return ipWrite(w, r, "building", http.StatusCreated, func(ctx context.Context, bid int64, req apartmentRequest) (*model.Apartment, error) {
		x := &model.Apartment{BuildingID: bid}
		req.apply(x)
		return x, a.Cases.CreateApartment(ctx, x)
	})
}

// UpdateApartment changes an apartment; omitted fields keep their value.
func (a *API) UpdateApartment(w http.ResponseWriter, r *http.Request) error {
	return ipWrite(w, r, "apartment", http.StatusOK, func(ctx context.Context, id int64, req apartmentRequest) (*model.Apartment, error) {
		return a.Cases.UpdateApartment(ctx, id, func(x *model.Apartment) error { req.apply(x); return nil })
	})
}

// DeleteApartment deletes an empty apartment.
func (a *API) DeleteApartment(w http.ResponseWriter, r *http.Request) error {
	return ipDelete(w, r, "apartment", a.Cases.DeleteApartment)
}

// ListDepartments lists the departments of an office.
func (a *API) ListDepartments(w http.ResponseWriter, r *http.Request) error {
	return ipListIn(w, r, "project", "departments", a.Store.ListDepartments, []string{"id", "name", "end_users", "devices"},
		func(d *store.DepartmentRow) []string {
			return []string{strconv.FormatInt(d.ID, 10), d.Name, strconv.Itoa(d.EndUsers), strconv.Itoa(d.Devices)}
		})
}

// CreateDepartment adds a department to an office.
func (a *API) CreateDepartment(w http.ResponseWriter, r *http.Request) error {
	return ipWrite(w, r, "project", http.StatusCreated, func(ctx context.Context, pid int64, req nameRequest) (*model.Department, error) {
		d := &model.Department{ProjectID: pid, Name: req.Name}
		return d, a.Cases.CreateDepartment(ctx, d)
	})
}

// UpdateDepartment renames a department.
func (a *API) UpdateDepartment(w http.ResponseWriter, r *http.Request) error {
	return ipWrite(w, r, "department", http.StatusOK, func(ctx context.Context, id int64, req nameRequest) (*model.Department, error) {
		d := &model.Department{ID: id, Name: req.Name}
		return d, a.Cases.UpdateDepartment(ctx, d)
	})
}

// DeleteDepartment deletes an empty department.
func (a *API) DeleteDepartment(w http.ResponseWriter, r *http.Request) error {
	return ipDelete(w, r, "department", a.Cases.DeleteDepartment)
}
