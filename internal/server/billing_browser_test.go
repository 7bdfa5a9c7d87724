package server_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/gatehouse-dev/gatehouse/internal/billing"
	"github.com/gatehouse-dev/gatehouse/internal/demo"
	"github.com/gatehouse-dev/gatehouse/internal/model"
	"github.com/gatehouse-dev/gatehouse/internal/testutil"
)

// TestBrowserBilling: demo-subdistributor pays an activation by coupon
// through the Subscriptions pages and sees the user's expiry move in the
// user list; cancels and deletes an order from the Payments list; and
// downloads a completed order's invoice as a PDF.
func TestBrowserBilling(t *testing.T) {
	execPath := requireChromium(t)
	for _, b := range testutil.Backends(t) {
		t.Run(b, func(t *testing.T) {
			e := newEnv(t, b)
			browserBilling(t, e, execPath)
		})
	}
}

func browserBilling(t *testing.T, e *env, execPath string) {
	ctx := sysCtx()
	inst, _, err := e.st.AccountForLogin(ctx, demo.InstallerUser)
	if err != nil {
		t.Fatal(err)
	}
	sub, _, err := e.st.AccountForLogin(ctx, demo.SubdistributorUser)
	if err != nil {
		t.Fatal(err)
	}
	sctx := model.WithActor(context.Background(), model.ActorOf(sub))

	// A not yet active community user of demo-installer (the small demo
	// data set may have none: then one of its users is made so).
	users, err := e.st.ListBillableUsers(ctx, billing.BillableFilter{InstallerID: inst.ID, ProjectType: "community", Mode: "active"})
	if err != nil {
		t.Fatal(err)
	}
	if len(users) == 0 {
		act, err := e.st.ListBillableUsers(ctx, billing.BillableFilter{InstallerID: inst.ID, ProjectType: "community", Mode: "renew"})
		if err != nil || len(act) == 0 {
			t.Fatalf("demo-installer has no community users: %v", err)
		}
		if _, err := e.st.DB().Exec(`UPDATE end_users SET active = false, app_expires_at = NULL WHERE id = ` + fmt.Sprint(act[0].ID)); err != nil {
			t.Fatal(err)
		}
		users = act[:1]
	}
	user := users[0]

	// The demo's coupon with a balance, and its Processing order.
	coupons, err := e.st.ListCoupons(sctx, billing.CouponFilter{State: billing.CouponNormal, Page: model.Page{Page: 1, PerPage: 50}})
	if err != nil {
		t.Fatal(err)
	}
	var coupon *billing.Coupon
	for _, c := range coupons.Items {
		if c.Code == demo.CouponNormal {
			coupon = c
		}
	}
	if coupon == nil || coupon.Balance < 10_000 {
		t.Fatalf("demo coupon %s with a balance missing: %+v", demo.CouponNormal, coupons.Items)
	}
	processing, err := e.st.ListOrders(sctx, billing.OrderFilter{Status: billing.StatusProcessing, Page: model.Page{Page: 1, PerPage: 50}})
	if err != nil || processing.Total == 0 {
		t.Fatalf("no demo Processing order: %v %+v", err, processing)
	}
	toCancel := processing.Items[0].Number

	c := newChrome(t, execPath, e.url, 1400, 900, chromeTimeout)
	c.login(demo.SubdistributorUser)

	// The user list before: inactive, no expiry.
	before := appExpiry(c, user)
	if before != "-" {
		t.Fatalf("user %d (%s) is not active yet but expires %q", user.ID, user.Name, before)
	}

	// Subscriptions: demo-installer, Community, Active, the user, Next.
	if st := c.open("/subscriptions"); st != 200 {
		t.Fatalf("GET /subscriptions: %d", st)
	}
	c.do("choose installer and project type",
		chromedp.SetValue(chromedp.ID("sub-installer"), fmt.Sprint(inst.ID)),
		chromedp.SetValue(chromedp.ID("sub-project-type"), "community"),
		chromedp.Click(chromedp.ID("mode-active")),
	)
	if st := c.clickAndLoad("#sub-search"); st != 200 {
		t.Fatalf("Next (select): status %d", st)
	}
	box := fmt.Sprintf("#user-%d", user.ID)
	if n := chromeEval[int](c, fmt.Sprintf(`document.querySelectorAll(%q).length`, box)); n != 1 {
		t.Fatalf("user %d not offered for activation: %s", user.ID, c.text("#billable-users"))
	}
	c.do("select the user", chromedp.Click(chromedp.CSS(box)))
	if st := c.clickAndLoad("#sub-next"); st != 200 {
		t.Fatalf("Next (order): status %d: %s", st, c.text("main"))
	}
	if p := c.path(); !strings.HasPrefix(p, "/payments/GH") {
		t.Fatalf("after Next the browser is at %s", p)
	}
	number := strings.TrimPrefix(c.text("#order h2"), "Order ")
	if s := c.text("#order-status"); s != "Processing" {
		t.Errorf("new order %s is %q", number, s)
	}

	// All Fee: pay it with the coupon.
	c.do("choose the coupon", chromedp.Click(chromedp.ID("coupon-"+demo.CouponNormal)))
	if st := c.clickAndLoad("#pay-by-coupon"); st != 200 {
		t.Fatalf("pay by coupon: status %d: %s", st, c.text("main"))
	}
	if s := c.text("#order-status"); s != "Completed" {
		t.Fatalf("order %s after paying by coupon is %q: %s", number, s, c.text("main"))
	}
	o, err := e.st.GetOrder(sctx, number)
	if err != nil {
		t.Fatal(err)
	}
	if o.Type != billing.TypeActivation || len(o.Items) != 1 || o.Items[0].EndUserID != user.ID || o.Items[0].NewExpires == nil {
		t.Fatalf("paid order: %+v", o)
	}
	want := o.Items[0].NewExpires.UTC().Format("2006-01-02")
	if after := appExpiry(c, user); after != want {
		t.Errorf("Expiration Time(App) of %s after paying: %q, want %q", user.Name, after, want)
	}
	cl, err := e.st.ListCoupons(sctx, billing.CouponFilter{Page: model.Page{Page: 1, PerPage: 50}})
	if err != nil {
		t.Fatal(err)
	}
	for _, cp := range cl.Items {
		if cp.Code == coupon.Code && cp.Balance != coupon.Balance-o.Total {
			t.Errorf("coupon balance %d after paying %d from %d", cp.Balance, o.Total, coupon.Balance)
		}
	}

	// Payments: the row actions follow the status.
	if st := c.open("/payments"); st != 200 {
		t.Fatalf("GET /payments: %d", st)
	}
	actions := func(number string) string {
		return chromeEval[string](c, fmt.Sprintf(`(() => { const r = document.querySelector('tr[data-order=%q]');
			return r ? Array.from(r.querySelectorAll('td:last-child a, td:last-child button')).map(x => x.textContent.trim()).join(',') : 'missing'; })()`, number))
	}
	if a := actions(toCancel); a != "Details,Pay,Cancel" {
		t.Errorf("actions of Processing order %s: %q", toCancel, a)
	}
	if a := actions(number); a != "Details,Delete,Invoice" {
		t.Errorf("actions of Completed order %s: %q", number, a)
	}

	// The server refuses what makes no sense for the status, naming it:
	// cancelling a Completed order, deleting a Processing one.
	tok := e.token(demo.SubdistributorUser)
	if r := e.do(nil, "POST", "/api/v1/orders/"+number+"/cancel", nil, bearer(tok)); r.StatusCode != 409 || !strings.Contains(string(r.body), "Completed") {
		t.Errorf("cancel Completed order %s: %d %s, want 409 naming Completed", number, r.StatusCode, r.body)
	}
	if r := e.do(nil, "DELETE", "/api/v1/orders/"+toCancel, nil, bearer(tok)); r.StatusCode != 409 || !strings.Contains(string(r.body), "Processing") {
		t.Errorf("delete Processing order %s: %d %s, want 409 naming Processing", toCancel, r.StatusCode, r.body)
	}

	// Cancel asks first; dismissing the question leaves the order alone.
	c.answerDialogs(false)
	c.do("click Cancel, then dismiss", chromedp.Click(chromedp.CSS(fmt.Sprintf(`tr[data-order=%q] .order-cancel`, toCancel))), chromedp.Sleep(700*time.Millisecond))
	if d := c.dialogs(); len(d) != 1 || !strings.Contains(d[0], "Cancel order "+toCancel) {
		t.Errorf("Cancel asked %q, want one question naming order %s", d, toCancel)
	}
	if got, err := e.st.GetOrder(sctx, toCancel); err != nil || got.Status != billing.StatusProcessing {
		t.Errorf("order %s after dismissing Cancel: %v %v, want still Processing", toCancel, got, err)
	}
	if p := c.path(); p != "/payments" {
		t.Errorf("after dismissing Cancel the browser is at %s, want still /payments", p)
	}
	c.answerDialogs(true)

	// Cancel the Processing order from its row.
	if st := c.clickAndLoad(fmt.Sprintf(`tr[data-order=%q] .order-cancel`, toCancel)); st != 200 {
		t.Fatalf("cancel: status %d: %s", st, c.text("main"))
	}
	if p := c.path(); !strings.HasPrefix(p, "/payments?") {
		t.Errorf("after cancelling the browser is at %s, want the list", p)
	}
	if s := c.text(fmt.Sprintf(`tr[data-order=%q] td[class^="status-"]`, toCancel)); s != "Cancel" {
		t.Errorf("status of %s after Cancel: %q", toCancel, s)
	}
	if got, err := e.st.GetOrder(sctx, toCancel); err != nil || got.Status != billing.StatusCancel {
		t.Errorf("order %s in the store: %v %v", toCancel, got, err)
	}
	if a := actions(toCancel); a != "Details,Delete" {
		t.Errorf("actions of cancelled order %s: %q", toCancel, a)
	}
	// And delete it from the list.
	if st := c.clickAndLoad(fmt.Sprintf(`tr[data-order=%q] .order-delete`, toCancel)); st != 200 {
		t.Fatalf("delete: status %d: %s", st, c.text("main"))
	}
	if d := c.dialogs(); len(d) != 3 || !strings.Contains(d[2], "Delete order "+toCancel) {
		t.Errorf("questions asked: %q, want Cancel twice then Delete of %s", d, toCancel)
	}
	if a := actions(toCancel); a != "missing" {
		t.Errorf("deleted order %s still listed with %q", toCancel, a)
	}

	// The invoice of the completed order is a PDF.
	href := chromeEval[string](c, fmt.Sprintf(`(document.querySelector('tr[data-order=%q] a.order-invoice') || {}).href || ''`, number))
	if !strings.HasSuffix(href, "/payments/"+number+"/invoice.pdf") {
		t.Fatalf("invoice link of %s: %q", number, href)
	}
	type fetched struct {
		Status int    `json:"status"`
		Type   string `json:"type"`
		Head   string `json:"head"`
		Size   int    `json:"size"`
	}
	got, err := chromedp.Run(c.ctx, chromedp.Evaluate[fetched](fmt.Sprintf(`fetch(%q, {credentials: 'same-origin'}).then(async r => {
		const b = new Uint8Array(await r.arrayBuffer());
		return {status: r.status, type: r.headers.get('content-type') || '', head: String.fromCharCode(...b.slice(0, 5)), size: b.length};
	})`, href), chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatalf("fetch invoice: %v", err)
	}
	if got.Status != 200 || got.Type != "application/pdf" || got.Head != "%PDF-" || got.Size < 500 {
		t.Errorf("invoice: %+v", got)
	}
}

// appExpiry is the Expiration Time(App) the community user list shows for
// the user, searched by name.
func appExpiry(c *chromeTab, u billing.BillableUser) string {
	c.t.Helper()
	path := "/users/community?search_type=name&q=" + strings.ReplaceAll(u.Name, " ", "+")
	if st := c.open(path); st != 200 {
		c.t.Fatalf("GET %s: %d", path, st)
	}
	return chromeEval[string](c, fmt.Sprintf(`(() => {
		const ths = Array.from(document.querySelectorAll('#endusers-list thead th')).map(th => th.textContent.trim());
		const col = ths.indexOf('Expiration Time(App)');
		const row = document.querySelector('#endusers-list tr[data-id="%d"]');
		if (col < 0 || !row) return 'missing (column ' + col + ')';
		return row.children[col].innerText.trim();
	})()`, u.ID))
}
