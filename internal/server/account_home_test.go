package server_test

import (
	"strings"
	"testing"
)

// TestAccountPage: the top bar's Account link leads to one page with the
// account's own settings; while a sub-distributor works in an installer's
// account, the installer's password and second factor are not offered.
func TestAccountPage(t *testing.T) {
	eachBackend(t, func(t *testing.T, e *env) {
		b := e.browserLogin("demo-subdistributor")
		if home := string(e.do(b.c, "GET", "/", nil).body); !strings.Contains(home, `<a href="/account" id="account-link">`) {
			t.Fatalf("no Account link in the top bar")
		}
		r := e.do(b.c, "GET", "/account", nil)
		body := string(r.body)
		if r.StatusCode != 200 {
			t.Fatalf("account page: %d %s", r.StatusCode, body)
		}
		for _, link := range []string{`href="/account/password"`, `href="/account/two-factor"`, `href="/account/email"`,
			`href="/account/notifications"`, `href="/webhooks"`, "Off: sign in with a password alone."} {
			if !strings.Contains(body, link) {
				t.Errorf("account page lacks %s", link)
			}
		}
		// Acting in an installer's account: only what belongs to the
		// account worked in.
		id := e.newInstaller(t, "account-page-installer")
		a := e.actAs(t, e.hold("demo-subdistributor", demoPassword), id)
		body = string(e.do(a.browser.c, "GET", "/account", nil).body)
		if strings.Contains(body, `href="/account/password"`) || strings.Contains(body, `href="/account/two-factor"`) ||
			!strings.Contains(body, `href="/account/notifications"`) {
			t.Errorf("acting account page: %s", body)
		}
		if r := e.do(nil, "GET", "/account", nil); r.StatusCode != 303 && r.StatusCode != 302 {
			t.Errorf("signed out: %d, want a redirect to the login page", r.StatusCode)
		}
	})
}
