package web

import (
	"context"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/auth"
	"github.com/gatehouse-dev/gatehouse/internal/autop"
	"github.com/gatehouse-dev/gatehouse/internal/i18n"
	"github.com/gatehouse-dev/gatehouse/internal/listquery"
	"github.com/gatehouse-dev/gatehouse/internal/model"
	"github.com/gatehouse-dev/gatehouse/internal/store"
)

// AutoP in the portal (the guide's "Remote Maintenance…" step 2–3 and
// "Batch AutoP for Community / Office / Personal Devices"): the AutoP panel
// of a device's page (Regular AutoP and One-Time AutoP, each with its
// Submit, and a preview of the file the device receives), the Batch AutoP
// page of each device list, and a batch's progress page.

// autoPPanel feeds the AutoP panel of a device's page.
type autoPPanel struct {
	MAC, CSRF, Back string
	Regular, Once   string            // the text areas
	RegularN, OnceN int               // commands stored
	Fields          map[string]string // "regular" / "once" → "line N: …"; "connect_type"
	ConnectType     string            // the device's data transmission type; "" follows the installer's
	Preview         string            // the exact file the device would receive now
	Version         string
	Applied         string // the version the device reports it applied
	Updated         *time.Time
}

// autoPFormKey carries a refused form's text and errors to the panel.
type autoPFormKey struct{}

type autoPForm struct {
	regular, once *string
	fields        map[string]string
}

// deviceAutoP loads the AutoP panel of a device's page: its regular and
// one-time commands and a preview of the file it will receive.
func (w *Web) deviceAutoP(r *http.Request, d *model.DeviceDetail) (any, error) {
	a, err := w.store.GetDeviceAutoP(r.Context(), d.MAC)
	if err != nil {
		return nil, err
	}
	f, err := w.store.AutoPPreview(r.Context(), d.MAC)
	if err != nil {
		return nil, err
	}
	p := autoPPanel{MAC: d.MAC, Back: safeBack(r.URL.Query().Get("back"), d.ProjectKind), Regular: strings.Join(a.Regular, "\n"), Once: strings.Join(a.Once, "\n"),
		RegularN: len(a.Regular), OnceN: len(a.Once), ConnectType: a.ConnectType, Preview: string(f.Bytes()), Version: f.Version, Applied: d.ConfigVersion, Updated: a.Updated}
	if id := auth.IdentityFrom(r.Context()); id != nil && id.Session != nil {
		p.CSRF = id.Session.CSRFToken
	}
	if form, _ := r.Context().Value(autoPFormKey{}).(*autoPForm); form != nil {
		if form.regular != nil {
			p.Regular = *form.regular
		}
		if form.once != nil {
			p.Once = *form.once
		}
		p.Fields = form.fields
		if b := r.PostFormValue("back"); b != "" {
			p.Back = safeBack(b, d.ProjectKind)
		}
	}
	return p, nil
}

// formLines reads a text area as command lines; an empty one is an empty
// list (it clears), never "left out".
func formLines(text string) []string {
	lines := autop.SplitText(text)
	if lines == nil {
		lines = []string{}
	}
	return lines
}

// SaveDeviceAutoP saves the Regular AutoP or the One-Time AutoP of a
// device (whichever form was submitted), tells the device to fetch, and
// returns to its page. Bad lines show at their text area, by line number,
// with the text as typed.
func (w *Web) SaveDeviceAutoP(rw http.ResponseWriter, r *http.Request) error {
	if err := r.ParseForm(); err != nil {
		return model.Invalid("body", "is not a form")
	}
	var regular, once []string
	form := &autoPForm{}
	if _, ok := r.PostForm["regular"]; ok {
		t := r.PostFormValue("regular")
		form.regular, regular = &t, formLines(t)
	}
	if _, ok := r.PostForm["once"]; ok {
		t := r.PostFormValue("once")
		form.once, once = &t, formLines(t)
	}
	saved, err := w.cases.SaveDeviceAutoP(r.Context(), r.PathValue("mac"), regular, once)
	if model.ErrorCode(err) == model.EINVALID {
		form.fields = fieldsIn(r, err)
		ctx := context.WithValue(r.Context(), autoPFormKey{}, form)
		return w.DeviceDetail(&statusOverride{ResponseWriter: rw, status: http.StatusBadRequest}, r.WithContext(ctx))
	} else if err != nil {
		return err
	}
	notice := trn(r, "Regular AutoP saved: %d commands (duplicate commands are not retained). The device fetches its configuration now if it is online, else when it connects.", len(saved.Regular))
	if once != nil {
		notice = trn(r, "One-Time AutoP saved: %d commands (duplicate commands are not retained). The device fetches its configuration now if it is online, else when it connects.", len(saved.Once))
	}
	u := "/devices/" + saved.MAC
	q := url.Values{"notice": {notice}}
	if b := r.PostFormValue("back"); b != "" {
		q.Set("back", safeBack(b, model.ProjectCommunity)) // only a device list of this portal
	}
	http.Redirect(rw, r, u+"?"+q.Encode()+"#device-autop", http.StatusSeeOther)
	return nil
}

// SaveDeviceConnectType sets the device's data transmission type (the
// guide's remote maintenance), tells the device to fetch, and returns to
// its page; a bad value shows at the select.
func (w *Web) SaveDeviceConnectType(rw http.ResponseWriter, r *http.Request) error {
	if err := r.ParseForm(); err != nil {
		return model.Invalid("body", "is not a form")
	}
	saved, err := w.cases.SaveDeviceConnectType(r.Context(), r.PathValue("mac"), r.PostFormValue("connect_type"))
	if model.ErrorCode(err) == model.EINVALID {
		form := &autoPForm{fields: fieldsIn(r, err)}
		ctx := context.WithValue(r.Context(), autoPFormKey{}, form)
		return w.DeviceDetail(&statusOverride{ResponseWriter: rw, status: http.StatusBadRequest}, r.WithContext(ctx))
	} else if err != nil {
		return err
	}
	what := tr(r, "the installer's Connect Type")
	if saved.ConnectType != "" {
		what = strings.ToUpper(saved.ConnectType)
	}
	q := url.Values{"notice": {tr(r, "Data transmission type saved: %s. The device fetches its configuration now if it is online, else when it connects.", what)}}
	if b := r.PostFormValue("back"); b != "" {
		q.Set("back", safeBack(b, model.ProjectCommunity))
	}
	http.Redirect(rw, r, "/devices/"+saved.MAC+"?"+q.Encode()+"#device-autop", http.StatusSeeOther)
	return nil
}

// fieldsIn are err's field messages in the reader's language.
func fieldsIn(r *http.Request, err error) map[string]string {
	p := &Page{L: locale(r)}
	p.Fail(err)
	return p.Fields
}

func plural(n int, word string) string {
	if n == 1 {
		return "1 " + word
	}
	return thousands(n) + " " + word + "s"
}

// statusOverride renders a page with another status than the handler's
// (a refused form shows the page again with 400).
type statusOverride struct {
	http.ResponseWriter
	status int
}

func (s *statusOverride) WriteHeader(code int) {
	if code == http.StatusOK {
		code = s.status
	}
	s.ResponseWriter.WriteHeader(code)
}

// batchAutoPData feeds the Batch AutoP page.
type batchAutoPData struct {
	Scope     model.ProjectKind
	Text      deviceScopeText
	Action    string
	Type      string // regular | once
	Commands  string
	Filter    model.DeviceFilter
	MACText   string
	OnlineSel string
	Rows      []batchAutoPRow
	Hidden    []string // selected devices not on this page
	Selected  int
	Max       int
	Count     string
	Page      int
	Prev      int
	Next      int
	Pages     string
}

type batchAutoPRow struct {
	*model.DeviceRow
	TypeLabel string
	Selected  bool
}

// batchScope reads the list a Batch AutoP page is for.
func batchScope(r *http.Request) (model.ProjectKind, error) {
	s := r.FormValue("scope")
	if s == "" {
		s = string(model.ProjectCommunity)
	}
	k := model.ProjectKind(s)
	if !k.Valid() {
		return "", model.Invalid("scope", "must be community, office or personal")
	}
	return k, nil
}

// BatchAutoP is the Batch AutoP page of a device list
// (/autop?scope=community|office|personal): choose the type, enter the
// commands, search and select up to 500 devices, Submit.
func (w *Web) BatchAutoP(rw http.ResponseWriter, r *http.Request) error {
	kind, err := batchScope(r)
	if err != nil {
		return err
	}
	return w.batchAutoPPage(rw, r, kind, r.URL.Query(), http.StatusOK, nil)
}

// BatchAutoPPost is every button of the Batch AutoP page: a search or a
// page of the device list (keeping the type, the commands and the devices
// selected so far, on every page and search), and Submit. The device lists'
// AutoP button posts its ticked devices here too.
func (w *Web) BatchAutoPPost(rw http.ResponseWriter, r *http.Request) error {
	if err := r.ParseForm(); err != nil {
		return model.Invalid("body", "is not a form")
	}
	kind, err := batchScope(r)
	if err != nil {
		return err
	}
	if r.PostFormValue("op") != "submit" {
		return w.batchAutoPPage(rw, r, kind, r.PostForm, http.StatusOK, nil)
	}
	req := store.AutoPBatchRequest{Scope: string(kind), Type: r.PostFormValue("type"), Commands: formLines(r.PostFormValue("commands")),
		MACs: selectedMACs(r.PostForm["sel"])}
	b, err := w.cases.CreateAutoPBatch(r.Context(), req)
	switch model.ErrorCode(err) {
	case "":
	case model.EINVALID, model.ENOTFOUND:
		return w.batchAutoPPage(rw, r, kind, r.PostForm, http.StatusBadRequest, err)
	default:
		return err
	}
	return redirect(rw, r, "/autop/batches/"+strconv.FormatInt(b.ID, 10),
		trn(r, "AutoP sent to %d devices: online devices fetch it now, offline ones when they connect (within the hour).", b.Devices))
}

// selectedMACs are the ticked and carried devices, each once, in the order
// first given.
func selectedMACs(raw []string) []string {
	out := make([]string, 0, len(raw))
	seen := map[string]bool{}
	for _, s := range raw {
		m, ok := model.NormalizeMAC(s)
		if !ok {
			m = strings.TrimSpace(s) // refused by the store, naming it
		}
		if m != "" && !seen[m] {
			seen[m] = true
			out = append(out, m)
		}
	}
	return out
}

// batchAutoPPage renders the page: the type, the commands, the search, one
// page of the list's devices with the selected ones ticked, and every
// selected device of other pages as hidden fields.
func (w *Web) batchAutoPPage(rw http.ResponseWriter, r *http.Request, kind model.ProjectKind, form url.Values, status int, failed error) error {
	var v model.Validator
	f := listquery.Devices(form, kind, &v)
	if op := form.Get("op"); op == "search" {
		f.Page.Page = 1
	}
	text := deviceTextIn(r, kind)
	typ := form.Get("type")
	if typ != model.AutoPOnce {
		typ = model.AutoPRegular
	}
	d := batchAutoPData{Scope: kind, Text: text, Action: "/autop?scope=" + string(kind), Type: typ, Commands: form.Get("commands"),
		Filter: f, MACText: strings.TrimSpace(form.Get("mac")), OnlineSel: form.Get("online"), Max: model.MaxAutoPBatch, Page: f.Page.Page}
	title := tr(r, "Batch AutoP: %s", text.Module)
	if kind != model.ProjectPersonal {
		title = tr(r, "Batch AutoP: %s (%s)", text.Module, text.Project)
	}
	p := w.page(r, title, text.Key, nil)
	if failed != nil {
		p.Fail(failed)
	}
	// The selection: the devices ticked on this page and carried from
	// other pages and searches ("sel"), or, coming from a device list's
	// AutoP button, the devices ticked there ("mac", with no search).
	var selected []string
	if r.Method == http.MethodPost {
		selected = selectedMACs(form["sel"])
		if form.Get("op") == "" && len(form["sel"]) == 0 && len(form["mac"]) > 0 {
			selected = selectedMACs(form["mac"])
			v = model.Validator{}
			f = listquery.Devices(url.Values{}, kind, &v)
			d.Filter, d.MACText = f, ""
		}
	}
	d.Selected = len(selected)
	sel := make(map[string]bool, len(selected))
	for _, m := range selected {
		sel[m] = true
	}
	if err := v.Err(); err != nil {
		if p.Fields == nil {
			p.Fields = map[string]string{}
		}
		for k, m := range fieldsIn(r, err) {
			p.Fields[k] = m
		}
		p.Error = fieldErrors(p.Fields)
		status = http.StatusBadRequest
	} else {
		l, err := w.store.ListDevices(r.Context(), f)
		if model.ErrorCode(err) == model.EINVALID {
			p.Fail(err)
			status = http.StatusBadRequest
		} else if err != nil {
			return err
		}
		shown := map[string]bool{}
		switch form.Get("op") {
		case "select-page":
			// "Select all on this page" (static/autop.js does it in place).
			for _, row := range l.Items {
				if !sel[row.MAC] {
					sel[row.MAC] = true
					selected = append(selected, row.MAC)
				}
			}
		case "clear":
			clear(sel)
			selected = nil
		}
		d.Selected = len(selected)
		for _, row := range l.Items {
			shown[row.MAC] = true
			d.Rows = append(d.Rows, batchAutoPRow{DeviceRow: row, TypeLabel: deviceTypeLabel(p.L, row.Type), Selected: sel[row.MAC]})
		}
		for _, m := range selected {
			if !shown[m] {
				d.Hidden = append(d.Hidden, m)
			}
		}
		total := min(l.Total, store.DeviceCountCap)
		pager := newPager(r, f.Page.Page, f.PerPage, total)
		switch {
		case len(l.Items) == 0:
			d.Count = p.L.T("No devices")
		case l.Total > store.DeviceCountCap:
			d.Count = rangeText(p.L, pager.First, pager.First+len(l.Items)-1, store.DeviceCountCap, true, "No devices")
		default:
			d.Count = rangeText(p.L, pager.First, pager.Last, total, false, "No devices")
		}
		if f.Page.Page > 1 {
			d.Prev = f.Page.Page - 1
		}
		if len(l.Items) == f.PerPage && (l.Total > store.DeviceCountCap || f.Page.Page < pager.Pages) {
			d.Next = f.Page.Page + 1
		}
		d.Pages = p.L.T("Page %d", f.Page.Page)
		if l.Total <= store.DeviceCountCap {
			d.Pages = p.L.T("Page %d of %d", f.Page.Page, pager.Pages)
		}
	}
	if len(selected) > 0 && len(d.Rows) == 0 && d.Hidden == nil {
		d.Hidden = selected
	}
	p.Data = d
	return w.render(rw, status, "autop_batch", p)
}

// autoPBatchView feeds a batch's progress page.
type autoPBatchView struct {
	B        *model.AutoPBatch
	Text     deviceScopeText
	TypeText string
	Devices  string // "3 community devices"
	Told     int
	Waiting  int
	Finished bool
	Rows     []autoPItemView
}

type autoPItemView struct {
	model.AutoPBatchItem
	Label string // waiting for device, told, fetched, applied, failed, expired
	Class string
}

// autoPItemState names a device's step in a batch as the page shows it
// (static/autop.js names them alike).
func autoPItemState(it model.AutoPBatchItem) (label, class string) {
	switch it.Status {
	case model.CommandQueued:
		return i18n.N("Waiting for device"), "ap-waiting"
	case model.CommandSent:
		if it.Fetched {
			return i18n.N("Fetched"), "ap-fetched"
		}
		return i18n.N("Told"), "ap-told"
	case model.CommandDone:
		return i18n.N("Applied"), "ap-applied"
	case model.CommandFailed:
		return i18n.N("Failed"), "ap-failed"
	}
	return i18n.N("Expired: the device did not connect"), "ap-expired"
}

// AutoPBatchPage shows a batch and its progress, device by device; the
// page follows it by itself (static/autop.js polls the API every second)
// until every device applied, failed or expired.
func (w *Web) AutoPBatchPage(rw http.ResponseWriter, r *http.Request) error {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id <= 0 {
		return model.NotFound("AutoP batch")
	}
	b, err := w.store.GetAutoPBatch(r.Context(), id)
	if err != nil {
		return err
	}
	kind := model.ProjectKind(b.Scope)
	l := locale(r)
	v := autoPBatchView{B: b, Text: deviceTextOf(kind).in(l), TypeText: l.T("Regular AutoP"), Told: b.Sent + b.Done + b.Failed, Waiting: b.Queued}
	if b.Type == model.AutoPOnce {
		v.TypeText = l.T("One-Time AutoP")
	}
	switch kind {
	case model.ProjectCommunity:
		v.Devices = trn(r, "%d community devices", b.Devices)
	case model.ProjectOffice:
		v.Devices = trn(r, "%d office devices", b.Devices)
	case model.ProjectPersonal:
		v.Devices = trn(r, "%d personal devices", b.Devices)
	default:
		v.Devices = plural(b.Devices, b.Scope+" device")
	}
	v.Finished = b.Queued == 0 && b.Sent == 0
	for _, it := range b.Items {
		label, class := autoPItemState(it)
		v.Rows = append(v.Rows, autoPItemView{AutoPBatchItem: it, Label: l.T(label), Class: class})
	}
	slices.SortStableFunc(v.Rows, func(a, b autoPItemView) int { return strings.Compare(a.MAC, b.MAC) })
	return w.render(rw, http.StatusOK, "autop_batch_progress", w.page(r, l.T("AutoP batch %s", strconv.FormatInt(b.ID, 10)), v.Text.Key, v))
}
