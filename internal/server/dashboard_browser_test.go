package server_test

import (
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestBrowserDashboard: demo-subdistributor's home page shows the
// dashboard above the module cards; its "Community offline" figure is the
// count of those devices, and following it opens the community list
// filtered to offline devices, counting the same. With
// GATEHOUSE_SCREENSHOTS=DIR it saves dashboard.png (docs/dashboard.png),
// with 29 earlier days of snapshots made up from today's so that the
// chart has a history to show.
func TestBrowserDashboard(t *testing.T) {
	execPath := requireChromium(t)
	e := newEnv(t, "sqlite")
	dashSetup(t, e)
	today := e.st.Now().UTC()
	for i := 1; i < 30; i++ {
		dashSQL(t, e, `INSERT INTO dashboard_days (day, installer_id, subdistributor_id, distributor_id, online, offline)
			SELECT ?, installer_id, subdistributor_id, distributor_id, max(0, online - ?), offline + ? FROM dashboard_days WHERE day = ?`,
			today.AddDate(0, 0, -i).Format("2006-01-02"), (i*7)%5, (i*7)%5, today.Format("2006-01-02"))
	}
	sub := accountID(t, e, "demo-subdistributor")
	want := dashCount(t, e, `SELECT count(*) FROM devices WHERE subdistributor_id = ? AND project_kind = 'community' AND NOT online`, sub)

	c := newChrome(t, execPath, e.url, 1400, 1400, 2*time.Minute)
	c.login("demo-subdistributor")
	if st := c.open("/"); st != 200 {
		t.Fatalf("home: %d", st)
	}
	const fig = `a.dash-fig[href="/project-devices?online=false"]`
	if got := c.text(fig + " .dash-num"); got != itoaDash(want) {
		t.Errorf("Community offline figure %q, want %d", got, want)
	}
	if chromeEval[string](c, `document.querySelector('#dashboard svg.chart title').textContent`) == "" || !strings.Contains(c.text(".cards"), "Project Device") {
		t.Error("no chart or no module cards")
	}
	saveShot(t, c, "dashboard.png")
	if st := c.clickAndLoad(fig); st != 200 {
		t.Fatalf("following the figure: %d", st)
	}
	if p := c.path(); p != "/project-devices?online=false" {
		t.Errorf("the figure led to %s", p)
	}
	if got := c.text("#device-count"); !strings.HasSuffix(got, " of "+itoaDash(want)) {
		t.Errorf("the list counts %q, want %d", got, want)
	}
}

// itoaDash writes n as the page does (the demo's counts are below 1,000).
func itoaDash(n int64) string { return strconv.FormatInt(n, 10) }
