package api

import (
	"net/http"
	"strconv"

	"github.com/gatehouse-dev/gatehouse/internal/listquery"
	"github.com/gatehouse-dev/gatehouse/internal/model"
	"github.com/gatehouse-dev/gatehouse/internal/store"
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
	if err := a.Store.CreateProject(r.Context(), p); err != nil {
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
	id, err := pathID(r, "id", "project")
	if err != nil {
		return err
	}
	var req projectRequest
	if err := decodeJSON(w, r, &req); err != nil {
		return err
	}
	p, err := a.Store.GetProject(r.Context(), id)
	if err != nil {
		return err
	}
	req.apply(p)
	if err := a.Store.UpdateProject(r.Context(), p); err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, p)
}

// DeleteProject deletes a project and everything in it, answering what went.
func (a *API) DeleteProject(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "id", "project")
	if err != nil {
		return err
	}
	gone, err := a.Store.DeleteProject(r.Context(), id)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, map[string]any{"deleted": gone})
}

// listPage reads page, per_page and format of a simple list.
func listPage(r *http.Request) (model.Page, string, error) {
	var v model.Validator
	p := model.ParsePage(r.URL.Query(), &v)
	format := checkFormat(r, &v)
	if err := v.Err(); err != nil {
		return p, "", err
	}
	return exportPage(format, p), format, nil
}

// ListBuildings lists the buildings of a community.
func (a *API) ListBuildings(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "id", "project")
	if err != nil {
		return err
	}
	page, format, err := listPage(r)
	if err != nil {
		return err
	}
	l, err := a.Store.ListBuildings(r.Context(), id, page)
	if err != nil {
		return err
	}
	return writeList(w, format, "buildings", l, []string{"id", "name", "apartments"}, func(b *store.BuildingRow) []string {
		return []string{strconv.FormatInt(b.ID, 10), b.Name, strconv.Itoa(b.Apartments)}
	})
}

type nameRequest struct {
	Name string `json:"name"`
}

// CreateBuilding adds a building to a community.
func (a *API) CreateBuilding(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "id", "project")
	if err != nil {
		return err
	}
	var req nameRequest
	if err := decodeJSON(w, r, &req); err != nil {
		return err
	}
	if _, err := a.Store.GetProject(r.Context(), id); err != nil {
		return err // a foreign project is not found, not an invalid field
	}
	b := &model.Building{ProjectID: id, Name: req.Name}
	if err := a.Store.CreateBuilding(r.Context(), b); err != nil {
		return err
	}
	return writeJSON(w, http.StatusCreated, b)
}

// UpdateBuilding renames a building.
func (a *API) UpdateBuilding(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "id", "building")
	if err != nil {
		return err
	}
	var req nameRequest
	if err := decodeJSON(w, r, &req); err != nil {
		return err
	}
	b := &model.Building{ID: id, Name: req.Name}
	if err := a.Store.UpdateBuilding(r.Context(), b); err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, b)
}

// DeleteBuilding deletes an empty building with its apartments.
func (a *API) DeleteBuilding(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "id", "building")
	if err != nil {
		return err
	}
	if err := a.Store.DeleteBuilding(r.Context(), id); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// ListApartments lists the apartments of a building.
func (a *API) ListApartments(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "id", "building")
	if err != nil {
		return err
	}
	page, format, err := listPage(r)
	if err != nil {
		return err
	}
	l, err := a.Store.ListApartments(r.Context(), store.ApartmentFilter{BuildingID: id, Page: page})
	if err != nil {
		return err
	}
	return writeList(w, format, "apartments", l,
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
	id, err := pathID(r, "id", "building")
	if err != nil {
		return err
	}
	var req apartmentRequest
	if err := decodeJSON(w, r, &req); err != nil {
		return err
	}
	if _, err := a.Store.GetBuilding(r.Context(), id); err != nil {
		return err
	}
	x := &model.Apartment{BuildingID: id}
	req.apply(x)
	if err := a.Store.CreateApartment(r.Context(), x); err != nil {
		return err
	}
	return writeJSON(w, http.StatusCreated, x)
}

// UpdateApartment changes an apartment; omitted fields keep their value.
func (a *API) UpdateApartment(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "id", "apartment")
	if err != nil {
		return err
	}
	var req apartmentRequest
	if err := decodeJSON(w, r, &req); err != nil {
		return err
	}
	old, err := a.Store.GetApartment(r.Context(), id)
	if err != nil {
		return err
	}
	x := old.Apartment
	req.apply(&x)
	if err := a.Store.UpdateApartment(r.Context(), &x); err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, x)
}

// DeleteApartment deletes an empty apartment.
func (a *API) DeleteApartment(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "id", "apartment")
	if err != nil {
		return err
	}
	if err := a.Store.DeleteApartment(r.Context(), id); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// ListDepartments lists the departments of an office.
func (a *API) ListDepartments(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "id", "project")
	if err != nil {
		return err
	}
	page, format, err := listPage(r)
	if err != nil {
		return err
	}
	l, err := a.Store.ListDepartments(r.Context(), id, page)
	if err != nil {
		return err
	}
	return writeList(w, format, "departments", l, []string{"id", "name", "end_users", "devices"}, func(d *store.DepartmentRow) []string {
		return []string{strconv.FormatInt(d.ID, 10), d.Name, strconv.Itoa(d.EndUsers), strconv.Itoa(d.Devices)}
	})
}

// CreateDepartment adds a department to an office.
func (a *API) CreateDepartment(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "id", "project")
	if err != nil {
		return err
	}
	var req nameRequest
	if err := decodeJSON(w, r, &req); err != nil {
		return err
	}
	if _, err := a.Store.GetProject(r.Context(), id); err != nil {
		return err
	}
	d := &model.Department{ProjectID: id, Name: req.Name}
	if err := a.Store.CreateDepartment(r.Context(), d); err != nil {
		return err
	}
	return writeJSON(w, http.StatusCreated, d)
}

// UpdateDepartment renames a department.
func (a *API) UpdateDepartment(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "id", "department")
	if err != nil {
		return err
	}
	var req nameRequest
	if err := decodeJSON(w, r, &req); err != nil {
		return err
	}
	d := &model.Department{ID: id, Name: req.Name}
	if err := a.Store.UpdateDepartment(r.Context(), d); err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, d)
}

// DeleteDepartment deletes an empty department.
func (a *API) DeleteDepartment(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "id", "department")
	if err != nil {
		return err
	}
	if err := a.Store.DeleteDepartment(r.Context(), id); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
