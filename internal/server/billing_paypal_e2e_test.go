package server_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/billing"
	"github.com/gatehouse-dev/gatehouse/internal/billing/paypal"
	"github.com/gatehouse-dev/gatehouse/internal/billing/paypal/paypaltest"
	"github.com/gatehouse-dev/gatehouse/internal/demo"
	"github.com/gatehouse-dev/gatehouse/internal/testutil"
)

// paypalProvider is the real PayPal provider talking to the fake PayPal.
func paypalProvider(t *testing.T) (billing.Provider, *paypaltest.Server) {
	t.Helper()
	pp := paypaltest.New(t)
	p, err := paypal.New(pp.Config())
	if err != nil {
		t.Fatal(err)
	}
	return p, pp
}

// paypalWebhook posts a webhook with its transmission headers.
func paypalWebhook(e *env, h http.Header, body []byte) *resp {
	var hs []string
	for k, vs := range h {
		hs = append(hs, k+": "+vs[0])
	}
	return e.do(nil, "POST", "/webhooks/paypal", string(body), hs...)
}

// TestPayPalEndToEnd: an order made through the API is paid with the real
// PayPal provider against the fake PayPal: the payer approves on PayPal's
// page, CHECKOUT.ORDER.APPROVED arrives (System Processing), the payer
// comes back and the return URL captures (Completed, users' expiry moved),
// then PAYMENT.CAPTURE.COMPLETED arrives, is replayed, and the payer
// reloads the return URL: nothing is applied twice. A forged webhook is
// refused with 400 and changes nothing.
func TestPayPalEndToEnd(t *testing.T) {
	for _, b := range testutil.Backends(t) {
		t.Run(b, func(t *testing.T) {
			t.Parallel()
			prov, pp := paypalProvider(t)
			e := providerEnv(t, b, map[string]billing.Provider{"paypal": prov})
			sub := e.token(demo.SubdistributorUser)
			instID, users := inactiveUsers(t, e, 1)

			number := activationOrder(t, e, sub, instID, users[0], 6)
			status := func() string {
				return e.do(nil, "GET", "/api/v1/orders/"+number, nil, bearer(sub)).json(t)["status"].(string)
			}

			r := e.do(nil, "POST", "/api/v1/orders/"+number+"/pay", map[string]any{"method": "paypal"}, bearer(sub))
			if r.StatusCode != 200 {
				t.Fatalf("pay by paypal: %d %s", r.StatusCode, r.body)
			}
			pay := r.json(t)
			redirect, _ := pay["redirect_url"].(string)
			ppOrder, _ := pay["order"].(map[string]any)["provider_ref"].(string)
			if !strings.HasPrefix(redirect, pp.URL+"/checkoutnow?token=") || ppOrder == "" {
				t.Fatalf("paypal checkout: %s", r.body)
			}
			if o, ok := pp.Order(ppOrder); !ok || o.CustomID != number || !strings.HasPrefix(o.ReturnURL, e.url+"/payments/return?order=") {
				t.Fatalf("PayPal order: %+v", o)
			}

			// A forged webhook: 400, nothing changes.
			h, body := pp.ForgedWebhook("PAYMENT.CAPTURE.COMPLETED", ppOrder)
			if r := paypalWebhook(e, h, body); r.StatusCode != 400 {
				t.Errorf("forged webhook: %d %s", r.StatusCode, r.body)
			}
			if s := status(); s != "processing" || !expiries(t, e, users)[0].IsZero() {
				t.Errorf("after a forged webhook: %s, expiry %v", s, expiries(t, e, users)[0])
			}

			// The payer approves on PayPal's page, which sends them back.
			res, err := noRedirect(nil).Get(redirect)
			if err != nil {
				t.Fatal(err)
			}
			res.Body.Close()
			back, err := url.Parse(res.Header.Get("Location"))
			if err != nil || res.StatusCode != http.StatusFound || back.Query().Get("order") != number || back.Query().Get("PayerID") == "" {
				t.Fatalf("PayPal's approval page: %d → %s", res.StatusCode, res.Header.Get("Location"))
			}
			h, body = pp.WebhookFor("CHECKOUT.ORDER.APPROVED", ppOrder)
			if r := paypalWebhook(e, h, body); r.StatusCode != 200 || r.json(t)["applied"] != true {
				t.Errorf("approved webhook: %d %s", r.StatusCode, r.body)
			}
			if s := status(); s != "system_processing" {
				t.Errorf("after approval: %s", s)
			}

			// Back at the return URL: captured, completed, the expiry moves.
			br := e.browserLogin(demo.SubdistributorUser)
			if r := e.do(br.c, "GET", back.RequestURI(), nil); r.StatusCode != 303 || !strings.Contains(r.Header.Get("Location"), "/payments/"+number) {
				t.Fatalf("return URL: %d %s", r.StatusCode, r.Header.Get("Location"))
			}
			if s := status(); s != "completed" {
				t.Fatalf("after the return: %s", s)
			}
			first := expiries(t, e, users)[0]
			if want := time.Now().AddDate(0, 6, 0); first.Sub(want).Abs() > time.Hour {
				t.Errorf("expiry %v, want about %v", first, want)
			}
			if n := pp.Calls("POST /v2/checkout/orders/{id}/capture"); n != 1 {
				t.Errorf("%d captures", n)
			}

			// The capture webhook, its replay and a second return change nothing.
			h, body = pp.CaptureWebhook(ppOrder)
			for i := 0; i < 2; i++ {
				if r := paypalWebhook(e, h, body); r.StatusCode != 200 || r.json(t)["applied"] != false {
					t.Errorf("capture webhook %d: %d %s", i, r.StatusCode, r.body)
				}
			}
			e.do(br.c, "GET", back.RequestURI(), nil)
			if x := expiries(t, e, users)[0]; !x.Equal(first) {
				t.Errorf("expiry moved again: %v → %v", first, x)
			}
			if s := status(); s != "completed" {
				t.Errorf("in the end: %s", s)
			}
		})
	}
}
