package stripe_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/billing"
	"github.com/gatehouse-dev/gatehouse/internal/billing/stripe"
	"github.com/gatehouse-dev/gatehouse/internal/billing/stripe/stripetest"
)

const whsec = "whsec_gatehouse_test"

// recorder is a reverse proxy in front of stripe-mock that keeps every
// request, so the tests see exactly what the SDK sent and that stripe-mock
// (which validates against Stripe's OpenAPI spec) accepted it.
type recorder struct {
	mu   sync.Mutex
	reqs []recorded
}

type recorded struct {
	method, path, auth string
	form               url.Values
	status             int
}

func startRecorder(t *testing.T, target string) (*recorder, string) {
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	rec := &recorder{}
	proxy := httputil.NewSingleHostReverseProxy(u)
	proxy.ModifyResponse = func(resp *http.Response) error {
		rec.mu.Lock()
		rec.reqs[len(rec.reqs)-1].status = resp.StatusCode
		rec.mu.Unlock()
		return nil
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		form, _ := url.ParseQuery(string(body))
		rec.mu.Lock()
		rec.reqs = append(rec.reqs, recorded{r.Method, r.URL.Path, r.Header.Get("Authorization"), form, 0})
		rec.mu.Unlock()
		r.Body = io.NopCloser(strings.NewReader(string(body)))
		r.ContentLength = int64(len(body))
		proxy.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return rec, srv.URL
}

func (r *recorder) all() []recorded {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]recorded(nil), r.reqs...)
}

func newProvider(t *testing.T, backend, key string) *stripe.Provider {
	t.Helper()
	p, err := stripe.New(stripe.Config{SecretKey: key, WebhookSecret: whsec, BackendURL: backend})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func checkoutRequest() billing.CheckoutRequest {
	return billing.CheckoutRequest{
		OrderNumber: "GH-20260101-0001",
		Description: "Activation: 3 community users",
		Amount:      1234,
		Currency:    "EUR",
		ReturnURL:   "https://portal.example/payments/GH-20260101-0001/return",
		CancelURL:   "https://portal.example/payments/GH-20260101-0001/cancel",
		PayerEmail:  "payer@example.com",
	}
}

func TestStartCheckoutAgainstStripeMock(t *testing.T) {
	rec, backend := startRecorder(t, stripetest.StartMock(t))
	p := newProvider(t, backend, stripetest.SecretKey)
	co, err := p.StartCheckout(context.Background(), checkoutRequest())
	if err != nil {
		t.Fatalf("StartCheckout: %v", err)
	}
	if !strings.HasPrefix(co.ProviderRef, "cs_") || !strings.HasPrefix(co.RedirectURL, "https://checkout.stripe.com/") {
		t.Fatalf("checkout = %+v, want a cs_ id and a checkout.stripe.com URL", co)
	}
	reqs := rec.all()
	if len(reqs) != 1 {
		t.Fatalf("%d requests, want 1", len(reqs))
	}
	r := reqs[0]
	if r.method != "POST" || r.path != "/v1/checkout/sessions" || r.status != 200 {
		t.Fatalf("request %s %s → %d", r.method, r.path, r.status)
	}
	if r.auth != "Bearer "+stripetest.SecretKey {
		t.Errorf("Authorization = %q", r.auth)
	}
	want := map[string]string{
		"mode":                   "payment",
		"success_url":            checkoutRequest().ReturnURL,
		"cancel_url":             checkoutRequest().CancelURL,
		"client_reference_id":    "GH-20260101-0001",
		"metadata[order_number]": "GH-20260101-0001",
		"payment_intent_data[metadata][order_number]": "GH-20260101-0001",
		"customer_email":                                "payer@example.com",
		"line_items[0][quantity]":                       "1",
		"line_items[0][price_data][currency]":           "eur",
		"line_items[0][price_data][unit_amount]":        "1234",
		"line_items[0][price_data][product_data][name]": "Activation: 3 community users",
	}
	for k, v := range want {
		if got := r.form.Get(k); got != v {
			t.Errorf("form %s = %q, want %q", k, got, v)
		}
	}
	if len(r.form["line_items[1][quantity]"]) != 0 {
		t.Error("more than one line item sent")
	}
}

func TestStartCheckoutRefusesBadRequestsWithoutCallingStripe(t *testing.T) {
	rec, backend := startRecorder(t, stripetest.StartMock(t))
	p := newProvider(t, backend, stripetest.SecretKey)
	for name, mut := range map[string]func(*billing.CheckoutRequest){
		"zero amount":     func(r *billing.CheckoutRequest) { r.Amount = 0 },
		"negative amount": func(r *billing.CheckoutRequest) { r.Amount = -5 },
		"bad currency":    func(r *billing.CheckoutRequest) { r.Currency = "EURO" },
		"no order":        func(r *billing.CheckoutRequest) { r.OrderNumber = " " },
		"no return url":   func(r *billing.CheckoutRequest) { r.ReturnURL = "" },
	} {
		req := checkoutRequest()
		mut(&req)
		if _, err := p.StartCheckout(context.Background(), req); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
	if n := len(rec.all()); n != 0 {
		t.Fatalf("%d requests reached Stripe", n)
	}
}

func TestStartCheckoutReportsStripeErrors(t *testing.T) {
	backend := stripetest.StartMock(t)
	// stripe-mock refuses keys that do not look like test-mode secret keys,
	// as Stripe refuses an invalid key.
	p := newProvider(t, backend, "not_a_key")
	_, err := p.StartCheckout(context.Background(), checkoutRequest())
	if err == nil {
		t.Fatal("no error with an invalid key")
	}
	if !strings.Contains(err.Error(), "HTTP 401") {
		t.Fatalf("error = %v, want Stripe's 401", err)
	}

	// An unreachable Stripe is an error, not a hang.
	dead := httptest.NewServer(http.NotFoundHandler())
	deadURL := dead.URL
	dead.Close()
	p2, _ := stripe.New(stripe.Config{SecretKey: stripetest.SecretKey, WebhookSecret: whsec, BackendURL: deadURL,
		HTTPClient: &http.Client{Timeout: 2 * time.Second}})
	if _, err := p2.StartCheckout(context.Background(), checkoutRequest()); err == nil {
		t.Fatal("no error with Stripe unreachable")
	}
}

func TestConfirmAgainstStripeMock(t *testing.T) {
	rec, backend := startRecorder(t, stripetest.StartMock(t))
	p := newProvider(t, backend, stripetest.SecretKey)
	ev, err := p.Confirm(context.Background(), "cs_test_abc")
	if err != nil {
		t.Fatalf("Confirm: %v", err)
	}
	// stripe-mock's canned session is open and unpaid.
	if ev.Kind != billing.EventPending || ev.ProviderRef != "cs_test_abc" || ev.ID != "session:cs_test_abc:unpaid" {
		t.Fatalf("event = %+v", ev)
	}
	reqs := rec.all()
	if len(reqs) != 1 || reqs[0].method != "GET" || reqs[0].path != "/v1/checkout/sessions/cs_test_abc" {
		t.Fatalf("requests = %+v", reqs)
	}
	if _, err := p.Confirm(context.Background(), ""); err == nil {
		t.Fatal("empty ref accepted")
	}
}

// fakeSessions answers GET /v1/checkout/sessions/{id} with a fixed session,
// for the states stripe-mock cannot produce (it always answers "unpaid").
func fakeSessions(t *testing.T, body string, status int) string {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		io.WriteString(w, body)
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

func TestConfirmMapsSessionStates(t *testing.T) {
	cases := []struct {
		name, body string
		kind       billing.EventKind
		id, order  string
	}{
		{"paid", `{"id":"cs_1","object":"checkout.session","payment_status":"paid","status":"complete","amount_total":1234,"currency":"eur","metadata":{"order_number":"A1"},"client_reference_id":"A1"}`,
			billing.EventPaid, "session:cs_1:paid", "A1"},
		{"async processing", `{"id":"cs_2","object":"checkout.session","payment_status":"unpaid","status":"complete","amount_total":500,"currency":"eur","metadata":{},"client_reference_id":"A2"}`,
			billing.EventPending, "session:cs_2:unpaid", "A2"},
		{"expired", `{"id":"cs_3","object":"checkout.session","payment_status":"unpaid","status":"expired","amount_total":500,"currency":"jpy","metadata":{"order_number":"A3"}}`,
			billing.EventFailed, "session:cs_3:expired", "A3"},
	}
	for _, c := range cases {
		p := newProvider(t, fakeSessions(t, c.body, 200), stripetest.SecretKey)
		ev, err := p.Confirm(context.Background(), "cs_x")
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if ev.Kind != c.kind || ev.ID != c.id || ev.OrderNumber != c.order {
			t.Errorf("%s: event = %+v, want kind %s id %s order %s", c.name, ev, c.kind, c.id, c.order)
		}
	}
	p := newProvider(t, fakeSessions(t, `{"error":{"type":"invalid_request_error","code":"resource_missing","message":"No such checkout.session: 'cs_nope'"}}`, 404), stripetest.SecretKey)
	if _, err := p.Confirm(context.Background(), "cs_nope"); err == nil || !strings.Contains(err.Error(), "No such checkout.session") {
		t.Fatalf("missing session: err = %v", err)
	}
}

func deliver(p *stripe.Provider, body []byte, sig string) (billing.Event, error) {
	h := http.Header{}
	if sig != "" {
		h.Set("Stripe-Signature", sig)
	}
	return p.VerifyWebhook(context.Background(), h, body)
}

func TestVerifyWebhookMapsEvents(t *testing.T) {
	p := newProvider(t, "http://127.0.0.1:1", stripetest.SecretKey) // never called
	sess := stripetest.Session{ID: "cs_42", OrderNumber: "GH-1", Amount: 1999, Currency: "eur", PaymentStatus: "paid"}
	cases := []struct {
		typ    string
		status string
		kind   billing.EventKind
	}{
		{"checkout.session.completed", "paid", billing.EventPaid},
		{"checkout.session.completed", "unpaid", billing.EventPending},
		{"checkout.session.async_payment_succeeded", "paid", billing.EventPaid},
		{"checkout.session.async_payment_failed", "unpaid", billing.EventFailed},
		{"checkout.session.expired", "unpaid", billing.EventFailed},
	}
	for i, c := range cases {
		s := sess
		s.PaymentStatus = c.status
		id := "evt_" + string(rune('a'+i))
		body := stripetest.SessionEvent(id, c.typ, s)
		ev, err := deliver(p, body, stripetest.Sign(body, whsec, time.Now()))
		if err != nil {
			t.Fatalf("%s: %v", c.typ, err)
		}
		want := billing.Event{ID: id, Kind: c.kind, OrderNumber: "GH-1", ProviderRef: "cs_42", Amount: 1999, Currency: "EUR"}
		if ev != want {
			t.Errorf("%s/%s: event = %+v, want %+v", c.typ, c.status, ev, want)
		}
	}

	// Order number only in client_reference_id.
	s := sess
	s.NoMetadata = true
	body := stripetest.SessionEvent("evt_crid", "checkout.session.completed", s)
	ev, err := deliver(p, body, stripetest.Sign(body, whsec, time.Now()))
	if err != nil || ev.OrderNumber != "GH-1" {
		t.Fatalf("client_reference_id fallback: %+v, %v", ev, err)
	}

	// Events we do not act on are verified and ignored, with their id.
	body = stripetest.SessionEvent("evt_other", "payment_intent.succeeded", sess)
	ev, err = deliver(p, body, stripetest.Sign(body, whsec, time.Now()))
	if err != nil || ev.Kind != billing.EventIgnored || ev.ID != "evt_other" {
		t.Fatalf("other event: %+v, %v", ev, err)
	}

	// A webhook endpoint pinned to an older API version still works.
	body = stripetest.Event("evt_old", "checkout.session.completed", "2024-06-20", sess)
	ev, err = deliver(p, body, stripetest.Sign(body, whsec, time.Now()))
	if err != nil || ev.Kind != billing.EventPaid {
		t.Fatalf("older api_version: %+v, %v", ev, err)
	}
}

func TestVerifyWebhookRejectsUnverifiable(t *testing.T) {
	p := newProvider(t, "http://127.0.0.1:1", stripetest.SecretKey)
	sess := stripetest.Session{ID: "cs_42", OrderNumber: "GH-1", Amount: 1999, Currency: "eur", PaymentStatus: "paid"}
	body := stripetest.SessionEvent("evt_1", "checkout.session.completed", sess)
	tampered := []byte(strings.Replace(string(body), `"amount_total":1999`, `"amount_total":1`, 1))
	if string(tampered) == string(body) {
		t.Fatal("tampering did not change the body")
	}
	cases := map[string]struct {
		body []byte
		sig  string
	}{
		"wrong secret":  {body, stripetest.Sign(body, "whsec_other", time.Now())},
		"tampered body": {tampered, stripetest.Sign(body, whsec, time.Now())},
		"old timestamp": {body, stripetest.Sign(body, whsec, time.Now().Add(-10*time.Minute))},
		"no header":     {body, ""},
		"garbage":       {body, "t=abc,v1=zz"},
	}
	for name, c := range cases {
		ev, err := deliver(p, c.body, c.sig)
		if err == nil {
			t.Errorf("%s: accepted: %+v", name, ev)
			continue
		}
		if !errors.Is(err, billing.ErrUnverified) {
			t.Errorf("%s: error %v does not wrap ErrUnverified", name, err)
		}
	}
	// Signed, but not JSON of an event: an error, but not a signature error.
	junk := []byte(`{"object":"event","id":"evt_x","type":"checkout.session.completed","data":{"object":"nope"}}`)
	if _, err := deliver(p, junk, stripetest.Sign(junk, whsec, time.Now())); err == nil {
		t.Error("malformed session accepted")
	}
}

func TestVerifyWebhookReplayCarriesSameID(t *testing.T) {
	p := newProvider(t, "http://127.0.0.1:1", stripetest.SecretKey)
	body := stripetest.SessionEvent("evt_replay", "checkout.session.completed",
		stripetest.Session{ID: "cs_9", OrderNumber: "GH-9", Amount: 100, Currency: "usd", PaymentStatus: "paid"})
	first, err := deliver(p, body, stripetest.Sign(body, whsec, time.Now().Add(-time.Minute)))
	if err != nil {
		t.Fatal(err)
	}
	// Stripe re-signs a redelivery with a new timestamp; the event id stays.
	second, err := deliver(p, body, stripetest.Sign(body, whsec, time.Now()))
	if err != nil {
		t.Fatal(err)
	}
	if first != second || first.ID != "evt_replay" {
		t.Fatalf("replay: %+v vs %+v", first, second)
	}
}

func TestNewNeedsKeys(t *testing.T) {
	if _, err := stripe.New(stripe.Config{WebhookSecret: whsec}); err == nil {
		t.Error("no secret key accepted")
	}
	if _, err := stripe.New(stripe.Config{SecretKey: "sk_test_x"}); err == nil {
		t.Error("no webhook secret accepted")
	}
	p, err := stripe.New(stripe.Config{SecretKey: "sk_test_x", WebhookSecret: whsec})
	if err != nil || p.Name() != "stripe" {
		t.Fatalf("New: %v", err)
	}
}
