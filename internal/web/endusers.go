package web

import (
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/gatehouse-dev/gatehouse/internal/i18n"
	"github.com/gatehouse-dev/gatehouse/internal/listquery"
	"github.com/gatehouse-dev/gatehouse/internal/model"
	"github.com/gatehouse-dev/gatehouse/internal/store"
)

// The User module's Villa User, Community User and Office User tabs: the
// guide's "Search/Check End User Account".

// endUserOption is one entry of a select; its Label a message key the
// template translates.
type endUserOption struct{ Value, Label string }

// The labels are message keys (English), translated where they are shown.
var (
	endUserAccountTypes = []endUserOption{{"all", i18n.N("All")}, {"family_master", i18n.N("Family Master")}, {"family_member", i18n.N("Family Member")}}
	endUserSearchLabels = map[string]string{"sip": i18n.N("SIP"), "name": i18n.N("Name"), "email": i18n.N("Email"), "mobile": i18n.N("Mobile Number"),
		"installer": i18n.N("Installer"), "family_master": i18n.N("Family Master"), "office": i18n.N("Office")}
	endUserRoleLabels = map[model.EndUserRole]string{model.FamilyMaster: i18n.N("Family Master"), model.FamilyMember: i18n.N("Family Member"),
		model.PropertyManager: i18n.N("Property Manager"), model.OfficeStaff: i18n.N("Office Staff")}
	endUserKindLabels = map[model.EndUserKind]string{model.KindVilla: i18n.N("Villa User"), model.KindCommunity: i18n.N("Community User"),
		model.KindOffice: i18n.N("Office User")}
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
		p := w.page(r, tr(r, "User"), "users", nil)
		fail := func(err error) error {
			p.Fail(err) // the field messages in the reader's language
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
		// The positions are written as they are (strings); the totals are
		// numbers, written in the reader's language ("10,000", "10.000").
		case len(l.Items) == 0:
			d.Count = tr(r, "No users")
		case d.Capped:
			d.Count = tr(r, "%s–%s of more than %d", strconv.Itoa(d.Pager.First), strconv.Itoa(d.Pager.Last), store.EndUserCountCap)
		default:
			d.Count = tr(r, "%s–%s of %d", strconv.Itoa(d.Pager.First), strconv.Itoa(d.Pager.Last), total)
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

// A text shown from the store's values, which the store cannot mark: the
// location of a device in a community's or an office's public area.
var _ = []string{i18n.N("Public area")}
