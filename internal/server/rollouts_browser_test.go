package server_test

import (
	"encoding/csv"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// rolloutFixture picks a firmware of the catalogue whose model the
// sub-distributor has devices of (off its version), and counts them.
func rolloutFixture(t *testing.T, e *env, sub string) (fwID int64, model, version string, n int) {
	t.Helper()
	err := e.st.DB().QueryRow(`SELECT f.id, f.model, f.version, count(*) FROM firmware f
		JOIN devices d ON lower(d.model) = lower(f.model) AND d.firmware <> f.version
		JOIN accounts s ON s.id = d.subdistributor_id AND s.username = ?
		GROUP BY f.id, f.model, f.version HAVING count(*) >= 4 ORDER BY count(*), f.id LIMIT 1`, sub).Scan(&fwID, &model, &version, &n)
	if err != nil {
		t.Fatalf("no firmware for %s's devices: %v", sub, err)
	}
	return
}

// TestBrowserRollout: a sub-distributor opens a firmware, chooses
// "Upgrade devices", counts the devices, plans a canary and waves, creates
// the rollout and starts it; the rollout's page follows the devices'
// states by itself (set here as the gateway would), its device table
// searches by MAC and exports CSV, and a device's page shows its firmware
// history. An installer sees only its own rollouts; another's id is 404.
func TestBrowserRollout(t *testing.T) {
	execPath := requireChromium(t)
	e := newEnv(t, "sqlite")
	const sub = "demo-subdistributor"
	fwID, fwModel, fwVersion, want := rolloutFixture(t, e, sub)

	c := newChrome(t, execPath, e.url, 1400, 1000, 2*time.Minute)
	c.login(sub)
	if st := c.open(fmt.Sprintf("/firmware/%d", fwID)); st != 200 {
		t.Fatalf("firmware page: %d", st)
	}
	if got := c.text("#firmware-stored"); !strings.HasPrefix(got, "External") {
		t.Errorf("a catalogue entry with a URL says %q", got)
	}
	if st := c.clickAndLoad("#upgrade"); st != 200 {
		t.Fatalf("Upgrade: %d", st)
	}
	if got := chromeEval[string](c, `document.getElementById('target-model').value`); got != fwModel {
		t.Errorf("the form's model is %q, want the firmware's %q", got, fwModel)
	}
	c.do("plan: a canary of 1, waves of 50 %, any time, pause above 100 %",
		chromedp.Evaluate[chromedp.Void](`(() => {
			const set = (id, v) => { document.getElementById(id).value = v; };
			set('plan-canary', '1'); set('plan-canary-unit', 'devices');
			set('plan-wave', '50'); set('plan-wave-unit', 'percent');
			set('plan-window-start', '00:00'); set('plan-window-end', '24:00');
			set('plan-threshold', '100'); set('plan-name', 'Browser rollout');
		})()`),
	)
	if st := c.clickAndLoad("#count"); st != 200 {
		t.Fatalf("count: %d (%s)", st, c.text("p.error"))
	}
	if got := c.text("#count-matching"); got != strconv.Itoa(want) {
		t.Errorf("count says %q devices, want %d", got, want)
	}
	if got := c.text("#count-plan"); !strings.Contains(got, "a canary of 1 device") {
		t.Errorf("plan line %q", got)
	}
	// The plan typed stays in the form after the count.
	if got := chromeEval[string](c, `document.getElementById('plan-name').value`); got != "Browser rollout" {
		t.Errorf("after the count the name is %q", got)
	}
	if st := c.clickAndLoad("#create"); st != 200 {
		t.Fatalf("create: %d (%s)", st, c.text("p.error"))
	}
	path := c.path()
	if !strings.HasPrefix(path, "/rollouts/") {
		t.Fatalf("after create the browser is at %s", path)
	}
	rid, err := strconv.ParseInt(strings.TrimPrefix(strings.SplitN(path, "?", 2)[0], "/rollouts/"), 10, 64)
	if err != nil {
		t.Fatalf("rollout path %s", path)
	}
	if got := c.text("#rollout-status"); got != "DRAFT" && got != "Draft" {
		t.Errorf("a new rollout's status %q", got)
	}
	if got := c.text("#overall-total"); got != strconv.Itoa(want) {
		t.Errorf("total %q, want %d", got, want)
	}
	if n := chromeEval[int](c, `document.querySelectorAll('#rollout-actions button').length`); n != 2 || c.text("#action-start") != "Start" {
		t.Errorf("a draft offers %d buttons: %q", n, c.text("#rollout-actions"))
	}
	if st := c.clickAndLoad("#action-start"); st != 200 {
		t.Fatalf("start: %d", st)
	}
	if got := strings.ToLower(c.text("#rollout-status")); got != "running" {
		t.Fatalf("after Start the status is %q (%s)", got, c.text("p.error"))
	}
	if c.text("#action-pause") != "Pause" || c.text("#action-start") != "" {
		t.Errorf("a running rollout offers %q", c.text("#rollout-actions"))
	}

	// The devices report: the page follows without a reload.
	var ids []int64
	var macs []string
	rows, err := e.st.DB().Query(`SELECT u.id, d.mac FROM firmware_upgrades u JOIN devices d ON d.id = u.device_id
		WHERE u.rollout_id = ? ORDER BY u.wave, u.id`, rid)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var id int64
		var m string
		rows.Scan(&id, &m)
		ids, macs = append(ids, id), append(macs, m)
	}
	rows.Close()
	if len(ids) != want {
		t.Fatalf("%d upgrades, want %d", len(ids), want)
	}
	c.do("mark the page", chromedp.Evaluate[chromedp.Void](`window.__same = true`))
	exec := func(q string, args ...any) {
		t.Helper()
		if _, err := e.st.DB().Exec(q, args...); err != nil {
			t.Fatal(err)
		}
	}
	exec(`UPDATE firmware_upgrades SET state = 'done', percent = 100, finished_at = CURRENT_TIMESTAMP, updated_at = CURRENT_TIMESTAMP WHERE id = ?`, ids[0])
	exec(`UPDATE firmware_upgrades SET state = 'downloading', percent = 40, attempts = 1, updated_at = CURRENT_TIMESTAMP WHERE id = ?`, ids[1])
	exec(`UPDATE firmware_upgrades SET state = 'failed', error = 'checksum mismatch', attempts = 1, finished_at = CURRENT_TIMESTAMP, updated_at = CURRENT_TIMESTAMP WHERE id = ?`, ids[2])
	waitFor := func(what, js string) {
		t.Helper()
		if err := chromedp.Do(c.ctx, chromedp.Poll[chromedp.Void](js, chromedp.WithPollingTimeout(15*time.Second))); err != nil {
			t.Fatalf("%s: %v (counts: %s)", what, err, c.text("#state-counts"))
		}
	}
	waitFor("live counts", `document.getElementById('n-done').textContent === '1' &&
		document.getElementById('n-downloading').textContent === '1' && document.getElementById('n-failed').textContent === '1'`)
	if !chromeEval[bool](c, `window.__same === true`) {
		t.Error("the page reloaded to show the counts")
	}
	row := fmt.Sprintf(`#rollout-devices tr[data-upgrade="%d"]`, ids[1])
	waitFor("the device row", fmt.Sprintf(`(document.querySelector('%s .u-state') || {}).textContent === 'Downloading 40%%'`, row))
	if got := c.text(fmt.Sprintf(`#rollout-devices tr[data-upgrade="%d"] .u-error`, ids[2])); got != "checksum mismatch" {
		t.Errorf("failed row's error %q", got)
	}
	// The bars draw the shares: the done segment of the overall bar.
	if w := chromeEval[string](c, `document.querySelector('#overall-bar .st-done').style.width`); w == "" || w == "0px" || w == "0" {
		t.Errorf("the done segment's width is %q", w)
	}

	// The scheduler pauses the rollout by itself (its failure threshold):
	// the page shows it, with the reason and the Resume button, unasked.
	exec(`UPDATE rollouts SET status = 'paused', pause_reason = 'wave 1: 1 of 3 ended upgrades failed (33%), above 10%' WHERE id = ?`, rid)
	// The page reloads itself for the new status's buttons: ask again
	// until the new page answers.
	shown := false
	for end := time.Now().Add(15 * time.Second); !shown && time.Now().Before(end); time.Sleep(200 * time.Millisecond) {
		shown, _ = chromedp.Run(c.ctx, chromedp.Evaluate[bool](`(document.getElementById('rollout-status') || {}).textContent === 'Paused' &&
			!document.getElementById('pause-reason').hidden && !!document.getElementById('action-resume')`))
	}
	if !shown {
		t.Fatalf("the pause is not shown: status %q", c.text("#rollout-status"))
	}
	if got := c.text("#pause-reason"); !strings.Contains(got, "above 10%") {
		t.Errorf("pause reason %q", got)
	}
	exec(`UPDATE rollouts SET status = 'running', pause_reason = '' WHERE id = ?`, rid)
	if st := c.open(fmt.Sprintf("/rollouts/%d", rid)); st != 200 {
		t.Fatal(st)
	}

	// Search by MAC (a part, lower case, with colons).
	m := strings.ToLower(macs[2][6:8] + ":" + macs[2][8:10] + ":" + macs[2][10:])
	c.do("search a MAC", chromedp.SendKeys(chromedp.ID("search-mac"), m))
	if st := c.clickAndLoad("#search"); st != 200 {
		t.Fatalf("search: %d", st)
	}
	got := chromeEval[[]string](c, `Array.from(document.querySelectorAll('#rollout-devices tr[data-mac]')).map(tr => tr.dataset.mac)`)
	if len(got) < 1 || got[0] != macs[2] {
		t.Errorf("search %s found %v, want %s", m, got, macs[2])
	}
	for _, g := range got {
		if !strings.Contains(g, strings.ToUpper(strings.ReplaceAll(m, ":", ""))) {
			t.Errorf("search %s found %s", m, g)
		}
	}
	// By state.
	if st := c.open(fmt.Sprintf("/rollouts/%d?state=failed", rid)); st != 200 {
		t.Fatalf("state search: %d", st)
	}
	if got := chromeEval[[]string](c, `Array.from(document.querySelectorAll('#rollout-devices tr[data-mac]')).map(tr => tr.dataset.mac)`); len(got) != 1 || got[0] != macs[2] {
		t.Errorf("failed devices %v, want [%s]", got, macs[2])
	}

	// CSV export of every device, with the browser's session. A device
	// writes its own error text: a formula in it is defused.
	exec(`UPDATE firmware_upgrades SET error = '=HYPERLINK("http://evil.example","open")' WHERE id = ?`, ids[2])
	if st := c.open(fmt.Sprintf("/rollouts/%d", rid)); st != 200 {
		t.Fatal(st)
	}
	href := chromeEval[string](c, `document.getElementById('export').getAttribute('href')`)
	text, err := chromedp.Run(c.ctx, chromedp.Evaluate[string](fmt.Sprintf(`fetch(%q).then(r => r.text())`, href), chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatal(err)
	}
	recs, err := csv.NewReader(strings.NewReader(strings.TrimPrefix(text, "\ufeff"))).ReadAll()
	if err != nil {
		t.Fatalf("CSV: %v\n%s", err, text)
	}
	if len(recs) != want+1 || recs[0][0] != "mac" || recs[0][3] != "state" {
		t.Errorf("CSV has %d rows, header %v", len(recs), recs[0])
	}
	states := map[string]string{}
	for _, r := range recs[1:] {
		states[r[0]] = r[3]
		if r[0] == macs[2] && r[7] != `'=HYPERLINK("http://evil.example","open")` {
			t.Errorf("the device's error in the CSV: %q, want the formula defused", r[7])
		}
	}
	if states[macs[0]] != "done" || states[macs[2]] != "failed" {
		t.Errorf("CSV states: %v", states)
	}

	// The device page: its history, and the running upgrade.
	if st := c.open("/devices/" + macs[1]); st != 200 {
		t.Fatalf("device page: %d", st)
	}
	if got := c.text("#running-upgrade"); !strings.Contains(got, fwVersion) || !strings.Contains(got, "Downloading 40%") {
		t.Errorf("running upgrade: %q", got)
	}
	if got := c.text("#firmware-history tbody tr"); !strings.Contains(got, "Browser rollout") || !strings.Contains(got, fwVersion) {
		t.Errorf("history: %q", got)
	}
	// It follows the device by itself.
	exec(`UPDATE firmware_upgrades SET state = 'installing', percent = 100, updated_at = CURRENT_TIMESTAMP WHERE id = ?`, ids[1])
	waitFor("the running upgrade follows", `(document.getElementById('running-state') || {}).textContent === 'Installing' &&
		document.getElementById('running-percent').hidden`)

	// Pause, then cancel (confirmed).
	if st := c.open(fmt.Sprintf("/rollouts/%d", rid)); st != 200 {
		t.Fatal(st)
	}
	if st := c.clickAndLoad("#action-pause"); st != 200 || strings.ToLower(c.text("#rollout-status")) != "paused" {
		t.Fatalf("pause: %d %q", st, c.text("#rollout-status"))
	}
	if c.text("#action-resume") != "Resume" {
		t.Errorf("a paused rollout offers %q", c.text("#rollout-actions"))
	}
	if st := c.clickAndLoad("#action-cancel"); st != 200 || strings.ToLower(c.text("#rollout-status")) != "canceled" {
		t.Fatalf("cancel: %d %q", st, c.text("#rollout-status"))
	}
	if n := chromeEval[int](c, `document.querySelectorAll('#rollout-actions button').length`); n != 0 {
		t.Errorf("a canceled rollout offers %d buttons", n)
	}

	// The list shows it.
	if st := c.open("/rollouts"); st != 200 {
		t.Fatal(st)
	}
	if got := c.text(fmt.Sprintf(`#rollout-list tr[data-rollout="%d"]`, rid)); !strings.Contains(got, "Browser rollout") {
		t.Errorf("list row %q", got)
	}

	// An installer sees its own rollouts only; another's id is not found.
	inst := e.browserLogin("demo-installer")
	if r := e.do(inst.c, "GET", fmt.Sprintf("/rollouts/%d", rid), nil); r.StatusCode != 404 {
		t.Errorf("installer opens the sub-distributor's rollout: %d", r.StatusCode)
	}
	if r := e.do(inst.c, "GET", fmt.Sprintf("/rollouts/%d/progress", rid), nil); r.StatusCode != 404 {
		t.Errorf("installer reads its progress: %d", r.StatusCode)
	}
	if r := e.do(inst.c, "GET", fmt.Sprintf("/rollouts/%d/devices.csv", rid), nil); r.StatusCode != 404 {
		t.Errorf("installer exports its devices: %d", r.StatusCode)
	}
	if r := e.form(inst.c, fmt.Sprintf("/rollouts/%d/pause", rid), url.Values{"csrf_token": {inst.csrf}}); r.StatusCode != 404 {
		t.Errorf("installer pauses it: %d", r.StatusCode)
	}
	if r := e.do(inst.c, "GET", "/rollouts", nil); r.StatusCode != 200 || strings.Contains(string(r.body), "Browser rollout") {
		t.Errorf("installer's list: %d, holds the sub-distributor's rollout: %v", r.StatusCode, strings.Contains(string(r.body), "Browser rollout"))
	}
	// A form post without the CSRF token is refused.
	subc := e.browserLogin(sub)
	if r := e.form(subc.c, fmt.Sprintf("/rollouts/%d/resume", rid), url.Values{}); r.StatusCode != 403 {
		t.Errorf("a post without the CSRF token: %d", r.StatusCode)
	}
}

// TestScreenshotRollout takes docs/screenshots/rollout.png: a running
// rollout's page over the demo data, mid-way. Opt-in, like TestScreenshots:
//
//	GATEHOUSE_SCREENSHOTS=$PWD/docs/screenshots go test -run TestScreenshotRollout -count=1 ./internal/server/
func TestScreenshotRollout(t *testing.T) {
	dir := os.Getenv("GATEHOUSE_SCREENSHOTS")
	if dir == "" {
		t.Skip("set GATEHOUSE_SCREENSHOTS=DIR to take the README screenshots")
	}
	execPath := findChromium()
	if execPath == "" {
		t.Fatal("chromium not found")
	}
	e := newEnv(t, "sqlite")
	const sub = "demo-subdistributor"
	fwID, _, _, _ := rolloutFixture(t, e, sub)
	c := newChrome(t, execPath, e.url, 1280, 800, 2*time.Minute)
	c.login(sub)
	b := e.browserLogin(sub)
	r := e.form(b.c, fmt.Sprintf("/firmware/%d/upgrade", fwID), url.Values{"csrf_token": {b.csrf}, "op": {"create"},
		"name": {"Door phones: spring security release"}, "canary": {"2"}, "canary_unit": {"devices"}, "wave": {"34"}, "wave_unit": {"percent"},
		"window_start": {"01:00"}, "window_end": {"05:00"}, "failure_threshold": {"10"}, "timeout": {"60"}})
	if r.StatusCode != 303 {
		t.Fatalf("create: %d %s", r.StatusCode, r.body)
	}
	loc := r.Header.Get("Location")
	id := strings.SplitN(strings.TrimPrefix(loc, "/rollouts/"), "?", 2)[0]
	if r := e.form(b.c, "/rollouts/"+id+"/start", url.Values{"csrf_token": {b.csrf}}); r.StatusCode != 303 {
		t.Fatalf("start: %d", r.StatusCode)
	}
	states := []string{"done", "done", "done", "failed", "done", "installing", "downloading", "verifying", "rebooting", "sent", "queued", "downloading"}
	rows, err := e.st.DB().Query(`SELECT id FROM firmware_upgrades WHERE rollout_id = ? ORDER BY wave, id`, id)
	if err != nil {
		t.Fatal(err)
	}
	var ids []int64
	for rows.Next() {
		var x int64
		rows.Scan(&x)
		ids = append(ids, x)
	}
	rows.Close()
	for i, uid := range ids {
		if i >= len(states) {
			break
		}
		errText := ""
		if states[i] == "failed" {
			errText = "came back with firmware 29.30.1.12, expected the new version"
		}
		if _, err := e.st.DB().Exec(`UPDATE firmware_upgrades SET state = ?, percent = ?, error = ?, attempts = 1, updated_at = CURRENT_TIMESTAMP,
			sent_at = CURRENT_TIMESTAMP WHERE id = ?`, states[i], 30+i*5, errText, uid); err != nil {
			t.Fatal(err)
		}
	}
	if st := c.open("/rollouts/" + id); st != 200 {
		t.Fatalf("rollout page: %d", st)
	}
	c.do("settle", chromedp.Sleep(800*time.Millisecond), chromedp.Evaluate[chromedp.Void](`document.fonts.ready.then(() => undefined)`, chromedp.EvalAwaitPromise))
	buf, err := chromedp.Run(c.ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, "rollout.png")
	if err := os.WriteFile(p, buf, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("wrote %s", p)
}
