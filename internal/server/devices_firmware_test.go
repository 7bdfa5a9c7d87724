package server_test

import (
	"net/url"
	"strings"
	"testing"
)

// TestDeviceListsFirmwareFilter: the device lists' firmware filter — the
// API (firmware=), the Project Device page and the installer's list —
// holds exactly the devices on that version in the caller's subtree, and
// a version too long is a 400 naming the field.
func TestDeviceListsFirmwareFilter(t *testing.T) {
	e := newEnv(t, "sqlite")
	const subCond = `a.subdistributor_id = (SELECT id FROM accounts WHERE username = 'demo-subdistributor')`
	version := ""
	if err := e.st.DB().QueryRow(`SELECT d.firmware FROM devices d JOIN accounts a ON a.id = d.installer_id
		WHERE ` + subCond + ` AND d.project_kind = 'community' AND d.firmware <> '' GROUP BY d.firmware ORDER BY count(*) DESC, d.firmware LIMIT 1`).Scan(&version); err != nil {
		t.Fatal(err)
	}
	want := e.devCount(t, subCond+` AND p.kind = 'community' AND d.firmware = '`+version+`'`)
	all := e.devCount(t, subCond+` AND p.kind = 'community'`)
	if want == 0 || want == all {
		t.Fatalf("version %s: %d of %d devices: not a test", version, want, all)
	}
	tok := e.loginToken("demo-subdistributor", demoPassword)
	l := e.devList(t, tok, "scope=community&per_page=100&firmware="+url.QueryEscape(version))
	if l.Total != want || len(l.Items) != want {
		t.Errorf("firmware=%s: total %d, %d items, want %d", version, l.Total, len(l.Items), want)
	}
	for _, it := range l.Items {
		if it["firmware"] != version {
			t.Errorf("firmware=%s lists a device on %v", version, it["firmware"])
		}
	}
	// A prefix of the version is not the version.
	if l := e.devList(t, tok, "scope=community&firmware="+url.QueryEscape(version[:len(version)-1])); l.Total != 0 &&
		e.devCount(t, subCond+` AND p.kind = 'community' AND d.firmware = '`+version[:len(version)-1]+`'`) == 0 {
		t.Errorf("a prefix of %s matches %d devices", version, l.Total)
	}
	if r := e.do(nil, "GET", "/api/v1/devices?scope=community&firmware="+strings.Repeat("9", 65), nil, bearer(tok)); r.StatusCode != 400 ||
		!strings.Contains(string(r.body), "firmware") {
		t.Errorf("a 65-character version: %d %s", r.StatusCode, r.body)
	}
	// The portal's list and its export.
	b := e.browserLogin("demo-subdistributor")
	r := e.do(b.c, "GET", "/project-devices?kind=community&firmware="+url.QueryEscape(version), nil)
	if r.StatusCode != 200 || strings.Count(string(r.body), `<tr data-mac=`) != min(want, 50) ||
		!strings.Contains(string(r.body), `id="search-firmware" value="`+version+`"`) || !strings.Contains(string(r.body), "firmware="+url.QueryEscape(version)) {
		t.Errorf("the Project Device page with firmware=%s: %d, %d rows, want %d", version, r.StatusCode, strings.Count(string(r.body), `<tr data-mac=`), want)
	}
	// The installer's list.
	const instCond = `a.username = 'demo-installer'`
	iv := ""
	if err := e.st.DB().QueryRow(`SELECT d.firmware FROM devices d JOIN accounts a ON a.id = d.installer_id WHERE ` + instCond +
		` AND d.firmware <> '' ORDER BY d.id LIMIT 1`).Scan(&iv); err != nil {
		t.Fatal(err)
	}
	iwant := e.devCount(t, instCond+` AND d.firmware = '`+iv+`'`)
	ib := e.browserLogin("demo-installer")
	r = e.do(ib.c, "GET", "/installer/devices?per_page=100&firmware="+url.QueryEscape(iv), nil)
	if got := strings.Count(string(r.body), `<td class="mono">`+iv+`</td>`); r.StatusCode != 200 || got != iwant {
		t.Errorf("installer list firmware=%s: %d, %d rows, want %d", iv, r.StatusCode, got, iwant)
	}
}
