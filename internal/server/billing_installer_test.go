package server_test

import (
	"context"
	"fmt"
	"html/template"
	"net/url"
	"strings"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/billing"
	"github.com/gatehouse-dev/gatehouse/internal/demo"
	"github.com/gatehouse-dev/gatehouse/internal/i18n"
	"github.com/gatehouse-dev/gatehouse/internal/model"
	"github.com/gatehouse-dev/gatehouse/internal/testutil"
)

// Why an installer may not pay, as billing.MayPay says it.
const (
	reasonChargeMode = "Your charge mode is not \"installer\": your users' services are not paid by you."
	reasonPbD        = "Pay by Distributor: your distributor pays for your users."
)

// inLanguageOf is a message as a page shows it to account a: in a's
// language (the demo's installers speak all of them), escaped.
func inLanguageOf(a *model.Account, key string) string {
	return template.HTMLEscapeString(i18n.For(a.Language, "UTC").T(key))
}

// billableOf finds an installer of the sub-distributor (with charge mode
// chargeMode, any when "") that has a user to renew, and returns it, the
// user's project type and the user.
func billableOf(t *testing.T, e *env, subName, chargeMode string) (*model.Account, string, int64) {
	t.Helper()
	sctx := model.WithActor(context.Background(), mustActor(t, e, subName))
	l, err := e.st.ListAccounts(sctx, model.AccountFilter{Role: model.RoleInstaller, Page: model.Page{Page: 1, PerPage: 100}})
	if err != nil {
		t.Fatal(err)
	}
	for _, inst := range l.Items {
		if inst.Username == demo.InstallerUser || (chargeMode != "" && inst.ChargeMode != chargeMode) {
			continue
		}
		for _, pt := range []string{"office", "community", "villa"} {
			us, err := e.st.ListBillableUsers(sysCtx(), billing.BillableFilter{InstallerID: inst.ID, ProjectType: pt, Mode: "renew"})
			if err != nil {
				t.Fatal(err)
			}
			for _, u := range us {
				if u.Item != "" {
					return inst, pt, u.ID
				}
			}
		}
	}
	t.Fatalf("no installer of %s (charge mode %q) with a user to renew", subName, chargeMode)
	return nil, "", 0
}

// renewalOrder has the token's owner order a 1-month renewal of the user.
func renewalOrder(t *testing.T, e *env, tok string, instID int64, pt string, userID int64) string {
	t.Helper()
	r := e.do(nil, "POST", "/api/v1/orders", map[string]any{"type": "renewal", "installer_id": instID, "project_type": pt,
		"items": []map[string]any{{"user_id": userID, "months": 1}}}, bearer(tok))
	if r.StatusCode != 201 {
		t.Fatalf("renewal order: %d %s", r.StatusCode, r.body)
	}
	return r.json(t)["number"].(string)
}

// orderRow is the Payments list's row of an order ("" when not listed).
func orderRow(page, number string) string {
	i := strings.Index(page, `data-order="`+number+`"`)
	if i < 0 {
		return ""
	}
	row := page[i:]
	if j := strings.Index(row, "</tr>"); j >= 0 {
		row = row[:j]
	}
	return row
}

func page(t *testing.T, e *env, b *browser, path string, status int) string {
	t.Helper()
	r := e.do(b.c, "GET", path, nil)
	if r.StatusCode != status {
		t.Fatalf("GET %s: %d, want %d: %s", path, r.StatusCode, status, grep(string(r.body), "<main"))
	}
	return string(r.body)
}

func has(t *testing.T, what, html string, want bool, parts ...string) {
	t.Helper()
	for _, p := range parts {
		if strings.Contains(html, p) != want {
			if want {
				t.Errorf("%s lacks %s", what, p)
			} else {
				t.Errorf("%s shows %s", what, p)
			}
		}
	}
}

// TestInstallerPays: the installer's Subscriptions and Payments, and who
// sees Pay, for every combination of Pay by Distributor and charge mode.
func TestInstallerPays(t *testing.T) {
	for _, b := range testutil.Backends(t) {
		t.Run(b, func(t *testing.T) {
			t.Parallel()
			e := billingEnv(t, b) // Stripe (a fake) configured, PayPal not
			subTok := e.token(demo.SubdistributorUser)
			subB := e.browserLogin(demo.SubdistributorUser)

			// 1. demo-installer, charge mode "installer", Pay by Distributor off: it pays its own users.
			instTok := e.token(demo.InstallerUser)
			inst := e.browserLogin(demo.InstallerUser)
			instID, users := inactiveUsers(t, e, 2)
			other, opt, ouser := billableOf(t, e, demo.SubdistributorUser, model.ChargeEndUser)

			home := page(t, e, inst, "/", 200)
			has(t, "installer home", home, true, `data-module="installer-subscriptions"`, `data-module="installer-payments"`)
			sp := page(t, e, inst, "/subscriptions?project_type=office&mode=active", 200)
			has(t, "installer Subscriptions", sp, true, `id="sub-own"`, fmt.Sprintf(`id="user-%d"`, users[0]), `id="pay-methods"`, `id="method-stripe"`,
				`class="active" data-module="installer-subscriptions"`, `id="subscription-order"`)
			has(t, "installer Subscriptions", sp, false, `id="sub-installer"`, `id="coupon-corner"`, `id="pay-gate"`, `id="pay-none"`, `id="method-paypal"`)

			// Next: the order is for its own users whatever installer the form names.
			r := e.form(inst.c, "/subscriptions/order", url.Values{"csrf_token": {inst.csrf}, "installer": {fmt.Sprint(other.ID)}, "project_type": {"office"},
				"mode": {"active"}, "kind": {"activation"}, "service_kind": {"app"}, "months": {"12"}, "user": {fmt.Sprint(users[0]), fmt.Sprint(users[1])}})
			loc := r.Header.Get("Location")
			if r.StatusCode != 303 || !strings.HasPrefix(loc, "/payments/GH") {
				t.Fatalf("Next: %d %s %s", r.StatusCode, loc, r.body)
			}
			number := strings.TrimPrefix(loc[:strings.Index(loc, "?")], "/payments/")
			o := e.do(nil, "GET", "/api/v1/orders/"+number, nil, bearer(instTok)).json(t)
			if int64(o["installer_id"].(float64)) != instID || o["can_pay"] != true || o["counts"] != float64(2) {
				t.Errorf("installer's order: %v", o)
			}
			// A user of another installer is refused.
			r = e.form(inst.c, "/subscriptions/order", url.Values{"csrf_token": {inst.csrf}, "project_type": {opt}, "mode": {"renew"}, "kind": {"renewal"},
				"months": {"1"}, "user": {fmt.Sprint(ouser)}})
			if r.StatusCode != 303 || !strings.Contains(r.Header.Get("Location"), "no+such+user") {
				t.Errorf("another installer's user: %d %s", r.StatusCode, r.Header.Get("Location"))
			}

			pl := page(t, e, inst, "/payments", 200)
			has(t, "installer Payments", pl, false, `id="pay-installer"`, `id="pay-gate"`)
			has(t, "installer Payments row", orderRow(pl, number), true, "order-pay", "order-cancel")
			l := e.do(nil, "GET", "/api/v1/orders?per_page=500", nil, bearer(instTok)).json(t)
			for _, it := range l["items"].([]any) {
				if int64(it.(map[string]any)["installer_id"].(float64)) != instID {
					t.Errorf("the installer lists another installer's order: %v", it)
				}
			}
			pd := page(t, e, inst, "/payments/"+number, 200)
			has(t, "installer's order", pd, true, `id="pay"`, `id="pay-stripe"`, `id="pay-no-coupons"`, "Coupons belong to your sub-distributor", `>PayPal (not configured)<`)
			has(t, "installer's order", pd, false, `id="pay-coupon"`, `id="pay-by-coupon"`, `id="pay-none"`)

			// Coupons are the sub-distributor's: refused, no balance moves.
			before := couponBalance(t, e, demo.CouponNormal)
			r = e.form(inst.c, "/payments/"+number+"/pay", url.Values{"csrf_token": {inst.csrf}, "method": {"coupon"}, "coupon": {demo.CouponNormal}})
			if r.StatusCode != 403 || !strings.Contains(string(r.body), "Coupons belong to your sub-distributor") {
				t.Errorf("installer pays by coupon in the portal: %d", r.StatusCode)
			}
			r = e.do(nil, "POST", "/api/v1/orders/"+number+"/pay", map[string]any{"method": "coupon", "coupons": []string{demo.CouponNormal}}, bearer(instTok))
			if r.StatusCode != 403 {
				t.Errorf("installer pays by coupon in the API: %d %s", r.StatusCode, r.body)
			}
			if after := couponBalance(t, e, demo.CouponNormal); after != before {
				t.Errorf("coupon balance %d → %d", before, after)
			}

			// Stripe: to the checkout, then the webhook completes it; the invoice names the installer.
			if r := e.do(nil, "PUT", "/api/v1/billing-info", map[string]any{"company": "Fitter Own Ltd", "attn": "Ivo Installer"}, bearer(instTok)); r.StatusCode != 200 {
				t.Fatalf("billing info: %d %s", r.StatusCode, r.body)
			}
			// The portal answers a page that moves on to the provider (a 303
			// after a form would break the CSP's form-action 'self').
			r = e.form(inst.c, "/payments/"+number+"/pay", url.Values{"csrf_token": {inst.csrf}, "method": {"stripe"}})
			checkout := "https://pay.example/checkout/" + number
			if r.StatusCode != 200 {
				t.Fatalf("installer pays by Stripe: %d %s", r.StatusCode, r.Header.Get("Location"))
			}
			has(t, "checkout page", string(r.body), true, `<meta http-equiv="refresh" content="0;url=`+checkout+`">`, `id="checkout-continue" href="`+checkout+`"`)
			total := int64(o["total"].(float64))
			if r := webhook(e, "stripe", billing.Event{ID: "evt_inst_" + number, Kind: billing.EventPaid, OrderNumber: number, Amount: total, Currency: "USD"}, "ok"); r.json(t)["applied"] != true {
				t.Fatalf("webhook: %s", r.body)
			}
			for i, x := range expiries(t, e, users) {
				if x.IsZero() {
					t.Errorf("user %d not active after the installer paid", users[i])
				}
			}
			pd = page(t, e, inst, "/payments/"+number, 200)
			has(t, "paid order", pd, true, `id="order-invoice"`)
			has(t, "paid order", pd, false, `id="pay"`, `id="pay-gate"`)
			r = e.do(nil, "GET", "/api/v1/orders/"+number+"/invoice.pdf", nil, bearer(instTok))
			if r.StatusCode != 200 {
				t.Fatalf("invoice: %d", r.StatusCode)
			}
			checkPDF(t, r.body, number, "Fitter Own Ltd", "Ivo Installer")
			if l := e.do(nil, "GET", "/api/v1/orders?number="+number, nil, bearer(subTok)).json(t); l["total"] != float64(1) {
				t.Errorf("the sub-distributor does not see its installer's order: %v", l)
			}

			// 2. Charge mode "enduser": the installer sees its orders, no Pay, and why.
			on := renewalOrder(t, e, subTok, other.ID, opt, ouser)
			eu := e.browserLogin(other.Username)
			sp = page(t, e, eu, "/subscriptions", 200)
			has(t, "enduser installer's Subscriptions", sp, true, `id="pay-gate"`, inLanguageOf(other, reasonChargeMode), `id="sub-elsewhere"`)
			has(t, "enduser installer's Subscriptions", sp, false, `id="subscription-order"`, `id="subscription-select"`)
			if r := e.form(eu.c, "/subscriptions/order", url.Values{"csrf_token": {eu.csrf}, "project_type": {opt}, "mode": {"renew"}, "kind": {"renewal"},
				"months": {"1"}, "user": {fmt.Sprint(ouser)}}); r.StatusCode != 403 {
				t.Errorf("enduser installer orders: %d", r.StatusCode)
			}
			pl = page(t, e, eu, "/payments", 200)
			has(t, "enduser installer's Payments", pl, true, `id="pay-gate"`, inLanguageOf(other, reasonChargeMode))
			row := orderRow(pl, on)
			has(t, "enduser installer's row", row, true, "order-details", "order-cancel")
			has(t, "enduser installer's row", row, false, "order-pay", "order-distributor-pays")
			pd = page(t, e, eu, "/payments/"+on, 200)
			has(t, "enduser installer's order", pd, true, `id="pay-gate"`)
			has(t, "enduser installer's order", pd, false, `id="pay"`)
			if r := e.do(nil, "POST", "/api/v1/orders/"+on+"/pay", map[string]any{"method": "stripe"}, bearer(e.token(other.Username))); r.StatusCode != 403 {
				t.Errorf("enduser installer pays: %d %s", r.StatusCode, r.body)
			}
			has(t, "sub-distributor's row of it", orderRow(page(t, e, subB, "/payments", 200), on), true, "order-pay")
			page(t, e, inst, "/payments/"+on, 404) // another installer's order

			// 3. Pay by Distributor (subdistributor-1-2): only the distributor pays.
			pbdSub := e.token("subdistributor-1-2")
			pi, ppt, puser := billableOf(t, e, "subdistributor-1-2", "")
			pn := renewalOrder(t, e, pbdSub, pi.ID, ppt, puser)
			pib := e.browserLogin(pi.Username)
			pl = page(t, e, pib, "/payments", 200)
			has(t, "PbD installer's Payments", pl, true, `id="pay-gate"`, inLanguageOf(pi, reasonPbD))
			has(t, "PbD installer's row", orderRow(pl, pn), false, "order-pay")
			has(t, "PbD installer's row", orderRow(pl, pn), true, "order-distributor-pays")
			has(t, "PbD installer's order", page(t, e, pib, "/payments/"+pn, 200), true, `id="pay-gate"`, inLanguageOf(pi, reasonPbD))
			sp = page(t, e, pib, "/subscriptions", 200)
			has(t, "PbD installer's Subscriptions", sp, true, inLanguageOf(pi, reasonPbD))
			has(t, "PbD installer's Subscriptions", sp, false, `id="subscription-order"`)
			sb := e.browserLogin("subdistributor-1-2")
			pl = page(t, e, sb, "/payments", 200)
			has(t, "PbD sub-distributor's Payments", pl, true, `id="pay-gate"`)
			has(t, "PbD sub-distributor's row", orderRow(pl, pn), true, "order-distributor-pays")
			has(t, "PbD sub-distributor's row", orderRow(pl, pn), false, "order-pay")
			db := e.browserLogin(demo.DistributorUser)
			pl = page(t, e, db, "/payments", 200)
			has(t, "distributor's Payments", pl, true, `class="active" data-module="orders"`)
			has(t, "distributor's row of the PbD order", orderRow(pl, pn), true, "order-pay")
			has(t, "distributor's row of the installer-paid order", orderRow(pl, on), false, "order-pay")
			pd = page(t, e, db, "/payments/"+pn, 200)
			has(t, "distributor's PbD order", pd, true, `id="pay"`, `id="pay-stripe"`)
			has(t, "distributor's PbD order", pd, false, `id="pay-coupon"`)
			for who, tok := range map[string]string{pi.Username: e.token(pi.Username), "subdistributor-1-2": pbdSub} {
				if r := e.do(nil, "POST", "/api/v1/orders/"+pn+"/pay", map[string]any{"method": "stripe"}, bearer(tok)); r.StatusCode != 403 || !strings.Contains(string(r.body), "Pay by Distributor") {
					t.Errorf("%s pays under Pay by Distributor: %d %s", who, r.StatusCode, r.body)
				}
			}
			distTok := e.token(demo.DistributorUser)
			if r := e.do(nil, "POST", "/api/v1/orders/"+on+"/pay", map[string]any{"method": "stripe"}, bearer(distTok)); r.StatusCode != 403 {
				t.Errorf("the distributor pays where it does not: %d %s", r.StatusCode, r.body)
			}
			if r := e.do(nil, "POST", "/api/v1/orders/"+pn+"/pay", map[string]any{"method": "stripe"}, bearer(distTok)); r.StatusCode != 200 {
				t.Errorf("the distributor pays: %d %s", r.StatusCode, r.body)
			}

			// 4. Payment feature off: the installer's pages say so.
			off := e.browserLogin("installer-1-3-01")
			for _, p := range []string{"/subscriptions", "/payments"} {
				has(t, "installer without the payment feature "+p, page(t, e, off, p, 403), true, "payment feature")
			}
			// …and its navigation does not offer them.
			has(t, "navigation without the payment feature", page(t, e, off, "/", 200), false,
				`data-module="installer-subscriptions"`, `data-module="installer-payments"`)
		})
	}
}

// TestInstallerWithoutProviders: with neither Stripe nor PayPal configured
// the installer is told it cannot pay online and who can; its
// sub-distributor then pays the order by coupon.
func TestInstallerWithoutProviders(t *testing.T) {
	for _, b := range testutil.Backends(t) {
		t.Run(b, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, b)
			instTok := e.token(demo.InstallerUser)
			inst := e.browserLogin(demo.InstallerUser)
			instID, users := inactiveUsers(t, e, 1)
			has(t, "Subscriptions", page(t, e, inst, "/subscriptions", 200), true, `id="pay-none"`, "sub-distributor can pay")
			r := e.do(nil, "POST", "/api/v1/orders", map[string]any{"type": "activation", "installer_id": instID, "project_type": "office",
				"items": []map[string]any{{"user_id": users[0], "months": 3}}}, bearer(instTok))
			if r.StatusCode != 201 {
				t.Fatalf("create: %d %s", r.StatusCode, r.body)
			}
			number := r.json(t)["number"].(string)
			pd := page(t, e, inst, "/payments/"+number, 200)
			has(t, "order without providers", pd, true, `id="pay-none"`, "sub-distributor can pay", `>Stripe (not configured)<`, `>PayPal (not configured)<`)
			has(t, "order without providers", pd, false, `id="pay-coupon"`, `<form method="post" action="/payments/`+number+`/pay" class="inline">`)
			if r := e.do(nil, "POST", "/api/v1/orders/"+number+"/pay", map[string]any{"method": "stripe"}, bearer(instTok)); r.StatusCode != 409 || r.errorField(t, "method") == "" {
				t.Errorf("stripe without configuration: %d %s", r.StatusCode, r.body)
			}
			// The way the page names works: the sub-distributor pays by coupon.
			sub := e.token(demo.SubdistributorUser)
			r = e.do(nil, "POST", "/api/v1/orders/"+number+"/pay", map[string]any{"method": "coupon", "coupons": []string{demo.CouponNormal}}, bearer(sub))
			if r.StatusCode != 200 || r.json(t)["order"].(map[string]any)["status"] != "completed" {
				t.Errorf("the sub-distributor pays the installer's order: %d %s", r.StatusCode, r.body)
			}
			if expiries(t, e, users)[0].IsZero() {
				t.Error("the user is not active")
			}
		})
	}
}

func couponBalance(t *testing.T, e *env, code string) int64 {
	t.Helper()
	sctx := model.WithActor(context.Background(), mustActor(t, e, demo.SubdistributorUser))
	l, err := e.st.ListCoupons(sctx, billing.CouponFilter{Page: model.Page{Page: 1, PerPage: 100}})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range l.Items {
		if c.Code == code {
			return c.Balance
		}
	}
	t.Fatalf("no coupon %s", code)
	return 0
}
