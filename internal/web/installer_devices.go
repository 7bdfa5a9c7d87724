package web

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/gatehouse-dev/gatehouse/internal/i18n"
	"github.com/gatehouse-dev/gatehouse/internal/listquery"
	"github.com/gatehouse-dev/gatehouse/internal/model"
	"github.com/gatehouse-dev/gatehouse/internal/store"
)

// The installer's devices (by MAC) and third-party cameras.

// ipOption is one choice of a select; Group puts it under an optgroup.
type ipOption struct {
	Value, Label, Group string
}

// placeOptions lists where a device of project p may belong: the public
// area, a building or an apartment of a community, a department of an
// office, a user of a single-tenant home. Values are "b:ID", "a:ID", "d:ID",
// "o:ID"; "" is the public area (a home's device goes to its family master).
// The labels are in the reader's language loc.
func (w *Web) ipPlaceOptions(ctx context.Context, loc *i18n.Locale, p *model.Project) ([]ipOption, error) {
	var out []ipOption
	switch p.Kind {
	case model.ProjectCommunity:
		out = append(out, ipOption{Value: "", Label: loc.T(store.PublicArea)})
		bl, err := w.store.ListBuildings(ctx, p.ID, model.Page{Page: 1, PerPage: model.MaxPerPage})
		if err != nil {
			return nil, err
		}
		for _, b := range bl.Items {
			out = append(out, ipOption{Value: fmt.Sprintf("b:%d", b.ID), Label: loc.T("%s (entrance)", b.Name), Group: loc.T("Buildings")})
		}
		apts, err := w.ipAllApartments(ctx, p.ID)
		if err != nil {
			return nil, err
		}
		for _, a := range apts {
			label := a.Label()
			if a.FamilyMaster != "" {
				label += " · " + a.FamilyMaster
			}
			out = append(out, ipOption{Value: fmt.Sprintf("a:%d", a.ID), Label: label, Group: loc.T("Apartments")})
		}
	case model.ProjectOffice:
		out = append(out, ipOption{Value: "", Label: loc.T(store.PublicArea)})
		dl, err := w.store.ListDepartments(ctx, p.ID, model.Page{Page: 1, PerPage: model.MaxPerPage})
		if err != nil {
			return nil, err
		}
		for _, d := range dl.Items {
			out = append(out, ipOption{Value: fmt.Sprintf("d:%d", d.ID), Label: d.Name, Group: loc.T("Departments")})
		}
	case model.ProjectPersonal:
		out = append(out, ipOption{Value: "", Label: loc.T("The family master")})
		l, err := w.store.ListEndUsers(ctx, model.EndUserFilter{Kind: model.KindVilla, ProjectID: p.ID, Page: model.Page{Page: 1, PerPage: model.MaxPerPage}})
		if err != nil {
			return nil, err
		}
		for _, u := range l.Items {
			out = append(out, ipOption{Value: fmt.Sprintf("o:%d", u.ID), Label: loc.T("%s (%s)", u.Name, loc.T(ipLabels{}.RoleLabel(u.Role))), Group: loc.T("Users")})
		}
	}
	return out, nil
}

// placeValue is the place option of a device.
func ipPlaceValue(d *model.Device, kind model.ProjectKind) string {
	switch {
	case d.ApartmentID != 0:
		return fmt.Sprintf("a:%d", d.ApartmentID)
	case d.BuildingID != 0:
		return fmt.Sprintf("b:%d", d.BuildingID)
	case d.DepartmentID != 0:
		return fmt.Sprintf("d:%d", d.DepartmentID)
	case d.OwnerID != 0 && kind == model.ProjectPersonal:
		return fmt.Sprintf("o:%d", d.OwnerID)
	}
	return ""
}

// setPlace puts a device where the place option says; a garbled option is
// the field's error.
func ipSetPlace(d *model.Device, place string) error {
	d.BuildingID, d.ApartmentID, d.DepartmentID = 0, 0, 0
	if place == "" {
		return nil
	}
	kind, idText, _ := strings.Cut(place, ":")
	id, err := strconv.ParseInt(idText, 10, 64)
	if err != nil || id <= 0 {
		return model.Invalid("place", "is not a place of this project")
	}
	switch kind {
	case "b":
		d.BuildingID = id
	case "a":
		d.ApartmentID = id
	case "d":
		d.DepartmentID = id
	case "o":
		d.OwnerID = id
	default:
		return model.Invalid("place", "is not a place of this project")
	}
	return nil
}

// placeField names the form's field for the store's place fields (the
// English messages and their catalog texts alike).
func ipPlaceField(err error) error {
	var e *model.Error
	if !errors.As(err, &e) {
		return err
	}
	for _, k := range []string{"building_id", "apartment_id", "department_id", "owner_id"} {
		if m, ok := e.Fields[k]; ok {
			delete(e.Fields, k)
			e.Fields["place"] = m
		}
		if t, ok := e.FieldTexts[k]; ok {
			delete(e.FieldTexts, k)
			e.FieldTexts["place"] = t
		}
	}
	return err
}

type ipDevicesData struct {
	ipLabels
	Filter   store.DeviceFilter
	List     model.List[*store.DeviceRow]
	Pager    Pager
	Export   string
	Cameras  model.List[*store.CameraRow]
	Projects []*store.ProjectRow
	Versions []string // the firmware search's suggestions
	Online   string   // the status filter: "", "true" or "false"
}

// ipProjectOrChoices is the project of pid for a form, or, before one is
// chosen (pid 0), the installer's projects to choose from.
func (w *Web) ipProjectOrChoices(ctx context.Context, pid int64) (*model.Project, []*store.ProjectRow, error) {
	if pid == 0 {
		projects, err := w.installerProjectChoices(ctx)
		return nil, projects, err
	}
	pr, err := w.store.GetProject(ctx, pid)
	return pr, nil, err
}

// installerProjectChoices lists all the installer's projects, for the choosers.
func (w *Web) installerProjectChoices(ctx context.Context) ([]*store.ProjectRow, error) {
	var out []*store.ProjectRow
	for page := 1; ; page++ {
		l, err := w.store.ListProjects(ctx, store.ProjectFilter{Page: model.Page{Page: page, PerPage: model.MaxPerPage}})
		if err != nil {
			return nil, err
		}
		out = append(out, l.Items...)
		if len(out) >= l.Total || len(l.Items) == 0 {
			return out, nil
		}
	}
}

// InstallerDevices lists the installer's devices (one project, MAC or name
// contains) and its cameras.
func (w *Web) InstallerDevices(rw http.ResponseWriter, r *http.Request) error {
	var v model.Validator
	f := listquery.InstallerDevices(r.URL.Query(), &v)
	if err := v.Err(); err != nil {
		return err
	}
	ctx := r.Context()
	l, err := w.store.ListInstallerDevices(ctx, f)
	if err != nil {
		return err
	}
	cams, err := w.store.ListThirdPartyDevices(ctx, store.CameraFilter{ProjectID: f.ProjectID, Page: model.Page{Page: 1, PerPage: model.MaxPerPage}})
	if err != nil {
		return err
	}
	projects, err := w.installerProjectChoices(ctx)
	if err != nil {
		return err
	}
	versions, err := w.firmwareVersions(r)
	if err != nil {
		return err
	}
	d := ipDevicesData{Filter: f, List: l, Pager: newPager(r, f.Page.Page, f.PerPage, l.Total), Export: exportURL(r, "/api/v1/installer/devices"),
		Cameras: cams, Projects: projects, Versions: versions, Online: r.URL.Query().Get("online")}
	return w.render(rw, http.StatusOK, "installer_devices", w.page(r, tr(r, "Devices"), "installer-devices", d))
}

type ipDeviceFormData struct {
	ipLabels
	ipForm
	Project  *model.Project
	Projects []*store.ProjectRow // the chooser, before a project is chosen
	Device   *model.Device       // nil for a new one
	Places   []ipOption
	Place    string
	// Library is the installer's MAC library, unused entries: the MAC
	// field offers them.
	Library []*model.LibraryMAC
	// Enrollment is the device's Enrollment panel (web/enroll.go).
	Enrollment any
	// Diagnostics is the device's Diagnostics section (web/diagnostics.go).
	Diagnostics *diagnosticsPanel
	// Availability is the device's Availability panel (web/availability.go).
	Availability *availabilityView
}

// deviceForm shows the new-device form for the project of ?project_id, or
// the project chooser first; or a device's edit form.
func (w *Web) ipDeviceForm(rw http.ResponseWriter, r *http.Request, pid int64, dev *model.Device, form ipForm, formErr error) error {
	ctx := r.Context()
	d := ipDeviceFormData{ipForm: form, Device: dev}
	title := tr(r, "New device")
	if dev != nil {
		title, pid = tr(r, "Device %s", dev.MAC), dev.ProjectID
	}
	pr, projects, err := w.ipProjectOrChoices(ctx, pid)
	if err != nil {
		return err
	}
	d.Project, d.Projects = pr, projects
	if pr != nil {
		if d.Places, err = w.ipPlaceOptions(ctx, locale(r), pr); err != nil {
			return err
		}
		if dev != nil {
			d.Place = ipPlaceValue(dev, pr.Kind)
			if d.Enrollment, err = w.deviceEnrollment(r, dev.MAC, "/installer/devices/"+dev.MAC+"#enrollment"); err != nil {
				return err
			}
			if d.Diagnostics, err = w.deviceDiagnostics(r, dev.MAC, dev.Online, "/installer/devices/"+dev.MAC+"/diagnostics", ""); err != nil {
				return err
			}
			if d.Availability, err = w.deviceAvailability(r, dev.MAC); err != nil {
				return err
			}
		} else {
			lib, err := w.store.ListMACs(ctx, pr.InstallerID, model.MACFilter{Unused: true, Page: model.Page{Page: 1, PerPage: model.MaxPerPage}})
			if err != nil {
				return err
			}
			d.Library = lib.Items
		}
		if form.Values != nil {
			d.Place = form.Values.Get("place")
		}
	}
	p, status := w.ipFormPage(r, title, "installer-devices", &d.ipForm, formErr)
	p.Data = d
	return w.render(rw, status, "installer_device_form", p)
}

// NewInstallerDevice is the form that adds a device by MAC.
func (w *Web) NewInstallerDevice(rw http.ResponseWriter, r *http.Request) error {
	var v model.Validator
	pid := ipQueryID(r, "project_id", &v)
	if err := v.Err(); err != nil {
		return err
	}
	return w.ipDeviceForm(rw, r, pid, nil, ipForm{}, nil)
}

func ipDeviceFromForm(r *http.Request, d *model.Device, kind model.ProjectKind) error {
	if kind == model.ProjectPersonal {
		d.OwnerID = 0 // the place names the owner; none is the family master
	}
	d.Type = model.DeviceType(r.PostFormValue("type"))
	d.Model, d.Name, d.Location = r.PostFormValue("model"), r.PostFormValue("name"), r.PostFormValue("location")
	return ipSetPlace(d, r.PostFormValue("place"))
}

// CreateInstallerDevice adds a device by MAC.
func (w *Web) CreateInstallerDevice(rw http.ResponseWriter, r *http.Request) error {
	pid := ipFormID(r, "project_id")
	pr, err := w.store.GetProject(r.Context(), pid)
	if err != nil {
		return err
	}
	d := &model.Device{MAC: r.PostFormValue("mac"), ProjectID: pid}
	err = ipDeviceFromForm(r, d, pr.Kind)
	if err == nil {
		err = ipPlaceField(w.cases.AddInstallerDevice(r.Context(), d))
	}
	if isUserError(err) {
		return w.ipDeviceForm(rw, r, pid, nil, ipForm{Failed: "device", Values: r.PostForm}, err)
	} else if err != nil {
		return err
	}
	return redirect(rw, r, "/installer/devices", tr(r, "Device %s added (%s).", d.MAC, d.Location))
}

// InstallerDevice is a device's edit page.
func (w *Web) InstallerDevice(rw http.ResponseWriter, r *http.Request) error {
	d, err := w.store.GetDevice(r.Context(), r.PathValue("mac"))
	if err != nil {
		return err
	}
	return w.ipDeviceForm(rw, r, 0, d, ipForm{}, nil)
}

// UpdateInstallerDevice saves a device.
func (w *Web) UpdateInstallerDevice(rw http.ResponseWriter, r *http.Request) error {
	d, err := w.store.GetDevice(r.Context(), r.PathValue("mac"))
	if err != nil {
		return err
	}
	pr, err := w.store.GetProject(r.Context(), d.ProjectID)
	if err != nil {
		return err
	}
	_, err = w.cases.UpdateInstallerDevice(r.Context(), d.MAC, func(d *model.Device) error { return ipDeviceFromForm(r, d, pr.Kind) })
	err = ipPlaceField(err)
	if isUserError(err) {
		return w.ipDeviceForm(rw, r, 0, d, ipForm{Failed: "device", Values: r.PostForm}, err)
	} else if err != nil {
		return err
	}
	return redirect(rw, r, "/installer/devices", tr(r, "Saved device %s.", d.MAC))
}

// ipConfirmData is a delete confirmation: the question, notes and the
// button in the reader's language.
type ipConfirmData struct {
	Question, Action, Back, Button string
	Notes                          []string
}

// InstallerDeviceDelete asks before a device is deleted.
func (w *Web) InstallerDeviceDelete(rw http.ResponseWriter, r *http.Request) error {
	d, err := w.store.GetDevice(r.Context(), r.PathValue("mac"))
	if err != nil {
		return err
	}
	name := d.MAC
	if d.Name != "" {
		name += " (" + d.Name + ")"
	}
	c := ipConfirmData{Question: tr(r, "Delete device %s?", name), Action: "/installer/devices/" + d.MAC + "/delete", Back: "/installer/devices/" + d.MAC,
		Button: tr(r, "Delete device"), Notes: []string{tr(r, "The MAC may be added again later.")}}
	return w.render(rw, http.StatusOK, "installer_confirm", w.page(r, tr(r, "Delete device %s", d.MAC), "installer-devices", c))
}

// DeleteInstallerDevice deletes a device.
func (w *Web) DeleteInstallerDevice(rw http.ResponseWriter, r *http.Request) error {
	d, err := w.store.GetDevice(r.Context(), r.PathValue("mac"))
	if err != nil {
		return err
	}
	if err := w.cases.DeleteDevice(r.Context(), d.MAC); err != nil {
		return err
	}
	return redirect(rw, r, "/installer/devices", tr(r, "Deleted device %s.", d.MAC))
}

type ipCameraFormData struct {
	ipLabels
	ipForm
	Project  *model.Project
	Projects []*store.ProjectRow
	Camera   *model.ThirdPartyDevice
	Username string
	Owners   []ipOption
}

func (w *Web) ipCameraForm(rw http.ResponseWriter, r *http.Request, pid int64, cam *model.ThirdPartyDevice, form ipForm, formErr error) error {
	ctx := r.Context()
	d := ipCameraFormData{ipForm: form, Camera: cam}
	title := tr(r, "New camera")
	if cam != nil {
		title, pid = tr(r, "Camera %s", cam.Name), cam.ProjectID
		c, err := w.store.GetThirdPartyDeviceCredentials(ctx, cam.ID)
		if err != nil {
			return err
		}
		d.Username = c.Username
	}
	pr, projects, err := w.ipProjectOrChoices(ctx, pid)
	if err != nil {
		return err
	}
	d.Project, d.Projects = pr, projects
	if pr != nil && pr.Kind == model.ProjectPersonal {
		l, err := w.store.ListEndUsers(ctx, model.EndUserFilter{Kind: model.KindVilla, ProjectID: pr.ID, Page: model.Page{Page: 1, PerPage: model.MaxPerPage}})
		if err != nil {
			return err
		}
		d.Owners = append(d.Owners, ipOption{Value: "", Label: tr(r, "The family master")})
		for _, u := range l.Items {
			d.Owners = append(d.Owners, ipOption{Value: strconv.FormatInt(u.ID, 10), Label: u.Name})
		}
	}
	p, status := w.ipFormPage(r, title, "installer-devices", &d.ipForm, formErr)
	p.Data = d
	return w.render(rw, status, "installer_camera_form", p)
}

// NewInstallerCamera is the form that adds a third-party camera.
func (w *Web) NewInstallerCamera(rw http.ResponseWriter, r *http.Request) error {
	var v model.Validator
	pid := ipQueryID(r, "project_id", &v)
	if err := v.Err(); err != nil {
		return err
	}
	return w.ipCameraForm(rw, r, pid, nil, ipForm{}, nil)
}

// CreateInstallerCamera adds a third-party camera.
func (w *Web) CreateInstallerCamera(rw http.ResponseWriter, r *http.Request) error {
	pid := ipFormID(r, "project_id")
	if _, err := w.store.GetProject(r.Context(), pid); err != nil {
		return err
	}
	c := &model.ThirdPartyDevice{ProjectID: pid, OwnerID: ipFormID(r, "owner_id"), Name: r.PostFormValue("name"),
		StreamURL: r.PostFormValue("stream_url"), Username: r.PostFormValue("username"), Password: r.PostFormValue("password")}
	err := w.cases.CreateCamera(r.Context(), c)
	if isUserError(err) {
		return w.ipCameraForm(rw, r, pid, nil, ipForm{Failed: "camera", Values: r.PostForm}, err)
	} else if err != nil {
		return err
	}
	return redirect(rw, r, "/installer/devices", tr(r, "Camera %s added.", c.Name))
}

func (w *Web) cameraByPath(r *http.Request) (*model.ThirdPartyDevice, error) {
	id, err := ipPathID(r, "third-party device")
	if err != nil {
		return nil, err
	}
	return w.store.GetThirdPartyDevice(r.Context(), id)
}

// InstallerCamera is a camera's edit page; its password shows as
// "unchanged" unless a new one is typed.
func (w *Web) InstallerCamera(rw http.ResponseWriter, r *http.Request) error {
	c, err := w.cameraByPath(r)
	if err != nil {
		return err
	}
	return w.ipCameraForm(rw, r, 0, c, ipForm{}, nil)
}

// UpdateInstallerCamera saves a camera; an empty password field keeps the
// stored password unless "remove the password" is ticked.
func (w *Web) UpdateInstallerCamera(rw http.ResponseWriter, r *http.Request) error {
	c, err := w.cameraByPath(r)
	if err != nil {
		return err
	}
	f := r.PostFormValue
	name, url, user := f("name"), f("stream_url"), f("username")
	u := store.CameraUpdate{Name: &name, StreamURL: &url, Username: &user}
	if pw := f("password"); pw != "" {
		u.Password = &pw
	} else if f("remove_password") == "on" {
		u.Password = &pw
	}
	if _, ok := r.PostForm["owner_id"]; ok {
		owner := ipFormID(r, "owner_id")
		u.OwnerID = &owner
	}
	_, err = w.cases.UpdateCamera(r.Context(), c.ID, u)
	if isUserError(err) {
		return w.ipCameraForm(rw, r, 0, c, ipForm{Failed: "camera", Values: r.PostForm}, err)
	} else if err != nil {
		return err
	}
	return redirect(rw, r, "/installer/devices", tr(r, "Saved camera %s.", name))
}

// InstallerCameraDelete asks before a camera is deleted.
func (w *Web) InstallerCameraDelete(rw http.ResponseWriter, r *http.Request) error {
	c, err := w.cameraByPath(r)
	if err != nil {
		return err
	}
	d := ipConfirmData{Question: tr(r, "Delete camera %s?", c.Name), Action: fmt.Sprintf("/installer/cameras/%d/delete", c.ID),
		Back: fmt.Sprintf("/installer/cameras/%d", c.ID), Button: tr(r, "Delete camera")}
	return w.render(rw, http.StatusOK, "installer_confirm", w.page(r, tr(r, "Delete camera %s", c.Name), "installer-devices", d))
}

// DeleteInstallerCamera deletes a camera.
func (w *Web) DeleteInstallerCamera(rw http.ResponseWriter, r *http.Request) error {
	c, err := w.cameraByPath(r)
	if err != nil {
		return err
	}
	if err := w.cases.DeleteCamera(r.Context(), c.ID); err != nil {
		return err
	}
	return redirect(rw, r, "/installer/devices", tr(r, "Deleted camera %s.", c.Name))
}
