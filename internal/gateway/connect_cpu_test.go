package gateway_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime/pprof"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/bus"
	"github.com/gatehouse-dev/gatehouse/internal/devicesim"
	"github.com/gatehouse-dev/gatehouse/internal/gateway"
	"github.com/gatehouse-dev/gatehouse/internal/store"
)

// The server's CPU per connect, with the simulated devices in the same
// process over in-memory connections:
//
//	GATEHOUSE_BENCH_CONNECTCPU=20000 go test -run TestConnectCPUInMemory -v -timeout 20m ./internal/gateway/
//
// The server's goroutines (the store, the HTTP server and every connection
// it serves, the gateway) run under the pprof label side=server, the
// simulator's under side=sim; a CPU profile of the connect phase tells the
// two apart. What carries no label — the garbage collector's background
// workers, the scheduler — is reported apart and shared out in proportion
// to the labelled CPU. GATEHOUSE_BENCH_CPUPROFILE=FILE keeps the profile
// (FILE.connectcpu) for `go tool pprof -tagfocus side=server`.
const benchConnectCPUEnv = "GATEHOUSE_BENCH_CONNECTCPU"

// benchConnectCPUUpgradeEnv set: a firmware upgrade is in flight (of a
// device outside the fleet) during the storm, so that every connect looks
// for its own upgrade — the cost of a connect during a rollout.
const benchConnectCPUUpgradeEnv = "GATEHOUSE_BENCH_CONNECTCPU_UPGRADE"

// upgradeInFlight queues an upgrade of the store's last device.
func upgradeInFlight(t *testing.T, st *store.Store) {
	t.Helper()
	now := time.Now().UTC()
	for _, q := range []string{
		`INSERT INTO firmware (version, model, file_url, checksum, size, stored, created_at)
			VALUES ('99.0', 'R29C', 'https://files.example.com/99.bin', '` + strings.Repeat("ab", 32) + `', 1, false, ?)`,
		`INSERT INTO rollouts (firmware_id, account_id, status, created_at, updated_at)
			VALUES ((SELECT max(id) FROM firmware), (SELECT min(id) FROM accounts), 'running', ?, ?)`,
		`INSERT INTO firmware_upgrades (rollout_id, device_id, firmware_id, wave, state, to_version, queued_at, deadline_at)
			VALUES ((SELECT max(id) FROM rollouts), (SELECT max(id) FROM devices), (SELECT max(id) FROM firmware), 0, 'queued', '99.0', ?, ?)`,
	} {
		args := []any{now, now}[:strings.Count(q, "?")]
		if strings.Count(q, "?") == 2 && strings.Contains(q, "deadline_at") {
			args = []any{now, now.Add(time.Hour)}
		}
		if _, err := st.DB().Exec(q, args...); err != nil {
			t.Fatal(err)
		}
	}
}

func TestConnectCPUInMemory(t *testing.T) {
	n, _ := strconv.Atoi(os.Getenv(benchConnectCPUEnv))
	if n <= 0 {
		t.Skipf("set %s=N to measure the server's CPU per connect of N in-memory devices", benchConnectCPUEnv)
	}
	ctx := context.Background()
	server := pprof.Labels("side", "server")
	var (
		st  *store.Store
		g   *gateway.Gateway
		ln  *pipeListener
		srv *http.Server
	)
	pprof.Do(ctx, server, func(ctx context.Context) {
		var err error
		st, err = store.Open(ctx, filepath.Join(t.TempDir(), "bench.db"))
		if err != nil {
			t.Fatal(err)
		}
		if err := st.SetSecretKey([]byte(strings.Repeat("b", 32))); err != nil {
			t.Fatal(err)
		}
		g = gateway.New(st, bus.NewLocal(), slog.New(slog.NewTextHandler(io.Discard, nil)), gateway.Options{Node: "bench"})
		mux := http.NewServeMux()
		mux.Handle("GET /device/v1/connect", g)
		ln = &pipeListener{conns: make(chan net.Conn), done: make(chan struct{})}
		srv = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
		go srv.Serve(ln)
		gctx, cancel := context.WithCancel(context.Background())
		t.Cleanup(cancel)
		go g.Run(gctx)
	})
	defer st.Close()
	defer srv.Close()
	defer g.Close()
	macs := benchDevices(t, st, n)
	if os.Getenv(benchConnectCPUUpgradeEnv) != "" {
		upgradeInFlight(t, st)
	}

	path := os.Getenv("GATEHOUSE_BENCH_CPUPROFILE")
	if path != "" {
		path += ".connectcpu"
	} else {
		path = filepath.Join(t.TempDir(), "connect.prof")
	}
	pf, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := pprof.StartCPUProfile(pf); err != nil {
		t.Fatal(err)
	}
	var (
		f    *devicesim.Fleet
		took time.Duration
	)
	pprof.Do(ctx, pprof.Labels("side", "sim"), func(context.Context) {
		f, took = connectFleet(t, devicesim.Config{Server: "http://gatehouse.invalid", MACs: macs, Dial: ln.Dial})
	})
	pprof.StopCPUProfile()
	pf.Close()
	if g.Connected() != n {
		t.Errorf("the gateway holds %d connections, want %d", g.Connected(), n)
	}
	by, err := cpuBySide(path)
	if err != nil {
		t.Fatal(err)
	}
	labelled := by["server"] + by["sim"]
	serverShare := by["server"]
	if labelled > 0 {
		serverShare += by[""] * by["server"] / labelled
	}
	ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) / float64(n) }
	t.Logf("%d devices connected in %v (%.0f/s); simulator %+v; shed %d", n, took.Round(time.Millisecond), float64(n)/took.Seconds(), f.Stats(), g.Shed())
	t.Logf("CPU: server %v, simulator %v, unlabelled (GC workers, runtime) %v", by["server"], by["sim"], by[""])
	t.Logf("server CPU per connect: %.3f ms labelled, %.3f ms with its share of the unlabelled", ms(by["server"]), ms(serverShare))
	fmt.Printf("BENCH connectcpu=%d connect_s=%.2f server_ms_per_connect=%.3f server_ms_per_connect_with_gc=%.3f sim_ms_per_connect=%.3f unlabelled_ms_per_connect=%.3f shed=%d\n",
		n, took.Seconds(), ms(by["server"]), ms(serverShare), ms(by["sim"]), ms(by[""]), g.Shed())
}

// cpuBySide sums a CPU profile's samples by their "side" label ("" for
// none). A minimal reader of the profile's protocol buffer: samples (field
// 2: values, field 2; labels, field 3) and the string table (field 6).
func cpuBySide(path string) (map[string]time.Duration, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	zr, err := gzip.NewReader(bytes.NewReader(raw))
	if err != nil {
		return nil, err
	}
	b, err := io.ReadAll(zr)
	if err != nil {
		return nil, err
	}
	type sample struct {
		ns       int64
		key, val int64 // string table indexes of the "side" label, if any
	}
	var samples []sample
	var strs []string
	err = eachField(b, func(num int, v uint64, data []byte) error {
		switch num {
		case 6:
			strs = append(strs, string(data))
		case 2:
			var s sample
			err := eachField(data, func(num int, v uint64, data []byte) error {
				switch num {
				case 2: // values: count, nanoseconds (packed, or not)
					var vals []int64
					if data == nil {
						vals = append(vals, int64(v))
					} else {
						for len(data) > 0 {
							x, k := binary.Uvarint(data)
							if k <= 0 {
								return errors.New("bad varint")
							}
							vals = append(vals, int64(x))
							data = data[k:]
						}
					}
					if len(vals) > 0 {
						s.ns += vals[len(vals)-1]
					}
				case 3:
					return eachField(data, func(num int, v uint64, _ []byte) error {
						switch num {
						case 1:
							s.key = int64(v)
						case 2:
							s.val = int64(v)
						}
						return nil
					})
				}
				return nil
			})
			if err != nil {
				return err
			}
			samples = append(samples, s)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	out := map[string]time.Duration{}
	for _, s := range samples {
		side := ""
		if s.key > 0 && int(s.key) < len(strs) && strs[s.key] == "side" && int(s.val) < len(strs) {
			side = strs[s.val]
		}
		out[side] += time.Duration(s.ns)
	}
	return out, nil
}

// eachField calls fn for each field of a protocol buffer message: varints
// with v, length-delimited fields with data.
func eachField(b []byte, fn func(num int, v uint64, data []byte) error) error {
	for len(b) > 0 {
		tag, k := binary.Uvarint(b)
		if k <= 0 {
			return errors.New("bad tag")
		}
		b = b[k:]
		num, typ := int(tag>>3), tag&7
		switch typ {
		case 0:
			v, k := binary.Uvarint(b)
			if k <= 0 {
				return errors.New("bad varint")
			}
			b = b[k:]
			if err := fn(num, v, nil); err != nil {
				return err
			}
		case 1:
			b = b[8:]
		case 5:
			b = b[4:]
		case 2:
			l, k := binary.Uvarint(b)
			if k <= 0 || uint64(len(b)-k) < l {
				return errors.New("bad length")
			}
			data := b[k : k+int(l)]
			b = b[k+int(l):]
			if err := fn(num, 0, data); err != nil {
				return err
			}
		default:
			return fmt.Errorf("wire type %d", typ)
		}
	}
	return nil
}
