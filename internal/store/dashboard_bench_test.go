package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/demo"
	"github.com/gatehouse-dev/gatehouse/internal/store"
)

// BenchmarkDashboard times the dashboard's read for each level of the tree
// (the summaries' sums plus the live rollouts and failed commands), and
// one recompute, reporting the median and 95th percentile. At a million
// devices, on an existing demo database (see BenchmarkDeviceLists):
//
//	GATEHOUSE_BENCH_DEVICES_DB=/tmp/gh1m/gatehouse.db \
//	  go test -run '^$' -bench Dashboard -benchtime 300x ./internal/store/
func BenchmarkDashboard(b *testing.B) {
	eachBenchStore(b, "GATEHOUSE_BENCH_DEVICES_DB", func(b *testing.B, st *store.Store, backend string) {
		benchVacuum(b, st, backend, "devices, orders, end_users, device_commands")
		t0 := time.Now()
		if err := st.RecomputeDashboard(sys); err != nil {
			b.Fatal(err)
		}
		b.Logf("%s: first recompute %v", backend, time.Since(t0))
		for _, c := range []struct{ name, user string }{
			{"sub", demo.SubdistributorUser}, {"dist", demo.DistributorUser}, {"admin", demo.AdminUser}, {"inst", demo.InstallerUser},
		} {
			ctx := actorCtx(b, st, c.user)
			b.Run("read/"+c.name, func(b *testing.B) {
				var ds []time.Duration
				for b.Loop() {
					t0 := time.Now()
					if _, err := st.Dashboard(ctx); err != nil {
						b.Fatal(err)
					}
					ds = append(ds, time.Since(t0))
				}
				reportPercentiles(b, ds)
			})
		}
		b.Run("recompute", func(b *testing.B) {
			var ds []time.Duration
			for b.Loop() {
				t0 := time.Now()
				if err := st.RecomputeDashboard(context.WithoutCancel(sys)); err != nil {
					b.Fatal(err)
				}
				ds = append(ds, time.Since(t0))
			}
			reportPercentiles(b, ds)
		})
	})
}
