package sandbox_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/billing"
	_ "github.com/gatehouse-dev/gatehouse/internal/billing/paypal"
	"github.com/gatehouse-dev/gatehouse/internal/billing/sandbox"
	_ "github.com/gatehouse-dev/gatehouse/internal/billing/stripe"
	"github.com/gatehouse-dev/gatehouse/internal/billing/stripe/stripetest"
)

// start runs a sandbox in front of a stand-in for Gatehouse that verifies
// and keeps the Stripe webhooks, and answers the providers serve would build
// from the sandbox's environment.
func start(t *testing.T, mock string) (map[string]billing.Provider, *webhooks, *http.Client) {
	hooks := &webhooks{}
	var providers map[string]billing.Provider
	gh := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		ev, err := providers["stripe"].VerifyWebhook(r.Context(), r.Header, body)
		if err != nil || r.URL.Path != "/webhooks/stripe" {
			t.Errorf("webhook %s: %v", r.URL.Path, err)
			http.Error(w, "bad", 400)
			return
		}
		hooks.add(ev)
	}))
	t.Cleanup(gh.Close)
	srv := httptest.NewUnstartedServer(nil)
	cfg := sandbox.Config{URL: "http://" + srv.Listener.Addr().String(), StripeMock: mock, Gatehouse: gh.URL}
	sb, err := sandbox.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	srv.Config.Handler = sb.Handler()
	srv.Start()
	t.Cleanup(srv.Close)
	env := map[string]string{}
	for _, kv := range sb.Env() {
		k, v, _ := strings.Cut(kv, "=")
		env[k] = v
	}
	providers, err = billing.ProvidersFromEnv(func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	return providers, hooks, client
}

type webhooks struct {
	mu  sync.Mutex
	evs []billing.Event
}

func (h *webhooks) add(ev billing.Event) { h.mu.Lock(); h.evs = append(h.evs, ev); h.mu.Unlock() }
func (h *webhooks) all() []billing.Event {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]billing.Event(nil), h.evs...)
}

var req = billing.CheckoutRequest{OrderNumber: "SB1001", Description: "Order SB1001", Amount: 12345, Currency: "EUR",
	ReturnURL: "http://gatehouse.test/payments/return?order=SB1001", CancelURL: "http://gatehouse.test/payments/SB1001"}

// TestStripeSandbox: Stripe Checkout against stripe-mock, end to end — the
// visitor's checkout page, Pay, the signed webhook, the return's Confirm.
func TestStripeSandbox(t *testing.T) {
	ctx := context.Background()
	providers, hooks, client := start(t, stripetest.StartMock(t))
	p := providers["stripe"]
	if p == nil || providers["paypal"] == nil {
		t.Fatalf("providers: %v", providers)
	}
	co, err := p.StartCheckout(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	if ev, err := p.Confirm(ctx, co.ProviderRef); err != nil || ev.Kind != billing.EventPending || ev.OrderNumber != "SB1001" {
		t.Fatalf("before paying: %+v %v", ev, err)
	}
	resp, err := client.Get(co.RedirectURL)
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(page), "123.45 EUR") || !strings.Contains(string(page), "Order SB1001") {
		t.Fatalf("checkout page %d: %s", resp.StatusCode, page)
	}
	resp, err = client.PostForm(co.RedirectURL, url.Values{"pay": {"1"}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if loc := resp.Header.Get("Location"); resp.StatusCode != http.StatusSeeOther || loc != req.ReturnURL {
		t.Errorf("after paying: %d to %q", resp.StatusCode, loc)
	}
	evs := hooks.all()
	if len(evs) != 1 || evs[0].Kind != billing.EventPaid || evs[0].OrderNumber != "SB1001" || evs[0].Amount != 12345 ||
		evs[0].Currency != "EUR" || evs[0].ProviderRef != co.ProviderRef {
		t.Errorf("webhooks: %+v", evs)
	}
	ev, err := p.Confirm(ctx, co.ProviderRef)
	if err != nil || ev.Kind != billing.EventPaid || ev.OrderNumber != "SB1001" || ev.Amount != 12345 || ev.Currency != "EUR" {
		t.Errorf("confirm after paying: %+v %v", ev, err)
	}
}

// TestPayPalSandbox: the PayPal fake's approval page asks first; approving
// returns the visitor to Gatehouse, whose Confirm captures.
func TestPayPalSandbox(t *testing.T) {
	ctx := context.Background()
	providers, _, client := start(t, "")
	p := providers["paypal"]
	if p == nil || providers["stripe"] != nil {
		t.Fatalf("providers without stripe-mock: %v", providers)
	}
	co, err := p.StartCheckout(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := client.Get(co.RedirectURL)
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(page), "123.45 EUR") || !strings.Contains(string(page), "approve=1") {
		t.Fatalf("approval page %d: %s", resp.StatusCode, page)
	}
	if ev, err := p.Confirm(ctx, co.ProviderRef); err != nil || ev.Kind == billing.EventPaid {
		t.Fatalf("paid before approving: %+v %v", ev, err)
	}
	resp, err = client.Get(co.RedirectURL + "&approve=1")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if loc := resp.Header.Get("Location"); resp.StatusCode != http.StatusFound || !strings.HasPrefix(loc, req.ReturnURL+"&") || !strings.Contains(loc, "token="+co.ProviderRef) {
		t.Errorf("after approving: %d to %q", resp.StatusCode, loc)
	}
	ev, err := p.Confirm(ctx, co.ProviderRef)
	if err != nil || ev.Kind != billing.EventPaid || ev.OrderNumber != "SB1001" || ev.Amount != 12345 {
		t.Errorf("confirm after approving: %+v %v", ev, err)
	}
}
