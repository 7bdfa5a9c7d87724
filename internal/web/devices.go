package web

import (
	"html/template"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/gatehouse-dev/gatehouse/internal/i18n"
	"github.com/gatehouse-dev/gatehouse/internal/listquery"
	"github.com/gatehouse-dev/gatehouse/internal/model"
	"github.com/gatehouse-dev/gatehouse/internal/store"
)

// The Project Device (Community | Office) and Personal Device modules: the
// guide's "Check/Delete Project Devices" and "Check/Delete Personal
// Device": search, sort, pages, CSV export, a detail page, delete one or a
// selection after a confirmation. Remote maintenance (reboot, reset,
// Remote Control, AutoP) has its place on the pages and arrives with the
// device gateway.

// deviceTypeLabels name the device types as the portal shows them.
var deviceTypeLabels = map[model.DeviceType]string{model.DoorPhone: i18n.N("Door Phone"), model.IndoorMonitor: i18n.N("Indoor Monitor"),
	model.AccessControl: i18n.N("Access Control"), model.GuardPhone: i18n.N("Guard Phone")}

// deviceTypeLabel is a device type's name in the locale's language; "" for
// a type the portal does not name.
func deviceTypeLabel(l *i18n.Locale, t model.DeviceType) string {
	if s, ok := deviceTypeLabels[t]; ok {
		return l.T(s)
	}
	return ""
}

func init() {
	// emph writes a translated message with its first occurrence of part
	// (a figure the message holds) in bold: {{emph (t "…%s…" .X) .X}}.
	staticFuncs["emph"] = func(msg, part string) template.HTML { return markPart(msg, part, "<strong>", "</strong>") }
	// mono is emph in a monospace span (a MAC, a version, a syntax).
	staticFuncs["mono"] = func(msg, part string) template.HTML {
		return markPart(msg, part, `<span class="mono">`, "</span>")
	}
}

// markPart escapes msg and puts open and close around its first
// occurrence of part.
func markPart(msg, part, open, close string) template.HTML {
	m, p := template.HTMLEscapeString(msg), template.HTMLEscapeString(part)
	if i := strings.Index(m, p); p != "" && i >= 0 {
		return template.HTML(m[:i] + open + p + close + m[i+len(p):])
	}
	return template.HTML(m)
}

// deviceScopeText is what a list calls its project and manager columns and
// searches.
type deviceScopeText struct {
	Project, Manager, Module, Key, Path string
}

func deviceTextOf(k model.ProjectKind) deviceScopeText {
	switch k {
	case model.ProjectOffice:
		return deviceScopeText{i18n.N("Office"), i18n.N("Office Manager"), i18n.N("Project Device"), "project-devices", "/project-devices?kind=office"}
	case model.ProjectPersonal:
		return deviceScopeText{i18n.N("Home"), i18n.N("Single-tenant Manager"), i18n.N("Personal Device"), "personal-devices", "/personal-devices"}
	}
	return deviceScopeText{i18n.N("Community"), i18n.N("Community Manager"), i18n.N("Project Device"), "project-devices", "/project-devices?kind=community"}
}

// in is the text in the locale's language (deviceTextOf's is English).
func (t deviceScopeText) in(l *i18n.Locale) deviceScopeText {
	t.Project, t.Manager, t.Module = l.T(t.Project), l.T(t.Manager), l.T(t.Module)
	return t
}

// deviceTextIn is deviceTextOf in the reader's language.
func deviceTextIn(r *http.Request, k model.ProjectKind) deviceScopeText {
	return deviceTextOf(k).in(locale(r))
}

// rangeText is a list's count: "1–50 of 327", "1–50 of more than 10,000",
// or none (what: "No devices").
func rangeText(l *i18n.Locale, first, last, total int, capped bool, none string) string {
	switch {
	case last < first || total == 0:
		return l.T(none)
	case capped: // positions as they are (9951–10000), the total in the language's digits
		return l.T("%s–%s of more than %d", strconv.Itoa(first), strconv.Itoa(last), total)
	}
	return l.T("%s–%s of %d", strconv.Itoa(first), strconv.Itoa(last), total)
}

// deviceColumn is one header cell of a device list.
type deviceColumn struct {
	Key, Label string
	Href       string // sort link; "" when the column cannot sort this list
	Active     bool
	Arrow      string // asc or desc on the sorted column
	Title      string
}

// deviceRowView is one row of a device list as the template shows it.
type deviceRowView struct {
	*model.DeviceRow
	TypeLabel string
	Detail    string // link to the detail page, keeping the way back
	Delete    string // link to the delete confirmation
}

type deviceListData struct {
	Scope     model.ProjectKind
	Text      deviceScopeText
	Action    string // the search form's action
	Filter    model.DeviceFilter
	MACText   string // the MAC search as typed
	OnlineSel string // "", "true", "false"
	Columns   []deviceColumn
	Rows      []deviceRowView
	Capped    bool
	Count     string
	Pager     Pager
	Export    string
	Back      string // this list's URL, where deletions return
	Searching bool
	Versions  []string // the firmware search's suggestions: the catalogue's versions
}

// ProjectDevices is the Project Device module: community devices, or office
// devices with ?kind=office.
func (w *Web) ProjectDevices(rw http.ResponseWriter, r *http.Request) error {
	kind := model.ProjectKind(r.URL.Query().Get("kind"))
	if kind == "" {
		kind = model.ProjectCommunity
	}
	if kind != model.ProjectCommunity && kind != model.ProjectOffice {
		p := w.page(r, tr(r, "Project Device"), "project-devices", deviceListData{Scope: model.ProjectCommunity,
			Text: deviceTextIn(r, model.ProjectCommunity), Action: "/project-devices"})
		p.Fields = map[string]string{"kind": tr(r, "must be community or office")}
		p.Error = fieldErrors(p.Fields)
		return w.render(rw, http.StatusBadRequest, "devices_list", p)
	}
	return w.deviceList(rw, r, kind, "/project-devices")
}

// PersonalDevices is the Personal Device module: single-tenant devices.
func (w *Web) PersonalDevices(rw http.ResponseWriter, r *http.Request) error {
	return w.deviceList(rw, r, model.ProjectPersonal, "/personal-devices")
}

func (w *Web) deviceList(rw http.ResponseWriter, r *http.Request, kind model.ProjectKind, action string) error {
	var v model.Validator
	q := r.URL.Query()
	f := listquery.Devices(q, kind, &v)
	text := deviceTextIn(r, kind)
	d := deviceListData{Scope: kind, Text: text, Action: action, Filter: f, MACText: strings.TrimSpace(q.Get("mac")),
		OnlineSel: q.Get("online"), Back: r.URL.RequestURI(),
		Searching: f.MAC != "" || f.SIP != "" || f.Name != "" || f.Community != "" || f.Office != "" || f.Manager != "" ||
			f.Firmware != "" || f.Online != nil}
	var err error
	if d.Versions, err = w.firmwareVersions(r); err != nil {
		return err
	}
	p := w.page(r, text.Module, text.Key, nil)
	fail := func(err error) error {
		p.Fail(err)
		p.Error = fieldErrors(p.Fields)
		d.Columns = deviceColumns(r, f, false)
		p.Data = d
		return w.render(rw, http.StatusBadRequest, "devices_list", p)
	}
	if err := v.Err(); err != nil {
		return fail(err)
	}
	l, err := w.store.ListDevices(r.Context(), f)
	if model.ErrorCode(err) == model.EINVALID {
		return fail(err) // a sort a list this long cannot have
	} else if err != nil {
		return err
	}
	total := l.Total
	if total > store.DeviceCountCap {
		d.Capped, total = true, store.DeviceCountCap
	}
	d.Columns = deviceColumns(r, f, d.Capped)
	for _, row := range l.Items {
		d.Rows = append(d.Rows, deviceRowView{DeviceRow: row, TypeLabel: deviceTypeLabel(p.L, row.Type),
			Detail: "/devices/" + row.MAC + "?back=" + url.QueryEscape(d.Back),
			Delete: "/devices/" + row.MAC + "/delete?back=" + url.QueryEscape(d.Back)})
	}
	d.Pager = newPager(r, f.Page.Page, f.PerPage, total)
	if d.Capped {
		// The count stopped: pages go on while they are full.
		d.Pager.Last = d.Pager.First + len(l.Items) - 1
		d.Pager.Next = ""
		if len(l.Items) == f.PerPage {
			nq := r.URL.Query()
			nq.Set("page", strconv.Itoa(f.Page.Page+1))
			nq.Del("notice")
			d.Pager.Next = "?" + nq.Encode()
		}
	}
	if len(l.Items) == 0 {
		d.Count = p.L.T("No devices")
	} else {
		d.Count = rangeText(p.L, d.Pager.First, d.Pager.Last, total, d.Capped, "No devices")
	}
	// The export is the API's, for this list: its scope instead of kind.
	er := r.Clone(r.Context())
	eq := er.URL.Query()
	eq.Del("kind")
	eq.Set("scope", string(kind))
	er.URL.RawQuery = eq.Encode()
	d.Export = exportURL(er, "/api/v1/devices")
	p.Data = d
	return w.render(rw, http.StatusOK, "devices_list", p)
}

// firmwareVersions are the catalogue's versions, newest first and each
// once, that the device lists' firmware search suggests (a device may run
// another: the field takes any version).
func (w *Web) firmwareVersions(r *http.Request) ([]string, error) {
	l, err := w.store.ListFirmware(r.Context(), model.FirmwareFilter{Page: model.Page{Page: 1, PerPage: model.MaxPerPage}})
	if err != nil {
		return nil, err
	}
	var out []string
	seen := map[string]bool{}
	for _, fw := range l.Items {
		if !seen[fw.Version] {
			seen[fw.Version] = true
			out = append(out, fw.Version)
		}
	}
	return out, nil
}

// deviceColumns are the list's header cells with their sort links: a
// click sorts by the column, a second click reverses it. A list of more
// than 10,000 devices sorts only by the columns an index orders.
func deviceColumns(r *http.Request, f model.DeviceFilter, capped bool) []deviceColumn {
	l := locale(r)
	text := deviceTextOf(f.Scope)
	cols := []deviceColumn{{Key: "status", Label: i18n.N("Status")}, {Key: "name", Label: i18n.N("Device Name")}, {Key: "mac", Label: i18n.N("MAC")},
		{Key: "sip", Label: i18n.N("SIP")}, {Key: "type", Label: i18n.N("Type")}, {Key: "model", Label: i18n.N("Model")}, {Key: "firmware", Label: i18n.N("Firmware")},
		{Key: "project", Label: text.Project}, {Key: "location", Label: i18n.N("Location")}, {Key: "installer", Label: i18n.N("Installer")},
		{Key: "manager", Label: text.Manager}, {Key: "created_at", Label: i18n.N("Created Time")},
		{Key: "availability", Label: i18n.N("Availability (7 d)")}}
	for i := range cols {
		c := &cols[i]
		c.Label = l.T(c.Label)
		c.Active = c.Key == f.Sort
		if capped && !slices.Contains(store.DeviceWalkSorts, c.Key) {
			c.Title = l.T("Narrow the search to %d devices or fewer to sort by %s", store.DeviceCountCap, c.Label)
			continue
		}
		q := r.URL.Query()
		q.Del("page")
		q.Del("notice")
		q.Set("sort", c.Key)
		order := "asc"
		if c.Key == "created_at" {
			order = "desc"
		}
		if c.Active {
			order = map[string]string{"asc": "desc", "desc": "asc"}[f.Order]
			c.Arrow = f.Order // the header's class: CSS draws ▲ or ▼
		}
		q.Set("order", order)
		c.Href = "?" + q.Encode()
		c.Title = l.T("Sort by %s", c.Label)
	}
	return cols
}

// safeBack is a list URL to return to after a deletion: only this
// portal's device lists, else the list of the device's scope.
func safeBack(back string, kind model.ProjectKind) string {
	if (strings.HasPrefix(back, "/project-devices") || strings.HasPrefix(back, "/personal-devices")) &&
		!strings.ContainsAny(back, "\\\r\n") {
		u, err := url.Parse(back)
		if err == nil && u.Host == "" && u.Scheme == "" {
			q := u.Query()
			q.Del("notice")
			u.RawQuery = q.Encode()
			return u.RequestURI()
		}
	}
	return deviceTextOf(kind).Path
}

type deviceDetailData struct {
	D         *model.DeviceDetail
	Text      deviceScopeText
	TypeLabel string
	Chain     []deviceLinkView
	Back      string
	Delete    string
	// Maintenance and AutoP are the remote maintenance panels
	// (web/maintenance.go, web/autop.go).
	Maintenance  any
	AutoP        any
	Enrollment   any                  // web/enroll.go
	Firmware     *deviceFirmwarePanel // web/rollouts.go
	Availability *availabilityView    // web/availability.go
	Diagnostics  *diagnosticsPanel    // web/diagnostics.go
}

// deviceLinkView is one step of the owner chain as the page shows it.
type deviceLinkView struct{ Label, Name string }

var deviceLinkLabels = map[string]string{"end_user": i18n.N("Owner"), "apartment": i18n.N("Apartment"), "building": i18n.N("Building"),
	"department": i18n.N("Department"), "community": i18n.N("Community"), "office": i18n.N("Office"), "home": i18n.N("Home"), "installer": i18n.N("Installer")}

// DeviceDetail shows one device: every stored attribute, what it belongs
// to up to its installer, its latest audit entries, and the place of
// remote maintenance.
func (w *Web) DeviceDetail(rw http.ResponseWriter, r *http.Request) error {
	d, err := w.store.GetDeviceDetail(r.Context(), r.PathValue("mac"))
	if err != nil {
		return err
	}
	l := locale(r)
	text := deviceTextOf(d.ProjectKind).in(l)
	back := safeBack(r.URL.Query().Get("back"), d.ProjectKind)
	data := deviceDetailData{D: d, Text: text, TypeLabel: deviceTypeLabel(l, d.Type), Back: back,
		Delete: "/devices/" + d.MAC + "/delete?back=" + url.QueryEscape(back)}
	if data.Maintenance, err = w.deviceMaintenance(r, d); err != nil {
		return err
	}
	if data.AutoP, err = w.deviceAutoP(r, d); err != nil {
		return err
	}
	if data.Enrollment, err = w.deviceEnrollment(r, d.MAC, "/devices/"+d.MAC+"?back="+url.QueryEscape(back)+"#enrollment"); err != nil {
		return err
	}
	if data.Firmware, err = w.deviceFirmware(r, d.MAC); err != nil {
		return err
	}
	if data.Diagnostics, err = w.deviceDiagnostics(r, d.MAC, d.Online, "/devices/"+d.MAC+"/diagnostics", back); err != nil {
		return err
	}
	if data.Availability, err = w.deviceAvailability(r, d.MAC); err != nil {
		return err
	}
	for _, c := range d.Chain {
		label := deviceLinkLabels[c.Kind]
		if label != "" {
			label = l.T(label)
		}
		data.Chain = append(data.Chain, deviceLinkView{Label: label, Name: c.Name})
	}
	title := d.Name
	if title == "" {
		title = d.MAC
	}
	return w.render(rw, http.StatusOK, "devices_detail", w.page(r, text.Module+": "+title, text.Key, data))
}

type deviceDeleteData struct {
	Devices []*model.DeviceRow
	Text    deviceScopeText
	Action  string
	Back    string
	Batch   bool
}

// DeviceDeleteConfirm asks before deleting one device.
func (w *Web) DeviceDeleteConfirm(rw http.ResponseWriter, r *http.Request) error {
	d, err := w.store.GetDeviceDetail(r.Context(), r.PathValue("mac"))
	if err != nil {
		return err
	}
	text := deviceTextIn(r, d.ProjectKind)
	data := deviceDeleteData{Devices: []*model.DeviceRow{&d.DeviceRow}, Text: text, Action: "/devices/" + d.MAC + "/delete",
		Back: safeBack(r.URL.Query().Get("back"), d.ProjectKind)}
	return w.render(rw, http.StatusOK, "devices_delete", w.page(r, tr(r, "Delete device %s", d.MAC), text.Key, data))
}

// DeleteDevice deletes one device and returns to its list.
func (w *Web) DeleteDevice(rw http.ResponseWriter, r *http.Request) error {
	d, err := w.store.GetDeviceDetail(r.Context(), r.PathValue("mac"))
	if err != nil {
		return err
	}
	if err := w.cases.DeleteDevice(r.Context(), d.MAC); err != nil {
		return err
	}
	name := d.MAC
	if d.Name != "" {
		name = d.Name + " (" + d.MAC + ")"
	}
	return redirectWithNotice(rw, r, safeBack(r.PostFormValue("back"), d.ProjectKind), tr(r, "Device %s deleted; its MAC can be added again.", name))
}

// redirectWithNotice sends the browser to path (which may hold a query)
// with a notice for the page there.
func redirectWithNotice(rw http.ResponseWriter, r *http.Request, path, notice string) error {
	u, err := url.Parse(path)
	if err != nil {
		u = &url.URL{Path: "/"}
	}
	q := u.Query()
	q.Set("notice", notice)
	u.RawQuery = q.Encode()
	http.Redirect(rw, r, u.RequestURI(), http.StatusSeeOther)
	return nil
}

// BatchDeleteDevices deletes the devices selected in a list: the first
// post (from the list's check boxes) shows what would go; the second,
// with confirm=yes, deletes them all in one transaction and returns to
// the list.
func (w *Web) BatchDeleteDevices(rw http.ResponseWriter, r *http.Request) error {
	if err := r.ParseForm(); err != nil {
		return model.Invalid("body", "is not a form")
	}
	macs := r.PostForm["mac"]
	back := r.PostFormValue("back")
	if len(macs) == 0 {
		// Nothing was ticked: back to the list, saying so.
		return redirectWithNotice(rw, r, safeBack(back, model.ProjectCommunity), tr(r, "Select the devices to delete first."))
	}
	if len(macs) > model.MaxDeviceBatch {
		return model.Invalid("mac", "%d devices are selected: at most %d are deleted at a time", len(macs), model.MaxDeviceBatch)
	}
	var rows []*model.DeviceRow
	seen := map[string]bool{}
	for _, m := range macs {
		d, err := w.store.GetDeviceDetail(r.Context(), m)
		if err != nil {
			return err // another tenant's or a missing MAC: not found, nothing deleted
		}
		if !seen[d.MAC] {
			seen[d.MAC] = true
			rows = append(rows, &d.DeviceRow)
		}
	}
	kind := rows[0].ProjectKind
	back = safeBack(back, kind)
	if r.PostFormValue("confirm") != "yes" {
		text := deviceTextIn(r, kind)
		data := deviceDeleteData{Devices: rows, Text: text, Action: "/devices/batch-delete", Back: back, Batch: true}
		return w.render(rw, http.StatusOK, "devices_delete", w.page(r, trn(r, "Delete %d devices", len(rows)), text.Key, data))
	}
	if _, err := w.cases.DeleteDevices(r.Context(), macs); err != nil {
		return err
	}
	return redirectWithNotice(rw, r, back, trn(r, "%d devices deleted; their MACs can be added again.", len(rows)))
}
