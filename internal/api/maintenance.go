package api

import (
	"net/http"
	"net/url"
	"strings"

	"github.com/gatehouse-dev/gatehouse/internal/model"
)

// Remote maintenance of one device (the guide's "Remote Maintenance for
// Project / Personal Devices"): reboot, reset, its commands, and Remote
// Control sessions. Commands are stored first, then the gateway is told;
// an offline device gets them when it connects.

// RebootDevice answers POST /devices/{mac}/reboot with 202 and the command.
func (a *API) RebootDevice(w http.ResponseWriter, r *http.Request) error {
	return a.command(w, r, model.CommandReboot, "")
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
	if in.Mode != model.ResetFactory && in.Mode != model.ResetConfig {
		return model.Invalid("mode", "must be factory or config")
	}
	return a.command(w, r, model.CommandReset, in.Mode)
}

func (a *API) command(w http.ResponseWriter, r *http.Request, kind model.CommandKind, mode string) error {
	c, err := a.Store.CreateCommand(r.Context(), r.PathValue("mac"), kind, mode)
	if err != nil {
		return err
	}
	a.Gateway.Kick(r.Context(), c.MAC)
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
	token, rs, err := a.Store.CreateRemoteSession(r.Context(), r.PathValue("mac"))
	if err != nil {
		return err
	}
	rs.URL = RemoteSessionURL(a.PublicURL, a.RemoteURL, token, rs.Handoff)
	return writeJSON(w, http.StatusCreated, rs)
}

// RemoteSessionURL is where a Remote Control session opens: on the separate
// Remote Control origin with its single-use handoff code when there is one,
// else on the portal's host (absolute when the public URL is known).
func RemoteSessionURL(publicURL, remoteURL, token, handoff string) string {
	if remoteURL != "" {
		return remoteURL + RemotePath(token) + "?handoff=" + url.QueryEscape(handoff)
	}
	if u, err := url.Parse(publicURL); err == nil && u.Host != "" {
		return strings.TrimSuffix(publicURL, "/") + RemotePath(token)
	}
	return RemotePath(token)
}

// RemotePath is where a Remote Control session is served.
func RemotePath(token string) string { return "/remote/" + token + "/" }
