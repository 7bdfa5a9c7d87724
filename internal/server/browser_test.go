package server_test

// Browser tests: a real headless Chromium drives the portal through the
// same pages a person uses. They need a Chromium-like browser on PATH; without
// one they skip loudly, and fail when CI=true.

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	cdppage "github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
)

// chromeTimeout bounds one browser test, so a hang fails instead of blocking.
const chromeTimeout = 60 * time.Second

// findChromium returns the path of a Chromium-like browser, or "".
func findChromium() string {
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	return ""
}

// requireChromium returns the browser's path, or ends the test: a failure on
// CI, a loud skip elsewhere.
func requireChromium(t *testing.T) string {
	t.Helper()
	p := findChromium()
	if p != "" {
		return p
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("browser test: chromium not found on PATH (tried chromium, chromium-browser, google-chrome)")
	}
	fmt.Fprintln(os.Stderr, "*** browser test SKIPPED: chromium not found ***")
	t.Skip("chromium not found")
	return ""
}

// chromeTab is one tab of a headless browser pointed at a test server.
type chromeTab struct {
	t    *testing.T
	ctx  context.Context
	base string

	// JavaScript dialogs (confirm) of the tab: answered at once, accepted
	// unless dismissDialogs is set; their messages, in order.
	dmu            sync.Mutex
	dismissDialogs bool
	dialogMsgs     []string
}

// answerDialogs makes the tab accept (true) or dismiss (false) every later
// JavaScript dialog, such as the confirm() of a data-confirm form.
func (c *chromeTab) answerDialogs(accept bool) {
	c.dmu.Lock()
	c.dismissDialogs = !accept
	c.dmu.Unlock()
}

// dialogs returns the messages of the dialogs the tab has shown so far.
func (c *chromeTab) dialogs() []string {
	c.dmu.Lock()
	defer c.dmu.Unlock()
	return slices.Clone(c.dialogMsgs)
}

// newChrome starts a fresh headless browser with a width×height viewport.
// Everything it does must end within timeout.
func newChrome(t *testing.T, execPath, base string, width, height int64, timeout time.Duration) *chromeTab {
	t.Helper()
	dataDir := t.TempDir() // before the cleanups below, so it is removed after the browser exits
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(execPath),
		chromedp.Flag("headless", true),
		chromedp.Flag("hide-scrollbars", true),
		chromedp.Flag("mute-audio", true),
		chromedp.Flag("no-sandbox", true),
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("no-first-run", true),
		chromedp.Flag("no-default-browser-check", true),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("disable-extensions", true),
		chromedp.WindowSize(int(width), int(height)),
		chromedp.UserDataDir(dataDir),
	}
	tctx, cancelTimeout := context.WithTimeout(context.Background(), timeout)
	actx, cancelAlloc := chromedp.NewExecAllocator(tctx, opts...)
	ctx, cancelCtx := chromedp.NewContext(actx)
	t.Cleanup(func() {
		cancelCtx()
		cancelAlloc() // waits for the browser to exit
		cancelTimeout()
	})
	c := &chromeTab{t: t, ctx: ctx, base: base}
	c.do("start browser", chromedp.EmulateViewport(width, height))
	// A confirm() blocks the page until someone answers it: answer it from
	// another goroutine (the listener must not run commands itself).
	if err := chromedp.Listen(ctx, func(ev any) {
		d, ok := ev.(*cdppage.EventJavascriptDialogOpening)
		if !ok {
			return
		}
		c.dmu.Lock()
		c.dialogMsgs = append(c.dialogMsgs, d.Message)
		accept := !c.dismissDialogs
		c.dmu.Unlock()
		go chromedp.Call(ctx, cdppage.HandleJavaScriptDialog, cdppage.HandleJavaScriptDialogParams{Accept: accept})
	}); err != nil {
		t.Fatalf("listen for dialogs: %v", err)
	}
	return c
}

// do runs actions that return nothing, failing the test on an error.
func (c *chromeTab) do(what string, actions ...chromedp.Action[chromedp.Void]) {
	c.t.Helper()
	if err := chromedp.Do(c.ctx, actions...); err != nil {
		c.t.Fatalf("%s: %v", what, err)
	}
}

// open navigates to path and returns the HTTP status of the document.
func (c *chromeTab) open(path string) int64 {
	c.t.Helper()
	res, err := chromedp.Run(c.ctx, chromedp.NavigateResponse(c.base+path))
	if err != nil {
		c.t.Fatalf("open %s: %v", path, err)
	}
	if res == nil {
		c.t.Fatalf("open %s: no response", path)
	}
	return res.Status
}

// clickAndLoad clicks the element and waits for the page it leads to,
// returning that page's HTTP status.
func (c *chromeTab) clickAndLoad(sel string) int64 {
	c.t.Helper()
	res, err := chromedp.RunResponse(c.ctx, chromedp.Click(chromedp.CSS(sel)))
	if err != nil {
		c.t.Fatalf("click %s: %v", sel, err)
	}
	if res == nil {
		c.t.Fatalf("click %s: no response", sel)
	}
	return res.Status
}

// path is the current location's path and query, without the server.
func (c *chromeTab) path() string {
	c.t.Helper()
	loc, err := chromedp.Run(c.ctx, chromedp.Location())
	if err != nil {
		c.t.Fatalf("location: %v", err)
	}
	u, err := url.Parse(loc)
	if err != nil {
		c.t.Fatalf("location %q: %v", loc, err)
	}
	return u.RequestURI()
}

// chromeEval evaluates a JavaScript expression in the page and decodes its value.
func chromeEval[T any](c *chromeTab, js string) T {
	c.t.Helper()
	v, err := chromedp.Run(c.ctx, chromedp.Evaluate[T](js))
	if err != nil {
		c.t.Fatalf("evaluate %s: %v", js, err)
	}
	return v
}

// login signs in through the login form and waits for the start page.
func (c *chromeTab) login(username string) {
	c.t.Helper()
	if st := c.open("/login"); st != 200 {
		c.t.Fatalf("GET /login: status %d", st)
	}
	c.do("fill the login form",
		chromedp.WaitVisible(chromedp.ID("username")),
		chromedp.SendKeys(chromedp.ID("username"), username),
		chromedp.SendKeys(chromedp.ID("password"), demoPassword),
	)
	if label := chromeEval[string](c, `document.querySelector('#login').textContent.trim()`); label != "Log in" {
		c.t.Errorf("login button says %q, want %q", label, "Log in")
	}
	if st := c.clickAndLoad("#login"); st != 200 {
		c.t.Fatalf("log in as %s: landed with status %d", username, st)
	}
	if p := c.path(); p != "/" {
		c.t.Fatalf("after logging in as %s the browser is at %s, want /", username, p)
	}
	who := chromeEval[string](c, `(document.querySelector('.topbar .account') || {}).title || ''`)
	if !strings.Contains(who, username) {
		c.t.Fatalf("after logging in as %s the top bar says %q", username, who)
	}
}

// nav returns the titles of the navigation's modules, in order.
func (c *chromeTab) nav() []string {
	c.t.Helper()
	return chromeEval[[]string](c, `Array.from(document.querySelectorAll('nav a[data-module]')).map(a => a.textContent.trim())`)
}

// text is the visible text of the first element matching sel ("" if none).
func (c *chromeTab) text(sel string) string {
	c.t.Helper()
	return chromeEval[string](c, fmt.Sprintf(`(() => { const e = document.querySelector(%q); return e ? e.innerText.trim() : ''; })()`, sel))
}

// firmwareTable is the header and the data rows of #firmware-list.
type firmwareTable struct {
	header []string
	rows   [][]string
}

func (c *chromeTab) firmwareTable() firmwareTable {
	c.t.Helper()
	// textContent, not innerText: the header is upper-cased by CSS.
	header := chromeEval[[]string](c, `Array.from(document.querySelectorAll('#firmware-list thead th')).map(th => th.textContent.trim())`)
	rows := chromeEval[[][]string](c, `Array.from(document.querySelectorAll('#firmware-list tbody tr'))
		.filter(tr => !tr.querySelector('td.empty'))
		.map(tr => Array.from(tr.cells).map(td => td.textContent.trim()))`)
	for i, r := range rows {
		if len(r) != len(header) {
			c.t.Fatalf("firmware row %d has %d cells, the header %d: %q", i, len(r), len(header), r)
		}
	}
	return firmwareTable{header: header, rows: rows}
}

// col is the index of the named column, failing the test when it is missing.
func (ft firmwareTable) col(t *testing.T, name string) int {
	t.Helper()
	i := slices.Index(ft.header, name)
	if i < 0 {
		t.Fatalf("firmware table has no %q column: %q", name, ft.header)
	}
	return i
}

func TestBrowserSubdistributorFirmware(t *testing.T) {
	execPath := requireChromium(t)
	e := newEnv(t, "sqlite")
	c := newChrome(t, execPath, e.url, 1280, 900, chromeTimeout)

	c.login("demo-subdistributor")

	// The guide's eight modules, in its order, then the audit log.
	want := []string{"Project Device", "Personal Device", "Third-Party Device", "User", "Firmware", "Subscriptions", "Payments", "Setting"}
	nav := c.nav()
	if len(nav) < len(want) || !slices.Equal(nav[:len(want)], want) {
		t.Fatalf("nav = %q, want it to start with %q", nav, want)
	}
	t.Logf("nav: %q", nav)

	// Firmware, through the nav.
	if st := c.clickAndLoad(`nav a[data-module="firmware"]`); st != 200 {
		t.Fatalf("Firmware page: status %d", st)
	}
	if p := c.path(); p != "/firmware" {
		t.Fatalf("Firmware nav link led to %s", p)
	}
	if h := c.text("main h1"); h != "Firmware" {
		t.Errorf("Firmware page heading = %q", h)
	}
	if a := c.text("nav a.active"); a != "Firmware" {
		t.Errorf("active nav entry = %q, want Firmware", a)
	}
	all := c.firmwareTable()
	if len(all.rows) == 0 {
		t.Fatal("the firmware list has no rows")
	}
	modelCol := all.col(t, "Model")
	others := 0
	for _, r := range all.rows {
		if r[modelCol] != "R29" {
			others++
		}
	}
	if others == 0 {
		t.Fatalf("the unfiltered list shows only R29, so the search below would prove nothing: %q", all.rows)
	}

	// Search by model.
	c.do("type a model", chromedp.SendKeys(chromedp.ID("search-model"), "R29"))
	if st := c.clickAndLoad("#search"); st != 200 {
		t.Fatalf("search: status %d", st)
	}
	if p := c.path(); !strings.Contains(p, "model=R29") {
		t.Errorf("search went to %s, want model=R29 in the query", p)
	}
	if v := chromeEval[string](c, `document.querySelector('#search-model').value`); v != "R29" {
		t.Errorf("model field after the search = %q, want R29", v)
	}
	found := c.firmwareTable()
	if len(found.rows) == 0 {
		t.Fatal("searching model R29 found no rows")
	}
	if len(found.rows) >= len(all.rows) {
		t.Errorf("searching R29 shows %d rows, no fewer than the unfiltered %d", len(found.rows), len(all.rows))
	}
	for i, r := range found.rows {
		if got := r[found.col(t, "Model")]; !strings.HasPrefix(got, "R29") {
			t.Errorf("row %d: model %q, want R29 or R29C (the search matches a part): %q", i, got, r)
		}
	}
	version, firstModel := found.rows[0][found.col(t, "Version")], found.rows[0][found.col(t, "Model")]
	if version == "" {
		t.Fatalf("first row has no version: %q", found.rows[0])
	}

	// Details of the first row.
	link := "#firmware-list tbody tr:first-child td a"
	if l := c.text(link); l != "Details" {
		t.Fatalf("first row's link says %q, want Details", l)
	}
	if st := c.clickAndLoad(link); st != 200 {
		t.Fatalf("details: status %d", st)
	}
	if p := c.path(); !strings.HasPrefix(p, "/firmware/") {
		t.Fatalf("Details led to %s", p)
	}
	detail := chromeEval[map[string]string](c, `(() => {
		const m = {};
		document.querySelectorAll('#firmware-detail dt').forEach(dt => {
			const dd = dt.nextElementSibling;
			m[dt.textContent.trim()] = dd ? dd.textContent.trim() : '';
		});
		return m;
	})()`)
	if detail["Version"] != version {
		t.Errorf("detail Version = %q, want %q (from the list); detail: %q", detail["Version"], version, detail)
	}
	if detail["Model"] != firstModel {
		t.Errorf("detail Model = %q, want %q (from the list)", detail["Model"], firstModel)
	}
	if h := c.text("main h1"); !strings.Contains(h, version) {
		t.Errorf("detail heading %q does not name version %q", h, version)
	}

	// Log out from the top bar.
	if l := c.text(".topbar #logout"); l != "Log out" {
		t.Fatalf("top bar logout button says %q", l)
	}
	if st := c.clickAndLoad("#logout"); st != 200 {
		t.Fatalf("log out: status %d", st)
	}
	if p := c.path(); p != "/login" {
		t.Fatalf("after logging out the browser is at %s, want /login", p)
	}
	if n := chromeEval[int](c, `document.querySelectorAll('#username, #password, #login').length`); n != 3 {
		t.Errorf("the page after logout is not the login form (%d of its 3 fields)", n)
	}
	if n := chromeEval[int](c, `document.querySelectorAll('#logout, nav a[data-module]').length`); n != 0 {
		t.Errorf("the login page after logout still shows %d signed-in elements", n)
	}

	// The session is gone: the start page sends us back to the login form.
	c.open("/")
	if p := c.path(); !strings.HasPrefix(p, "/login") {
		t.Fatalf("after logout, / shows %s, want a redirect to /login", p)
	}
	if n := chromeEval[int](c, `document.querySelectorAll('#username').length`); n != 1 {
		t.Errorf("after logout, / does not show the login form")
	}
}

func TestBrowserPaymentGate(t *testing.T) {
	execPath := requireChromium(t)
	e := newEnv(t, "sqlite")
	c := newChrome(t, execPath, e.url, 1280, 900, chromeTimeout)

	// In the demo data the third sub-distributor of each distributor has the
	// payment feature off.
	c.login("subdistributor-1-3")
	nav := c.nav()
	for _, m := range []string{"Project Device", "Firmware", "Setting"} {
		if !slices.Contains(nav, m) {
			t.Fatalf("nav %q lacks %q: not a sub-distributor's nav", nav, m)
		}
	}
	for _, m := range []string{"Subscriptions", "Payments"} {
		if slices.Contains(nav, m) {
			t.Errorf("nav %q shows %s although the payment feature is off", nav, m)
		}
	}
	if n := chromeEval[int](c, `document.querySelectorAll('a[href="/subscriptions"], a[href="/payments"]').length`); n != 0 {
		t.Errorf("the start page links %d times to a payment module", n)
	}

	for _, path := range []string{"/subscriptions", "/payments"} {
		if st := c.open(path); st != 403 {
			t.Errorf("GET %s: status %d, want 403", path, st)
		}
		if h := c.text("main h1"); h != "Forbidden" {
			t.Errorf("%s heading = %q, want Forbidden", path, h)
		}
		msg := c.text("main")
		if !strings.Contains(msg, "payment feature") {
			t.Errorf("%s page does not mention the payment feature: %q", path, msg)
		}
	}
}

func TestBrowserNarrowScreen(t *testing.T) {
	execPath := requireChromium(t)
	e := newEnv(t, "sqlite")
	c := newChrome(t, execPath, e.url, 390, 844, chromeTimeout)

	c.login("demo-subdistributor")
	if w := chromeEval[int](c, `window.innerWidth`); w != 390 {
		t.Fatalf("viewport is %dpx wide, want 390", w)
	}

	// The nav is on screen: visible, in the first screenful, as wide as the
	// viewport at most, and its first entry is in view.
	type box struct {
		Left, Right, Top, Bottom, Width, Height float64
		Display, Visibility                     string
	}
	boxOf := func(sel string) box {
		t.Helper()
		return chromeEval[box](c, fmt.Sprintf(`(() => {
			const e = document.querySelector(%q);
			if (!e) return {Display: 'missing'};
			const r = e.getBoundingClientRect(), s = getComputedStyle(e);
			return {Left: r.left, Right: r.right, Top: r.top, Bottom: r.bottom, Width: r.width, Height: r.height,
				Display: s.display, Visibility: s.visibility};
		})()`, sel))
	}
	nb := boxOf("nav.sidebar")
	if nb.Display == "missing" || nb.Display == "none" || nb.Visibility == "hidden" || nb.Width == 0 || nb.Height == 0 {
		t.Fatalf("nav is not visible on a narrow screen: %+v", nb)
	}
	if nb.Top < 0 || nb.Top >= 844 || nb.Left < 0 || nb.Right > 390.5 {
		t.Errorf("nav is not within the 390×844 viewport: %+v", nb)
	}
	fb := boxOf("nav a[data-module]")
	if fb.Width == 0 || fb.Height == 0 || fb.Left < 0 || fb.Right > 390.5 || fb.Top < 0 || fb.Bottom > 844 {
		t.Errorf("first nav entry is not in view: %+v", fb)
	}
	if nav := c.nav(); len(nav) < 8 || nav[4] != "Firmware" {
		t.Errorf("narrow nav = %q", nav)
	}

	// Firmware through the nav (the click scrolls the entry into view).
	if st := c.clickAndLoad(`nav a[data-module="firmware"]`); st != 200 {
		t.Fatalf("Firmware page: status %d", st)
	}
	if p := c.path(); p != "/firmware" {
		t.Fatalf("Firmware nav link led to %s", p)
	}
	ft := c.firmwareTable()
	if len(ft.rows) == 0 {
		t.Fatal("the firmware list has no rows on a narrow screen")
	}

	// The table sits in a horizontally scrollable wrapper that fits the
	// screen, and the page itself does not scroll sideways.
	wrap := chromeEval[struct {
		Class, OverflowX                    string
		ClientWidth, ScrollWidth, PageWidth int
		Right                               float64
	}](c, `(() => {
		const w = document.querySelector('#firmware-list').parentElement;
		return {Class: w.className, OverflowX: getComputedStyle(w).overflowX, ClientWidth: w.clientWidth,
			ScrollWidth: w.scrollWidth, PageWidth: document.documentElement.scrollWidth, Right: w.getBoundingClientRect().right};
	})()`)
	t.Logf("table wrapper: %+v", wrap)
	if !strings.Contains(" "+wrap.Class+" ", " table-wrap ") || (wrap.OverflowX != "auto" && wrap.OverflowX != "scroll") {
		t.Errorf("firmware table is not in a scrollable wrapper: %+v", wrap)
	}
	if wrap.Right > 390.5 {
		t.Errorf("table wrapper sticks out of the viewport: right edge at %.0fpx", wrap.Right)
	}
	if wrap.PageWidth > 390 {
		t.Errorf("the page is %dpx wide on a 390px screen: it scrolls sideways", wrap.PageWidth)
	}

	// The last column is reachable: scroll the wrapper to the end and the
	// first row's Details link is in view.
	link := "#firmware-list tbody tr:first-child td a"
	c.do("scroll the table", chromedp.Evaluate[chromedp.Void](`(() => {
		const w = document.querySelector('#firmware-list').parentElement;
		w.scrollLeft = w.scrollWidth;
		window.scrollTo(0, 0);
		document.querySelector('#firmware-list tbody tr:first-child').scrollIntoView({block: 'center'});
	})()`))
	lb := boxOf(link)
	if lb.Width == 0 || lb.Left < 0 || lb.Right > 390.5 || lb.Top < 0 || lb.Bottom > 844 {
		t.Errorf("after scrolling the table the Details link is not in view: %+v", lb)
	}
	version := ft.rows[0][ft.col(t, "Version")]
	if st := c.clickAndLoad(link); st != 200 {
		t.Fatalf("details: status %d", st)
	}
	if v := c.text("#firmware-detail dd"); v != version {
		t.Errorf("detail shows version %q, want %q", v, version)
	}
}
