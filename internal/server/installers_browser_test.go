package server_test

import (
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// TestBrowserInstallerLifecycle: the sub-distributor adds an installer, the
// installer sets its password from the mailed link and grants access
// without password, the sub-distributor enters its portal through the lock
// icon and comes back, then deletes it after the confirmation.
func TestBrowserInstallerLifecycle(t *testing.T) {
	exec := requireChromium(t)
	e := newEnv(t, "sqlite")
	sub := newChrome(t, exec, e.url, 1280, 900, 90*time.Second)
	sub.login("demo-subdistributor")

	if st := sub.open("/users/installers/new"); st != 200 {
		t.Fatalf("new installer page: %d", st)
	}
	sub.do("fill the installer form",
		chromedp.SendKeys(chromedp.ID("f-account"), "b-fitter"),
		chromedp.SendKeys(chromedp.ID("f-company"), "Browser Fitters"),
		chromedp.SendKeys(chromedp.ID("f-email"), "b-fitter@example.com"),
		chromedp.SendKeys(chromedp.ID("f-phone"), "+33 1 23 45 67"),
		chromedp.SetValue(chromedp.ID("f-time-zone"), "Europe/Paris"),
		chromedp.SetValue(chromedp.ID("f-language"), "fr"),
		chromedp.SetValue(chromedp.ID("f-business"), "smart_home"),
		chromedp.SetValue(chromedp.ID("f-connect-type"), "tcp"),
		chromedp.Click(chromedp.ID("f-rtp")),
	)
	if st := sub.clickAndLoad("#create-installer"); st != 200 {
		t.Fatalf("create: %d (%s)", st, sub.text(".error"))
	}
	if n := sub.text(".notice"); !strings.Contains(n, "b-fitter@example.com") {
		t.Fatalf("notice after create: %q", n)
	}
	if v := chromeEval[string](sub, `document.querySelector('#f-connect-type').value`); v != "tcp" {
		t.Errorf("saved connect type %q", v)
	}

	// The installer opens the mailed link in its own browser.
	msgs := e.smtpd.Wait(t, 1, 10*time.Second)
	var link string
	for _, m := range msgs {
		if strings.Contains(strings.Join(m.To, ","), "b-fitter@example.com") {
			link = linkRE.FindString(m.Text)
		}
	}
	if link == "" {
		t.Fatalf("no link mailed to b-fitter")
	}
	inst := newChrome(t, exec, e.url, 1280, 900, 90*time.Second)
	if st := inst.open(link); st != 200 {
		t.Fatalf("link: %d", st)
	}
	inst.do("set the password",
		chromedp.SendKeys(chromedp.ID("new-password"), "fitter-secret-1"),
		chromedp.SendKeys(chromedp.ID("confirm-password"), "fitter-secret-1"),
	)
	if st := inst.clickAndLoad("#set-password button"); st != 200 || !strings.HasPrefix(inst.path(), "/login") {
		t.Fatalf("after setting the password: %d at %s", st, inst.path())
	}
	if n := inst.text(".notice"); !strings.Contains(n, "b-fitter") {
		t.Errorf("login notice: %q", n)
	}
	inst.do("log in", chromedp.SendKeys(chromedp.ID("username"), "b-fitter"), chromedp.SendKeys(chromedp.ID("password"), "fitter-secret-1"))
	if st := inst.clickAndLoad("#login"); st != 200 || inst.path() != "/" {
		t.Fatalf("installer login: %d at %s", st, inst.path())
	}
	// It grants access without password in its Settings, reading its portal
	// in French, the language its account was created with.
	inst.open("/installer/settings")
	inst.do("grant access", chromedp.Click(chromedp.ID("access-enabled")))
	inst.clickAndLoad("#save-access")
	if n := inst.text(".notice"); !strings.Contains(n, "est activé") {
		t.Fatalf("grant notice: %q", n)
	}

	// The lock icon appears in the sub-distributor's list and opens the installer's portal.
	sub.open("/users/installers?account=b-fitter")
	if n := chromeEval[int](sub, `document.querySelectorAll('[data-access="b-fitter"]').length`); n != 1 {
		t.Fatalf("lock icons for b-fitter: %d", n)
	}
	if st := sub.clickAndLoad(`[data-access="b-fitter"]`); st != 200 {
		t.Fatalf("enter: %d", st)
	}
	banner := sub.text("#acting-banner")
	if !strings.Contains(banner, "demo-subdistributor") || !strings.Contains(banner, "b-fitter") {
		t.Errorf("banner: %q", banner)
	}
	if nav := strings.Join(sub.nav(), ","); !strings.Contains(nav, "Projects") || strings.Contains(nav, "Subscriptions") {
		t.Errorf("nav while acting: %s", nav)
	}
	if st := sub.clickAndLoad("#end-access"); st != 200 || !strings.HasPrefix(sub.path(), "/users/installers") {
		t.Fatalf("way back: %d at %s", st, sub.path())
	}
	if sub.text("#acting-banner") != "" {
		t.Error("banner after the way back")
	}

	// Delete after the confirmation page.
	sub.open("/users/installers?account=b-fitter")
	sub.clickAndLoad(`tr[data-installer="b-fitter"] a[href$="/delete"]`)
	sub.do("confirm", chromedp.WaitVisible(chromedp.ID("delete-installer")))
	if st := sub.clickAndLoad("#delete-installer"); st != 200 {
		t.Fatalf("delete: %d", st)
	}
	sub.open("/users/installers?account=b-fitter")
	if n := chromeEval[int](sub, `document.querySelectorAll('tr[data-installer="b-fitter"]').length`); n != 0 {
		t.Error("deleted installer still listed")
	}
}
