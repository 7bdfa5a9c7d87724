package web

import (
	"net/http"
	"strconv"
	"strings"

	"github.com/gatehouse-dev/gatehouse/internal/i18n"
	"github.com/gatehouse-dev/gatehouse/internal/model"
	"github.com/gatehouse-dev/gatehouse/internal/usecase"
)

// Setting → Notification (every role): which mails the account gets, and
// after how many minutes offline a device is reported. Linked from the top
// bar, the sub-distributor's Setting module and the installer's Settings.

type notificationsData struct {
	Form  model.NotificationSettings
	Min   int
	Max   int
	Kinds []notifyKindRow
}

type notifyKindRow struct {
	Key, Title, Text string // Title and Text: catalog keys
	On               bool
}

func notifyKindRows(ns model.NotificationSettings) []notifyKindRow {
	return []notifyKindRow{
		{model.NotifyEndUserExpiry, i18n.N("End users' services expiring"), i18n.N("A daily digest of the end users whose App or Premium service expires in 30, 7 or 1 days, or expired."), ns.EndUserExpiry},
		{model.NotifyDeviceOffline, i18n.N("Devices offline"), i18n.N("A digest per project of the devices offline longer than the minutes below, and of their coming back."), ns.DeviceOffline},
		{model.NotifyOrderResult, i18n.N("Orders completed or failed"), i18n.N("The orders you placed, when they complete or fail."), ns.OrderResult},
		{model.NotifyRolloutPaused, i18n.N("Firmware rollouts paused"), i18n.N("Your rollouts, when their failure threshold or a person pauses them."), ns.RolloutPaused},
	}
}

// NotificationsPage shows the caller's settings.
func (w *Web) NotificationsPage(rw http.ResponseWriter, r *http.Request) error {
	ns, err := w.cases.NotificationSettings(r.Context())
	if err != nil {
		return err
	}
	return w.notificationsPage(rw, r, http.StatusOK, ns, nil)
}

func (w *Web) notificationsPage(rw http.ResponseWriter, r *http.Request, status int, ns model.NotificationSettings, formErr error) error {
	p := w.page(r, tr(r, "Notification"), "", notificationsData{Form: ns, Min: model.MinOfflineMinutes, Max: model.MaxOfflineMinutes, Kinds: notifyKindRows(ns)})
	if formErr != nil {
		p.Fail(formErr)
	}
	return w.render(rw, status, "account_notifications", p)
}

// SaveNotifications saves the form: each switch as sent (a checkbox left
// out is off), the minutes checked; bad input shows the form again.
func (w *Web) SaveNotifications(rw http.ResponseWriter, r *http.Request) error {
	on := func(k string) *bool { b := r.PostFormValue(k) == "on"; return &b }
	in := usecase.NotificationSettingsInput{EndUserExpiry: on(model.NotifyEndUserExpiry), DeviceOffline: on(model.NotifyDeviceOffline),
		OrderResult: on(model.NotifyOrderResult), RolloutPaused: on(model.NotifyRolloutPaused)}
	mins, err := strconv.Atoi(strings.TrimSpace(r.PostFormValue("offline_minutes")))
	if err != nil {
		mins = -1 // refused by the range check, which names the field
	}
	in.OfflineMinutes = &mins
	ns, err := w.cases.SaveNotificationSettings(r.Context(), in)
	if model.ErrorCode(err) == model.EINVALID {
		form := ns
		form.EndUserExpiry, form.DeviceOffline, form.OrderResult, form.RolloutPaused = *in.EndUserExpiry, *in.DeviceOffline, *in.OrderResult, *in.RolloutPaused
		return w.notificationsPage(rw, r, http.StatusBadRequest, form, err)
	} else if err != nil {
		return err
	}
	return redirect(rw, r, "/account/notifications", tr(r, "Notification settings saved."))
}
