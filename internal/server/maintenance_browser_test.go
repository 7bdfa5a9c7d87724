package server_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/target"
	"github.com/chromedp/chromedp"

	"github.com/gatehouse-dev/gatehouse/internal/devicesim"
)

// waitText polls the visible text of sel until it contains want.
func (c *chromeTab) waitText(sel, want string, timeout time.Duration) string {
	c.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		got := c.text(sel)
		if strings.Contains(got, want) {
			return got
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("%s says %q, waited %s for %q", sel, got, timeout, want)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestBrowserRemoteMaintenance: on a simulated device's page the
// sub-distributor reboots it and, without reloading, sees it go offline
// and come back; then opens Remote Control and sees the device's own web
// interface in a new tab, logs in there and reads its status page.
func TestBrowserRemoteMaintenance(t *testing.T) {
	execPath := requireChromium(t)
	e := newGatewayEnv(t, "sqlite", nil, nil, gwOptions)
	subID := e.accountID(t, "demo-subdistributor")
	mac := e.devMAC(t, fmt.Sprintf("a.subdistributor_id = %d AND p.kind = 'office' AND NOT d.online", subID))
	// Away 3–6 s per reboot: long enough for the page to see it.
	f := startSimConfig(t, e, devicesim.Config{MACs: []string{mac}, RebootDelay: 3 * time.Second})
	dev := f.Device(mac)

	c := newChrome(t, execPath, e.url, 1280, 900, 90*time.Second)
	c.login("demo-subdistributor")
	if st := c.open("/devices/" + mac); st != 200 {
		t.Fatalf("device page: %d", st)
	}
	if got := c.text("#device-status"); got != "Online" {
		t.Fatalf("status %q, want Online", got)
	}
	if got := c.text("#device-ip"); got != dev.IP() {
		t.Errorf("IP %q, want %q", got, dev.IP())
	}
	// Reboot asks first (a real confirm(), from confirm.js): dismissed, nothing is sent.
	cmds := `document.querySelectorAll('#device-commands tbody tr:not(.none)').length`
	before := chromeEval[int](c, cmds)
	c.answerDialogs(false)
	c.do("click Reboot, then dismiss", chromedp.Click(chromedp.ID("reboot")), chromedp.Sleep(700*time.Millisecond))
	if d := c.dialogs(); len(d) != 1 || d[0] != "Reboot device "+mac+"?" {
		t.Errorf("Reboot asked %q, want one question naming %s", d, mac)
	}
	if n := c.text(".notice"); strings.Contains(n, "Reboot") {
		t.Errorf("a dismissed Reboot was sent: %q", n)
	}
	if n := chromeEval[int](c, cmds); n != before {
		t.Errorf("a dismissed Reboot queued a command: %s", c.text("#device-commands"))
	}
	c.answerDialogs(true)
	if st := c.clickAndLoad("#reboot"); st != 200 {
		t.Fatalf("reboot: %d", st)
	}
	if d := c.dialogs(); len(d) != 2 {
		t.Errorf("Reboot asked %q, want a second question", d)
	}
	if n := c.text(".notice"); !strings.Contains(n, "Reboot") {
		t.Errorf("notice after reboot: %q", n)
	}
	// From here on no reload: the page follows the device by itself.
	c.waitText("#device-status", "Offline", 15*time.Second)
	c.waitText("#device-commands tbody tr:first-child", "done", 15*time.Second)
	c.waitText("#device-status", "Online", 20*time.Second)
	if dev.Boots() != 2 {
		t.Errorf("boots %d, want 2", dev.Boots())
	}

	// Remote Control opens the device's web interface in a new tab.
	ch := chromedp.WaitNewTarget(c.ctx, func(i *target.Info) bool { return strings.Contains(i.URL, "/remote/") })
	c.do("open Remote Control", chromedp.Click(chromedp.ID("remote-control")))
	var id target.ID
	select {
	case id = <-ch:
	case <-time.After(15 * time.Second):
		t.Fatal("Remote Control opened no tab")
	}
	tctx, cancel := chromedp.NewContext(c.ctx, chromedp.WithTargetID(id))
	defer cancel()
	rc := &chromeTab{t: t, ctx: tctx, base: e.url}
	rc.do("device login page", chromedp.WaitVisible(chromedp.CSS(`input[name="password"]`)))
	if p := rc.path(); !strings.HasPrefix(p, "/remote/") {
		t.Fatalf("Remote Control tab is at %s", p)
	}
	rc.do("log in to the device",
		chromedp.SendKeys(chromedp.CSS(`input[name="user"]`), "admin"),
		chromedp.SendKeys(chromedp.CSS(`input[name="password"]`), "admin"),
	)
	if st := rc.clickAndLoad(`form button, form input[type="submit"]`); st != 200 {
		t.Fatalf("device login: %d", st)
	}
	if p := rc.path(); !strings.HasPrefix(p, "/remote/") || !strings.HasSuffix(p, "/status") {
		t.Errorf("after the device login the tab is at %s", p)
	}
	if got := rc.text("#mac"); got != mac {
		t.Errorf("device status page shows MAC %q, want %s", got, mac)
	}
	if got := rc.text("#boots"); got != "2" {
		t.Errorf("device status page shows boots %q", got)
	}
	saveShot(t, rc, "remote-control.png")
	c.do("back to the device page", chromedp.Evaluate[chromedp.Void](`window.scrollTo(0, document.getElementById('remote-maintenance').offsetTop - 70)`))
	saveShot(t, c, "device-maintenance.png")
}

// saveShot writes a screenshot of the tab's viewport to the README's
// screenshot directory when GATEHOUSE_SCREENSHOTS names one.
func saveShot(t *testing.T, c *chromeTab, name string) {
	t.Helper()
	dir := os.Getenv("GATEHOUSE_SCREENSHOTS")
	if dir == "" {
		return
	}
	c.do("wait for fonts", chromedp.Evaluate[chromedp.Void](`document.fonts.ready.then(() => undefined)`, chromedp.EvalAwaitPromise))
	buf, err := chromedp.Run(c.ctx, chromedp.CaptureScreenshot())
	if err != nil {
		t.Fatalf("screenshot %s: %v", name, err)
	}
	if err := os.WriteFile(filepath.Join(dir, name), buf, 0o644); err != nil {
		t.Fatal(err)
	}
}
