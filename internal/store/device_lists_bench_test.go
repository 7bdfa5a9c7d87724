package store_test

import (
	"context"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/demo"
	"github.com/gatehouse-dev/gatehouse/internal/model"
	"github.com/gatehouse-dev/gatehouse/internal/store"
)

// BenchmarkDeviceLists times the Project Device and Personal Device lists
// (first page of 50 with the capped count, unless a case says otherwise)
// for every filter, on the demo data set, and reports the median and the
// 95th percentile of the calls. At a million devices:
//
//	GATEHOUSE_BENCH_DEVICES=1000000 GATEHOUSE_BENCH_USERS=1000000 \
//	  go test -run '^$' -bench DeviceLists -benchtime 200x -timeout 60m ./internal/store/
//
// GATEHOUSE_BENCH_DEVICES_DB names an existing demo database (a copy of a
// SQLite file, or a postgres:// URL with search_path) to time instead of
// loading one; it is migrated first. GATEHOUSE_BENCH_FIRMWARE names a
// version many devices of that database run, timed as firmware-common/…. The API's own timings (HTTP, JSON,
// the portal page) are BenchmarkDevicesAPI in internal/server.
func BenchmarkDeviceLists(b *testing.B) {
	eachBenchStore(b, "GATEHOUSE_BENCH_DEVICES_DB", func(b *testing.B, st *store.Store, backend string) {
		benchVacuum(b, st, backend, "devices, projects, accounts")
		ctxs := map[string]context.Context{
			"sub":   actorCtx(b, st, demo.SubdistributorUser),
			"dist":  actorCtx(b, st, demo.DistributorUser),
			"admin": actorCtx(b, st, demo.AdminUser),
			"inst":  actorCtx(b, st, demo.InstallerUser),
		}
		for _, c := range deviceBenchCases(b, func(f model.DeviceFilter) (model.List[*model.DeviceRow], error) {
			return st.ListDevices(ctxs["sub"], f)
		}) {
			ctx := ctxs[c.Actor]
			f := c.Filter
			if f.Page.Page == 0 {
				f.Page = model.Page{Page: 1, PerPage: 50}
			}
			l, err := st.ListDevices(ctx, f)
			if err != nil {
				b.Fatalf("%s: %v", c.Name, err)
			}
			b.Run(c.Name, func(b *testing.B) {
				total := l.Total
				if total > store.DeviceCountCap {
					total = -1
				}
				var ds []time.Duration
				for b.Loop() {
					t0 := time.Now()
					if _, err := st.ListDevices(ctx, f); err != nil {
						b.Fatal(err)
					}
					ds = append(ds, time.Since(t0))
				}
				reportPercentiles(b, ds)
				b.ReportMetric(float64(total), "total")
			})
		}
		b.Run("GetDeviceDetail", func(b *testing.B) {
			l, _ := st.ListDevices(ctxs["sub"], model.DeviceFilter{Scope: model.ProjectCommunity, Page: model.Page{Page: 1, PerPage: 1}})
			var ds []time.Duration
			for b.Loop() {
				t0 := time.Now()
				if _, err := st.GetDeviceDetail(ctxs["sub"], l.Items[0].MAC); err != nil {
					b.Fatal(err)
				}
				ds = append(ds, time.Since(t0))
			}
			reportPercentiles(b, ds)
		})
	})
}

// reportPercentiles reports the median and the 95th percentile of ds in
// milliseconds.
func reportPercentiles(b *testing.B, ds []time.Duration) {
	if len(ds) == 0 {
		return
	}
	slices.Sort(ds)
	at := func(p float64) float64 {
		return float64(ds[min(len(ds)-1, int(p*float64(len(ds))))].Microseconds()) / 1000
	}
	b.ReportMetric(at(0.50), "p50-ms")
	b.ReportMetric(at(0.95), "p95-ms")
}

// deviceBenchCase is one timed list: who asks, and the filter.
type deviceBenchCase struct {
	Name   string
	Actor  string // sub, dist, admin, inst
	Filter model.DeviceFilter
}

// deviceBenchCases are the lists timed: every filter of the three lists
// with values sampled from the sub-distributor's own devices (list reads
// its lists), the sorts, a far page, and the other levels of the tree.
func deviceBenchCases(b testing.TB, list func(model.DeviceFilter) (model.List[*model.DeviceRow], error)) []deviceBenchCase {
	sample := func(k model.ProjectKind) *model.DeviceRow {
		l, err := list(model.DeviceFilter{Scope: k, Page: model.Page{Page: 3, PerPage: 50}})
		if err != nil || len(l.Items) == 0 {
			b.Fatalf("no %s devices: %v", k, err)
		}
		return l.Items[len(l.Items)/2]
	}
	comm, office, home := sample(model.ProjectCommunity), sample(model.ProjectOffice), sample(model.ProjectPersonal)
	colons := func(mac string) string {
		var parts []string
		for i := 0; i < 12; i += 2 {
			parts = append(parts, mac[i:i+2])
		}
		return strings.Join(parts, ":")
	}
	word := func(s string) string { return strings.Fields(s)[0] }
	last := func(s string) string { f := strings.Fields(s); return f[len(f)-1] }
	yes, no := true, false
	C, O, P := model.ProjectCommunity, model.ProjectOffice, model.ProjectPersonal
	var common []deviceBenchCase
	if v := os.Getenv("GATEHOUSE_BENCH_FIRMWARE"); v != "" {
		// A version many devices run (after a rollout): the firmware index
		// reads every device of it of the kind, for a caller with few.
		for _, who := range []string{"sub", "inst", "dist", "admin"} {
			common = append(common, deviceBenchCase{"firmware-common/" + who, who, model.DeviceFilter{Scope: C, Firmware: v}})
		}
	}
	return append(common, []deviceBenchCase{
		{"community", "sub", model.DeviceFilter{Scope: C}},
		{"office", "sub", model.DeviceFilter{Scope: O}},
		{"personal", "sub", model.DeviceFilter{Scope: P}},
		{"community/mac-full", "sub", model.DeviceFilter{Scope: C, MAC: colons(comm.MAC)}},
		{"community/mac-last6", "sub", model.DeviceFilter{Scope: C, MAC: colons(comm.MAC)[9:]}},
		{"community/mac-last4", "sub", model.DeviceFilter{Scope: C, MAC: strings.ToLower(comm.MAC[8:])}},
		{"community/mac-first8", "sub", model.DeviceFilter{Scope: C, MAC: colons(comm.MAC)[:11]}},
		{"community/mac-oui", "sub", model.DeviceFilter{Scope: C, MAC: "0C-11-05"}},
		{"community/mac-2digits", "sub", model.DeviceFilter{Scope: C, MAC: comm.MAC[10:]}},
		{"community/mac-none", "sub", model.DeviceFilter{Scope: C, MAC: "FFFFFF"}},
		{"community/sip-exact", "sub", model.DeviceFilter{Scope: C, SIP: comm.SIP}},
		{"community/sip-prefix", "sub", model.DeviceFilter{Scope: C, SIP: comm.SIP[:len(comm.SIP)-3]}},
		{"community/community", "sub", model.DeviceFilter{Scope: C, Community: comm.Project}},
		{"community/community-word", "sub", model.DeviceFilter{Scope: C, Community: word(comm.Project)}},
		{"community/community-suffix", "sub", model.DeviceFilter{Scope: C, Community: last(comm.Project)}},
		{"community/community-suffix+sort-project", "sub", model.DeviceFilter{Scope: C, Community: last(comm.Project), Sort: "project"}},
		{"community/manager", "sub", model.DeviceFilter{Scope: C, Manager: comm.Manager}},
		{"community/online", "sub", model.DeviceFilter{Scope: C, Online: &yes}},
		{"community/offline", "sub", model.DeviceFilter{Scope: C, Online: &no}},
		{"community/community+offline", "sub", model.DeviceFilter{Scope: C, Community: comm.Project, Online: &no}},
		{"community/page100", "sub", model.DeviceFilter{Scope: C, Page: model.Page{Page: 100, PerPage: 50}}},
		{"office/mac-last4", "sub", model.DeviceFilter{Scope: O, MAC: office.MAC[8:]}},
		{"office/sip-exact", "sub", model.DeviceFilter{Scope: O, SIP: office.SIP}},
		{"office/office", "sub", model.DeviceFilter{Scope: O, Office: office.Project}},
		{"office/manager", "sub", model.DeviceFilter{Scope: O, Manager: office.Manager}},
		{"office/offline", "sub", model.DeviceFilter{Scope: O, Online: &no}},
		{"personal/mac-last4", "sub", model.DeviceFilter{Scope: P, MAC: home.MAC[8:]}},
		{"personal/name", "sub", model.DeviceFilter{Scope: P, Name: home.Name}},
		{"personal/name-none", "sub", model.DeviceFilter{Scope: P, Name: "zzqx"}},
		{"personal/manager", "sub", model.DeviceFilter{Scope: P, Manager: home.Manager}},
		{"personal/manager-last-name", "sub", model.DeviceFilter{Scope: P, Manager: strings.Fields(home.Manager)[1]}},
		{"personal/sip-exact", "sub", model.DeviceFilter{Scope: P, SIP: home.SIP}},
		{"personal/offline", "sub", model.DeviceFilter{Scope: P, Online: &no}},
		{"sort/mac", "sub", model.DeviceFilter{Scope: C, Sort: "mac"}},
		{"sort/sip-desc", "sub", model.DeviceFilter{Scope: C, Sort: "sip", Order: "desc"}},
		{"sort/project", "sub", model.DeviceFilter{Scope: C, Sort: "project"}},
		{"sort/manager", "sub", model.DeviceFilter{Scope: P, Sort: "manager"}},
		{"sort/installer", "sub", model.DeviceFilter{Scope: C, Sort: "installer"}},
		{"sort/created-asc", "sub", model.DeviceFilter{Scope: O, Order: "asc"}},
		{"sort/model-narrowed", "sub", model.DeviceFilter{Scope: C, Community: comm.Project, Sort: "model"}},
		{"sort/status-narrowed", "sub", model.DeviceFilter{Scope: P, Manager: strings.Fields(home.Manager)[1], Sort: "status"}},
		{"installer/community", "inst", model.DeviceFilter{Scope: C}},
		{"installer/personal-mac-last4", "inst", model.DeviceFilter{Scope: P, MAC: home.MAC[8:]}},
		{"distributor/community", "dist", model.DeviceFilter{Scope: C}},
		{"distributor/mac-last4", "dist", model.DeviceFilter{Scope: C, MAC: comm.MAC[8:]}},
		{"admin/personal", "admin", model.DeviceFilter{Scope: P}},
		{"admin/mac-last4", "admin", model.DeviceFilter{Scope: C, MAC: comm.MAC[8:]}},
		{"admin/sip-exact", "admin", model.DeviceFilter{Scope: C, SIP: comm.SIP}},
		{"firmware/community", "sub", model.DeviceFilter{Scope: C, Firmware: comm.Firmware}},
		{"firmware/personal", "sub", model.DeviceFilter{Scope: P, Firmware: home.Firmware}},
		{"firmware/none", "sub", model.DeviceFilter{Scope: C, Firmware: "0.0.0.0"}},
		{"firmware/online", "sub", model.DeviceFilter{Scope: C, Firmware: comm.Firmware, Online: &yes}},
		{"firmware/mac-last4", "sub", model.DeviceFilter{Scope: C, Firmware: comm.Firmware, MAC: comm.MAC[8:]}},
		{"firmware/community-project", "sub", model.DeviceFilter{Scope: C, Firmware: comm.Firmware, Community: comm.Project}},
		{"firmware/sort-mac", "sub", model.DeviceFilter{Scope: C, Firmware: comm.Firmware, Sort: "mac"}},
		{"firmware/installer", "inst", model.DeviceFilter{Scope: C, Firmware: comm.Firmware}},
		{"firmware/distributor", "dist", model.DeviceFilter{Scope: C, Firmware: comm.Firmware}},
		{"firmware/admin", "admin", model.DeviceFilter{Scope: C, Firmware: comm.Firmware}},
		{"firmware/admin-none", "admin", model.DeviceFilter{Scope: C, Firmware: "0.0.0.0"}},
	}...)
}
