package gateway_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/bus"
	"github.com/gatehouse-dev/gatehouse/internal/demo"
	"github.com/gatehouse-dev/gatehouse/internal/devicesim"
	"github.com/gatehouse-dev/gatehouse/internal/gateway"
	"github.com/gatehouse-dev/gatehouse/internal/model"
	"github.com/gatehouse-dev/gatehouse/internal/store"
	"github.com/gatehouse-dev/gatehouse/internal/testutil"
)

// Memory per device connection, server side:
//
//	GATEHOUSE_BENCH_CONNS=10000 go test -run TestConnectionsMemory -v -timeout 30m ./internal/gateway/
//
// The gateway runs in a child process (this test binary again) so that its
// memory is measured alone; the simulated devices (internal/devicesim) run
// in this one. The child reports the Go heap, goroutine stacks and its
// resident set before and after the devices connect; the difference divided
// by N is the cost of one connection. Beyond ~28,000 connections the
// devices dial from several 127.0.0.x addresses (GATEHOUSE_BENCH_SOURCES, a
// count, default N/20,000 rounded up). Each process needs one file
// descriptor per connection: `ulimit -n` bounds N.
// GATEHOUSE_BENCH_DB=postgres://… runs the gateway on PostgreSQL instead
// of SQLite; GATEHOUSE_BENCH_HEAPPROFILE=FILE writes the gateway's heap
// profile with the devices connected.

const (
	benchConnsEnv = "GATEHOUSE_BENCH_CONNS"
	benchChildEnv = "GATEHOUSE_BENCH_GATEWAY_DSN" // set in the child: the database to serve
)

// memReport is what the child measures (after a GC).
type memReport struct {
	Connected  int    `json:"connected"`
	HeapInuse  uint64 `json:"heap_inuse"`
	HeapAlloc  uint64 `json:"heap_alloc"`
	StackInuse uint64 `json:"stack_inuse"`
	Sys        uint64 `json:"sys"`
	RSS        uint64 `json:"rss"`
	Goroutines int    `json:"goroutines"`
}

func rss() uint64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, _ := strconv.ParseUint(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return kb << 10
		}
	}
	return 0
}

func measure(g *gateway.Gateway) memReport {
	// A few collections: each halves the stacks of idle goroutines that
	// grew for a moment (the steady state of a long-running node).
	for i := 0; i < 4; i++ {
		runtime.GC()
	}
	debug.FreeOSMemory()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return memReport{Connected: g.Connected(), HeapInuse: m.HeapInuse, HeapAlloc: m.HeapAlloc, StackInuse: m.StackInuse,
		Sys: m.Sys, RSS: rss(), Goroutines: runtime.NumGoroutine()}
}

// TestConnectionsMemoryServer is the child: a gateway alone on a port,
// with GET /debug/mem.
func TestConnectionsMemoryServer(t *testing.T) {
	dsn := os.Getenv(benchChildEnv)
	if dsn == "" {
		t.Skip("the child of TestConnectionsMemory")
	}
	if os.Getenv("GATEHOUSE_BENCH_HEAPPROFILE") != "" {
		runtime.MemProfileRate = 1 // every allocation: exact figures
	}
	st, err := store.Open(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	g := gateway.New(st, bus.NewLocal(), slog.New(slog.NewTextHandler(io.Discard, nil)), gateway.Options{Node: "bench"})
	mux := http.NewServeMux()
	mux.Handle("GET /device/v1/connect", g)
	mux.HandleFunc("GET /debug/mem", func(w http.ResponseWriter, r *http.Request) {
		m := measure(g)
		if p := os.Getenv("GATEHOUSE_BENCH_HEAPPROFILE"); p != "" && m.Connected > 0 {
			if f, err := os.Create(p); err == nil {
				pprof.WriteHeapProfile(f)
				f.Close()
			}
		}
		json.NewEncoder(w).Encode(m)
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(ln)
	ctx, cancel := context.WithCancel(context.Background())
	go g.Run(ctx)
	fmt.Printf("LISTEN %s\n", ln.Addr())
	// Until the parent closes our stdin.
	io.Copy(io.Discard, os.Stdin)
	cancel()
	g.Close()
	srv.Close()
}

func TestConnectionsMemory(t *testing.T) {
	n, _ := strconv.Atoi(os.Getenv(benchConnsEnv))
	if n <= 0 {
		t.Skipf("set %s=N to connect N simulated devices and measure the gateway's memory per connection", benchConnsEnv)
	}
	var lim syscall.Rlimit
	if syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim) == nil && lim.Cur < uint64(n)+200 {
		t.Fatalf("%d connections need %d file descriptors per process; ulimit -n is %d", n, n+200, lim.Cur)
	}
	ctx := context.Background()
	dsn := os.Getenv("GATEHOUSE_BENCH_DB")
	var st *store.Store
	if dsn == "" {
		dsn = filepath.Join(t.TempDir(), "bench.db")
		var err error
		if st, err = store.Open(ctx, dsn); err != nil {
			t.Fatal(err)
		}
		defer st.Close()
	} else {
		st = testutil.NewStore(t, "postgres")
		dsn = testutil.PostgresDSN(t)
		st.Close()
		var err error
		if st, err = store.Open(ctx, dsn); err != nil {
			t.Fatal(err)
		}
		defer st.Close()
	}
	if err := st.SetSecretKey([]byte(strings.Repeat("b", 32))); err != nil {
		t.Fatal(err)
	}
	macs := benchDevices(t, st, n)

	// The gateway, alone in a child process.
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe, "-test.run=^TestConnectionsMemoryServer$", "-test.v=false")
	cmd.Env = append(os.Environ(), benchChildEnv+"="+dsn)
	cmd.Stderr = os.Stderr
	stdin, _ := cmd.StdinPipe()
	stdout, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { stdin.Close(); cmd.Wait() }()
	var addr string
	sc := bufio.NewScanner(stdout)
	for sc.Scan() {
		if a, ok := strings.CutPrefix(sc.Text(), "LISTEN "); ok {
			addr = a
			break
		}
	}
	if addr == "" {
		t.Fatal("the gateway process did not start")
	}
	go io.Copy(io.Discard, stdout)
	base := "http://" + addr
	mem := func() memReport {
		res, err := http.Get(base + "/debug/mem")
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		var m memReport
		json.NewDecoder(res.Body).Decode(&m)
		return m
	}
	before := mem()

	sources := (n + 19_999) / 20_000
	if v, err := strconv.Atoi(os.Getenv("GATEHOUSE_BENCH_SOURCES")); err == nil && v > 0 {
		sources = v
	}
	var addrs []string
	if sources > 1 {
		for i := 0; i < sources; i++ {
			addrs = append(addrs, fmt.Sprintf("127.0.0.%d", i+2))
		}
	}
	f, took := connectFleet(t, devicesim.Config{Server: base, MACs: macs, SourceAddrs: addrs})
	// Let the connections settle (first statuses, AutoP fetches failing
	// fast on this bare gateway), then measure.
	time.Sleep(5 * time.Second)
	after := mem()
	if after.Connected != n {
		t.Errorf("the gateway holds %d connections, want %d", after.Connected, n)
	}
	per := func(a, b uint64) float64 { return (float64(a) - float64(b)) / float64(n) / 1024 }
	t.Logf("%d devices connected in %v (%.0f/s); %v", n, took.Round(time.Millisecond), float64(n)/took.Seconds(), f.Tries())
	t.Logf("gateway process per connection: live heap objects %.1f KiB, heap in use %.1f KiB, goroutine stacks %.1f KiB, Go runtime total (Sys) %.1f KiB, RSS %.1f KiB, %.1f goroutines",
		per(after.HeapAlloc, before.HeapAlloc), per(after.HeapInuse, before.HeapInuse), per(after.StackInuse, before.StackInuse), per(after.Sys, before.Sys), per(after.RSS, before.RSS),
		float64(after.Goroutines-before.Goroutines)/float64(n))
	t.Logf("gateway process: before %+v, after %+v", before, after)
	fmt.Printf("BENCH conns=%d connect_s=%.1f heap_kib_per_conn=%.1f stack_kib_per_conn=%.1f rss_kib_per_conn=%.1f goroutines_per_conn=%.2f\n",
		n, took.Seconds(), per(after.HeapInuse, before.HeapInuse), per(after.StackInuse, before.StackInuse), per(after.RSS, before.RSS),
		float64(after.Goroutines-before.Goroutines)/float64(n))
}

// benchDevices registers n devices (and some more, with users, as the demo
// does) in st, all offline, and returns the first n MACs.
func benchDevices(t *testing.T, st *store.Store, n int) []string {
	t.Helper()
	ctx := context.Background()
	start := time.Now()
	if _, err := demo.Load(ctx, st, demo.Options{Password: "bench-password", Devices: n + n/10 + 100, Users: 1000, Seed: 3}, io.Discard); err != nil {
		t.Fatal(err)
	}
	rows, err := st.DB().Query(fmt.Sprintf(`SELECT mac FROM devices ORDER BY id LIMIT %d`, n))
	if err != nil {
		t.Fatal(err)
	}
	var macs []string
	for rows.Next() {
		var m string
		rows.Scan(&m)
		macs = append(macs, m)
	}
	rows.Close()
	if len(macs) < n {
		t.Fatalf("the demo data has %d devices, want %d", len(macs), n)
	}
	if _, err := st.DB().Exec(`UPDATE devices SET online = false`); err != nil {
		t.Fatal(err)
	}
	// Enrolled as a maker's factory would: the keys connectFleet gives them.
	if _, err := st.EnrollDeviceKeys(model.WithActor(ctx, model.System), benchKeys(macs)); err != nil {
		t.Fatal(err)
	}
	t.Logf("%d devices registered in %v", n, time.Since(start).Round(time.Millisecond))
	return macs
}

// benchKeys are the devices' keys, known in advance.
func benchKeys(macs []string) map[string]string {
	keys := make(map[string]string, len(macs))
	for _, m := range macs {
		keys[m] = "bench-key-" + m + "-0123456789abcdef"
	}
	return keys
}

// connectFleet starts the simulated devices of cfg and waits until every
// one is online; the fleet closes with the test.
func connectFleet(t *testing.T, cfg devicesim.Config) (*devicesim.Fleet, time.Duration) {
	t.Helper()
	n := len(cfg.MACs)
	if cfg.Keys == nil {
		cfg.Keys = benchKeys(cfg.MACs)
	}
	start := time.Now()
	f, err := devicesim.Start(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), time.Duration(n/50+120)*time.Second)
	defer cancel()
	if err := f.WaitOnline(ctx, n); err != nil {
		t.Fatalf("%d of %d devices online after %v", f.Online(), n, time.Since(start).Round(time.Second))
	}
	return f, time.Since(start)
}
