package web

import (
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/gatehouse-dev/gatehouse/internal/listquery"
	"github.com/gatehouse-dev/gatehouse/internal/model"
	"github.com/gatehouse-dev/gatehouse/internal/store"
)

// The User module's Villa User, Community User and Office User tabs: the
// guide's "Search/Check End User Account".

// endUserOption is one entry of a select.
type endUserOption struct{ Value, Label string }

var (
	endUserAccountTypes = []endUserOption{{"all", "All"}, {"family_master", "Family Master"}, {"family_member", "Family Member"}}
	endUserSearchLabels = map[string]string{"sip": "SIP", "name": "Name", "email": "Email", "mobile": "Mobile Number",
		"installer": "Installer", "family_master": "Family Master", "office": "Office"}
	endUserRoleLabels = map[model.EndUserRole]string{model.FamilyMaster: "Family Master", model.FamilyMember: "Family Member",
		model.PropertyManager: "Property Manager", model.OfficeStaff: "Office Staff"}
	endUserKindLabels = map[model.EndUserKind]string{model.KindVilla: "Villa User", model.KindCommunity: "Community User",
		model.KindOffice: "Office User"}
)

type endUserListData struct {
	Kind         model.EndUserKind
	Filter       model.EndUserFilter
	AccountTypes []endUserOption // none for office users
	SearchTypes  []endUserOption
	List         model.List[*model.EndUserRow]
	Capped       bool   // more than store.EndUserCountCap users match
	Count        string // "1–50 of 327", "1–50 of more than 10,000"
	Pager        Pager
	Export       string
}

// EndUserList serves one of the three end-user lists: Account Type (villa
// and community), Search Type and text, pages and a CSV export.
func (w *Web) EndUserList(kind model.EndUserKind) Handler {
	return func(rw http.ResponseWriter, r *http.Request) error {
		// The form always sends a Search Type; a link with text only
		// searches by name, the select's default.
		if q := r.URL.Query(); q.Get("search_type") == "" && q.Get("q") != "" {
			r = r.Clone(r.Context())
			q.Set("search_type", "name")
			r.URL.RawQuery = q.Encode()
		}
		var v model.Validator
		f := listquery.EndUsers(r.URL.Query(), kind, &v)
		if f.SearchType == "" {
			f.SearchType = "name"
		}
		d := endUserListData{Kind: kind, Filter: f}
		if kind != model.KindOffice {
			d.AccountTypes = endUserAccountTypes
		}
		for _, t := range store.EndUserSearchTypes(kind) {
			d.SearchTypes = append(d.SearchTypes, endUserOption{t, endUserSearchLabels[t]})
		}
		p := w.page(r, "User", "users", nil)
		fail := func(err error) error {
			p.Fields = model.ErrorFields(err)
			p.Error = fieldErrors(p.Fields)
			p.Data = d
			return w.render(rw, http.StatusBadRequest, "users_endusers", p)
		}
		if err := v.Err(); err != nil {
			return fail(err)
		}
		l, err := w.store.ListEndUsers(r.Context(), f)
		if model.ErrorCode(err) == model.EINVALID {
			return fail(err) // a search this list is too long for: narrow first
		} else if err != nil {
			return err
		}
		d.List = l
		total := l.Total
		if total > store.EndUserCountCap {
			d.Capped, total = true, store.EndUserCountCap
		}
		d.Pager = newPager(r, f.Page.Page, f.PerPage, total)
		if d.Capped {
			// The count stopped: pages go on while they are full.
			d.Pager.Last = d.Pager.First + len(l.Items) - 1
			if len(l.Items) == f.PerPage {
				q := r.URL.Query()
				q.Set("page", strconv.Itoa(f.Page.Page+1))
				q.Del("notice")
				d.Pager.Next = "?" + q.Encode()
			} else {
				d.Pager.Next = ""
			}
		}
		switch {
		case len(l.Items) == 0:
			d.Count = "No users"
		case d.Capped:
			d.Count = strconv.Itoa(d.Pager.First) + "–" + strconv.Itoa(d.Pager.Last) + " of more than " + thousands(store.EndUserCountCap)
		default:
			d.Count = strconv.Itoa(d.Pager.First) + "–" + strconv.Itoa(d.Pager.Last) + " of " + thousands(total)
		}
		// The export is the API's, for this list: add its kind.
		er := r.Clone(r.Context())
		eq := er.URL.Query()
		eq.Set("kind", string(kind))
		er.URL.RawQuery = eq.Encode()
		d.Export = exportURL(er, "/api/v1/end-users")
		p.Data = d
		return w.render(rw, http.StatusOK, "users_endusers", p)
	}
}

// fieldErrors says what is wrong with each field, for the error line: some
// fields (an office list's account_type) have no control on the page.
func fieldErrors(fields map[string]string) string {
	var parts []string
	for f, m := range fields {
		parts = append(parts, f+": "+m)
	}
	slices.Sort(parts)
	return strings.Join(parts, "; ") + "."
}

// thousands writes n with comma separators: 10000 → "10,000".
func thousands(n int) string {
	s := strconv.Itoa(n)
	for i := len(s) - 3; i > 0 && s[i-1] != '-'; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}

type endUserDetailData struct {
	Row       *model.EndUserRow
	Role      string
	KindLabel string
}

// EndUserDetail shows one end user of the sub-distributor's installers.
func (w *Web) EndUserDetail(rw http.ResponseWriter, r *http.Request) error {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id <= 0 {
		return model.NotFound("end user")
	}
	row, err := w.store.GetEndUserRow(r.Context(), id)
	if err != nil {
		return err
	}
	d := endUserDetailData{Row: row, Role: endUserRoleLabels[row.Role], KindLabel: endUserKindLabels[row.Kind]}
	return w.render(rw, http.StatusOK, "users_enduser_detail", w.page(r, row.Name, "users", d))
}
