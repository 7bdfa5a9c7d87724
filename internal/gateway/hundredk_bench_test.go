package gateway_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/bus"
	"github.com/gatehouse-dev/gatehouse/internal/devicesim"
	"github.com/gatehouse-dev/gatehouse/internal/gateway"
	"github.com/gatehouse-dev/gatehouse/internal/store"
)

// One node holding more devices than this machine lets a process open
// sockets for (its hard limit is 20,000 files):
//
//	GATEHOUSE_BENCH_MEMCONNS=100000 go test -run TestConnectionsInMemory -v -timeout 60m ./internal/gateway/
//
// The gateway (with its store, SQLite) and the simulated devices run in this
// one process, connected by in-memory pipes (net.Pipe) instead of TCP:
// everything else — HTTP upgrade, WebSocket, yamux, hello, the store's
// writes, heartbeats and the gateway's flushes — is what a real node does.
// It reports the time to all online, what the store shows, and the
// process's memory and goroutines per device for gateway and simulator
// together (TestConnectionsMemory measures the gateway alone over TCP).
// Then the node restarts: the gateway shuts down (its devices see the
// close), a new one starts on the same store, and the test reports the
// time from the start of the shutdown until every device is online again.
// GATEHOUSE_BENCH_SETTLE=S waits S seconds instead of a heartbeat round
// (35) before measuring memory; GATEHOUSE_BENCH_CPUPROFILE=FILE writes CPU
// profiles of the connect (FILE.connect) and of the restart (FILE.restart).
const benchMemConnsEnv = "GATEHOUSE_BENCH_MEMCONNS"

// pipeListener hands the server ends of in-memory connections to an
// http.Server; Dial makes one.
type pipeListener struct {
	conns chan net.Conn
	done  chan struct{}
}

func (l *pipeListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

func (l *pipeListener) Close() error {
	select {
	case <-l.done:
	default:
		close(l.done)
	}
	return nil
}

func (l *pipeListener) Addr() net.Addr { return pipeAddr{} }

func (l *pipeListener) Dial(ctx context.Context, _, _ string) (net.Conn, error) {
	server, client := net.Pipe()
	select {
	case l.conns <- server:
		return client, nil
	case <-l.done:
		return nil, net.ErrClosed
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

type pipeAddr struct{}

func (pipeAddr) Network() string { return "pipe" }
func (pipeAddr) String() string  { return "127.0.0.1:1" }

func TestConnectionsInMemory(t *testing.T) {
	n, _ := strconv.Atoi(os.Getenv(benchMemConnsEnv))
	if n <= 0 {
		t.Skipf("set %s=N to connect N simulated devices to one gateway over in-memory connections", benchMemConnsEnv)
	}
	ctx := context.Background()
	st, err := store.Open(ctx, filepath.Join(t.TempDir(), "bench.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if err := st.SetSecretKey([]byte(strings.Repeat("b", 32))); err != nil {
		t.Fatal(err)
	}
	macs := benchDevices(t, st, n)

	g := gateway.New(st, bus.NewLocal(), slog.New(slog.NewTextHandler(io.Discard, nil)), gateway.Options{Node: "bench"})
	var serving atomic.Pointer[gateway.Gateway] // swapped by the restart
	serving.Store(g)
	mux := http.NewServeMux()
	mux.Handle("GET /device/v1/connect", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		serving.Load().ServeHTTP(w, r)
	}))
	ln := &pipeListener{conns: make(chan net.Conn), done: make(chan struct{})}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(ln)
	defer srv.Close()
	gctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go g.Run(gctx)
	defer func() { serving.Load().Close() }()

	before := measure(g)
	stopProfile := cpuProfile(t, "connect")
	f, took := connectFleet(t, devicesim.Config{Server: "http://gatehouse.invalid", MACs: macs, Dial: ln.Dial})
	stopProfile()
	if g.Connected() != n {
		t.Errorf("the gateway holds %d connections, want %d", g.Connected(), n)
	}
	// One heartbeat round (30 s): every device reports, the gateway
	// flushes last_seen for all of them.
	settle := 35 * time.Second
	if v, err := strconv.Atoi(os.Getenv("GATEHOUSE_BENCH_SETTLE")); err == nil {
		settle = time.Duration(v) * time.Second
	}
	time.Sleep(settle)
	var online int
	if err := st.DB().QueryRow(`SELECT count(*) FROM devices WHERE online = true AND node = 'bench'`).Scan(&online); err != nil {
		t.Fatal(err)
	}
	if online != n || g.Connected() != n || f.Online() != n {
		t.Errorf("after a heartbeat round: store %d online, gateway %d, simulator %d; want %d", online, g.Connected(), f.Online(), n)
	}
	after := measure(g)
	per := func(a, b uint64) float64 { return (float64(a) - float64(b)) / float64(n) / 1024 }
	connectTries := f.Tries()
	t.Logf("%d devices connected in %v (%.0f/s); store: %d online; simulator: %+v; shed by the gateway: %d", n, took.Round(time.Millisecond),
		float64(n)/took.Seconds(), online, f.Stats(), g.Shed())
	t.Logf("connect: %v", connectTries)
	t.Logf("gateway + simulator per device: heap in use %.1f KiB, goroutine stacks %.1f KiB, RSS %.1f KiB, %.1f goroutines; process RSS %.2f GiB",
		per(after.HeapInuse, before.HeapInuse), per(after.StackInuse, before.StackInuse), per(after.RSS, before.RSS),
		float64(after.Goroutines-before.Goroutines)/float64(n), float64(after.RSS)/(1<<30))
	fmt.Printf("BENCH memconns=%d connect_s=%.1f online=%d heap_kib_per_device=%.1f stack_kib_per_device=%.1f rss_kib_per_device=%.1f goroutines_per_device=%.2f gomaxprocs=%d\n",
		n, took.Seconds(), online, per(after.HeapInuse, before.HeapInuse), per(after.StackInuse, before.StackInuse), per(after.RSS, before.RSS),
		float64(after.Goroutines-before.Goroutines)/float64(n), runtime.GOMAXPROCS(0))

	// The restart: this gateway shuts down (answering 503 meanwhile), a new
	// one takes its place on the same store.
	stopProfile = cpuProfile(t, "restart")
	start := time.Now()
	if err := g.Close(); err != nil {
		t.Fatal(err)
	}
	down := time.Since(start)
	g2 := gateway.New(st, bus.NewLocal(), slog.New(slog.NewTextHandler(io.Discard, nil)), gateway.Options{Node: "bench"})
	go g2.Run(gctx)
	serving.Store(g2)
	for f.Online() == n && time.Since(start) < 30*time.Second {
		time.Sleep(10 * time.Millisecond) // until the devices saw the close
	}
	wctx, wcancel := context.WithTimeout(ctx, time.Duration(n/50+120)*time.Second)
	defer wcancel()
	if err := f.WaitOnline(wctx, n); err != nil {
		t.Fatalf("after the restart, %d of %d devices online after %v", f.Online(), n, time.Since(start).Round(time.Second))
	}
	back := time.Since(start)
	stopProfile()
	st2 := f.Stats()
	restartTries := f.Tries().Since(connectTries)
	t.Logf("restart: shutdown took %v; all %d devices online again %v after it began (%.0f/s); simulator: %+v; shed: %d",
		down.Round(time.Millisecond), n, back.Round(time.Millisecond), float64(n)/back.Seconds(), st2, g2.Shed())
	t.Logf("restart: %v", restartTries)
	fmt.Printf("BENCH memconns=%d restart_s=%.1f shutdown_s=%.1f connect_attempts_per_device=%.2f restart_attempts_per_device=%.2f\n",
		n, back.Seconds(), down.Seconds(), connectTries.Mean(), restartTries.Mean())
}

// cpuProfile starts a CPU profile to $GATEHOUSE_BENCH_CPUPROFILE.phase, if
// set; the returned func stops it.
func cpuProfile(t *testing.T, phase string) func() {
	path := os.Getenv("GATEHOUSE_BENCH_CPUPROFILE")
	if path == "" {
		return func() {}
	}
	pf, err := os.Create(path + "." + phase)
	if err != nil {
		t.Fatal(err)
	}
	if err := pprof.StartCPUProfile(pf); err != nil {
		t.Fatal(err)
	}
	return func() {
		pprof.StopCPUProfile()
		pf.Close()
	}
}
