package store_test

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/model"
	"github.com/gatehouse-dev/gatehouse/internal/testutil"
)

// The store's side of a connect storm: every device of the demo data set
// (GATEHOUSE_BENCH_DEVICES, default 20,000) authenticates and says hello,
// 512 at a time (GATEHOUSE_BENCH_CONNECTING), as the gateway's admitted
// connects do. Reports the
// process's CPU per device (user + system, getrusage) beside the time.
//
//	go test -run '^$' -bench DeviceConnectStorm -benchtime 3x ./internal/store/
func BenchmarkDeviceConnectStorm(b *testing.B) {
	for _, backend := range testutil.Backends(b) {
		b.Run(backend, func(b *testing.B) {
			st := benchStore(b, backend)
			ctx := context.Background()
			var macs []string
			rows, err := st.DB().Query(`SELECT mac FROM devices ORDER BY id`)
			if err != nil {
				b.Fatal(err)
			}
			for rows.Next() {
				var m string
				rows.Scan(&m)
				macs = append(macs, m)
			}
			rows.Close()
			keys := map[string]string{}
			for _, m := range macs {
				keys[m] = "bench-key-" + m + "-0123456789abcdef"
			}
			if _, err := st.EnrollDeviceKeys(model.WithActor(ctx, model.System), keys); err != nil {
				b.Fatal(err)
			}
			if os.Getenv("GATEHOUSE_BENCH_WEBHOOK") != "" {
				// Every device's tree subscribed (an admin's endpoint): each
				// hello writes its device.online event (webhooks.go).
				admin := &model.Account{Role: model.RoleAdmin, Username: "bench-hooks"}
				if err := st.CreateAccount(model.WithActor(ctx, model.System), admin, "x"); err != nil {
					b.Fatal(err)
				}
				in := model.WebhookEndpointInput{URL: "https://hooks.example.com/bench", Events: []string{model.EventDeviceOnline}}
				mask, _ := in.Normalize(false)
				if _, err := st.CreateWebhookEndpoint(model.WithActor(ctx, model.ActorOf(admin)), in, mask, "whsec_bench"); err != nil {
					b.Fatal(err)
				}
			}
			concurrency := 512
			if n, err := strconv.Atoi(os.Getenv("GATEHOUSE_BENCH_CONNECTING")); err == nil && n > 0 {
				concurrency = n
			}
			var cpu time.Duration
			round := 0
			for b.Loop() {
				round++
				if _, err := st.DB().Exec(`UPDATE devices SET online = false, node = ''`); err != nil {
					b.Fatal(err)
				}
				c0 := processCPU()
				work := make(chan string)
				var wg sync.WaitGroup
				for range concurrency {
					wg.Add(1)
					go func() {
						defer wg.Done()
						for m := range work {
							if _, err := st.AuthenticateDevice(ctx, model.DeviceAttempt{MAC: m, Key: keys[m]}); err != nil {
								b.Error(err)
							}
							if err := st.DeviceConnected(ctx, m, fmt.Sprint("node-", round), st.Now(), model.DeviceHello{IP: "10.0.0.1", Uptime: 5}); err != nil {
								b.Error(err)
							}
						}
					}()
				}
				for _, m := range macs {
					work <- m
				}
				close(work)
				wg.Wait()
				cpu += processCPU() - c0
			}
			b.ReportMetric(float64(cpu.Microseconds())/float64(b.N*len(macs)), "cpu-µs/device")
		})
	}
}

func processCPU() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
