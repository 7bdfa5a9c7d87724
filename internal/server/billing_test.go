package server_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/billing"
	"github.com/gatehouse-dev/gatehouse/internal/demo"
	"github.com/gatehouse-dev/gatehouse/internal/i18n"
	"github.com/gatehouse-dev/gatehouse/internal/model"
	"github.com/gatehouse-dev/gatehouse/internal/server"
	"github.com/gatehouse-dev/gatehouse/internal/testutil"
)

// fakeProvider is a payment provider in process: webhooks are "signed" by
// the header Stripe-Signature: ok (a signature header the server hands to providers), and Confirm reports what confirm says.
type fakeProvider struct {
	name    string
	confirm billing.EventKind
}

func (f *fakeProvider) Name() string { return f.name }
func (f *fakeProvider) StartCheckout(ctx context.Context, r billing.CheckoutRequest) (billing.Checkout, error) {
	return billing.Checkout{ProviderRef: "ref_" + r.OrderNumber, RedirectURL: "https://pay.example/checkout/" + r.OrderNumber}, nil
}
func (f *fakeProvider) VerifyWebhook(ctx context.Context, h http.Header, body []byte) (billing.Event, error) {
	if h.Get("Stripe-Signature") != "ok" {
		return billing.Event{}, fmt.Errorf("bad signature: %w", billing.ErrUnverified)
	}
	var ev billing.Event
	if err := json.Unmarshal(body, &ev); err != nil {
		return ev, errors.New("malformed")
	}
	return ev, nil
}
func (f *fakeProvider) Confirm(ctx context.Context, ref string) (billing.Event, error) {
	return billing.Event{ID: "confirm_" + ref, Kind: f.confirm, ProviderRef: ref, OrderNumber: strings.TrimPrefix(ref, "ref_")}, nil
}

// billingEnv is newEnv with the fake Stripe configured (PayPal not).
func billingEnv(t *testing.T, backend string) *env {
	e := newEnv(t, backend)
	srv, err := server.New(server.Config{Providers: map[string]billing.Provider{"stripe": &fakeProvider{name: "stripe", confirm: billing.EventPaid}}},
		e.st, e.auth, e.mail, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(srv.Handler())
	t.Cleanup(ts.Close)
	e2 := *e
	e2.srv, e2.ts, e2.url = srv, ts, ts.URL
	return &e2
}

// inactiveUsers finds not yet active office users of demo-installer.
func inactiveUsers(t *testing.T, e *env, n int) (int64, []int64) {
	t.Helper()
	inst, _, err := e.st.AccountForLogin(sysCtx(), demo.InstallerUser)
	if err != nil {
		t.Fatal(err)
	}
	// Make n of its office users not yet active (the demo activates most).
	us, err := e.st.ListBillableUsers(sysCtx(), billing.BillableFilter{InstallerID: inst.ID, ProjectType: "office", Mode: "renew"})
	if err != nil {
		t.Fatal(err)
	}
	if len(us) < n {
		t.Fatalf("demo-installer has %d office users", len(us))
	}
	var ids []int64
	for _, u := range us[:n] {
		ids = append(ids, u.ID)
		if _, err := e.st.DB().Exec(`UPDATE end_users SET active = false, app_expires_at = NULL WHERE id = ` + fmt.Sprint(u.ID)); err != nil {
			t.Fatal(err)
		}
	}
	return inst.ID, ids
}

func webhook(e *env, provider string, ev billing.Event, sig string) *resp {
	return e.do(nil, "POST", "/webhooks/"+provider, ev, "Stripe-Signature: "+sig)
}

func TestBillingHTTP(t *testing.T) {
	for _, b := range testutil.Backends(t) {
		t.Run(b, func(t *testing.T) {
			t.Parallel()
			e := billingEnv(t, b)
			sub := e.token(demo.SubdistributorUser)
			instID, users := inactiveUsers(t, e, 3)

			// The gate: a sub-distributor without the payment feature, and its installers.
			off := e.token("subdistributor-1-3")
			r := e.do(nil, "GET", "/api/v1/orders", nil, bearer(off))
			if r.StatusCode != 403 || !strings.Contains(string(r.body), "payment feature") {
				t.Errorf("gate: %d %s", r.StatusCode, r.body)
			}
			r = e.do(nil, "GET", "/api/v1/orders", nil, bearer(e.token("installer-1-3-01")))
			if r.StatusCode != 403 {
				t.Errorf("installer gate: %d %s", r.StatusCode, r.body)
			}

			// Renewal longer than 60 months: 400 naming the field.
			r = e.do(nil, "POST", "/api/v1/orders", map[string]any{"type": "renewal", "installer_id": instID, "project_type": "community",
				"items": []map[string]any{{"user_id": users[0], "months": 61}}}, bearer(sub))
			if r.StatusCode != 400 || r.errorField(t, "items[0].months") == "" {
				t.Errorf("61 months: %d %s", r.StatusCode, r.body)
			}

			// Activation → Stripe → webhook (replayed, duplicated) → return URL.
			r = e.do(nil, "POST", "/api/v1/orders", map[string]any{"type": "activation", "installer_id": instID, "project_type": "office",
				"items": []map[string]any{{"user_id": users[0], "months": 12}}}, bearer(sub))
			if r.StatusCode != 201 {
				t.Fatalf("create: %d %s", r.StatusCode, r.body)
			}
			o := r.json(t)
			number, total := o["number"].(string), int64(o["total"].(float64))
			if o["status"] != "processing" || total <= 0 {
				t.Errorf("order: %s", r.body)
			}
			r = e.do(nil, "POST", "/api/v1/orders/"+number+"/pay", map[string]any{"method": "paypal"}, bearer(sub))
			if r.StatusCode != 409 || r.errorField(t, "method") == "" {
				t.Errorf("paypal not configured: %d %s", r.StatusCode, r.body)
			}
			r = e.do(nil, "POST", "/api/v1/orders/"+number+"/pay", map[string]any{"method": "stripe"}, bearer(sub))
			if r.StatusCode != 200 || !strings.Contains(r.json(t)["redirect_url"].(string), number) {
				t.Fatalf("stripe: %d %s", r.StatusCode, r.body)
			}
			ev := billing.Event{ID: "evt_1", Kind: billing.EventPaid, OrderNumber: number, ProviderRef: "ref_" + number, Amount: total, Currency: "usd"}
			if r = webhook(e, "stripe", ev, "forged"); r.StatusCode != 400 {
				t.Errorf("forged webhook: %d %s", r.StatusCode, r.body)
			}
			if r = webhook(e, "paypal", ev, "ok"); r.StatusCode != 404 {
				t.Errorf("webhook of an unconfigured provider: %d %s", r.StatusCode, r.body)
			}
			applied := 0
			for i := 0; i < 3; i++ {
				if r = webhook(e, "stripe", ev, "ok"); r.StatusCode != 200 {
					t.Fatalf("webhook: %d %s", r.StatusCode, r.body)
				}
				if r.json(t)["applied"] == true {
					applied++
				}
			}
			ev.ID = "evt_2" // a duplicate of the same payment under another id
			webhook(e, "stripe", ev, "ok")
			if applied != 1 {
				t.Errorf("webhook applied %d times", applied)
			}
			u, _ := e.st.GetEndUser(sysCtx(), users[0])
			exp := *u.AppExpires
			// The return URL after the webhook changes nothing.
			br := e.browserLogin(demo.SubdistributorUser)
			r = e.do(br.c, "GET", "/payments/return?order="+number, nil)
			if r.StatusCode != 303 {
				t.Errorf("return: %d %s", r.StatusCode, r.body)
			}
			u, _ = e.st.GetEndUser(sysCtx(), users[0])
			if !u.Active || !u.AppExpires.Equal(exp) || exp.Sub(time.Now().AddDate(0, 12, 0)).Abs() > time.Hour {
				t.Errorf("user after payment: %v %v (first %v)", u.Active, u.AppExpires, exp)
			}
			r = e.do(nil, "GET", "/api/v1/orders/"+number, nil, bearer(sub))
			if r.json(t)["status"] != "completed" {
				t.Errorf("order after webhook: %s", r.body)
			}

			// Invoice.
			e.do(nil, "PUT", "/api/v1/billing-info", map[string]any{"company": "Demo Sub Ltd", "attn": "Ann Payer", "email": "ann@sub.example"}, bearer(sub))
			r = e.do(nil, "GET", "/api/v1/orders/"+number+"/invoice.pdf", nil, bearer(sub))
			if r.StatusCode != 200 || r.Header.Get("Content-Type") != "application/pdf" {
				t.Fatalf("invoice: %d %s", r.StatusCode, r.body)
			}
			checkPDF(t, r.body, number, i18n.For("en", "UTC").Money(total, "USD")) // the amount in English format (1,234.50 USD)

			// A return before the webhook: Confirm completes the order, the webhook after it changes nothing.
			r = e.do(nil, "POST", "/api/v1/orders", map[string]any{"type": "activation", "installer_id": instID, "project_type": "office",
				"items": []map[string]any{{"user_id": users[1]}}}, bearer(sub))
			n2 := r.json(t)["number"].(string)
			e.do(nil, "POST", "/api/v1/orders/"+n2+"/pay", map[string]any{"method": "stripe"}, bearer(sub))
			e.do(br.c, "GET", "/payments/return?order="+n2, nil)
			r = webhook(e, "stripe", billing.Event{ID: "evt_late_dup", Kind: billing.EventPaid, OrderNumber: n2}, "ok")
			if r.json(t)["applied"] != false {
				t.Errorf("webhook after the return URL applied again: %s", r.body)
			}
			if r = e.do(nil, "GET", "/api/v1/orders/"+n2, nil, bearer(sub)); r.json(t)["status"] != "completed" {
				t.Errorf("order after return: %s", r.body)
			}

			// A late webhook after Timeout completes the order and says so.
			r = e.do(nil, "POST", "/api/v1/orders", map[string]any{"type": "activation", "installer_id": instID, "project_type": "office",
				"items": []map[string]any{{"user_id": users[2]}}}, bearer(sub))
			n3 := r.json(t)["number"].(string)
			e.do(nil, "POST", "/api/v1/orders/"+n3+"/pay", map[string]any{"method": "stripe"}, bearer(sub))
			if n, err := e.st.TimeoutOrders(sysCtx(), -time.Second); err != nil || n < 1 {
				t.Fatalf("timeout: %d %v", n, err)
			}
			r = webhook(e, "stripe", billing.Event{ID: "evt_after_timeout", Kind: billing.EventPaid, OrderNumber: n3}, "ok")
			if r.json(t)["applied"] != true {
				t.Errorf("late webhook: %s", r.body)
			}
			r = e.do(nil, "GET", "/api/v1/orders/"+n3, nil, bearer(sub))
			if r.json(t)["status"] != "completed" || !strings.Contains(string(r.body), "after the order was Timeout") {
				t.Errorf("late webhook order: %s", r.body)
			}

			// Pay by Distributor: the sub-distributor is refused, with a reason.
			pbd := e.token("subdistributor-1-2")
			var pinst *model.Account
			l, _ := e.st.ListAccounts(model.WithActor(context.Background(), mustActor(t, e, "subdistributor-1-2")), model.AccountFilter{Role: model.RoleInstaller, Page: model.Page{Page: 1, PerPage: 50}})
			var us []billing.BillableUser
			for _, it := range l.Items {
				pinst = it
				if us, _ = e.st.ListBillableUsers(sysCtx(), billing.BillableFilter{InstallerID: pinst.ID, ProjectType: "office", Mode: "renew"}); len(us) > 0 {
					break
				}
			}
			if len(us) == 0 {
				t.Fatal("no office users to renew under subdistributor-1-2")
			}
			{
				r = e.do(nil, "POST", "/api/v1/orders", map[string]any{"type": "renewal", "installer_id": pinst.ID, "project_type": "office",
					"items": []map[string]any{{"user_id": us[0].ID, "months": 1}}}, bearer(pbd))
				n4 := r.json(t)["number"].(string)
				r = e.do(nil, "POST", "/api/v1/orders/"+n4+"/pay", map[string]any{"method": "stripe"}, bearer(pbd))
				if r.StatusCode != 403 || !strings.Contains(string(r.body), "Pay by Distributor") {
					t.Errorf("pay by distributor: %d %s", r.StatusCode, r.body)
				}
				r = e.do(nil, "POST", "/api/v1/orders/"+n4+"/pay", map[string]any{"method": "stripe"}, bearer(e.token(demo.DistributorUser)))
				if r.StatusCode != 200 {
					t.Errorf("the distributor pays: %d %s", r.StatusCode, r.body)
				}
			}
		})
	}
}

func mustActor(t *testing.T, e *env, username string) *model.Actor {
	a, _, err := e.st.AccountForLogin(sysCtx(), username)
	if err != nil {
		t.Fatal(err)
	}
	return model.ActorOf(a)
}

// checkPDF opens a PDF with poppler (pdftoppm renders it, pdftotext reads it).
func checkPDF(t *testing.T, pdf []byte, want ...string) {
	t.Helper()
	if _, err := exec.LookPath("pdftotext"); err != nil {
		t.Skip("poppler-utils (pdftotext, pdftoppm) not installed")
	}
	dir := t.TempDir()
	f := filepath.Join(dir, "invoice.pdf")
	os.WriteFile(f, pdf, 0o600)
	if out, err := exec.Command("pdftoppm", "-png", "-r", "50", f, filepath.Join(dir, "page")).CombinedOutput(); err != nil {
		t.Fatalf("pdftoppm: %v %s", err, out)
	}
	out, err := exec.Command("pdftotext", f, "-").CombinedOutput()
	if err != nil {
		t.Fatalf("pdftotext: %v %s", err, out)
	}
	for _, w := range want {
		if !strings.Contains(string(out), w) {
			t.Errorf("invoice lacks %q:\n%s", w, out)
		}
	}
}

// pdfText is the text of a PDF as pdftotext reads it.
func pdfText(t *testing.T, pdf []byte) string {
	t.Helper()
	if _, err := exec.LookPath("pdftotext"); err != nil {
		t.Skip("poppler-utils (pdftotext) not installed")
	}
	f := filepath.Join(t.TempDir(), "invoice.pdf")
	if err := os.WriteFile(f, pdf, 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("pdftotext", "-layout", f, "-").CombinedOutput()
	if err != nil {
		t.Fatalf("pdftotext: %v %s", err, out)
	}
	return string(out)
}

// TestInvoiceIsFrozen: an issued invoice is an accounting record. Saving
// other billing information or other prices after an order completed
// leaves its PDF as it was; only a later order's invoice shows the new
// details, under the seller's next invoice number.
func TestInvoiceIsFrozen(t *testing.T) {
	for _, b := range testutil.Backends(t) {
		t.Run(b, func(t *testing.T) {
			t.Parallel()
			e := billingEnv(t, b)
			sub := e.token(demo.SubdistributorUser)
			instID, users := inactiveUsers(t, e, 2)
			invoice := func(number string) string {
				t.Helper()
				r := e.do(nil, "GET", "/api/v1/orders/"+number+"/invoice.pdf", nil, bearer(sub))
				if r.StatusCode != 200 {
					t.Fatalf("invoice %s: %d %s", number, r.StatusCode, r.body)
				}
				return pdfText(t, r.body)
			}
			pay := func(user int64) (string, int64) {
				t.Helper()
				r := e.do(nil, "POST", "/api/v1/orders", map[string]any{"type": "activation", "installer_id": instID, "project_type": "office",
					"items": []map[string]any{{"user_id": user, "months": 12}}}, bearer(sub))
				if r.StatusCode != 201 {
					t.Fatalf("create: %d %s", r.StatusCode, r.body)
				}
				o := r.json(t)
				number, total := o["number"].(string), int64(o["total"].(float64))
				if r = e.do(nil, "POST", "/api/v1/orders/"+number+"/pay", map[string]any{"method": "stripe"}, bearer(sub)); r.StatusCode != 200 {
					t.Fatalf("pay: %d %s", r.StatusCode, r.body)
				}
				ev := billing.Event{ID: "evt_" + number, Kind: billing.EventPaid, OrderNumber: number, ProviderRef: "ref_" + number, Amount: total, Currency: "usd"}
				if r = webhook(e, "stripe", ev, "ok"); r.StatusCode != 200 || r.json(t)["applied"] != true {
					t.Fatalf("webhook: %d %s", r.StatusCode, r.body)
				}
				return number, total
			}
			putInfo := func(company, address string) {
				t.Helper()
				r := e.do(nil, "PUT", "/api/v1/billing-info", map[string]any{"company": company, "attn": "Ann Payer", "address": address,
					"email": "ann@sub.example", "tel": "+1 555 0100"}, bearer(sub))
				if r.StatusCode != 200 {
					t.Fatalf("billing info: %d %s", r.StatusCode, r.body)
				}
			}

			putInfo("Old Payer Company Ltd", "1 Old Street")
			first, total := pay(users[0])
			before := invoice(first)
			for _, want := range []string{"Old Payer Company Ltd", "1 Old Street", first, i18n.For("en", "UTC").Money(total, "USD")} {
				if !strings.Contains(before, want) {
					t.Errorf("invoice lacks %q:\n%s", want, before)
				}
			}

			// The user's bug: new billing information, and new prices.
			putInfo("New Payer Company Ltd", "2 New Road")
			r := e.do(nil, "PUT", "/api/v1/prices", map[string]any{"items": []map[string]any{{"item": "office_user", "activation_fee": 99900, "monthly_fee": 9900, "currency": "USD"}}},
				bearer(e.token(demo.DistributorUser)))
			if r.StatusCode != 200 {
				t.Fatalf("prices: %d %s", r.StatusCode, r.body)
			}
			after := invoice(first)
			if strings.Contains(after, "New Payer Company Ltd") || strings.Contains(after, "2 New Road") || !strings.Contains(after, "Old Payer Company Ltd") {
				t.Errorf("the issued invoice changed with the billing information:\n%s", after)
			}
			if after != before {
				t.Errorf("the issued invoice changed:\nbefore:\n%s\nafter:\n%s", before, after)
			}

			// A later order is billed to the new details, at the new price,
			// under the seller's next invoice number.
			second, total2 := pay(users[1])
			later := invoice(second)
			if !strings.Contains(later, "New Payer Company Ltd") || strings.Contains(later, "Old Payer Company Ltd") || !strings.Contains(later, i18n.For("en", "UTC").Money(total2, "USD")) {
				t.Errorf("the later invoice:\n%s", later)
			}
			if total2 != 99900+12*9900 {
				t.Errorf("later order total %d", total2)
			}
			n1 := e.do(nil, "GET", "/api/v1/orders/"+first, nil, bearer(sub)).json(t)["invoice_number"]
			if a, _ := n1.(string); a != "" {
				br := e.browserLogin(demo.SubdistributorUser)
				if r := e.do(br.c, "GET", "/payments/"+first, nil); r.StatusCode != 200 || !strings.Contains(string(r.body), `id="order-invoice-number">`+a+`<`) {
					t.Errorf("the order page does not show invoice number %s: %d", a, r.StatusCode)
				}
			}
			n2 := e.do(nil, "GET", "/api/v1/orders/"+second, nil, bearer(sub)).json(t)["invoice_number"]
			var s1, s2 int
			if a, _ := n1.(string); a == "" || !strings.Contains(before, a) {
				t.Errorf("invoice number %v not on the invoice", n1)
			} else if c, _ := n2.(string); c == "" || !strings.Contains(later, c) {
				t.Errorf("invoice number %v not on the later invoice", n2)
			} else if fmt.Sscanf(a, "INV-%d", &s1); true {
				fmt.Sscanf(c, "INV-%d", &s2)
				if s1 < 1 || s2 != s1+1 {
					t.Errorf("invoice numbers %s then %s: want consecutive", a, c)
				}
			}
		})
	}
}
