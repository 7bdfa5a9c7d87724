package server_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/auth"
	"github.com/gatehouse-dev/gatehouse/internal/demo"
	"github.com/gatehouse-dev/gatehouse/internal/mail"
	"github.com/gatehouse-dev/gatehouse/internal/server"
	"github.com/gatehouse-dev/gatehouse/internal/store"
)

// BenchmarkDashboardPage times the home page (the whole portal page: the
// dashboard and the module cards) and GET /api/v1/dashboard as a client
// sees them, for the demo sub-distributor, distributor, admin and
// installer, on an existing demo database after one recompute, and
// reports the median and the 95th percentile:
//
//	GATEHOUSE_BENCH_DEVICES_DB=/tmp/gh1m/gatehouse.db go test -run '^$' -bench DashboardPage -benchtime 300x ./internal/server/
//
// (or a postgres:// URL). Without the variable it runs on a small demo.
func BenchmarkDashboardPage(b *testing.B) {
	ctx := context.Background()
	dsn := os.Getenv("GATEHOUSE_BENCH_DEVICES_DB")
	var st *store.Store
	if dsn == "" {
		st = newEnv(b, "sqlite").st
	} else {
		var err error
		if st, err = store.Open(ctx, dsn); err != nil {
			b.Fatal(err)
		}
		defer st.Close()
	}
	t0 := time.Now()
	if err := st.RecomputeDashboard(sysCtx()); err != nil {
		b.Fatal(err)
	}
	b.Logf("recompute: %v", time.Since(t0))
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	au := &auth.Service{Store: st, Config: auth.DefaultConfig, Log: log}
	srv, err := server.New(server.Config{}, st, au, mail.NewOutbox(b.TempDir(), "bench@example.com"), log)
	if err != nil {
		b.Fatal(err)
	}
	ts := httptest.NewServer(srv.Handler())
	defer ts.Close()
	e := &env{t: b, st: st, srv: srv, ts: ts, url: ts.URL}
	for _, user := range []string{demo.SubdistributorUser, demo.DistributorUser, demo.AdminUser, demo.InstallerUser} {
		tok := e.token(user)
		jar, _ := cookiejar.New(nil)
		browser := noRedirect(jar)
		if r := e.form(browser, "/login", url.Values{"username": {user}, "password": {demoPassword}}); r.StatusCode != 303 {
			b.Fatalf("login: %d", r.StatusCode)
		}
		for _, c := range []struct {
			name, path string
			client     *http.Client
			hdr        []string
		}{
			{"page/" + user, "/", browser, nil},
			{"api/" + user, "/api/v1/dashboard", http.DefaultClient, []string{bearer(tok)}},
		} {
			b.Run(c.name, func(b *testing.B) {
				var ds []time.Duration
				for b.Loop() {
					t0 := time.Now()
					r := e.do(c.client, "GET", c.path, nil, c.hdr...)
					ds = append(ds, time.Since(t0))
					if r.StatusCode != 200 {
						b.Fatalf("%s: %d %.300s", c.path, r.StatusCode, r.body)
					}
				}
				slices.Sort(ds)
				at := func(p float64) float64 {
					return float64(ds[min(len(ds)-1, int(p*float64(len(ds))))].Microseconds()) / 1000
				}
				b.ReportMetric(at(0.50), "p50-ms")
				b.ReportMetric(at(0.95), "p95-ms")
			})
		}
	}
}
