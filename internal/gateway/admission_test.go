package gateway_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/bus"
	"github.com/gatehouse-dev/gatehouse/internal/devicesim"
	"github.com/gatehouse-dev/gatehouse/internal/gateway"
	"github.com/gatehouse-dev/gatehouse/internal/testutil"
)

// A storm of connects larger than the node's bound on connects in progress
// is shed with 503 and a Retry-After — not timeouts, not 500s — and every
// device ends online, having waited as told; then a restart of the node
// brings them all back the same way.
func TestConnectStormIsShedThenServed(t *testing.T) {
	st := testutil.NewStore(t, "sqlite")
	const n = 300
	macs := benchDevices(t, st, n)
	g := gateway.New(st, bus.NewLocal(), slog.New(slog.NewTextHandler(io.Discard, nil)), gateway.Options{Node: "storm", MaxConnecting: 4})
	var serving atomic.Pointer[gateway.Gateway] // the node's current run
	serving.Store(g)
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { serving.Load().ServeHTTP(w, r) }))
	t.Cleanup(ts.Close)
	t.Cleanup(func() { serving.Load().Close() })

	// Short back-off windows: every wait longer than 100 ms comes from a
	// Retry-After.
	cfg := devicesim.Config{Server: ts.URL, MACs: macs, Backoff: 20 * time.Millisecond, BackoffMax: 100 * time.Millisecond,
		DialConcurrency: n}
	f, took := connectFleet(t, cfg)
	st1 := f.Stats()
	if g.Shed() == 0 || st1.Busy == 0 {
		t.Fatalf("a storm of %d connects against a bound of 4 shed none (gateway %d, simulator saw %d 503s)", n, g.Shed(), st1.Busy)
	}
	if st1.Failed != st1.Busy {
		t.Errorf("%d attempts failed, only %d of them with 503: the others timed out or met an error", st1.Failed, st1.Busy)
	}
	if g.Connected() != n {
		t.Errorf("the gateway holds %d devices, want %d", g.Connected(), n)
	}
	t.Logf("storm: %d connects shed, %d attempts for %d devices, all online in %v", g.Shed(), st1.Attempts, n, took.Round(time.Millisecond))
	start := time.Now()

	// The node restarts: every device comes back, shed as needed.
	if err := g.Close(); err != nil {
		t.Fatal(err)
	}
	down := time.Since(start)
	g2 := gateway.New(st, bus.NewLocal(), slog.New(slog.NewTextHandler(io.Discard, nil)), gateway.Options{Node: "storm", MaxConnecting: 4})
	serving.Store(g2)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	for f.Online() == n && ctx.Err() == nil {
		time.Sleep(10 * time.Millisecond)
	}
	if err := f.WaitOnline(ctx, n); err != nil {
		t.Fatalf("after the restart %d of %d devices online: %v", f.Online(), n, err)
	}
	t.Logf("restart: all online again after %v (shutdown %v); %d shed; simulator %+v", time.Since(start).Round(time.Millisecond),
		down.Round(time.Millisecond), g2.Shed(), f.Stats())
	var online int
	if err := st.DB().QueryRow(`SELECT count(*) FROM devices WHERE online = true AND node = 'storm'`).Scan(&online); err != nil {
		t.Fatal(err)
	}
	if online != n || g2.Connected() != n {
		t.Errorf("after the restart: store %d online, gateway %d; want %d", online, g2.Connected(), n)
	}
}

// A node shutting down tells the devices that still reach it when to come
// back (a restart takes seconds), spread over a few seconds: without a
// Retry-After their back-off grew on every attempt during the restart.
func TestShuttingDownNodeSaysWhenToComeBack(t *testing.T) {
	st := testutil.NewStore(t, "sqlite")
	g := gateway.New(st, bus.NewLocal(), slog.New(slog.NewTextHandler(io.Discard, nil)), gateway.Options{Node: "closing"})
	if err := g.Close(); err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for range 200 {
		req := httptest.NewRequest("GET", "/device/v1/connect", nil)
		req.SetBasicAuth("0C1105000001", "key")
		rec := httptest.NewRecorder()
		g.ServeHTTP(rec, req)
		if rec.Code != http.StatusServiceUnavailable {
			t.Fatalf("a closed node answered %d, want 503", rec.Code)
		}
		ra := rec.Header().Get("Retry-After")
		n, err := strconv.Atoi(ra)
		if err != nil || n < 2 || n > 6 {
			t.Fatalf("Retry-After %q, want 2 to 6 seconds", ra)
		}
		seen[ra] = true
	}
	if len(seen) < 3 {
		t.Errorf("200 devices turned away were all told one of %v: not spread", seen)
	}
}
