package usecase

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"regexp"
	"slices"
	"strings"

	"github.com/gatehouse-dev/gatehouse/internal/model"
	"github.com/gatehouse-dev/gatehouse/internal/store"
	"github.com/gatehouse-dev/gatehouse/internal/tabular"
)

// Imports from an uploaded CSV or XLSX file (tabular.Read tells which from
// its bytes): an installer's MAC library and a project's end users. The
// transports read the upload within tabular.MaxBytes and hand over the
// bytes; reading the rows out of them is the use case's.

// importFileError names the file in an error of tabular.Read: ETOOLARGE for
// a file past one of its bounds, EINVALID for a malformed one.
func importFileError(err error) error {
	var le *tabular.LimitError
	if errors.As(err, &le) {
		return model.TooLarge("file", "%v", err)
	}
	return model.Invalid("file", "%v", err)
}

// AddMACs adds MACs to installer id's library; every refused row is
// reported by its number and reason, the rest are added.
func (c *Cases) AddMACs(ctx context.Context, installerID int64, rows []model.MACRow) (model.ImportResult, error) {
	res, err := c.store.ImportMACs(ctx, installerID, rows)
	return res, c.internal(ctx, "adding the MACs", err)
}

// ImportMACFile imports the MAC template (CSV or XLSX) into installer id's
// library: a MAC column, an optional name and an optional claim code (the
// maker's, printed for the MAC), with or without the header row.
func (c *Cases) ImportMACFile(ctx context.Context, installerID int64, data []byte) (model.ImportResult, error) {
	rows, err := tabular.Read(ctx, data)
	if err != nil {
		return model.ImportResult{}, importFileError(err)
	}
	if len(rows) > 0 && strings.EqualFold(rows[0].Cell(0), "mac") {
		rows = rows[1:]
	}
	if len(rows) == 0 {
		return model.ImportResult{}, model.Invalid("file", "holds no MAC addresses")
	}
	macs := make([]model.MACRow, len(rows))
	for i, r := range rows {
		macs[i] = model.MACRow{Row: r.N, MAC: r.Cell(0), Name: r.Cell(1), Claim: r.Cell(2)}
	}
	return c.AddMACs(ctx, installerID, macs)
}

// DeleteMAC removes a MAC from installer id's library.
func (c *Cases) DeleteMAC(ctx context.Context, installerID int64, mac string) error {
	return c.internal(ctx, "removing the MAC", c.store.DeleteMAC(ctx, installerID, mac))
}

// EndUserImportColumns are the columns of the end-user import, in the
// template's order; headers are matched ignoring case, spaces and
// punctuation, and the guide's column names are understood too.
var EndUserImportColumns = []string{"Role", "Name", "Building", "Apartment", "Department", "SIP", "Email", "Mobile Number",
	"Phone", "Address", "Active", "Premium Plan", "Expiration Time(App)", "Expiration Time(Premium)"}

var importEndUserHeaderAliases = map[string]string{
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

var importNonAlnum = regexp.MustCompile(`[^a-z0-9]+`)

// EndUserTemplate is the end-user import template: the header and two
// example rows, as CSV.
func EndUserTemplate() []byte {
	return tabular.CSV(EndUserImportColumns, [][]string{
		{"Family Master", "Anna Berg", "Building A", "101", "", "6001", "anna@example.com", "+49 170 1234567", "", "", "yes", "", "2027-12-31", ""},
		{"Family Member", "Tom Berg", "Building A", "101", "", "", "", "", "", "", "yes", "", "", ""},
	})
}

// ImportEndUserFile imports the users of a CSV or XLSX file into project
// projectID: the valid rows are added in one transaction, every other row
// is reported by number and reason. The same file sent again within a day
// is refused and imports nothing (store.ImportEndUserFile).
func (c *Cases) ImportEndUserFile(ctx context.Context, projectID int64, data []byte) (model.ImportResult, error) {
	rows, rejected, err := importEndUserRows(ctx, data)
	if err != nil {
		return model.ImportResult{}, err
	}
	sum := sha256.Sum256(data)
	res, err := c.store.ImportEndUserFile(ctx, projectID, hex.EncodeToString(sum[:]), rows)
	if err != nil {
		return res, c.internal(ctx, "importing the users", err)
	}
	res.Rejected = append(res.Rejected, rejected...)
	slices.SortFunc(res.Rejected, func(a, b model.RowError) int { return a.Row - b.Row })
	return res, nil
}

// importEndUserRows reads an end-user file: a header row naming the
// columns (any order, Name required), then one user a row. Rows that cannot
// be read are returned as rejected, numbered as in the file.
func importEndUserRows(ctx context.Context, data []byte) ([]store.EndUserImportRow, []model.RowError, error) {
	rows, err := tabular.Read(ctx, data)
	if err != nil {
		return nil, nil, importFileError(err)
	}
	if len(rows) == 0 {
		return nil, nil, model.Invalid("file", "is empty: the first row names the columns (%s)", strings.Join(EndUserImportColumns, ", "))
	}
	header := rows[0]
	cols := make([]string, len(header.Cells))
	seen := map[string]bool{}
	for i := range header.Cells {
		raw := header.Cell(i)
		key := importNonAlnum.ReplaceAllString(strings.ToLower(raw), "")
		if key == "" {
			continue
		}
		col, ok := importEndUserHeaderAliases[key]
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
		fields := map[string]*string{"role": &u.Role, "name": &u.Name, "building": &u.Building, "apartment": &u.Apartment,
			"department": &u.Department, "sip": &u.SIP, "email": &u.Email, "mobile": &u.Mobile, "phone": &u.Phone,
			"address": &u.Address, "active": &u.Active, "premium": &u.Premium, "app_expires": &u.AppExpires,
			"premium_expires": &u.PremiumExpires}
		extra := false
		for i := range row.Cells {
			cell := row.Cell(i)
			if i >= len(cols) || cols[i] == "" {
				extra = extra || cell != ""
				continue
			}
			*fields[cols[i]] = cell
		}
		if extra {
			rejected = append(rejected, model.RowError{Row: row.N, Value: u.Name, Reason: "has a value in a column without a header"})
			continue
		}
		out = append(out, u)
	}
	return out, rejected, nil
}
