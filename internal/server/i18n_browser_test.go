package server_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/gatehouse-dev/gatehouse/internal/demo"
)

// overflowJS lists what does not fit at the viewport's width: the page
// scrolling sideways, an element past the right edge that is not inside a
// scrolling box, text cut off by a box that hides its overflow, and a
// button, nav entry, label or heading whose text runs out of its box.
const overflowJS = `(() => {
	const bad = [];
	const vw = document.documentElement.clientWidth;
	const name = e => e.tagName.toLowerCase() + (e.id ? '#' + e.id : '') +
		(e.className && typeof e.className === 'string' ? '.' + e.className.trim().split(/\s+/).join('.') : '') +
		' "' + (e.innerText || e.value || '').trim().slice(0, 40) + '"';
	const scroller = e => {
		for (let p = e.parentElement; p; p = p.parentElement) {
			const o = getComputedStyle(p).overflowX;
			if (o === 'auto' || o === 'scroll') return true;
		}
		return false;
	};
	// Screen-reader text is clipped to a pixel on purpose.
	const hidden = e => {
		for (let p = e; p; p = p.parentElement) {
			const r = p.getBoundingClientRect();
			if (r.width <= 1 || r.height <= 1) return true;
		}
		return false;
	};
	if (document.documentElement.scrollWidth > vw + 1) bad.push('the page is ' + document.documentElement.scrollWidth + 'px wide');
	for (const e of document.querySelectorAll('body *')) {
		const s = getComputedStyle(e);
		if (s.display === 'none' || s.visibility === 'hidden') continue;
		const r = e.getBoundingClientRect();
		if (r.width === 0 || r.height === 0 || hidden(e)) continue;
		if (r.right > vw + 1 && !scroller(e)) bad.push(name(e) + ' ends at ' + Math.round(r.right) + 'px');
		const clips = s.overflowX === 'hidden' || s.overflowX === 'clip';
		if (clips && e.scrollWidth > e.clientWidth + 1 && s.textOverflow !== 'ellipsis') bad.push(name(e) + ' cuts its text off');
		if (/^(BUTTON|A|LABEL|H1|H2|H3|TH|SELECT)$/.test(e.tagName) && e.scrollWidth > e.clientWidth + 1 && s.display !== 'inline') bad.push(name(e) + ' overflows its box');
	}
	return [...new Set(bad)];
})()`

// TestBrowserLongestLanguagesFit: at 1280 px, every module's main page of
// every role, the home and account pages, and the sign-in page fit in
// German and in Russian, the portal's longest languages.
func TestBrowserLongestLanguagesFit(t *testing.T) {
	execPath := requireChromium(t)
	e := newEnv(t, "sqlite")
	for _, lang := range []string{"de", "ru"} {
		t.Run(lang, func(t *testing.T) {
			if _, err := e.st.DB().Exec(`UPDATE accounts SET language = ?`, lang); err != nil {
				t.Fatal(err)
			}
			pages := 0
			check := func(c *chromeTab, who, path string) {
				t.Helper()
				if st := c.open(path); st != 200 {
					t.Errorf("%s %s: status %d", who, path, st)
					return
				}
				if got := chromeEval[string](c, `document.documentElement.lang`); got != lang {
					t.Errorf("%s %s: page in %q, want %q", who, path, got, lang)
				}
				for _, b := range chromeEval[[]string](c, overflowJS) {
					t.Errorf("%s %s (%s): %s", who, path, lang, b)
				}
				pages++
			}
			anon := newChrome(t, execPath, e.url, 1280, 900, chromeTimeout)
			anon.open("/login")
			anon.pick("#lang-select", lang)
			check(anon, "visitor", "/login")
			for _, user := range []string{demo.AdminUser, demo.DistributorUser, demo.SubdistributorUser, demo.InstallerUser} {
				c := newChrome(t, execPath, e.url, 1280, 900, chromeTimeout)
				c.login(user)
				paths := chromeEval[[]string](c, `[...document.querySelectorAll('nav a[data-module]')].map(a => a.getAttribute('href'))`)
				if len(paths) < 3 {
					t.Fatalf("%s: nav %q", user, paths)
				}
				for _, p := range append([]string{"/", "/account"}, paths...) {
					check(c, user, p)
				}
				if lang == "de" && user == demo.SubdistributorUser {
					c.open("/project-devices")
					saveShot(t, c, "i18n-de-project-devices.png")
				}
			}
			t.Logf("%s: %d pages checked at 1280 px", lang, pages)
		})
	}
}

// TestBrowserLanguageSwitcher: picking a language in the header's
// switcher reloads the same page in it and keeps it for the account.
func TestBrowserLanguageSwitcher(t *testing.T) {
	execPath := requireChromium(t)
	e := newEnv(t, "sqlite")
	c := newChrome(t, execPath, e.url, 1280, 900, chromeTimeout)
	c.login(demo.InstallerUser)
	c.open("/installer/projects")
	if st := c.pick("#lang-select", "zh-CN"); st != 200 {
		t.Fatalf("switching: status %d", st)
	}
	if got := chromeEval[string](c, `document.documentElement.lang`); got != "zh-CN" {
		t.Fatalf("page in %q after switching to Chinese", got)
	}
	if p := c.path(); p != "/installer/projects" {
		t.Errorf("the switcher led to %s, want the same page", p)
	}
	nav := strings.Join(c.nav(), "|")
	if want := in("zh-CN", "Projects"); !strings.Contains(nav, want) {
		t.Errorf("nav %q lacks %q", nav, want)
	}
	var lang string
	e.st.DB().QueryRow(`SELECT language FROM accounts WHERE username = ?`, demo.InstallerUser).Scan(&lang)
	if lang != "zh-CN" {
		t.Errorf("account language %q after switching, want zh-CN", lang)
	}
	saveShot(t, c, "i18n-zh-installer-projects.png")
}

// pick chooses a value of a select as a person does (its change event
// fires) and waits for the page that leads to, returning its status.
func (c *chromeTab) pick(sel, value string) int64 {
	c.t.Helper()
	js := fmt.Sprintf(`(() => { const s = document.querySelector(%q); s.value = %q; s.dispatchEvent(new Event('change', {bubbles: true})); })()`, sel, value)
	res, err := chromedp.RunResponse(c.ctx, chromedp.Evaluate[chromedp.Void](js))
	if err != nil {
		c.t.Fatalf("pick %s in %s: %v", value, sel, err)
	}
	if res == nil {
		c.t.Fatalf("pick %s in %s: no page loaded", value, sel)
	}
	return res.Status
}
