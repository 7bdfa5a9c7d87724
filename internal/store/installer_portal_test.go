package store_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/model"
	"github.com/gatehouse-dev/gatehouse/internal/store"
)

// The installer portal's store methods: projects with buildings, apartments
// and departments, end users under the household rules, devices by MAC and
// third-party cameras.

func ipPtr[T any](v T) *T { return &v }

var allRows = model.Page{Page: 1, PerPage: 500}

// wholeApartment is an edit that saves v's fields over the stored apartment,
// as the portal's form does.
func wholeApartment(v *model.Apartment) func(*model.Apartment) error {
	return func(a *model.Apartment) error {
		*a = *v
		return nil
	}
}

// wholeDevice is an edit that saves v's fields over the stored device, as a
// form with every field does (a zero project keeps the stored one).
func wholeDevice(v *model.Device) func(*model.Device) error {
	return func(d *model.Device) error {
		*d = *v
		return nil
	}
}

// wholeEndUser is an edit that saves v's fields over the stored end user, as
// a form with every field does (a zero role, apartment, family master or
// department keeps the stored one).
func wholeEndUser(v *model.EndUser) func(*model.EndUser) error {
	return func(u *model.EndUser) error {
		id := u.ID
		*u = *v
		u.ID = id
		return nil
	}
}

func init() {
	tenancyCases = append(tenancyCases,
		tenancyCase{method: "UpdateProject", call: func(st *store.Store, ctx context.Context, b *branch) error {
			_, err := st.UpdateProject(ctx, b.project.ID, store.ProjectEdit{Manager: new("New manager")})
			return err
		}},
		tenancyCase{method: "CountProjectContents", call: func(st *store.Store, ctx context.Context, b *branch) error {
			c, err := st.CountProjectContents(ctx, b.project.ID)
			if err == nil && (c.Buildings == 0 || c.Apartments == 0 || c.EndUsers == 0 || c.Devices == 0 || c.Cameras == 0) {
				return fmt.Errorf("contents of the branch's community miss something: %+v", c)
			}
			return err
		}},
		tenancyCase{method: "DeleteProject", call: func(st *store.Store, ctx context.Context, b *branch) error {
			p := &model.Project{InstallerID: b.installer.ID, Kind: model.ProjectPersonal, Name: "Doomed villa"}
			if err := st.CreateProject(sys, p); err != nil {
				return fmt.Errorf("setup: %w", err)
			}
			_, err := st.DeleteProject(ctx, p.ID)
			return err
		}},
		tenancyCase{method: "ListBuildings", call: func(st *store.Store, ctx context.Context, b *branch) error {
			l, err := st.ListBuildings(ctx, b.project.ID, allRows)
			if err == nil && l.Total == 0 {
				return fmt.Errorf("no buildings listed")
			}
			return err
		}},
		tenancyCase{method: "GetBuilding", call: func(st *store.Store, ctx context.Context, b *branch) error {
			_, err := st.GetBuilding(ctx, b.building.ID)
			return err
		}},
		tenancyCase{method: "UpdateBuilding", call: func(st *store.Store, ctx context.Context, b *branch) error {
			return st.UpdateBuilding(ctx, &model.Building{ID: b.building.ID, Name: "A"})
		}},
		tenancyCase{method: "DeleteBuilding", call: func(st *store.Store, ctx context.Context, b *branch) error {
			bl := &model.Building{ProjectID: b.project.ID, Name: "Doomed"}
			if err := st.CreateBuilding(sys, bl); err != nil {
				return fmt.Errorf("setup: %w", err)
			}
			return st.DeleteBuilding(ctx, bl.ID)
		}},
		tenancyCase{method: "ListApartments", call: func(st *store.Store, ctx context.Context, b *branch) error {
			l, err := st.ListApartments(ctx, store.ApartmentFilter{BuildingID: b.building.ID, Page: allRows})
			if err == nil && l.Total == 0 {
				return fmt.Errorf("no apartments listed")
			}
			return err
		}},
		tenancyCase{method: "GetApartment", call: func(st *store.Store, ctx context.Context, b *branch) error {
			_, err := st.GetApartment(ctx, b.apartment.ID)
			return err
		}},
		tenancyCase{method: "UpdateApartment", call: func(st *store.Store, ctx context.Context, b *branch) error {
			_, err := st.UpdateApartment(ctx, b.apartment.ID, wholeApartment(&model.Apartment{Floor: "1", Number: "101", FamilyMemberLimit: 4}))
			return err
		}},
		tenancyCase{method: "DeleteApartment", call: func(st *store.Store, ctx context.Context, b *branch) error {
			a := &model.Apartment{BuildingID: b.building.ID, Number: "999"}
			if err := st.CreateApartment(sys, a); err != nil {
				return fmt.Errorf("setup: %w", err)
			}
			return st.DeleteApartment(ctx, a.ID)
		}},
		tenancyCase{method: "ListDepartments", call: func(st *store.Store, ctx context.Context, b *branch) error {
			_, err := st.ListDepartments(ctx, b.office.ID, allRows)
			return err
		}},
		tenancyCase{method: "GetDepartment", call: func(st *store.Store, ctx context.Context, b *branch) error {
			_, err := st.GetDepartment(ctx, b.dept.ID)
			return err
		}},
		tenancyCase{method: "UpdateDepartment", call: func(st *store.Store, ctx context.Context, b *branch) error {
			return st.UpdateDepartment(ctx, &model.Department{ID: b.dept.ID, Name: "Sales"})
		}},
		tenancyCase{method: "DeleteDepartment", call: func(st *store.Store, ctx context.Context, b *branch) error {
			d := &model.Department{ProjectID: b.office.ID, Name: "Doomed"}
			if err := st.CreateDepartment(sys, d); err != nil {
				return fmt.Errorf("setup: %w", err)
			}
			return st.DeleteDepartment(ctx, d.ID)
		}},
		tenancyCase{method: "AddEndUser", call: func(st *store.Store, ctx context.Context, b *branch) error {
			return st.AddEndUser(ctx, &model.EndUser{ProjectID: b.project.ID, Role: model.PropertyManager, Name: "Manager"})
		}},
		tenancyCase{method: "UpdateEndUser", call: func(st *store.Store, ctx context.Context, b *branch) error {
			return st.UpdateEndUser(ctx, b.user.ID, wholeEndUser(&model.EndUser{Name: b.user.Name, SIP: "6001", Active: true}))
		}},
		tenancyCase{method: "CountEndUserDependents", call: func(st *store.Store, ctx context.Context, b *branch) error {
			_, err := st.CountEndUserDependents(ctx, b.user.ID)
			return err
		}},
		tenancyCase{method: "DeleteEndUser", call: func(st *store.Store, ctx context.Context, b *branch) error {
			u := &model.EndUser{ProjectID: b.project.ID, Role: model.PropertyManager, Name: "Doomed"}
			if err := st.AddEndUser(sys, u); err != nil {
				return fmt.Errorf("setup: %w", err)
			}
			_, err := st.DeleteEndUser(ctx, u.ID)
			return err
		}},
		tenancyCase{method: "ImportEndUsers", call: func(st *store.Store, ctx context.Context, b *branch) error {
			res, err := st.ImportEndUsers(ctx, b.project.ID, []store.EndUserImportRow{{Row: 2, Role: "Property Manager", Name: "Imported"}})
			if err == nil && (res.Imported != 1 || len(res.Rejected) != 0) {
				return fmt.Errorf("import: %+v", res)
			}
			return err
		}},
		tenancyCase{method: "UpdateDevice", call: func(st *store.Store, ctx context.Context, b *branch) error {
			return st.UpdateDevice(ctx, strings.ToLower(b.device.MAC), wholeDevice(&model.Device{Type: model.DoorPhone, Name: b.device.Name}))
		}},
		tenancyCase{method: "DeleteDevice", call: func(st *store.Store, ctx context.Context, b *branch) error {
			d := &model.Device{MAC: fmt.Sprintf("0C11DD%06X", nextSeq()), ProjectID: b.project.ID, Type: model.GuardPhone}
			if err := st.CreateDevice(sys, d); err != nil {
				return fmt.Errorf("setup: %w", err)
			}
			return st.DeleteDevice(ctx, d.MAC)
		}},
		tenancyCase{method: "UpdateThirdPartyDevice", call: func(st *store.Store, ctx context.Context, b *branch) error {
			_, err := st.UpdateThirdPartyDevice(ctx, b.camera.ID, store.CameraUpdate{Name: ipPtr(b.camera.Name)})
			return err
		}},
		tenancyCase{method: "DeleteThirdPartyDevice", call: func(st *store.Store, ctx context.Context, b *branch) error {
			c := &model.ThirdPartyDevice{ProjectID: b.project.ID, Name: "Doomed cam"}
			if err := st.CreateThirdPartyDevice(sys, c); err != nil {
				return fmt.Errorf("setup: %w", err)
			}
			return st.DeleteThirdPartyDevice(ctx, c.ID)
		}},
		// Only the installer who owns a camera opens its credentials; its
		// ancestors see the camera but not those.
		tenancyCase{method: "GetThirdPartyDeviceCredentials", call: func(st *store.Store, ctx context.Context, b *branch) error {
			c, err := st.GetThirdPartyDeviceCredentials(ctx, b.camera.ID)
			if err == nil && (c.Username != "admin" || c.Password != "secret") {
				return fmt.Errorf("credentials %+v", c)
			}
			return err
		}, allowed: func(a *model.Account) bool { return a.Role == model.RoleInstaller }},
	)
	coveredElsewhere["ListProjects"] = "TestInstallerPortalListsAreScoped"
	coveredElsewhere["ListInstallerDevices"] = "TestInstallerPortalListsAreScoped"
	coveredElsewhere["ListThirdPartyDevices"] = "TestInstallerPortalListsAreScoped"
}

// TestInstallerPortalListsAreScoped: every actor's lists hold its subtree
// only, and all of it.
func TestInstallerPortalListsAreScoped(t *testing.T) {
	eachBackend(t, func(t *testing.T, st *store.Store) {
		tr := mustTree(t, st)
		branches := []*branch{tr.a1, tr.a2, tr.b}
		for _, actor := range []*model.Account{tr.admin, tr.distA, tr.subA1, tr.subA2, tr.a1.installer, tr.distB, tr.subB, tr.b.installer} {
			ctx := as(actor)
			want := map[int64]bool{} // installer ids actor may see
			for _, b := range branches {
				if tr.canSee(actor, b) {
					want[b.installer.ID] = true
				}
			}
			projects, err := st.ListProjects(ctx, store.ProjectFilter{Page: allRows})
			if err != nil {
				t.Fatal(err)
			}
			devices, err := st.ListInstallerDevices(ctx, store.DeviceFilter{Page: allRows})
			if err != nil {
				t.Fatal(err)
			}
			cams, err := st.ListThirdPartyDevices(ctx, store.CameraFilter{Page: allRows})
			if err != nil {
				t.Fatal(err)
			}
			seen := map[int64]bool{}
			for _, p := range projects.Items {
				if !want[p.InstallerID] {
					t.Errorf("ListProjects by %s shows %s's project %s", actor.Username, p.Installer, p.Name)
				}
				seen[p.InstallerID] = true
			}
			for _, d := range devices.Items {
				if !want[d.InstallerID] {
					t.Errorf("ListInstallerDevices by %s shows device %s", actor.Username, d.MAC)
				}
			}
			for _, c := range cams.Items {
				if !want[c.InstallerID] {
					t.Errorf("ListThirdPartyDevices by %s shows camera %s", actor.Username, c.Name)
				}
				if c.Password != "" || c.Username != "" {
					t.Errorf("camera list carries credentials: %+v", c)
				}
			}
			if len(seen) != len(want) || projects.Total != 2*len(want) || devices.Total != len(want) || cams.Total != len(want) {
				t.Errorf("%s sees %d projects, %d devices, %d cameras of %d installers; want 2, 1, 1 of each of %d",
					actor.Username, projects.Total, devices.Total, cams.Total, len(seen), len(want))
			}
		}
		// A sub-distributor may narrow to one of its installers.
		l, _ := st.ListProjects(as(tr.distA), store.ProjectFilter{InstallerID: tr.a2.installer.ID, Page: allRows})
		if l.Total != 2 || l.Items[0].InstallerID != tr.a2.installer.ID {
			t.Errorf("installer filter: %+v", l)
		}
	})
}

func TestProjectsSearchUpdateDelete(t *testing.T) {
	eachBackend(t, func(t *testing.T, st *store.Store) {
		tr := mustTree(t, st)
		ctx := as(tr.a1.installer)
		villa := &model.Project{Kind: model.ProjectPersonal, Name: "Miller Residence", Manager: "Anna Miller", Address: "1 Elm St"}
		if err := st.CreateProject(ctx, villa); err != nil {
			t.Fatal(err)
		}
		// Search by name or manager, case-insensitive, with the kind.
		for _, c := range []struct {
			f    store.ProjectFilter
			want []string
		}{
			{store.ProjectFilter{Search: "miller"}, []string{"Miller Residence"}},
			{store.ProjectFilter{Search: "ANNA"}, []string{"Miller Residence"}},
			{store.ProjectFilter{Search: "mgr inst-a1"}, []string{"inst-a1 Gardens"}}, // the community's manager
			{store.ProjectFilter{Kind: model.ProjectOffice}, []string{"inst-a1 Offices"}},
			{store.ProjectFilter{Search: "%"}, nil},
		} {
			c.f.Page = allRows
			l, err := st.ListProjects(ctx, c.f)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, p := range l.Items {
				got = append(got, p.Name)
			}
			if fmt.Sprint(got) != fmt.Sprint(c.want) {
				t.Errorf("ListProjects %+v = %v, want %v", c.f, got, c.want)
			}
		}
		if _, err := st.ListProjects(ctx, store.ProjectFilter{Kind: "castle", Page: allRows}); model.ErrorFields(err)["kind"] == "" {
			t.Errorf("bad kind: %v", err)
		}
		l, _ := st.ListProjects(ctx, store.ProjectFilter{Search: "gardens", Page: allRows})
		if len(l.Items) != 1 || l.Items[0].EndUsers != 1 || l.Items[0].Devices != 1 || l.Items[0].Installer != "inst-a1" {
			t.Errorf("community row counts: %+v", l.Items)
		}

		// Update: the kind stays; bad input names its field and changes nothing.
		_, err := st.UpdateProject(ctx, villa.ID, store.ProjectEdit{Kind: new(model.ProjectCommunity), Name: new("X")})
		if model.ErrorFields(err)["kind"] == "" {
			t.Errorf("kind change: %v", err)
		}
		_, err = st.UpdateProject(ctx, villa.ID, store.ProjectEdit{Name: new(" "), TimeZone: new("Mars/Base")})
		if f := model.ErrorFields(err); f["name"] == "" || f["time_zone"] == "" {
			t.Errorf("bad update: %v", err)
		}
		if _, err := st.UpdateProject(ctx, villa.ID, store.ProjectEdit{Name: new("Miller Home"), Manager: new("Ben Miller"), Address: new(""), TimeZone: new("Europe/Berlin")}); err != nil {
			t.Fatal(err)
		}
		got, _ := st.GetProject(ctx, villa.ID)
		if got.Name != "Miller Home" || got.Manager != "Ben Miller" || got.Address != "" || got.TimeZone != "Europe/Berlin" || got.Kind != model.ProjectPersonal {
			t.Errorf("after update: %+v", got)
		}
		if _, err := st.UpdateProject(as(tr.a2.installer), villa.ID, store.ProjectEdit{Name: new("Stolen")}); model.ErrorCode(err) != model.ENOTFOUND {
			t.Errorf("update by another installer: %v", err)
		}
		audit, _ := st.ListAudit(ctx, model.AuditFilter{Action: "project.update", Page: allRows})
		if audit.Total != 1 || audit.Items[0].Details["manager"] == nil || audit.Items[0].Details["kind"] != nil {
			t.Errorf("update audit: %+v", audit.Items)
		}

		// Delete the full community: everything in it goes, in one go.
		b := tr.a1
		member := &model.EndUser{ProjectID: b.project.ID, ApartmentID: b.apartment.ID, Role: model.FamilyMember, Name: "Kid"}
		if err := st.AddEndUser(ctx, member); err != nil {
			t.Fatal(err)
		}
		mon := &model.Device{MAC: "AA:BB:CC:00:00:01", ProjectID: b.project.ID, ApartmentID: b.apartment.ID, OwnerID: b.user.ID, Type: model.IndoorMonitor}
		if err := st.CreateDevice(ctx, mon); err != nil {
			t.Fatal(err)
		}
		c, err := st.CountProjectContents(ctx, b.project.ID)
		want := store.ProjectContents{Buildings: 1, Apartments: 1, EndUsers: 2, Devices: 2, Cameras: 1}
		if err != nil || *c != want {
			t.Fatalf("contents %+v %v, want %+v", c, err, want)
		}
		if _, err := st.DeleteProject(as(tr.a2.installer), b.project.ID); model.ErrorCode(err) != model.ENOTFOUND {
			t.Errorf("delete by another installer: %v", err)
		}
		gone, err := st.DeleteProject(ctx, b.project.ID)
		if err != nil || gone.ProjectContents != want {
			t.Fatalf("delete: %+v %v", gone, err)
		}
		for _, tbl := range []string{"buildings", "end_users", "devices", "third_party_devices"} {
			var n int
			q := fmt.Sprintf("SELECT count(*) FROM %s WHERE project_id = %d", tbl, b.project.ID)
			if err := st.DB().QueryRow(q).Scan(&n); err != nil || n != 0 {
				t.Errorf("%s: %d left (%v)", tbl, n, err)
			}
		}
		var apts int
		st.DB().QueryRow(fmt.Sprintf("SELECT count(*) FROM apartments WHERE id = %d", b.apartment.ID)).Scan(&apts)
		if apts != 0 {
			t.Error("the apartment survived its community")
		}
		if _, err := st.GetProject(ctx, b.project.ID); model.ErrorCode(err) != model.ENOTFOUND {
			t.Errorf("project after delete: %v", err)
		}
		// The other branches are untouched, and the MAC may be registered again.
		if _, err := st.GetDevice(as(tr.a2.installer), tr.a2.device.MAC); err != nil {
			t.Errorf("another installer's device: %v", err)
		}
		if err := st.CreateDevice(ctx, &model.Device{MAC: mon.MAC, ProjectID: b.office.ID, Type: model.DoorPhone}); err != nil {
			t.Errorf("MAC of a deleted project again: %v", err)
		}
		audit, _ = st.ListAudit(ctx, model.AuditFilter{Action: "project.delete", Page: allRows})
		if audit.Total != 1 || audit.Items[0].Details["end_users"] != float64(2) {
			t.Errorf("delete audit: %+v", audit.Items)
		}
	})
}

func TestBuildingsApartmentsDepartments(t *testing.T) {
	eachBackend(t, func(t *testing.T, st *store.Store) {
		tr := mustTree(t, st)
		b := tr.a1
		ctx := as(b.installer)
		// Buildings belong to communities only.
		if err := st.CreateBuilding(ctx, &model.Building{ProjectID: b.office.ID, Name: "X"}); model.ErrorFields(err)["project_id"] == "" {
			t.Errorf("building in an office: %v", err)
		}
		bB := &model.Building{ProjectID: b.project.ID, Name: "B"}
		if err := st.CreateBuilding(ctx, bB); err != nil {
			t.Fatal(err)
		}
		for _, n := range []string{"1001", "102", "2"} {
			if err := st.CreateApartment(ctx, &model.Apartment{BuildingID: bB.ID, Number: n, Floor: n[:1], FamilyMemberLimit: 1}); err != nil {
				t.Fatal(err)
			}
		}
		// Apartments in building, then number order (numbers as people read them).
		l, err := st.ListApartments(ctx, store.ApartmentFilter{ProjectID: b.project.ID, Page: allRows})
		if err != nil {
			t.Fatal(err)
		}
		var labels []string
		for _, a := range l.Items {
			labels = append(labels, a.Label())
		}
		if fmt.Sprint(labels) != "[A-101 B-102 B-1001 B-2]" && fmt.Sprint(labels) != "[A-101 B-2 B-102 B-1001]" {
			t.Errorf("apartment order: %v", labels)
		}
		if l.Items[0].FamilyMaster != b.user.Name {
			t.Errorf("apartment's family master: %+v", l.Items[0])
		}
		if _, err := st.ListApartments(ctx, store.ApartmentFilter{Page: allRows}); model.ErrorCode(err) != model.EINVALID {
			t.Errorf("apartments of nothing: %v", err)
		}
		bl, _ := st.ListBuildings(ctx, b.project.ID, allRows)
		if bl.Total != 2 || bl.Items[1].Name != "B" || bl.Items[1].Apartments != 3 {
			t.Errorf("buildings: %+v", bl.Items)
		}

		// The family member limit: 0–63, and never below the members living there.
		for _, lim := range []int{-1, 64} {
			_, err := st.UpdateApartment(ctx, b.apartment.ID, wholeApartment(&model.Apartment{Number: "101", FamilyMemberLimit: lim}))
			if model.ErrorFields(err)["family_member_limit"] == "" {
				t.Errorf("limit %d: %v", lim, err)
			}
		}
		for i := 0; i < 2; i++ {
			if err := st.AddEndUser(ctx, &model.EndUser{ProjectID: b.project.ID, ApartmentID: b.apartment.ID, Role: model.FamilyMember, Name: fmt.Sprint("Kid ", i)}); err != nil {
				t.Fatal(err)
			}
		}
		_, err = st.UpdateApartment(ctx, b.apartment.ID, wholeApartment(&model.Apartment{Number: "101", FamilyMemberLimit: 1}))
		if m := model.ErrorFields(err)["family_member_limit"]; !strings.Contains(m, "already has 2 family members") {
			t.Errorf("limit below the members: %v", err)
		}
		if _, err := st.UpdateApartment(ctx, b.apartment.ID, wholeApartment(&model.Apartment{Floor: "1", Number: "101", Name: "Corner flat", FamilyMemberLimit: 2})); err != nil {
			t.Fatal(err)
		}
		a, _ := st.GetApartment(ctx, b.apartment.ID)
		if a.Name != "Corner flat" || a.FamilyMemberLimit != 2 || a.FamilyMembers != 2 || a.BuildingID != b.building.ID {
			t.Errorf("apartment after update: %+v", a)
		}

		// Occupied places are not deleted; empty ones are, with their apartments.
		if err := st.DeleteApartment(ctx, b.apartment.ID); model.ErrorCode(err) != model.ECONFLICT || !strings.Contains(model.ErrorMessage(err), "3 end users") {
			t.Errorf("delete an occupied apartment: %v", err)
		}
		if err := st.DeleteBuilding(ctx, b.building.ID); model.ErrorCode(err) != model.ECONFLICT {
			t.Errorf("delete an occupied building: %v", err)
		}
		if err := st.UpdateBuilding(ctx, &model.Building{ID: bB.ID, Name: ""}); model.ErrorFields(err)["name"] == "" {
			t.Errorf("empty building name: %v", err)
		}
		if err := st.UpdateBuilding(ctx, &model.Building{ID: bB.ID, Name: "Tower B"}); err != nil {
			t.Fatal(err)
		}
		if err := st.DeleteBuilding(ctx, bB.ID); err != nil {
			t.Fatal(err)
		}
		if l, _ := st.ListApartments(ctx, store.ApartmentFilter{ProjectID: b.project.ID, Page: allRows}); l.Total != 1 {
			t.Errorf("apartments after deleting building B: %d", l.Total)
		}
		if _, err := st.GetBuilding(ctx, bB.ID); model.ErrorCode(err) != model.ENOTFOUND {
			t.Errorf("deleted building: %v", err)
		}

		// Departments: offices only; renamed; deleted when empty.
		if err := st.CreateDepartment(ctx, &model.Department{ProjectID: b.project.ID, Name: "HR"}); model.ErrorFields(err)["project_id"] == "" {
			t.Errorf("department in a community: %v", err)
		}
		staff := &model.EndUser{ProjectID: b.office.ID, DepartmentID: b.dept.ID, Role: model.OfficeStaff, Name: "Clerk"}
		if err := st.AddEndUser(ctx, staff); err != nil {
			t.Fatal(err)
		}
		if err := st.UpdateDepartment(ctx, &model.Department{ID: b.dept.ID, Name: "Sales & Marketing"}); err != nil {
			t.Fatal(err)
		}
		dl, _ := st.ListDepartments(ctx, b.office.ID, allRows)
		if dl.Total != 1 || dl.Items[0].Name != "Sales & Marketing" || dl.Items[0].EndUsers != 1 {
			t.Errorf("departments: %+v", dl.Items)
		}
		if err := st.DeleteDepartment(ctx, b.dept.ID); model.ErrorCode(err) != model.ECONFLICT {
			t.Errorf("delete a staffed department: %v", err)
		}
		if _, err := st.DeleteEndUser(ctx, staff.ID); err != nil {
			t.Fatal(err)
		}
		if err := st.DeleteDepartment(ctx, b.dept.ID); err != nil {
			t.Errorf("delete an empty department: %v", err)
		}
	})
}

func TestEndUserHouseholdRules(t *testing.T) {
	eachBackend(t, func(t *testing.T, st *store.Store) {
		tr := mustTree(t, st)
		b := tr.a1
		ctx := as(b.installer)
		apt2 := &model.Apartment{BuildingID: b.building.ID, Number: "102", FamilyMemberLimit: 1}
		if err := st.CreateApartment(ctx, apt2); err != nil {
			t.Fatal(err)
		}
		villa := &model.Project{Kind: model.ProjectPersonal, Name: "Villa Rosa"}
		if err := st.CreateProject(ctx, villa); err != nil {
			t.Fatal(err)
		}
		other := tr.a2
		refused := []struct {
			name  string
			u     model.EndUser
			field string
		}{
			{"master without apartment", model.EndUser{ProjectID: b.project.ID, Role: model.FamilyMaster, Name: "M"}, "apartment_id"},
			{"second master of an apartment", model.EndUser{ProjectID: b.project.ID, ApartmentID: b.apartment.ID, Role: model.FamilyMaster, Name: "M"}, "apartment_id"},
			{"apartment of another installer", model.EndUser{ProjectID: b.project.ID, ApartmentID: other.apartment.ID, Role: model.FamilyMaster, Name: "M"}, "apartment_id"},
			{"member of an apartment without master", model.EndUser{ProjectID: b.project.ID, ApartmentID: apt2.ID, Role: model.FamilyMember, Name: "K"}, "apartment_id"},
			{"member without household", model.EndUser{ProjectID: b.project.ID, Role: model.FamilyMember, Name: "K"}, "family_master_id"},
			{"member of a foreign master", model.EndUser{ProjectID: b.project.ID, FamilyMasterID: other.user.ID, Role: model.FamilyMember, Name: "K"}, "family_master_id"},
			{"member of master in another apartment", model.EndUser{ProjectID: b.project.ID, ApartmentID: apt2.ID, FamilyMasterID: b.user.ID, Role: model.FamilyMember, Name: "K"}, "apartment_id"},
			{"staff in a community", model.EndUser{ProjectID: b.project.ID, Role: model.OfficeStaff, Name: "S"}, "role"},
			{"staff without department", model.EndUser{ProjectID: b.office.ID, Role: model.OfficeStaff, Name: "S"}, "department_id"},
			{"staff in a foreign department", model.EndUser{ProjectID: b.office.ID, DepartmentID: other.dept.ID, Role: model.OfficeStaff, Name: "S"}, "department_id"},
			{"property manager of an office", model.EndUser{ProjectID: b.office.ID, Role: model.PropertyManager, Name: "P"}, "role"},
			{"property manager of a villa", model.EndUser{ProjectID: villa.ID, Role: model.PropertyManager, Name: "P"}, "role"},
			{"property manager in an apartment", model.EndUser{ProjectID: b.project.ID, ApartmentID: b.apartment.ID, Role: model.PropertyManager, Name: "P"}, "apartment_id"},
			{"villa member before the master", model.EndUser{ProjectID: villa.ID, Role: model.FamilyMember, Name: "K"}, "family_master_id"},
			{"premium in a community", model.EndUser{ProjectID: b.project.ID, ApartmentID: apt2.ID, Role: model.FamilyMaster, Name: "M", Premium: true}, "premium"},
			{"bad email and phone", model.EndUser{ProjectID: b.project.ID, Role: model.PropertyManager, Name: "P", Email: "nope", Phone: "call me"}, "email"},
			{"project of another installer", model.EndUser{ProjectID: other.project.ID, Role: model.PropertyManager, Name: "P"}, "project_id"},
			{"no role", model.EndUser{ProjectID: b.project.ID, Name: "P"}, "role"},
		}
		var before int
		st.DB().QueryRow("SELECT count(*) FROM end_users").Scan(&before)
		for _, c := range refused {
			u := c.u
			err := st.AddEndUser(ctx, &u)
			if model.ErrorCode(err) != model.EINVALID || model.ErrorFields(err)[c.field] == "" {
				t.Errorf("%s: got %v %v, want the field %s named", c.name, err, model.ErrorFields(err), c.field)
			}
		}
		var after int
		st.DB().QueryRow("SELECT count(*) FROM end_users").Scan(&after)
		if after != before {
			t.Fatalf("refused users were written: %d → %d", before, after)
		}

		// A family member joins the master of its apartment, up to the limit.
		m2 := &model.EndUser{ProjectID: b.project.ID, ApartmentID: apt2.ID, Role: model.FamilyMaster, Name: "Second Master", Email: "m2@example.com"}
		if err := st.AddEndUser(ctx, m2); err != nil {
			t.Fatal(err)
		}
		kid := &model.EndUser{ProjectID: b.project.ID, ApartmentID: apt2.ID, Role: model.FamilyMember, Name: "Kid"}
		if err := st.AddEndUser(ctx, kid); err != nil {
			t.Fatal(err)
		}
		if kid.FamilyMasterID != m2.ID || kid.InstallerID != b.installer.ID {
			t.Errorf("member's master: %+v", kid)
		}
		err := st.AddEndUser(ctx, &model.EndUser{ProjectID: b.project.ID, FamilyMasterID: m2.ID, Role: model.FamilyMember, Name: "Kid 2"})
		if m := model.ErrorFields(err)["family_member_limit"]; !strings.Contains(m, "A-102 allows 1 family members and has 1") {
			t.Errorf("member over the limit: %v", err)
		}

		// A villa has one family master; its members join it.
		vm := &model.EndUser{ProjectID: villa.ID, Role: model.FamilyMaster, Name: "Rosa", Premium: true}
		if err := st.AddEndUser(ctx, vm); err != nil {
			t.Fatal(err)
		}
		if err := st.AddEndUser(ctx, &model.EndUser{ProjectID: villa.ID, Role: model.FamilyMaster, Name: "Rosa 2"}); model.ErrorFields(err)["role"] == "" {
			t.Errorf("second villa master: %v", err)
		}
		vk := &model.EndUser{ProjectID: villa.ID, Role: model.FamilyMember, Name: "Rosa Jr"}
		if err := st.AddEndUser(ctx, vk); err != nil || vk.FamilyMasterID != vm.ID || vk.ApartmentID != 0 {
			t.Errorf("villa member: %+v %v", vk, err)
		}

		// Update: the list's fields change; role and household do not.
		upd := &model.EndUser{ID: kid.ID, Name: "Kid Renamed", SIP: "6100", Email: "kid@example.com", Mobile: "+49 1", Active: true,
			AppExpires: ipPtr(st.Now().AddDate(1, 0, 0))}
		if err := st.UpdateEndUser(ctx, kid.ID, wholeEndUser(upd)); err != nil {
			t.Fatal(err)
		}
		got, _ := st.GetEndUser(ctx, kid.ID)
		if got.Name != "Kid Renamed" || got.SIP != "6100" || !got.Active || got.AppExpires == nil || got.FamilyMasterID != m2.ID || got.ApartmentID != apt2.ID {
			t.Errorf("after update: %+v", got)
		}
		for field, u := range map[string]*model.EndUser{
			"role":         {ID: kid.ID, Name: "K", Role: model.FamilyMaster},
			"apartment_id": {ID: kid.ID, Name: "K", ApartmentID: b.apartment.ID},
			"email":        {ID: kid.ID, Name: "K", Email: "@@"},
			"premium":      {ID: kid.ID, Name: "K", Premium: true},
		} {
			if err := st.UpdateEndUser(ctx, u.ID, wholeEndUser(u)); model.ErrorFields(err)[field] == "" {
				t.Errorf("update changing %s: %v", field, err)
			}
		}
		if err := st.UpdateEndUser(as(other.installer), kid.ID, wholeEndUser(&model.EndUser{Name: "Stolen"})); model.ErrorCode(err) != model.ENOTFOUND {
			t.Errorf("update by another installer: %v", err)
		}
		// Office staff move between departments of their office.
		d2 := &model.Department{ProjectID: b.office.ID, Name: "Support"}
		st.CreateDepartment(ctx, d2)
		staff := &model.EndUser{ProjectID: b.office.ID, DepartmentID: b.dept.ID, Role: model.OfficeStaff, Name: "Clerk"}
		if err := st.AddEndUser(ctx, staff); err != nil {
			t.Fatal(err)
		}
		if err := st.UpdateEndUser(ctx, staff.ID, wholeEndUser(&model.EndUser{Name: "Clerk", DepartmentID: d2.ID})); err != nil {
			t.Errorf("move staff: %v", err)
		}
		if err := st.UpdateEndUser(ctx, staff.ID, wholeEndUser(&model.EndUser{Name: "Clerk", DepartmentID: other.dept.ID})); model.ErrorFields(err)["department_id"] == "" {
			t.Errorf("move staff to a foreign department: %v", err)
		}

		// Deleting a family master deletes its members; its devices stay, ownerless.
		mon := &model.Device{MAC: "0C-11-05-12-34-56", ProjectID: b.project.ID, ApartmentID: apt2.ID, OwnerID: kid.ID, Type: model.IndoorMonitor}
		if err := st.CreateDevice(ctx, mon); err != nil {
			t.Fatal(err)
		}
		dep, err := st.CountEndUserDependents(ctx, m2.ID)
		if err != nil || *dep != (store.EndUserDependents{FamilyMembers: 1, Devices: 1}) {
			t.Errorf("dependents: %+v %v", dep, err)
		}
		if _, err := st.DeleteEndUser(as(other.installer), m2.ID); model.ErrorCode(err) != model.ENOTFOUND {
			t.Errorf("delete by another installer: %v", err)
		}
		if gone, err := st.DeleteEndUser(ctx, m2.ID); err != nil || gone.FamilyMembers != 1 {
			t.Fatalf("delete master: %+v %v", gone, err)
		}
		if _, err := st.GetEndUser(ctx, kid.ID); model.ErrorCode(err) != model.ENOTFOUND {
			t.Errorf("member outlived its master: %v", err)
		}
		if d, err := st.GetDevice(ctx, mon.MAC); err != nil || d.OwnerID != 0 || d.ApartmentID != apt2.ID {
			t.Errorf("device after its owner went: %+v %v", d, err)
		}
		// The apartment is free for a new family master.
		if err := st.AddEndUser(ctx, &model.EndUser{ProjectID: b.project.ID, ApartmentID: apt2.ID, Role: model.FamilyMaster, Name: "New Master"}); err != nil {
			t.Errorf("new master: %v", err)
		}
	})
}

func TestImportEndUsers(t *testing.T) {
	eachBackend(t, func(t *testing.T, st *store.Store) {
		tr := mustTree(t, st)
		b := tr.a1
		ctx := as(b.installer)
		apt := &model.Apartment{BuildingID: b.building.ID, Number: "202", FamilyMemberLimit: 1}
		if err := st.CreateApartment(ctx, apt); err != nil {
			t.Fatal(err)
		}
		rows := []store.EndUserImportRow{
			{Row: 2, Role: "Family Master", Name: "Ada Master", Building: "a", Apartment: "202", SIP: "7001", Active: "yes", AppExpires: "2027-01-31"},
			{Row: 3, Role: "member", Name: "Ada Kid", Apartment: "202"},                                             // joins row 2's master
			{Row: 4, Role: "member", Name: "Ada Kid 2", Apartment: "202"},                                           // over the limit of 1
			{Row: 5, Role: "Family Master", Name: "Nobody", Building: "A", Apartment: "909"},                        // no such apartment
			{Row: 6, Role: "property manager", Name: "Pat", Email: "not-an-email", Active: "maybe"},                 // two bad fields
			{Row: 7, Role: "Office Staff", Name: "Clerk", Department: "Sales"},                                      // not an office
			{Row: 8, Role: "Property Manager", Name: "Paula", Email: "paula@example.com", AppExpires: "2027-02-30"}, // bad date
			{Row: 9, Role: "Property Manager", Name: "Peter", Phone: "+1 555 0100"},
		}
		res, err := st.ImportEndUsers(ctx, b.project.ID, rows)
		if err != nil {
			t.Fatal(err)
		}
		if res.Imported != 3 || len(res.Rejected) != 5 {
			t.Fatalf("import: %+v", res)
		}
		want := map[int]string{4: "family_member_limit", 5: "apartment", 6: "email", 7: "department", 8: "app_expires"}
		for _, e := range res.Rejected {
			f, ok := want[e.Row]
			if !ok || !strings.Contains(e.Reason, f+": ") || e.Value != rows[e.Row-2].Name {
				t.Errorf("row %d: %+v, want the column %q named", e.Row, e, f)
			}
			delete(want, e.Row)
		}
		if len(want) != 0 {
			t.Errorf("rows not reported: %v", want)
		}
		if e := res.Rejected[2]; !strings.Contains(e.Reason, "active: ") {
			t.Errorf("row 6 reports only %q", e.Reason)
		}
		users, _ := st.ListEndUsers(ctx, model.EndUserFilter{Kind: model.KindCommunity, ProjectID: b.project.ID, Page: allRows})
		byName := map[string]*model.EndUser{}
		for _, u := range users.Items {
			u := u.EndUser
			byName[u.Name] = &u
		}
		master, kid := byName["Ada Master"], byName["Ada Kid"]
		if master == nil || kid == nil || byName["Peter"] == nil || byName["Ada Kid 2"] != nil || byName["Paula"] != nil {
			t.Fatalf("imported users: %v", byName)
		}
		if master.ApartmentID != apt.ID || !master.Active || master.AppExpires == nil || master.AppExpires.Format("2006-01-02") != "2027-01-31" ||
			kid.FamilyMasterID != master.ID || kid.ApartmentID != apt.ID {
			t.Errorf("imported household: %+v / %+v", master, kid)
		}
		audit, _ := st.ListAudit(ctx, model.AuditFilter{Action: "end_user.import", Page: allRows})
		if audit.Total != 1 || audit.Items[0].Details["rejected"] != float64(5) {
			t.Errorf("import audit: %+v", audit.Items)
		}
		// An office's rows default to office staff; departments by name.
		res, err = st.ImportEndUsers(ctx, b.office.ID, []store.EndUserImportRow{{Row: 2, Name: "Clerk", Department: "sales"}, {Row: 3, Name: "Lost", Department: "Nowhere"}})
		if err != nil || res.Imported != 1 || len(res.Rejected) != 1 || res.Rejected[0].Row != 3 || !strings.Contains(res.Rejected[0].Reason, "department: ") {
			t.Errorf("office import: %+v %v", res, err)
		}
		// Another installer's project does not exist.
		if _, err := st.ImportEndUsers(as(tr.a2.installer), b.project.ID, rows[:1]); model.ErrorCode(err) != model.ENOTFOUND {
			t.Errorf("import into a foreign project: %v", err)
		}
		// Too many rows are refused whole.
		many := make([]store.EndUserImportRow, store.MaxEndUserImport+1)
		if _, err := st.ImportEndUsers(ctx, b.project.ID, many); model.ErrorFields(err)["file"] == "" {
			t.Errorf("too many rows: %v", err)
		}
	})
}

func TestDevicePlacement(t *testing.T) {
	eachBackend(t, func(t *testing.T, st *store.Store) {
		tr := mustTree(t, st)
		b := tr.a1
		ctx := as(b.installer)
		villa := &model.Project{Kind: model.ProjectPersonal, Name: "Villa Verde"}
		st.CreateProject(ctx, villa)
		owner := &model.EndUser{ProjectID: villa.ID, Role: model.FamilyMaster, Name: "Vera Verde"}
		if err := st.AddEndUser(ctx, owner); err != nil {
			t.Fatal(err)
		}
		if b.device.Location != store.PublicArea {
			t.Errorf("community device without a place: location %q", b.device.Location)
		}
		cases := []struct {
			d        model.Device
			location string
		}{
			{model.Device{MAC: "0c-11-05-00-aa-01", ProjectID: b.project.ID, ApartmentID: b.apartment.ID, Type: model.IndoorMonitor}, "A-101"},
			{model.Device{MAC: "0c11.0500.aa02", ProjectID: b.project.ID, BuildingID: b.building.ID, Type: model.DoorPhone}, "A"},
			{model.Device{MAC: "0C:11:05:00:AA:03", ProjectID: b.office.ID, DepartmentID: b.dept.ID, Type: model.AccessControl}, "Sales"},
			{model.Device{MAC: "0C110500AA04", ProjectID: villa.ID, Type: model.DoorPhone}, "Vera Verde"},
			{model.Device{MAC: "0C110500AA05", ProjectID: b.project.ID, ApartmentID: b.apartment.ID, Location: "Kitchen", Type: model.IndoorMonitor}, "Kitchen"},
		}
		for _, c := range cases {
			d := c.d
			if err := st.CreateDevice(ctx, &d); err != nil {
				t.Fatalf("%s: %v", c.d.MAC, err)
			}
			got, err := st.GetDevice(ctx, d.MAC)
			if err != nil || got.Location != c.location || len(got.MAC) != 12 || got.MAC != strings.ToUpper(got.MAC) {
				t.Errorf("%s: %+v %v, want location %q", c.d.MAC, got, err, c.location)
			}
			if c.d.ApartmentID != 0 && got.BuildingID != b.building.ID {
				t.Errorf("%s: the apartment's building was not filled in: %+v", c.d.MAC, got)
			}
			if c.d.ProjectID == villa.ID && got.OwnerID != owner.ID {
				t.Errorf("villa device's owner: %+v", got)
			}
		}
		refused := []struct {
			d     model.Device
			field string
		}{
			{model.Device{ProjectID: b.project.ID, ApartmentID: tr.a2.apartment.ID, Type: model.DoorPhone}, "apartment_id"},
			{model.Device{ProjectID: b.project.ID, DepartmentID: b.dept.ID, Type: model.DoorPhone}, "department_id"},
			{model.Device{ProjectID: b.office.ID, BuildingID: b.building.ID, Type: model.DoorPhone}, "building_id"},
			{model.Device{ProjectID: villa.ID, OwnerID: b.user.ID, Type: model.DoorPhone}, "owner_id"},
			{model.Device{ProjectID: tr.a2.project.ID, Type: model.DoorPhone}, "project_id"},
			{model.Device{ProjectID: b.project.ID, Type: "toaster"}, "type"},
		}
		for i, c := range refused {
			d := c.d
			d.MAC = fmt.Sprintf("0C1105BB00%02X", i)
			if err := st.CreateDevice(ctx, &d); model.ErrorFields(err)[c.field] == "" {
				t.Errorf("case %d: %v, want the field %s named", i, err, c.field)
			}
			if _, err := st.GetDevice(sys, d.MAC); model.ErrorCode(err) != model.ENOTFOUND {
				t.Errorf("case %d: a refused device was written", i)
			}
		}
		// A MAC registered anywhere is a conflict, whatever its notation.
		err := st.CreateDevice(ctx, &model.Device{MAC: strings.ToLower(tr.b.device.MAC), ProjectID: b.project.ID, Type: model.DoorPhone})
		if model.ErrorCode(err) != model.ECONFLICT || model.ErrorFields(err)["mac"] == "" {
			t.Errorf("MAC of another distributor's device: %v", err)
		}

		// A MAC of another installer's library is theirs; one of the own library is free to use.
		if _, err := st.ImportMACs(sys, tr.a2.installer.ID, []model.MACRow{{Row: 1, MAC: "0C:11:05:00:CC:01"}}); err != nil {
			t.Fatal(err)
		}
		if _, err := st.ImportMACs(sys, b.installer.ID, []model.MACRow{{Row: 1, MAC: "0C:11:05:00:CC:02"}}); err != nil {
			t.Fatal(err)
		}
		err = st.CreateDevice(ctx, &model.Device{MAC: "0c1105-00cc01", ProjectID: b.project.ID, Type: model.DoorPhone})
		if model.ErrorCode(err) != model.ECONFLICT || model.ErrorFields(err)["mac"] == "" {
			t.Errorf("MAC of another installer's library: %v", err)
		}
		if err := st.CreateDevice(ctx, &model.Device{MAC: "0C110500CC02", ProjectID: b.project.ID, Type: model.DoorPhone}); err != nil {
			t.Errorf("MAC of the own library: %v", err)
		}

		// Update: a filled-in location follows the device; a typed one stays.
		apt2 := &model.Apartment{BuildingID: b.building.ID, Number: "102"}
		st.CreateApartment(ctx, apt2)
		upd := &model.Device{Type: model.IndoorMonitor, Name: "Hall monitor", Model: "C315", Location: "A-101", ApartmentID: apt2.ID}
		if err := st.UpdateDevice(ctx, "0C:11:05:00:AA:01", wholeDevice(upd)); err != nil {
			t.Fatal(err)
		}
		got, _ := st.GetDevice(ctx, "0C110500AA01")
		if got.Location != "A-102" || got.Name != "Hall monitor" || got.Model != "C315" || got.ApartmentID != apt2.ID {
			t.Errorf("after moving: %+v", got)
		}
		if err := st.UpdateDevice(ctx, "0C110500AA05", wholeDevice(&model.Device{Type: model.IndoorMonitor, Location: "Kitchen", ApartmentID: apt2.ID})); err != nil {
			t.Fatal(err)
		}
		if got, _ := st.GetDevice(ctx, "0C110500AA05"); got.Location != "Kitchen" {
			t.Errorf("typed location after moving: %q", got.Location)
		}
		if err := st.UpdateDevice(ctx, "0C110500AA05", wholeDevice(&model.Device{Type: model.IndoorMonitor, ProjectID: tr.a2.project.ID})); model.ErrorFields(err)["project_id"] == "" {
			t.Errorf("move to a foreign project: %v", err)
		}
		if err := st.UpdateDevice(ctx, "0C110500AA05", wholeDevice(&model.Device{Type: model.IndoorMonitor, ProjectID: b.office.ID, DepartmentID: b.dept.ID})); err != nil {
			t.Errorf("move to the installer's office: %v", err)
		}
		if err := st.UpdateDevice(as(tr.a2.installer), "0C110500AA05", wholeDevice(&model.Device{Type: model.DoorPhone})); model.ErrorCode(err) != model.ENOTFOUND {
			t.Errorf("update by another installer: %v", err)
		}

		// The list: search by MAC in any notation or by name, one project.
		for q, want := range map[string]int{"0c:11:05:00:aa": 5, "aa-0": 5, "00cc": 1, "hall": 1, "HALL MON": 1, "zzz": 0} {
			l, err := st.ListInstallerDevices(ctx, store.DeviceFilter{Search: q, Page: allRows})
			if err != nil || l.Total != want {
				t.Errorf("search %q: %d devices, want %d (%v)", q, l.Total, want, err)
			}
		}
		l, _ := st.ListInstallerDevices(ctx, store.DeviceFilter{ProjectID: villa.ID, Page: allRows})
		if l.Total != 1 || l.Items[0].Owner != "Vera Verde" || l.Items[0].Project != "Villa Verde" || l.Items[0].ProjectKind != model.ProjectPersonal {
			t.Errorf("villa devices: %+v", l.Items)
		}

		// Delete; the MAC is free again.
		if err := st.DeleteDevice(as(tr.a2.installer), "0C110500AA01"); model.ErrorCode(err) != model.ENOTFOUND {
			t.Errorf("delete by another installer: %v", err)
		}
		if err := st.DeleteDevice(ctx, "0c:11:05:00:aa:01"); err != nil {
			t.Fatal(err)
		}
		if _, err := st.GetDevice(ctx, "0C110500AA01"); model.ErrorCode(err) != model.ENOTFOUND {
			t.Errorf("deleted device: %v", err)
		}
		if err := st.CreateDevice(ctx, &model.Device{MAC: "0C110500AA01", ProjectID: b.project.ID, Type: model.DoorPhone}); err != nil {
			t.Errorf("re-register a deleted MAC: %v", err)
		}
	})
}

func TestCameraCredentialsSealed(t *testing.T) {
	eachBackend(t, func(t *testing.T, st *store.Store) {
		tr := mustTree(t, st)
		b := tr.a1
		ctx := as(b.installer)
		cam := &model.ThirdPartyDevice{ProjectID: b.project.ID, Name: "Gate cam", StreamURL: "rtsp://10.0.0.5:554/stream1", Username: "viewer", Password: "pa55-word"}
		if err := st.CreateThirdPartyDevice(ctx, cam); err != nil {
			t.Fatal(err)
		}
		// At rest the columns hold sealed values, not the secrets.
		var user, pass string
		if err := st.DB().QueryRow(fmt.Sprintf("SELECT username, password FROM third_party_devices WHERE id = %d", cam.ID)).Scan(&user, &pass); err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(pass, "v1:") || strings.Contains(pass, "pa55") || !strings.HasPrefix(user, "v1:") || strings.Contains(user, "viewer") {
			t.Errorf("stored in the clear: %q %q", user, pass)
		}
		c, err := st.GetThirdPartyDeviceCredentials(ctx, cam.ID)
		if err != nil || c.Username != "viewer" || c.Password != "pa55-word" {
			t.Errorf("credentials: %+v %v", c, err)
		}
		for _, a := range []*model.Account{tr.subA1, tr.distA, tr.admin, tr.a2.installer} {
			if _, err := st.GetThirdPartyDeviceCredentials(as(a), cam.ID); model.ErrorCode(err) != model.ENOTFOUND {
				t.Errorf("%s reads the credentials: %v", a.Username, err)
			}
		}
		l, _ := st.ListThirdPartyDevices(ctx, store.CameraFilter{Name: "gate", Page: allRows})
		if l.Total != 1 || !l.Items[0].HasPassword || l.Items[0].Password != "" || l.Items[0].Manager != b.project.Manager {
			t.Errorf("list: %+v", l.Items)
		}
		// Updating without a password keeps it; an empty one removes it.
		if _, err := st.UpdateThirdPartyDevice(ctx, cam.ID, store.CameraUpdate{Name: ipPtr("Gate camera"), Username: ipPtr("operator")}); err != nil {
			t.Fatal(err)
		}
		if c, _ := st.GetThirdPartyDeviceCredentials(ctx, cam.ID); c.Username != "operator" || c.Password != "pa55-word" {
			t.Errorf("after a name change: %+v", c)
		}
		if _, err := st.UpdateThirdPartyDevice(ctx, cam.ID, store.CameraUpdate{Password: ipPtr("")}); err != nil {
			t.Fatal(err)
		}
		if c, _ := st.GetThirdPartyDeviceCredentials(ctx, cam.ID); c.Password != "" {
			t.Errorf("password not removed: %+v", c)
		}
		audit, _ := st.ListAudit(ctx, model.AuditFilter{ObjectType: "third_party_device", ObjectID: fmt.Sprint(cam.ID), Page: allRows})
		for _, e := range audit.Items {
			if s := fmt.Sprint(e.Details); strings.Contains(s, "pa55") || strings.Contains(s, "operator") {
				t.Errorf("the audit log holds a credential: %s", s)
			}
		}
		// Bad input names its field.
		for field, d := range map[string]model.ThirdPartyDevice{
			"stream_url": {ProjectID: b.project.ID, Name: "C", StreamURL: "rtsp://admin:pw@10.0.0.5/s"},
			"name":       {ProjectID: b.project.ID, Name: " "},
			"owner_id":   {ProjectID: b.project.ID, Name: "C", OwnerID: b.user.ID},
			"project_id": {ProjectID: tr.a2.project.ID, Name: "C"},
		} {
			if err := st.CreateThirdPartyDevice(ctx, &d); model.ErrorFields(err)[field] == "" {
				t.Errorf("camera with a bad %s: %v", field, err)
			}
		}
		if _, err := st.UpdateThirdPartyDevice(ctx, cam.ID, store.CameraUpdate{StreamURL: ipPtr("http://cam/")}); model.ErrorFields(err)["stream_url"] == "" {
			t.Errorf("http stream: %v", err)
		}
		// A single-tenant home's camera belongs to its family master.
		villa := &model.Project{Kind: model.ProjectPersonal, Name: "Villa Azul"}
		st.CreateProject(ctx, villa)
		m := &model.EndUser{ProjectID: villa.ID, Role: model.FamilyMaster, Name: "Azul"}
		st.AddEndUser(ctx, m)
		vc := &model.ThirdPartyDevice{ProjectID: villa.ID, Name: "Garden", StreamURL: "rtsps://cam.local/live"}
		if err := st.CreateThirdPartyDevice(ctx, vc); err != nil || vc.OwnerID != m.ID {
			t.Errorf("villa camera: %+v %v", vc, err)
		}
		// Moving a camera into the villa gives it the villa's owner.
		moved, err := st.UpdateThirdPartyDevice(ctx, cam.ID, store.CameraUpdate{ProjectID: &villa.ID})
		if err != nil || moved.OwnerID != m.ID {
			t.Errorf("moved camera: %+v %v", moved, err)
		}
		if err := st.DeleteThirdPartyDevice(ctx, cam.ID); err != nil {
			t.Fatal(err)
		}
		if _, err := st.GetThirdPartyDevice(ctx, cam.ID); model.ErrorCode(err) != model.ENOTFOUND {
			t.Errorf("deleted camera: %v", err)
		}
	})
}
