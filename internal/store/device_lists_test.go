package store_test

import (
	"context"
	"fmt"
	"io"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/demo"
	"github.com/gatehouse-dev/gatehouse/internal/model"
	"github.com/gatehouse-dev/gatehouse/internal/store"
)

func init() {
	tenancyCases = append(tenancyCases,
		tenancyCase{method: "GetDeviceDetail", call: func(st *store.Store, ctx context.Context, b *branch) error {
			d, err := st.GetDeviceDetail(ctx, strings.ToLower(b.device.MAC))
			if err == nil && (d.MAC != b.device.MAC || d.Installer == "" || d.ProjectKind != model.ProjectCommunity) {
				return fmt.Errorf("wrong detail: %+v", d)
			}
			return err
		}},
		tenancyCase{method: "DeleteDevices", call: func(st *store.Store, ctx context.Context, b *branch) error {
			// A device of its own, so that the branch keeps b.device.
			d := &model.Device{MAC: fmt.Sprintf("0C1105BB%04X", nextSeq()), ProjectID: b.office.ID, Type: model.DoorPhone}
			if err := st.CreateDevice(sys, d); err != nil {
				return err
			}
			return st.DeleteDevices(ctx, []string{d.MAC})
		}},
	)
	coveredElsewhere["ListDevices"] = "TestDeviceListScoping"
}

// allDevices lists every device of a scope that ctx sees, in the list's
// default order.
func allDevices(t *testing.T, st *store.Store, ctx context.Context, f model.DeviceFilter) []*model.DeviceRow {
	t.Helper()
	f.Page = model.Page{Page: 1, PerPage: 500}
	l, err := st.ListDevices(ctx, f)
	if err != nil {
		t.Fatalf("ListDevices %+v: %v", f, err)
	}
	if l.Total != len(l.Items) {
		t.Fatalf("ListDevices %+v: total %d, %d items", f, l.Total, len(l.Items))
	}
	return l.Items
}

func macsOf(rows []*model.DeviceRow) []string {
	out := []string{}
	for _, r := range rows {
		out = append(out, r.MAC)
	}
	return out
}

// TestDeviceListScoping: every actor's lists hold the devices of its
// subtree, all of them and nothing else, in each scope.
func TestDeviceListScoping(t *testing.T) {
	eachBackend(t, func(t *testing.T, st *store.Store) {
		tr := mustTree(t, st)
		home := map[*branch]*model.Device{}
		for _, b := range []*branch{tr.a1, tr.a2, tr.b} {
			ctx := as(b.installer)
			villa := &model.Project{Kind: model.ProjectPersonal, Name: "Villa " + b.installer.Username, Manager: "Owner " + b.installer.Username}
			if err := st.CreateProject(ctx, villa); err != nil {
				t.Fatal(err)
			}
			d := &model.Device{MAC: fmt.Sprintf("0C1105CC%04X", nextSeq()), ProjectID: villa.ID, Type: model.IndoorMonitor, Name: "Hall"}
			if err := st.CreateDevice(ctx, d); err != nil {
				t.Fatal(err)
			}
			home[b] = d
			off := &model.Device{MAC: fmt.Sprintf("0C1105CD%04X", nextSeq()), ProjectID: b.office.ID, DepartmentID: b.dept.ID, Type: model.AccessControl}
			if err := st.CreateDevice(ctx, off); err != nil {
				t.Fatal(err)
			}
		}
		actors := []*model.Account{tr.admin, tr.distA, tr.subA1, tr.subA2, tr.a1.installer, tr.distB, tr.subB, tr.b.installer}
		for _, actor := range actors {
			for _, scope := range []model.ProjectKind{model.ProjectCommunity, model.ProjectOffice, model.ProjectPersonal} {
				got := allDevices(t, st, as(actor), model.DeviceFilter{Scope: scope})
				for _, b := range []*branch{tr.a1, tr.a2, tr.b} {
					want := tr.canSee(actor, b)
					var mac string
					switch scope {
					case model.ProjectCommunity:
						mac = b.device.MAC
					case model.ProjectPersonal:
						mac = home[b].MAC
					}
					if mac != "" && slices.Contains(macsOf(got), mac) != want {
						t.Errorf("%s's %s list: %s's device %s shown=%v, want %v", actor.Username, scope, b.installer.Username, mac, !want, want)
					}
				}
				for _, r := range got {
					if r.ProjectKind != scope {
						t.Errorf("%s's %s list holds a %s device %s", actor.Username, scope, r.ProjectKind, r.MAC)
					}
					owner, err := st.GetAccount(sys, r.InstallerID)
					if err != nil || !tr.inSubtree(st, actor, owner) {
						t.Errorf("%s's %s list shows %s of installer %d", actor.Username, scope, r.MAC, r.InstallerID)
					}
				}
				// A search finds nothing of another tenant either.
				for _, b := range []*branch{tr.a1, tr.b} {
					l, err := st.ListDevices(as(actor), model.DeviceFilter{Scope: model.ProjectCommunity, MAC: b.device.MAC,
						Page: model.Page{Page: 1, PerPage: 10}})
					if err != nil {
						t.Fatal(err)
					}
					if (l.Total == 1) != tr.canSee(actor, b) {
						t.Errorf("%s searching %s's MAC: total %d", actor.Username, b.installer.Username, l.Total)
					}
				}
			}
		}
		// The lists fail closed without an actor.
		if _, err := st.ListDevices(context.Background(), model.DeviceFilter{Scope: model.ProjectCommunity}); err == nil {
			t.Error("ListDevices without an actor succeeded")
		}
	})
}

// devFixture is one installer's devices for the filter and sort tests, in
// a community, an office and two homes, created one second apart.
type devFixture struct {
	tr                   *tree
	inst                 *model.Account
	comm, comm2, office  *model.Project
	home1, home2         *model.Project
	byMAC                map[string]*model.Device
	commMACs, officeMACs []string
	homeMACs             []string
}

func mustDevFixture(t *testing.T, st *store.Store) *devFixture {
	t.Helper()
	base := time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC)
	var tick int
	st.SetClock(func() time.Time { tick++; return base.Add(time.Duration(tick) * time.Second) })
	tr := mustTree(t, st)
	fx := &devFixture{tr: tr, inst: tr.a1.installer, comm: tr.a1.project, office: tr.a1.office, byMAC: map[string]*model.Device{}}
	ctx := as(fx.inst)
	fx.comm2 = &model.Project{Kind: model.ProjectCommunity, Name: "Riverside Towers", Manager: "Quinn Ortega"}
	fx.home1 = &model.Project{Kind: model.ProjectPersonal, Name: "Haus Becker", Manager: "Greta Becker"}
	fx.home2 = &model.Project{Kind: model.ProjectPersonal, Name: "Casa Rossi", Manager: "Luca Rossi"}
	for _, p := range []*model.Project{fx.comm2, fx.home1, fx.home2} {
		if err := st.CreateProject(ctx, p); err != nil {
			t.Fatal(err)
		}
	}
	add := func(list *[]string, d *model.Device) {
		if err := st.CreateDevice(ctx, d); err != nil {
			t.Fatalf("create %s: %v", d.MAC, err)
		}
		*list = append(*list, d.MAC)
		fx.byMAC[d.MAC] = d
	}
	// The community of the tree's branch already holds "Gate inst-a1".
	fx.commMACs = []string{tr.a1.device.MAC}
	fx.byMAC[tr.a1.device.MAC] = tr.a1.device
	// Each test has a database of its own: the MACs may be constants.
	add(&fx.commMACs, &model.Device{MAC: "A4:B2:C3:D4:E5:01", ProjectID: fx.comm.ID, BuildingID: tr.a1.building.ID,
		Type: model.DoorPhone, Model: "R29", Name: "Entrance A", SIP: "8801001"})
	add(&fx.commMACs, &model.Device{MAC: "a4-b2-c3-d4-e5-02", ProjectID: fx.comm.ID, ApartmentID: tr.a1.apartment.ID,
		OwnerID: tr.a1.user.ID, Type: model.IndoorMonitor, Model: "C315", Name: "Monitor 101", SIP: "8801002"})
	add(&fx.commMACs, &model.Device{MAC: "C0FF12AB0010", ProjectID: fx.comm2.ID, Type: model.GuardPhone, Model: "R27",
		Name: "Guard Lodge", SIP: "8802001"})
	add(&fx.officeMACs, &model.Device{MAC: "D00D00000001", ProjectID: fx.office.ID, DepartmentID: tr.a1.dept.ID,
		Type: model.AccessControl, Model: "A05", Name: "Sales Door", SIP: "8803001"})
	add(&fx.homeMACs, &model.Device{MAC: "E0E0A0000001", ProjectID: fx.home1.ID, Type: model.DoorPhone, Model: "E16",
		Name: "Front Door", SIP: "8804001"})
	add(&fx.homeMACs, &model.Device{MAC: "E0E0A0000002", ProjectID: fx.home1.ID, Type: model.IndoorMonitor, Model: "C319",
		Name: "Kitchen Screen", SIP: "8804002"})
	add(&fx.homeMACs, &model.Device{MAC: "E0E1A0000003", ProjectID: fx.home2.ID, Type: model.DoorPhone, Model: "R20",
		Name: "Garden Gate", SIP: "8805001"})
	// The gateway fills status; here the test does.
	seen := base.Add(-time.Hour)
	if _, err := st.DB().Exec(rebind(st, `UPDATE devices SET online = true, last_seen = ? WHERE mac IN (?, ?)`),
		seen, fx.commMACs[1], fx.homeMACs[0]); err != nil {
		t.Fatal(err)
	}
	return fx
}

// rebind turns ? into $n for PostgreSQL, for the tests' own SQL.
func rebind(st *store.Store, q string) string {
	if st.Dialect() != store.Postgres {
		return q
	}
	var b strings.Builder
	n := 0
	for _, r := range q {
		if r == '?' {
			n++
			fmt.Fprintf(&b, "$%d", n)
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

func TestDeviceListFilters(t *testing.T) {
	eachBackend(t, func(t *testing.T, st *store.Store) {
		fx := mustDevFixture(t, st)
		sub := as(fx.tr.subA1)
		C, O, P := model.ProjectCommunity, model.ProjectOffice, model.ProjectPersonal
		yes, no := true, false
		m := fx.commMACs // [gate, entrance, monitor, guard]
		h := fx.homeMACs // [front door, kitchen, garden gate]
		cases := []struct {
			name string
			f    model.DeviceFilter
			want []string // newest first
		}{
			{"community", model.DeviceFilter{Scope: C}, []string{m[3], m[2], m[1], m[0]}},
			{"office", model.DeviceFilter{Scope: O}, fx.officeMACs},
			{"personal", model.DeviceFilter{Scope: P}, []string{h[2], h[1], h[0]}},
			{"mac exact, colons", model.DeviceFilter{Scope: C, MAC: colonMAC(m[1])}, []string{m[1]}},
			{"mac exact, lower case dashes", model.DeviceFilter{Scope: C, MAC: strings.ToLower(strings.ReplaceAll(colonMAC(m[2]), ":", "-"))}, []string{m[2]}},
			{"mac prefix", model.DeviceFilter{Scope: C, MAC: "a4:b2"}, []string{m[2], m[1]}},
			{"mac suffix", model.DeviceFilter{Scope: C, MAC: m[2][6:]}, []string{m[2]}},
			{"mac middle", model.DeviceFilter{Scope: C, MAC: m[3][2:9]}, []string{m[3]}},
			{"mac two digits", model.DeviceFilter{Scope: P, MAC: "e1"}, []string{h[2]}},
			{"mac one digit", model.DeviceFilter{Scope: O, MAC: "d"}, fx.officeMACs},
			{"mac of another scope", model.DeviceFilter{Scope: C, MAC: fx.officeMACs[0]}, nil},
			{"sip exact", model.DeviceFilter{Scope: C, SIP: "8801002"}, []string{m[2]}},
			{"sip prefix", model.DeviceFilter{Scope: C, SIP: "88010"}, []string{m[2], m[1]}},
			{"sip is a prefix, not contains", model.DeviceFilter{Scope: C, SIP: "1002"}, nil},
			{"community", model.DeviceFilter{Scope: C, Community: "riverside"}, []string{m[3]}},
			{"community of the branch", model.DeviceFilter{Scope: C, Community: "INST-A1 gard"}, []string{m[2], m[1], m[0]}},
			{"community manager", model.DeviceFilter{Scope: C, Manager: "ortega"}, []string{m[3]}},
			{"community and manager", model.DeviceFilter{Scope: C, Community: "riverside", Manager: "mgr"}, nil},
			{"office", model.DeviceFilter{Scope: O, Office: "offices"}, fx.officeMACs},
			{"office manager none", model.DeviceFilter{Scope: O, Manager: "nobody"}, nil},
			{"device name", model.DeviceFilter{Scope: P, Name: "DOOR"}, []string{h[0]}},
			{"device name, two letters", model.DeviceFilter{Scope: P, Name: "ga"}, []string{h[2]}},
			{"single-tenant manager", model.DeviceFilter{Scope: P, Manager: "becker"}, []string{h[1], h[0]}},
			{"personal sip", model.DeviceFilter{Scope: P, SIP: "88050"}, []string{h[2]}},
			{"online", model.DeviceFilter{Scope: C, Online: &yes}, []string{m[1]}},
			{"offline", model.DeviceFilter{Scope: C, Online: &no}, []string{m[3], m[2], m[0]}},
			{"offline and mac", model.DeviceFilter{Scope: C, Online: &no, MAC: "A4B2"}, []string{m[2]}},
			{"name and sip and manager", model.DeviceFilter{Scope: P, Name: "screen", SIP: "8804", Manager: "greta"}, []string{h[1]}},
			{"wildcards are text", model.DeviceFilter{Scope: P, Name: "%"}, nil},
		}
		for _, c := range cases {
			got := macsOf(allDevices(t, st, sub, c.f))
			if c.want == nil {
				c.want = []string{}
			}
			if !slices.Equal(got, c.want) {
				t.Errorf("%s: got %v, want %v", c.name, got, c.want)
			}
		}
		// The rows carry what the columns show.
		rows := allDevices(t, st, sub, model.DeviceFilter{Scope: C, MAC: m[1]})
		r := rows[0]
		if r.Project != fx.comm.Name || r.Manager != fx.comm.Manager || r.Installer != fx.inst.Username || r.Location != "A" ||
			r.Model != "R29" || r.SIP != "8801001" || r.Type != model.DoorPhone || !r.Online || r.LastSeen == nil {
			t.Errorf("row: %+v", r)
		}
		// Paging.
		l, err := st.ListDevices(sub, model.DeviceFilter{Scope: C, Page: model.Page{Page: 2, PerPage: 3}})
		if err != nil || l.Total != 4 || !slices.Equal(macsOf(l.Items), []string{m[0]}) {
			t.Errorf("page 2 of 3: %v %d %v", err, l.Total, macsOf(l.Items))
		}
		l, err = st.ListDevices(sub, model.DeviceFilter{Scope: C, Page: model.Page{Page: 3, PerPage: 3}})
		if err != nil || l.Total != 4 || len(l.Items) != 0 {
			t.Errorf("past the end: %v %d %v", err, l.Total, macsOf(l.Items))
		}
	})
}

func colonMAC(mac string) string {
	var parts []string
	for i := 0; i < 12; i += 2 {
		parts = append(parts, mac[i:i+2])
	}
	return strings.Join(parts, ":")
}

// TestDeviceListSorts: every visible column sorts both ways, the id
// breaking ties so that pages never overlap.
func TestDeviceListSorts(t *testing.T) {
	eachBackend(t, func(t *testing.T, st *store.Store) {
		fx := mustDevFixture(t, st)
		sub := as(fx.tr.subA1)
		all := allDevices(t, st, sub, model.DeviceFilter{Scope: model.ProjectCommunity})
		key := func(col string, r *model.DeviceRow) string {
			switch col {
			case "status":
				s := "0"
				if r.Online {
					s = "1"
				}
				if r.LastSeen != nil {
					s += r.LastSeen.UTC().Format(time.RFC3339Nano)
				}
				return s
			case "name":
				return r.Name
			case "mac":
				return r.MAC
			case "sip":
				return r.SIP
			case "type":
				return string(r.Type)
			case "model":
				return r.Model
			case "firmware":
				return r.Firmware
			case "project":
				return r.Project
			case "location":
				return r.Location
			case "installer":
				return r.Installer
			case "manager":
				return r.Manager
			}
			return r.Created.UTC().Format(time.RFC3339Nano)
		}
		for _, col := range model.DeviceSortColumns {
			for _, order := range []string{"asc", "desc"} {
				got := allDevices(t, st, sub, model.DeviceFilter{Scope: model.ProjectCommunity, Sort: col, Order: order})
				if len(got) != len(all) {
					t.Fatalf("sort %s %s: %d rows, want %d", col, order, len(got), len(all))
				}
				sorted := sort.SliceIsSorted(got, func(i, j int) bool {
					if order == "desc" {
						return key(col, got[i]) > key(col, got[j])
					}
					return key(col, got[i]) < key(col, got[j])
				})
				if !sorted {
					var keys []string
					for _, r := range got {
						keys = append(keys, key(col, r))
					}
					t.Errorf("sort %s %s: %q", col, order, keys)
				}
			}
		}
		// Pages of a sort with ties (two devices of one project) hold every
		// device once.
		var paged []string
		for p := 1; p <= 4; p++ {
			l, err := st.ListDevices(sub, model.DeviceFilter{Scope: model.ProjectCommunity, Sort: "project", Page: model.Page{Page: p, PerPage: 1}})
			if err != nil {
				t.Fatal(err)
			}
			paged = append(paged, macsOf(l.Items)...)
		}
		slices.Sort(paged)
		want := macsOf(all)
		slices.Sort(want)
		if !slices.Equal(paged, want) {
			t.Errorf("paged by project: %v, want %v", paged, want)
		}
	})
}

func TestDeviceFilterValidation(t *testing.T) {
	eachBackend(t, func(t *testing.T, st *store.Store) {
		fx := mustDevFixture(t, st)
		sub := as(fx.tr.subA1)
		for _, c := range []struct {
			f     model.DeviceFilter
			field string
		}{
			{model.DeviceFilter{}, "scope"},
			{model.DeviceFilter{Scope: "villa"}, "scope"},
			{model.DeviceFilter{Scope: model.ProjectCommunity, MAC: "0C:11:05:XY"}, "mac"},
			{model.DeviceFilter{Scope: model.ProjectCommunity, MAC: "0C1105AABBCC00"}, "mac"},
			{model.DeviceFilter{Scope: model.ProjectCommunity, MAC: "::"}, "mac"},
			{model.DeviceFilter{Scope: model.ProjectCommunity, Office: "x"}, "office"},
			{model.DeviceFilter{Scope: model.ProjectOffice, Community: "x"}, "community"},
			{model.DeviceFilter{Scope: model.ProjectPersonal, Name: strings.Repeat("n", 65)}, "name"},
			{model.DeviceFilter{Scope: model.ProjectPersonal, Manager: "a\x00b"}, "manager"},
			{model.DeviceFilter{Scope: model.ProjectCommunity, Sort: "owner"}, "sort"},
			{model.DeviceFilter{Scope: model.ProjectCommunity, Order: "up"}, "order"},
		} {
			_, err := st.ListDevices(sub, c.f)
			if model.ErrorCode(err) != model.EINVALID || model.ErrorFields(err)[c.field] == "" {
				t.Errorf("%+v: want invalid %s, got %v", c.f, c.field, err)
			}
		}
	})
}

// TestDeviceListCapped: past 10,000 matches the count stops, the pages go
// on in order, the sorts an index serves still work and the others are
// refused naming the field.
func TestDeviceListCapped(t *testing.T) {
	eachBackend(t, func(t *testing.T, st *store.Store) {
		fx := mustDevFixture(t, st)
		sub := as(fx.tr.subA1)
		first, err := st.MaxID(sys, "devices")
		if err != nil {
			t.Fatal(err)
		}
		// Bulk rows without the list columns: the database fills them.
		const n = store.DeviceCountCap + 40
		old := time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)
		rows := make([][]any, 0, n)
		for i := 0; i < n; i++ {
			online := i%3 == 0
			rows = append(rows, []any{first + 1 + int64(i), fmt.Sprintf("F1%010X", first+int64(i)), fx.inst.ID, fx.comm2.ID,
				model.IndoorMonitor, fmt.Sprintf("M%02d", i%7), fmt.Sprintf("Bulk %05d", i), fmt.Sprintf("9%08d", i), online,
				old.Add(time.Duration(i) * time.Second)})
		}
		if err := st.BulkInsert(sys, "devices", []string{"id", "mac", "installer_id", "project_id", "type", "model", "name", "sip",
			"online", "created_at"}, rows); err != nil {
			t.Fatal(err)
		}
		var blank int
		if err := st.DB().QueryRow(`SELECT count(*) FROM devices WHERE project_kind <> 'community' AND project_id = ` + fmt.Sprint(fx.comm2.ID)).Scan(&blank); err != nil || blank != 0 {
			t.Fatalf("bulk rows without their kind: %d %v", blank, err)
		}
		page := model.Page{Page: 1, PerPage: 50}
		l, err := st.ListDevices(sub, model.DeviceFilter{Scope: model.ProjectCommunity, Page: page})
		if err != nil || l.Total != store.DeviceCountCap+1 || len(l.Items) != 50 || l.Items[0].MAC != fx.commMACs[3] {
			t.Fatalf("capped list: %v total %d items %d first %v", err, l.Total, len(l.Items), macsOf(l.Items[:1]))
		}
		// The last page lies past the 10,000 counted and still reads: the
		// oldest bulk devices, and the fixture's own before them.
		total := n + len(fx.commMACs)
		last, err := st.ListDevices(sub, model.DeviceFilter{Scope: model.ProjectCommunity, Page: model.Page{Page: (total + 49) / 50, PerPage: 50}})
		if err != nil || len(last.Items) != total-(total-1)/50*50 || last.Items[len(last.Items)-1].Name != "Bulk 00000" {
			t.Errorf("last page: %v %d items", err, len(last.Items))
		}
		// The walks: by MAC, SIP, project, manager and installer, both ways.
		// Binary order: "0C…" < "A4…" < "C0…" < "F1…"; the gate has no SIP;
		// "Riverside Towers" < "inst-a1 Gardens"; "Mgr inst-a1" < "Quinn Ortega".
		m := fx.commMACs
		newestBulk, oldestBulk := fmt.Sprintf("F1%010X", first+n-1), fmt.Sprintf("F1%010X", first)
		for _, c := range []struct {
			sort, order string
			first       []string
		}{
			{"mac", "asc", []string{m[0], m[1], m[2], m[3], oldestBulk}},
			{"mac", "desc", []string{newestBulk}},
			{"sip", "asc", []string{m[0], m[1], m[2], m[3], oldestBulk}},
			{"sip", "desc", []string{newestBulk}},
			{"project", "asc", []string{m[3], newestBulk}},
			{"project", "desc", []string{m[2], m[1], m[0], m[3], newestBulk}},
			{"manager", "asc", []string{m[2], m[1], m[0], m[3], newestBulk}},
			{"manager", "desc", []string{m[3], newestBulk}},
			{"installer", "asc", []string{m[3], m[2], m[1], m[0], newestBulk}},
			{"created_at", "asc", []string{oldestBulk}},
		} {
			l, err := st.ListDevices(sub, model.DeviceFilter{Scope: model.ProjectCommunity, Sort: c.sort, Order: c.order, Page: page})
			if err != nil || len(l.Items) != 50 || l.Total != store.DeviceCountCap+1 {
				t.Errorf("walk %s %s: %v %d items", c.sort, c.order, err, len(l.Items))
				continue
			}
			if got := macsOf(l.Items[:len(c.first)]); !slices.Equal(got, c.first) {
				t.Errorf("walk %s %s starts with %v, want %v", c.sort, c.order, got, c.first)
			}
			// The second page goes on where the first stopped.
			next, err := st.ListDevices(sub, model.DeviceFilter{Scope: model.ProjectCommunity, Sort: c.sort, Order: c.order,
				Page: model.Page{Page: 2, PerPage: 25}})
			if err != nil || !slices.Equal(macsOf(next.Items), macsOf(l.Items[25:])) {
				t.Errorf("walk %s %s, page 2 of 25: %v %v", c.sort, c.order, err, macsOf(next.Items))
			}
		}
		// Columns no index orders: refused on the long list, fine once narrowed.
		for _, col := range []string{"status", "name", "type", "model", "firmware", "location"} {
			_, err := st.ListDevices(sub, model.DeviceFilter{Scope: model.ProjectCommunity, Sort: col, Page: page})
			if model.ErrorCode(err) != model.EINVALID || !strings.Contains(model.ErrorFields(err)["sort"], "10,000") {
				t.Errorf("sort %s of a long list: %v", col, err)
			}
			l, err := st.ListDevices(sub, model.DeviceFilter{Scope: model.ProjectCommunity, Community: "gardens", Sort: col, Page: page})
			if err != nil || l.Total != 3 {
				t.Errorf("sort %s of a short list: %v %d", col, err, l.Total)
			}
		}
		// Dense and sparse searches on the long list.
		for _, c := range []struct {
			f    model.DeviceFilter
			want int
		}{
			{model.DeviceFilter{Scope: model.ProjectCommunity, MAC: "F1"}, store.DeviceCountCap + 1},
			{model.DeviceFilter{Scope: model.ProjectCommunity, MAC: fmt.Sprintf("%010X", first+7)}, 1},
			{model.DeviceFilter{Scope: model.ProjectCommunity, SIP: "90000123"}, 10},
			{model.DeviceFilter{Scope: model.ProjectCommunity, SIP: "9"}, store.DeviceCountCap + 1},
			{model.DeviceFilter{Scope: model.ProjectCommunity, Community: "riverside", Online: ptr(true)}, (n+2)/3 + 0},
			{model.DeviceFilter{Scope: model.ProjectCommunity, Community: "riverside", Online: ptr(false)}, n - (n+2)/3 + 1},
			{model.DeviceFilter{Scope: model.ProjectCommunity, Community: "riverside"}, store.DeviceCountCap + 1},
			{model.DeviceFilter{Scope: model.ProjectCommunity, Manager: "quinn", SIP: "90000"}, 10000},
		} {
			c.f.Page = page
			l, err := st.ListDevices(sub, c.f)
			if err != nil || l.Total != c.want {
				t.Errorf("%+v: %v total %d, want %d", c.f, err, l.Total, c.want)
			}
		}
		// Other sub-distributors see none of it.
		l, err = st.ListDevices(as(fx.tr.subA2), model.DeviceFilter{Scope: model.ProjectCommunity, MAC: "F1", Page: page})
		if err != nil || l.Total != 0 {
			t.Errorf("sub-a2 sees %d bulk devices: %v", l.Total, err)
		}
	})
}

func ptr[T any](v T) *T { return &v }

// TestDeviceDetailAndDelete: the detail holds the owner chain and the
// device's audit entries; a batch delete is all or nothing, audited, and
// frees the MACs.
func TestDeviceDetailAndDelete(t *testing.T) {
	eachBackend(t, func(t *testing.T, st *store.Store) {
		fx := mustDevFixture(t, st)
		sub := as(fx.tr.subA1)
		m := fx.commMACs
		d, err := st.GetDeviceDetail(sub, colonMAC(m[2]))
		if err != nil {
			t.Fatal(err)
		}
		var kinds []string
		for _, l := range d.Chain {
			kinds = append(kinds, l.Kind+":"+l.Name)
		}
		want := []string{"end_user:" + fx.tr.a1.user.Name, "apartment:A-101", "building:A", "community:" + fx.comm.Name,
			"installer:" + fx.inst.Username}
		if !slices.Equal(kinds, want) {
			t.Errorf("chain: %q, want %q", kinds, want)
		}
		if d.Apartment != "A-101" || d.Building != "A" || d.Owner != fx.tr.a1.user.Name || d.InstallerUsername != fx.inst.Username ||
			d.InstallerEmail == "" || len(d.Audit) != 1 || d.Audit[0].Action != "device.create" {
			t.Errorf("detail: %+v audit %+v", d, d.Audit)
		}
		home, err := st.GetDeviceDetail(sub, fx.homeMACs[0])
		if err != nil || len(home.Chain) != 2 || home.Chain[0].Kind != "home" || home.Chain[0].Name != "Haus Becker" {
			t.Errorf("home chain: %v %+v", err, home)
		}
		office, err := st.GetDeviceDetail(sub, fx.officeMACs[0])
		if err != nil || office.Department != "Sales" || office.Chain[0].Kind != "department" || office.Chain[1].Kind != "office" {
			t.Errorf("office chain: %v %+v", err, office)
		}
		if _, err := st.GetDeviceDetail(as(fx.tr.subB), m[2]); model.ErrorCode(err) != model.ENOTFOUND {
			t.Errorf("another tenant's detail: %v", err)
		}
		if _, err := st.GetDeviceDetail(sub, "not-a-mac"); model.ErrorCode(err) != model.ENOTFOUND {
			t.Errorf("not a MAC: %v", err)
		}

		// All or nothing: one foreign MAC refuses the batch, naming it.
		foreign := fx.tr.b.device.MAC
		err = st.DeleteDevices(sub, []string{m[1], strings.ToLower(colonMAC(foreign)), m[2]})
		if model.ErrorCode(err) != model.ENOTFOUND || !strings.Contains(model.ErrorFields(err)["macs"], foreign) {
			t.Fatalf("batch with a foreign MAC: %v", err)
		}
		if got := allDevices(t, st, sub, model.DeviceFilter{Scope: model.ProjectCommunity}); len(got) != 4 {
			t.Errorf("after the refused batch %d devices remain, want 4", len(got))
		}
		if _, err := st.GetDevice(sys, foreign); err != nil {
			t.Errorf("the foreign device: %v", err)
		}
		if err := st.DeleteDevices(sub, []string{m[1], "zz"}); model.ErrorCode(err) != model.ENOTFOUND {
			t.Errorf("batch with a non-MAC: %v", err)
		}
		if err := st.DeleteDevices(sub, nil); model.ErrorCode(err) != model.EINVALID {
			t.Errorf("empty batch: %v", err)
		}
		many := make([]string, model.MaxDeviceBatch+1)
		for i := range many {
			many[i] = fmt.Sprintf("0C11059%05X", i)
		}
		if err := st.DeleteDevices(sub, many); model.ErrorCode(err) != model.EINVALID || model.ErrorFields(err)["macs"] == "" {
			t.Errorf("501 MACs: %v", err)
		}
		// A batch in any notation, with a MAC twice.
		if err := st.DeleteDevices(sub, []string{colonMAC(m[1]), strings.ToLower(m[2]), m[1], fx.homeMACs[2]}); err != nil {
			t.Fatal(err)
		}
		if got := macsOf(allDevices(t, st, sub, model.DeviceFilter{Scope: model.ProjectCommunity})); !slices.Equal(got, []string{m[3], m[0]}) {
			t.Errorf("after the batch: %v", got)
		}
		audit, err := st.ListAudit(sub, model.AuditFilter{Action: "device.delete", Page: model.Page{Page: 1, PerPage: 50}})
		if err != nil || audit.Total != 3 {
			t.Errorf("delete audit: %v %d", err, audit.Total)
		}
		// The MACs are free again: the installer adds one back.
		again := &model.Device{MAC: m[1], ProjectID: fx.comm.ID, Type: model.DoorPhone}
		if err := st.CreateDevice(as(fx.inst), again); err != nil {
			t.Errorf("re-adding a deleted MAC: %v", err)
		}
		if d, err := st.GetDeviceDetail(sub, m[1]); err != nil || len(d.Audit) != 3 {
			// create, delete, create again
			t.Errorf("re-added device: %v, %d audit entries", err, len(d.Audit))
		}
		// A single delete goes the same way.
		if err := st.DeleteDevice(sub, m[1]); err != nil {
			t.Fatal(err)
		}
		if _, err := st.GetDeviceDetail(sub, m[1]); model.ErrorCode(err) != model.ENOTFOUND {
			t.Errorf("after delete: %v", err)
		}
	})
}

// TestDeviceListColumnsStayRight: a device moved to a project of another
// kind changes lists; the demo loader fills the list columns as the store
// does.
func TestDeviceListColumnsStayRight(t *testing.T) {
	eachBackend(t, func(t *testing.T, st *store.Store) {
		fx := mustDevFixture(t, st)
		sub := as(fx.tr.subA1)
		mac := fx.commMACs[3]
		if err := st.UpdateDevice(as(fx.inst), mac, func(d *model.Device) error {
			d.ProjectID, d.BuildingID, d.ApartmentID, d.OwnerID = fx.office.ID, 0, 0, 0
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		if got := macsOf(allDevices(t, st, sub, model.DeviceFilter{Scope: model.ProjectOffice})); !slices.Contains(got, mac) {
			t.Errorf("moved device not in the office list: %v", got)
		}
		if got := macsOf(allDevices(t, st, sub, model.DeviceFilter{Scope: model.ProjectCommunity})); slices.Contains(got, mac) {
			t.Errorf("moved device still in the community list: %v", got)
		}
	})
}

func TestDemoFillsDeviceListColumns(t *testing.T) {
	eachBackend(t, func(t *testing.T, st *store.Store) {
		if _, err := demo.Load(context.Background(), st, demo.Options{Password: "x", Users: 200, Devices: 300, Seed: 3}, io.Discard); err != nil {
			t.Fatal(err)
		}
		var n, wrong int
		if err := st.DB().QueryRow(`SELECT count(*), sum(CASE WHEN d.project_kind = p.kind AND d.subdistributor_id = a.subdistributor_id
			AND d.distributor_id = a.distributor_id THEN 0 ELSE 1 END)
			FROM devices d JOIN projects p ON p.id = d.project_id JOIN accounts a ON a.id = d.installer_id`).Scan(&n, &wrong); err != nil {
			t.Fatal(err)
		}
		if n < 300 || wrong != 0 {
			t.Errorf("%d demo devices, %d with wrong list columns", n, wrong)
		}
	})
}
