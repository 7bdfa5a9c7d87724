package web

import (
	"net/http"
	"strconv"
	"strings"

	"github.com/gatehouse-dev/gatehouse/internal/model"
	"github.com/gatehouse-dev/gatehouse/internal/usecase"
)

type accountsData struct {
	Role   model.Role
	Search string
	List   model.List[*model.Account]
	Pager  Pager
	Form   accountForm
	Export string
}

type accountForm struct {
	Username, Name, Company, Email, Phone string
	PaymentEnabled, PayByDistributor      bool
}

func (w *Web) accountList(rw http.ResponseWriter, r *http.Request, role model.Role, title, key, tmpl, apiPath string, form accountForm, formErr error) error {
	var v model.Validator
	q := r.URL.Query()
	f := model.AccountFilter{Role: role, Search: strings.TrimSpace(q.Get("search")), Page: model.ParsePage(q, &v)}
	p := w.page(r, title, key, nil)
	status := http.StatusOK
	if err := v.Err(); err != nil {
		return err
	}
	if formErr != nil {
		status = http.StatusBadRequest
		p.Fail(formErr)
		if model.ErrorCode(formErr) == model.ECONFLICT {
			status = http.StatusConflict
		}
	}
	l, err := w.store.ListAccounts(r.Context(), f)
	if err != nil {
		return err
	}
	p.Data = accountsData{Role: role, Search: f.Search, List: l, Pager: newPager(r, f.Page.Page, f.PerPage, l.Total),
		Form: form, Export: exportURL(r, apiPath)}
	return w.render(rw, status, tmpl, p)
}

// createAccount adds an account of role under the signed-in account from
// the form; on bad input the list is shown again with the form filled in.
func (w *Web) createAccount(rw http.ResponseWriter, r *http.Request, role model.Role) (accountForm, error) {
	form := accountForm{
		Username: r.PostFormValue("username"), Name: r.PostFormValue("name"), Company: r.PostFormValue("company"),
		Email: r.PostFormValue("email"), Phone: r.PostFormValue("phone"),
		PaymentEnabled: r.PostFormValue("payment_enabled") == "on", PayByDistributor: r.PostFormValue("pay_by_distributor") == "on",
	}
	acc := &model.Account{Role: role, Username: form.Username, Name: form.Name, Company: form.Company, Email: form.Email,
		Phone: form.Phone, ParentID: identity(r).Account.ID, PaymentEnabled: form.PaymentEnabled, PayByDistributor: form.PayByDistributor}
	return form, w.cases.CreateAccount(r.Context(), acc, r.PostFormValue("password"))
}

// Distributors lists the admin's distributors.
func (w *Web) Distributors(rw http.ResponseWriter, r *http.Request) error {
	return w.accountList(rw, r, model.RoleDistributor, tr(r, "Distributors"), "distributors", "accounts", "/api/v1/distributors", accountForm{}, nil)
}

// CreateDistributor adds a distributor.
func (w *Web) CreateDistributor(rw http.ResponseWriter, r *http.Request) error {
	form, err := w.createAccount(rw, r, model.RoleDistributor)
	if isUserError(err) {
		return w.accountList(rw, r, model.RoleDistributor, tr(r, "Distributors"), "distributors", "accounts", "/api/v1/distributors", form, err)
	} else if err != nil {
		return err
	}
	return redirect(rw, r, "/distributors", tr(r, "Distributor %s created.", form.Username))
}

// Subdistributors lists the distributor's sub-distributors with their switches.
func (w *Web) Subdistributors(rw http.ResponseWriter, r *http.Request) error {
	return w.accountList(rw, r, model.RoleSubdistributor, tr(r, "Sub-distributors"), "subdistributors", "accounts", "/api/v1/subdistributors", accountForm{}, nil)
}

// CreateSubdistributor adds a sub-distributor.
func (w *Web) CreateSubdistributor(rw http.ResponseWriter, r *http.Request) error {
	form, err := w.createAccount(rw, r, model.RoleSubdistributor)
	if isUserError(err) {
		return w.accountList(rw, r, model.RoleSubdistributor, tr(r, "Sub-distributors"), "subdistributors", "accounts", "/api/v1/subdistributors", form, err)
	} else if err != nil {
		return err
	}
	return redirect(rw, r, "/subdistributors", tr(r, "Sub-distributor %s created.", form.Username))
}

// SubdistributorSwitches sets the payment feature and "Pay by Distributor".
func (w *Web) SubdistributorSwitches(rw http.ResponseWriter, r *http.Request) error {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil {
		return model.NotFound("sub-distributor")
	}
	pe, pbd := r.PostFormValue("payment_enabled") == "on", r.PostFormValue("pay_by_distributor") == "on"
	acc, err := w.cases.SetSubdistributorSwitches(r.Context(), id, usecase.SubdistributorSwitches{PaymentEnabled: &pe, PayByDistributor: &pbd})
	if err != nil {
		return err
	}
	return redirect(rw, r, "/subdistributors", tr(r, "Saved the switches of %s.", acc.Username))
}

func isUserError(err error) bool {
	c := model.ErrorCode(err)
	return c == model.EINVALID || c == model.ECONFLICT
}

type auditData struct {
	List   model.List[*model.AuditEntry]
	Pager  Pager
	Filter model.AuditFilter
	Export string
}

// AuditList shows the audit log of the account's subtree.
func (w *Web) AuditList(rw http.ResponseWriter, r *http.Request) error {
	var v model.Validator
	q := r.URL.Query()
	f := model.AuditFilter{Action: strings.TrimSpace(q.Get("action")), ObjectType: strings.TrimSpace(q.Get("object_type")),
		ObjectID: strings.TrimSpace(q.Get("object_id")), Page: model.ParsePage(q, &v)}
	if err := v.Err(); err != nil {
		return err
	}
	l, err := w.store.ListAudit(r.Context(), f)
	if err != nil {
		return err
	}
	p := w.page(r, tr(r, "Audit Log"), "audit", auditData{List: l, Pager: newPager(r, f.Page.Page, f.PerPage, l.Total), Filter: f,
		Export: exportURL(r, "/api/v1/audit")})
	return w.render(rw, http.StatusOK, "audit", p)
}
