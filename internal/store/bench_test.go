package store_test

import (
	"context"
	"fmt"
	"io"
	"os"
	"strconv"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/demo"
	"github.com/gatehouse-dev/gatehouse/internal/model"
	"github.com/gatehouse-dev/gatehouse/internal/store"
	"github.com/gatehouse-dev/gatehouse/internal/testutil"
)

// Benchmarks run on a demo data set; GATEHOUSE_BENCH_DEVICES and
// GATEHOUSE_BENCH_USERS size it (default 20,000 each).
//
//	go test -run '^$' -bench . ./internal/store/
func benchStore(b *testing.B, backend string) *store.Store {
	size := func(k string) int {
		if n, err := strconv.Atoi(os.Getenv(k)); err == nil && n > 0 {
			return n
		}
		return 20_000
	}
	st := testutil.NewStore(b, backend)
	if _, err := demo.Load(context.Background(), st, demo.Options{Password: "bench-password",
		Devices: size("GATEHOUSE_BENCH_DEVICES"), Users: size("GATEHOUSE_BENCH_USERS")}, io.Discard); err != nil {
		b.Fatal(err)
	}
	return st
}

func actorCtx(b *testing.B, st *store.Store, username string) context.Context {
	a, _, err := st.AccountForLogin(context.Background(), username)
	if err != nil {
		b.Fatal(err)
	}
	return model.WithActor(context.Background(), model.ActorOf(a))
}

func BenchmarkStore(b *testing.B) {
	for _, backend := range testutil.Backends(b) {
		b.Run(backend, func(b *testing.B) {
			st := benchStore(b, backend)
			sub := actorCtx(b, st, demo.SubdistributorUser)
			b.Run("ListFirmware/model", func(b *testing.B) {
				for b.Loop() {
					if _, err := st.ListFirmware(sub, model.FirmwareFilter{Model: "R2", Page: model.Page{Page: 1, PerPage: 50}}); err != nil {
						b.Fatal(err)
					}
				}
			})
			b.Run("ListAccounts/subdistributor", func(b *testing.B) {
				for b.Loop() {
					if _, err := st.ListAccounts(sub, model.AccountFilter{Role: model.RoleInstaller, Page: model.Page{Page: 1, PerPage: 50}}); err != nil {
						b.Fatal(err)
					}
				}
			})
			var n int
			b.Run("GetDevice/scoped", func(b *testing.B) {
				for b.Loop() {
					n++
					// Hits and misses: most demo MACs belong to other sub-distributors.
					_, err := st.GetDevice(sub, fmt.Sprintf("0C1105%06X", 1+n%5000))
					if err != nil && model.ErrorCode(err) != model.ENOTFOUND {
						b.Fatal(err)
					}
				}
			})
			b.Run("ListAudit/subdistributor", func(b *testing.B) {
				for b.Loop() {
					if _, err := st.ListAudit(sub, model.AuditFilter{Page: model.Page{Page: 1, PerPage: 50}}); err != nil {
						b.Fatal(err)
					}
				}
			})
		})
	}
}

// eachBenchStore runs fn on each store a list benchmark times: the existing
// demo database named by the environment variable env (a copy of a SQLite
// file, or a postgres:// URL with search_path; migrated first), or else a
// fresh demo on every back end.
func eachBenchStore(b *testing.B, env string, fn func(b *testing.B, st *store.Store, backend string)) {
	backends := testutil.Backends(b)
	dsn := os.Getenv(env)
	if dsn != "" {
		backends = []string{"sqlite"}
		if store.IsPostgresDSN(dsn) {
			backends = []string{"postgres"}
		}
	}
	for _, backend := range backends {
		b.Run(backend, func(b *testing.B) {
			if dsn == "" {
				fn(b, benchStore(b, backend), backend)
				return
			}
			st, err := store.Open(context.Background(), dsn)
			if err != nil {
				b.Fatal(err)
			}
			defer st.Close()
			if err := st.SetSecretKey(benchSecretKey(dsn)); err != nil {
				b.Fatal(err)
			}
			fn(b, st, backend)
		})
	}
}

// benchVacuum does on PostgreSQL what autovacuum would after a bulk load:
// without it the planner has no statistics and the tables no visibility map.
func benchVacuum(b *testing.B, st *store.Store, backend, tables string) {
	if backend != "postgres" {
		return
	}
	if _, err := st.DB().Exec(`VACUUM ANALYZE ` + tables); err != nil {
		b.Fatal(err)
	}
}
