package api

import (
	"context"
	"net/http"
	"strconv"

	"github.com/gatehouse-dev/gatehouse/internal/listquery"
	"github.com/gatehouse-dev/gatehouse/internal/model"
	"github.com/gatehouse-dev/gatehouse/internal/store"
)

// The installer's devices (by MAC) and third-party cameras.

// ListInstallerDevices lists the caller's devices: one project, MAC or name
// contains.
func (a *API) ListInstallerDevices(w http.ResponseWriter, r *http.Request) error {
	var v model.Validator
	f := listquery.InstallerDevices(r.URL.Query(), &v)
	format := checkFormat(r, &v)
	if err := v.Err(); err != nil {
		return err
	}
	f.Page = exportPage(format, f.Page)
	l, err := a.Store.ListInstallerDevices(r.Context(), f)
	if err != nil {
		return err
	}
	return writeList(w, format, "devices", l,
		[]string{"mac", "type", "model", "name", "location", "project", "project_kind", "owner", "sip", "firmware", "online", "created_at"},
		func(d *store.DeviceRow) []string {
			return []string{d.MAC, string(d.Type), d.Model, d.Name, d.Location, d.Project, string(d.ProjectKind), d.Owner, d.SIP,
				d.Firmware, strconv.FormatBool(d.Online), formatTime(d.Created)}
		})
}

type deviceRequest struct {
	MAC          *string `json:"mac"`
	ProjectID    *int64  `json:"project_id"`
	BuildingID   *int64  `json:"building_id"`
	ApartmentID  *int64  `json:"apartment_id"`
	DepartmentID *int64  `json:"department_id"`
	OwnerID      *int64  `json:"owner_id"`
	Type         *string `json:"type"`
	Model        *string `json:"model"`
	Name         *string `json:"name"`
	SIP          *string `json:"sip"`
	Location     *string `json:"location"` // "" fills it in from where the device belongs
}

// apply sets the given fields. Where the device belongs is one place: a
// new project clears the old project's places, a new apartment the
// building (it takes the apartment's), a new building the apartment.
func (req deviceRequest) apply(d *model.Device) {
	if req.ProjectID != nil && *req.ProjectID != d.ProjectID {
		d.ProjectID, d.BuildingID, d.ApartmentID, d.DepartmentID, d.OwnerID = *req.ProjectID, 0, 0, 0, 0
	}
	if req.ApartmentID != nil {
		d.ApartmentID, d.BuildingID = *req.ApartmentID, 0
	}
	if req.BuildingID != nil {
		d.BuildingID = *req.BuildingID
		if req.ApartmentID == nil {
			d.ApartmentID = 0
		}
	}
	if req.DepartmentID != nil {
		d.DepartmentID = *req.DepartmentID
	}
	if req.OwnerID != nil {
		d.OwnerID = *req.OwnerID
	}
	set := func(dst, src *string) {
		if src != nil {
			*dst = *src
		}
	}
	set(&d.MAC, req.MAC)
	if req.Type != nil {
		d.Type = model.DeviceType(*req.Type)
	}
	set(&d.Model, req.Model)
	set(&d.Name, req.Name)
	set(&d.SIP, req.SIP)
	set(&d.Location, req.Location)
}

// CreateInstallerDevice registers a device by MAC in one of the caller's
// projects.
func (a *API) CreateInstallerDevice(w http.ResponseWriter, r *http.Request) error {
	var req deviceRequest
	if err := decodeJSON(w, r, &req); err != nil {
		return err
	}
	d := &model.Device{}
	req.apply(d)
	if err := a.Cases.AddInstallerDevice(r.Context(), d); err != nil {
		return err
	}
	return writeJSON(w, http.StatusCreated, d)
}

// UpdateInstallerDevice changes a device found by its MAC (any notation);
// omitted fields keep their value and the MAC itself does not change.
func (a *API) UpdateInstallerDevice(w http.ResponseWriter, r *http.Request) error {
	var req deviceRequest
	if err := decodeJSON(w, r, &req); err != nil {
		return err
	}
	d, err := a.Cases.UpdateInstallerDevice(r.Context(), r.PathValue("mac"), func(d *model.Device) error {
		if req.MAC != nil {
			if m, ok := model.NormalizeMAC(*req.MAC); !ok || m != d.MAC {
				return model.Invalid("mac", "cannot be changed: delete the device and add the new MAC")
			}
		}
		req.apply(d)
		return nil
	})
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, d)
}

// DeleteInstallerDevice deletes a device by MAC.
func (a *API) DeleteInstallerDevice(w http.ResponseWriter, r *http.Request) error {
	if err := a.Cases.DeleteDevice(r.Context(), r.PathValue("mac")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// ListThirdPartyDevices (the camera list, which the Third-Party Device
// module shares) is in cameras.go.

type cameraRequest struct {
	ProjectID *int64  `json:"project_id"`
	OwnerID   *int64  `json:"owner_id"`
	Kind      *string `json:"kind"`
	Name      *string `json:"name"`
	StreamURL *string `json:"stream_url"`
	Username  *string `json:"username"`
	Password  *string `json:"password"`
}

// CreateThirdPartyDevice adds a camera; its user and password are stored
// sealed and never answered.
func (a *API) CreateThirdPartyDevice(w http.ResponseWriter, r *http.Request) error {
	var req cameraRequest
	if err := decodeJSON(w, r, &req); err != nil {
		return err
	}
	d := &model.ThirdPartyDevice{}
	for _, f := range []struct{ dst, src *string }{{&d.Kind, req.Kind}, {&d.Name, req.Name}, {&d.StreamURL, req.StreamURL},
		{&d.Username, req.Username}, {&d.Password, req.Password}} {
		if f.src != nil {
			*f.dst = *f.src
		}
	}
	if req.ProjectID != nil {
		d.ProjectID = *req.ProjectID
	}
	if req.OwnerID != nil {
		d.OwnerID = *req.OwnerID
	}
	if err := a.Cases.CreateCamera(r.Context(), d); err != nil {
		return err
	}
	return writeJSON(w, http.StatusCreated, d)
}

// GetThirdPartyDevice returns a camera without its credentials.
func (a *API) GetThirdPartyDevice(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "id", "third-party device")
	if err != nil {
		return err
	}
	d, err := a.Store.GetThirdPartyDevice(r.Context(), id)
	if err != nil {
		return err
	}
	d.StreamURL = store.SafeStreamURL(d.StreamURL) // never a user or password
	return writeJSON(w, http.StatusOK, d)
}

// UpdateThirdPartyDevice changes a camera; omitted fields keep their value,
// an omitted password stays as it is, "" removes it.
func (a *API) UpdateThirdPartyDevice(w http.ResponseWriter, r *http.Request) error {
	return ipWrite(w, r, "third-party device", http.StatusOK, func(ctx context.Context, id int64, req cameraRequest) (*model.ThirdPartyDevice, error) {
		if req.Kind != nil && *req.Kind != "camera" {
			return nil, model.Invalid("kind", "must be camera: installers add third-party cameras only")
		}
		return a.Cases.UpdateCamera(ctx, id, store.CameraUpdate{Name: req.Name, StreamURL: req.StreamURL,
			ProjectID: req.ProjectID, OwnerID: req.OwnerID, Username: req.Username, Password: req.Password})
	})
}

// DeleteThirdPartyDevice deletes a camera.
func (a *API) DeleteThirdPartyDevice(w http.ResponseWriter, r *http.Request) error {
	return ipDelete(w, r, "third-party device", a.Cases.DeleteCamera)
}
