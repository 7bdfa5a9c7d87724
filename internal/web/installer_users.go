package web

import (
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/gatehouse-dev/gatehouse/internal/i18n"
	"github.com/gatehouse-dev/gatehouse/internal/listquery"
	"github.com/gatehouse-dev/gatehouse/internal/model"
	"github.com/gatehouse-dev/gatehouse/internal/store"
	"github.com/gatehouse-dev/gatehouse/internal/tabular"
	"github.com/gatehouse-dev/gatehouse/internal/usecase"
)

// The installer's end users: added and imported on a project's page,
// listed across projects, changed and deleted.

// endUserFromForm reads the user form into u; a bad date names its field.
func ipEndUserFromForm(r *http.Request, u *model.EndUser) error {
	f := r.PostFormValue
	u.Name, u.SIP, u.Email, u.Mobile, u.Phone, u.Address = f("name"), f("sip"), f("email"), f("mobile"), f("phone"), f("address")
	u.Active, u.Premium = f("active") == "on", f("premium") == "on"
	var v model.Validator
	var ok bool
	u.AppExpires, ok = store.ParseDate(f("app_expires"))
	v.Check(ok, "app_expires", "must be a date such as 2026-12-31")
	u.PremiumExpires, ok = store.ParseDate(f("premium_expires"))
	v.Check(ok, "premium_expires", "must be a date such as 2026-12-31")
	return v.Err()
}

// CreateInstallerEndUser adds a user from a project's page.
func (w *Web) CreateInstallerEndUser(rw http.ResponseWriter, r *http.Request) error {
	pid, err := ipPathID(r, "project")
	if err != nil {
		return err
	}
	if _, err := w.store.GetProject(r.Context(), pid); err != nil {
		return err
	}
	u := &model.EndUser{ProjectID: pid, Role: model.EndUserRole(r.PostFormValue("role")),
		ApartmentID: ipFormID(r, "apartment_id"), DepartmentID: ipFormID(r, "department_id")}
	err = ipEndUserFromForm(r, u)
	if err == nil {
		err = w.cases.CreateEndUser(r.Context(), u)
	}
	return w.projectFormDone(rw, r, pid, "new-user", tr(r, ipUserAdded(u.Role), u.Name), err)
}

type ipImportData struct {
	Project *model.Project
	File    string
	Result  model.ImportResult
}

// ImportInstallerEndUsers imports a CSV or XLSX of users into a project and
// shows what was imported and every rejected row with its reason.
func (w *Web) ImportInstallerEndUsers(rw http.ResponseWriter, r *http.Request) error {
	pid, err := ipPathID(r, "project")
	if err != nil {
		return err
	}
	pr, err := w.store.GetProject(r.Context(), pid)
	if err != nil {
		return err
	}
	data, name, err := ipUploadedUsers(r)
	var res model.ImportResult
	if err == nil {
		res, err = w.cases.ImportEndUserFile(r.Context(), pid, data)
	}
	if isUserError(err) {
		return w.installerProject(rw, r, pid, ipForm{Failed: "import"}, err)
	} else if err != nil {
		return err
	}
	p := w.page(r, tr(r, "Import users into %s", pr.Name), "installer-projects", ipImportData{Project: pr, File: name, Result: res})
	status := http.StatusOK
	if res.Imported == 0 && len(res.Rejected) > 0 {
		status = http.StatusUnprocessableEntity
		p.Error = tr(r, "No user was imported: every row was rejected.")
	}
	return w.render(rw, status, "installer_import", p)
}

func ipUploadedUsers(r *http.Request) ([]byte, string, error) {
	f, h, err := r.FormFile("file")
	if err != nil {
		return nil, "", model.Invalid("file", "is required: choose a CSV or XLSX file")
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, tabular.MaxBytes+1))
	if h.Size > tabular.MaxBytes || len(b) > tabular.MaxBytes {
		return nil, "", model.TooLarge("file", "is larger than %d MiB", tabular.MaxBytes>>20)
	} else if err != nil {
		return nil, "", err
	}
	if len(b) == 0 {
		return nil, "", model.Invalid("file", "is empty")
	}
	return b, h.Filename, nil
}

// InstallerEndUserTemplate downloads the users import template.
func (w *Web) InstallerEndUserTemplate(rw http.ResponseWriter, r *http.Request) error {
	rw.Header().Set("Content-Type", "text/csv; charset=utf-8")
	rw.Header().Set("Content-Disposition", `attachment; filename="end-users-template.csv"`)
	_, err := rw.Write(usecase.EndUserTemplate())
	return err
}

type ipUsersData struct {
	ipLabels
	Kind        model.EndUserKind
	Filter      model.EndUserFilter
	SearchTypes []string
	List        model.List[*model.EndUserRow]
	Pager       Pager
	Export      string
	Project     *model.Project
}

// InstallerUsers lists the installer's end users of one kind (community,
// office, villa) across its projects, or of one project.
func (w *Web) InstallerUsers(rw http.ResponseWriter, r *http.Request) error {
	var v model.Validator
	q := r.URL.Query()
	kind := model.EndUserKind(q.Get("kind"))
	if kind == "" {
		kind = model.KindCommunity
	}
	f := model.EndUserFilter{Kind: kind, AccountType: q.Get("account_type"), SearchType: q.Get("search_type"), Q: q.Get("q"),
		InstallerID: identity(r).Account.ID, ExpiringDays: listquery.ExpiringDays(q, &v), Page: model.ParsePage(q, &v)}
	f.ProjectID = ipQueryID(r, "project_id", &v)
	store.CheckEndUserFilter(&f, &v)
	if err := v.Err(); err != nil {
		return err
	}
	d := ipUsersData{Kind: kind, Filter: f, SearchTypes: store.EndUserSearchTypes(kind)}
	if f.ProjectID != 0 {
		pr, err := w.store.GetProject(r.Context(), f.ProjectID)
		if err != nil {
			return err
		}
		d.Project = pr
	}
	l, err := w.store.ListEndUsers(r.Context(), f)
	if err != nil {
		return err
	}
	d.List, d.Pager = l, newPager(r, f.Page.Page, f.PerPage, min(l.Total, store.EndUserCountCap))
	d.Export = exportURL(r, "/api/v1/end-users")
	return w.render(rw, http.StatusOK, "installer_users", w.page(r, tr(r, "Users"), "installer-users", d))
}

func ipQueryID(r *http.Request, name string, v *model.Validator) int64 {
	s := strings.TrimSpace(r.URL.Query().Get(name))
	if s == "" {
		return 0
	}
	var id int64
	_, err := fmt.Sscan(s, &id)
	v.Check(err == nil && id > 0, name, "must be a positive whole number")
	return id
}

type ipUserData struct {
	ipLabels
	ipForm
	User        *model.EndUserRow
	Project     *model.Project
	Departments []*store.DepartmentRow
}

// InstallerUser is an end user's edit page.
func (w *Web) InstallerUser(rw http.ResponseWriter, r *http.Request) error {
	return w.installerUser(rw, r, ipForm{}, nil)
}

func (w *Web) installerUser(rw http.ResponseWriter, r *http.Request, form ipForm, formErr error) error {
	id, err := ipPathID(r, "end user")
	if err != nil {
		return err
	}
	u, err := w.store.GetEndUserRow(r.Context(), id)
	if err != nil {
		return err
	}
	pr, err := w.store.GetProject(r.Context(), u.ProjectID)
	if err != nil {
		return err
	}
	d := ipUserData{ipForm: form, User: u, Project: pr}
	if u.Role == model.OfficeStaff {
		dl, err := w.store.ListDepartments(r.Context(), pr.ID, model.Page{Page: 1, PerPage: model.MaxPerPage})
		if err != nil {
			return err
		}
		d.Departments = dl.Items
	}
	p := w.page(r, u.Name, "installer-users", nil)
	status := http.StatusOK
	if formErr != nil {
		status = ipErrStatus(formErr)
		p.Fail(formErr)
		d.Fields = p.Fields
	}
	p.Data = d
	return w.render(rw, status, "installer_user", p)
}

// UpdateInstallerUser saves an end user.
func (w *Web) UpdateInstallerUser(rw http.ResponseWriter, r *http.Request) error {
	id, err := ipPathID(r, "end user")
	if err != nil {
		return err
	}
	u, err := w.cases.UpdateEndUser(r.Context(), id, func(u *model.EndUser) error {
		err := ipEndUserFromForm(r, u)
		if u.Role == model.OfficeStaff {
			u.DepartmentID = ipFormID(r, "department_id")
		}
		return err
	})
	if isUserError(err) {
		return w.installerUser(rw, r, ipForm{Failed: "user", Values: r.PostForm}, err)
	} else if err != nil {
		return err
	}
	return redirect(rw, r, fmt.Sprintf("/installer/projects/%d", u.ProjectID), tr(r, "Saved %s.", u.Name))
}

type ipUserDeleteData struct {
	ipLabels
	User       *model.EndUserRow
	Dependents *store.EndUserDependents
	Members    []*model.EndUserRow
}

// MemberNames are the names of the family members that go with the user.
func (d ipUserDeleteData) MemberNames() string {
	names := make([]string, len(d.Members))
	for i, m := range d.Members {
		names[i] = m.Name
	}
	return strings.Join(names, ", ")
}

// InstallerUserDelete asks before an end user is deleted; for a family
// master it names the family members that go with it.
func (w *Web) InstallerUserDelete(rw http.ResponseWriter, r *http.Request) error {
	return w.installerUserDelete(rw, r, http.StatusOK, "")
}

func (w *Web) installerUserDelete(rw http.ResponseWriter, r *http.Request, status int, msg string) error {
	id, err := ipPathID(r, "end user")
	if err != nil {
		return err
	}
	u, err := w.store.GetEndUserRow(r.Context(), id)
	if err != nil {
		return err
	}
	dep, err := w.store.CountEndUserDependents(r.Context(), id)
	if err != nil {
		return err
	}
	d := ipUserDeleteData{User: u, Dependents: dep}
	if dep.FamilyMembers > 0 {
		l, err := w.store.ListEndUsers(r.Context(), model.EndUserFilter{Kind: u.Kind, AccountType: store.AccountTypeFamilyMember,
			ProjectID: u.ProjectID, Page: model.Page{Page: 1, PerPage: model.MaxPerPage}})
		if err != nil {
			return err
		}
		for _, m := range l.Items {
			if m.FamilyMasterID == u.ID {
				d.Members = append(d.Members, m)
			}
		}
	}
	p := w.page(r, tr(r, "Delete %s", u.Name), "installer-users", d)
	p.Error = msg
	return w.render(rw, status, "installer_user_delete", p)
}

// DeleteInstallerUser deletes an end user (a family master with its
// members) once the confirmation is ticked.
func (w *Web) DeleteInstallerUser(rw http.ResponseWriter, r *http.Request) error {
	id, err := ipPathID(r, "end user")
	if err != nil {
		return err
	}
	if r.PostFormValue("confirm") != "yes" {
		return w.installerUserDelete(rw, r, http.StatusBadRequest, tr(r, "Tick the confirmation to delete the user."))
	}
	u, err := w.store.GetEndUser(r.Context(), id)
	if err != nil {
		return err
	}
	gone, err := w.cases.DeleteEndUser(r.Context(), id)
	if err != nil {
		return err
	}
	notice := tr(r, "Deleted %s.", u.Name)
	if gone.FamilyMembers > 0 {
		notice = trn(r, "Deleted %[2]s and %[1]d family members.", gone.FamilyMembers, u.Name)
	}
	return redirect(rw, r, fmt.Sprintf("/installer/projects/%d", u.ProjectID), notice)
}

// The message of ipQueryID's check, whose field is not a literal the
// catalog tests can see.
var _ = []string{i18n.N("must be a positive whole number")}
