package web

import (
	"net/http"
	"net/url"
	"strconv"

	"github.com/gatehouse-dev/gatehouse/internal/i18n"
	"github.com/gatehouse-dev/gatehouse/internal/listquery"
	"github.com/gatehouse-dev/gatehouse/internal/model"
	"github.com/gatehouse-dev/gatehouse/internal/store"
)

// The sub-distributor's Third-Party Device module: "Click Project or
// Personal and search by Device Name, Project, or Project Manager for the
// project device; Device Name, Owner, or Single-tenant Manager for the
// personal device. Click to delete the device." A camera's user name and
// password are never shown; of its stream URL the lists show the host.

const camerasPath = "/third-party-devices"

// cameraField is a search field of a list.
type cameraField struct {
	Name, Label, Value, Placeholder string
}

// cameraColumn is a sortable column header: its link sorts by it, the
// other way round when it already does.
type cameraColumn struct {
	Key, Label, URL string
	Active          bool
	Order           string // the current order when Active
}

type cameraListData struct {
	Scope   string
	Filter  store.CameraListFilter
	Fields  []cameraField
	Columns []cameraColumn
	List    model.List[*store.CameraListRow]
	Capped  bool   // more than store.CameraCountCap cameras match
	Count   string // "1–50 of 327", "1–50 of more than 10,000"
	Pager   Pager
	Export  string
	Back    string // this list, to come back to after a delete
	Clear   bool   // a search is set
}

// cameraScopeOf is the list a request asks for: Project unless Personal.
func cameraScopeOf(r *http.Request) string {
	if r.URL.Query().Get("scope") == store.CameraScopePersonal {
		return store.CameraScopePersonal
	}
	return store.CameraScopeProject
}

// Cameras is the Third-Party Device module: the Project and Personal tabs,
// their searches, sortable columns, pages, CSV export and selection.
func (w *Web) Cameras(rw http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	scope := cameraScopeOf(r)
	if s := q.Get("scope"); s != scope {
		// No scope is the Project list; another value is an error below.
		if s == "" {
			r = r.Clone(r.Context())
			q.Set("scope", scope)
			r.URL.RawQuery = q.Encode()
		} else {
			scope = s
		}
	}
	var v model.Validator
	f := listquery.Cameras(r.URL.Query(), &v)
	d := cameraListData{Scope: scope, Filter: f, Back: camerasPath + "?" + listQuery(r).Encode()}
	d.Clear = f.Name != "" || f.Project != "" || f.Manager != "" || f.Owner != ""
	d.Fields = []cameraField{{"name", i18n.N("Device Name"), f.Name, i18n.N("e.g. Gate")}}
	if scope == store.CameraScopePersonal {
		d.Fields = append(d.Fields, cameraField{"owner", i18n.N("Owner"), f.Owner, i18n.N("e.g. Garcia")},
			cameraField{"manager", i18n.N("Single-tenant Manager"), f.Manager, ""})
	} else {
		d.Fields = append(d.Fields, cameraField{"project", i18n.N("Project"), f.Project, i18n.N("e.g. Maple")},
			cameraField{"manager", i18n.N("Project Manager"), f.Manager, ""})
	}
	l := locale(r)
	for i := range d.Fields {
		d.Fields[i].Label = l.T(d.Fields[i].Label)
		if d.Fields[i].Placeholder != "" {
			d.Fields[i].Placeholder = l.T(d.Fields[i].Placeholder)
		}
	}
	d.Columns = cameraColumns(r, scope, f)
	p := w.page(r, tr(r, "Third-Party Device"), "third-party-devices", nil)
	if err := v.Err(); err != nil {
		p.Fail(err)
		p.Error = fieldErrors(p.Fields)
		// The form keeps what was typed, not an order it cannot show.
		if p.Fields["sort"] != "" || p.Fields["order"] != "" {
			d.Filter.Sort, d.Filter.Order = "created_at", ""
		}
		p.Data = d
		return w.render(rw, http.StatusBadRequest, "cameras_list", p)
	}
	list, err := w.store.ListCameras(r.Context(), f)
	if err != nil {
		return err
	}
	d.List = list
	total := list.Total
	if total > store.CameraCountCap {
		d.Capped, total = true, store.CameraCountCap
	}
	d.Pager = newPager(r, f.Page.Page, f.PerPage, total)
	if d.Capped {
		// The count stopped: pages go on while they are full.
		d.Pager.Last = d.Pager.First + len(list.Items) - 1
		d.Pager.Next = ""
		if len(list.Items) == f.PerPage {
			nq := listQuery(r)
			nq.Set("page", strconv.Itoa(f.Page.Page+1))
			d.Pager.Next = "?" + nq.Encode()
		}
	}
	if len(list.Items) == 0 {
		d.Count = l.T("No cameras")
	} else {
		d.Count = rangeText(l, d.Pager.First, d.Pager.Last, total, d.Capped, "No cameras")
	}
	d.Export = exportURL(r, "/api/v1/third-party-devices")
	p.Data = d
	return w.render(rw, http.StatusOK, "cameras_list", p)
}

// listQuery is the request's query without the notice.
func listQuery(r *http.Request) url.Values {
	q := r.URL.Query()
	q.Del("notice")
	return q
}

// cameraColumns are the sortable headers of a list, in its order.
func cameraColumns(r *http.Request, scope string, f store.CameraListFilter) []cameraColumn {
	cols := []cameraColumn{{Key: "name", Label: i18n.N("Device Name")}}
	if scope == store.CameraScopePersonal {
		cols = append(cols, cameraColumn{Key: "owner", Label: i18n.N("Owner")}, cameraColumn{Key: "manager", Label: i18n.N("Single-tenant Manager")})
	} else {
		cols = append(cols, cameraColumn{Key: "project", Label: i18n.N("Project")}, cameraColumn{Key: "manager", Label: i18n.N("Project Manager")})
	}
	cols = append(cols, cameraColumn{Key: "installer", Label: i18n.N("Installer")}, cameraColumn{Key: "created_at", Label: i18n.N("Created")})
	l := locale(r)
	for i := range cols {
		c := &cols[i]
		c.Label = l.T(c.Label)
		q := listQuery(r)
		q.Del("page")
		q.Set("sort", c.Key)
		if c.Active = f.Sort == c.Key; c.Active {
			c.Order = f.Order
			if f.Order == "asc" {
				q.Set("order", "desc")
			} else {
				q.Set("order", "asc")
			}
		} else {
			q.Del("order") // the column's own default
		}
		c.URL = "?" + q.Encode()
	}
	return cols
}

// cameraDetailByPath reads the camera of the path's id, or not found.
func (w *Web) cameraDetailByPath(r *http.Request) (*store.CameraDetail, error) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id <= 0 {
		return nil, model.NotFound("third-party device")
	}
	return w.store.GetCameraDetail(r.Context(), id)
}

type cameraDetailData struct {
	Camera *store.CameraDetail
	Scope  string
	Audit  model.List[*model.AuditEntry]
	Back   string
}

// Camera shows one camera: everything stored about it but its
// credentials, who it belongs to up to the installer, and its recent
// history.
func (w *Web) Camera(rw http.ResponseWriter, r *http.Request) error {
	c, err := w.cameraDetailByPath(r)
	if err != nil {
		return err
	}
	audit, err := w.store.ListAudit(r.Context(), model.AuditFilter{ObjectType: "third_party_device",
		ObjectID: strconv.FormatInt(c.ID, 10), FromAction: "third_party_device.create", Page: model.Page{Page: 1, PerPage: 20}})
	if err != nil {
		return err
	}
	d := cameraDetailData{Camera: c, Scope: c.Scope(), Audit: audit, Back: safeCamerasBack(r.URL.Query().Get("back"), c.Scope())}
	return w.render(rw, http.StatusOK, "cameras_detail", w.page(r, c.Name, "third-party-devices", d))
}

type cameraDeleteData struct {
	Cameras []*store.CameraListRow
	Action  string // where the confirmation posts
	Back    string
	Single  bool
}

// CameraDeleteConfirm asks before deleting one camera.
func (w *Web) CameraDeleteConfirm(rw http.ResponseWriter, r *http.Request) error {
	c, err := w.cameraDetailByPath(r)
	if err != nil {
		return err
	}
	d := cameraDeleteData{Cameras: []*store.CameraListRow{&c.CameraListRow}, Single: true,
		Action: camerasPath + "/" + strconv.FormatInt(c.ID, 10) + "/delete", Back: safeCamerasBack(r.URL.Query().Get("back"), c.Scope())}
	return w.render(rw, http.StatusOK, "cameras_delete", w.page(r, tr(r, "Delete %s", c.Name), "third-party-devices", d))
}

// DeleteCamera deletes one camera and returns to the list it was chosen in.
func (w *Web) DeleteCamera(rw http.ResponseWriter, r *http.Request) error {
	c, err := w.cameraDetailByPath(r)
	if err != nil {
		return err
	}
	if err := w.cases.DeleteCamera(r.Context(), c.ID); err != nil {
		return err
	}
	return redirectCameras(rw, r, safeCamerasBack(r.PostFormValue("back"), c.Scope()), tr(r, "Deleted %s.", c.Name))
}

// selectedCameras reads the ids of a selection ("id", repeated).
func selectedCameras(vals []string) ([]int64, error) {
	if len(vals) == 0 {
		return nil, model.Invalid("id", "select the cameras to delete first")
	}
	if len(vals) > store.MaxCameraBatch {
		return nil, model.Invalid("id", "select at most %d cameras at a time; %d are selected", store.MaxCameraBatch, len(vals))
	}
	ids := make([]int64, 0, len(vals))
	for _, s := range vals {
		id, err := strconv.ParseInt(s, 10, 64)
		if err != nil || id <= 0 {
			return nil, model.Errorf(model.ENOTFOUND, "third-party device %s not found", s)
		}
		ids = append(ids, id)
	}
	return ids, nil
}

// CamerasDeleteConfirm asks before deleting the cameras selected in a list.
func (w *Web) CamerasDeleteConfirm(rw http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	back := safeCamerasBack(q.Get("back"), store.CameraScopeProject)
	ids, err := selectedCameras(q["id"])
	if err != nil {
		if model.ErrorCode(err) == model.EINVALID {
			return redirectCameras(rw, r, back, fieldsIn(r, err)["id"]+".")
		}
		return err
	}
	l, err := w.store.ListCameras(r.Context(), store.CameraListFilter{IDs: ids, Sort: "name", Page: model.Page{Page: 1, PerPage: store.MaxCameraBatch}})
	if err != nil {
		return err
	}
	if err := missingCameras(ids, l.Items); err != nil {
		return err
	}
	d := cameraDeleteData{Cameras: l.Items, Action: camerasPath + "/delete", Back: back}
	title := trn(r, "Delete %d cameras", len(l.Items))
	if len(l.Items) == 1 {
		title = tr(r, "Delete %s", l.Items[0].Name)
	}
	return w.render(rw, http.StatusOK, "cameras_delete", w.page(r, title, "third-party-devices", d))
}

// missingCameras is "not found" naming the ids that are not in rows.
func missingCameras(ids []int64, rows []*store.CameraListRow) error {
	have := map[int64]bool{}
	for _, c := range rows {
		have[c.ID] = true
	}
	for _, id := range ids {
		if !have[id] {
			return model.Errorf(model.ENOTFOUND, "third-party device %s not found", strconv.FormatInt(id, 10))
		}
	}
	return nil
}

// DeleteCameras deletes a confirmed selection, all of it or nothing.
func (w *Web) DeleteCameras(rw http.ResponseWriter, r *http.Request) error {
	if err := r.ParseForm(); err != nil {
		return model.Invalid("body", "is not a form")
	}
	back := safeCamerasBack(r.PostForm.Get("back"), store.CameraScopeProject)
	ids, err := selectedCameras(r.PostForm["id"])
	if err != nil {
		if model.ErrorCode(err) == model.EINVALID {
			return redirectCameras(rw, r, back, fieldsIn(r, err)["id"]+".")
		}
		return err
	}
	n, err := w.cases.DeleteCameras(r.Context(), ids)
	if err != nil {
		return err
	}
	return redirectCameras(rw, r, back, trn(r, "Deleted %d cameras.", n))
}

// safeCamerasBack is a list of this module to return to: back when it is
// one (its path and query only), else the list of scope.
func safeCamerasBack(back, scope string) string {
	u, err := url.Parse(back)
	if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil || u.Path != camerasPath {
		return camerasPath + "?scope=" + url.QueryEscape(scope)
	}
	q := u.Query()
	q.Del("notice")
	return camerasPath + "?" + q.Encode()
}

// redirectCameras sends the browser back to a list with a notice.
func redirectCameras(rw http.ResponseWriter, r *http.Request, back, notice string) error {
	u, _ := url.Parse(back)
	q := u.Query()
	q.Set("notice", notice)
	u.RawQuery = q.Encode()
	http.Redirect(rw, r, u.String(), http.StatusSeeOther)
	return nil
}
