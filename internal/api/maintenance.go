package api

import (
	"net/http"

	"github.com/gatehouse-dev/gatehouse/internal/model"
)

// Remote maintenance of one device (the guide's "Remote Maintenance for
// Project / Personal Devices"): reboot, reset, its commands, and Remote
// Control sessions. Commands are stored first, then the gateway is told;
// an offline device gets them when it connects.

// RebootDevice answers POST /devices/{mac}/reboot with 202 and the command.
func (a *API) RebootDevice(w http.ResponseWriter, r *http.Request) error {
	c, err := a.Cases.RebootDevice(r.Context(), r.PathValue("mac"))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusAccepted, c)
}

type resetInput struct {
	Mode string `json:"mode"`
}

// ResetDevice answers POST /devices/{mac}/reset {"mode": "factory"|"config"}
// with 202 and the command.
func (a *API) ResetDevice(w http.ResponseWriter, r *http.Request) error {
	var in resetInput
	if err := decodeJSON(w, r, &in); err != nil {
		return err
	}
	c, err := a.Cases.ResetDevice(r.Context(), r.PathValue("mac"), in.Mode)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusAccepted, c)
}

// ListDeviceCommands answers GET /devices/{mac}/commands: the device's
// latest commands (at most 100), newest first.
func (a *API) ListDeviceCommands(w http.ResponseWriter, r *http.Request) error {
	cs, err := a.Store.ListCommands(r.Context(), r.PathValue("mac"), 100)
	if err != nil {
		return err
	}
	if cs == nil {
		cs = []*model.DeviceCommand{}
	}
	return writeJSON(w, http.StatusOK, map[string]any{"items": cs, "total": len(cs)})
}

// CreateRemoteSession answers POST /devices/{mac}/remote-sessions with 201
// and the session's url: the device's web interface through the cloud, for
// the caller's account only, for a short while.
func (a *API) CreateRemoteSession(w http.ResponseWriter, r *http.Request) error {
	rc, err := a.Cases.OpenRemoteControl(r.Context(), r.PathValue("mac"))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusCreated, rc.Session)
}
