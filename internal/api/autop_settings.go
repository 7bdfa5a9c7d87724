package api

import (
	"net/http"
	"strconv"

	"github.com/gatehouse-dev/gatehouse/internal/autopserver"
	"github.com/gatehouse-dev/gatehouse/internal/model"
	"github.com/gatehouse-dev/gatehouse/internal/store"
)

// A device's AutoP settings as people see and change them (DESIGN.md §4):
// its regular and one-time commands, its data transmission type, the
// preview of its file, and Batch AutoP. The writes are use cases
// (usecase.Cases): they save and then tell the devices to fetch.

// autoPRequest is the body of PUT /devices/{mac}/autop. A list left out
// (or null) is kept; an empty list clears it.
type autoPRequest struct {
	Regular []string `json:"regular"`
	Once    []string `json:"once"`
}

// GetDeviceAutoP answers GET /devices/{mac}/autop: the device's regular and
// one-time commands, one normalised command a line.
func (a *API) GetDeviceAutoP(w http.ResponseWriter, r *http.Request) error {
	out, err := a.Store.GetDeviceAutoP(r.Context(), r.PathValue("mac"))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, out)
}

// PutDeviceAutoP answers PUT /devices/{mac}/autop: saves the lists given
// (normalised: duplicates are not retained), answers them as stored, and
// tells the device to fetch its new file at once when it is online.
func (a *API) PutDeviceAutoP(w http.ResponseWriter, r *http.Request) error {
	var req autoPRequest
	if err := decodeJSON(w, r, &req); err != nil {
		return err
	}
	out, err := a.Cases.SaveDeviceAutoP(r.Context(), r.PathValue("mac"), req.Regular, req.Once)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, out)
}

// connectTypeRequest is the body of PUT /devices/{mac}/connect-type.
type connectTypeRequest struct {
	ConnectType *string `json:"connect_type"`
}

// PutDeviceConnectType answers PUT /devices/{mac}/connect-type: sets the
// device's data transmission type (default, udp, tcp, tls) over its
// installer's Connect Type, answers the device's AutoP settings, and tells
// the device to fetch its new file at once when it is online.
func (a *API) PutDeviceConnectType(w http.ResponseWriter, r *http.Request) error {
	var req connectTypeRequest
	if err := decodeJSON(w, r, &req); err != nil {
		return err
	}
	if req.ConnectType == nil {
		return model.Invalid("connect_type", "is required: default, udp, tcp or tls")
	}
	out, err := a.Cases.SaveDeviceConnectType(r.Context(), r.PathValue("mac"), *req.ConnectType)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, out)
}

// PreviewDeviceAutoP answers GET /devices/{mac}/autop/preview: the exact
// bytes the device would receive now, as text/plain, with its ETag.
func (a *API) PreviewDeviceAutoP(w http.ResponseWriter, r *http.Request) error {
	f, err := a.Store.AutoPPreview(r.Context(), r.PathValue("mac"))
	if err != nil {
		return err
	}
	autopserver.WriteFile(w, r, f)
	return nil
}

// CreateAutoPBatch answers POST /autop/batch: merges the commands into the
// regular or one-time list of up to 500 devices of one list, in one
// transaction, and tells every online device of the batch to fetch its file
// at once (offline ones are told when they connect, within the hour).
func (a *API) CreateAutoPBatch(w http.ResponseWriter, r *http.Request) error {
	var req store.AutoPBatchRequest
	if err := decodeJSON(w, r, &req); err != nil {
		return err
	}
	b, err := a.Cases.CreateAutoPBatch(r.Context(), req)
	if err != nil {
		return err
	}
	w.Header().Set("Location", "/api/v1/autop/batch/"+strconv.FormatInt(b.ID, 10))
	return writeJSON(w, http.StatusCreated, b)
}

// GetAutoPBatch answers GET /autop/batch/{id}: a batch and its progress,
// device by device.
func (a *API) GetAutoPBatch(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "id", "AutoP batch")
	if err != nil {
		return err
	}
	b, err := a.Store.GetAutoPBatch(r.Context(), id)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, b)
}
