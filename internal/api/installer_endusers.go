package api

import (
	"net/http"

	"github.com/gatehouse-dev/gatehouse/internal/model"
	"github.com/gatehouse-dev/gatehouse/internal/store"
)

// The installer's writes of end users: add, change and delete one, and
// import many from a CSV or XLSX file. (The lists and the detail are the
// User module's, in endusers.go.)

type endUserRequest struct {
	Role             *string `json:"role"`
	Name             *string `json:"name"`
	ApartmentID      *int64  `json:"apartment_id"`
	DepartmentID     *int64  `json:"department_id"`
	FamilyMasterID   *int64  `json:"family_master_id"`
	SIP              *string `json:"sip"`
	Email            *string `json:"email"`
	Mobile           *string `json:"mobile"`
	Phone            *string `json:"phone"`
	Address          *string `json:"address"`
	Active           *bool   `json:"active"`
	Premium          *bool   `json:"premium"`
	AppExpiresAt     *string `json:"app_expires_at"`     // a date or RFC 3339 time; "" removes it
	PremiumExpiresAt *string `json:"premium_expires_at"` // a date or RFC 3339 time; "" removes it
}

// apply sets the given fields of u, naming a field that does not parse.
func (req endUserRequest) apply(u *model.EndUser) error {
	str := func(dst, src *string) {
		if src != nil {
			*dst = *src
		}
	}
	id := func(dst, src *int64) {
		if src != nil {
			*dst = *src
		}
	}
	if req.Role != nil {
		u.Role = model.EndUserRole(*req.Role)
	}
	str(&u.Name, req.Name)
	id(&u.ApartmentID, req.ApartmentID)
	id(&u.DepartmentID, req.DepartmentID)
	id(&u.FamilyMasterID, req.FamilyMasterID)
	str(&u.SIP, req.SIP)
	str(&u.Email, req.Email)
	str(&u.Mobile, req.Mobile)
	str(&u.Phone, req.Phone)
	str(&u.Address, req.Address)
	if req.Active != nil {
		u.Active = *req.Active
	}
	if req.Premium != nil {
		u.Premium = *req.Premium
	}
	var v model.Validator
	var ok bool
	if req.AppExpiresAt != nil {
		u.AppExpires, ok = store.ParseDate(*req.AppExpiresAt)
		v.Check(ok, "app_expires_at", "must be a date such as 2026-12-31 or an RFC 3339 time")
	}
	if req.PremiumExpiresAt != nil {
		u.PremiumExpires, ok = store.ParseDate(*req.PremiumExpiresAt)
		v.Check(ok, "premium_expires_at", "must be a date such as 2026-12-31 or an RFC 3339 time")
	}
	return v.Err()
}

// CreateEndUser adds an end user to a project under the household rules.
func (a *API) CreateEndUser(w http.ResponseWriter, r *http.Request) error {
	pid, err := pathID(r, "id", "project")
	if err != nil {
		return err
	}
	var req endUserRequest
	if err := decodeJSON(w, r, &req); err != nil {
		return err
	}
	if _, err := a.Store.GetProject(r.Context(), pid); err != nil {
		return err
	}
	u := &model.EndUser{ProjectID: pid}
	if err := req.apply(u); err != nil {
		return err
	}
	if err := a.Cases.CreateEndUser(r.Context(), u); err != nil {
		return err
	}
	return writeJSON(w, http.StatusCreated, u)
}

// UpdateEndUser changes an end user; omitted fields keep their value.
func (a *API) UpdateEndUser(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "id", "end user")
	if err != nil {
		return err
	}
	var req endUserRequest
	if err := decodeJSON(w, r, &req); err != nil {
		return err
	}
	u, err := a.Cases.UpdateEndUser(r.Context(), id, req.apply)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, u)
}

// DeleteEndUser deletes an end user (a family master with its members),
// answering what went with it.
func (a *API) DeleteEndUser(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "id", "end user")
	if err != nil {
		return err
	}
	gone, err := a.Cases.DeleteEndUser(r.Context(), id)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, map[string]any{"deleted": gone})
}

// ImportEndUsers imports the users of a CSV or XLSX file (the request body,
// or the multipart field "file") into a project: the valid rows are added
// in one transaction, every other row is reported by number and reason.
func (a *API) ImportEndUsers(w http.ResponseWriter, r *http.Request) error {
	pid, err := pathID(r, "id", "project")
	if err != nil {
		return err
	}
	if _, err := a.Store.GetProject(r.Context(), pid); err != nil {
		return err // a foreign project is not found before its file is read
	}
	data, err := uploadedFile(w, r)
	if err != nil {
		return err
	}
	res, err := a.Cases.ImportEndUserFile(r.Context(), pid, data)
	if err != nil {
		return err
	}
	return writeImport(w, res)
}
