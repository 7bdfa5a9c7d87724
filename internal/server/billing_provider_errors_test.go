package server_test

import (
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/billing"
	"github.com/gatehouse-dev/gatehouse/internal/billing/paypal"
	"github.com/gatehouse-dev/gatehouse/internal/billing/paypal/paypaltest"
	gstripe "github.com/gatehouse-dev/gatehouse/internal/billing/stripe"
	"github.com/gatehouse-dev/gatehouse/internal/demo"
	"github.com/gatehouse-dev/gatehouse/internal/server"
)

// providerSecret is what the failing providers answer (message, code,
// request id): the log gets it, the payer never.
const providerSecret = "SECRET-4711 acct_1PlatformOfTheMerchant"

// TestPaymentProviderErrorsAreNotShown: the real Stripe and PayPal providers
// against APIs that refuse the checkout with a recognisable text; the API's
// JSON and the portal's page name the step that failed and keep the status
// codes, the log holds what the provider said.
func TestPaymentProviderErrorsAreNotShown(t *testing.T) {
	e := newEnv(t, "sqlite")
	stripeAPI := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Request-Id", "req_SECRET-4711")
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusBadRequest)
		fmt.Fprintf(w, `{"error":{"type":"invalid_request_error","code":"SECRET-4711","message":%q}}`, providerSecret)
	}))
	t.Cleanup(stripeAPI.Close)
	sp, err := gstripe.New(gstripe.Config{SecretKey: "sk_test_123", WebhookSecret: "whsec_test", BackendURL: stripeAPI.URL})
	if err != nil {
		t.Fatal(err)
	}
	// PayPal's fake, except that it refuses to create orders.
	ppAPI := httptest.NewUnstartedServer(nil)
	fake, h := paypaltest.NewHandler("http://" + ppAPI.Listener.Addr().String())
	ppAPI.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == "POST" && r.URL.Path == "/v2/checkout/orders" {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusUnprocessableEntity)
			fmt.Fprintf(w, `{"name":"UNPROCESSABLE_ENTITY","message":%q,"debug_id":"SECRET-4711"}`, providerSecret)
			return
		}
		h.ServeHTTP(w, r)
	})
	ppAPI.Start()
	t.Cleanup(ppAPI.Close)
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
	r := e.do(nil, "POST", "/api/v1/orders", map[string]any{"type": "activation", "installer_id": instID, "project_type": "office",
		"items": []map[string]any{{"user_id": users[0], "months": 12}}}, bearer(sub))
	if r.StatusCode != 201 {
		t.Fatalf("create: %d %s", r.StatusCode, r.body)
	}
	number := r.json(t)["number"].(string)
	br := e.browserLogin(demo.SubdistributorUser)
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
