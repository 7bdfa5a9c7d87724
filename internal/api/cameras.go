package api

import (
	"net/http"
	"strconv"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/listquery"
	"github.com/gatehouse-dev/gatehouse/internal/model"
	"github.com/gatehouse-dev/gatehouse/internal/store"
)

// The Third-Party Device module: the cameras of the caller's subtree as the
// guide's Project and Personal lists, and deleting them one at a time or a
// selection at a time. The installer portal reads the same list. No answer
// carries a camera's user name or password.

// CameraItem is one row of a camera list.
type CameraItem struct {
	ID          int64             `json:"id"`
	InstallerID int64             `json:"installer_id"`
	ProjectID   int64             `json:"project_id"`
	OwnerID     int64             `json:"owner_id,omitempty"`
	Name        string            `json:"name"`
	Kind        string            `json:"kind"`
	Scope       string            `json:"scope"`
	StreamURL   string            `json:"stream_url"`
	Project     string            `json:"project"`
	ProjectKind model.ProjectKind `json:"project_kind"`
	Manager     string            `json:"manager"`
	Owner       string            `json:"owner"`
	Installer   string            `json:"installer"`
	HasPassword bool              `json:"has_password"`
	CreatedAt   time.Time         `json:"created_at"`
}

// NewCameraItem turns a store row into a list item.
func NewCameraItem(c *store.CameraListRow) CameraItem {
	return CameraItem{ID: c.ID, InstallerID: c.InstallerID, ProjectID: c.ProjectID, OwnerID: c.OwnerID, Name: c.Name, Kind: c.Kind,
		Scope: c.Scope(), StreamURL: store.SafeStreamURL(c.StreamURL), Project: c.Project, ProjectKind: c.ProjectKind,
		Manager: c.Manager, Owner: c.Owner, Installer: c.Installer, HasPassword: c.HasPassword, CreatedAt: c.Created.UTC()}
}

var cameraCSV = []string{"id", "name", "kind", "scope", "stream_url", "project", "project_kind", "manager", "owner", "installer",
	"has_password", "created_at"}

func cameraCSVRow(c *store.CameraListRow) []string {
	return []string{strconv.FormatInt(c.ID, 10), c.Name, c.Kind, c.Scope(), store.SafeStreamURL(c.StreamURL), c.Project,
		string(c.ProjectKind), c.Manager, c.Owner, c.Installer, strconv.FormatBool(c.HasPassword), formatTime(c.Created)}
}

// ListThirdPartyDevices answers GET /third-party-devices: the caller's
// cameras, of one list (scope=project|personal) or all, filtered by the
// guide's fields and sorted by a visible column; format=csv exports the
// filtered list.
func (a *API) ListThirdPartyDevices(w http.ResponseWriter, r *http.Request) error {
	var v model.Validator
	f := listquery.Cameras(r.URL.Query(), &v)
	format := checkFormat(r, &v)
	if err := v.Err(); err != nil {
		return err
	}
	f.Page = exportPage(format, f.Page)
	l, err := a.Store.ListCameras(r.Context(), f)
	if err != nil {
		return err
	}
	if format == "csv" {
		name := "third-party-devices"
		if f.Scope != "" {
			name = f.Scope + "-" + name
		}
		return writeList(w, format, name, l, cameraCSV, cameraCSVRow)
	}
	return writeCapped(w, l, store.CameraCountCap, NewCameraItem)
}

type cameraBatchDelete struct {
	IDs []int64 `json:"ids"`
}

// DeleteThirdPartyDevices answers POST /third-party-devices/batch-delete:
// it deletes the cameras named (at most 500) in one transaction, all of
// them or, when one is not the caller's, none.
func (a *API) DeleteThirdPartyDevices(w http.ResponseWriter, r *http.Request) error {
	var req cameraBatchDelete
	if err := decodeJSON(w, r, &req); err != nil {
		return err
	}
	n, err := a.Cases.DeleteCameras(r.Context(), req.IDs)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, map[string]int{"deleted": n})
}
