package store_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/model"
	"github.com/gatehouse-dev/gatehouse/internal/store"
)

func init() {
	tenancyCases = append(tenancyCases,
		tenancyCase{method: "GetCameraDetail", call: func(st *store.Store, ctx context.Context, b *branch) error {
			d, err := st.GetCameraDetail(ctx, b.camera.ID)
			if err == nil && (d.Name != b.camera.Name || d.InstallerUsername != b.installer.Username || d.Username != "" || d.Password != "") {
				return fmt.Errorf("detail %+v", d)
			}
			return err
		}},
		tenancyCase{method: "DeleteThirdPartyDevices", call: func(st *store.Store, ctx context.Context, b *branch) error {
			c := &model.ThirdPartyDevice{ProjectID: b.project.ID, Name: "Doomed cam"}
			if err := st.CreateThirdPartyDevice(as(b.installer), c); err != nil {
				return err
			}
			n, err := st.DeleteThirdPartyDevices(ctx, []int64{c.ID})
			if err == nil && n != 1 {
				return fmt.Errorf("deleted %d", n)
			}
			if err != nil {
				// Refused: the camera must still be there.
				if _, gerr := st.GetThirdPartyDevice(sys, c.ID); gerr != nil {
					return fmt.Errorf("refused (%v) but deleted", err)
				}
			}
			return err
		}},
	)
	coveredElsewhere["ListCameras"] = "TestCameraListsAreScoped"
}

// camWorld is a tree with cameras of every kind in branch a1: its
// community camera (from mustBranch), an office camera, and two homes'
// cameras owned by their family masters.
type camWorld struct {
	*tree
	office, villa1, villa2 *model.ThirdPartyDevice
	master1, master2       *model.EndUser
	home1, home2           *model.Project
}

func mustCamWorld(t *testing.T, st *store.Store) *camWorld {
	t.Helper()
	w := &camWorld{tree: mustTree(t, st)}
	ctx := as(w.a1.installer)
	w.home1 = &model.Project{Kind: model.ProjectPersonal, Name: "Azul Residence", Manager: "Marta Azul", Address: "1 Sea Road"}
	w.home2 = &model.Project{Kind: model.ProjectPersonal, Name: "Berg Residence", Manager: "Olaf Berg"}
	for _, p := range []*model.Project{w.home1, w.home2} {
		if err := st.CreateProject(ctx, p); err != nil {
			t.Fatal(err)
		}
	}
	w.master1 = &model.EndUser{ProjectID: w.home1.ID, Role: model.FamilyMaster, Name: "Pablo Azul", Email: "pablo@example.com"}
	w.master2 = &model.EndUser{ProjectID: w.home2.ID, Role: model.FamilyMaster, Name: "Ingrid Berg"}
	for _, u := range []*model.EndUser{w.master1, w.master2} {
		if err := st.AddEndUser(ctx, u); err != nil {
			t.Fatal(err)
		}
	}
	w.office = &model.ThirdPartyDevice{ProjectID: w.a1.office.ID, Name: "Reception_PTZ", StreamURL: "rtsp://10.9.8.7:554/live"}
	w.villa1 = &model.ThirdPartyDevice{ProjectID: w.home1.ID, Name: "Garden cam", StreamURL: "rtsps://cam.azul.example/live", Username: "viewer", Password: "pw-azul"}
	w.villa2 = &model.ThirdPartyDevice{ProjectID: w.home2.ID, Name: "Porch cam"}
	for _, c := range []*model.ThirdPartyDevice{w.office, w.villa1, w.villa2} {
		if err := st.CreateThirdPartyDevice(ctx, c); err != nil {
			t.Fatal(err)
		}
	}
	return w
}

func camNames(l model.List[*store.CameraListRow]) []string {
	var out []string
	for _, c := range l.Items {
		out = append(out, c.Name)
	}
	return out
}

// TestCameraListsAreScoped: every actor's lists hold the cameras of its
// subtree only, and all of them, in both scopes.
func TestCameraListsAreScoped(t *testing.T) {
	eachBackend(t, func(t *testing.T, st *store.Store) {
		w := mustCamWorld(t, st)
		branches := []*branch{w.a1, w.a2, w.b}
		for _, actor := range []*model.Account{w.admin, w.distA, w.subA1, w.subA2, w.a1.installer, w.a2.installer, w.distB, w.subB, w.b.installer} {
			ctx := as(actor)
			wantProject, wantPersonal := 0, 0
			for _, b := range branches {
				if w.canSee(actor, b) {
					wantProject++ // its community camera
					if b == w.a1 {
						wantProject++ // the office camera
						wantPersonal += 2
					}
				}
			}
			for scope, want := range map[string]int{"project": wantProject, "personal": wantPersonal, "": wantProject + wantPersonal} {
				l, err := st.ListCameras(ctx, store.CameraListFilter{Scope: scope, Page: allRows})
				if err != nil {
					t.Fatal(err)
				}
				if l.Total != want || len(l.Items) != want {
					t.Errorf("%s's %q cameras: total %d, %d items; want %d: %q", actor.Username, scope, l.Total, len(l.Items), want, camNames(l))
				}
				for _, c := range l.Items {
					inst, _ := st.GetAccount(sys, c.InstallerID)
					if inst == nil || !w.inSubtree(st, actor, inst) {
						t.Errorf("%s lists camera %s of installer %d", actor.Username, c.Name, c.InstallerID)
					}
					if scope != "" && c.Scope() != scope {
						t.Errorf("%q list holds %s, a %s camera", scope, c.Name, c.Scope())
					}
					if c.Username != "" || c.Password != "" {
						t.Errorf("list carries credentials: %+v", c)
					}
				}
			}
			// A foreign selection reads nothing.
			l, err := st.ListCameras(ctx, store.CameraListFilter{IDs: []int64{w.a1.camera.ID, w.b.camera.ID}, Page: allRows})
			if err != nil {
				t.Fatal(err)
			}
			want := 0
			for _, b := range []*branch{w.a1, w.b} {
				if w.canSee(actor, b) {
					want++
				}
			}
			if l.Total != want {
				t.Errorf("%s's selection of a1's and b's cameras: %q, want %d", actor.Username, camNames(l), want)
			}
		}
	})
}

// TestCameraListFilters: the guide's searches of each scope, sorting by
// every column both ways, and bad input naming its field.
func TestCameraListFilters(t *testing.T) {
	eachBackend(t, func(t *testing.T, st *store.Store) {
		w := mustCamWorld(t, st)
		ctx := as(w.subA1)
		list := func(f store.CameraListFilter) model.List[*store.CameraListRow] {
			t.Helper()
			f.Page = allRows
			l, err := st.ListCameras(ctx, f)
			if err != nil {
				t.Fatalf("%+v: %v", f, err)
			}
			return l
		}
		for _, c := range []struct {
			f    store.CameraListFilter
			want []string
		}{
			// Project cameras: Device Name, Project, Project Manager; newest first.
			{store.CameraListFilter{Scope: "project"}, []string{"Reception_PTZ", "Cam inst-a1"}},
			{store.CameraListFilter{Scope: "project", Name: "CAM"}, []string{"Cam inst-a1"}},
			{store.CameraListFilter{Scope: "project", Name: "_"}, []string{"Reception_PTZ"}}, // a literal underscore
			{store.CameraListFilter{Scope: "project", Name: "%"}, nil},
			{store.CameraListFilter{Scope: "project", Project: "offices"}, []string{"Reception_PTZ"}},
			{store.CameraListFilter{Scope: "project", Manager: "mgr inst"}, []string{"Cam inst-a1"}}, // the office has no manager
			{store.CameraListFilter{Scope: "project", Name: "cam", Project: "offices"}, nil},
			// Personal cameras: Device Name, Owner, Single-tenant Manager.
			{store.CameraListFilter{Scope: "personal"}, []string{"Porch cam", "Garden cam"}},
			{store.CameraListFilter{Scope: "personal", Name: "garden"}, []string{"Garden cam"}},
			{store.CameraListFilter{Scope: "personal", Owner: "berg"}, []string{"Porch cam"}},
			{store.CameraListFilter{Scope: "personal", Owner: "  INGRID "}, []string{"Porch cam"}},
			{store.CameraListFilter{Scope: "personal", Manager: "marta"}, []string{"Garden cam"}},
			{store.CameraListFilter{Scope: "personal", Owner: "azul", Manager: "olaf"}, nil},
			// The camera list of one project (the installer portal's).
			{store.CameraListFilter{ProjectID: w.home2.ID}, []string{"Porch cam"}},
			// Sorting by the visible columns.
			{store.CameraListFilter{Scope: "project", Sort: "name"}, []string{"Cam inst-a1", "Reception_PTZ"}},
			{store.CameraListFilter{Scope: "project", Sort: "name", Order: "desc"}, []string{"Reception_PTZ", "Cam inst-a1"}},
			{store.CameraListFilter{Scope: "project", Sort: "project"}, []string{"Cam inst-a1", "Reception_PTZ"}}, // "… Gardens" < "… Offices"
			{store.CameraListFilter{Scope: "project", Sort: "project", Order: "desc"}, []string{"Reception_PTZ", "Cam inst-a1"}},
			{store.CameraListFilter{Scope: "project", Sort: "manager"}, []string{"Reception_PTZ", "Cam inst-a1"}}, // "" < "Mgr …"
			{store.CameraListFilter{Scope: "project", Sort: "created_at", Order: "asc"}, []string{"Cam inst-a1", "Reception_PTZ"}},
			{store.CameraListFilter{Scope: "personal", Sort: "owner"}, []string{"Porch cam", "Garden cam"}}, // Ingrid < Pablo
			{store.CameraListFilter{Scope: "personal", Sort: "owner", Order: "desc"}, []string{"Garden cam", "Porch cam"}},
			{store.CameraListFilter{Scope: "personal", Sort: "manager"}, []string{"Garden cam", "Porch cam"}}, // Marta < Olaf
			{store.CameraListFilter{Scope: "personal", Sort: "name", Order: "desc"}, []string{"Porch cam", "Garden cam"}},
		} {
			if got := camNames(list(c.f)); !slices.Equal(got, c.want) {
				t.Errorf("%+v: got %q, want %q", c.f, got, c.want)
			}
		}
		// The columns of a row.
		l := list(store.CameraListFilter{Scope: "personal", Name: "garden"})
		if len(l.Items) != 1 {
			t.Fatalf("garden: %q", camNames(l))
		}
		g := l.Items[0]
		if g.Owner != "Pablo Azul" || g.Manager != "Marta Azul" || g.Project != "Azul Residence" || g.Installer != "inst-a1" ||
			!g.HasPassword || g.StreamHost() != "cam.azul.example" || g.OwnerID != w.master1.ID {
			t.Errorf("garden row: %+v", g)
		}
		// Sorting by installer, across installers (the distributor's view).
		l, err := st.ListCameras(as(w.distA), store.CameraListFilter{Scope: "project", Sort: "installer", Order: "desc", Page: allRows})
		if err != nil {
			t.Fatal(err)
		}
		var inst []string
		for _, c := range l.Items {
			inst = append(inst, c.Installer)
		}
		if !slices.Equal(inst, []string{"inst-a2", "inst-a1", "inst-a1"}) {
			t.Errorf("by installer, descending: %q", inst)
		}
		// Ties keep a stable order by id, in the sort's direction, so
		// pages never repeat or skip a camera.
		if ids := []int64{l.Items[1].ID, l.Items[2].ID}; ids[0] < ids[1] {
			t.Errorf("ties by id descending: %v", ids)
		}
		// Pages.
		l, err = st.ListCameras(ctx, store.CameraListFilter{Sort: "name", Page: model.Page{Page: 2, PerPage: 3}})
		if err != nil {
			t.Fatal(err)
		}
		if l.Total != 4 || !slices.Equal(camNames(l), []string{"Reception_PTZ"}) {
			t.Errorf("page 2 of 3: total %d, %q", l.Total, camNames(l))
		}
		// Both lists at once, newest first (or oldest), page by page.
		for _, c := range []struct {
			f    store.CameraListFilter
			want []string
		}{
			{store.CameraListFilter{Page: model.Page{Page: 1, PerPage: 3}}, []string{"Porch cam", "Garden cam", "Reception_PTZ"}},
			{store.CameraListFilter{Page: model.Page{Page: 2, PerPage: 3}}, []string{"Cam inst-a1"}},
			{store.CameraListFilter{Order: "asc", Page: model.Page{Page: 1, PerPage: 2}}, []string{"Cam inst-a1", "Reception_PTZ"}},
			{store.CameraListFilter{Order: "asc", Page: model.Page{Page: 2, PerPage: 2}}, []string{"Garden cam", "Porch cam"}},
		} {
			l, err := st.ListCameras(ctx, c.f)
			if err != nil || l.Total != 4 || !slices.Equal(camNames(l), c.want) {
				t.Errorf("%+v: total %d, %q, want %q (%v)", c.f, l.Total, camNames(l), c.want, err)
			}
		}
		// Bad input names its field.
		for field, f := range map[string]store.CameraListFilter{
			"scope":   {Scope: "villa"},
			"owner":   {Scope: "project", Owner: "x"},
			"project": {Scope: "personal", Project: "x"},
			"sort":    {Scope: "project", Sort: "owner"},
			"order":   {Order: "up"},
			"name":    {Name: strings.Repeat("n", store.MaxCameraQuery+1)},
			"ids":     {IDs: make([]int64, store.MaxCameraBatch+1)},
		} {
			f.Page = allRows
			if _, err := st.ListCameras(ctx, f); model.ErrorFields(err)[field] == "" {
				t.Errorf("bad %s: %v", field, err)
			}
		}
		if _, err := st.ListCameras(ctx, store.CameraListFilter{Sort: "bogus", Page: allRows}); model.ErrorFields(err)["sort"] == "" {
			t.Errorf("bogus sort: %v", err)
		}
	})
}

// TestCameraCountCap: past CameraCountCap matches the count stops, and the
// pages still come; a narrower search counts exactly.
func TestCameraCountCap(t *testing.T) {
	if testing.Short() {
		t.Skip("loads 10,050 cameras")
	}
	eachBackend(t, func(t *testing.T, st *store.Store) {
		w := mustCamWorld(t, st)
		id, err := st.MaxID(sys, "third_party_devices")
		if err != nil {
			t.Fatal(err)
		}
		now := time.Now().UTC()
		var rows [][]any
		for i := 0; i < store.CameraCountCap+50; i++ {
			id++
			name := fmt.Sprintf("Bulk cam %05d", i)
			if i%1000 == 0 {
				name = fmt.Sprintf("Rare dome %05d", i)
			}
			rows = append(rows, []any{id, w.a2.installer.ID, w.a2.project.ID, nil, "camera", name, "rtsp://10.0.0.1/s", "", "",
				now.Add(24*time.Hour - time.Duration(i)*time.Minute)})
		}
		if err := st.BulkInsert(sys, "third_party_devices",
			[]string{"id", "installer_id", "project_id", "owner_id", "kind", "name", "stream_url", "username", "password", "created_at"}, rows); err != nil {
			t.Fatal(err)
		}
		ctx := as(w.subA2)
		l, err := st.ListCameras(ctx, store.CameraListFilter{Scope: "project", Page: model.Page{Page: 3, PerPage: 50}})
		if err != nil {
			t.Fatal(err)
		}
		if l.Total != store.CameraCountCap+1 || len(l.Items) != 50 {
			t.Errorf("capped list: total %d, %d items", l.Total, len(l.Items))
		}
		if l.Items[0].Name != "Bulk cam 00100" {
			t.Errorf("page 3 starts with %s, want Bulk cam 00100 (newest first)", l.Items[0].Name)
		}
		// Far past the count: the pages go on.
		// 11 "Rare dome", "Cam inst-a2", then 10,039 "Bulk cam" down to 00001.
		l, err = st.ListCameras(ctx, store.CameraListFilter{Scope: "project", Sort: "name", Order: "desc", Page: model.Page{Page: 202, PerPage: 50}})
		if err != nil || len(l.Items) != 1 || l.Items[0].Name != "Bulk cam 00001" {
			t.Errorf("page 202 by name, descending: %q %v", camNames(l), err)
		}
		l, err = st.ListCameras(ctx, store.CameraListFilter{Scope: "project", Name: "rare", Page: allRows})
		if err != nil || l.Total != 11 || len(l.Items) != 11 {
			t.Errorf("rare: total %d, %d items, %v", l.Total, len(l.Items), err)
		}
		// A search counts as it reads the page: capped all the same, and
		// a page past its end still tells how many there are.
		l, err = st.ListCameras(ctx, store.CameraListFilter{Scope: "project", Name: "bulk", Sort: "name", Page: model.Page{Page: 2, PerPage: 50}})
		if err != nil || l.Total != store.CameraCountCap+1 || len(l.Items) != 50 || l.Items[0].Name != "Bulk cam 00051" {
			t.Errorf("bulk, page 2 by name: total %d, %d items, %v", l.Total, len(l.Items), err)
		}
		l, err = st.ListCameras(ctx, store.CameraListFilter{Scope: "project", Name: "rare", Page: model.Page{Page: 3, PerPage: 5}})
		if err != nil || l.Total != 11 || len(l.Items) != 1 {
			t.Errorf("rare, page 3 of 5: total %d, %d items, %v", l.Total, len(l.Items), err)
		}
		l, err = st.ListCameras(ctx, store.CameraListFilter{Scope: "project", Name: "rare", Page: model.Page{Page: 4, PerPage: 5}})
		if err != nil || l.Total != 11 || len(l.Items) != 0 {
			t.Errorf("rare, past the end: total %d, %d items, %v", l.Total, len(l.Items), err)
		}
		// Another sub-distributor's count is its own.
		if l, _ := st.ListCameras(as(w.subA1), store.CameraListFilter{Page: allRows}); l.Total != 4 {
			t.Errorf("sub-a1 counts %d cameras", l.Total)
		}
	})
}

// TestCameraDetailAndBatchDelete: the detail names who the camera belongs
// to and never its credentials; a batch delete is all or nothing, audited,
// and bounded.
func TestCameraDetailAndBatchDelete(t *testing.T) {
	eachBackend(t, func(t *testing.T, st *store.Store) {
		w := mustCamWorld(t, st)
		ctx := as(w.subA1)
		d, err := st.GetCameraDetail(ctx, w.villa1.ID)
		if err != nil {
			t.Fatal(err)
		}
		if d.Owner != "Pablo Azul" || d.OwnerEmail != "pablo@example.com" || d.Project != "Azul Residence" || d.ProjectAddress != "1 Sea Road" ||
			d.InstallerUsername != "inst-a1" || !d.HasUsername || !d.HasPassword || d.StreamURL != "rtsps://cam.azul.example/live" {
			t.Errorf("detail: %+v", d)
		}
		if s := fmt.Sprintf("%+v", d); strings.Contains(s, "viewer") || strings.Contains(s, "pw-azul") {
			t.Errorf("detail carries credentials: %s", s)
		}
		// A URL written with credentials by something other than the store
		// (an old import) is shown without them.
		if _, err := st.DB().Exec(`UPDATE third_party_devices SET stream_url = 'rtsp://admin:hunter2@10.1.1.1:554/s' WHERE id = ` + fmt.Sprint(w.villa2.ID)); err != nil {
			t.Fatal(err)
		}
		l, _ := st.ListCameras(ctx, store.CameraListFilter{Scope: "personal", Name: "porch", Page: allRows})
		if len(l.Items) != 1 || strings.Contains(l.Items[0].StreamURL, "hunter2") || l.Items[0].StreamHost() != "10.1.1.1:554" {
			t.Errorf("stream URL with credentials: %+v", l.Items)
		}
		if d, _ := st.GetCameraDetail(ctx, w.villa2.ID); d == nil || strings.Contains(d.StreamURL, "hunter2") || strings.Contains(d.StreamURL, "admin") {
			t.Errorf("detail stream URL: %+v", d)
		}

		// A foreign id in the selection: nothing is deleted, and the answer names it.
		_, err = st.DeleteThirdPartyDevices(ctx, []int64{w.villa1.ID, w.b.camera.ID, w.villa2.ID})
		if model.ErrorCode(err) != model.ENOTFOUND || model.ErrorFields(err)["ids"] != fmt.Sprintf("no such third-party device: %d", w.b.camera.ID) {
			t.Errorf("foreign id in a batch: %v", err)
		}
		if l, _ := st.ListCameras(ctx, store.CameraListFilter{Page: allRows}); l.Total != 4 {
			t.Errorf("after a refused batch %d cameras remain, want 4", l.Total)
		}
		for _, ids := range [][]int64{nil, {0}, {-3}, make([]int64, store.MaxCameraBatch+1)} {
			if len(ids) > store.MaxCameraBatch {
				for i := range ids {
					ids[i] = int64(i + 1)
				}
			}
			if _, err := st.DeleteThirdPartyDevices(ctx, ids); model.ErrorFields(err)["ids"] == "" {
				t.Errorf("batch of %d ids %v: %v", len(ids), ids[:min(len(ids), 2)], err)
			}
		}
		// Repeats count once.
		n, err := st.DeleteThirdPartyDevices(ctx, []int64{w.villa1.ID, w.villa2.ID, w.villa1.ID})
		if err != nil || n != 2 {
			t.Fatalf("batch delete: %d %v", n, err)
		}
		for _, id := range []int64{w.villa1.ID, w.villa2.ID} {
			if _, err := st.GetThirdPartyDevice(ctx, id); model.ErrorCode(err) != model.ENOTFOUND {
				t.Errorf("camera %d after the batch: %v", id, err)
			}
			a, _ := st.ListAudit(ctx, model.AuditFilter{ObjectType: "third_party_device", ObjectID: fmt.Sprint(id), Action: "third_party_device.delete", Page: allRows})
			if a.Total != 1 || a.Items[0].Actor != "sub-a1" {
				t.Errorf("audit of camera %d: %+v", id, a.Items)
			}
		}
		// The entries are the sub-distributor's: its distributor reads them,
		// another distributor does not.
		if a, _ := st.ListAudit(as(w.distA), model.AuditFilter{Action: "third_party_device.delete", Page: allRows}); a.Total != 2 {
			t.Errorf("distributor reads %d camera deletions, want 2", a.Total)
		}
		if a, _ := st.ListAudit(as(w.distB), model.AuditFilter{Action: "third_party_device.delete", Page: allRows}); a.Total != 0 {
			t.Errorf("another distributor reads %d camera deletions", a.Total)
		}
	})
}

// TestCameraListCopiesFollowChanges: the lists search and sort by copies of
// the project's, owner's and installer's names (00007_camera_lists.sql);
// renaming any of them, moving a camera and deleting its owner show at
// once in the searches, whoever wrote the change.
func TestCameraListCopiesFollowChanges(t *testing.T) {
	eachBackend(t, func(t *testing.T, st *store.Store) {
		w := mustCamWorld(t, st)
		inst, sub := as(w.a1.installer), as(w.subA1)
		find := func(f store.CameraListFilter) []string {
			t.Helper()
			f.Page = allRows
			l, err := st.ListCameras(sub, f)
			if err != nil {
				t.Fatal(err)
			}
			return camNames(l)
		}
		if _, err := st.UpdateProject(inst, w.home1.ID, store.ProjectEdit{Name: new("Casa Mar"), Manager: new("Rosa Mar")}); err != nil {
			t.Fatal(err)
		}
		if got := find(store.CameraListFilter{Scope: "personal", Manager: "rosa"}); !slices.Equal(got, []string{"Garden cam"}) {
			t.Errorf("after renaming the manager: %q", got)
		}
		if got := find(store.CameraListFilter{Scope: "personal", Manager: "marta"}); len(got) != 0 {
			t.Errorf("the old manager still finds %q", got)
		}
		if err := st.UpdateEndUser(inst, w.master1.ID, func(u *model.EndUser) error { u.Name = "Zeno Azul"; return nil }); err != nil {
			t.Fatal(err)
		}
		if got := find(store.CameraListFilter{Scope: "personal", Sort: "owner"}); !slices.Equal(got, []string{"Porch cam", "Garden cam"}) {
			t.Errorf("by owner after renaming Pablo to Zeno: %q", got)
		}
		if got := find(store.CameraListFilter{Scope: "personal", Owner: "zeno"}); !slices.Equal(got, []string{"Garden cam"}) {
			t.Errorf("the renamed owner: %q", got)
		}
		name := "Acme Integrators"
		if _, err := st.UpdateInstaller(sub, w.a1.installer.ID, model.InstallerPatch{Name: &name}); err != nil {
			t.Fatal(err)
		}
		l, err := st.ListCameras(as(w.distA), store.CameraListFilter{Scope: "project", Sort: "installer", Page: allRows})
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, c := range l.Items {
			names = append(names, c.Installer)
		}
		if !slices.Equal(names, []string{"Acme Integrators", "Acme Integrators", "inst-a2"}) {
			t.Errorf("by installer after naming inst-a1: %q", names)
		}
		// The office camera moves into a home: it is a personal camera now,
		// of the home's family master.
		if _, err := st.UpdateThirdPartyDevice(inst, w.office.ID, store.CameraUpdate{ProjectID: &w.home2.ID}); err != nil {
			t.Fatal(err)
		}
		if got := find(store.CameraListFilter{Scope: "personal", Owner: "ingrid", Sort: "name"}); !slices.Equal(got, []string{"Porch cam", "Reception_PTZ"}) {
			t.Errorf("moved camera: %q", got)
		}
		if got := find(store.CameraListFilter{Scope: "project"}); !slices.Equal(got, []string{"Cam inst-a1"}) {
			t.Errorf("project cameras after the move: %q", got)
		}
		// Its owner deleted, a camera stays in the home without an owner.
		if _, err := st.DeleteEndUser(inst, w.master2.ID); err != nil {
			t.Fatal(err)
		}
		if got := find(store.CameraListFilter{Scope: "personal", Owner: "ingrid"}); len(got) != 0 {
			t.Errorf("the deleted owner still finds %q", got)
		}
		l, _ = st.ListCameras(sub, store.CameraListFilter{Scope: "personal", Sort: "owner", Page: allRows})
		if names := camNames(l); len(names) != 3 || names[2] != "Garden cam" || l.Items[0].Owner != "" {
			t.Errorf("by owner after deleting Ingrid: %q", names)
		}
	})
}
