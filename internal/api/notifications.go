package api

import (
	"net/http"

	"github.com/gatehouse-dev/gatehouse/internal/usecase"
)

// Setting → Notification: the signed-in account's e-mail switches per kind
// and its offline minutes (README "Notifications").

// GetNotificationSettings returns the caller's own settings.
func (a *API) GetNotificationSettings(w http.ResponseWriter, r *http.Request) error {
	ns, err := a.Cases.NotificationSettings(r.Context())
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, ns)
}

type notificationSettingsRequest struct {
	EndUserExpiry  *bool `json:"enduser_expiry"`
	DeviceOffline  *bool `json:"device_offline"`
	OrderResult    *bool `json:"order_result"`
	RolloutPaused  *bool `json:"rollout_paused"`
	OfflineMinutes *int  `json:"offline_minutes"`
}

// PutNotificationSettings changes the caller's own settings; an omitted
// field keeps its value.
func (a *API) PutNotificationSettings(w http.ResponseWriter, r *http.Request) error {
	var req notificationSettingsRequest
	if err := decodeJSON(w, r, &req); err != nil {
		return err
	}
	ns, err := a.Cases.SaveNotificationSettings(r.Context(), usecase.NotificationSettingsInput{EndUserExpiry: req.EndUserExpiry,
		DeviceOffline: req.DeviceOffline, OrderResult: req.OrderResult, RolloutPaused: req.RolloutPaused, OfflineMinutes: req.OfflineMinutes})
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, ns)
}
