package server_test

import (
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/gatehouse-dev/gatehouse/internal/demo"
	"github.com/gatehouse-dev/gatehouse/internal/server"
)

// TestBrowserDiagnostics: on a simulated device's page the
// sub-distributor asks for a ping and a packet capture with the section's
// forms; the page refreshes by itself until each is done and its Download
// link appears; the link serves the file (a capture tcpdump opens). An
// offline device's forms are disabled with the reason.
func TestBrowserDiagnostics(t *testing.T) {
	execPath := requireChromium(t)
	e := newDiagEnv(t, "sqlite", server.Config{})
	macs := subDeviceMACs(t, e, 2)
	mac := macs[0]
	startSim(t, e, mac)

	c := newChrome(t, execPath, e.url, 1280, 1200, 90*time.Second)
	c.login(demo.SubdistributorUser)
	if st := c.open("/devices/" + mac); st != 200 {
		t.Fatalf("device page: %d", st)
	}
	if got := c.text("#device-diagnostics"); !strings.Contains(got, "No diagnostics yet.") {
		t.Fatalf("diagnostics table: %q", got)
	}
	c.do("fill the ping form", chromedp.SendKeys(chromedp.ID("diag-ping-host"), "sip.example.com"))
	if st := c.clickAndLoad("#diag-ping"); st != 200 {
		t.Fatalf("ping: %d", st)
	}
	if n := c.text(".notice"); !strings.Contains(n, "Ping of "+mac+" queued") {
		t.Errorf("notice: %q", n)
	}
	// The page reloads itself until the Download link is there.
	c.waitText("#device-diagnostics tbody tr:first-child", "Download", 20*time.Second)
	row := c.text("#device-diagnostics tbody tr:first-child")
	if !strings.Contains(row, "Ping") || !strings.Contains(row, "sip.example.com, 4 packets") || !strings.Contains(row, "done") || !strings.Contains(row, demo.SubdistributorUser) {
		t.Errorf("ping row: %q", row)
	}
	href := chromeEval[string](c, `document.querySelector('#device-diagnostics tbody tr:first-child a.diag-download').getAttribute('href')`)
	b := e.browserLogin(demo.SubdistributorUser)
	if r := e.do(b.c, "GET", href, nil); r.StatusCode != 200 || !strings.HasPrefix(string(r.body), "PING sip.example.com") {
		t.Fatalf("download %s: %d %.80s", href, r.StatusCode, r.body)
	}

	// A capture of 2 s with a filter.
	c.do("fill the capture form",
		chromedp.SetValue(chromedp.ID("diag-pcap-seconds"), "2"),
		chromedp.SendKeys(chromedp.ID("diag-pcap-filter"), "udp"))
	if st := c.clickAndLoad("#diag-pcap"); st != 200 {
		t.Fatalf("capture: %d", st)
	}
	c.waitText("#device-diagnostics tbody tr:first-child", "Download", 30*time.Second)
	if row := c.text("#device-diagnostics tbody tr:first-child"); !strings.Contains(row, "Packet capture") || !strings.Contains(row, "2 s, udp") {
		t.Errorf("capture row: %q", row)
	}
	chromeEval[bool](c, `(window.scrollTo(0, document.querySelector('#diagnostics').getBoundingClientRect().top + window.scrollY - 70), true)`)
	saveShot(t, c, "device-diagnostics.png")
	href = chromeEval[string](c, `document.querySelector('#device-diagnostics tbody tr:first-child a.diag-download').getAttribute('href')`)
	r := e.do(b.c, "GET", href, nil)
	if r.StatusCode != 200 || r.Header.Get("Content-Type") != "application/vnd.tcpdump.pcap" {
		t.Fatalf("capture download: %d %v", r.StatusCode, r.Header)
	}
	if dump := tcpdump(t, r.body); !strings.Contains(dump, "UDP") || strings.Contains(dump, "ICMP") {
		t.Errorf("tcpdump of a udp capture:\n%s", dump)
	}

	// A bad host comes back as a notice naming the field.
	c.open("/devices/" + mac)
	c.do("fill a bad host", chromedp.SendKeys(chromedp.ID("diag-trace-host"), "a b"))
	if st := c.clickAndLoad("#diag-traceroute"); st != 200 {
		t.Fatalf("traceroute: %d", st)
	}
	if n := c.text(".notice"); !strings.Contains(n, "host") {
		t.Errorf("notice for a bad host: %q", n)
	}

	// Offline: the forms are disabled, and the page says why.
	c.open("/devices/" + macs[1])
	if got := c.text("#diagnostics-offline"); !strings.Contains(got, "offline") {
		t.Errorf("offline sentence: %q", got)
	}
	if !chromeEval[bool](c, `document.querySelector('#diag-ping-form fieldset').disabled`) {
		t.Error("the ping form of an offline device is enabled")
	}
}

// TestInstallerPageDiagnostics: the installer's device page has the
// section too; its form queues a diagnostic of the installer's device,
// and another installer's device is not found.
func TestInstallerPageDiagnostics(t *testing.T) {
	e := newDiagEnv(t, "sqlite", server.Config{})
	mac := subDeviceMACs(t, e, 1)[0]
	var inst, otherMAC string
	if err := e.st.DB().QueryRow(`SELECT a.username FROM devices d JOIN accounts a ON a.id = d.installer_id WHERE d.mac = '` + mac + `'`).Scan(&inst); err != nil {
		t.Fatal(err)
	}
	if err := e.st.DB().QueryRow(`SELECT d.mac FROM devices d JOIN accounts a ON a.id = d.installer_id WHERE a.username <> '` + inst + `' ORDER BY d.id LIMIT 1`).Scan(&otherMAC); err != nil {
		t.Fatal(err)
	}
	startSim(t, e, mac)
	b := e.browserLogin(inst)
	page := e.do(b.c, "GET", "/installer/devices/"+mac, nil)
	if page.StatusCode != 200 || !strings.Contains(string(page.body), `id="diagnostics"`) || !strings.Contains(string(page.body), `action="/installer/devices/`+mac+`/diagnostics"`) {
		t.Fatalf("installer's device page: %d", page.StatusCode)
	}
	r := e.form(b.c, "/installer/devices/"+mac+"/diagnostics", url.Values{"csrf_token": {b.csrf}, "kind": {"log"}, "lines": {"20"}})
	if r.StatusCode != 303 || !strings.Contains(r.Header.Get("Location"), "/installer/devices/"+mac+"?notice=") {
		t.Fatalf("form: %d %s", r.StatusCode, r.Header.Get("Location"))
	}
	tok := e.token(inst)
	items := e.do(nil, "GET", "/api/v1/devices/"+mac+"/diagnostics", nil, bearer(tok)).json(t)["items"].([]any)
	if len(items) != 1 {
		t.Fatalf("queued: %v", items)
	}
	g := waitDiagnostic(t, e, tok, items[0].(map[string]any)["id"].(float64), 20*time.Second)
	if g["state"] != "done" || strings.Count(string(download(t, e, tok, g)), "\n") > 20 {
		t.Errorf("installer's log: %v", g)
	}
	if r := e.form(b.c, "/installer/devices/"+otherMAC+"/diagnostics", url.Values{"csrf_token": {b.csrf}, "kind": {"log"}}); r.StatusCode != 404 {
		t.Errorf("another installer's device: %d", r.StatusCode)
	}
	if r := e.form(b.c, "/installer/devices/"+mac+"/diagnostics", url.Values{"csrf_token": {b.csrf}, "kind": {"ping"}, "count": {"x"}, "host": {"h"}}); r.StatusCode != 303 ||
		!strings.Contains(r.Header.Get("Location"), "count") {
		t.Errorf("a bad count: %d %s", r.StatusCode, r.Header.Get("Location"))
	}
}
