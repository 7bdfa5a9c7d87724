package web

import (
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/auth"
	"github.com/gatehouse-dev/gatehouse/internal/i18n"
	"github.com/gatehouse-dev/gatehouse/internal/model"
)

// maintenanceData feeds the Remote maintenance panel of a device's page.
type maintenanceData struct {
	MAC      string
	CSRF     string
	Back     string
	Commands []*model.DeviceCommand
}

// deviceMaintenance loads the Remote maintenance panel of a device's page:
// status, reboot / reset / Remote Control and the device's commands. The
// page refreshes status and commands itself (static/maintenance.js).
func (w *Web) deviceMaintenance(r *http.Request, d *model.DeviceDetail) (any, error) {
	cs, err := w.store.ListCommands(r.Context(), d.MAC, 20)
	if err != nil {
		return nil, err
	}
	m := maintenanceData{MAC: d.MAC, Commands: cs, Back: safeBack(r.URL.Query().Get("back"), d.ProjectKind)}
	if id := auth.IdentityFrom(r.Context()); id != nil && id.Session != nil {
		m.CSRF = id.Session.CSRFToken
	}
	return m, nil
}

// CommandLabel names a command as the panel shows it (a catalog key: the
// template function commandLabel translates it).
func commandLabel(c *model.DeviceCommand) string {
	switch {
	case c.Kind == model.CommandReset && c.Mode == model.ResetFactory:
		return i18n.N("Factory reset")
	case c.Kind == model.CommandReset:
		return i18n.N("Configuration reset")
	case c.Kind == model.CommandAutoP:
		return i18n.N("AutoP (fetch config)")
	}
	return i18n.N("Reboot")
}

// commandStatusLabels name a command's (and a diagnostic's) states as the
// pages show them; static/maintenance.js reads them from the page.
var commandStatusLabels = map[string]string{"queued": i18n.N("queued"), "sent": i18n.N("sent"), "running": i18n.N("running"),
	"done": i18n.N("done"), "failed": i18n.N("failed"), "expired": i18n.N("expired")}

// commandKindLabels name the kinds of the failed-commands list.
var commandKindLabels = map[string]string{"reboot": i18n.N("reboot"), "reset": i18n.N("reset"), "autop": i18n.N("autop")}

// labelIn is a state's or kind's label in the locale's language, the value
// itself when the table does not name it.
func labelIn(l *i18n.Locale, labels map[string]string, v string) string {
	if s, ok := labels[v]; ok {
		return l.T(s)
	}
	return v
}

// zoneTime is an instant in the locale's time zone as layout writes it,
// the zone's name after it ("2026-12-05 10:00 UTC").
func zoneTime(l *i18n.Locale, t time.Time, layout string) string {
	return t.In(l.Zone).Format(layout) + " " + l.Zone.String()
}

func init() {
	// cmdStatus and cmdKind name a command's (a diagnostic's) state and kind.
	localeFuncs["cmdStatus"] = func(l *i18n.Locale) any {
		return func(s any) string { return labelIn(l, commandStatusLabels, fmt.Sprint(s)) }
	}
	localeFuncs["cmdKind"] = func(l *i18n.Locale) any {
		return func(s any) string { return labelIn(l, commandKindLabels, fmt.Sprint(s)) }
	}
	// label translates a label another module built, when it is a
	// catalog key (and leaves one already translated as it is).
	localeFuncs["label"] = func(l *i18n.Locale) any {
		return func(s string) string {
			if i18n.Has(s) {
				return l.T(s)
			}
			return s
		}
	}
	// zone is the name of the reader's time zone, written after the times
	// datetime writes in it.
	localeFuncs["zone"] = func(l *i18n.Locale) any { return func() string { return l.Zone.String() } }
	// datetimeLayout is the Go layout of datetime in the reader's language
	// (static/maintenance.js writes the times it refreshes alike).
	localeFuncs["datetimeLayout"] = func(l *i18n.Locale) any {
		return func() string { return l.DateTime(time.Date(2006, 1, 2, 15, 4, 5, 0, l.Zone)) }
	}
}

// devicePage is the way back to a device's maintenance panel; the page
// itself keeps back only when safeBack accepts it.
func devicePage(mac, back, notice string) string {
	p := "/devices/" + mac
	q := url.Values{}
	if back != "" {
		q.Set("back", back)
	}
	if notice != "" {
		q.Set("notice", notice)
	}
	if len(q) > 0 {
		p += "?" + q.Encode()
	}
	return p + "#remote-maintenance"
}

// RebootDevice queues a reboot and returns to the device's page.
func (w *Web) RebootDevice(rw http.ResponseWriter, r *http.Request) error {
	c, err := w.cases.RebootDevice(r.Context(), r.PathValue("mac"))
	return commandQueued(rw, r, c, err)
}

// ResetDevice queues a factory or configuration reset.
func (w *Web) ResetDevice(rw http.ResponseWriter, r *http.Request) error {
	mode := r.PostFormValue("mode")
	if mode != model.ResetFactory && mode != model.ResetConfig {
		return model.Invalid("mode", "choose Factory reset or Configuration reset")
	}
	c, err := w.cases.ResetDevice(r.Context(), r.PathValue("mac"), mode)
	return commandQueued(rw, r, c, err)
}

// commandQueued returns to the device's page saying what happens next.
func commandQueued(rw http.ResponseWriter, r *http.Request, c *model.DeviceCommand, err error) error {
	if err != nil {
		return err
	}
	http.Redirect(rw, r, devicePage(c.MAC, r.PostFormValue("back"), commandNotice(locale(r), c)), http.StatusSeeOther)
	return nil
}

func commandNotice(l *i18n.Locale, c *model.DeviceCommand) string {
	return l.T("%s of %s queued as command %s: the device gets it at once when online, else when it connects (until %s).",
		l.T(commandLabel(c)), c.MAC, strconv.FormatInt(c.ID, 10), zoneTime(l, c.Expires, "2006-01-02 15:04"))
}

// OpenRemoteControl opens a Remote Control session and sends the browser
// to it; an offline device is refused on its page.
func (w *Web) OpenRemoteControl(rw http.ResponseWriter, r *http.Request) error {
	rc, err := w.cases.OpenRemoteControl(r.Context(), r.PathValue("mac"))
	if model.ErrorCode(err) == model.ECONFLICT {
		mac, _ := model.NormalizeMAC(r.PathValue("mac"))
		http.Redirect(rw, r, devicePage(mac, r.PostFormValue("back"), localized(locale(r), err, model.ErrorMessage(err))), http.StatusSeeOther)
		return nil
	} else if err != nil {
		return err
	}
	if rc.RemoteHost == "" {
		// On the portal's host: whichever host name this browser used.
		http.Redirect(rw, r, rc.Path, http.StatusSeeOther)
		return nil
	}
	// The portal's CSP (form-action 'self') stops a form's redirect to
	// another origin: a page continues there instead.
	data := struct{ URL, MAC, Host string }{rc.Session.URL, rc.Session.MAC, rc.RemoteHost}
	return w.render(rw, http.StatusOK, "remote_redirect", w.page(r, tr(r, "Remote Control of %s", rc.Session.MAC), "project-devices", data))
}
