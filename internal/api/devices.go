package api

import (
	"net/http"
	"strconv"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/listquery"
	"github.com/gatehouse-dev/gatehouse/internal/model"
	"github.com/gatehouse-dev/gatehouse/internal/store"
)

// The sub-distributor's Project Device (community, office) and Personal
// Device modules: GET /devices?scope=…, a device by MAC, delete one, and
// batch delete.

// DeviceItem is one row of a device list: the columns a sub-distributor
// needs at a glance. MAC is 12 upper-case hex digits; last_seen is null
// for a device never seen.
type DeviceItem struct {
	MAC         string     `json:"mac"`
	Scope       string     `json:"scope"`
	Name        string     `json:"name"`
	SIP         string     `json:"sip"`
	Type        string     `json:"type"`
	Model       string     `json:"model"`
	Firmware    string     `json:"firmware"`
	Project     string     `json:"project"`
	ProjectID   int64      `json:"project_id"`
	Location    string     `json:"location"`
	Installer   string     `json:"installer"`
	InstallerID int64      `json:"installer_id"`
	Manager     string     `json:"manager"`
	Online      bool       `json:"online"`
	LastSeen    *time.Time `json:"last_seen"`
	CreatedAt   time.Time  `json:"created_at"`
	// Availability7d is the percent of the last 7 days online (README "Availability").
	Availability7d float64 `json:"availability_7d"`
}

// NewDeviceItem turns a store row into a list item.
func NewDeviceItem(r *model.DeviceRow) DeviceItem {
	return DeviceItem{MAC: r.MAC, Scope: string(r.ProjectKind), Name: r.Name, SIP: r.SIP, Type: string(r.Type), Model: r.Model,
		Firmware: r.Firmware, Project: r.Project, ProjectID: r.ProjectID, Location: r.Location, Installer: r.Installer,
		InstallerID: r.InstallerID, Manager: r.Manager, Online: r.Online, LastSeen: utcPtr(r.LastSeen), CreatedAt: r.Created.UTC(),
		Availability7d: float64(r.Availability7d) / 100}
}

var deviceCSV = []string{"mac", "scope", "name", "sip", "type", "model", "firmware", "project", "location", "installer", "manager",
	"online", "last_seen", "created_at"}

func deviceCSVRow(r *model.DeviceRow) []string {
	return []string{r.MAC, string(r.ProjectKind), r.Name, r.SIP, string(r.Type), r.Model, r.Firmware, r.Project, r.Location,
		r.Installer, r.Manager, strconv.FormatBool(r.Online), csvTime(r.LastSeen), formatTime(r.Created)}
}

// ListDevices answers GET /devices?scope=community|office|personal: the
// caller's devices of that list, filtered and sorted; format=csv exports
// the filtered list.
func (a *API) ListDevices(w http.ResponseWriter, r *http.Request) error {
	var v model.Validator
	q := r.URL.Query()
	f := listquery.Devices(q, model.ProjectKind(q.Get("scope")), &v)
	format := checkFormat(r, &v)
	if err := v.Err(); err != nil {
		return err
	}
	f.Page = exportPage(format, f.Page)
	l, err := a.Store.ListDevices(r.Context(), f)
	if err != nil {
		return err
	}
	if format == "csv" {
		return writeList(w, format, string(f.Scope)+"-devices", l, deviceCSV, deviceCSVRow)
	}
	return writeCapped(w, l, store.DeviceCountCap, NewDeviceItem)
}

// deviceDetail is one device: the list's columns, where it belongs, what
// it belongs to up to its installer, and its latest audit entries.
type deviceDetail struct {
	DeviceItem
	ID                int64               `json:"id"`
	BuildingID        int64               `json:"building_id,omitempty"`
	Building          string              `json:"building,omitempty"`
	ApartmentID       int64               `json:"apartment_id,omitempty"`
	Apartment         string              `json:"apartment,omitempty"`
	DepartmentID      int64               `json:"department_id,omitempty"`
	Department        string              `json:"department,omitempty"`
	OwnerID           int64               `json:"owner_id,omitempty"`
	Owner             string              `json:"owner,omitempty"`
	ProjectAddress    string              `json:"project_address"`
	ProjectTimeZone   string              `json:"project_time_zone"`
	InstallerUsername string              `json:"installer_username"`
	InstallerEmail    string              `json:"installer_email"`
	InstallerCompany  string              `json:"installer_company"`
	IP                string              `json:"ip"`
	Uptime            int64               `json:"uptime"`
	ConfigVersion     string              `json:"config_version"`
	ConnectedAt       *time.Time          `json:"connected_at"`
	OwnerChain        []model.DeviceLink  `json:"owner_chain"`
	Audit             []*model.AuditEntry `json:"audit"`
}

// GetDevice answers GET /devices/{mac}: one device of the caller's
// subtree, by MAC in any notation.
func (a *API) GetDevice(w http.ResponseWriter, r *http.Request) error {
	d, err := a.Store.GetDeviceDetail(r.Context(), r.PathValue("mac"))
	if err != nil {
		return err
	}
	out := deviceDetail{DeviceItem: NewDeviceItem(&d.DeviceRow), ID: d.ID, BuildingID: d.BuildingID, Building: d.Building,
		ApartmentID: d.ApartmentID, Apartment: d.Apartment, DepartmentID: d.DepartmentID, Department: d.Department,
		OwnerID: d.OwnerID, Owner: d.Owner, ProjectAddress: d.ProjectAddress, ProjectTimeZone: d.ProjectTimeZone,
		InstallerUsername: d.InstallerUsername, InstallerEmail: d.InstallerEmail, InstallerCompany: d.InstallerCompany,
		IP: d.IP, Uptime: d.Uptime, ConfigVersion: d.ConfigVersion, ConnectedAt: d.Connected,
		OwnerChain: d.Chain, Audit: d.Audit}
	if out.OwnerChain == nil {
		out.OwnerChain = []model.DeviceLink{}
	}
	if out.Audit == nil {
		out.Audit = []*model.AuditEntry{}
	}
	return writeJSON(w, http.StatusOK, out)
}

// DeleteDevice answers DELETE /devices/{mac}: the device is deleted and
// its MAC may be registered again.
func (a *API) DeleteDevice(w http.ResponseWriter, r *http.Request) error {
	if err := a.Cases.DeleteDevice(r.Context(), r.PathValue("mac")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// batchDeleteRequest is the body of POST /devices/batch-delete.
type batchDeleteRequest struct {
	MACs []string `json:"macs"`
}

// BatchDeleteDevices answers POST /devices/batch-delete {"macs": […]}: up
// to 500 devices in one transaction, all or none.
func (a *API) BatchDeleteDevices(w http.ResponseWriter, r *http.Request) error {
	var req batchDeleteRequest
	if err := decodeJSON(w, r, &req); err != nil {
		return err
	}
	macs, err := a.Cases.DeleteDevices(r.Context(), req.MACs)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, map[string]any{"deleted": len(macs), "macs": macs})
}
