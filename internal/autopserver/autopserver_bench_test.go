package autopserver_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/autopserver"
	"github.com/gatehouse-dev/gatehouse/internal/model"
	"github.com/gatehouse-dev/gatehouse/internal/store"
	"github.com/gatehouse-dev/gatehouse/internal/testutil"
)

// autopBenchDevices is how many devices the benchmark's store holds, each
// with an enrolled key and a few AutoP lines.
const autopBenchDevices = 300

type benchDevice struct{ mac, key string }

// benchStore is a SQLite store with autopBenchDevices devices under one
// installer, each with its key enrolled.
func benchStore(b testing.TB) (*store.Store, []benchDevice) {
	b.Helper()
	st := testutil.NewStore(b, "sqlite")
	sys := model.WithActor(context.Background(), model.System)
	account := func(role model.Role, name string, parent *model.Account) *model.Account {
		a := &model.Account{Role: role, Username: name, Email: name + "@example.com"}
		if parent != nil {
			a.ParentID = parent.ID
		}
		if err := st.CreateAccount(sys, a, "x"); err != nil {
			b.Fatal(err)
		}
		return a
	}
	admin := account(model.RoleAdmin, "root", nil)
	dist := account(model.RoleDistributor, "dist", admin)
	sub := account(model.RoleSubdistributor, "sub", dist)
	inst := account(model.RoleInstaller, "inst", sub)
	ctx := model.WithActor(context.Background(), model.ActorOf(inst))
	p := &model.Project{Kind: model.ProjectCommunity, Name: "Gardens", Manager: "Mgr"}
	if err := st.CreateProject(ctx, p); err != nil {
		b.Fatal(err)
	}
	devs := make([]benchDevice, autopBenchDevices)
	keys := map[string]string{}
	for i := range devs {
		d := &model.Device{MAC: fmt.Sprintf("0C1105%06X", i+1), ProjectID: p.ID, Type: model.DoorPhone, Name: fmt.Sprintf("Gate %d", i)}
		if err := st.CreateDevice(ctx, d); err != nil {
			b.Fatal(err)
		}
		devs[i] = benchDevice{mac: d.MAC, key: fmt.Sprintf("%s-%032d", strings.Repeat("k", 8), i)}
		keys[d.MAC] = devs[i].key
		if _, err := st.SetDeviceAutoP(ctx, d.MAC, []string{"Config.DoorSetting.RELAY.HoldDelayA = 5", "Config.Account1.GENERAL.Label = Gate"}, nil); err != nil {
			b.Fatal(err)
		}
	}
	if _, err := st.EnrollDeviceKeys(sys, keys); err != nil {
		b.Fatal(err)
	}
	return st, devs
}

func benchHandler(b testing.TB) (http.Handler, *autopserver.Server, []benchDevice) {
	st, devs := benchStore(b)
	srv := autopserver.New(st, slog.New(slog.NewTextHandler(io.Discard, nil)), true, nil)
	b.Cleanup(func() { srv.Close(context.Background()) })
	mux := http.NewServeMux()
	mux.Handle("GET /autop/{file}", srv)
	return mux, srv, devs
}

// BenchmarkAutoPCachedFetch: a device fetches its cached file through the
// real handler (the route's mux included), as a device with its key does.
func BenchmarkAutoPCachedFetch(b *testing.B) {
	h, _, devs := benchHandler(b)
	reqs := make([]*http.Request, len(devs))
	for i, d := range devs {
		r := httptest.NewRequest(http.MethodGet, "/autop/"+d.mac+".cfg", nil)
		r.SetBasicAuth(d.mac, d.key)
		reqs[i] = r
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r) // warm the cache
		if w.Code != http.StatusOK {
			b.Fatalf("%s: %d %s", d.mac, w.Code, w.Body)
		}
	}
	w := &discardWriter{h: http.Header{}}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		clear(w.h)
		w.code = 0
		h.ServeHTTP(w, reqs[i%len(reqs)])
		if w.code != http.StatusOK {
			b.Fatalf("status %d", w.code)
		}
	}
}

// BenchmarkAutoPCachedFetchHTTP: the same over a real listener with a
// keep-alive client (the server's whole cost, the client's included).
func BenchmarkAutoPCachedFetchHTTP(b *testing.B) {
	h, _, devs := benchHandler(b)
	ts := httptest.NewServer(h)
	b.Cleanup(ts.Close)
	c := ts.Client()
	get := func(d benchDevice) int {
		r, _ := http.NewRequest(http.MethodGet, ts.URL+"/autop/"+d.mac+".cfg", nil)
		r.SetBasicAuth(d.mac, d.key)
		resp, err := c.Do(r)
		if err != nil {
			b.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode
	}
	for _, d := range devs {
		if code := get(d); code != http.StatusOK {
			b.Fatalf("%s: %d", d.mac, code)
		}
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if code := get(devs[i%len(devs)]); code != http.StatusOK {
			b.Fatalf("status %d", code)
		}
	}
}

// discardWriter is a ResponseWriter that keeps only the status and the
// headers, so that the figures are the handler's own.
type discardWriter struct {
	h    http.Header
	code int
}

func (w *discardWriter) Header() http.Header { return w.h }
func (w *discardWriter) WriteHeader(code int) {
	if w.code == 0 {
		w.code = code
	}
}
func (w *discardWriter) Write(p []byte) (int, error) {
	if w.code == 0 {
		w.code = http.StatusOK
	}
	return len(p), nil
}
