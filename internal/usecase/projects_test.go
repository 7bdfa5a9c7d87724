package usecase

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/model"
	"github.com/gatehouse-dev/gatehouse/internal/store"
)

// projectsWorld is two installers under one sub-distributor: each test
// writes as "mine" and checks that "theirs" is out of reach.
type projectsWorld struct {
	tc              *testCases
	mine, theirs    context.Context
	admin           context.Context
	community       *model.Project // mine
	office          *model.Project // mine
	theirCommunity  *model.Project
	theirOffice     *model.Project
	theirBuilding   *model.Building
	theirDepartment *model.Department
}

func projectsAccount(t *testing.T, st *store.Store, role model.Role, name string, parent *model.Account) *model.Account {
	t.Helper()
	a := &model.Account{Role: role, Username: name, Email: name + "@example.com"}
	if parent != nil {
		a.ParentID = parent.ID
	}
	if err := st.CreateAccount(model.WithActor(context.Background(), model.System), a, "x"); err != nil {
		t.Fatalf("create %s: %v", name, err)
	}
	return a
}

func projectsAs(a *model.Account) context.Context {
	return model.WithActor(context.Background(), model.ActorOf(a))
}

func projectsMust(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// projectsWant fails unless err has the code (and, for a field error, the
// field); code "" wants no error.
func projectsWant(t *testing.T, what string, err error, code, field string) {
	t.Helper()
	switch {
	case code == "" && err != nil:
		t.Errorf("%s: %v", what, err)
	case code != "" && model.ErrorCode(err) != code:
		t.Errorf("%s: error %v (code %q), want %s", what, err, model.ErrorCode(err), code)
	case field != "" && model.ErrorFields(err)[field] == "":
		t.Errorf("%s: error %v does not name the field %s", what, err, field)
	}
}

func newProjectsWorld(t *testing.T, backend string) *projectsWorld {
	t.Helper()
	tc := newTestCases(t, backend)
	st := tc.store
	admin := projectsAccount(t, st, model.RoleAdmin, "root", nil)
	dist := projectsAccount(t, st, model.RoleDistributor, "dist", admin)
	sub := projectsAccount(t, st, model.RoleSubdistributor, "sub", dist)
	w := &projectsWorld{tc: tc, admin: projectsAs(admin),
		mine:   projectsAs(projectsAccount(t, st, model.RoleInstaller, "inst-mine", sub)),
		theirs: projectsAs(projectsAccount(t, st, model.RoleInstaller, "inst-theirs", sub))}
	w.community = &model.Project{Kind: model.ProjectCommunity, Name: "Maple Gardens"}
	w.office = &model.Project{Kind: model.ProjectOffice, Name: "Harbour Offices"}
	w.theirCommunity = &model.Project{Kind: model.ProjectCommunity, Name: "Oak Court"}
	w.theirOffice = &model.Project{Kind: model.ProjectOffice, Name: "Dock Offices"}
	for _, c := range []struct {
		ctx context.Context
		p   *model.Project
	}{{w.mine, w.community}, {w.mine, w.office}, {w.theirs, w.theirCommunity}, {w.theirs, w.theirOffice}} {
		projectsMust(t, tc.CreateProject(c.ctx, c.p))
	}
	w.theirBuilding = &model.Building{ProjectID: w.theirCommunity.ID, Name: "T"}
	projectsMust(t, tc.CreateBuilding(w.theirs, w.theirBuilding))
	w.theirDepartment = &model.Department{ProjectID: w.theirOffice.ID, Name: "Theirs"}
	projectsMust(t, tc.CreateDepartment(w.theirs, w.theirDepartment))
	return w
}

func TestBuildingCreateRenameDelete(t *testing.T) {
	forEachBackend(t, func(t *testing.T, backend string) {
		w := newProjectsWorld(t, backend)
		c, ctx := w.tc, w.mine

		b := &model.Building{ProjectID: w.community.ID, Name: "  Block A "}
		projectsWant(t, "create", c.CreateBuilding(ctx, b), "", "")
		if b.ID == 0 || b.Name != "Block A" {
			t.Errorf("created %+v: want an id and the trimmed name", b)
		}
		projectsWant(t, "in another installer's community", c.CreateBuilding(ctx, &model.Building{ProjectID: w.theirCommunity.ID, Name: "X"}), model.ENOTFOUND, "")
		projectsWant(t, "in an office", c.CreateBuilding(ctx, &model.Building{ProjectID: w.office.ID, Name: "X"}), model.EINVALID, "project_id")
		projectsWant(t, "no name", c.CreateBuilding(ctx, &model.Building{ProjectID: w.community.ID, Name: "  "}), model.EINVALID, "name")
		projectsWant(t, "65 characters", c.CreateBuilding(ctx, &model.Building{ProjectID: w.community.ID, Name: strings.Repeat("b", 65)}), model.EINVALID, "name")
		projectsWant(t, "64 characters", c.CreateBuilding(ctx, &model.Building{ProjectID: w.community.ID, Name: strings.Repeat("b", 64)}), "", "")

		rename := &model.Building{ID: b.ID, Name: " Block B"}
		projectsWant(t, "rename", c.UpdateBuilding(ctx, rename), "", "")
		if got, _ := w.tc.store.GetBuilding(ctx, b.ID); got == nil || got.Name != "Block B" || rename.ProjectID != w.community.ID {
			t.Errorf("after rename: stored %+v, answered %+v", got, rename)
		}
		projectsWant(t, "rename theirs", c.UpdateBuilding(ctx, &model.Building{ID: w.theirBuilding.ID, Name: "Mine now"}), model.ENOTFOUND, "")
		projectsWant(t, "delete theirs", c.DeleteBuilding(ctx, w.theirBuilding.ID), model.ENOTFOUND, "")

		// A building whose apartment holds a family is kept; an empty one
		// goes with its apartments.
		apt := &model.Apartment{BuildingID: b.ID, Number: "101", FamilyMemberLimit: 2}
		projectsMust(t, c.CreateApartment(ctx, apt))
		master := &model.EndUser{ProjectID: w.community.ID, ApartmentID: apt.ID, Role: model.FamilyMaster, Name: "Ada", SIP: "6001"}
		projectsMust(t, w.tc.store.AddEndUser(ctx, master))
		err := c.DeleteBuilding(ctx, b.ID)
		projectsWant(t, "delete in use", err, model.ECONFLICT, "")
		if msg := model.ErrorMessage(err); !strings.Contains(msg, "Building Block B still holds 1 end users and 0 devices") {
			t.Errorf("refusal = %q", msg)
		}
		_, err = w.tc.store.DeleteEndUser(ctx, master.ID)
		projectsMust(t, err)
		projectsWant(t, "delete", c.DeleteBuilding(ctx, b.ID), "", "")
		if _, err := w.tc.store.GetApartment(ctx, apt.ID); model.ErrorCode(err) != model.ENOTFOUND {
			t.Errorf("the apartment of a deleted building: %v", err)
		}
		if _, err := w.tc.store.GetBuilding(ctx, b.ID); model.ErrorCode(err) != model.ENOTFOUND {
			t.Errorf("the deleted building: %v", err)
		}
		// The audit log says what went with it.
		log, err := w.tc.store.ListAudit(ctx, model.AuditFilter{Action: "building.delete", ObjectType: "building",
			ObjectID: strconv.FormatInt(b.ID, 10), Page: model.Page{Page: 1, PerPage: 5}})
		projectsMust(t, err)
		if len(log.Items) != 1 || fmt.Sprint(log.Items[0].Details["apartments"]) != "1" || log.Items[0].Details["name"] != "Block B" {
			t.Errorf("audit of the deletion: %+v", log.Items)
		}
	})
}

func TestApartmentCreateUpdateDelete(t *testing.T) {
	forEachBackend(t, func(t *testing.T, backend string) {
		w := newProjectsWorld(t, backend)
		c, ctx := w.tc, w.mine
		b := &model.Building{ProjectID: w.community.ID, Name: "A"}
		projectsMust(t, c.CreateBuilding(ctx, b))

		a := &model.Apartment{BuildingID: b.ID, Floor: " 1 ", Number: " 101 ", FamilyMemberLimit: 1}
		projectsWant(t, "create", c.CreateApartment(ctx, a), "", "")
		if a.ID == 0 || a.Number != "101" || a.Floor != "1" {
			t.Errorf("created %+v", a)
		}
		projectsWant(t, "in another installer's building", c.CreateApartment(ctx, &model.Apartment{BuildingID: w.theirBuilding.ID, Number: "1"}), model.ENOTFOUND, "")
		projectsWant(t, "no number", c.CreateApartment(ctx, &model.Apartment{BuildingID: b.ID}), model.EINVALID, "number")
		projectsWant(t, "17-character floor", c.CreateApartment(ctx, &model.Apartment{BuildingID: b.ID, Number: "2", Floor: strings.Repeat("1", 17)}), model.EINVALID, "floor")
		projectsWant(t, "limit above the most", c.CreateApartment(ctx, &model.Apartment{BuildingID: b.ID, Number: "3", FamilyMemberLimit: model.MaxFamilyMembers + 1}), model.EINVALID, "family_member_limit")

		master := &model.EndUser{ProjectID: w.community.ID, ApartmentID: a.ID, Role: model.FamilyMaster, Name: "Ada", SIP: "6001"}
		projectsMust(t, w.tc.store.AddEndUser(ctx, master))
		member := &model.EndUser{ProjectID: w.community.ID, ApartmentID: a.ID, Role: model.FamilyMember, FamilyMasterID: master.ID, Name: "Kid"}
		projectsMust(t, w.tc.store.AddEndUser(ctx, member))

		// The limit cannot go below the family members the apartment has.
		_, err := c.UpdateApartment(ctx, a.ID, func(a *model.Apartment) error { a.FamilyMemberLimit = 0; return nil })
		projectsWant(t, "limit below the members", err, model.EINVALID, "family_member_limit")
		up, err := c.UpdateApartment(ctx, a.ID, func(a *model.Apartment) error {
			a.Floor, a.Number, a.Name, a.FamilyMemberLimit = "2", "201", "Penthouse", 3
			return nil
		})
		projectsWant(t, "update", err, "", "")
		got, err := w.tc.store.GetApartment(ctx, a.ID)
		projectsMust(t, err)
		if got.Floor != "2" || got.Number != "201" || got.Name != "Penthouse" || got.FamilyMemberLimit != 3 || got.BuildingID != b.ID || up.BuildingID != b.ID {
			t.Errorf("after update: %+v (answered %+v)", got.Apartment, up)
		}

		err = c.DeleteApartment(ctx, a.ID)
		projectsWant(t, "delete in use", err, model.ECONFLICT, "")
		if msg := model.ErrorMessage(err); !strings.Contains(msg, "Apartment A-201 still holds 2 end users and 0 devices") {
			t.Errorf("refusal = %q", msg)
		}
		theirApt := &model.Apartment{BuildingID: w.theirBuilding.ID, Number: "9"}
		projectsMust(t, c.CreateApartment(w.theirs, theirApt))
		_, err = c.UpdateApartment(ctx, theirApt.ID, func(a *model.Apartment) error { a.Number = "10"; return nil })
		projectsWant(t, "update theirs", err, model.ENOTFOUND, "")
		projectsWant(t, "delete theirs", c.DeleteApartment(ctx, theirApt.ID), model.ENOTFOUND, "")

		empty := &model.Apartment{BuildingID: b.ID, Number: "102"}
		projectsMust(t, c.CreateApartment(ctx, empty))
		projectsWant(t, "delete", c.DeleteApartment(ctx, empty.ID), "", "")
		if _, err := w.tc.store.GetApartment(ctx, empty.ID); model.ErrorCode(err) != model.ENOTFOUND {
			t.Errorf("the deleted apartment: %v", err)
		}
	})
}

func TestDepartmentCreateRenameDelete(t *testing.T) {
	forEachBackend(t, func(t *testing.T, backend string) {
		w := newProjectsWorld(t, backend)
		c, ctx := w.tc, w.mine

		d := &model.Department{ProjectID: w.office.ID, Name: " Sales "}
		projectsWant(t, "create", c.CreateDepartment(ctx, d), "", "")
		if d.ID == 0 || d.Name != "Sales" {
			t.Errorf("created %+v", d)
		}
		projectsWant(t, "in another installer's office", c.CreateDepartment(ctx, &model.Department{ProjectID: w.theirOffice.ID, Name: "X"}), model.ENOTFOUND, "")
		projectsWant(t, "in a community", c.CreateDepartment(ctx, &model.Department{ProjectID: w.community.ID, Name: "X"}), model.EINVALID, "project_id")
		projectsWant(t, "no name", c.CreateDepartment(ctx, &model.Department{ProjectID: w.office.ID}), model.EINVALID, "name")
		projectsWant(t, "65 characters", c.CreateDepartment(ctx, &model.Department{ProjectID: w.office.ID, Name: strings.Repeat("d", 65)}), model.EINVALID, "name")

		rename := &model.Department{ID: d.ID, Name: "Support"}
		projectsWant(t, "rename", c.UpdateDepartment(ctx, rename), "", "")
		if got, _ := w.tc.store.GetDepartment(ctx, d.ID); got == nil || got.Name != "Support" || rename.ProjectID != w.office.ID {
			t.Errorf("after rename: stored %+v, answered %+v", got, rename)
		}
		projectsWant(t, "rename theirs", c.UpdateDepartment(ctx, &model.Department{ID: w.theirDepartment.ID, Name: "Mine"}), model.ENOTFOUND, "")
		projectsWant(t, "delete theirs", c.DeleteDepartment(ctx, w.theirDepartment.ID), model.ENOTFOUND, "")

		staff := &model.EndUser{ProjectID: w.office.ID, DepartmentID: d.ID, Role: model.OfficeStaff, Name: "Grace"}
		projectsMust(t, w.tc.store.AddEndUser(ctx, staff))
		err := c.DeleteDepartment(ctx, d.ID)
		projectsWant(t, "delete in use", err, model.ECONFLICT, "")
		if msg := model.ErrorMessage(err); !strings.Contains(msg, "Department Support still holds 1 end users and 0 devices") {
			t.Errorf("refusal = %q", msg)
		}
		_, err = w.tc.store.DeleteEndUser(ctx, staff.ID)
		projectsMust(t, err)
		projectsWant(t, "delete", c.DeleteDepartment(ctx, d.ID), "", "")
		if _, err := w.tc.store.GetDepartment(ctx, d.ID); model.ErrorCode(err) != model.ENOTFOUND {
			t.Errorf("the deleted department: %v", err)
		}
	})
}

func TestProjectEditAndDelete(t *testing.T) {
	forEachBackend(t, func(t *testing.T, backend string) {
		w := newProjectsWorld(t, backend)
		c, ctx := w.tc, w.mine
		name, tz := "Maple Heights", ""
		p, err := c.UpdateProject(ctx, w.community.ID, ProjectEdit{Name: &name, TimeZone: &tz})
		projectsWant(t, "edit", err, "", "")
		if p == nil || p.Name != "Maple Heights" || p.Kind != model.ProjectCommunity || p.TimeZone != w.community.TimeZone {
			t.Errorf("edited %+v: the name changes, kind and time zone stay", p)
		}
		office := model.ProjectOffice
		_, err = c.UpdateProject(ctx, w.community.ID, ProjectEdit{Kind: &office})
		projectsWant(t, "kind change", err, model.EINVALID, "kind")
		_, err = c.UpdateProject(ctx, w.theirCommunity.ID, ProjectEdit{Name: &name})
		projectsWant(t, "edit theirs", err, model.ENOTFOUND, "")
		_, err = c.DeleteProject(ctx, w.theirCommunity.ID)
		projectsWant(t, "delete theirs", err, model.ENOTFOUND, "")

		b := &model.Building{ProjectID: w.community.ID, Name: "A"}
		projectsMust(t, c.CreateBuilding(ctx, b))
		projectsMust(t, c.CreateApartment(ctx, &model.Apartment{BuildingID: b.ID, Number: "1"}))
		gone, err := c.DeleteProject(ctx, w.community.ID)
		projectsWant(t, "delete", err, "", "")
		if gone == nil || gone.Buildings != 1 || gone.Apartments != 1 {
			t.Errorf("deleted %+v, want 1 building and 1 apartment", gone)
		}
		if _, err := w.tc.store.GetProject(ctx, w.community.ID); model.ErrorCode(err) != model.ENOTFOUND {
			t.Errorf("the deleted project: %v", err)
		}
	})
}

func TestCameraAndFirmwareWrites(t *testing.T) {
	forEachBackend(t, func(t *testing.T, backend string) {
		w := newProjectsWorld(t, backend)
		c, ctx := w.tc, w.mine

		projectsWant(t, "camera without a stream", c.CreateCamera(ctx, &model.ThirdPartyDevice{ProjectID: w.community.ID, Name: "Gate"}), model.EINVALID, "stream_url")
		cam := &model.ThirdPartyDevice{ProjectID: w.community.ID, Name: "Gate", StreamURL: "rtsp://10.0.0.5/s1", Username: "admin", Password: "pw"}
		projectsWant(t, "camera", c.CreateCamera(ctx, cam), "", "")
		blank, name := " ", "Back gate"
		_, err := c.UpdateCamera(ctx, cam.ID, store.CameraUpdate{StreamURL: &blank})
		projectsWant(t, "blank stream", err, model.EINVALID, "stream_url")
		got, err := c.UpdateCamera(ctx, cam.ID, store.CameraUpdate{Name: &name})
		projectsWant(t, "rename camera", err, "", "")
		if got == nil || got.Name != "Back gate" || got.Password != "" {
			t.Errorf("updated camera %+v: renamed, without credentials", got)
		}
		projectsWant(t, "delete theirs", c.DeleteCamera(w.theirs, cam.ID), model.ENOTFOUND, "")
		projectsWant(t, "delete camera", c.DeleteCamera(ctx, cam.ID), "", "")
		n, err := c.DeleteCameras(ctx, []int64{cam.ID})
		projectsWant(t, "delete it again", err, model.ENOTFOUND, "")
		if n != 0 {
			t.Errorf("deleted %d", n)
		}

		fw := &model.Firmware{Version: "1.2.3", Model: "R29", FileURL: "https://fw.example/r29.bin", Checksum: strings.Repeat("ab", 32)}
		projectsWant(t, "firmware by an installer", c.CreateFirmware(ctx, fw), model.EFORBIDDEN, "")
		projectsWant(t, "firmware", c.CreateFirmware(w.admin, fw), "", "")
		again := *fw
		projectsWant(t, "the same firmware again", c.CreateFirmware(w.admin, &again), model.ECONFLICT, "version")
	})
}

func TestInstallerDeviceWrites(t *testing.T) {
	forEachBackend(t, func(t *testing.T, backend string) {
		w := newProjectsWorld(t, backend)
		c, ctx := w.tc, w.mine
		d := &model.Device{MAC: "0c:11:05:00:00:01", ProjectID: w.community.ID, Type: model.DoorPhone, Name: "Gate"}
		projectsWant(t, "add", c.AddInstallerDevice(ctx, d), "", "")
		projectsWant(t, "add to theirs", c.AddInstallerDevice(ctx, &model.Device{MAC: "0c:11:05:00:00:02", ProjectID: w.theirCommunity.ID, Type: model.DoorPhone}), model.EINVALID, "")
		got, err := c.UpdateInstallerDevice(ctx, d.MAC, func(d *model.Device) error { d.Name = "Front gate"; return nil })
		projectsWant(t, "update", err, "", "")
		if got == nil || got.Name != "Front gate" {
			t.Errorf("after update: %+v", got)
		}
		projectsWant(t, "delete by theirs", c.DeleteDevice(w.theirs, d.MAC), model.ENOTFOUND, "")
		projectsWant(t, "delete", c.DeleteDevice(ctx, "0C-11-05-00-00-01"), "", "")
		if _, err := w.tc.store.GetDevice(ctx, d.MAC); model.ErrorCode(err) != model.ENOTFOUND {
			t.Errorf("the deleted device: %v", err)
		}
	})
}
