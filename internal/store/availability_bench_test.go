package store_test

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/demo"
	"github.com/gatehouse-dev/gatehouse/internal/model"
	"github.com/gatehouse-dev/gatehouse/internal/store"
)

// BenchmarkAvailability times, on a demo database, the recompute of the
// stored 7-day figure (the first run, which reads every device, and a
// steady one, which reads the devices with transitions in the window) and
// the lists sorted by availability at every level of the tree (first page
// of 50 with the count, and page 100), reporting the median and the 95th
// percentile. At a million devices:
//
//	gatehouse demo --data /tmp/gh1m --devices 1000000 --users 1000000 --password demo-password
//	GATEHOUSE_BENCH_DEVICES_DB=/tmp/gh1m/gatehouse.db \
//	  go test -run '^$' -bench Availability -benchtime 100x -timeout 60m ./internal/store/
//
// Before timing it gives GATEHOUSE_BENCH_AVAIL_SHARE percent (default 10)
// of the devices a week of history, 3 outages each, unless they have some.
func BenchmarkAvailability(b *testing.B) {
	eachBenchStore(b, "GATEHOUSE_BENCH_DEVICES_DB", func(b *testing.B, st *store.Store, backend string) {
		share := 10
		if v, err := strconv.Atoi(os.Getenv("GATEHOUSE_BENCH_AVAIL_SHARE")); err == nil && v > 0 && v <= 100 {
			share = v
		}
		benchAvailabilityHistory(b, st, share)
		benchVacuum(b, st, backend, "devices, device_availability")
		sys := model.WithActor(context.Background(), model.System)
		node := "bench" // a rerun renews the lease its last run took
		runs := []string{"first", "steady"}
		if os.Getenv("GATEHOUSE_BENCH_AVAIL_FIRST") == "0" {
			runs = runs[1:] // the last run's mark stays: a steady run only
			if _, err := st.DB().Exec(`UPDATE availability_leases SET node = '', until_at = NULL`); err != nil {
				b.Fatal(err)
			}
		}
		for _, run := range runs {
			if run == "first" {
				if _, err := st.DB().Exec(`DELETE FROM availability_leases`); err != nil {
					b.Fatal(err)
				}
			}
			if ok, err := st.LeaseAvailability(sys, node, time.Hour); err != nil || !ok {
				b.Fatal(ok, err)
			}
			t0 := time.Now()
			r, err := st.RecomputeAvailability(sys, node)
			if err != nil {
				b.Fatal(err)
			}
			took := time.Since(t0)
			b.Run("recompute-"+run, func(b *testing.B) {
				b.ReportMetric(took.Seconds(), "s")
				b.ReportMetric(float64(r.Devices), "devices")
				b.ReportMetric(float64(r.Changed), "changed")
			})
		}
		benchVacuum(b, st, backend, "devices")
		ctxs := map[string]context.Context{
			"sub":   actorCtx(b, st, demo.SubdistributorUser),
			"dist":  actorCtx(b, st, demo.DistributorUser),
			"admin": actorCtx(b, st, demo.AdminUser),
			"inst":  actorCtx(b, st, demo.InstallerUser),
		}
		for _, actor := range []string{"sub", "dist", "admin", "inst"} {
			for _, scope := range []model.ProjectKind{model.ProjectCommunity, model.ProjectPersonal} {
				for _, order := range []string{"asc", "desc"} {
					for _, page := range []int{1, 100} {
						f := model.DeviceFilter{Scope: scope, Sort: "availability", Order: order, Page: model.Page{Page: page, PerPage: 50}}
						ctx := ctxs[actor]
						if _, err := st.ListDevices(ctx, f); err != nil {
							b.Fatalf("%s %v: %v", actor, f, err)
						}
						b.Run(fmt.Sprintf("%s/%s/%s/page%d", actor, scope, order, page), func(b *testing.B) {
							var ds []time.Duration
							for b.Loop() {
								t0 := time.Now()
								if _, err := st.ListDevices(ctx, f); err != nil {
									b.Fatal(err)
								}
								ds = append(ds, time.Since(t0))
							}
							reportPercentiles(b, ds)
						})
					}
				}
			}
		}
	})
}

// benchAvailabilityHistory gives share percent of the devices (by id) a
// week of transitions: offline and back three times, for 1 to 12 hours.
func benchAvailabilityHistory(b *testing.B, st *store.Store, share int) {
	var have int
	now := time.Now().UTC()
	// Outages of the last week that ended a day ago or more (not the rows
	// an upgrade starts each device's history with).
	week := now.Add(-model.AvailabilityWindow).Format("2006-01-02 15:04:05")
	dayAgo := now.Add(-24 * time.Hour).Format("2006-01-02 15:04:05")
	if err := st.DB().QueryRow(`SELECT count(*) FROM (SELECT 1 FROM device_availability WHERE at >= '` + week +
		`' AND at < '` + dayAgo + `' AND online = false LIMIT 1000) c`).Scan(&have); err != nil {
		b.Fatal(err)
	}
	if have >= 1000 {
		return
	}
	rows, err := st.DB().Query(fmt.Sprintf(`SELECT id FROM devices WHERE id %% 100 < %d ORDER BY id`, share))
	if err != nil {
		b.Fatal(err)
	}
	var ids []int64
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			b.Fatal(err)
		}
		ids = append(ids, id)
	}
	rows.Close()
	t0 := time.Now()
	const per = 200 // devices a statement
	for start := 0; start < len(ids); start += per {
		var sb strings.Builder
		sb.WriteString(`INSERT INTO device_availability (device_id, at, online) VALUES `)
		for i, id := range ids[start:min(start+per, len(ids))] {
			for k := 0; k < 3; k++ {
				off := now.Add(-time.Duration(6-2*k)*24*time.Hour - time.Duration(id%24)*time.Hour)
				back := off.Add(time.Duration(1+(id+int64(k))%12) * time.Hour)
				if i > 0 || k > 0 {
					sb.WriteByte(',')
				}
				fmt.Fprintf(&sb, "(%d,'%s',false),(%d,'%s',true)", id, off.Format("2006-01-02 15:04:05.999999-07:00"),
					id, back.Format("2006-01-02 15:04:05.999999-07:00"))
			}
		}
		if _, err := st.DB().Exec(sb.String()); err != nil {
			b.Fatal(err)
		}
	}
	b.Logf("history: %d devices given 6 transitions each in %s", len(ids), time.Since(t0).Round(time.Millisecond))
}
