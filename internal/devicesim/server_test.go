package devicesim_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/auth"
	"github.com/gatehouse-dev/gatehouse/internal/demo"
	"github.com/gatehouse-dev/gatehouse/internal/devicesim"
	"github.com/gatehouse-dev/gatehouse/internal/gateway"
	"github.com/gatehouse-dev/gatehouse/internal/mail"
	"github.com/gatehouse-dev/gatehouse/internal/model"
	"github.com/gatehouse-dev/gatehouse/internal/server"
	"github.com/gatehouse-dev/gatehouse/internal/store"
	"github.com/gatehouse-dev/gatehouse/internal/testutil"
)

// gatehouse is a real Gatehouse server (store, demo data, gateway, AutoP
// server, API) on an httptest listener, as `gatehouse serve` runs it.
type gatehouse struct {
	t   testing.TB
	st  *store.Store
	srv *server.Server
	url string
}

func newGatehouse(t testing.TB, backend string) *gatehouse {
	t.Helper()
	st := testutil.NewStore(t, backend)
	if _, err := demo.Load(context.Background(), st, demo.Options{Password: "demo-password", Users: 300, Devices: 200, Seed: 7}, io.Discard); err != nil {
		t.Fatal(err)
	}
	var logBuf lockedBuf
	log := slog.New(slog.NewTextHandler(&logBuf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("server log:\n%s", logBuf.String())
		}
	})
	au := &auth.Service{Store: st, Config: auth.DefaultConfig, Log: log}
	srv, err := server.New(server.Config{Gateway: gateway.Options{Heartbeat: 2 * time.Second, ResendEvery: time.Second}},
		st, au, mail.NewOutbox(t.TempDir(), "gatehouse@example.com"), log)
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(srv.Handler())
	// Gateway.Run is not started: the kicks that deliver commands need only
	// the bus, and Run's first step (marking this node's devices offline,
	// for devices left over by a previous run) races with devices already
	// connecting — it would mark them offline while they are connected.
	t.Cleanup(func() {
		srv.Gateway().Close()
		ts.Close()
	})
	return &gatehouse{t: t, st: st, srv: srv, url: ts.URL}
}

// macs returns n devices of demo-subdistributor's tree in projects of kind.
func (g *gatehouse) macs(kind string, n int) []string {
	g.t.Helper()
	rows, err := g.st.DB().Query(fmt.Sprintf(`SELECT d.mac FROM devices d JOIN projects p ON p.id = d.project_id
		JOIN accounts i ON i.id = d.installer_id JOIN accounts s ON s.id = i.subdistributor_id
		WHERE s.username = 'demo-subdistributor' AND p.kind = '%s' ORDER BY d.id LIMIT %d`, kind, n))
	if err != nil {
		g.t.Fatal(err)
	}
	defer rows.Close()
	var macs []string
	for rows.Next() {
		var m string
		rows.Scan(&m)
		macs = append(macs, m)
	}
	if len(macs) < n {
		g.t.Fatalf("demo data has %d %s devices of demo-subdistributor, want %d", len(macs), kind, n)
	}
	return macs
}

// enroll accepts a key per device in advance and puts a maker's claim code
// on file for each MAC, as an installer's MAC import would: the fleet's
// devices connect at once, and a factory reset's new key is enrolled by the
// claim code. It returns the config with Keys and ClaimCodes set.
func (g *gatehouse) enroll(cfg devicesim.Config) devicesim.Config {
	g.t.Helper()
	sys := model.WithActor(context.Background(), model.System)
	cfg.Keys, cfg.ClaimCodes = map[string]string{}, map[string]string{}
	var rows [][]any
	for i, m := range cfg.MACs {
		cfg.Keys[m] = fmt.Sprintf("sim-key-%s-%d-0123456789abcdefghij", m, i)
		cfg.ClaimCodes[m] = fmt.Sprintf("CLAIM%sX", m)
		var inst int64
		if err := g.st.DB().QueryRow(`SELECT installer_id FROM devices WHERE mac = '` + m + `'`).Scan(&inst); err != nil {
			g.t.Fatal(err)
		}
		rows = append(rows, []any{inst, m, "", store.ClaimCodeHash(cfg.ClaimCodes[m]), time.Now().UTC()})
	}
	if _, err := g.st.EnrollDeviceKeys(sys, cfg.Keys); err != nil {
		g.t.Fatal(err)
	}
	if err := g.st.BulkInsert(sys, "installer_macs", []string{"installer_id", "mac", "name", "claim_hash", "created_at"}, rows); err != nil {
		g.t.Fatal(err)
	}
	return cfg
}

// deviceRow is what the server recorded for a device.
func (g *gatehouse) deviceRow(mac string) (online bool, ip, model, firmware, version string) {
	g.t.Helper()
	err := g.st.DB().QueryRow(fmt.Sprintf(`SELECT online, ip, model, firmware, config_version FROM devices WHERE mac = '%s'`, mac)).
		Scan(&online, &ip, &model, &firmware, &version)
	if err != nil {
		g.t.Fatal(err)
	}
	return
}

// api calls the JSON API with a bearer token; it returns status and body.
func (g *gatehouse) api(token, method, path string, body any) (int, map[string]any, http.Header) {
	g.t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, g.url+path, rd)
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		g.t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	var m map[string]any
	json.Unmarshal(b, &m)
	if m == nil {
		m = map[string]any{"_text": string(b)}
	}
	return res.StatusCode, m, res.Header
}

func (g *gatehouse) token(user string) string {
	g.t.Helper()
	code, m, _ := g.api("", "POST", "/api/v1/auth/login", map[string]string{"username": user, "password": "demo-password"})
	if code != 200 {
		g.t.Fatalf("login %s: %d %v", user, code, m)
	}
	return m["token"].(string)
}

// commandStatus polls GET /devices/{mac}/commands until command id has status want.
func (g *gatehouse) waitCommand(tok, mac string, id float64, want string) {
	g.t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	var last any
	for time.Now().Before(deadline) {
		_, m, _ := g.api(tok, "GET", "/api/v1/devices/"+mac+"/commands", nil)
		items, _ := m["items"].([]any)
		for _, it := range items {
			c := it.(map[string]any)
			if c["id"] == id {
				last = c
				if c["status"] == want {
					return
				}
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	g.t.Fatalf("command %v of %s never %s: %v", id, mac, want, last)
}

type lockedBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuf) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuf) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// simLog is a debug logger for a fleet, shown when the test fails.
func simLog(t testing.TB) *slog.Logger {
	var b lockedBuf
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("simulator log:\n%s", b.String())
		}
	})
	return slog.New(slog.NewTextHandler(&b, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

func wait(t testing.TB, what string, d time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s", what, d)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func ctxFor(t testing.TB, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// TestAgainstGatehouse runs simulated devices against the real server on
// both back ends: connect and report, reboot, Batch AutoP (regular and
// one-time), Remote Control, factory reset, and a simulator restart.
func TestAgainstGatehouse(t *testing.T) {
	for _, backend := range testutil.Backends(t) {
		t.Run(backend, func(t *testing.T) {
			g := newGatehouse(t, backend)
			macs := g.macs("community", 4)
			state := t.TempDir()
			cfg := devicesim.Config{Server: g.url, MACs: macs, StateDir: state, Model: "X915S", Firmware: "915.30.1.7",
				Backoff: 100 * time.Millisecond, BackoffMax: time.Second, RebootDelay: 100 * time.Millisecond, Log: simLog(t)}
			cfg = g.enroll(cfg)
			fleet, err := devicesim.Start(context.Background(), cfg)
			if err != nil {
				t.Fatal(err)
			}
			defer fleet.Close()
			if err := fleet.WaitOnline(ctxFor(t, 20*time.Second), len(macs)); err != nil {
				t.Fatal(err)
			}
			d0 := fleet.Device(macs[0])
			var row string
			defer func() {
				if t.Failed() {
					t.Log("server's row:", row)
				}
			}()
			wait(t, "server records the hello", 10*time.Second, func() bool {
				on, ip, model, fw, _ := g.deviceRow(macs[0])
				row = fmt.Sprintf("online %v ip %q model %q firmware %q (device ip %q, online %v)", on, ip, model, fw, d0.IP(), d0.Online())
				return on && ip == d0.IP() && model == "X915S" && fw == "915.30.1.7"
			})
			// The boot fetch of the AutoP file is acknowledged in a status.
			wait(t, "boot fetch", 5*time.Second, func() bool { return d0.ConfigVersion() != "" })
			wait(t, "server knows the version", 5*time.Second, func() bool {
				_, _, _, _, v := g.deviceRow(macs[0])
				return v == d0.ConfigVersion()
			})

			tok := g.token("demo-subdistributor")
			// Reboot from the API: done, executed once, back online.
			code, c, _ := g.api(tok, "POST", "/api/v1/devices/"+macs[0]+"/reboot", nil)
			if code != 202 {
				t.Fatalf("reboot: %d %v", code, c)
			}
			id := c["id"].(float64)
			if err := d0.WaitBoots(ctxFor(t, 10*time.Second), 2); err != nil {
				t.Fatal(err)
			}
			g.waitCommand(tok, macs[0], id, "done")
			if err := d0.WaitOnline(ctxFor(t, 10*time.Second)); err != nil {
				t.Fatal(err)
			}
			if n := d0.Executed(fmt.Sprintf("c%.0f", id)); n != 1 {
				t.Errorf("reboot executed %d times", n)
			}

			// Batch AutoP, regular: every device applies it and acknowledges
			// the version the preview shows.
			code, b, _ := g.api(tok, "POST", "/api/v1/autop/batch", map[string]any{"scope": "community", "type": "regular",
				"commands": []string{"Config.DoorSetting.RELAY.HoldDelayA = 9"}, "macs": macs})
			if code != 201 {
				t.Fatalf("batch: %d %v", code, b)
			}
			for _, m := range macs {
				d := fleet.Device(m)
				if err := d.WaitConfig(ctxFor(t, 10*time.Second), "Config.DoorSetting.RELAY.HoldDelayA", "9"); err != nil {
					t.Fatal(err)
				}
				_, _, h := g.api(tok, "GET", "/api/v1/devices/"+m+"/autop/preview", nil)
				if err := d.WaitVersion(ctxFor(t, 5*time.Second), h.Get("X-Gatehouse-Config-Version")); err != nil {
					t.Errorf("%s: applied %q, preview says %q", m, d.ConfigVersion(), h.Get("X-Gatehouse-Config-Version"))
				}
			}
			// One-time: applied, then gone from the file (a new version
			// without it), while the device keeps the value it applied.
			code, b, _ = g.api(tok, "POST", "/api/v1/autop/batch", map[string]any{"scope": "community", "type": "once",
				"commands": []string{"Config.Settings.LANGUAGE.Type = German"}, "macs": macs[:1]})
			if code != 201 {
				t.Fatalf("once batch: %d %v", code, b)
			}
			if err := d0.WaitConfig(ctxFor(t, 10*time.Second), "Config.Settings.LANGUAGE.Type", "German"); err != nil {
				t.Fatal(err)
			}
			wait(t, "one-time command gone from the file", 10*time.Second, func() bool {
				_, m, _ := g.api(tok, "GET", "/api/v1/devices/"+macs[0]+"/autop", nil)
				once, _ := m["once"].([]any)
				return len(once) == 0
			})

			// Remote Control: the device's own web UI through the cloud.
			jar, _ := cookiejar.New(nil)
			browser := &http.Client{Jar: jar}
			res, err := browser.PostForm(g.url+"/login", url.Values{"username": {"demo-subdistributor"}, "password": {"demo-password"}})
			if err != nil {
				t.Fatal(err)
			}
			res.Body.Close()
			code, rs, _ := g.api(tok, "POST", "/api/v1/devices/"+macs[0]+"/remote-sessions", nil)
			if code != 201 {
				t.Fatalf("remote session: %d %v", code, rs)
			}
			remote := rs["url"].(string)
			if !strings.HasPrefix(remote, "http") {
				remote = g.url + remote
			}
			res, err = browser.Get(remote)
			if err != nil {
				t.Fatal(err)
			}
			page, _ := io.ReadAll(res.Body)
			res.Body.Close()
			if res.StatusCode != 200 || !strings.Contains(string(page), macs[0]) || !strings.Contains(string(page), `name="password"`) {
				t.Fatalf("remote control login page: %d %s", res.StatusCode, page)
			}
			res, err = browser.PostForm(strings.TrimSuffix(remote, "/")+"/login", url.Values{"user": {"admin"}, "password": {"admin"}})
			if err != nil {
				t.Fatal(err)
			}
			page, _ = io.ReadAll(res.Body)
			res.Body.Close()
			if !strings.HasSuffix(res.Request.URL.Path, "/status") ||
				!strings.Contains(string(page), "<td>Config.DoorSetting.RELAY.HoldDelayA</td><td>9</td>") ||
				!strings.Contains(string(page), `id="config-version">`+d0.ConfigVersion()+`<`) {
				t.Fatalf("remote control status page at %s: %s", res.Request.URL, page)
			}

			// Factory reset: a new key the server accepts, config reapplied
			// from the regular commands, the one-time one gone for good.
			oldKey := d0.Key()
			code, c, _ = g.api(tok, "POST", "/api/v1/devices/"+macs[0]+"/reset", map[string]string{"mode": "factory"})
			if code != 202 {
				t.Fatalf("reset: %d %v", code, c)
			}
			if err := d0.WaitBoots(ctxFor(t, 10*time.Second), 3); err != nil {
				t.Fatal(err)
			}
			g.waitCommand(tok, macs[0], c["id"].(float64), "done")
			if err := d0.WaitOnline(ctxFor(t, 10*time.Second)); err != nil {
				t.Fatal(err)
			}
			if d0.Key() == oldKey {
				t.Error("factory reset kept the key")
			}
			if err := d0.WaitConfig(ctxFor(t, 10*time.Second), "Config.DoorSetting.RELAY.HoldDelayA", "9"); err != nil {
				t.Fatal(err)
			}
			if _, ok := d0.Config()["Config.Settings.LANGUAGE.Type"]; ok {
				t.Error("the one-time setting came back after a factory reset")
			}

			// Restart the simulator: the same keys, so every device is let in.
			fleet.Close()
			wait(t, "server sees them go", 10*time.Second, func() bool { on, _, _, _, _ := g.deviceRow(macs[1]); return !on })
			fleet2, err := devicesim.Start(context.Background(), cfg)
			if err != nil {
				t.Fatal(err)
			}
			defer fleet2.Close()
			if err := fleet2.WaitOnline(ctxFor(t, 20*time.Second), len(macs)); err != nil {
				t.Fatal(err)
			}
			if v := fleet2.Device(macs[1]).ConfigVersion(); v == "" {
				t.Error("the applied version was not kept across the restart")
			}
		})
	}
}

// TestTunnelThroughGateway drives Gateway.Tunnel directly: several HTTP
// requests through the node to the device's web UI.
func TestTunnelThroughGateway(t *testing.T) {
	g := newGatehouse(t, "sqlite")
	macs := g.macs("personal", 1)
	fleet, err := devicesim.Start(context.Background(), g.enroll(devicesim.Config{Server: g.url, MACs: macs}))
	if err != nil {
		t.Fatal(err)
	}
	defer fleet.Close()
	if err := fleet.WaitOnline(ctxFor(t, 10*time.Second), 1); err != nil {
		t.Fatal(err)
	}
	c := &http.Client{Transport: g.srv.Gateway().Tunnel(macs[0])}
	for i := range 5 {
		res, err := c.Get("http://device/")
		if err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != 200 || !strings.Contains(string(b), macs[0]) {
			t.Fatalf("request %d: %d %s", i, res.StatusCode, b)
		}
	}
	res, err := c.PostForm("http://device/login", url.Values{"user": {"admin"}, "password": {"nope"}})
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != 401 {
		t.Errorf("wrong device password through the tunnel: %d", res.StatusCode)
	}
}
