package web

import (
	"net/http"
	"net/url"
	"strconv"

	"github.com/gatehouse-dev/gatehouse/internal/auth"
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

// CommandLabel names a command as the panel shows it.
func commandLabel(c *model.DeviceCommand) string {
	switch {
	case c.Kind == model.CommandReset && c.Mode == model.ResetFactory:
		return "Factory reset"
	case c.Kind == model.CommandReset:
		return "Configuration reset"
	case c.Kind == model.CommandAutoP:
		return "AutoP (fetch config)"
	}
	return "Reboot"
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
	http.Redirect(rw, r, devicePage(c.MAC, r.PostFormValue("back"), commandNotice(c)), http.StatusSeeOther)
	return nil
}

func commandNotice(c *model.DeviceCommand) string {
	return commandLabel(c) + " of " + c.MAC + " queued as command " + strconv.FormatInt(c.ID, 10) +
		": the device gets it at once when online, else when it connects (until " + c.Expires.UTC().Format("2006-01-02 15:04") + " UTC)."
}

// OpenRemoteControl opens a Remote Control session and sends the browser
// to it; an offline device is refused on its page.
func (w *Web) OpenRemoteControl(rw http.ResponseWriter, r *http.Request) error {
	rc, err := w.cases.OpenRemoteControl(r.Context(), r.PathValue("mac"))
	if model.ErrorCode(err) == model.ECONFLICT {
		mac, _ := model.NormalizeMAC(r.PathValue("mac"))
		http.Redirect(rw, r, devicePage(mac, r.PostFormValue("back"), model.ErrorMessage(err)), http.StatusSeeOther)
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
	return w.render(rw, http.StatusOK, "remote_redirect", w.page(r, "Remote Control of "+rc.Session.MAC, "project-devices", data))
}
