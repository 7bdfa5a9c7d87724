package web

import (
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

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
var deviceTypeLabels = map[model.DeviceType]string{model.DoorPhone: "Door Phone", model.IndoorMonitor: "Indoor Monitor",
	model.AccessControl: "Access Control", model.GuardPhone: "Guard Phone"}

// deviceScopeText is what a list calls its project and manager columns and
// searches.
type deviceScopeText struct {
	Project, Manager, Module, Key, Path string
}

func deviceTextOf(k model.ProjectKind) deviceScopeText {
	switch k {
	case model.ProjectOffice:
		return deviceScopeText{"Office", "Office Manager", "Project Device", "project-devices", "/project-devices?kind=office"}
	case model.ProjectPersonal:
		return deviceScopeText{"Home", "Single-tenant Manager", "Personal Device", "personal-devices", "/personal-devices"}
	}
	return deviceScopeText{"Community", "Community Manager", "Project Device", "project-devices", "/project-devices?kind=community"}
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
		p := w.page(r, "Project Device", "project-devices", deviceListData{Scope: model.ProjectCommunity,
			Text: deviceTextOf(model.ProjectCommunity), Action: "/project-devices"})
		p.Error, p.Fields = "kind: must be community or office.", map[string]string{"kind": "must be community or office"}
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
	text := deviceTextOf(kind)
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
		p.Fields = model.ErrorFields(err)
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
		d.Rows = append(d.Rows, deviceRowView{DeviceRow: row, TypeLabel: deviceTypeLabels[row.Type],
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
	switch {
	case len(l.Items) == 0:
		d.Count = "No devices"
	case d.Capped:
		d.Count = strconv.Itoa(d.Pager.First) + "–" + strconv.Itoa(d.Pager.Last) + " of more than " + thousands(store.DeviceCountCap)
	default:
		d.Count = strconv.Itoa(d.Pager.First) + "–" + strconv.Itoa(d.Pager.Last) + " of " + thousands(total)
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
	text := deviceTextOf(f.Scope)
	cols := []deviceColumn{{Key: "status", Label: "Status"}, {Key: "name", Label: "Device Name"}, {Key: "mac", Label: "MAC"},
		{Key: "sip", Label: "SIP"}, {Key: "type", Label: "Type"}, {Key: "model", Label: "Model"}, {Key: "firmware", Label: "Firmware"},
		{Key: "project", Label: text.Project}, {Key: "location", Label: "Location"}, {Key: "installer", Label: "Installer"},
		{Key: "manager", Label: text.Manager}, {Key: "created_at", Label: "Created Time"},
		{Key: "availability", Label: "Availability (7 d)"}}
	for i := range cols {
		c := &cols[i]
		c.Active = c.Key == f.Sort
		if capped && !slices.Contains(store.DeviceWalkSorts, c.Key) {
			c.Title = "Narrow the search to " + thousands(store.DeviceCountCap) + " devices or fewer to sort by " + c.Label
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
		c.Title = "Sort by " + c.Label
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

var deviceLinkLabels = map[string]string{"end_user": "Owner", "apartment": "Apartment", "building": "Building",
	"department": "Department", "community": "Community", "office": "Office", "home": "Home", "installer": "Installer"}

// DeviceDetail shows one device: every stored attribute, what it belongs
// to up to its installer, its latest audit entries, and the place of
// remote maintenance.
func (w *Web) DeviceDetail(rw http.ResponseWriter, r *http.Request) error {
	d, err := w.store.GetDeviceDetail(r.Context(), r.PathValue("mac"))
	if err != nil {
		return err
	}
	text := deviceTextOf(d.ProjectKind)
	back := safeBack(r.URL.Query().Get("back"), d.ProjectKind)
	data := deviceDetailData{D: d, Text: text, TypeLabel: deviceTypeLabels[d.Type], Back: back,
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
	for _, l := range d.Chain {
		data.Chain = append(data.Chain, deviceLinkView{Label: deviceLinkLabels[l.Kind], Name: l.Name})
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
	text := deviceTextOf(d.ProjectKind)
	data := deviceDeleteData{Devices: []*model.DeviceRow{&d.DeviceRow}, Text: text, Action: "/devices/" + d.MAC + "/delete",
		Back: safeBack(r.URL.Query().Get("back"), d.ProjectKind)}
	return w.render(rw, http.StatusOK, "devices_delete", w.page(r, "Delete device "+d.MAC, text.Key, data))
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
	return redirectWithNotice(rw, r, safeBack(r.PostFormValue("back"), d.ProjectKind), "Device "+name+" deleted; its MAC can be added again.")
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
		return redirectWithNotice(rw, r, safeBack(back, model.ProjectCommunity), "Select the devices to delete first.")
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
		text := deviceTextOf(kind)
		data := deviceDeleteData{Devices: rows, Text: text, Action: "/devices/batch-delete", Back: back, Batch: true}
		return w.render(rw, http.StatusOK, "devices_delete", w.page(r, "Delete "+strconv.Itoa(len(rows))+" devices", text.Key, data))
	}
	if _, err := w.cases.DeleteDevices(r.Context(), macs); err != nil {
		return err
	}
	msg := thousands(len(rows)) + " devices deleted; their MACs can be added again."
	if len(rows) == 1 {
		msg = "1 device deleted; its MAC can be added again."
	}
	return redirectWithNotice(rw, r, back, msg)
}
