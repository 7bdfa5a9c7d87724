package web

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/i18n"
	"github.com/gatehouse-dev/gatehouse/internal/model"
	"github.com/gatehouse-dev/gatehouse/internal/store"
	"github.com/gatehouse-dev/gatehouse/internal/usecase"
)

// Device enrollment in the portal (DESIGN.md §3): the "Pending devices"
// page of installers and sub-distributors, and the Enrollment panel of a
// device's page. The store scopes every read and decision.

// enrollmentData feeds the Enrollment panel of a device's page.
type enrollmentData struct {
	E    *model.DeviceEnrollment
	CSRF string
	Back string // the device's page, where the panel's forms return
	Now  time.Time
}

// deviceEnrollment loads the Enrollment panel of the device mac; back is
// the page to return to after a decision.
func (w *Web) deviceEnrollment(r *http.Request, mac, back string) (any, error) {
	e, err := w.store.GetDeviceEnrollment(r.Context(), mac)
	if err != nil {
		return nil, err
	}
	d := enrollmentData{E: e, Back: back, Now: w.store.Now()}
	if id := identity(r); id != nil && id.Session != nil {
		d.CSRF = id.Session.CSRFToken
	}
	return d, nil
}

type pendingDevicesData struct {
	Keys     []*model.PendingKey
	Windows  []*model.EnrollWindow
	Projects []*store.ProjectRow // the installer's, for a project's window
	MAC      string
	Pager    Pager
	Now      time.Time
}

// PendingDevices lists the keys waiting to be accepted (search by MAC) and
// the open acceptance windows.
func (w *Web) PendingDevices(rw http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	var v model.Validator
	q := r.URL.Query()
	f := model.PendingKeyFilter{MAC: strings.TrimSpace(q.Get("mac")), Page: model.ParsePage(q, &v)}
	if err := v.Err(); err != nil {
		return err
	}
	l, err := w.store.ListPendingKeys(ctx, f)
	if err != nil {
		return err
	}
	ws, err := w.store.ListEnrollWindows(ctx)
	if err != nil {
		return err
	}
	d := pendingDevicesData{Keys: l.Items, Windows: ws, MAC: f.MAC, Pager: newPager(r, f.Page.Page, f.Page.PerPage, l.Total), Now: w.store.Now()}
	if a := identity(r).Effective(); a.Role == model.RoleInstaller {
		if d.Projects, err = w.installerProjectChoices(ctx); err != nil {
			return err
		}
	}
	return w.render(rw, http.StatusOK, "pending_devices", w.page(r, tr(r, "Pending devices"), "pending-devices", d))
}

// enrollBack is where a decision returns: a device's page or the pending
// list, never elsewhere.
func enrollBack(r *http.Request) string {
	b := r.PostFormValue("back")
	if strings.HasPrefix(b, "/devices/") || strings.HasPrefix(b, "/installer/devices/") || strings.HasPrefix(b, "/pending-devices") {
		if u, err := url.Parse(b); err == nil && u.Host == "" && u.Scheme == "" && !strings.Contains(b, "//") {
			return b
		}
	}
	return "/pending-devices"
}

func formID(r *http.Request, what string) (int64, error) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id <= 0 {
		return 0, model.NotFound(what)
	}
	return id, nil
}

// AcceptPendingKey accepts a key and returns whence it came.
func (w *Web) AcceptPendingKey(rw http.ResponseWriter, r *http.Request) error {
	id, err := formID(r, "pending key")
	if err != nil {
		return err
	}
	k, err := w.cases.AcceptDeviceKey(r.Context(), id)
	if err != nil {
		return err
	}
	return redirectWithNotice(rw, r, enrollBack(r), tr(r, "Accepted key %s of device %s: it connects on its next attempt.", k.Fingerprint, k.MAC))
}

// RejectPendingKey rejects a key.
func (w *Web) RejectPendingKey(rw http.ResponseWriter, r *http.Request) error {
	id, err := formID(r, "pending key")
	if err != nil {
		return err
	}
	k, err := w.cases.RejectDeviceKey(r.Context(), id)
	if err != nil {
		return err
	}
	return redirectWithNotice(rw, r, enrollBack(r), tr(r, "Rejected key %s of device %s.", k.Fingerprint, k.MAC))
}

// OpenEnrollWindow opens an acceptance window for a device (mac) or a
// project (project_id).
func (w *Web) OpenEnrollWindow(rw http.ResponseWriter, r *http.Request) error {
	mac := strings.TrimSpace(r.PostFormValue("mac"))
	var pid int64
	if s := r.PostFormValue("project_id"); s != "" {
		var err error
		if pid, err = strconv.ParseInt(s, 10, 64); err != nil || pid <= 0 {
			return model.Invalid("project_id", "choose a project")
		}
	}
	if (mac == "") == (pid == 0) {
		return model.Invalid("mac", "choose a device or a project")
	}
	minutes := 10
	if s := r.PostFormValue("minutes"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil {
			return model.Invalid("minutes", "must be a number of minutes")
		}
		minutes = n
	}
	win, err := w.cases.OpenEnrollWindow(r.Context(), usecase.EnrollWindowRequest{MAC: mac, ProjectID: pid, Minutes: minutes})
	if err != nil {
		return err
	}
	l := locale(r)
	until := zoneTime(l, win.Expires, "15:04:05")
	notice := l.T("Until %s, device %s accepts its next key.", until, win.MAC)
	if win.MAC == "" {
		notice = l.T("Until %s, the devices of %s without an accepted key accept their next key.", until, win.Project)
	}
	return redirectWithNotice(rw, r, enrollBack(r), notice)
}

// CloseEnrollWindow closes a window.
func (w *Web) CloseEnrollWindow(rw http.ResponseWriter, r *http.Request) error {
	id, err := formID(r, "acceptance window")
	if err != nil {
		return err
	}
	if err := w.cases.CloseEnrollWindow(r.Context(), id); err != nil {
		return err
	}
	return redirectWithNotice(rw, r, enrollBack(r), tr(r, "Acceptance window closed."))
}

// keyStatusLabels name a pending key's states as the pages show them.
var keyStatusLabels = map[string]string{model.KeyPending: i18n.N("pending"), model.KeyRejected: i18n.N("rejected")}

func init() {
	localeFuncs["keyStatus"] = func(l *i18n.Locale) any {
		return func(s string) string { return labelIn(l, keyStatusLabels, s) }
	}
}
