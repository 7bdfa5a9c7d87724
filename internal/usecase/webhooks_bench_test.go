package usecase

import (
	"context"
	"crypto/x509"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"runtime"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/model"
	"github.com/gatehouse-dev/gatehouse/internal/testutil"
	"github.com/gatehouse-dev/gatehouse/internal/webhook"
)

// BenchmarkWebhookDelivery1000 is the figure of README "Webhooks": events
// delivered to 1,000 endpoints, each its own HTTPS receiver in process
// (50 admin accounts × 20 endpoints, all subscribed to device.online, so
// every event goes to all 1,000), by one node's dispatcher at its default
// concurrency. Each round writes GATEHOUSE_BENCH_HOOK_EVENTS events (20)
// and runs the dispatcher until every delivery succeeded. It reports
// deliveries per second (an event to one endpoint) and the heap in use
// before, at its peak during, and after the rounds (after a GC).
// scripts/bench-webhooks.sh runs it three times.
func BenchmarkWebhookDelivery1000(b *testing.B) {
	for _, backend := range testutil.Backends(b) {
		b.Run(backend, func(b *testing.B) {
			st := testutil.NewStore(b, backend)
			sys := model.WithActor(context.Background(), model.System)
			var hits atomic.Int64
			h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				io.Copy(io.Discard, r.Body)
				hits.Add(1)
				w.Write([]byte("ok"))
			})
			var pool *httpClientPool
			var urls []string
			for range 1000 {
				srv := httptest.NewTLSServer(h)
				b.Cleanup(srv.Close)
				urls = append(urls, srv.URL)
				if pool == nil {
					pool = &httpClientPool{srv: srv}
				}
			}
			// One installer with a device: the events' source.
			var mac string
			inst := &model.Account{Role: model.RoleInstaller, Username: "bench-inst"}
			for i := range 50 {
				a := &model.Account{Role: model.RoleAdmin, Username: fmt.Sprintf("bench-admin-%d", i)}
				if err := st.CreateAccount(sys, a, "x"); err != nil {
					b.Fatal(err)
				}
				ctx := model.WithActor(context.Background(), model.ActorOf(a))
				for j := range 20 {
					in := model.WebhookEndpointInput{URL: urls[i*20+j] + "/hook", Events: []string{model.EventDeviceOnline}}
					mask, err := in.Normalize(true)
					if err != nil {
						b.Fatal(err)
					}
					if _, err := st.CreateWebhookEndpoint(ctx, in, mask, webhook.NewSecret()); err != nil {
						b.Fatal(err)
					}
				}
				if i == 0 {
					dist := &model.Account{Role: model.RoleDistributor, Username: "bench-dist", ParentID: a.ID}
					sub := &model.Account{Role: model.RoleSubdistributor, Username: "bench-sub"}
					for _, acc := range []*model.Account{dist, sub, inst} {
						if acc == sub {
							sub.ParentID = dist.ID
						}
						if acc == inst {
							inst.ParentID = sub.ID
						}
						if err := st.CreateAccount(sys, acc, "x"); err != nil {
							b.Fatal(err)
						}
					}
					ictx := model.WithActor(context.Background(), model.ActorOf(inst))
					p := &model.Project{Kind: model.ProjectCommunity, Name: "Bench"}
					if err := st.CreateProject(ictx, p); err != nil {
						b.Fatal(err)
					}
					d := &model.Device{MAC: "0C1105BE0001", ProjectID: p.ID, Type: model.DoorPhone, Name: "Bench gate"}
					if err := st.CreateDevice(ictx, d); err != nil {
						b.Fatal(err)
					}
					mac = d.MAC
				}
			}
			events := 20
			if n, err := strconv.Atoi(os.Getenv("GATEHOUSE_BENCH_HOOK_EVENTS")); err == nil && n > 0 {
				events = n
			}
			client := webhook.NewClient(webhook.Options{AllowPrivate: true, RootCAs: pool.roots()})
			b.Cleanup(client.CloseIdleConnections)
			c := New(Deps{Store: st, Log: slog.New(slog.NewTextHandler(io.Discard, nil)),
				Webhooks: WebhookOptions{AllowPrivate: true, Client: client}})
			d := c.NewWebhookDispatcher("bench-node")
			runtime.GC()
			var ms runtime.MemStats
			runtime.ReadMemStats(&ms)
			before := ms.HeapInuse
			var peak atomic.Uint64
			stop := make(chan struct{})
			go func() {
				t := time.NewTicker(20 * time.Millisecond)
				defer t.Stop()
				for {
					select {
					case <-stop:
						return
					case <-t.C:
						var m runtime.MemStats
						runtime.ReadMemStats(&m)
						if m.HeapInuse > peak.Load() {
							peak.Store(m.HeapInuse)
						}
					}
				}
			}()
			var took time.Duration
			at := time.Now()
			delivered := int64(0)
			for b.Loop() {
				want := hits.Load() + int64(events*1000)
				for i := range events {
					at = at.Add(time.Second)
					if err := st.DeviceConnected(context.Background(), mac, "bench-node", at.Add(time.Duration(i)), model.DeviceHello{}); err != nil {
						b.Fatal(err)
					}
				}
				start := time.Now()
				ctx, cancel := context.WithCancel(context.Background())
				done := make(chan struct{})
				go func() { d.Run(ctx); close(done) }()
				for hits.Load() < want {
					time.Sleep(5 * time.Millisecond)
					if time.Since(start) > 10*time.Minute {
						b.Fatalf("delivered %d of %d", hits.Load(), want)
					}
				}
				took += time.Since(start)
				cancel()
				<-done
				delivered += int64(events * 1000)
			}
			close(stop)
			runtime.GC()
			runtime.ReadMemStats(&ms)
			var pending int
			st.DB().QueryRow(`SELECT count(*) FROM webhook_deliveries WHERE state <> 'succeeded'`).Scan(&pending)
			if pending != 0 {
				b.Errorf("%d deliveries not succeeded", pending)
			}
			_ = sys
			b.ReportMetric(float64(delivered)/took.Seconds(), "deliveries/s")
			b.ReportMetric(float64(before)/(1<<20), "heap-MiB-before")
			b.ReportMetric(float64(peak.Load())/(1<<20), "heap-MiB-peak")
			b.ReportMetric(float64(ms.HeapInuse)/(1<<20), "heap-MiB-after")
		})
	}
}

type httpClientPool struct{ srv *httptest.Server }

// roots are the receivers' roots: httptest servers share one certificate.
func (p *httpClientPool) roots() *x509.CertPool {
	return p.srv.Client().Transport.(*http.Transport).TLSClientConfig.RootCAs
}
