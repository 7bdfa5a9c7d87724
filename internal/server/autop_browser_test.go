package server_test

import (
	"context"
	"fmt"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/gatehouse-dev/gatehouse/internal/devicesim"
)

// TestBrowserBatchAutoP: a sub-distributor runs a Batch AutoP from the
// portal to simulated devices (internal/devicesim, connected through the
// device gateway), follows the batch's progress on its page without
// reloading it, and sees the new config on a simulator's own status page.
func TestBrowserBatchAutoP(t *testing.T) {
	execPath := requireChromium(t)
	e := newEnv(t, "sqlite")
	rows, err := e.st.DB().Query(`SELECT d.mac FROM devices d WHERE ` + apCond("demo-subdistributor", "community") + ` ORDER BY d.id LIMIT 3`)
	if err != nil {
		t.Fatal(err)
	}
	var macs []string
	for rows.Next() {
		var m string
		rows.Scan(&m)
		macs = append(macs, m)
	}
	rows.Close()
	if len(macs) != 3 {
		t.Fatalf("demo-subdistributor has %d community devices", len(macs))
	}

	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	fleet, err := devicesim.Start(ctx, devicesim.Config{Server: e.url, MACs: macs, StateDir: t.TempDir(), Keys: enrolledKeys(t, e.st, macs), ClaimCodes: claimCodes(t, e.st, macs)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { fleet.Close() })
	for _, m := range macs {
		if err := fleet.Device(m).WaitOnline(ctx); err != nil {
			t.Fatalf("simulated %s does not come online: %v", m, err)
		}
	}

	c := newChrome(t, execPath, e.url, 1400, 1000, 90*time.Second)
	c.login("demo-subdistributor")
	if st := c.open("/autop?scope=community"); st != 200 {
		t.Fatalf("/autop: %d", st)
	}
	if a := c.text("nav.sidebar a.active"); a != "Project Device" {
		t.Errorf("active module %q", a)
	}
	// Search each device by MAC and tick it: the selection is kept from
	// search to search, and counted as it is ticked.
	for i, m := range macs {
		c.do("search "+m,
			chromedp.Evaluate[chromedp.Void](`document.getElementById('search-mac').value = ''`),
			chromedp.SendKeys(chromedp.ID("search-mac"), strings.ToLower(colons(m))),
		)
		if st := c.clickAndLoad("#search"); st != 200 {
			t.Fatalf("search %s: %d", m, st)
		}
		box := fmt.Sprintf(`#autop-devices tr[data-mac="%s"] input[name=sel]`, m)
		c.do("tick "+m, chromedp.Click(chromedp.CSS(box)))
		want := fmt.Sprintf("%d selected (max 500)", i+1)
		if got := c.text("#selected-count"); got != want {
			t.Errorf("after ticking %s the count says %q, want %q", m, got, want)
		}
	}
	c.do("type the commands",
		chromedp.Click(chromedp.ID("type-regular")),
		chromedp.SendKeys(chromedp.ID("autop-commands"), "Config.DoorSetting.RELAY.HoldDelayA = 9\nConfig.DoorSetting.RELAY.HoldDelayA = 9\nConfig.Settings.WEB.Title = Batch from the portal"),
	)
	if st := c.clickAndLoad("#submit-autop"); st != 200 {
		t.Fatalf("submit: %d (%s)", st, c.text("p.error"))
	}
	if p := c.path(); !strings.HasPrefix(p, "/autop/batches/") {
		t.Fatalf("after Submit the browser is at %s: %s", p, c.text("main"))
	}
	if n := c.text(".notice"); !strings.Contains(n, "3 devices") {
		t.Errorf("notice %q", n)
	}
	// The page follows the batch by itself: no reload.
	c.do("mark the page", chromedp.Evaluate[chromedp.Void](`window.apMarker = 42`))
	deadline := time.Now().Add(30 * time.Second)
	for !strings.HasPrefix(c.text("#ap-state"), "Finished") {
		if time.Now().After(deadline) {
			t.Fatalf("the batch did not finish: %s / %s", c.text("#ap-summary"), c.text("#autop-items"))
		}
		time.Sleep(200 * time.Millisecond)
	}
	if chromeEval[int](c, `window.apMarker || 0`) != 42 {
		t.Error("the batch page reloaded")
	}
	if got := c.text("#n-applied"); got != "3" {
		t.Errorf("applied %q: %s", got, c.text("#ap-summary"))
	}
	states := chromeEval[[]string](c, `Array.from(document.querySelectorAll('#autop-items td.ap-state')).map(td => td.textContent.trim())`)
	fetched := chromeEval[[]string](c, `Array.from(document.querySelectorAll('#autop-items td.ap-fetched')).map(td => td.textContent.trim())`)
	versions := chromeEval[[]string](c, `Array.from(document.querySelectorAll('#autop-items td.ap-version')).map(td => td.textContent.trim())`)
	if strings.Join(states, ",") != "Applied,Applied,Applied" || strings.Join(fetched, ",") != "Yes,Yes,Yes" || len(versions) != 3 || len(versions[0]) != 16 {
		t.Errorf("rows: %v %v %v", states, fetched, versions)
	}

	saveShot(t, c, "batch-autop.png")

	// The simulator's own status page shows the new config.
	dev := fleet.Device(macs[0])
	ts := httptest.NewServer(dev.Handler())
	defer ts.Close()
	if _, err := chromedp.Run(c.ctx, chromedp.NavigateResponse(ts.URL+"/")); err != nil {
		t.Fatal(err)
	}
	c.do("log in to the device",
		chromedp.SendKeys(chromedp.CSS(`input[name=user]`), "admin"),
		chromedp.SendKeys(chromedp.CSS(`input[name=password]`), "admin"),
	)
	if st := c.clickAndLoad(`button[type=submit]`); st != 200 {
		t.Fatalf("device login: %d", st)
	}
	cfg := c.text("#config")
	if !strings.Contains(cfg, "Config.DoorSetting.RELAY.HoldDelayA\t9") || !strings.Contains(cfg, "Config.Settings.WEB.Title\tBatch from the portal") {
		t.Errorf("the simulator's config:\n%s", cfg)
	}
	mine := c.text("#config-version")
	if mine != dev.ConfigVersion() || !strings.Contains(strings.Join(versions, ","), mine) {
		t.Errorf("the simulator applied %q; the batch page says %v", mine, versions)
	}
}
