package server_test

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/devicesim"
	"github.com/gatehouse-dev/gatehouse/internal/gateway"
	"github.com/gatehouse-dev/gatehouse/internal/model"
	"github.com/gatehouse-dev/gatehouse/internal/testutil"
)

// eachGatewayBackend runs fn on both back ends with a gateway tuned for
// tests (1 s heartbeat).
func eachGatewayBackend(t *testing.T, fn func(t *testing.T, e *env)) {
	for _, b := range testutil.Backends(t) {
		t.Run(b, func(t *testing.T) {
			t.Parallel()
			fn(t, newGatewayEnv(t, b, nil, nil, gwOptions))
		})
	}
}

// startSim connects simulated devices for macs to e's gateway.
func startSim(t *testing.T, e *env, macs ...string) *devicesim.Fleet {
	t.Helper()
	return startSimConfig(t, e, devicesim.Config{MACs: macs})
}

// startSimConfig is startSim with more settings (cfg.Server is e's); the
// devices are online when it returns.
func startSimConfig(t *testing.T, e *env, cfg devicesim.Config) *devicesim.Fleet {
	t.Helper()
	cfg.Server, cfg.StateDir = e.url, t.TempDir()
	if cfg.Keys == nil && cfg.ClaimCodes == nil {
		cfg.Keys, cfg.ClaimCodes = enrolledKeys(t, e.st, cfg.MACs), claimCodes(t, e.st, cfg.MACs)
	}
	f, err := devicesim.Start(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	waitOnline(t, f, len(cfg.MACs), 20*time.Second)
	return f
}

// waitCommand polls a command's status through the API until it is final.
func waitCommand(t *testing.T, e *env, tok, mac string, id float64) map[string]any {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		r := e.do(nil, "GET", "/api/v1/devices/"+mac+"/commands", nil, bearer(tok))
		for _, it := range r.json(t)["items"].([]any) {
			c := it.(map[string]any)
			if c["id"] == id {
				if s := c["status"]; s == "done" || s == "failed" || s == "expired" {
					return c
				}
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("command %v of %s not finished: %s", id, mac, r.body)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestRemoteMaintenanceEndToEnd drives a simulated device through the
// API: it reports itself, reboots once, resets, and shows its own web
// interface through Remote Control to the account that opened it only.
func TestRemoteMaintenanceEndToEnd(t *testing.T) {
	eachGatewayBackend(t, func(t *testing.T, e *env) {
		sub := e.token("demo-subdistributor")
		subID := e.accountID(t, "demo-subdistributor")
		mac := e.devMAC(t, fmt.Sprintf("a.subdistributor_id = %d AND p.kind = 'community' AND NOT d.online", subID))
		f := startSim(t, e, mac)
		dev := f.Device(mac)

		// The device reports itself: online, with its IP, model and firmware.
		d := e.do(nil, "GET", "/api/v1/devices/"+mac, nil, bearer(sub)).json(t)
		if d["online"] != true || d["ip"] != dev.IP() || d["model"] != "R29C" || d["firmware"] == "" || d["last_seen"] == nil {
			t.Fatalf("device as reported: %v", d)
		}

		// Reboot: done once, the device comes back.
		r := e.do(nil, "POST", "/api/v1/devices/"+mac+"/reboot", nil, bearer(sub))
		c := r.json(t)
		if r.StatusCode != 202 {
			t.Fatalf("reboot: %d %s", r.StatusCode, r.body)
		}
		if done := waitCommand(t, e, sub, mac, c["id"].(float64)); done["status"] != "done" || done["sent_at"] == nil {
			t.Fatalf("reboot: %v", done)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		if err := dev.WaitBoots(ctx, 2); err != nil {
			t.Fatalf("no reboot: boots %d", dev.Boots())
		}
		if err := dev.WaitOnline(ctx); err != nil {
			t.Fatal("not back online after the reboot")
		}
		if n := dev.Executed(gateway.CommandID(int64(c["id"].(float64)))); n != 1 {
			t.Errorf("reboot executed %d times", n)
		}

		// Remote Control: the device's own login page through the cloud.
		r = e.do(nil, "POST", "/api/v1/devices/"+mac+"/remote-sessions", nil, bearer(sub))
		rs := r.json(t)
		if r.StatusCode != 201 || !strings.Contains(fmt.Sprint(rs["url"]), "/remote/") {
			t.Fatalf("remote session: %d %s", r.StatusCode, r.body)
		}
		u, _ := url.Parse(fmt.Sprint(rs["url"]))
		b := e.browserLogin("demo-subdistributor")
		page := e.do(b.c, "GET", u.Path, nil)
		if page.StatusCode != 200 || !strings.Contains(string(page.body), mac) || !strings.Contains(string(page.body), `name="password"`) {
			t.Fatalf("remote login page: %d %s", page.StatusCode, page.body)
		}
		// Its login form posts through the tunnel (no portal CSRF token: the
		// path's token is the secret); its redirect stays under the session.
		r = e.form(b.c, u.Path+"login", url.Values{"user": {"admin"}, "password": {"admin"}})
		if r.StatusCode != 303 || r.Header.Get("Location") != u.Path+"status" {
			t.Fatalf("device login through the tunnel: %d %q %s", r.StatusCode, r.Header.Get("Location"), r.body)
		}
		for _, sc := range r.Header.Values("Set-Cookie") {
			if !strings.Contains(sc, "Path="+u.Path) {
				t.Errorf("device cookie escapes the session path: %s", sc)
			}
		}
		st := e.do(b.c, "GET", u.Path+"status", nil)
		if st.StatusCode != 200 || !strings.Contains(string(st.body), `id="config"`) {
			t.Fatalf("remote status page: %d %s", st.StatusCode, st.body)
		}
		// The portal's session never reaches the device: a device page's
		// script cannot ride on it either.
		api := e.do(b.c, "GET", "/api/v1/me", nil, "Referer: "+e.url+u.Path+"status", "Sec-Fetch-Mode: cors")
		if api.StatusCode != 403 {
			t.Errorf("API call from a remote page: %d", api.StatusCode)
		}

		// Bound to the account that opened it: the device's installer (who
		// sees the device) and its distributor get "not found".
		var inst string
		if err := e.st.DB().QueryRow(`SELECT a.username FROM devices d JOIN accounts a ON a.id = d.installer_id WHERE d.mac = '` + mac + `'`).Scan(&inst); err != nil {
			t.Fatal(err)
		}
		for _, who := range []string{inst, "demo-distributor"} {
			other := e.browserLogin(who)
			if r := e.do(other.c, "GET", u.Path, nil); r.StatusCode != 404 {
				t.Errorf("%s opened another account's session: %d", who, r.StatusCode)
			}
		}
		// Audited.
		l, err := e.st.ListAudit(sysCtx(), model.AuditFilter{Action: "device.remote_control", ObjectID: mac})
		if err != nil || l.Total != 1 {
			t.Errorf("remote control audit: %+v %v", l.Total, err)
		}

		// Offline: the session answers that the device is offline.
		f.Close()
		deadline := time.Now().Add(15 * time.Second)
		for {
			r := e.do(b.c, "GET", u.Path+"status", nil)
			if r.StatusCode == http.StatusConflict && strings.Contains(string(r.body), "offline") {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("remote control of a disconnected device: %d %s", r.StatusCode, r.body)
			}
			time.Sleep(100 * time.Millisecond)
		}
		for e.do(nil, "GET", "/api/v1/devices/"+mac, nil, bearer(sub)).json(t)["online"] != false {
			if time.Now().After(deadline) {
				t.Fatal("the device stays online after disconnecting")
			}
			time.Sleep(50 * time.Millisecond)
		}
		if r := e.do(nil, "POST", "/api/v1/devices/"+mac+"/remote-sessions", nil, bearer(sub)); r.StatusCode != 409 {
			t.Errorf("new session for an offline device: %d", r.StatusCode)
		}

		// Expired: refused with a message.
		e.st.SetClock(func() time.Time { return time.Now().Add(time.Hour) })
		defer e.st.SetClock(time.Now)
		if r := e.do(b.c, "GET", u.Path, nil); r.StatusCode != 403 || !strings.Contains(string(r.body), "expired") {
			t.Errorf("expired session: %d", r.StatusCode)
		}
	})
}

// TestDeletedDeviceIsDisconnected: deleting a connected device closes its
// connection at once, and it cannot come back (its MAC is not registered).
func TestDeletedDeviceIsDisconnected(t *testing.T) {
	eachGatewayBackend(t, func(t *testing.T, e *env) {
		sub := e.token("demo-subdistributor")
		subID := e.accountID(t, "demo-subdistributor")
		mac := e.devMAC(t, fmt.Sprintf("a.subdistributor_id = %d AND p.kind = 'personal' AND NOT d.online", subID))
		dev := startSim(t, e, mac).Device(mac)
		if r := e.do(nil, "DELETE", "/api/v1/devices/"+mac, nil, bearer(sub)); r.StatusCode != 204 && r.StatusCode != 200 {
			t.Fatalf("delete: %d %s", r.StatusCode, r.body)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := dev.WaitOffline(ctx); err != nil {
			t.Fatal("a deleted device stays connected")
		}
		time.Sleep(1500 * time.Millisecond) // the simulator's first reconnect comes within this
		if dev.Online() {
			t.Error("a deleted device connected again")
		}
	})
}
