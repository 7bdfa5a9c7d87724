package api

import (
	"context"
	"net/http"
	"regexp"
	"slices"
	"strings"

	"github.com/gatehouse-dev/gatehouse/internal/model"
	"github.com/gatehouse-dev/gatehouse/internal/store"
	"github.com/gatehouse-dev/gatehouse/internal/tabular"
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
	if err := a.Store.AddEndUser(r.Context(), u); err != nil {
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
	u, err := a.Store.GetEndUser(r.Context(), id)
	if err != nil {
		return err
	}
	if err := req.apply(u); err != nil {
		return err
	}
	if err := a.Store.UpdateEndUser(r.Context(), u); err != nil {
		return err
	}
	u, err = a.Store.GetEndUser(r.Context(), id)
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
	gone, err := a.Store.DeleteEndUser(r.Context(), id)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, map[string]any{"deleted": gone})
}

// EndUserImportColumns are the columns of the end-user import, in the
// template's order; headers are matched ignoring case, spaces and
// punctuation, and the guide's column names are understood too.
var EndUserImportColumns = []string{"Role", "Name", "Building", "Apartment", "Department", "SIP", "Email", "Mobile Number",
	"Phone", "Address", "Active", "Premium Plan", "Expiration Time(App)", "Expiration Time(Premium)"}

var importHeaderAliases = map[string]string{
	"role": "role", "accounttype": "role", "type": "role",
	"name":     "name",
	"building": "building", "buildingname": "building",
	"apartment": "apartment", "apartmentnumber": "apartment", "apt": "apartment", "room": "apartment", "roomnumber": "apartment",
	"department": "department",
	"sip":        "sip",
	"email":      "email",
	"mobile":     "mobile", "mobilenumber": "mobile",
	"phone":   "phone",
	"address": "address",
	"active":  "active",
	"premium": "premium", "premiumplan": "premium",
	"appexpires": "app_expires", "appexpiresat": "app_expires", "expirationtimeapp": "app_expires", "expiresapp": "app_expires",
	"premiumexpires": "premium_expires", "premiumexpiresat": "premium_expires", "expirationtimepremium": "premium_expires",
	"expirespremium": "premium_expires",
}

var nonAlnum = regexp.MustCompile(`[^a-z0-9]+`)

// ParseEndUserFile reads an end-user CSV or XLSX: a header row naming the
// columns (any order, Name required), then one user a row. Rows that cannot
// be read are returned as rejected, numbered as in the file.
func ParseEndUserFile(ctx context.Context, data []byte) ([]store.EndUserImportRow, []model.RowError, error) {
	rows, err := tabular.Read(ctx, data)
	if err != nil {
		return nil, nil, FileError(err)
	}
	if len(rows) == 0 {
		return nil, nil, model.Invalid("file", "is empty: the first row names the columns (%s)", strings.Join(EndUserImportColumns, ", "))
	}
	header := rows[0]
	cols := make([]string, len(header.Cells))
	seen := map[string]bool{}
	for i := range header.Cells {
		raw := header.Cell(i)
		key := nonAlnum.ReplaceAllString(strings.ToLower(raw), "")
		if key == "" {
			continue
		}
		col, ok := importHeaderAliases[key]
		if !ok {
			return nil, nil, model.Invalid("file", "row %d: unknown column %q; the columns are %s", header.N, raw, strings.Join(EndUserImportColumns, ", "))
		}
		if seen[col] {
			return nil, nil, model.Invalid("file", "row %d: the column %q appears twice", header.N, raw)
		}
		seen[col], cols[i] = true, col
	}
	if !seen["name"] {
		return nil, nil, model.Invalid("file", "row %d must name the columns, Name among them (%s)", header.N, strings.Join(EndUserImportColumns, ", "))
	}
	if len(rows) == 1 {
		return nil, nil, model.Invalid("file", "holds no users below its header")
	}
	if len(rows)-1 > store.MaxEndUserImport {
		return nil, nil, model.Invalid("file", "holds %d rows; at most %d may be imported at once", len(rows)-1, store.MaxEndUserImport)
	}
	var out []store.EndUserImportRow
	var rejected []model.RowError
	for _, row := range rows[1:] {
		u := store.EndUserImportRow{Row: row.N}
		extra := false
		for i := range row.Cells {
			cell := row.Cell(i)
			if i >= len(cols) || cols[i] == "" {
				extra = extra || cell != ""
				continue
			}
			switch cols[i] {
			case "role":
				u.Role = cell
			case "name":
				u.Name = cell
			case "building":
				u.Building = cell
			case "apartment":
				u.Apartment = cell
			case "department":
				u.Department = cell
			case "sip":
				u.SIP = cell
			case "email":
				u.Email = cell
			case "mobile":
				u.Mobile = cell
			case "phone":
				u.Phone = cell
			case "address":
				u.Address = cell
			case "active":
				u.Active = cell
			case "premium":
				u.Premium = cell
			case "app_expires":
				u.AppExpires = cell
			case "premium_expires":
				u.PremiumExpires = cell
			}
		}
		if extra {
			rejected = append(rejected, model.RowError{Row: row.N, Value: u.Name, Reason: "has a value in a column without a header"})
			continue
		}
		out = append(out, u)
	}
	return out, rejected, nil
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
	res, err := ImportEndUserFile(r, a.Store, pid, data)
	if err != nil {
		return err
	}
	return writeImport(w, res)
}

// ImportEndUserFile parses and imports a file into project pid; the portal
// uses it too.
func ImportEndUserFile(r *http.Request, st *store.Store, pid int64, data []byte) (model.ImportResult, error) {
	rows, rejected, err := ParseEndUserFile(r.Context(), data)
	if err != nil {
		return model.ImportResult{}, err
	}
	res, err := st.ImportEndUsers(r.Context(), pid, rows)
	if err != nil {
		return res, err
	}
	res.Rejected = append(res.Rejected, rejected...)
	slices.SortFunc(res.Rejected, func(a, b model.RowError) int { return a.Row - b.Row })
	return res, nil
}

// EndUserTemplate is the import template: the header and two example rows.
func EndUserTemplate() []byte {
	return tabular.CSV(EndUserImportColumns, [][]string{
		{"Family Master", "Anna Berg", "Building A", "101", "", "6001", "anna@example.com", "+49 170 1234567", "", "", "yes", "", "2027-12-31", ""},
		{"Family Member", "Tom Berg", "Building A", "101", "", "", "", "", "", "", "yes", "", "", ""},
	})
}
