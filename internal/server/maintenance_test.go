package server_test

import (
	"fmt"
	"net/url"
	"strings"
	"testing"
)

// commandCount counts the commands stored for a device, with SQL of its own.
func (e *env) commandCount(t *testing.T, mac string) int {
	t.Helper()
	var n int
	if err := e.st.DB().QueryRow(`SELECT count(*) FROM device_commands c JOIN devices d ON d.id = c.device_id WHERE d.mac = '` + mac + `'`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// TestMaintenanceCommandsAPI: reboot and reset are queued for an offline
// device with an id and a status, listed, validated, and scoped.
func TestMaintenanceCommandsAPI(t *testing.T) {
	eachBackend(t, func(t *testing.T, e *env) {
		sub := e.token("demo-subdistributor")
		subID := e.accountID(t, "demo-subdistributor")
		mac := e.devMAC(t, fmt.Sprintf("a.subdistributor_id = %d AND p.kind = 'community' AND NOT d.online", subID))

		r := e.do(nil, "POST", "/api/v1/devices/"+strings.ToLower(colons(mac))+"/reboot", nil, bearer(sub))
		c := r.json(t)
		if r.StatusCode != 202 || c["status"] != "queued" || c["kind"] != "reboot" || c["mac"] != mac || c["id"] == nil || c["expires_at"] == nil {
			t.Fatalf("reboot: %d %s", r.StatusCode, r.body)
		}
		r = e.do(nil, "POST", "/api/v1/devices/"+mac+"/reset", map[string]any{"mode": "warm"}, bearer(sub))
		if r.StatusCode != 400 || r.errorField(t, "mode") == "" {
			t.Errorf("reset mode warm: %d %s", r.StatusCode, r.body)
		}
		r = e.do(nil, "POST", "/api/v1/devices/"+mac+"/reset", map[string]any{"mode": "factory", "extra": 1}, bearer(sub))
		if r.StatusCode != 400 {
			t.Errorf("unknown field: %d %s", r.StatusCode, r.body)
		}
		if n := e.commandCount(t, mac); n != 1 {
			t.Fatalf("refused resets stored commands: %d", n)
		}
		r = e.do(nil, "POST", "/api/v1/devices/"+mac+"/reset", map[string]any{"mode": "factory"}, bearer(sub))
		if c := r.json(t); r.StatusCode != 202 || c["kind"] != "reset" || c["mode"] != "factory" || c["status"] != "queued" {
			t.Fatalf("reset: %d %s", r.StatusCode, r.body)
		}
		r = e.do(nil, "GET", "/api/v1/devices/"+mac+"/commands", nil, bearer(sub))
		l := r.json(t)
		items, _ := l["items"].([]any)
		if r.StatusCode != 200 || len(items) != 2 || items[0].(map[string]any)["kind"] != "reset" || items[1].(map[string]any)["kind"] != "reboot" {
			t.Fatalf("commands, newest first: %d %s", r.StatusCode, r.body)
		}
		if by := items[0].(map[string]any)["created_by"]; by != "demo-subdistributor" {
			t.Errorf("created_by %v", by)
		}

		// The device's installer may too; another sub-distributor's device
		// is not found, and nothing is queued for it.
		var inst string
		if err := e.st.DB().QueryRow(`SELECT a.username FROM devices d JOIN accounts a ON a.id = d.installer_id WHERE d.mac = '` + mac + `'`).Scan(&inst); err != nil {
			t.Fatal(err)
		}
		if r := e.do(nil, "POST", "/api/v1/devices/"+mac+"/reboot", nil, bearer(e.token(inst))); r.StatusCode != 202 {
			t.Errorf("installer reboot: %d %s", r.StatusCode, r.body)
		}
		foreign := e.devMAC(t, fmt.Sprintf("a.subdistributor_id <> %d", subID))
		for _, path := range []string{"/reboot", "/remote-sessions"} {
			if r := e.do(nil, "POST", "/api/v1/devices/"+foreign+path, nil, bearer(sub)); r.StatusCode != 404 {
				t.Errorf("foreign %s: %d %s", path, r.StatusCode, r.body)
			}
		}
		if r := e.do(nil, "POST", "/api/v1/devices/"+foreign+"/reset", map[string]any{"mode": "config"}, bearer(sub)); r.StatusCode != 404 {
			t.Errorf("foreign reset: %d", r.StatusCode)
		}
		if r := e.do(nil, "GET", "/api/v1/devices/"+foreign+"/commands", nil, bearer(sub)); r.StatusCode != 404 {
			t.Errorf("foreign commands: %d", r.StatusCode)
		}
		if n := e.commandCount(t, foreign); n != 0 {
			t.Errorf("foreign device got %d commands", n)
		}

		// Remote Control needs the device online.
		r = e.do(nil, "POST", "/api/v1/devices/"+mac+"/remote-sessions", nil, bearer(sub))
		if r.StatusCode != 409 || !strings.Contains(string(r.body), "offline") {
			t.Errorf("remote session for an offline device: %d %s", r.StatusCode, r.body)
		}
	})
}

// TestMaintenancePage: the device page's Remote maintenance panel queues a
// reboot and a reset through its forms and lists them; a Remote Control
// link needs a signed-in account, and a made-up token opens nothing.
func TestMaintenancePage(t *testing.T) {
	eachBackend(t, func(t *testing.T, e *env) {
		b := e.browserLogin("demo-subdistributor")
		subID := e.accountID(t, "demo-subdistributor")
		mac := e.devMAC(t, fmt.Sprintf("a.subdistributor_id = %d AND p.kind = 'personal' AND NOT d.online", subID))

		r := e.form(b.c, "/devices/"+mac+"/reboot", url.Values{"csrf_token": {b.csrf}})
		if r.StatusCode != 303 || !strings.HasPrefix(r.Header.Get("Location"), "/devices/"+mac+"?notice=") {
			t.Fatalf("reboot form: %d %s", r.StatusCode, r.Header.Get("Location"))
		}
		if r := e.form(b.c, "/devices/"+mac+"/reboot", url.Values{}); r.StatusCode != 403 {
			t.Errorf("reboot without CSRF token: %d", r.StatusCode)
		}
		if r := e.form(b.c, "/devices/"+mac+"/reset", url.Values{"csrf_token": {b.csrf}, "mode": {"sideways"}}); r.StatusCode != 400 {
			t.Errorf("reset with a bad mode: %d", r.StatusCode)
		}
		if r := e.form(b.c, "/devices/"+mac+"/reset", url.Values{"csrf_token": {b.csrf}, "mode": {"config"}}); r.StatusCode != 303 {
			t.Errorf("reset form: %d %s", r.StatusCode, r.body)
		}
		if n := e.commandCount(t, mac); n != 2 {
			t.Errorf("%d commands stored, want 2", n)
		}
		page := e.do(b.c, "GET", "/devices/"+mac, nil)
		body := string(page.body)
		for _, want := range []string{`id="device-commands"`, "Configuration reset", "Reboot", "queued", `action="/devices/` + mac + `/remote-control"`} {
			if !strings.Contains(body, want) {
				t.Errorf("device page lacks %q", want)
			}
		}
		// Offline: Remote Control returns to the page saying why.
		r = e.form(b.c, "/devices/"+mac+"/remote-control", url.Values{"csrf_token": {b.csrf}})
		if loc := r.Header.Get("Location"); r.StatusCode != 303 || !strings.Contains(loc, "offline") {
			t.Errorf("remote control of an offline device: %d %s", r.StatusCode, loc)
		}
		if r := e.do(nil, "GET", "/remote/made-up-token/", nil); r.StatusCode != 303 || !strings.HasPrefix(r.Header.Get("Location"), "/login") {
			t.Errorf("remote without a session: %d %s", r.StatusCode, r.Header.Get("Location"))
		}
		if r := e.do(b.c, "GET", "/remote/made-up-token/status", nil); r.StatusCode != 404 {
			t.Errorf("made-up token: %d", r.StatusCode)
		}
	})
}
