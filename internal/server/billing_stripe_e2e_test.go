package server_test

import (
	"io"
	"log/slog"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/billing"
	gstripe "github.com/gatehouse-dev/gatehouse/internal/billing/stripe"
	"github.com/gatehouse-dev/gatehouse/internal/billing/stripe/stripetest"
	"github.com/gatehouse-dev/gatehouse/internal/demo"
	"github.com/gatehouse-dev/gatehouse/internal/server"
	"github.com/gatehouse-dev/gatehouse/internal/testutil"
)

// providerEnv is newEnv serving the given payment providers, with the
// public URL of its own test server (the providers send payers back there).
func providerEnv(t *testing.T, backend string, providers map[string]billing.Provider) *env {
	t.Helper()
	e := newEnv(t, backend)
	ts := httptest.NewUnstartedServer(nil)
	srv, err := server.New(server.Config{PublicURL: "http://" + ts.Listener.Addr().String(), Providers: providers},
		e.st, e.auth, e.mail, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	ts.Config.Handler = srv.Handler()
	ts.Start()
	t.Cleanup(ts.Close)
	e2 := *e
	e2.srv, e2.ts, e2.url = srv, ts, ts.URL
	return &e2
}

const e2eWebhookSecret = "whsec_gatehouse_e2e"

// stripeProvider is the real Stripe provider talking to a stripe-mock
// started for the test (skipped without stripe-mock, failed on CI).
func stripeProvider(t *testing.T) billing.Provider {
	t.Helper()
	p, err := gstripe.New(gstripe.Config{SecretKey: stripetest.SecretKey, WebhookSecret: e2eWebhookSecret, BackendURL: stripetest.StartMock(t)})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// stripeWebhook posts body to /webhooks/stripe with a Stripe-Signature header.
func stripeWebhook(e *env, body []byte, signature string) *resp {
	return e.do(nil, "POST", "/webhooks/stripe", string(body), "Stripe-Signature: "+signature, "Content-Type: application/json; charset=utf-8")
}

// expiries is the app expiry of each user (zero when none).
func expiries(t *testing.T, e *env, users []int64) []time.Time {
	t.Helper()
	var out []time.Time
	for _, id := range users {
		u, err := e.st.GetEndUser(sysCtx(), id)
		if err != nil {
			t.Fatal(err)
		}
		var x time.Time
		if u.AppExpires != nil && u.Active {
			x = *u.AppExpires
		}
		out = append(out, x)
	}
	return out
}

// TestStripeEndToEnd: an order made through the API is paid with the real
// Stripe provider against stripe-mock; a checkout.session.completed webhook
// signed as Stripe signs it (HMAC-SHA256 with the endpoint's secret over
// "<t>.<raw body>") completes it and moves the users' expiry; replays, a
// re-signed redelivery and the return URL change nothing more; wrongly
// signed, tampered and stale deliveries are refused with 400 and change
// nothing.
func TestStripeEndToEnd(t *testing.T) {
	for _, b := range testutil.Backends(t) {
		t.Run(b, func(t *testing.T) {
			t.Parallel()
			e := providerEnv(t, b, map[string]billing.Provider{"stripe": stripeProvider(t)})
			sub := e.token(demo.SubdistributorUser)
			instID, users := inactiveUsers(t, e, 2)

			r := e.do(nil, "POST", "/api/v1/orders", map[string]any{"type": "activation", "installer_id": instID, "project_type": "office",
				"items": []map[string]any{{"user_id": users[0], "months": 12}, {"user_id": users[1], "months": 24}}}, bearer(sub))
			if r.StatusCode != 201 {
				t.Fatalf("create: %d %s", r.StatusCode, r.body)
			}
			o := r.json(t)
			number, total := o["number"].(string), int64(o["total"].(float64))

			r = e.do(nil, "POST", "/api/v1/orders/"+number+"/pay", map[string]any{"method": "stripe"}, bearer(sub))
			if r.StatusCode != 200 {
				t.Fatalf("pay by stripe: %d %s", r.StatusCode, r.body)
			}
			pay := r.json(t)
			redirect, _ := pay["redirect_url"].(string)
			order, _ := pay["order"].(map[string]any)
			session, _ := order["provider_ref"].(string)
			if !strings.HasPrefix(redirect, "https://checkout.stripe.com/") || !strings.HasPrefix(session, "cs_") || order["provider"] != "stripe" {
				t.Fatalf("stripe checkout: redirect %q, order %v", redirect, order)
			}

			paid := stripetest.SessionEvent("evt_e2e_paid", "checkout.session.completed",
				stripetest.Session{ID: session, OrderNumber: number, Amount: total, Currency: "usd", PaymentStatus: "paid"})
			unchanged := func(what string) {
				t.Helper()
				got := e.do(nil, "GET", "/api/v1/orders/"+number, nil, bearer(sub)).json(t)
				if got["status"] != "processing" {
					t.Errorf("%s: order is %v", what, got["status"])
				}
				for i, x := range expiries(t, e, users) {
					if !x.IsZero() {
						t.Errorf("%s: user %d active until %v", what, users[i], x)
					}
				}
			}

			// Refused deliveries: another secret, a body changed after signing,
			// a signature older than Stripe's 5-minute tolerance, none at all.
			if r := stripeWebhook(e, paid, stripetest.Sign(paid, "whsec_someone_else", time.Now())); r.StatusCode != 400 || r.errorCode(t) != "invalid" {
				t.Errorf("webhook signed with another secret: %d %s", r.StatusCode, r.body)
			}
			tampered := []byte(strings.Replace(string(paid), `"payment_status":"paid"`, `"payment_status":"paid" `, 1))
			if string(tampered) == string(paid) {
				t.Fatal("tampering changed nothing")
			}
			if r := stripeWebhook(e, tampered, stripetest.Sign(paid, e2eWebhookSecret, time.Now())); r.StatusCode != 400 {
				t.Errorf("tampered webhook: %d %s", r.StatusCode, r.body)
			}
			if r := stripeWebhook(e, paid, stripetest.Sign(paid, e2eWebhookSecret, time.Now().Add(-10*time.Minute))); r.StatusCode != 400 {
				t.Errorf("stale webhook: %d %s", r.StatusCode, r.body)
			}
			if r := e.do(nil, "POST", "/webhooks/stripe", string(paid)); r.StatusCode != 400 {
				t.Errorf("unsigned webhook: %d %s", r.StatusCode, r.body)
			}
			unchanged("after refused webhooks")

			// A correctly signed event that reports another amount does not complete it.
			short := stripetest.SessionEvent("evt_e2e_short", "checkout.session.completed",
				stripetest.Session{ID: session, OrderNumber: number, Amount: total - 1, Currency: "usd", PaymentStatus: "paid"})
			if r := stripeWebhook(e, short, stripetest.Sign(short, e2eWebhookSecret, time.Now())); r.StatusCode != 200 || r.json(t)["applied"] != false {
				t.Errorf("webhook with another amount: %d %s", r.StatusCode, r.body)
			}
			unchanged("after a webhook with another amount")

			// The real delivery.
			r = stripeWebhook(e, paid, stripetest.Sign(paid, e2eWebhookSecret, time.Now()))
			if r.StatusCode != 200 || r.json(t)["applied"] != true {
				t.Fatalf("signed webhook: %d %s", r.StatusCode, r.body)
			}
			got := e.do(nil, "GET", "/api/v1/orders/"+number, nil, bearer(sub)).json(t)
			if got["status"] != "completed" || got["paid_at"] == nil || got["can_pay"] != false {
				t.Errorf("order after the webhook: %v", got)
			}
			first := expiries(t, e, users)
			for i, months := range []int{12, 24} {
				if want := time.Now().AddDate(0, months, 0); first[i].Sub(want).Abs() > time.Hour {
					t.Errorf("user %d expires %v, want about %v", users[i], first[i], want)
				}
			}
			items, _ := got["items"].([]any)
			for i, it := range items {
				ne, _ := it.(map[string]any)["new_expires_at"].(string)
				if at, err := time.Parse(time.RFC3339Nano, ne); err != nil || !at.Equal(first[i]) {
					t.Errorf("item %d new_expires_at %q, user expires %v", i, ne, first[i])
				}
			}

			// Replayed as is, redelivered with a fresh signature (as Stripe
			// retries), and the payer coming back: nothing is applied twice.
			if r := stripeWebhook(e, paid, stripetest.Sign(paid, e2eWebhookSecret, time.Now())); r.StatusCode != 200 || r.json(t)["applied"] != false {
				t.Errorf("replayed webhook: %d %s", r.StatusCode, r.body)
			}
			if r := stripeWebhook(e, paid, stripetest.Sign(paid, e2eWebhookSecret, time.Now().Add(time.Second))); r.StatusCode != 200 || r.json(t)["applied"] != false {
				t.Errorf("redelivered webhook: %d %s", r.StatusCode, r.body)
			}
			br := e.browserLogin(demo.SubdistributorUser)
			if r := e.do(br.c, "GET", "/payments/return?order="+number, nil); r.StatusCode != 303 {
				t.Errorf("return URL: %d %s", r.StatusCode, r.body)
			}
			for i, x := range expiries(t, e, users) {
				if !x.Equal(first[i]) {
					t.Errorf("user %d expiry moved again: %v → %v", users[i], first[i], x)
				}
			}
			got = e.do(nil, "GET", "/api/v1/orders/"+number, nil, bearer(sub)).json(t)
			completed := 0
			for _, ev := range got["history"].([]any) {
				if ev.(map[string]any)["status"] == "completed" {
					completed++
				}
			}
			if completed != 1 {
				t.Errorf("%d Completed entries in the history: %v", completed, got["history"])
			}
		})
	}
}
