package paypal_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/billing"
	"github.com/gatehouse-dev/gatehouse/internal/billing/paypal"
	"github.com/gatehouse-dev/gatehouse/internal/billing/paypal/paypaltest"
)

var ctx = context.Background()

func req(amount int64, currency string) billing.CheckoutRequest {
	return billing.CheckoutRequest{OrderNumber: "GH-7", Description: "Renewal: 2 villa users", Amount: amount, Currency: currency,
		ReturnURL: "https://portal.example/pay/return", CancelURL: "https://portal.example/pay/cancel"}
}

func newProvider(t *testing.T, pp *paypaltest.Server) *paypal.Provider {
	p, err := paypal.New(pp.Config())
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestCheckoutApproveCapture(t *testing.T) {
	pp := paypaltest.New(t)
	p := newProvider(t, pp)
	co, err := p.StartCheckout(ctx, req(1234, "EUR"))
	if err != nil {
		t.Fatal(err)
	}
	o, ok := pp.Order(co.ProviderRef)
	if !ok || o.Value != "12.34" || o.Currency != "EUR" || o.CustomID != "GH-7" || o.ReferenceID != "GH-7" ||
		o.ReturnURL != "https://portal.example/pay/return" || o.CancelURL != "https://portal.example/pay/cancel" {
		t.Fatalf("order at PayPal = %+v", o)
	}
	if co.RedirectURL != pp.URL+"/checkoutnow?token="+co.ProviderRef {
		t.Fatalf("redirect = %q", co.RedirectURL)
	}

	// Before approval: pending, nothing captured.
	ev, err := p.Confirm(ctx, co.ProviderRef)
	if err != nil || ev.Kind != billing.EventPending || ev.OrderNumber != "GH-7" {
		t.Fatalf("unapproved confirm: %+v, %v", ev, err)
	}
	if o, _ := pp.Order(co.ProviderRef); o.CaptureID != "" {
		t.Fatal("captured before approval")
	}

	// The payer approves on PayPal's page and comes back.
	hc := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := hc.Get(co.RedirectURL)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if loc := resp.Header.Get("Location"); !strings.HasPrefix(loc, "https://portal.example/pay/return?") || !strings.Contains(loc, "token="+co.ProviderRef) {
		t.Fatalf("approval redirect = %d %q", resp.StatusCode, loc)
	}
	paid, err := p.Confirm(ctx, co.ProviderRef)
	if err != nil {
		t.Fatal(err)
	}
	want := billing.Event{ID: "order:" + co.ProviderRef + ":COMPLETED", Kind: billing.EventPaid, OrderNumber: "GH-7",
		ProviderRef: co.ProviderRef, Amount: 1234, Currency: "EUR"}
	if paid != want {
		t.Fatalf("confirm = %+v, want %+v", paid, want)
	}
	// The payer reloads the return page: already captured → the same event.
	again, err := p.Confirm(ctx, co.ProviderRef)
	if err != nil || again != want {
		t.Fatalf("second confirm = %+v, %v", again, err)
	}
	if n := pp.Calls("POST /v2/checkout/orders/{id}/capture"); n != 3 {
		t.Errorf("%d capture calls, want 3", n)
	}
	// One token for all of it.
	if n := pp.Calls("POST /v1/oauth2/token"); n != 1 {
		t.Errorf("%d token requests, want 1 (cached)", n)
	}
}

func TestTokenRenewal(t *testing.T) {
	pp := paypaltest.New(t)
	p := newProvider(t, pp)
	if _, err := p.StartCheckout(ctx, req(100, "USD")); err != nil {
		t.Fatal(err)
	}
	pp.ExpireTokens() // revoked / expired early: a 401 fetches a new one
	if _, err := p.StartCheckout(ctx, req(100, "USD")); err != nil {
		t.Fatal(err)
	}
	if n := pp.Calls("POST /v1/oauth2/token"); n != 2 {
		t.Fatalf("%d token requests, want 2", n)
	}
	// A short-lived token is renewed before it runs out.
	pp2 := paypaltest.New(t)
	pp2.TokenLifetime = 2 * time.Second
	p2 := newProvider(t, pp2)
	if _, err := p2.StartCheckout(ctx, req(100, "USD")); err != nil {
		t.Fatal(err)
	}
	time.Sleep(1100 * time.Millisecond)
	if _, err := p2.StartCheckout(ctx, req(100, "USD")); err != nil {
		t.Fatal(err)
	}
	if n := pp2.Calls("POST /v1/oauth2/token"); n != 2 {
		t.Fatalf("%d token requests, want 2", n)
	}
}

func TestBadCredentials(t *testing.T) {
	pp := paypaltest.New(t)
	cfg := pp.Config()
	cfg.Secret = "wrong"
	p, _ := paypal.New(cfg)
	_, err := p.StartCheckout(ctx, req(100, "USD"))
	var ae *paypal.APIError
	if !errors.As(err, &ae) || ae.Status != 401 || ae.Name != "invalid_client" {
		t.Fatalf("err = %v", err)
	}
	if pp.Calls("POST /v2/checkout/orders") != 0 {
		t.Fatal("order created without a token")
	}
}

func TestAmounts(t *testing.T) {
	for _, c := range []struct {
		minor int64
		cur   string
		want  string
	}{{1234, "EUR", "12.34"}, {5, "USD", "0.05"}, {100, "GBP", "1.00"}, {500, "JPY", "500"}, {150000, "HUF", "1500"}, {99900, "TWD", "999"}} {
		got, err := paypal.FormatAmount(c.minor, c.cur)
		if err != nil || got != c.want {
			t.Errorf("FormatAmount(%d %s) = %q, %v; want %q", c.minor, c.cur, got, err, c.want)
		}
		back, err := paypal.ParseAmount(got, c.cur)
		if err != nil || back != c.minor {
			t.Errorf("ParseAmount(%q %s) = %d, %v", got, c.cur, back, err)
		}
	}
	for _, c := range []struct {
		minor int64
		cur   string
	}{{150050, "HUF"}, {0, "EUR"}, {-1, "EUR"}, {100, "XYZ"}} {
		if v, err := paypal.FormatAmount(c.minor, c.cur); err == nil {
			t.Errorf("FormatAmount(%d %s) = %q, want an error", c.minor, c.cur, v)
		}
	}
	// JPY end to end: the fake refuses decimals for JPY as PayPal does.
	pp := paypaltest.New(t)
	p := newProvider(t, pp)
	co, err := p.StartCheckout(ctx, req(500, "JPY"))
	if err != nil {
		t.Fatal(err)
	}
	if o, _ := pp.Order(co.ProviderRef); o.Value != "500" {
		t.Fatalf("JPY value = %q", o.Value)
	}
}

func TestFakeRejectsWhatPayPalRejects(t *testing.T) {
	pp := paypaltest.New(t)
	p := newProvider(t, pp)
	// Unknown order: 404 RESOURCE_NOT_FOUND.
	_, err := p.Confirm(ctx, "NOSUCHORDER")
	var ae *paypal.APIError
	if !errors.As(err, &ae) || ae.Status != 404 || ae.Name != "RESOURCE_NOT_FOUND" || !ae.HasIssue("INVALID_RESOURCE_ID") {
		t.Fatalf("unknown order: %v", err)
	}
	if _, err := p.Confirm(ctx, "../../v1/oauth2/token"); err == nil {
		t.Fatal("path in order id accepted")
	}
}

func TestDeclinedAndPendingCaptures(t *testing.T) {
	pp := paypaltest.New(t)
	p := newProvider(t, pp)
	for status, kind := range map[string]billing.EventKind{"DECLINED": billing.EventFailed, "PENDING": billing.EventPending} {
		co, err := p.StartCheckout(ctx, req(700, "EUR"))
		if err != nil {
			t.Fatal(err)
		}
		pp.SetCaptureStatus(co.ProviderRef, status)
		if err := pp.Approve(co.ProviderRef); err != nil {
			t.Fatal(err)
		}
		ev, err := p.Confirm(ctx, co.ProviderRef)
		if err != nil || ev.Kind != kind {
			t.Errorf("capture %s: %+v, %v", status, ev, err)
		}
	}
}

func TestWebhooks(t *testing.T) {
	pp := paypaltest.New(t)
	p := newProvider(t, pp)
	co, err := p.StartCheckout(ctx, req(2500, "USD"))
	if err != nil {
		t.Fatal(err)
	}
	h, body := pp.WebhookFor("CHECKOUT.ORDER.APPROVED", co.ProviderRef)
	ev, err := p.VerifyWebhook(ctx, h, body)
	if err != nil || ev.Kind != billing.EventPending || ev.ProviderRef != co.ProviderRef || ev.OrderNumber != "GH-7" || !strings.HasPrefix(ev.ID, "WH-") {
		t.Fatalf("approved: %+v, %v", ev, err)
	}
	pp.Approve(co.ProviderRef)
	if _, err := p.Confirm(ctx, co.ProviderRef); err != nil {
		t.Fatal(err)
	}
	h, body = pp.CaptureWebhook(co.ProviderRef)
	ev, err = p.VerifyWebhook(ctx, h, body)
	if err != nil {
		t.Fatal(err)
	}
	if ev.Kind != billing.EventPaid || ev.ProviderRef != co.ProviderRef || ev.OrderNumber != "GH-7" || ev.Amount != 2500 || ev.Currency != "USD" {
		t.Fatalf("capture completed: %+v", ev)
	}
	// Redelivery: same body, same headers → same event id.
	again, err := p.VerifyWebhook(ctx, h, body)
	if err != nil || again != ev {
		t.Fatalf("redelivery: %+v, %v", again, err)
	}
	for typ, kind := range map[string]billing.EventKind{"PAYMENT.CAPTURE.DENIED": billing.EventFailed,
		"PAYMENT.CAPTURE.DECLINED": billing.EventFailed, "PAYMENT.CAPTURE.REFUNDED": billing.EventIgnored} {
		h, body := pp.WebhookFor(typ, co.ProviderRef)
		ev, err := p.VerifyWebhook(ctx, h, body)
		if err != nil || ev.Kind != kind {
			t.Errorf("%s: %+v, %v", typ, ev, err)
		}
	}

	// Unverifiable: forged signature, tampered body, missing header, other webhook id.
	fh, fbody := pp.ForgedWebhook("PAYMENT.CAPTURE.COMPLETED", co.ProviderRef)
	tampered := []byte(strings.Replace(string(body), `"25.00"`, `"0.01"`, 1))
	if string(tampered) == string(body) {
		t.Fatal("tampering changed nothing")
	}
	noSig := h.Clone()
	noSig.Del("Paypal-Transmission-Sig")
	cfg := pp.Config()
	cfg.WebhookID = "OTHERWEBHOOK"
	other, _ := paypal.New(cfg)
	for name, c := range map[string]struct {
		p    *paypal.Provider
		h    http.Header
		body []byte
	}{"forged": {p, fh, fbody}, "tampered": {p, h, tampered}, "no signature": {p, noSig, body}, "other webhook id": {other, h, body},
		"not json": {p, h, []byte("nope")}} {
		ev, err := c.p.VerifyWebhook(ctx, c.h, c.body)
		if err == nil {
			t.Errorf("%s: accepted %+v", name, ev)
		} else if !errors.Is(err, billing.ErrUnverified) {
			t.Errorf("%s: %v does not wrap ErrUnverified", name, err)
		}
	}
	// PayPal unreachable: an error that is not a signature verdict.
	cfg = pp.Config()
	cfg.BaseURL = "http://127.0.0.1:1"
	down, _ := paypal.New(cfg)
	if _, err := down.VerifyWebhook(ctx, h, body); err == nil || errors.Is(err, billing.ErrUnverified) {
		t.Fatalf("unreachable: %v", err)
	}
}

func TestNewValidates(t *testing.T) {
	for _, c := range []paypal.Config{{Secret: "s", WebhookID: "w"}, {ClientID: "c", WebhookID: "w"}, {ClientID: "c", Secret: "s"},
		{ClientID: "c", Secret: "s", WebhookID: "w", BaseURL: "ftp://x"}} {
		if _, err := paypal.New(c); err == nil {
			t.Errorf("New(%+v) accepted", c)
		}
	}
	if _, err := paypal.New(paypal.Config{ClientID: "c", Secret: "s", WebhookID: "w"}); err != nil {
		t.Fatal(err)
	}
}
