package api

import (
	"net/http"
	"strconv"

	"github.com/gatehouse-dev/gatehouse/internal/model"
	"github.com/gatehouse-dev/gatehouse/internal/usecase"
)

// Distributors are managed by the admin, sub-distributors by their
// distributor; the store's scoping decides what each caller sees.

func (a *API) listAccounts(w http.ResponseWriter, r *http.Request, role model.Role, filename string) error {
	var v model.Validator
	q := r.URL.Query()
	f := model.AccountFilter{Role: role, Search: q.Get("search"), Page: model.ParsePage(q, &v)}
	format := checkFormat(r, &v)
	if err := v.Err(); err != nil {
		return err
	}
	f.Page = exportPage(format, f.Page)
	l, err := a.Store.ListAccounts(r.Context(), f)
	if err != nil {
		return err
	}
	return writeList(w, format, filename, l,
		[]string{"id", "username", "name", "company", "email", "phone", "payment_enabled", "pay_by_distributor", "created_at"},
		func(x *model.Account) []string {
			return []string{strconv.FormatInt(x.ID, 10), x.Username, x.Name, x.Company, x.Email, x.Phone,
				strconv.FormatBool(x.PaymentEnabled), strconv.FormatBool(x.PayByDistributor), formatTime(x.Created)}
		})
}

type accountRequest struct {
	Username         string `json:"username"`
	Password         string `json:"password"`
	Name             string `json:"name"`
	Company          string `json:"company"`
	Email            string `json:"email"`
	Phone            string `json:"phone"`
	ParentID         int64  `json:"parent_id"`
	PaymentEnabled   bool   `json:"payment_enabled"`
	PayByDistributor bool   `json:"pay_by_distributor"`
}

// CreateAccountRequest turns a request into a new account of role under the
// caller (or under parent_id, for the admin), hashing the password.
func (a *API) createAccount(w http.ResponseWriter, r *http.Request, role model.Role) error {
	var req accountRequest
	if err := decodeJSON(w, r, &req); err != nil {
		return err
	}
	id := identity(r)
	acc := &model.Account{Role: role, Username: req.Username, Name: req.Name, Company: req.Company, Email: req.Email,
		Phone: req.Phone, ParentID: req.ParentID, PaymentEnabled: req.PaymentEnabled, PayByDistributor: req.PayByDistributor}
	if acc.ParentID == 0 {
		acc.ParentID = id.Account.ID
	}
	if err := a.Cases.CreateAccount(r.Context(), acc, req.Password); err != nil {
		return err
	}
	return writeJSON(w, http.StatusCreated, acc)
}

func (a *API) getAccount(w http.ResponseWriter, r *http.Request, role model.Role, what string) error {
	id, err := pathID(r, "id", what)
	if err != nil {
		return err
	}
	acc, err := a.Store.GetAccount(r.Context(), id)
	if err != nil {
		return err
	}
	if acc.Role != role {
		return model.NotFound(what)
	}
	return writeJSON(w, http.StatusOK, acc)
}

// ListDistributors lists the admin's distributors.
func (a *API) ListDistributors(w http.ResponseWriter, r *http.Request) error {
	return a.listAccounts(w, r, model.RoleDistributor, "distributors")
}

// CreateDistributor adds a distributor (admin).
func (a *API) CreateDistributor(w http.ResponseWriter, r *http.Request) error {
	return a.createAccount(w, r, model.RoleDistributor)
}

// ListSubdistributors lists the caller's sub-distributors.
func (a *API) ListSubdistributors(w http.ResponseWriter, r *http.Request) error {
	return a.listAccounts(w, r, model.RoleSubdistributor, "subdistributors")
}

// CreateSubdistributor adds a sub-distributor under the calling distributor.
func (a *API) CreateSubdistributor(w http.ResponseWriter, r *http.Request) error {
	return a.createAccount(w, r, model.RoleSubdistributor)
}

// GetSubdistributor returns one sub-distributor.
func (a *API) GetSubdistributor(w http.ResponseWriter, r *http.Request) error {
	return a.getAccount(w, r, model.RoleSubdistributor, "sub-distributor")
}

type switchesRequest struct {
	PaymentEnabled   *bool `json:"payment_enabled"`
	PayByDistributor *bool `json:"pay_by_distributor"`
}

// UpdateSubdistributor switches the payment feature and "Pay by
// Distributor"; omitted fields keep their value.
func (a *API) UpdateSubdistributor(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "id", "sub-distributor")
	if err != nil {
		return err
	}
	var req switchesRequest
	if err := decodeJSON(w, r, &req); err != nil {
		return err
	}
	acc, err := a.Cases.SetSubdistributorSwitches(r.Context(), id, usecase.SubdistributorSwitches{PaymentEnabled: req.PaymentEnabled,
		PayByDistributor: req.PayByDistributor})
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, acc)
}

// ListAudit lists the audit log of the caller's subtree.
func (a *API) ListAudit(w http.ResponseWriter, r *http.Request) error {
	var v model.Validator
	q := r.URL.Query()
	f := model.AuditFilter{Action: q.Get("action"), ObjectType: q.Get("object_type"), ObjectID: q.Get("object_id"), Page: model.ParsePage(q, &v)}
	format := checkFormat(r, &v)
	if err := v.Err(); err != nil {
		return err
	}
	f.Page = exportPage(format, f.Page)
	l, err := a.Store.ListAudit(r.Context(), f)
	if err != nil {
		return err
	}
	return writeList(w, format, "audit", l,
		[]string{"at", "actor", "real_actor", "account", "action", "object_type", "object_id"},
		func(e *model.AuditEntry) []string {
			return []string{formatTime(e.At), e.Actor, e.RealActor, e.Account, e.Action, e.ObjectType, e.ObjectID}
		})
}
