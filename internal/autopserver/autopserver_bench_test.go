package autopserver_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

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

// BenchmarkAutoPFetchLoopback: cached fetches over keep-alive loopback
// connections (16 at once), the client a raw one (a request written, the answer read by
// its Content-Length), through the front door and through net/http alone —
// the server's whole cost per fetch, syscalls included, plus the client's.
func BenchmarkAutoPFetchLoopback(b *testing.B) {
	h, srv, devs := benchHandler(b)
	reqs := make([][]byte, len(devs))
	for i, d := range devs {
		reqs[i] = []byte("GET /autop/" + d.mac + ".cfg HTTP/1.1\r\nHost: gatehouse.example\r\nAuthorization: Basic " +
			base64.StdEncoding.EncodeToString([]byte(d.mac+":"+d.key)) + "\r\n\r\n")
	}
	listen := func() net.Listener {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			b.Fatal(err)
		}
		return ln
	}
	run := func(b *testing.B, ln net.Listener) {
		hs := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 120 * time.Second}
		go hs.Serve(ln)
		b.Cleanup(func() { hs.Close() })
		dial := func() net.Conn {
			c, err := net.Dial("tcp", ln.Addr().String())
			if err != nil {
				b.Fatal(err)
			}
			return c
		}
		// fetch writes req on c and reads the answer into buf.
		fetch := func(c net.Conn, buf, req []byte) error {
			if _, err := c.Write(req); err != nil {
				return err
			}
			n := 0
			for {
				m, err := c.Read(buf[n:])
				if err != nil {
					return err
				}
				n += m
				head, body, ok := bytes.Cut(buf[:n], []byte("\r\n\r\n"))
				if !ok {
					continue
				}
				if !bytes.HasPrefix(head, []byte("HTTP/1.1 200 ")) {
					return fmt.Errorf("answer: %q", head)
				}
				_, l, _ := bytes.Cut(head, []byte("Content-Length: "))
				l, _, _ = bytes.Cut(l, []byte("\r\n"))
				if want, _ := strconv.Atoi(string(l)); len(body) >= want {
					return nil
				}
			}
		}
		c := dial()
		buf := make([]byte, 64<<10)
		for _, r := range reqs {
			if err := fetch(c, buf, r); err != nil { // warm the cache
				b.Fatal(err)
			}
		}
		c.Close()
		b.ReportAllocs()
		b.SetParallelism(8) // 16 connections on 2 cores, as a client's many devices
		b.ResetTimer()
		var next atomic.Int64
		b.RunParallel(func(pb *testing.PB) {
			c := dial()
			defer c.Close()
			buf := make([]byte, 64<<10)
			i := int(next.Add(97))
			for pb.Next() {
				i++
				if err := fetch(c, buf, reqs[i%len(reqs)]); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	b.Run("front-door", func(b *testing.B) { run(b, srv.FrontDoor(listen(), autopserver.FrontDoorOptions{})) })
	b.Run("net-http", func(b *testing.B) { run(b, listen()) })
}
