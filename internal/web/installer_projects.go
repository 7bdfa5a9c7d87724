package web

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/i18n"
	"github.com/gatehouse-dev/gatehouse/internal/listquery"
	"github.com/gatehouse-dev/gatehouse/internal/model"
	"github.com/gatehouse-dev/gatehouse/internal/store"
	"github.com/gatehouse-dev/gatehouse/internal/usecase"
)

// The installer's own portal: Projects (communities with buildings and
// apartments, offices with departments, single-tenant homes), their users,
// devices and cameras.

// ipLabels gives templates the names people read for the portal's codes:
// message keys (English), which the templates translate ({{t ($d.KindLabel .Kind)}}).
type ipLabels struct{}

// ipByKind picks the message of a project kind: community, office, single-tenant.
func ipByKind(k model.ProjectKind, community, office, personal, other string) string {
	switch k {
	case model.ProjectCommunity:
		return community
	case model.ProjectOffice:
		return office
	case model.ProjectPersonal:
		return personal
	}
	return other
}

func (ipLabels) KindLabel(k model.ProjectKind) string {
	return ipByKind(k, i18n.N("Community"), i18n.N("Office"), i18n.N("Single-tenant"), string(k))
}

func (ipLabels) ManagerLabel(k model.ProjectKind) string {
	return ipByKind(k, i18n.N("Community Manager"), i18n.N("Office Manager"), i18n.N("Single-tenant Manager"), i18n.N("Manager"))
}

// NothingYet and AlsoDeletes are the project delete page's sentences (the project's name their argument).
func (ipLabels) NothingYet(k model.ProjectKind) string {
	return ipByKind(k, i18n.N("Community %s holds nothing yet."), i18n.N("Office %s holds nothing yet."),
		i18n.N("Single-tenant %s holds nothing yet."), "%s")
}

func (ipLabels) AlsoDeletes(k model.ProjectKind) string {
	return ipByKind(k, i18n.N("Deleting Community %s also deletes:"), i18n.N("Deleting Office %s also deletes:"),
		i18n.N("Deleting Single-tenant %s also deletes:"), "%s")
}

// ipCreated is the notice of a new project (its name the argument).
func ipCreated(k model.ProjectKind) string {
	return ipByKind(k, i18n.N("Community %s created."), i18n.N("Office %s created."), i18n.N("Single-tenant %s created."), "%s")
}

// ipByRole picks the message of an end user's role.
func ipByRole(r model.EndUserRole, master, member, staff, manager, other string) string {
	switch r {
	case model.FamilyMaster:
		return master
	case model.FamilyMember:
		return member
	case model.OfficeStaff:
		return staff
	case model.PropertyManager:
		return manager
	}
	return other
}

func (ipLabels) RoleLabel(r model.EndUserRole) string {
	return ipByRole(r, i18n.N("Family Master"), i18n.N("Family Member"), i18n.N("Office Staff"), i18n.N("Property Manager"), string(r))
}

// DeleteQuestion and DeleteOfQuestion ask before an end user is deleted
// (its name, and its project's, the arguments).
func (ipLabels) DeleteQuestion(r model.EndUserRole) string {
	return ipByRole(r, i18n.N("Delete Family Master %s?"), i18n.N("Delete Family Member %s?"), i18n.N("Delete Office Staff %s?"),
		i18n.N("Delete Property Manager %s?"), "%s")
}

func (ipLabels) DeleteOfQuestion(r model.EndUserRole) string {
	return ipByRole(r, i18n.N("Delete Family Master %s of %s?"), i18n.N("Delete Family Member %s of %s?"), i18n.N("Delete Office Staff %s of %s?"),
		i18n.N("Delete Property Manager %s of %s?"), "%s")
}

// ipUserAdded is the notice of a new end user (its name the argument).
func ipUserAdded(r model.EndUserRole) string {
	return ipByRole(r, i18n.N("Family Master %s added."), i18n.N("Family Member %s added."), i18n.N("Office Staff %s added."),
		i18n.N("Property Manager %s added."), "%s")
}

func (ipLabels) TypeLabel(t model.DeviceType) string {
	switch t {
	case model.DoorPhone:
		return i18n.N("Door Phone")
	case model.IndoorMonitor:
		return i18n.N("Indoor Monitor")
	case model.AccessControl:
		return i18n.N("Access Control")
	case model.GuardPhone:
		return i18n.N("Guard Phone")
	}
	return string(t)
}

// SearchLabel names a Search Type of the user lists as the guide does.
func (ipLabels) SearchLabel(t string) string {
	switch t {
	case "sip":
		return i18n.N("SIP")
	case "mobile":
		return i18n.N("Mobile Number")
	case "family_master":
		return i18n.N("Family Master")
	case "name":
		return i18n.N("Name")
	case "email":
		return i18n.N("Email")
	case "installer":
		return i18n.N("Installer")
	case "office":
		return i18n.N("Office")
	}
	return t
}

// Kinds and DeviceTypes list the choices of the forms.
func (ipLabels) Kinds() []model.ProjectKind {
	return []model.ProjectKind{model.ProjectCommunity, model.ProjectOffice, model.ProjectPersonal}
}
func (ipLabels) DeviceTypes() []model.DeviceType { return model.DeviceTypes }

// RolesFor lists the roles a project of kind k holds.
func (ipLabels) RolesFor(k model.ProjectKind) []model.EndUserRole {
	switch k {
	case model.ProjectCommunity:
		return []model.EndUserRole{model.FamilyMaster, model.FamilyMember, model.PropertyManager}
	case model.ProjectOffice:
		return []model.EndUserRole{model.OfficeStaff}
	}
	return []model.EndUserRole{model.FamilyMaster, model.FamilyMember}
}

// ipForm is a submitted form kept for re-rendering: which form failed, its
// values and the messages per field.
type ipForm struct {
	Failed string
	Values url.Values
	Fields map[string]string
}

// Val is the submitted value of a field of form, or def when that form was
// not the one submitted.
func (f ipForm) Val(form, field, def string) string {
	if f.Failed == form && f.Values != nil {
		return f.Values.Get(field)
	}
	return def
}

// Err is the message for a field of form, if that form failed.
func (f ipForm) Err(form, field string) string {
	if f.Failed == form {
		return f.Fields[field]
	}
	return ""
}

// Checked is a checkbox's state: as submitted when form failed, else def.
func (f ipForm) Checked(form, field string, def bool) bool {
	if f.Failed == form && f.Values != nil {
		return f.Values.Get(field) == "on"
	}
	return def
}

// DateVal is a date input's value for t ("" for none).
func (ipForm) DateVal(t *time.Time) string {
	if t == nil {
		return ""
	}
	return t.UTC().Format("2006-01-02")
}

// Open reports whether form was the one that failed.
func (f ipForm) Open(form string) bool { return f.Failed == form }

func ipPathID(r *http.Request, what string) (int64, error) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id <= 0 {
		return 0, model.NotFound(what)
	}
	return id, nil
}

// formID reads an optional id from a form field; garbage is no id, which
// the store then reports as the missing place.
func ipFormID(r *http.Request, name string) int64 {
	id, _ := strconv.ParseInt(strings.TrimSpace(r.PostFormValue(name)), 10, 64)
	return id
}

// ipFormPage starts a portal page that shows a form: with formErr's
// problem, and the status of a refused form, when it failed.
func (w *Web) ipFormPage(r *http.Request, title, active string, form *ipForm, formErr error) (*Page, int) {
	p := w.page(r, title, active, nil)
	if formErr == nil {
		return p, http.StatusOK
	}
	p.Fail(formErr)
	form.Fields = p.Fields
	return p, ipErrStatus(formErr)
}

// ipErrStatus is the status of a form refused for its input.
func ipErrStatus(err error) int {
	if model.ErrorCode(err) == model.ECONFLICT {
		return http.StatusConflict
	}
	return http.StatusBadRequest
}

type ipProjectsData struct {
	ipLabels
	ipForm
	Filter   store.ProjectFilter
	List     model.List[*store.ProjectRow]
	Pager    Pager
	Export   string
	NewKind  model.ProjectKind
	NewOpen  bool
	TimeZone string
}

// InstallerProjects lists the installer's projects: search by name or
// manager and kind; new community, office or single-tenant home.
func (w *Web) InstallerProjects(rw http.ResponseWriter, r *http.Request) error {
	return w.installerProjects(rw, r, ipForm{}, nil)
}

func (w *Web) installerProjects(rw http.ResponseWriter, r *http.Request, form ipForm, formErr error) error {
	var v model.Validator
	f := listquery.Projects(r.URL.Query(), &v)
	if err := v.Err(); err != nil {
		return err
	}
	p, status := w.ipFormPage(r, tr(r, "Projects"), "installer-projects", &form, formErr)
	l, err := w.store.ListProjects(r.Context(), f)
	if err != nil {
		return err
	}
	kind := model.ProjectKind(r.URL.Query().Get("new"))
	if form.Values != nil {
		kind = model.ProjectKind(form.Values.Get("kind"))
	}
	if !kind.Valid() {
		kind = model.ProjectCommunity
	}
	p.Data = ipProjectsData{ipForm: form, Filter: f, List: l, Pager: newPager(r, f.Page.Page, f.PerPage, l.Total),
		Export: exportURL(r, "/api/v1/projects"), NewKind: kind, NewOpen: form.Failed != "" || r.URL.Query().Has("new"),
		TimeZone: identity(r).Account.TimeZone}
	return w.render(rw, status, "installer_projects", p)
}

func ipProjectFromForm(r *http.Request, p *model.Project) {
	p.Name = r.PostFormValue("name")
	p.Manager = r.PostFormValue("manager")
	p.Address = r.PostFormValue("address")
	p.TimeZone = strings.TrimSpace(r.PostFormValue("time_zone"))
}

// CreateInstallerProject adds a community, office or single-tenant home.
func (w *Web) CreateInstallerProject(rw http.ResponseWriter, r *http.Request) error {
	p := &model.Project{Kind: model.ProjectKind(r.PostFormValue("kind"))}
	ipProjectFromForm(r, p)
	err := w.cases.CreateProject(r.Context(), p)
	if isUserError(err) {
		return w.installerProjects(rw, r, ipForm{Failed: "new-project", Values: r.PostForm}, err)
	} else if err != nil {
		return err
	}
	return redirect(rw, r, fmt.Sprintf("/installer/projects/%d", p.ID), tr(r, ipCreated(p.Kind), p.Name))
}

// ipBuilding is a building with its apartments, for the project page.
type ipBuilding struct {
	*store.BuildingRow
	Apartments []*store.ApartmentRow
}

// AptLabel names an apartment of the project by id ("Building A-101").
func (d ipProjectData) AptLabel(id int64) string {
	for _, a := range d.Apartments {
		if a.ID == id {
			return a.Label()
		}
	}
	return ""
}

// DeptName names a department of the project by id.
func (d ipProjectData) DeptName(id int64) string {
	for _, x := range d.Departments {
		if x.ID == id {
			return x.Name
		}
	}
	return ""
}

type ipProjectData struct {
	ipLabels
	ipForm
	Project     *model.Project
	Contents    *store.ProjectContents
	Buildings   []ipBuilding
	Apartments  []*store.ApartmentRow
	Departments []*store.DepartmentRow
	Users       model.List[*model.EndUserRow]
	Devices     model.List[*store.DeviceRow]
	Cameras     model.List[*store.CameraRow]
	UsersLink   string
}

// The project page lists this many of its users, devices and cameras; the
// full lists are linked.
const (
	projectUsersShown   = 20
	projectDevicesShown = 50
)

// allApartments reads every apartment of a community (they fill the
// project page and the user and device forms).
func (w *Web) ipAllApartments(ctx context.Context, pid int64) ([]*store.ApartmentRow, error) {
	var out []*store.ApartmentRow
	for page := 1; ; page++ {
		l, err := w.store.ListApartments(ctx, store.ApartmentFilter{ProjectID: pid, Page: model.Page{Page: page, PerPage: model.MaxPerPage}})
		if err != nil {
			return nil, err
		}
		out = append(out, l.Items...)
		if len(out) >= l.Total || len(l.Items) == 0 {
			return out, nil
		}
	}
}

func ipEndUserKind(k model.ProjectKind) model.EndUserKind {
	switch k {
	case model.ProjectOffice:
		return model.KindOffice
	case model.ProjectPersonal:
		return model.KindVilla
	}
	return model.KindCommunity
}

// InstallerProject is a project's page: its fields, its buildings and
// apartments or departments, its users, devices and cameras.
func (w *Web) InstallerProject(rw http.ResponseWriter, r *http.Request) error {
	id, err := ipPathID(r, "project")
	if err != nil {
		return err
	}
	return w.installerProject(rw, r, id, ipForm{}, nil)
}

func (w *Web) installerProject(rw http.ResponseWriter, r *http.Request, id int64, form ipForm, formErr error) error {
	ctx := r.Context()
	pr, err := w.store.GetProject(ctx, id)
	if err != nil {
		return err
	}
	d := ipProjectData{ipForm: form, Project: pr}
	if d.Contents, err = w.store.CountProjectContents(ctx, id); err != nil {
		return err
	}
	all := model.Page{Page: 1, PerPage: model.MaxPerPage}
	switch pr.Kind {
	case model.ProjectCommunity:
		bl, err := w.store.ListBuildings(ctx, id, all)
		if err != nil {
			return err
		}
		if d.Apartments, err = w.ipAllApartments(ctx, id); err != nil {
			return err
		}
		for _, b := range bl.Items {
			ib := ipBuilding{BuildingRow: b}
			for _, a := range d.Apartments {
				if a.BuildingID == b.ID {
					ib.Apartments = append(ib.Apartments, a)
				}
			}
			d.Buildings = append(d.Buildings, ib)
		}
	case model.ProjectOffice:
		dl, err := w.store.ListDepartments(ctx, id, all)
		if err != nil {
			return err
		}
		d.Departments = dl.Items
	}
	kind := ipEndUserKind(pr.Kind)
	if d.Users, err = w.store.ListEndUsers(ctx, model.EndUserFilter{Kind: kind, ProjectID: id, Page: model.Page{Page: 1, PerPage: projectUsersShown}}); err != nil {
		return err
	}
	d.UsersLink = fmt.Sprintf("/installer/users?kind=%s&project_id=%d", kind, id)
	shown := model.Page{Page: 1, PerPage: projectDevicesShown}
	if d.Devices, err = w.store.ListInstallerDevices(ctx, store.DeviceFilter{ProjectID: id, Page: shown}); err != nil {
		return err
	}
	if d.Cameras, err = w.store.ListThirdPartyDevices(ctx, store.CameraFilter{ProjectID: id, Page: shown}); err != nil {
		return err
	}
	p, status := w.ipFormPage(r, pr.Name, "installer-projects", &d.ipForm, formErr)
	p.Data = d
	return w.render(rw, status, "installer_project", p)
}

// projectFormDone finishes a form posted from a project's page: back to
// the page with a notice, or the page again with the form's problem.
func (w *Web) projectFormDone(rw http.ResponseWriter, r *http.Request, pid int64, form, notice string, err error) error {
	if isUserError(err) {
		return w.installerProject(rw, r, pid, ipForm{Failed: form, Values: r.PostForm}, err)
	} else if err != nil {
		return err
	}
	return redirect(rw, r, fmt.Sprintf("/installer/projects/%d", pid), notice)
}

// UpdateInstallerProject saves a project's name, manager, address and time zone.
func (w *Web) UpdateInstallerProject(rw http.ResponseWriter, r *http.Request) error {
	id, err := ipPathID(r, "project")
	if err != nil {
		return err
	}
	name, manager, address := r.PostFormValue("name"), r.PostFormValue("manager"), r.PostFormValue("address")
	tz := strings.TrimSpace(r.PostFormValue("time_zone"))
	p, err := w.cases.UpdateProject(r.Context(), id, usecase.ProjectEdit{Name: &name, Manager: &manager, Address: &address, TimeZone: &tz})
	notice := ""
	if err == nil {
		notice = tr(r, "Saved %s.", p.Name)
	}
	return w.projectFormDone(rw, r, id, "edit-project", notice, err)
}

type ipProjectDeleteData struct {
	ipLabels
	Project  *model.Project
	Contents *store.ProjectContents
}

// InstallerProjectDelete asks before a project is deleted, showing what
// would go with it.
func (w *Web) InstallerProjectDelete(rw http.ResponseWriter, r *http.Request) error {
	return w.installerProjectDelete(rw, r, http.StatusOK, "")
}

func (w *Web) installerProjectDelete(rw http.ResponseWriter, r *http.Request, status int, msg string) error {
	id, err := ipPathID(r, "project")
	if err != nil {
		return err
	}
	pr, err := w.store.GetProject(r.Context(), id)
	if err != nil {
		return err
	}
	c, err := w.store.CountProjectContents(r.Context(), id)
	if err != nil {
		return err
	}
	p := w.page(r, tr(r, "Delete %s", pr.Name), "installer-projects", ipProjectDeleteData{Project: pr, Contents: c})
	p.Error = msg
	return w.render(rw, status, "installer_project_delete", p)
}

// DeleteInstallerProject deletes a project with everything in it, once the
// confirmation is ticked.
func (w *Web) DeleteInstallerProject(rw http.ResponseWriter, r *http.Request) error {
	id, err := ipPathID(r, "project")
	if err != nil {
		return err
	}
	if r.PostFormValue("confirm") != "yes" {
		return w.installerProjectDelete(rw, r, http.StatusBadRequest, tr(r, "Tick the confirmation to delete the project and everything in it."))
	}
	pr, err := w.store.GetProject(r.Context(), id)
	if err != nil {
		return err
	}
	gone, err := w.cases.DeleteProject(r.Context(), id)
	if err != nil {
		return err
	}
	return redirect(rw, r, "/installer/projects", tr(r, "Deleted %s with %d end users, %d devices and %d cameras.",
		pr.Name, gone.EndUsers, gone.Devices, gone.Cameras))
}

// ipNamedPlace is what the project page does with buildings and
// departments alike: add one by name, rename it, delete it, each form
// posted from the project page and answered there.
type ipNamedPlace struct {
	added, renamed, deleted string // the notices' message keys ("Building %s added.")
	what                    string // "building": not found, and the forms' ids ("new-building", "building-ID")
	get                     func(ctx context.Context, id int64) (projectID int64, name string, err error)
	create                  func(ctx context.Context, projectID int64, name string) error
	rename                  func(ctx context.Context, id int64, name string) error
	remove                  func(ctx context.Context, id int64) error
}

func (w *Web) ipBuildings() ipNamedPlace {
	return ipNamedPlace{added: i18n.N("Building %s added."), renamed: i18n.N("Building renamed to %s."), deleted: i18n.N("Building %s deleted."),
		what: "building",
		get: func(ctx context.Context, id int64) (int64, string, error) {
			b, err := w.store.GetBuilding(ctx, id)
			if err != nil {
				return 0, "", err
			}
			return b.ProjectID, b.Name, nil
		},
		create: func(ctx context.Context, pid int64, name string) error {
			return w.cases.CreateBuilding(ctx, &model.Building{ProjectID: pid, Name: name})
		},
		rename: func(ctx context.Context, id int64, name string) error {
			return w.cases.UpdateBuilding(ctx, &model.Building{ID: id, Name: name})
		},
		remove: w.cases.DeleteBuilding}
}

func (w *Web) ipDepartments() ipNamedPlace {
	return ipNamedPlace{added: i18n.N("Department %s added."), renamed: i18n.N("Department renamed to %s."),
		deleted: i18n.N("Department %s deleted."), what: "department",
		get: func(ctx context.Context, id int64) (int64, string, error) {
			d, err := w.store.GetDepartment(ctx, id)
			if err != nil {
				return 0, "", err
			}
			return d.ProjectID, d.Name, nil
		},
		create: func(ctx context.Context, pid int64, name string) error {
			return w.cases.CreateDepartment(ctx, &model.Department{ProjectID: pid, Name: name})
		},
		rename: func(ctx context.Context, id int64, name string) error {
			return w.cases.UpdateDepartment(ctx, &model.Department{ID: id, Name: name})
		},
		remove: w.cases.DeleteDepartment}
}

func (p ipNamedPlace) add(w *Web, rw http.ResponseWriter, r *http.Request) error {
	pid, err := ipPathID(r, "project")
	if err != nil {
		return err
	}
	name := strings.TrimSpace(r.PostFormValue("name"))
	err = p.create(r.Context(), pid, name)
	return w.projectFormDone(rw, r, pid, "new-"+p.what, tr(r, p.added, name), err)
}

func (p ipNamedPlace) update(w *Web, rw http.ResponseWriter, r *http.Request) error {
	id, err := ipPathID(r, p.what)
	if err != nil {
		return err
	}
	pid, _, err := p.get(r.Context(), id)
	if err != nil {
		return err
	}
	name := strings.TrimSpace(r.PostFormValue("name"))
	err = p.rename(r.Context(), id, name)
	return w.projectFormDone(rw, r, pid, fmt.Sprintf("%s-%d", p.what, id), tr(r, p.renamed, name), err)
}

func (p ipNamedPlace) delete(w *Web, rw http.ResponseWriter, r *http.Request) error {
	id, err := ipPathID(r, p.what)
	if err != nil {
		return err
	}
	pid, name, err := p.get(r.Context(), id)
	if err != nil {
		return err
	}
	err = p.remove(r.Context(), id)
	return w.projectFormDone(rw, r, pid, fmt.Sprintf("%s-%d", p.what, id), tr(r, p.deleted, name), err)
}

// CreateInstallerBuilding adds a building to a community.
func (w *Web) CreateInstallerBuilding(rw http.ResponseWriter, r *http.Request) error {
	return w.ipBuildings().add(w, rw, r)
}

// UpdateInstallerBuilding renames a building.
func (w *Web) UpdateInstallerBuilding(rw http.ResponseWriter, r *http.Request) error {
	return w.ipBuildings().update(w, rw, r)
}

// DeleteInstallerBuilding deletes a building whose apartments are empty.
func (w *Web) DeleteInstallerBuilding(rw http.ResponseWriter, r *http.Request) error {
	return w.ipBuildings().delete(w, rw, r)
}

// CreateInstallerDepartment adds a department to an office.
func (w *Web) CreateInstallerDepartment(rw http.ResponseWriter, r *http.Request) error {
	return w.ipDepartments().add(w, rw, r)
}

// UpdateInstallerDepartment renames a department.
func (w *Web) UpdateInstallerDepartment(rw http.ResponseWriter, r *http.Request) error {
	return w.ipDepartments().update(w, rw, r)
}

// DeleteInstallerDepartment deletes an empty department.
func (w *Web) DeleteInstallerDepartment(rw http.ResponseWriter, r *http.Request) error {
	return w.ipDepartments().delete(w, rw, r)
}

func ipApartmentFromForm(r *http.Request, a *model.Apartment) error {
	a.Floor, a.Number, a.Name = r.PostFormValue("floor"), r.PostFormValue("number"), r.PostFormValue("name")
	lim := strings.TrimSpace(r.PostFormValue("family_member_limit"))
	if lim == "" {
		a.FamilyMemberLimit = 0
		return nil
	}
	n, err := strconv.Atoi(lim)
	if err != nil {
		return model.Invalid("family_member_limit", "must be a whole number from 0 to %d", model.MaxFamilyMembers)
	}
	a.FamilyMemberLimit = n
	return nil
}

// CreateInstallerApartment adds an apartment to a building.
func (w *Web) CreateInstallerApartment(rw http.ResponseWriter, r *http.Request) error {
	id, err := ipPathID(r, "building")
	if err != nil {
		return err
	}
	b, err := w.store.GetBuilding(r.Context(), id)
	if err != nil {
		return err
	}
	a := &model.Apartment{BuildingID: id}
	err = ipApartmentFromForm(r, a)
	if err == nil {
		err = w.cases.CreateApartment(r.Context(), a)
	}
	return w.projectFormDone(rw, r, b.ProjectID, fmt.Sprintf("new-apartment-%d", id),
		tr(r, "Apartment %s added to %s.", strings.TrimSpace(a.Number), b.Name), err)
}

type ipApartmentData struct {
	ipForm
	Apartment *store.ApartmentRow
	Project   *model.Project
}

// InstallerApartment is an apartment's edit page.
func (w *Web) InstallerApartment(rw http.ResponseWriter, r *http.Request) error {
	return w.installerApartment(rw, r, ipForm{}, nil)
}

func (w *Web) installerApartment(rw http.ResponseWriter, r *http.Request, form ipForm, formErr error) error {
	id, err := ipPathID(r, "apartment")
	if err != nil {
		return err
	}
	a, err := w.store.GetApartment(r.Context(), id)
	if err != nil {
		return err
	}
	pr, err := w.store.GetProject(r.Context(), a.ProjectID)
	if err != nil {
		return err
	}
	p, status := w.ipFormPage(r, tr(r, "Apartment %s", a.Label()), "installer-projects", &form, formErr)
	p.Data = ipApartmentData{ipForm: form, Apartment: a, Project: pr}
	return w.render(rw, status, "installer_apartment", p)
}

// UpdateInstallerApartment saves an apartment.
func (w *Web) UpdateInstallerApartment(rw http.ResponseWriter, r *http.Request) error {
	id, err := ipPathID(r, "apartment")
	if err != nil {
		return err
	}
	old, err := w.store.GetApartment(r.Context(), id)
	if err != nil {
		return err
	}
	a, err := w.cases.UpdateApartment(r.Context(), id, func(a *model.Apartment) error { return ipApartmentFromForm(r, a) })
	if isUserError(err) {
		return w.installerApartment(rw, r, ipForm{Failed: "apartment", Values: r.PostForm}, err)
	} else if err != nil {
		return err
	}
	return redirect(rw, r, fmt.Sprintf("/installer/projects/%d", old.ProjectID), tr(r, "Saved apartment %s.", ipAptName(old.Building, a.Number)))
}

func ipAptName(building, number string) string { return building + "-" + strings.TrimSpace(number) }

// DeleteInstallerApartment deletes an empty apartment.
func (w *Web) DeleteInstallerApartment(rw http.ResponseWriter, r *http.Request) error {
	id, err := ipPathID(r, "apartment")
	if err != nil {
		return err
	}
	a, err := w.store.GetApartment(r.Context(), id)
	if err != nil {
		return err
	}
	err = w.cases.DeleteApartment(r.Context(), id)
	if isUserError(err) {
		return w.installerApartment(rw, r, ipForm{}, err)
	} else if err != nil {
		return err
	}
	return redirect(rw, r, fmt.Sprintf("/installer/projects/%d", a.ProjectID), tr(r, "Apartment %s deleted.", a.Label()))
}
