package server_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/demo"
	"github.com/gatehouse-dev/gatehouse/internal/testutil"
)

// TestBatchAutoPLatency measures Batch AutoP to 500 online simulated
// devices as a sub-distributor sees it: from sending POST /api/v1/autop/batch
// to the last device's acknowledgement of the new config, over 20 rounds.
//
//	GATEHOUSE_BENCH_BATCH=1 go test -run TestBatchAutoPLatency -v ./internal/server/
func TestBatchAutoPLatency(t *testing.T) {
	if os.Getenv("GATEHOUSE_BENCH_BATCH") == "" {
		t.Skip("set GATEHOUSE_BENCH_BATCH=1 to measure")
	}
	const n, rounds = 500, 20
	for _, backend := range testutil.Backends(t) {
		t.Run(backend, func(t *testing.T) {
			st := testutil.NewStore(t, backend)
			if _, err := demo.Load(context.Background(), st, demo.Options{Password: demoPassword, Users: 300, Devices: 12000, Seed: 5}, io.Discard); err != nil {
				t.Fatal(err)
			}
			e := newGatewayEnv(t, backend, st, nil, gwOptions)
			tok := e.token("demo-subdistributor")
			var macs []string
			rows, err := st.DB().Query(fmt.Sprintf(`SELECT d.mac FROM devices d JOIN accounts s ON s.id = d.subdistributor_id
				WHERE s.username = 'demo-subdistributor' AND d.project_kind = 'community' ORDER BY d.id LIMIT %d`, n))
			if err != nil {
				t.Fatal(err)
			}
			for rows.Next() {
				var m string
				rows.Scan(&m)
				macs = append(macs, m)
			}
			rows.Close()
			if len(macs) != n {
				t.Fatalf("%d community devices, want %d", len(macs), n)
			}
			f := startFleet(t, e, macs...)
			waitOnline(t, f, n, 60*time.Second)
			time.Sleep(2 * time.Second) // the fetches after connecting
			var took []time.Duration
			for round := range rounds {
				start := time.Now()
				r := e.do(nil, "POST", "/api/v1/autop/batch", map[string]any{"scope": "community", "type": "regular",
					"commands": []string{fmt.Sprintf("Config.DoorSetting.RELAY.HoldDelayA = %d", round+1)}, "macs": macs}, bearer(tok))
				if r.StatusCode != 201 {
					t.Fatalf("batch: %d %s", r.StatusCode, r.body)
				}
				if d := time.Since(start); d > time.Second {
					t.Logf("round %d: the POST alone took %v", round, d)
				}
				var b struct{ ID int64 }
				json.Unmarshal(r.body, &b)
				for countCommands(t, st, fmt.Sprintf("batch_id = %d AND status IN ('queued','sent')", b.ID)) > 0 {
					if time.Since(start) > 30*time.Second {
						t.Fatal("not done after 30 s")
					}
					time.Sleep(5 * time.Millisecond)
				}
				took = append(took, time.Since(start))
				if d := time.Since(start); d > time.Second {
					t.Logf("round %d took %v", round, d)
				}
				if bad := countCommands(t, st, fmt.Sprintf("batch_id = %d AND status <> 'done'", b.ID)); bad > 0 {
					t.Errorf("round %d: %d not done", round, bad)
				}
			}
			slices.Sort(took)
			q := func(p float64) time.Duration { return took[int(p*float64(len(took)-1)+0.5)].Round(time.Millisecond) }
			t.Logf("Batch AutoP to %d online devices, request to last ack, %d rounds: min %v, p50 %v, p99 %v, max %v",
				n, rounds, took[0].Round(time.Millisecond), q(0.5), q(0.99), took[len(took)-1].Round(time.Millisecond))
		})
	}
}
