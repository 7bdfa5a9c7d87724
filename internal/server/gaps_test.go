package server_test

import (
	"fmt"
	"net/url"
	"strings"
	"testing"
)

// Issue 12 point 7: the installer form says who pays in the guide's words,
// and the villa Subscriptions filter offers "Family member".
func TestGuideGapsPages(t *testing.T) {
	eachBackend(t, func(t *testing.T, e *env) {
		b := e.browserLogin("demo-subdistributor")
		form := string(e.do(b.c, "GET", "/users/installers/new", nil).body)
		for _, want := range []string{"Select the payer for the SmartPlus service (both account activation and renewal)",
			`<option value="installer" selected>Installer</option>`, `<option value="enduser" >Sub-distributor</option>`, `id="charge-mode-help"`} {
			if !strings.Contains(form, want) {
				t.Errorf("installer form lacks %q", want)
			}
		}
		if strings.Contains(form, "End user pays") {
			t.Error(`installer form still says "End user pays"`)
		}
		id := installerID(t, e, "demo-installer")
		page := string(e.do(b.c, "GET", fmt.Sprintf("/subscriptions?installer=%d&project_type=villa&mode=active", id), nil).body)
		if !strings.Contains(page, `<option value="family_member" >Family member</option>`) {
			t.Errorf("villa service type without Family member:\n%s", page)
		}
	})
}

// Remote maintenance sets a device's data transmission type, from the API
// and from the device page; the AutoP file follows.
func TestDeviceConnectTypeAPIAndPage(t *testing.T) {
	eachBackend(t, func(t *testing.T, e *env) {
		tok := e.token("demo-subdistributor")
		mac := e.devMAC(t, apCond("demo-subdistributor", "community"))
		foreign, _ := e.apForeign(t, "community")
		preview := func() string {
			return string(e.do(nil, "GET", "/api/v1/devices/"+mac+"/autop/preview", nil, bearer(tok)).body)
		}
		r := e.do(nil, "PUT", "/api/v1/devices/"+colons(mac)+"/connect-type", map[string]any{"connect_type": "sctp"}, bearer(tok))
		if r.StatusCode != 400 || r.errorField(t, "connect_type") == "" {
			t.Errorf("bad type: %d %s", r.StatusCode, r.body)
		}
		r = e.do(nil, "PUT", "/api/v1/devices/"+foreign+"/connect-type", map[string]any{"connect_type": "udp"}, bearer(tok))
		if r.StatusCode != 404 {
			t.Errorf("foreign device: %d %s", r.StatusCode, r.body)
		}
		r = e.do(nil, "PUT", "/api/v1/devices/"+mac+"/connect-type", map[string]any{"connect_type": "tcp"}, bearer(tok))
		if r.StatusCode != 200 || !strings.Contains(string(r.body), `"connect_type": "tcp"`) {
			t.Fatalf("set tcp: %d %s", r.StatusCode, r.body)
		}
		if p := preview(); !strings.Contains(p, "Config.Account1.SIP.TransType = 1\n") {
			t.Errorf("file after tcp:\n%s", p)
		}
		if r := e.do(nil, "GET", "/api/v1/devices/"+mac+"/autop", nil, bearer(tok)); !strings.Contains(string(r.body), `"connect_type": "tcp"`) {
			t.Errorf("GET autop: %s", r.body)
		}
		// The device page: the select, then a save from it.
		b := e.browserLogin("demo-subdistributor")
		page := string(e.do(b.c, "GET", "/devices/"+mac, nil).body)
		if !strings.Contains(page, `id="device-connect-type"`) || !strings.Contains(page, `<option value="tcp" selected>TCP</option>`) {
			t.Errorf("device page lacks the data transmission type set to TCP")
		}
		if r := e.form(b.c, "/devices/"+mac+"/connect-type", url.Values{"csrf_token": {b.csrf}, "connect_type": {"tls"}}); r.StatusCode != 303 {
			t.Errorf("page save: %d %s", r.StatusCode, r.body)
		}
		if p := preview(); !strings.Contains(p, "Config.Account1.SIP.TransType = 2\n") {
			t.Errorf("file after the page's tls:\n%s", p)
		}
		if r := e.form(b.c, "/devices/"+mac+"/connect-type", url.Values{"csrf_token": {b.csrf}, "connect_type": {"x"}}); r.StatusCode != 400 ||
			!strings.Contains(string(r.body), "must be default") {
			t.Errorf("page bad type: %d", r.StatusCode)
		}
	})
}
