package server_test

import (
	"encoding/json"
	"fmt"
	"net/url"
	"strings"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/billing"
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

// A renewal by day shows its Next Expiration Date in the API and on the
// order's page; the Subscriptions page offers renewing by day.
func TestDailyRenewalPages(t *testing.T) {
	eachBackend(t, func(t *testing.T, e *env) {
		tok := e.token("demo-subdistributor")
		id := installerID(t, e, "demo-installer")
		us, err := e.st.ListBillableUsers(sysCtx(), billing.BillableFilter{InstallerID: id, ProjectType: "office", Mode: "renew"})
		if err != nil || len(us) == 0 {
			t.Fatalf("renewable office users: %d %v", len(us), err)
		}
		r := e.do(nil, "POST", "/api/v1/orders", map[string]any{"type": "renewal", "installer_id": id, "project_type": "office",
			"items": []map[string]any{{"user_id": us[0].ID, "days": 10}}}, bearer(tok))
		if r.StatusCode != 201 && r.StatusCode != 200 {
			t.Fatalf("daily renewal: %d %s", r.StatusCode, r.body)
		}
		var o struct {
			Number string `json:"number"`
			Items  []struct {
				Days        int    `json:"days"`
				NextExpires string `json:"next_expires_at"`
			} `json:"items"`
		}
		if err := json.Unmarshal(r.body, &o); err != nil || len(o.Items) != 1 || o.Items[0].Days != 10 || o.Items[0].NextExpires == "" {
			t.Fatalf("order: %s (%v)", r.body, err)
		}
		b := e.browserLogin("demo-subdistributor")
		page := string(e.do(b.c, "GET", "/payments/"+o.Number, nil).body)
		if !strings.Contains(page, "<th>Next Expiration Date</th>") || !strings.Contains(page, `<td class="next-expires">`+o.Items[0].NextExpires[:10]) {
			t.Errorf("order page without the Next Expiration Date %s", o.Items[0].NextExpires[:10])
		}
		sub := string(e.do(b.c, "GET", fmt.Sprintf("/subscriptions?installer=%d&project_type=office&mode=renew", id), nil).body)
		if !strings.Contains(sub, `id="sub-days"`) {
			t.Error("Subscriptions (renew) offers no renewal by day")
		}
	})
}

// An end user created through the installer API without a SIP number gets
// one (answered at once); a typed one is kept.
func TestInstallerAPIEndUserSIP(t *testing.T) {
	eachBackend(t, func(t *testing.T, e *env) {
		inst := e.token("demo-installer")
		villa := e.ipCreate(inst, "/api/v1/projects", map[string]any{"kind": "personal", "name": "SIP Villa"})
		pid := ipNum(villa, "id")
		master := e.ipCreate(inst, fmt.Sprintf("/api/v1/projects/%d/end-users", pid), map[string]any{"role": "family_master", "name": "No SIP"})
		if sip, _ := master["sip"].(string); sip == "" {
			t.Errorf("created without a SIP number: %v", master)
		}
		kid := e.ipCreate(inst, fmt.Sprintf("/api/v1/projects/%d/end-users", pid), map[string]any{"role": "family_member", "name": "Own SIP", "sip": "7001"})
		if kid["sip"] != "7001" {
			t.Errorf("typed SIP: %v", kid)
		}
	})
}
