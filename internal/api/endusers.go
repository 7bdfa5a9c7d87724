package api

import (
	"net/http"
	"strconv"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/listquery"
	"github.com/gatehouse-dev/gatehouse/internal/model"
	"github.com/gatehouse-dev/gatehouse/internal/store"
)

// The User module's end-user lists: Villa User, Community User and Office
// User, with the guide's columns, filters and a detail view.

// EndUserItem is one row of an end-user list, with the guide's columns.
// Community is set in the community list, Office in the office list;
// family_master is null where the user has none (property managers,
// office staff), the expiration times where there is none.
type EndUserItem struct {
	ID             int64      `json:"id"`
	Name           string     `json:"name"`
	SIP            string     `json:"sip"`
	Email          string     `json:"email"`
	Mobile         string     `json:"mobile"`
	Installer      string     `json:"installer"`
	Community      *string    `json:"community,omitempty"`
	Office         *string    `json:"office,omitempty"`
	FamilyMaster   *string    `json:"family_master"`
	Address        string     `json:"address"`
	Phone          string     `json:"phone"`
	Active         bool       `json:"active"`
	Premium        bool       `json:"premium"`
	CreatedAt      time.Time  `json:"created_at"`
	ExpiresApp     *time.Time `json:"expires_app"`
	ExpiresPremium *time.Time `json:"expires_premium"`
}

// NewEndUserItem turns a store row into a list item.
func NewEndUserItem(r *model.EndUserRow) EndUserItem {
	it := EndUserItem{ID: r.ID, Name: r.Name, SIP: r.SIP, Email: r.Email, Mobile: r.Mobile, Installer: r.Installer,
		Address: r.Address, Phone: r.Phone, Active: r.Active, Premium: r.Premium, CreatedAt: r.Created.UTC(),
		ExpiresApp: utcPtr(r.AppExpires), ExpiresPremium: utcPtr(r.PremiumExpires)}
	project := r.Project
	switch r.Kind {
	case model.KindCommunity:
		it.Community = &project
	case model.KindOffice:
		it.Office = &project
	}
	if r.FamilyMaster != "" {
		fm := r.FamilyMaster
		it.FamilyMaster = &fm
	}
	return it
}

func utcPtr(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	u := t.UTC()
	return &u
}

// endUserCSV is the CSV export's columns of each list, in the guide's order.
var endUserCSV = map[model.EndUserKind][]string{
	model.KindVilla: {"id", "name", "sip", "email", "mobile", "installer", "family_master", "address", "phone", "active",
		"premium", "created_at", "expires_app", "expires_premium"},
	model.KindCommunity: {"id", "name", "sip", "email", "mobile", "installer", "community", "family_master", "address", "phone",
		"active", "premium", "created_at", "expires_app", "expires_premium"},
	model.KindOffice: {"id", "name", "sip", "email", "mobile", "installer", "office", "phone", "active", "created_at", "expires_app"},
}

func csvTime(t *time.Time) string {
	if t == nil {
		return ""
	}
	return formatTime(*t)
}

func endUserCSVRow(kind model.EndUserKind, r *model.EndUserRow) []string {
	cells := map[string]string{"id": strconv.FormatInt(r.ID, 10), "name": r.Name, "sip": r.SIP, "email": r.Email,
		"mobile": r.Mobile, "installer": r.Installer, "community": r.Project, "office": r.Project, "family_master": r.FamilyMaster,
		"address": r.Address, "phone": r.Phone, "active": strconv.FormatBool(r.Active), "premium": strconv.FormatBool(r.Premium),
		"created_at": formatTime(r.Created), "expires_app": csvTime(r.AppExpires), "expires_premium": csvTime(r.PremiumExpires)}
	cols := endUserCSV[kind]
	out := make([]string, len(cols))
	for i, c := range cols {
		out[i] = cells[c]
	}
	return out
}

// ListEndUsers answers GET /end-users?kind=villa|community|office: the
// caller's end users of that list, filtered by account_type and by
// search_type + q, newest first; format=csv exports the filtered list.
func (a *API) ListEndUsers(w http.ResponseWriter, r *http.Request) error {
	var v model.Validator
	f := listquery.EndUsers(r.URL.Query(), model.EndUserKind(r.URL.Query().Get("kind")), &v)
	format := checkFormat(r, &v)
	if err := v.Err(); err != nil {
		return err
	}
	f.Page = exportPage(format, f.Page)
	l, err := a.Store.ListEndUsers(r.Context(), f)
	if err != nil {
		return err
	}
	if format == "csv" {
		return writeList(w, format, string(f.Kind)+"-users", l, endUserCSV[f.Kind],
			func(row *model.EndUserRow) []string { return endUserCSVRow(f.Kind, row) })
	}
	return writeCapped(w, l, store.EndUserCountCap, NewEndUserItem)
}

// endUserDetail is one end user: the list's columns and where it belongs.
type endUserDetail struct {
	EndUserItem
	Kind           model.EndUserKind `json:"kind"`
	Role           model.EndUserRole `json:"role"`
	InstallerID    int64             `json:"installer_id"`
	ProjectID      int64             `json:"project_id"`
	Project        string            `json:"project"`
	Apartment      string            `json:"apartment,omitempty"`
	Department     string            `json:"department,omitempty"`
	FamilyMasterID int64             `json:"family_master_id,omitempty"`
}

// GetEndUser answers GET /end-users/{id}: one end user of the caller's subtree.
func (a *API) GetEndUser(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "id", "end user")
	if err != nil {
		return err
	}
	row, err := a.Store.GetEndUserRow(r.Context(), id)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, endUserDetail{EndUserItem: NewEndUserItem(row), Kind: row.Kind, Role: row.Role,
		InstallerID: row.InstallerID, ProjectID: row.ProjectID, Project: row.Project, Apartment: row.Apartment,
		Department: row.Department, FamilyMasterID: row.FamilyMasterID})
}
