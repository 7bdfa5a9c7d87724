package api

import (
	"net/http"
	"strconv"

	"github.com/gatehouse-dev/gatehouse/internal/model"
	"github.com/gatehouse-dev/gatehouse/internal/tabular"
)

// Firmware rollouts (issue 15): preview, create, list, read with progress,
// the per-device table (CSV too), and start / pause / resume / cancel.

// PreviewRollout counts the devices a rollout would upgrade and those it
// would leave out, with the plan's waves; it writes nothing.
func (a *API) PreviewRollout(w http.ResponseWriter, r *http.Request) error {
	var in model.RolloutInput
	if err := decodeJSON(w, r, &in); err != nil {
		return err
	}
	n, err := a.Cases.CountRolloutTargets(r.Context(), in)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, n)
}

// CreateRollout makes a draft rollout; POST …/start starts it.
func (a *API) CreateRollout(w http.ResponseWriter, r *http.Request) error {
	var in model.RolloutInput
	if err := decodeJSON(w, r, &in); err != nil {
		return err
	}
	ro, err := a.Cases.CreateRollout(r.Context(), in)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusCreated, ro)
}

// ListRollouts lists the rollouts the caller sees, newest first.
func (a *API) ListRollouts(w http.ResponseWriter, r *http.Request) error {
	var v model.Validator
	f := model.ParseRolloutFilter(r.URL.Query(), &v)
	format := checkFormat(r, &v)
	if err := v.Err(); err != nil {
		return err
	}
	f.Page = exportPage(format, f.Page)
	l, err := a.Store.ListRollouts(r.Context(), f)
	if err != nil {
		return err
	}
	return writeList(w, format, "rollouts", l,
		[]string{"id", "name", "status", "model", "version", "total", "waves", "current_wave", "pause_reason", "account", "created_at"},
		func(ro *model.Rollout) []string {
			return []string{strconv.FormatInt(ro.ID, 10), ro.Name, string(ro.Status), ro.FirmwareModel, ro.FirmwareVersion,
				strconv.Itoa(ro.Total), strconv.Itoa(ro.Waves), strconv.Itoa(ro.CurrentWave), ro.PauseReason, ro.Account, formatTime(ro.Created)}
		})
}

type rolloutWithProgress struct {
	*model.Rollout
	Progress *model.RolloutProgress `json:"progress"`
}

// GetRollout returns a rollout with its progress.
func (a *API) GetRollout(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "id", "rollout")
	if err != nil {
		return err
	}
	ro, err := a.Store.GetRollout(r.Context(), id)
	if err != nil {
		return err
	}
	p, err := a.Cases.RolloutProgress(r.Context(), id)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, rolloutWithProgress{ro, p})
}

// GetRolloutProgress returns a rollout's counts per state and per wave (for
// live progress: cheap to poll).
func (a *API) GetRolloutProgress(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "id", "rollout")
	if err != nil {
		return err
	}
	p, err := a.Cases.RolloutProgress(r.Context(), id)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, p)
}

// ListRolloutDevices lists a rollout's devices' upgrades, searched by MAC,
// state, error and wave; format=csv exports them.
func (a *API) ListRolloutDevices(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "id", "rollout")
	if err != nil {
		return err
	}
	var v model.Validator
	f := model.ParseRolloutDeviceFilter(r.URL.Query(), &v)
	format := checkFormat(r, &v)
	if err := v.Err(); err != nil {
		return err
	}
	f.Page = exportPage(format, f.Page)
	l, err := a.Store.ListRolloutDevices(r.Context(), id, f)
	if err != nil {
		return err
	}
	return writeList(w, format, "rollout-"+strconv.FormatInt(id, 10)+"-devices", l, tabular.UpgradeColumns, tabular.UpgradeRow)
}

// DeviceFirmwareHistory lists a device's upgrades, newest first.
func (a *API) DeviceFirmwareHistory(w http.ResponseWriter, r *http.Request) error {
	h, err := a.Cases.DeviceUpgrades(r.Context(), r.PathValue("mac"), model.MaxPerPage)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, map[string]any{"items": h})
}

// StartRollout, PauseRollout, ResumeRollout and CancelRollout change a
// rollout's status; a change its status does not allow is 409.
func (a *API) StartRollout(w http.ResponseWriter, r *http.Request) error {
	return a.rolloutAction(w, r, model.RolloutStart)
}

// PauseRollout pauses a running rollout: nothing more is released.
func (a *API) PauseRollout(w http.ResponseWriter, r *http.Request) error {
	return a.rolloutAction(w, r, model.RolloutPause)
}

// ResumeRollout resumes a paused rollout.
func (a *API) ResumeRollout(w http.ResponseWriter, r *http.Request) error {
	return a.rolloutAction(w, r, model.RolloutResume)
}

// CancelRollout cancels a rollout: its devices not yet sent the upgrade are
// canceled; the ones under way finish.
func (a *API) CancelRollout(w http.ResponseWriter, r *http.Request) error {
	return a.rolloutAction(w, r, model.RolloutCancel)
}

func (a *API) rolloutAction(w http.ResponseWriter, r *http.Request, action string) error {
	id, err := pathID(r, "id", "rollout")
	if err != nil {
		return err
	}
	ro, err := a.Cases.SetRolloutStatus(r.Context(), id, action)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, ro)
}
