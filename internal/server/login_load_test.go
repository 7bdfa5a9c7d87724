package server_test

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/demo"
)

// TestLoginLoadLatency measures what 20 concurrent logins (argon2id each) do
// to everyone else: the device list's p50/p95/p99 over HTTP idle and while
// the logins run, in three alternating rounds, with the logins/s reached.
// It reports figures and asserts none (timing depends on the machine).
//
//	GATEHOUSE_BENCH_LOGINS=1 go test -run TestLoginLoadLatency -v ./internal/server/
func TestLoginLoadLatency(t *testing.T) {
	if os.Getenv("GATEHOUSE_BENCH_LOGINS") == "" {
		t.Skip("set GATEHOUSE_BENCH_LOGINS=1 to measure")
	}
	const loginners, samples = 20, 400
	e := newEnv(t, "sqlite")
	tok := e.token(demo.SubdistributorUser)
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	get := func() time.Duration {
		req, _ := http.NewRequest("GET", e.url+"/api/v1/devices?scope=community&per_page=50", nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		start := time.Now()
		res, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, res.Body)
		res.Body.Close()
		if res.StatusCode != 200 {
			t.Fatalf("device list: %d", res.StatusCode)
		}
		return time.Since(start)
	}
	measure := func() string {
		// At least `samples` requests and 3 s, so that logins/s is read
		// over enough of them.
		var took []time.Duration
		for start := time.Now(); len(took) < samples || time.Since(start) < 3*time.Second; {
			took = append(took, get())
		}
		slices.Sort(took)
		q := func(p float64) string {
			return took[int(p*float64(len(took)-1))].Round(100 * time.Microsecond).String()
		}
		return fmt.Sprintf("p50 %s p95 %s p99 %s (%d requests)", q(.50), q(.95), q(.99), len(took))
	}
	for range 20 {
		get() // warm up
	}
	for round := 1; round <= 3; round++ {
		idle := measure()
		var stop atomic.Bool
		var logins atomic.Int64
		var statusMu sync.Mutex
		statuses := map[int]int{}
		var wg sync.WaitGroup
		for i := range loginners {
			wg.Add(1)
			go func() {
				defer wg.Done()
				// Right passwords of a few users: nothing throttles them.
				body := fmt.Appendf(nil, `{"username":%q,"password":%q}`, []string{demo.SubdistributorUser, demo.InstallerUser, demo.AdminUser}[i%3], demoPassword)
				for !stop.Load() {
					res, err := client.Post(e.url+"/api/v1/auth/login", "application/json", bytes.NewReader(body))
					if err != nil {
						t.Error(err)
						return
					}
					io.Copy(io.Discard, res.Body)
					res.Body.Close()
					logins.Add(1)
					statusMu.Lock()
					statuses[res.StatusCode]++
					statusMu.Unlock()
				}
			}()
		}
		time.Sleep(300 * time.Millisecond) // the logins under way
		start, before := time.Now(), logins.Load()
		loaded := measure()
		rate := float64(logins.Load()-before) / time.Since(start).Seconds()
		stop.Store(true)
		wg.Wait()
		t.Logf("round %d: device list idle %s | with %d logins running %s | %.0f logins/s, statuses %v", round, idle, loginners, loaded, rate, statuses)
	}
}
