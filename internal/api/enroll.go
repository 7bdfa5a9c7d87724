package api

import (
	"net/http"
	"strconv"

	"github.com/gatehouse-dev/gatehouse/internal/model"
	"github.com/gatehouse-dev/gatehouse/internal/usecase"
)

// Device enrollment (DESIGN.md §3): the keys devices presented that the
// cloud has not accepted, accept and reject, and "accept the next key"
// windows of a device or a project. The store scopes everything to the
// caller's subtree.

// ListPendingKeys answers GET /pending-keys?mac=: the keys waiting to be
// accepted, the most recently tried first (format=csv exports them).
func (a *API) ListPendingKeys(w http.ResponseWriter, r *http.Request) error {
	var v model.Validator
	q := r.URL.Query()
	f := model.PendingKeyFilter{MAC: q.Get("mac"), Page: model.ParsePage(q, &v)}
	format := checkFormat(r, &v)
	if err := v.Err(); err != nil {
		return err
	}
	f.Page = exportPage(format, f.Page)
	l, err := a.Store.ListPendingKeys(r.Context(), f)
	if err != nil {
		return err
	}
	return writeList(w, format, "pending-keys", l, []string{"mac", "device_name", "project", "installer", "fingerprint", "remote_addr",
		"model", "firmware", "attempts", "first_attempt_at", "last_attempt_at"}, func(k *model.PendingKey) []string {
		return []string{k.MAC, k.DeviceName, k.Project, k.Installer, k.Fingerprint, k.RemoteAddr, k.Model, k.Firmware,
			strconv.FormatInt(k.Attempts, 10), formatTime(k.FirstAt), formatTime(k.LastAt)}
	})
}

// AcceptPendingKey answers POST /pending-keys/{id}/accept: the key becomes
// the device's accepted key (a connection with another key it had ends).
func (a *API) AcceptPendingKey(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "id", "pending key")
	if err != nil {
		return err
	}
	k, err := a.Cases.AcceptDeviceKey(r.Context(), id)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, k)
}

// RejectPendingKey answers POST /pending-keys/{id}/reject.
func (a *API) RejectPendingKey(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "id", "pending key")
	if err != nil {
		return err
	}
	k, err := a.Cases.RejectDeviceKey(r.Context(), id)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, k)
}

// GetDeviceEnrollment answers GET /devices/{mac}/enrollment.
func (a *API) GetDeviceEnrollment(w http.ResponseWriter, r *http.Request) error {
	e, err := a.Store.GetDeviceEnrollment(r.Context(), r.PathValue("mac"))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, e)
}

type windowRequest struct {
	MAC       string `json:"mac"`
	ProjectID int64  `json:"project_id"`
	Minutes   int    `json:"minutes"`
}

// ListEnrollWindows answers GET /enrollment-windows: the open windows.
func (a *API) ListEnrollWindows(w http.ResponseWriter, r *http.Request) error {
	ws, err := a.Store.ListEnrollWindows(r.Context())
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, map[string]any{"items": ws, "total": len(ws)})
}

// OpenEnrollWindow answers POST /enrollment-windows {mac | project_id,
// minutes}: 201 and the window.
func (a *API) OpenEnrollWindow(w http.ResponseWriter, r *http.Request) error {
	var req windowRequest
	if err := decodeJSON(w, r, &req); err != nil {
		return err
	}
	win, err := a.Cases.OpenEnrollWindow(r.Context(), usecase.EnrollWindowRequest{MAC: req.MAC, ProjectID: req.ProjectID, Minutes: req.Minutes})
	if err != nil {
		return err
	}
	w.Header().Set("Location", "/api/v1/enrollment-windows/"+strconv.FormatInt(win.ID, 10))
	return writeJSON(w, http.StatusCreated, win)
}

// CloseEnrollWindow answers DELETE /enrollment-windows/{id}.
func (a *API) CloseEnrollWindow(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "id", "acceptance window")
	if err != nil {
		return err
	}
	if err := a.Cases.CloseEnrollWindow(r.Context(), id); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
