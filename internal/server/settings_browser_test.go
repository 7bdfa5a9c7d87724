package server_test

import (
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// TestBrowserCustomerServiceAndFeedback: the sub-distributor saves its
// contacts and switches Receive Feedback on, its installer sees the
// contacts and sends feedback, and the sub-distributor reads it.
func TestBrowserCustomerServiceAndFeedback(t *testing.T) {
	execPath := requireChromium(t)
	e := withoutSettings(t, newEnv(t, "sqlite"))
	c := newChrome(t, execPath, e.url, 1280, 900, chromeTimeout)

	c.login("demo-subdistributor")
	if st := c.clickAndLoad(`nav a[data-module="settings"]`); st != 200 {
		t.Fatalf("Setting page: status %d", st)
	}
	if p, h := c.path(), c.text("main h1"); p != "/settings" || h != "Setting" {
		t.Fatalf("the Setting nav entry led to %s, heading %q", p, h)
	}
	if s := c.text("#feedback-state"); !strings.Contains(s, "Receive Feedback is off") {
		t.Errorf("feedback state before saving: %q", s)
	}
	c.do("fill the contacts",
		chromedp.SendKeys(chromedp.ID("cs-email"), "help@harbor.example"),
		chromedp.SendKeys(chromedp.ID("cs-phone"), "+44 20 7946 0000"),
		chromedp.SendKeys(chromedp.ID("cs-other"), "Chat: harbor.example/chat"),
		chromedp.Click(chromedp.ID("cs-receive-feedback")),
		chromedp.SendKeys(chromedp.ID("cs-feedback-email"), "feedback@harbor.example"),
	)
	if st := c.clickAndLoad("#save-customer-service"); st != 200 {
		t.Fatalf("save: landed with status %d", st)
	}
	if p := c.path(); !strings.HasPrefix(p, "/settings?notice=") {
		t.Errorf("after saving the browser is at %s", p)
	}
	if n := c.text("p.notice"); !strings.Contains(n, "feedback@harbor.example") {
		t.Errorf("notice after saving: %q", n)
	}
	if v := chromeEval[string](c, `document.querySelector('#cs-email').value`); v != "help@harbor.example" {
		t.Errorf("email field after saving: %q", v)
	}
	if on := chromeEval[bool](c, `document.querySelector('#cs-receive-feedback').checked`); !on {
		t.Error("Receive Feedback is not checked after saving")
	}
	if rows := chromeEval[int](c, `document.querySelectorAll('#feedback-list tbody tr:not(:has(td.empty))').length`); rows != 0 {
		t.Errorf("feedback list has %d rows before any feedback", rows)
	}
	c.clickAndLoad("#logout")

	// The installer's Support page.
	c.login("demo-installer")
	if st := c.open("/installer/support"); st != 200 {
		t.Fatalf("Support page: status %d", st)
	}
	for sel, want := range map[string]string{"#contact-email": "help@harbor.example", "#contact-phone": "+44 20 7946 0000", "#contact-other": "Chat: harbor.example/chat"} {
		if got := c.text(sel); got != want {
			t.Errorf("%s shows %q, want %q", sel, got, want)
		}
	}
	if strings.Contains(c.text("main"), "feedback@harbor.example") {
		t.Error("the installer sees the feedback address")
	}
	if v := chromeEval[string](c, `document.querySelector('#fb-contact-email').value`); v != "team@installer1101.example" {
		t.Errorf("contact email prefilled with %q", v)
	}
	c.do("write feedback",
		chromedp.SendKeys(chromedp.ID("fb-subject"), "Gate R29 keeps rebooting"),
		chromedp.SendKeys(chromedp.ID("fb-message"), "Since the last firmware update."),
	)
	if st := c.clickAndLoad("#send-feedback"); st != 200 {
		t.Fatalf("send feedback: landed with status %d", st)
	}
	if n := c.text("p.notice"); !strings.Contains(n, "feedback was sent") {
		t.Errorf("notice after sending: %q", n)
	}
	m := e.smtpd.Wait(t, 1, 10*time.Second)[0]
	if m.To[0] != "feedback@harbor.example" || m.ReplyTo != "team@installer1101.example" || !strings.Contains(m.Subject, "Gate R29 keeps rebooting") {
		t.Errorf("mail: to %q reply-to %q subject %q", m.To, m.ReplyTo, m.Subject)
	}
	c.clickAndLoad("#logout")

	// The sub-distributor reads it.
	c.login("demo-subdistributor")
	if st := c.open("/settings"); st != 200 {
		t.Fatalf("Setting page: status %d", st)
	}
	rows := chromeEval[[][]string](c, `Array.from(document.querySelectorAll('#feedback-list tbody tr'))
		.filter(tr => !tr.querySelector('td.empty'))
		.map(tr => Array.from(tr.cells).map(td => td.innerText.trim()))`)
	if len(rows) != 1 {
		t.Fatalf("feedback rows: %q", rows)
	}
	r := rows[0]
	if !strings.HasPrefix(r[1], "demo-installer") || r[2] != "Gate R29 keeps rebooting" || r[3] != "Since the last firmware update." ||
		r[4] != "team@installer1101.example" || r[5] != "Yes" {
		t.Errorf("feedback row: %q", r)
	}
}
