package server_test

import (
	"net/url"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
)

// Setting → Notification: the API and the page, for every role.

func TestNotificationSettingsAPI(t *testing.T) {
	eachBackend(t, func(t *testing.T, e *env) {
		path := "/api/v1/me/notifications"
		if r := e.do(nil, "GET", path, nil); r.StatusCode != 401 {
			t.Fatalf("without a session: %d", r.StatusCode)
		}
		toks := map[string]string{}
		for _, u := range []string{"demo-admin", "demo-distributor", "demo-subdistributor", "demo-installer"} {
			toks[u] = e.token(u)
			// The defaults: every kind on, 10 minutes.
			r := e.do(nil, "GET", path, nil, bearer(toks[u]))
			j := r.json(t)
			if r.StatusCode != 200 || j["enduser_expiry"] != true || j["device_offline"] != true || j["order_result"] != true ||
				j["rollout_paused"] != true || j["offline_minutes"] != float64(10) || j["updated_at"] != nil {
				t.Fatalf("%s defaults: %d %s", u, r.StatusCode, r.body)
			}
		}
		sub := toks["demo-subdistributor"]
		// Bad input: 400 naming the field, nothing saved.
		for body, field := range map[string]string{
			`{"offline_minutes": 0}`:            "offline_minutes",
			`{"offline_minutes": 1441}`:         "offline_minutes",
			`{"offline_minutes": "ten"}`:        "offline_minutes",
			`{"device_offline": "yes"}`:         "device_offline",
			`{"device_offline": false, "x": 1}`: "x",
		} {
			r := e.do(nil, "PUT", path, body, bearer(sub), "Content-Type: application/json")
			if r.StatusCode != 400 || r.errorField(t, field) == "" {
				t.Errorf("PUT %s: %d %s, want 400 naming %s", body, r.StatusCode, r.body, field)
			}
		}
		if r := e.do(nil, "GET", path, nil, bearer(sub)); r.json(t)["updated_at"] != nil || r.json(t)["device_offline"] != true {
			t.Fatalf("a refused PUT saved something: %s", r.body)
		}
		// Saved; an omitted field keeps its value; the account's own only.
		r := e.do(nil, "PUT", path, map[string]any{"device_offline": false, "offline_minutes": 45}, bearer(sub))
		j := r.json(t)
		if r.StatusCode != 200 || j["device_offline"] != false || j["offline_minutes"] != float64(45) || j["enduser_expiry"] != true || j["updated_at"] == nil {
			t.Fatalf("PUT: %d %s", r.StatusCode, r.body)
		}
		r = e.do(nil, "PUT", path, map[string]any{"order_result": false}, bearer(sub))
		if j := r.json(t); j["device_offline"] != false || j["offline_minutes"] != float64(45) || j["order_result"] != false {
			t.Fatalf("second PUT lost the first: %s", r.body)
		}
		if r := e.do(nil, "GET", path, nil, bearer(toks["demo-installer"])); r.json(t)["device_offline"] != true || r.json(t)["order_result"] != true {
			t.Errorf("the installer's settings changed with its sub-distributor's: %s", r.body)
		}
		var n int
		if err := e.st.DB().QueryRow(`SELECT count(*) FROM audit_log WHERE action = 'notifications.save'`).Scan(&n); err != nil || n != 2 {
			t.Errorf("audit entries: %d %v, want 2", n, err)
		}
	})
}

func TestNotificationSettingsPage(t *testing.T) {
	e := newEnv(t, "sqlite")
	for _, u := range []string{"demo-admin", "demo-distributor", "demo-subdistributor", "demo-installer"} {
		b := e.browserLogin(u)
		home := e.do(b.c, "GET", "/", nil)
		if !strings.Contains(string(home.body), `id="account-link"`) {
			t.Errorf("%s: no Account link in the top bar", u)
		}
		if acc := e.do(b.c, "GET", "/account", nil); !strings.Contains(string(acc.body), `href="/account/notifications"`) {
			t.Errorf("%s: no Notifications link on the account page", u)
		}
		r := e.do(b.c, "GET", "/account/notifications", nil)
		if r.StatusCode != 200 || !strings.Contains(string(r.body), `id="notify-device_offline" checked`) {
			t.Fatalf("%s page: %d %s", u, r.StatusCode, r.body)
		}
		// Bad minutes: the form again, 400, the field named, nothing saved.
		r = e.form(b.c, "/account/notifications", url.Values{"csrf_token": {b.csrf}, "enduser_expiry": {"on"}, "offline_minutes": {"0"}})
		if r.StatusCode != 400 || !strings.Contains(string(r.body), "offline_minutes") || !strings.Contains(string(r.body), "field-error") {
			t.Errorf("%s bad minutes: %d", u, r.StatusCode)
		}
		r = e.form(b.c, "/account/notifications", url.Values{"csrf_token": {b.csrf}, "enduser_expiry": {"on"}, "offline_minutes": {"30"}})
		if r.StatusCode != 303 {
			t.Fatalf("%s save: %d %s", u, r.StatusCode, r.body)
		}
		r = e.do(b.c, "GET", "/account/notifications", nil)
		body := string(r.body)
		if !strings.Contains(body, `id="notify-enduser_expiry" checked`) || strings.Contains(body, `id="notify-device_offline" checked`) ||
			!strings.Contains(body, `value="30"`) {
			t.Errorf("%s after saving: %s", u, body)
		}
	}
	// The Setting module (sub-distributor) and the installer's Settings link to it.
	for u, page := range map[string]string{"demo-subdistributor": "/settings", "demo-installer": "/installer/settings"} {
		b := e.browserLogin(u)
		if r := e.do(b.c, "GET", page, nil); !strings.Contains(string(r.body), `id="notification-settings-link"`) {
			t.Errorf("%s %s: no Notification section", u, page)
		}
	}
}

// TestBrowserNotificationSettings: a sub-distributor opens Setting →
// Notification from its Setting module and switches device mails off.
func TestBrowserNotificationSettings(t *testing.T) {
	execPath := requireChromium(t)
	e := newEnv(t, "sqlite")
	c := newChrome(t, execPath, e.url, 1280, 900, chromeTimeout)
	c.login("demo-subdistributor")
	if st := c.open("/settings"); st != 200 {
		t.Fatalf("Setting page: %d", st)
	}
	if st := c.clickAndLoad("#notification-settings-link"); st != 200 || c.path() != "/account/notifications" {
		t.Fatalf("the Notification link led to %s (%d)", c.path(), st)
	}
	c.do("switch device mails off, 20 minutes",
		chromedp.Click(chromedp.ID("notify-device_offline")),
		chromedp.SetValue(chromedp.ID("notify-offline-minutes"), "20"),
	)
	if st := c.clickAndLoad("#save-notifications"); st != 200 {
		t.Fatalf("save: %d", st)
	}
	if n := c.text("p.notice"); !strings.Contains(n, "saved") {
		t.Errorf("notice: %q", n)
	}
	if on := chromeEval[bool](c, `document.querySelector('#notify-device_offline').checked`); on {
		t.Error("device mails still on after saving")
	}
	if v := chromeEval[string](c, `document.querySelector('#notify-offline-minutes').value`); v != "20" {
		t.Errorf("minutes after saving: %q", v)
	}
	saveShot(t, c, "notifications.png")
}
