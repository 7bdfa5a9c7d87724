package server_test

import (
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// TestBrowserWebhooks: in Chromium, an installer follows the top bar's
// Account link, then Webhooks, adds an endpoint (its secret shown once), sends a test
// event, sees it in the delivery log with its status, latency and the
// answer's excerpt, and redelivers it.
func TestBrowserWebhooks(t *testing.T) {
	execPath := requireChromium(t)
	rc := newReceiver(t)
	e, _ := newHookEnv(t, "sqlite", rc)
	c := newChrome(t, execPath, e.url, 1280, 1000, 2*time.Minute)
	c.login("demo-installer")
	if st := c.clickAndLoad("#account-link"); st != 200 || c.path() != "/account" {
		t.Fatalf("Account link: %d at %s", st, c.path())
	}
	if st := c.clickAndLoad("#webhooks-link"); st != 200 || c.path() != "/webhooks" {
		t.Fatalf("Webhooks link: %d at %s", st, c.path())
	}
	c.do("fill the form",
		chromedp.SendKeys(chromedp.CSS(`#add-webhook input[name=url]`), rc.srv.URL+"/crm"),
		chromedp.SendKeys(chromedp.CSS(`#add-webhook input[name=description]`), "Our CRM"),
		chromedp.Click(chromedp.CSS(`#add-webhook input[value="device.online"]`)),
		chromedp.Click(chromedp.CSS(`#add-webhook input[value="order.completed"]`)),
	)
	if st := c.clickAndLoad(`#add-webhook button[type=submit]`); st != 200 {
		t.Fatalf("add: %d", st)
	}
	if s := c.text("#secret-value"); !strings.HasPrefix(s, "whsec_") {
		t.Fatalf("secret shown: %q", s)
	}
	if st := c.clickAndLoad("#send-test"); st != 200 {
		t.Fatalf("test: %d", st)
	}
	step(t, e.srv.WebhookDispatcher())
	page := c.path()
	if i := strings.IndexAny(page, "?#"); i >= 0 {
		page = page[:i]
	}
	c.open(page)
	row := c.text("#delivery-log tbody tr")
	for _, want := range []string{"webhook.test", "succeeded", "200", " ms", "status 200 from /crm"} {
		if !strings.Contains(row, want) {
			t.Errorf("delivery row lacks %q: %q", want, row)
		}
	}
	if c.text("#secret-value") != "" {
		t.Errorf("the secret is shown again")
	}
	c.do("scroll to the top", chromedp.Evaluate[chromedp.Void](`window.scrollTo(0, 0)`))
	saveShot(t, c, "webhooks.png")
	if st := c.clickAndLoad("#delivery-log .redeliver"); st != 200 {
		t.Fatalf("redeliver: %d", st)
	}
	step(t, e.srv.WebhookDispatcher())
	c.open(page)
	if cells := chromeEval[[]string](c, `Array.from(document.querySelectorAll('#delivery-log tbody tr:first-child td')).map(td => td.innerText.trim())`); len(cells) < 5 || cells[4] != "2" {
		t.Errorf("after redelivering, the row says %v (attempts 2 wanted)", cells)
	}
	if n := len(rc.requests("/crm")); n != 2 {
		t.Errorf("the receiver got %d requests, want 2", n)
	}
}
