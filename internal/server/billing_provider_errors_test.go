package server_test

import (
	"log/slog"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/billing"
	"github.com/gatehouse-dev/gatehouse/internal/billing/paypal"
	"github.com/gatehouse-dev/gatehouse/internal/billing/paypal/paypaltest"
	gstripe "github.com/gatehouse-dev/gatehouse/internal/billing/stripe"
	"github.com/gatehouse-dev/gatehouse/internal/billing/stripe/stripetest"
	"github.com/gatehouse-dev/gatehouse/internal/demo"
	"github.com/gatehouse-dev/gatehouse/internal/server"
)

// providerSecret is what the failing providers answer (message, code,
// request id): the log gets it, the payer never.
const providerSecret = "SECRET-4711-acct_1PlatformOfTheMerchant"

// TestPaymentProviderErrorsAreNotShown: the real Stripe and PayPal providers
// against APIs that refuse the checkout with a recognisable text; the API's
// JSON and the portal's page name the step that failed and keep the status
// codes, the log holds what the provider said.
func TestPaymentProviderErrorsAreNotShown(t *testing.T) {
	e := newEnv(t, "sqlite")
	sp, err := gstripe.New(gstripe.Config{SecretKey: "sk_test_123", WebhookSecret: "whsec_test", BackendURL: stripetest.RefusingAPI(t, providerSecret)})
	if err != nil {
		t.Fatal(err)
	}
	fake := paypaltest.New(t)
	fake.Refuse("/v2/checkout/orders", providerSecret)
	pp, err := paypal.New(fake.Config())
	if err != nil {
		t.Fatal(err)
	}
	srv, err := server.New(server.Config{PublicURL: "https://portal.example", Providers: map[string]billing.Provider{"stripe": sp, "paypal": pp}},
		e.st, e.auth, e.mail, slog.New(slog.NewTextHandler(e.log, nil)))
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(srv.Handler())
	t.Cleanup(ts.Close)
	e.srv, e.ts, e.url = srv, ts, ts.URL

	sub := e.token(demo.SubdistributorUser)
	instID, users := inactiveUsers(t, e, 1)
	number := activationOrder(t, e, sub, instID, users[0], 12)
	br := e.browserLogin(demo.SubdistributorUser)
	var r *resp
	for _, c := range []struct{ method, step string }{{"stripe", "Starting the Stripe payment failed"}, {"paypal", "Starting the PayPal payment failed"}} {
		e.log.Reset()
		r = e.do(nil, "POST", "/api/v1/orders/"+number+"/pay", map[string]any{"method": c.method}, bearer(sub))
		msg, _ := r.json(t)["error"].(map[string]any)["message"].(string)
		if r.StatusCode != 409 || !strings.HasPrefix(msg, c.step) || strings.Contains(string(r.body), "SECRET") {
			t.Errorf("API, %s refuses: %d %s", c.method, r.StatusCode, r.body)
		}
		r = e.form(br.c, "/payments/"+number+"/pay", url.Values{"csrf_token": {br.csrf}, "method": {c.method}})
		if r.StatusCode != 400 || !strings.Contains(string(r.body), c.step) || strings.Contains(string(r.body), "SECRET") {
			t.Errorf("portal, %s refuses: %d %s", c.method, r.StatusCode, r.body)
		}
		if strings.Count(e.log.String(), "SECRET-4711") < 2 {
			t.Errorf("the log lacks what %s answered: %s", c.method, e.log.String())
		}
	}
}

// activationOrder creates an activation order of one office user through
// the API as tok and returns its number.
func activationOrder(t *testing.T, e *env, tok string, installerID, userID int64, months int) string {
	t.Helper()
	r := e.do(nil, "POST", "/api/v1/orders", map[string]any{"type": "activation", "installer_id": installerID, "project_type": "office",
		"items": []map[string]any{{"user_id": userID, "months": months}}}, bearer(tok))
	if r.StatusCode != 201 {
		t.Fatalf("create: %d %s", r.StatusCode, r.body)
	}
	return r.json(t)["number"].(string)
}
