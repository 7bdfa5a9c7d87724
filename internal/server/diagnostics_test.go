package server_test

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/auth"
	"github.com/gatehouse-dev/gatehouse/internal/demo"
	"github.com/gatehouse-dev/gatehouse/internal/devicesim"
	"github.com/gatehouse-dev/gatehouse/internal/gateway"
	"github.com/gatehouse-dev/gatehouse/internal/mail"
	"github.com/gatehouse-dev/gatehouse/internal/mail/mailtest"
	"github.com/gatehouse-dev/gatehouse/internal/server"
	"github.com/gatehouse-dev/gatehouse/internal/testutil"
	"github.com/gatehouse-dev/gatehouse/internal/usecase"
)

// newDiagEnv is newGatewayEnv with the server's diagnostics settings.
func newDiagEnv(t *testing.T, backend string, cfg server.Config) *env {
	t.Helper()
	st := testutil.NewStore(t, backend)
	if _, err := demo.Load(context.Background(), st, demo.Options{Password: demoPassword, Users: 300, Devices: 200, Seed: 7}, io.Discard); err != nil {
		t.Fatal(err)
	}
	var logBuf syncBuffer
	log := slog.New(slog.NewTextHandler(&logBuf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	au := &auth.Service{Store: st, Config: auth.DefaultConfig, Log: log}
	smtpd := mailtest.Start(t)
	mailer, err := mail.NewSMTP(smtpd.Config())
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Gateway.Heartbeat == 0 {
		cfg.Gateway.Heartbeat = gwOptions.Heartbeat
	}
	srv, err := server.New(cfg, st, au, mailer, log)
	if err != nil {
		t.Fatal(err)
	}
	ts, front := serveNode(t, srv)
	t.Cleanup(func() { srv.Gateway().Close() })
	return &env{t: t, st: st, auth: au, srv: srv, ts: ts, front: front, url: ts.URL, log: &logBuf.Buffer, mail: mailer, smtpd: smtpd}
}

// subDeviceMACs returns n offline devices of the demo sub-distributor.
func subDeviceMACs(t *testing.T, e *env, n int) []string {
	t.Helper()
	rows, err := e.st.DB().Query(fmt.Sprintf(`SELECT d.mac FROM devices d JOIN accounts a ON a.id = d.subdistributor_id
		WHERE a.username = '%s' AND NOT d.online ORDER BY d.id LIMIT %d`, demo.SubdistributorUser, n))
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var macs []string
	for rows.Next() {
		var m string
		rows.Scan(&m)
		macs = append(macs, m)
	}
	if len(macs) != n {
		t.Fatalf("%d devices, want %d", len(macs), n)
	}
	return macs
}

// askDiagnostic posts a diagnostic and returns its id (202 expected).
func askDiagnostic(t *testing.T, e *env, tok, mac string, body map[string]any) float64 {
	t.Helper()
	r := e.do(nil, "POST", "/api/v1/devices/"+mac+"/diagnostics", body, bearer(tok))
	if r.StatusCode != 202 {
		t.Fatalf("ask %v: %d %s", body, r.StatusCode, r.body)
	}
	g := r.json(t)
	if g["state"] != "queued" || g["mac"] != mac {
		t.Fatalf("asked: %v", g)
	}
	return g["id"].(float64)
}

// waitDiagnostic polls a diagnostic until it is finished.
func waitDiagnostic(t *testing.T, e *env, tok string, id float64, within time.Duration) map[string]any {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		r := e.do(nil, "GET", fmt.Sprintf("/api/v1/diagnostics/%d", int64(id)), nil, bearer(tok))
		g := r.json(t)
		if s := g["state"]; s == "done" || s == "failed" || s == "expired" {
			return g
		}
		if time.Now().After(deadline) {
			t.Fatalf("diagnostic %v not finished: %s", id, r.body)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// download fetches a diagnostic's file, checking the download's headers.
func download(t *testing.T, e *env, tok string, g map[string]any) []byte {
	t.Helper()
	r := e.do(nil, "GET", fmt.Sprintf("/api/v1/diagnostics/%d/file", int64(g["id"].(float64))), nil, bearer(tok))
	if r.StatusCode != 200 {
		t.Fatalf("download: %d %s", r.StatusCode, r.body)
	}
	if cd := r.Header.Get("Content-Disposition"); !strings.HasPrefix(cd, "attachment;") || !strings.Contains(cd, fmt.Sprint(g["file_name"])) {
		t.Errorf("Content-Disposition: %q", cd)
	}
	if r.Header.Get("X-Content-Type-Options") != "nosniff" || r.Header.Get("Content-Type") != g["content_type"] {
		t.Errorf("headers: %v (recorded %v)", r.Header, g["content_type"])
	}
	if int(g["size"].(float64)) != len(r.body) {
		t.Errorf("size %v, got %d bytes", g["size"], len(r.body))
	}
	return r.body
}

// pcapPacket is one record of a libpcap file.
type pcapPacket struct {
	data []byte
}

// readPcap parses a libpcap file (little-endian, microseconds, Ethernet)
// and checks every IPv4 header checksum.
func readPcap(t *testing.T, b []byte) []pcapPacket {
	t.Helper()
	if len(b) < 24 || binary.LittleEndian.Uint32(b) != 0xa1b2c3d4 {
		t.Fatalf("not a libpcap file: % x", b[:min(len(b), 24)])
	}
	if v1, v2 := binary.LittleEndian.Uint16(b[4:]), binary.LittleEndian.Uint16(b[6:]); v1 != 2 || v2 != 4 {
		t.Fatalf("version %d.%d", v1, v2)
	}
	if lt := binary.LittleEndian.Uint32(b[20:]); lt != 1 {
		t.Fatalf("link type %d, want 1 (Ethernet)", lt)
	}
	snap := binary.LittleEndian.Uint32(b[16:])
	var out []pcapPacket
	for off := 24; off < len(b); {
		if off+16 > len(b) {
			t.Fatalf("a record header cut at %d", off)
		}
		incl := int(binary.LittleEndian.Uint32(b[off+8:]))
		if incl > int(snap) || off+16+incl > len(b) {
			t.Fatalf("record at %d: %d bytes", off, incl)
		}
		p := b[off+16 : off+16+incl]
		if len(p) < 34 || binary.BigEndian.Uint16(p[12:]) != 0x0800 {
			t.Fatalf("record at %d is not IPv4 over Ethernet", off)
		}
		ip := p[14:34]
		var sum uint32
		for i := 0; i < 20; i += 2 {
			sum += uint32(binary.BigEndian.Uint16(ip[i:]))
		}
		for sum>>16 != 0 {
			sum = sum&0xffff + sum>>16
		}
		if sum != 0xffff {
			t.Fatalf("record at %d: bad IPv4 header checksum", off)
		}
		out = append(out, pcapPacket{p})
		off += 16 + incl
	}
	return out
}

// tcpdump reads a capture file with tcpdump -r and returns its output.
func tcpdump(t *testing.T, b []byte) string {
	t.Helper()
	bin, err := exec.LookPath("tcpdump")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("tcpdump is not installed: CI must open the capture with it")
		}
		t.Skip("tcpdump is not installed")
	}
	f := filepath.Join(t.TempDir(), "capture.pcap")
	if err := os.WriteFile(f, b, 0o600); err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	cmd := exec.Command(bin, "-nn", "-r", f)
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("tcpdump -r: %v\n%s%s", err, out, stderr.String())
	}
	return string(out)
}

// TestDiagnosticsEndToEnd asks a simulated device for each kind through
// the API and checks what comes back: its own log, ping and traceroute
// output, a capture tcpdump opens, a filter honoured and one refused; bad
// input named; another tree's diagnostics not found; the installer's
// paths; the download audited.
func TestDiagnosticsEndToEnd(t *testing.T) {
	for _, b := range testutil.Backends(t) {
		t.Run(b, func(t *testing.T) {
			t.Parallel()
			e := newDiagEnv(t, b, server.Config{})
			sub := e.token(demo.SubdistributorUser)
			mac := subDeviceMACs(t, e, 1)[0]
			startSim(t, e, mac)

			// The system log: the device's own events, the last N lines.
			id := askDiagnostic(t, e, sub, mac, map[string]any{"kind": "log", "lines": 50})
			g := waitDiagnostic(t, e, sub, id, 20*time.Second)
			if g["state"] != "done" || g["content_type"] != "text/plain; charset=utf-8" || g["sha256"] == "" {
				t.Fatalf("log: %v", g)
			}
			log := string(download(t, e, sub, g))
			for _, want := range []string{"Booting Linux", "hello sent", "welcome: heartbeat", fmt.Sprintf("diagnostic d%d: log requested", int64(id))} {
				if !strings.Contains(log, want) {
					t.Errorf("log lacks %q:\n%s", want, log)
				}
			}
			since := time.Now().UTC().Add(time.Hour).Format(time.RFC3339)
			g = waitDiagnostic(t, e, sub, askDiagnostic(t, e, sub, mac, map[string]any{"kind": "log", "since": since}), 20*time.Second)
			if got := strings.TrimSpace(string(download(t, e, sub, g))); got != "" {
				t.Errorf("log since a future time: %q", got)
			}

			// Ping and traceroute, as Linux prints them.
			g = waitDiagnostic(t, e, sub, askDiagnostic(t, e, sub, mac, map[string]any{"kind": "ping", "host": "sip.example.com", "count": 3}), 20*time.Second)
			ping := string(download(t, e, sub, g))
			if !strings.HasPrefix(ping, "PING sip.example.com (203.0.113.") || strings.Count(ping, "icmp_seq=") != 3 ||
				!strings.Contains(ping, "3 packets transmitted, 3 received, 0% packet loss") || !strings.Contains(ping, "rtt min/avg/max/mdev = ") {
				t.Errorf("ping output:\n%s", ping)
			}
			g = waitDiagnostic(t, e, sub, askDiagnostic(t, e, sub, mac, map[string]any{"kind": "traceroute", "host": "8.8.8.8", "max_hops": 3}), 20*time.Second)
			trace := string(download(t, e, sub, g))
			if !strings.HasPrefix(trace, "traceroute to 8.8.8.8 (8.8.8.8), 3 hops max") || !strings.Contains(trace, "\n 3  ") || strings.Contains(trace, "\n 4  ") {
				t.Errorf("traceroute output:\n%s", trace)
			}

			// A capture of 2 s: a valid libpcap file, every kind of packet.
			g = waitDiagnostic(t, e, sub, askDiagnostic(t, e, sub, mac, map[string]any{"kind": "pcap", "seconds": 2}), 30*time.Second)
			if g["state"] != "done" || g["content_type"] != "application/vnd.tcpdump.pcap" || g["file_name"] != "capture.pcap" {
				t.Fatalf("pcap: %v", g)
			}
			pcap := download(t, e, sub, g)
			if n := len(readPcap(t, pcap)); n < 20 {
				t.Errorf("%d packets in 2 s", n)
			}
			dump := tcpdump(t, pcap)
			for _, want := range []string{".5060 > ", "Flags [S]", "ICMP echo request", ".53: ", "UDP, length 172"} {
				if !strings.Contains(dump, want) {
					t.Errorf("tcpdump output lacks %q:\n%s", want, dump)
				}
			}
			// Filtered: SIP only.
			g = waitDiagnostic(t, e, sub, askDiagnostic(t, e, sub, mac, map[string]any{"kind": "pcap", "seconds": 1, "filter": "udp and port 5060"}), 30*time.Second)
			sip := download(t, e, sub, g)
			for _, p := range readPcap(t, sip) {
				if p.data[23] != 17 || binary.BigEndian.Uint16(p.data[34:]) != 5060 {
					t.Fatalf("filtered capture holds a packet not udp port 5060: % x", p.data[:40])
				}
			}
			if lines := strings.Count(strings.TrimSpace(tcpdump(t, sip)), "\n") + 1; lines != 2 {
				t.Errorf("SIP packets in 1 s: %d", lines)
			}
			// A filter the device does not know: failed, naming it.
			g = waitDiagnostic(t, e, sub, askDiagnostic(t, e, sub, mac, map[string]any{"kind": "pcap", "seconds": 1, "filter": "vlan 100"}), 20*time.Second)
			if g["state"] != "failed" || !strings.Contains(fmt.Sprint(g["error"]), `"vlan"`) {
				t.Errorf("unsupported filter: %v", g)
			}
			if r := e.do(nil, "GET", fmt.Sprintf("/api/v1/diagnostics/%d/file", int64(g["id"].(float64))), nil, bearer(sub)); r.StatusCode != 409 {
				t.Errorf("file of a failed diagnostic: %d", r.StatusCode)
			}

			// Bad input: 400 naming the field, nothing queued.
			for field, body := range map[string]map[string]any{
				"kind":     {"kind": "reboot"},
				"host":     {"kind": "ping", "host": "8.8.8.8; rm -rf /"},
				"count":    {"kind": "ping", "host": "8.8.8.8", "count": 21},
				"max_hops": {"kind": "traceroute", "host": "example.com", "max_hops": 65},
				"lines":    {"kind": "log", "lines": 10001},
				"since":    {"kind": "log", "since": "yesterday"},
				"seconds":  {"kind": "pcap", "seconds": 61},
				"filter":   {"kind": "pcap", "filter": "port 5060; reboot"},
			} {
				r := e.do(nil, "POST", "/api/v1/devices/"+mac+"/diagnostics", body, bearer(sub))
				if r.StatusCode != 400 || !strings.Contains(string(r.body), field) {
					t.Errorf("%v: %d %s", body, r.StatusCode, r.body)
				}
			}
			r := e.do(nil, "POST", "/api/v1/devices/"+mac+"/diagnostics", map[string]any{"kind": "ping", "host": strings.Repeat("a", 254)}, bearer(sub))
			if r.StatusCode != 400 || !strings.Contains(string(r.body), "host") {
				t.Errorf("a long host: %d %s", r.StatusCode, r.body)
			}

			// The list, newest first, without files.
			r = e.do(nil, "GET", "/api/v1/devices/"+mac+"/diagnostics", nil, bearer(sub))
			items := r.json(t)["items"].([]any)
			if len(items) != 7 || items[0].(map[string]any)["kind"] != "pcap" {
				t.Errorf("list: %s", r.body)
			}

			// Another tree: not found on every route.
			var otherSub string
			if err := e.st.DB().QueryRow(`SELECT username FROM accounts WHERE role = 'subdistributor' AND username <> '` + demo.SubdistributorUser + `' ORDER BY id LIMIT 1`).Scan(&otherSub); err != nil {
				t.Fatal(err)
			}
			other := e.token(otherSub)
			gid := int64(id)
			for _, rt := range [][2]string{{"POST", "/api/v1/devices/" + mac + "/diagnostics"}, {"GET", "/api/v1/devices/" + mac + "/diagnostics"},
				{"GET", fmt.Sprintf("/api/v1/diagnostics/%d", gid)}, {"GET", fmt.Sprintf("/api/v1/diagnostics/%d/file", gid)}} {
				r := e.do(nil, rt[0], rt[1], map[string]any{"kind": "log"}, bearer(other))
				if r.StatusCode != 404 {
					t.Errorf("%s %s by another sub-distributor: %d %s", rt[0], rt[1], r.StatusCode, r.body)
				}
			}

			// The device's installer, on its own paths too.
			var inst string
			if err := e.st.DB().QueryRow(`SELECT a.username FROM devices d JOIN accounts a ON a.id = d.installer_id WHERE d.mac = '` + mac + `'`).Scan(&inst); err != nil {
				t.Fatal(err)
			}
			itok := e.token(inst)
			r = e.do(nil, "POST", "/api/v1/installer/devices/"+mac+"/diagnostics", map[string]any{"kind": "ping", "host": "10.0.0.1", "count": 1}, bearer(itok))
			if r.StatusCode != 202 {
				t.Fatalf("installer: %d %s", r.StatusCode, r.body)
			}
			g = waitDiagnostic(t, e, itok, r.json(t)["id"].(float64), 20*time.Second)
			if g["requested_by"] != inst || !strings.Contains(string(download(t, e, itok, g)), "64 bytes from 10.0.0.1") {
				t.Errorf("installer's ping: %v", g)
			}
			if r := e.do(nil, "GET", "/api/v1/installer/devices/"+mac+"/diagnostics", nil, bearer(itok)); r.StatusCode != 200 || len(r.json(t)["items"].([]any)) != 8 {
				t.Errorf("installer's list: %d", r.StatusCode)
			}

			// Audited: each request and each download.
			var asked, downloaded int
			e.st.DB().QueryRow(`SELECT count(*) FROM audit_log WHERE action = 'device.diagnose' AND object_id = '` + mac + `'`).Scan(&asked)
			e.st.DB().QueryRow(`SELECT count(*) FROM audit_log WHERE action = 'device.diagnostic_download' AND object_id = '` + mac + `'`).Scan(&downloaded)
			if asked != 8 || downloaded != 7 {
				t.Errorf("audit: %d requests, %d downloads", asked, downloaded)
			}
		})
	}
}

// TestDiagnosticsFailures: a result over the size cap, a device that goes
// silent, one that does not implement diagnostics, one whose header line
// is too long, and the bound of two
// open ones per device — each failed with its reason, nothing stored as
// done.
func TestDiagnosticsFailures(t *testing.T) {
	e := newDiagEnv(t, "sqlite", server.Config{Diagnostics: usecase.DiagnosticOptions{MaxBytes: 3000},
		Gateway: gateway.Options{DiagnosticIdle: time.Second}})
	sub := e.token(demo.SubdistributorUser)
	macs := subDeviceMACs(t, e, 4)
	startSim(t, e, macs[0])
	startSimConfig(t, e, devicesim.Config{MACs: macs[3:4], Diagnostics: devicesim.DiagnosticsHuge})
	startSimConfig(t, e, devicesim.Config{MACs: macs[1:2], Diagnostics: devicesim.DiagnosticsSilent})
	startSimConfig(t, e, devicesim.Config{MACs: macs[2:3], Diagnostics: devicesim.DiagnosticsNone})

	g := waitDiagnostic(t, e, sub, askDiagnostic(t, e, sub, macs[0], map[string]any{"kind": "pcap", "seconds": 3}), 20*time.Second)
	if g["state"] != "failed" || !strings.Contains(fmt.Sprint(g["error"]), "larger than 3000 bytes") || g["size"].(float64) != 0 {
		t.Errorf("oversize: %v", g)
	}
	g = waitDiagnostic(t, e, sub, askDiagnostic(t, e, sub, macs[1], map[string]any{"kind": "log"}), 20*time.Second)
	if g["state"] != "failed" || !strings.Contains(fmt.Sprint(g["error"]), "silent") {
		t.Errorf("silent: %v", g)
	}
	g = waitDiagnostic(t, e, sub, askDiagnostic(t, e, sub, macs[2], map[string]any{"kind": "ping", "host": "8.8.8.8"}), 20*time.Second)
	if g["state"] != "failed" || !strings.Contains(fmt.Sprint(g["error"]), "does not support diagnostics") {
		t.Errorf("unsupported: %v", g)
	}
	g = waitDiagnostic(t, e, sub, askDiagnostic(t, e, sub, macs[3], map[string]any{"kind": "log"}), 20*time.Second)
	if g["state"] != "failed" || !strings.Contains(fmt.Sprint(g["error"]), "header line is longer than 4096 bytes") {
		t.Errorf("huge header: %v", g)
	}
	var files int
	e.st.DB().QueryRow(`SELECT count(*) FROM device_diagnostic_files`).Scan(&files)
	if files != 0 {
		t.Errorf("%d files stored for failed diagnostics", files)
	}
	// Two open per device: a third is refused.
	askDiagnostic(t, e, sub, macs[0], map[string]any{"kind": "pcap", "seconds": 2, "filter": "icmp"})
	askDiagnostic(t, e, sub, macs[0], map[string]any{"kind": "pcap", "seconds": 2, "filter": "icmp"})
	if r := e.do(nil, "POST", "/api/v1/devices/"+macs[0]+"/diagnostics", map[string]any{"kind": "log"}, bearer(sub)); r.StatusCode != 409 {
		t.Errorf("a third open diagnostic: %d %s", r.StatusCode, r.body)
	}
}

// TestDiagnosticsOfflineThenOnline: a diagnostic asked of an offline
// device waits queued and runs when it connects; one whose device does
// not come before the expiry expires, and the retention sweep (on a node
// running, under its lease) deletes old ones with their files.
func TestDiagnosticsOfflineExpiryRetention(t *testing.T) {
	e := newDiagEnv(t, "sqlite", server.Config{Addr: "127.0.0.1:0", DiagnosticsSweepEvery: 20 * time.Millisecond,
		Diagnostics: usecase.DiagnosticOptions{Retention: time.Hour}})
	sub := e.token(demo.SubdistributorUser)
	macs := subDeviceMACs(t, e, 2)
	id := askDiagnostic(t, e, sub, macs[0], map[string]any{"kind": "ping", "host": "8.8.8.8", "count": 1})
	late := askDiagnostic(t, e, sub, macs[1], map[string]any{"kind": "log"})
	time.Sleep(300 * time.Millisecond)
	if g := e.do(nil, "GET", fmt.Sprintf("/api/v1/diagnostics/%d", int64(id)), nil, bearer(sub)).json(t); g["state"] != "queued" {
		t.Fatalf("offline: %v", g)
	}
	startSim(t, e, macs[0])
	if g := waitDiagnostic(t, e, sub, id, 20*time.Second); g["state"] != "done" {
		t.Fatalf("after connecting: %v", g)
	}

	ctx, stop := context.WithCancel(context.Background())
	ran := make(chan error, 1)
	var skew time.Duration
	st := e.st
	st.SetClock(func() time.Time { return time.Now().UTC().Add(skew) })
	go func() { ran <- e.srv.Run(ctx, nil) }()
	shutdown := sync.OnceValue(func() error { stop(); return <-ran })
	defer func() {
		if err := shutdown(); err != nil && !errors.Is(err, context.Canceled) {
			t.Log(err)
		}
	}()
	skew = 10 * time.Minute // past the 5 minutes a request waits
	if g := waitDiagnostic(t, e, sub, late, 20*time.Second); g["state"] != "expired" {
		t.Fatalf("not expired: %v", g)
	}
	skew = 2 * time.Hour // past the retention
	eventually(t, 20*time.Second, "diagnostics deleted", func() bool {
		var n, files int
		st.DB().QueryRow(`SELECT count(*) FROM device_diagnostics`).Scan(&n)
		st.DB().QueryRow(`SELECT count(*) FROM device_diagnostic_files`).Scan(&files)
		return n == 0 && files == 0
	})
	if r := e.do(nil, "GET", fmt.Sprintf("/api/v1/diagnostics/%d", int64(id)), nil, bearer(sub)); r.StatusCode != 404 {
		t.Errorf("deleted diagnostic: %d", r.StatusCode)
	}
	// A node shutting down gives the sweeper's lease up: another goes on
	// at once.
	shutdown()
	var node string
	if err := st.DB().QueryRow(`SELECT node FROM notification_leases WHERE name = 'diagnostics'`).Scan(&node); err != nil || node != "" {
		t.Errorf("the diagnostics lease after shutdown: %q %v", node, err)
	}
}

// TestMultiNodeDiagnostics: asked on node A, run by node B (which holds
// the device), downloaded from A.
func TestMultiNodeDiagnostics(t *testing.T) {
	a, b := twoNodes(t)
	tok := a.token(demo.SubdistributorUser)
	mac := subMACs(t, a.st, 1)[0]
	f := startFleet(t, b, mac)
	waitOnline(t, f, 1, 10*time.Second)
	eventually(t, 5*time.Second, "held by node B", func() bool { return b.srv.Gateway().Connected() == 1 })
	g := waitDiagnostic(t, a, tok, askDiagnostic(t, a, tok, mac, map[string]any{"kind": "pcap", "seconds": 1, "filter": "icmp"}), 20*time.Second)
	if g["state"] != "done" {
		t.Fatalf("through node B: %v", g)
	}
	var node string
	a.st.DB().QueryRow(fmt.Sprintf(`SELECT node FROM device_diagnostics WHERE id = %d`, int64(g["id"].(float64)))).Scan(&node)
	if node != "node-b" {
		t.Errorf("run by %q", node)
	}
	pkts := readPcap(t, download(t, a, tok, g))
	if len(pkts) != 2 || pkts[0].data[23] != 1 {
		t.Errorf("icmp in 1 s: %d packets", len(pkts))
	}
}

// TestDiagnosticsNodeBound: a node runs at most DiagnosticsAtOnce
// diagnostics (each holds its result in memory until complete); another
// device's waits queued while the slot is taken and starts as soon as it
// frees, not at the next sweep.
func TestDiagnosticsNodeBound(t *testing.T) {
	e := newDiagEnv(t, "sqlite", server.Config{Gateway: gateway.Options{DiagnosticsAtOnce: 1, ResendEvery: time.Hour}})
	sub := e.token(demo.SubdistributorUser)
	macs := subDeviceMACs(t, e, 2)
	startSim(t, e, macs[0])
	startSim(t, e, macs[1])
	capture := askDiagnostic(t, e, sub, macs[0], map[string]any{"kind": "pcap", "seconds": 3, "filter": "icmp"})
	get := func(id float64) map[string]any {
		return e.do(nil, "GET", fmt.Sprintf("/api/v1/diagnostics/%d", int64(id)), nil, bearer(sub)).json(t)
	}
	for deadline := time.Now().Add(20 * time.Second); get(capture)["state"] != "running"; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the capture never ran: %v", get(capture))
		}
	}
	log := askDiagnostic(t, e, sub, macs[1], map[string]any{"kind": "log"})
	time.Sleep(500 * time.Millisecond)
	if g, c := get(log), get(capture); c["state"] == "running" && g["state"] != "queued" {
		t.Fatalf("a second diagnostic ran beside the first on a node bound to one: %v", g)
	}
	first := waitDiagnostic(t, e, sub, capture, 20*time.Second)
	second := waitDiagnostic(t, e, sub, log, 20*time.Second)
	if first["state"] != "done" || second["state"] != "done" {
		t.Fatalf("capture %v, log %v", first, second)
	}
	ended, _ := time.Parse(time.RFC3339Nano, first["finished_at"].(string))
	began, _ := time.Parse(time.RFC3339Nano, second["started_at"].(string))
	if began.Before(ended.Add(-time.Second)) {
		t.Errorf("the log started at %v, before the capture ended at %v", began, ended)
	}
}

// TestDiagnosticsShareOfOneAccount: one account's diagnostics take a
// quarter of a node's slots at most, so that one tenant's slow devices
// cannot hold them all: on a node of 4, the sub-distributor's second one
// waits for its first while another account's runs beside it.
func TestDiagnosticsShareOfOneAccount(t *testing.T) {
	e := newDiagEnv(t, "sqlite", server.Config{Gateway: gateway.Options{DiagnosticsAtOnce: 4, ResendEvery: time.Hour}})
	sub := e.token(demo.SubdistributorUser)
	macs := subDeviceMACs(t, e, 3)
	for _, m := range macs {
		startSim(t, e, m)
	}
	var inst string
	if err := e.st.DB().QueryRow(`SELECT a.username FROM devices d JOIN accounts a ON a.id = d.installer_id WHERE d.mac = '` + macs[2] + `'`).Scan(&inst); err != nil {
		t.Fatal(err)
	}
	itok := e.token(inst)
	get := func(tok string, id float64) map[string]any {
		return e.do(nil, "GET", fmt.Sprintf("/api/v1/diagnostics/%d", int64(id)), nil, bearer(tok)).json(t)
	}
	capture := askDiagnostic(t, e, sub, macs[0], map[string]any{"kind": "pcap", "seconds": 3, "filter": "icmp"})
	for deadline := time.Now().Add(20 * time.Second); get(sub, capture)["state"] != "running"; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the capture never ran: %v", get(sub, capture))
		}
	}
	second := askDiagnostic(t, e, sub, macs[1], map[string]any{"kind": "log"})
	r := e.do(nil, "POST", "/api/v1/installer/devices/"+macs[2]+"/diagnostics", map[string]any{"kind": "log"}, bearer(itok))
	if r.StatusCode != 202 {
		t.Fatalf("installer: %d %s", r.StatusCode, r.body)
	}
	other := r.json(t)["id"].(float64)
	if g := waitDiagnostic(t, e, itok, other, 20*time.Second); g["state"] != "done" {
		t.Fatalf("another account's diagnostic: %v", g)
	}
	if c, g := get(sub, capture), get(sub, second); c["state"] == "running" && g["state"] != "queued" {
		t.Errorf("the sub-distributor's second diagnostic ran beside its first on a node of 4 slots: %v", g)
	}
	if g := waitDiagnostic(t, e, sub, second, 20*time.Second); g["state"] != "done" {
		t.Errorf("the second, once the first ended: %v", g)
	}
}
