package server_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/gatehouse-dev/gatehouse/internal/billing"
	"github.com/gatehouse-dev/gatehouse/internal/demo"
	"github.com/gatehouse-dev/gatehouse/internal/i18n"
	"github.com/gatehouse-dev/gatehouse/internal/model"
	"github.com/gatehouse-dev/gatehouse/internal/testutil"
)

// TestBrowserInstallerPays: demo-installer (charge mode "installer")
// finds Subscription and Payments in its navigation, orders the activation
// of one of its office users, sees no coupons (they are its
// sub-distributor's), pays with PayPal — the real provider against the fake
// PayPal, whose approval page sends the browser back to the return URL —
// and sees the order Completed, the user's expiry moved in its user list,
// and the invoice offered in its Payments.
func TestBrowserInstallerPays(t *testing.T) {
	execPath := requireChromium(t)
	for _, b := range testutil.Backends(t) {
		t.Run(b, func(t *testing.T) {
			prov, pp := paypalProvider(t)
			e := providerEnv(t, b, map[string]billing.Provider{"paypal": prov})
			_, users := inactiveUsers(t, e, 1)
			user := users[0]

			c := newChrome(t, execPath, e.url, 1400, 900, chromeTimeout)
			c.login(demo.InstallerUser)
			if nav := c.nav(); !slices.Contains(nav, "Subscription") || !slices.Contains(nav, "Payments") {
				t.Fatalf("installer nav %q lacks Subscription / Payments", nav)
			}
			if st := c.clickAndLoad(`nav a[data-module="installer-subscriptions"]`); st != 200 || c.path() != "/subscriptions" {
				t.Fatalf("Subscription nav: %d at %s", st, c.path())
			}
			if n := chromeEval[int](c, `document.querySelectorAll('#sub-installer, #coupon-corner').length`); n != 0 {
				t.Errorf("the installer is offered an installer choice or coupons (%d elements)", n)
			}
			c.do("choose Office, Active",
				chromedp.SetValue(chromedp.ID("sub-project-type"), "office"),
				chromedp.Click(chromedp.ID("mode-active")),
			)
			if st := c.clickAndLoad("#sub-search"); st != 200 {
				t.Fatalf("Next (select): %d", st)
			}
			box := fmt.Sprintf("#user-%d", user)
			if n := chromeEval[int](c, fmt.Sprintf(`document.querySelectorAll(%q).length`, box)); n != 1 {
				t.Fatalf("user %d not offered: %s", user, c.text("#billable-users"))
			}
			c.do("select the user and 6 months",
				chromedp.Click(chromedp.CSS(box)),
				chromedp.SetValue(chromedp.ID("sub-months"), "6"),
			)
			if st := c.clickAndLoad("#sub-next"); st != 200 || !strings.HasPrefix(c.path(), "/payments/GH") {
				t.Fatalf("Next (order): %d at %s: %s", st, c.path(), c.text("main"))
			}
			number := strings.TrimPrefix(c.text("#order h2"), "Order ")
			if s := c.text("#order-status"); s != "Processing" {
				t.Errorf("new order %s is %q", number, s)
			}
			if n := chromeEval[int](c, `document.querySelectorAll('#pay-coupon, #pay-by-coupon').length`); n != 0 {
				t.Error("the installer is offered coupons")
			}
			if s := c.text("#pay-no-coupons"); !strings.Contains(s, "Coupons belong to your sub-distributor") {
				t.Errorf("no word on coupons: %q", s)
			}
			if dis := chromeEval[bool](c, `document.querySelector('#pay-stripe').disabled`); !dis {
				t.Error("Stripe is offered although not configured")
			}

			// PayPal: a page of ours moves on to the fake's approval page, which
			// approves and sends the browser back to the return URL.
			c.do("pay with PayPal", chromedp.Click(chromedp.ID("pay-paypal")))
			back := e.url + "/payments/" + number + "?notice=Payment+" // ConfirmReturn's notice
			deadline := time.Now().Add(20 * time.Second)
			for {
				loc, err := chromedp.Run(c.ctx, chromedp.Location())
				if err == nil && strings.HasPrefix(loc, back) {
					if n, err := chromedp.Run(c.ctx, chromedp.Evaluate[int](`document.querySelectorAll('#order-status').length`)); err == nil && n == 1 {
						break
					}
				}
				if time.Now().After(deadline) {
					t.Fatalf("after PayPal the browser is at %s (%v): %s", loc, err, c.text("main"))
				}
				time.Sleep(50 * time.Millisecond)
			}
			if s := c.text("#order-status"); s != "Completed" {
				t.Fatalf("order after PayPal: %q (%s)", s, c.text("main"))
			}
			if n := pp.Calls("GET /checkoutnow"); n != 1 {
				t.Errorf("PayPal's approval page seen %d times", n)
			}
			ictx := model.WithActor(sysCtx(), mustActor(t, e, demo.InstallerUser))
			o, err := e.st.GetOrder(ictx, number)
			if err != nil || o.Status != billing.StatusCompleted || len(o.Items) != 1 || o.Items[0].NewExpires == nil || o.Provider != "paypal" {
				t.Fatalf("order in the store: %+v %v", o, err)
			}
			// In the installer's language and time zone, as its pages show dates.
			var lang, zone string
			e.st.DB().QueryRow(`SELECT language, time_zone FROM accounts WHERE username = 'demo-installer'`).Scan(&lang, &zone)
			want := i18n.For(lang, zone).Date(o.Items[0].NewExpires)

			// The user list shows the new expiry.
			if st := c.open("/installer/users?kind=office&per_page=500"); st != 200 {
				t.Fatalf("user list: %d", st)
			}
			got := chromeEval[string](c, fmt.Sprintf(`(() => {
				const ths = Array.from(document.querySelectorAll('#users-list thead th')).map(th => th.textContent.trim());
				const col = ths.indexOf('Expiration Time(App)');
				const a = document.querySelector('#users-list a[href="/installer/users/%d"]');
				if (col < 0 || !a) return 'missing (column ' + col + ')';
				return a.closest('tr').children[col].innerText.trim();
			})()`, user))
			if got != want {
				t.Errorf("Expiration Time(App) of user %d: %q, want %q", user, got, want)
			}

			// Payments: the completed order offers its invoice, no Pay.
			if st := c.clickAndLoad(`nav a[data-module="installer-payments"]`); st != 200 || c.path() != "/payments" {
				t.Fatalf("Payments nav: %d at %s", st, c.path())
			}
			acts := chromeEval[string](c, fmt.Sprintf(`(() => { const r = document.querySelector('tr[data-order=%q]');
				return r ? Array.from(r.querySelectorAll('td:last-child a, td:last-child button')).map(x => x.textContent.trim()).join(',') : 'missing'; })()`, number))
			if acts != "Details,Delete,Invoice" {
				t.Errorf("actions of the paid order: %q", acts)
			}
		})
	}
}
