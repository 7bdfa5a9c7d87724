package server_test

import (
	"bufio"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

// serveDevicePage answers every Remote Control tunnel of d with page.
func serveDevicePage(d *rawDevice, page string) {
	go func() {
		for {
			st, err := d.sess.AcceptStream()
			if err != nil {
				return
			}
			go func() {
				defer st.Close()
				br := bufio.NewReader(st)
				if _, err := br.ReadString('\n'); err != nil { // the tunnel header
					return
				}
				if _, err := http.ReadRequest(br); err != nil {
					return
				}
				fmt.Fprintf(st, "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s", len(page), page)
			}()
		}
	}()
}

// hostilePage is a device web page whose script tries to act with the
// portal session of whoever opened Remote Control: read the account, lift
// a CSRF token from a portal page and reboot another device.
const hostilePage = `<!doctype html><html><head><title>pending</title></head><body><p id="p">device</p><script>
(async () => {
  const out = {ran: true};
  try {
    let r = await fetch('/api/v1/me', {referrerPolicy: 'no-referrer'});
    out.me = r.status;
    history.replaceState(null, '', '/');
    r = await fetch('/devices/' + window.VICTIM, {referrerPolicy: 'no-referrer'});
    const m = (await r.text()).match(/name="csrf_token" value="([^"]+)"/);
    if (m) {
      r = await fetch('/api/v1/devices/' + window.VICTIM + '/reboot', {method: 'POST', referrerPolicy: 'no-referrer', headers: {'X-CSRF-Token': m[1]}});
      out.reboot = r.status;
    }
  } catch (e) { out.err = String(e); }
  document.title = JSON.stringify(out);
})();
</script></body></html>`

// TestBrowserRemoteControlIsolatesDevicePages: a device's page shown
// through Remote Control cannot use the portal session of the account that
// opened it (found by review: its script could read the account and reboot
// another device).
func TestBrowserRemoteControlIsolatesDevicePages(t *testing.T) {
	execPath := requireChromium(t)
	e := newGatewayEnv(t, "sqlite", nil, nil, gwOptions)
	macs := subMACs(t, e.st, 2)
	hostile, victim := macs[0], macs[1]
	d := connectRaw(t, e, hostile)
	keepAlive(t, d) // online however slow the machine
	serveDevicePage(d, strings.Replace(hostilePage, "<script>", "<script>window.VICTIM='"+victim+"';", 1))
	eventually(t, 5*time.Second, "online", func() bool { return e.srv.Gateway().Connected() == 1 })
	r := e.do(nil, "POST", "/api/v1/devices/"+hostile+"/remote-sessions", nil, bearer(e.token("demo-subdistributor")))
	if r.StatusCode != 201 {
		t.Fatalf("session: %d %s", r.StatusCode, r.body)
	}
	u, _ := url.Parse(fmt.Sprint(r.json(t)["url"]))

	c := newChrome(t, execPath, e.url, 1024, 768, 60*time.Second)
	c.login("demo-subdistributor")
	if st := c.open(u.Path); st != 200 {
		t.Fatalf("remote page: %d", st)
	}
	if got := c.text("#p"); got != "device" {
		t.Fatalf("the device's page is not shown: %q", got)
	}
	time.Sleep(2 * time.Second) // what the script would need
	if title := chromeEval[string](c, `document.title`); title != "pending" {
		t.Errorf("the device page's script ran: %s", title)
	}
	if n := e.commandCount(t, victim); n != 0 {
		t.Errorf("a device page rebooted another device (%d commands)", n)
	}
}

// TestBrowserRemoteOriginRunsDeviceScriptsApart: on the separate Remote
// Control origin a device's page keeps its scripts, and they still cannot
// act with the portal session of whoever opened it.
func TestBrowserRemoteOriginRunsDeviceScriptsApart(t *testing.T) {
	execPath := requireChromium(t)
	e, _ := newRemoteOriginEnv(t)
	macs := subMACs(t, e.st, 2)
	hostile, victim := macs[0], macs[1]
	page := strings.Replace(hostilePage, "<script>", "<script>window.VICTIM='"+victim+"';", 1)
	// From the remote origin the portal is another site: its API and pages
	// are reached by absolute URL.
	page = strings.ReplaceAll(page, "fetch('/", "fetch('"+e.url+"/")
	page = strings.ReplaceAll(page, "{referrerPolicy: 'no-referrer'}", "{referrerPolicy: 'no-referrer', credentials: 'include'}")
	page = strings.ReplaceAll(page, "{method: 'POST',", "{method: 'POST', credentials: 'include',")
	d := connectRaw(t, e, hostile)
	keepAlive(t, d)
	serveDevicePage(d, page)
	eventually(t, 5*time.Second, "online", func() bool { return e.srv.Gateway().Connected() == 1 })

	c := newChrome(t, execPath, e.url, 1024, 768, 60*time.Second)
	c.login("demo-subdistributor")
	if st := c.open("/devices/" + hostile); st != 200 {
		t.Fatalf("device page: %d", st)
	}
	// The Remote Control button opens the session on the remote origin, in
	// a new tab, through a page that continues there.
	chromeEval[bool](c, `(document.getElementById('remote-form').removeAttribute('target'), true)`)
	if st := c.clickAndLoad("#remote-control"); st != 200 {
		t.Fatalf("Remote Control: %d", st)
	}
	deadline := time.Now().Add(15 * time.Second)
	for c.text("#p") != "device" {
		if time.Now().After(deadline) {
			t.Fatalf("the device's page is not shown; at %s: %s", c.path(), c.text("body"))
		}
		time.Sleep(100 * time.Millisecond)
	}
	var title string
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		if title = chromeEval[string](c, `document.title`); title != "pending" {
			break
		}
	}
	if !strings.Contains(title, `"ran":true`) {
		t.Fatalf("the device page's script did not run on its own origin: %q", title)
	}
	if strings.Contains(title, `"me":200`) || strings.Contains(title, `"reboot"`) {
		t.Errorf("the device page used the portal session: %s", title)
	}
	if n := e.commandCount(t, victim); n != 0 {
		t.Errorf("a device page rebooted another device (%d commands)", n)
	}
}
