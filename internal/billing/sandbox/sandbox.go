// Package sandbox is the sandbox payment mode of `make run PAYMENTS=sandbox`:
// one local HTTP server that lets a visitor pay the demo's orders by Stripe
// and by PayPal end to end, with no account at either and nothing leaving
// the machine.
//
//   - PayPal, under /paypal/: the in-repo fake of PayPal's REST API
//     (paypaltest). Its approval page asks the visitor to approve or cancel,
//     then sends them back to Gatehouse, which captures the order (Confirm).
//   - Stripe, under /v1/ (the API) and /stripe/ (pages): a front of stripe-mock (Stripe's official API
//     mock, which checks every request against Stripe's OpenAPI document).
//     stripe-mock's Checkout Sessions point at checkout.stripe.com, where no
//     such session exists: the front remembers each session Gatehouse creates
//     and points it at its own checkout page instead. "Pay" there marks the
//     session paid (so Gatehouse's Confirm on the return reads it paid), sends
//     Gatehouse the signed checkout.session.completed webhook Stripe would
//     send, and returns the visitor to the success URL.
//
// Env gives the variables `gatehouse serve` needs to use both.
package sandbox

import (
	"bytes"
	"encoding/json"
	"fmt"
	"html/template"
	"io"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/billing/paypal/paypaltest"
	"github.com/gatehouse-dev/gatehouse/internal/billing/stripe/stripetest"
)

// Stripe settings of the sandbox: a test key stripe-mock accepts and the
// webhook signing secret shared with Gatehouse.
const (
	StripeSecretKey     = stripetest.SecretKey
	StripeWebhookSecret = "whsec_gatehouse_sandbox"
)

// Config configures a sandbox.
type Config struct {
	// URL is where the sandbox's handler is reached, by Gatehouse and by the
	// visitor's browser, e.g. "http://127.0.0.1:8070".
	URL string
	// StripeMock is stripe-mock's base URL; "" leaves Stripe out.
	StripeMock string
	// Gatehouse is Gatehouse's base URL, where the Stripe webhook goes
	// (<Gatehouse>/webhooks/stripe); "" sends none (the return still
	// completes the order through Confirm).
	Gatehouse string
	// Client sends the webhooks (default: 10 s timeout).
	Client *http.Client
}

// Sandbox is the sandbox's state and handler.
type Sandbox struct {
	cfg      Config
	mux      *http.ServeMux
	PayPal   *paypaltest.Server
	paypal   http.Handler
	mu       sync.Mutex
	sessions map[string]*session
	seq      int
}

type session struct {
	ID, Order, Currency, Success, Cancel, Name string
	Amount                                     int64
	Paid                                       bool
}

// New builds a sandbox; serve its Handler at cfg.URL.
func New(cfg Config) (*Sandbox, error) {
	u, err := url.Parse(cfg.URL)
	if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
		return nil, fmt.Errorf("sandbox: URL %q must be an http(s) URL", cfg.URL)
	}
	cfg.URL = strings.TrimRight(cfg.URL, "/")
	cfg.Gatehouse = strings.TrimRight(cfg.Gatehouse, "/")
	if cfg.Client == nil {
		cfg.Client = &http.Client{Timeout: 10 * time.Second}
	}
	s := &Sandbox{cfg: cfg, mux: http.NewServeMux(), sessions: map[string]*session{}}
	s.PayPal, s.paypal = paypaltest.NewHandler(cfg.URL + "/paypal")
	s.mux.HandleFunc("GET /paypal/checkoutnow", s.paypalPage)
	s.mux.Handle("/paypal/", http.StripPrefix("/paypal", s.paypal))
	if cfg.StripeMock != "" {
		mock, err := url.Parse(cfg.StripeMock)
		if err != nil || mock.Host == "" {
			return nil, fmt.Errorf("sandbox: stripe-mock URL %q", cfg.StripeMock)
		}
		// Stripe's API at the root: stripe-go takes a base URL without a path.
		s.mux.Handle("/v1/", httputil.NewSingleHostReverseProxy(mock))
		s.mux.HandleFunc("POST /v1/checkout/sessions", s.createSession)
		s.mux.HandleFunc("GET /v1/checkout/sessions/{id}", s.getSession)
		s.mux.HandleFunc("GET /stripe/checkout/{id}", s.stripePage)
		s.mux.HandleFunc("POST /stripe/checkout/{id}", s.stripePay)
	}
	s.mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		fmt.Fprintln(w, "Gatehouse payment sandbox. Start `gatehouse serve` with:")
		for _, kv := range s.Env() {
			fmt.Fprintln(w, "  "+kv)
		}
	})
	return s, nil
}

// Handler serves the sandbox.
func (s *Sandbox) Handler() http.Handler { return s.mux }

// Env lists the environment of `gatehouse serve` for the sandbox
// ("NAME=value"), Stripe's only with stripe-mock.
func (s *Sandbox) Env() []string {
	env := []string{
		"GATEHOUSE_PAYPAL_CLIENT_ID=" + paypaltest.ClientID,
		"GATEHOUSE_PAYPAL_SECRET=" + paypaltest.Secret,
		"GATEHOUSE_PAYPAL_WEBHOOK_ID=" + paypaltest.WebhookID,
		"GATEHOUSE_PAYPAL_API_URL=" + s.cfg.URL + "/paypal",
	}
	if s.cfg.StripeMock != "" {
		env = append(env,
			"GATEHOUSE_STRIPE_SECRET_KEY="+StripeSecretKey,
			"GATEHOUSE_STRIPE_WEBHOOK_SECRET="+StripeWebhookSecret,
			"GATEHOUSE_STRIPE_API_URL="+s.cfg.URL)
	}
	return env
}

// createSession passes the request to stripe-mock (which validates it) and
// remembers what Gatehouse asked for: stripe-mock answers fixture data.
func (s *Sandbox) createSession(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	form, _ := url.ParseQuery(string(body))
	status, hdr, resp, err := s.mock(r, body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	if status != http.StatusOK {
		writeRaw(w, status, hdr, resp)
		return
	}
	var obj map[string]any
	if err := json.Unmarshal(resp, &obj); err != nil {
		http.Error(w, "stripe-mock: "+err.Error(), http.StatusBadGateway)
		return
	}
	amount, _ := strconv.ParseInt(form.Get("line_items[0][price_data][unit_amount]"), 10, 64)
	if q, _ := strconv.ParseInt(form.Get("line_items[0][quantity]"), 10, 64); q > 1 {
		amount *= q
	}
	order := form.Get("metadata[order_number]")
	if order == "" {
		order = form.Get("client_reference_id")
	}
	s.mu.Lock()
	s.seq++
	id := fmt.Sprintf("cs_test_sandbox_%d_%d", time.Now().Unix(), s.seq)
	ss := &session{ID: id, Order: order, Amount: amount, Currency: form.Get("line_items[0][price_data][currency]"),
		Success: form.Get("success_url"), Cancel: form.Get("cancel_url"), Name: form.Get("line_items[0][price_data][product_data][name]")}
	s.sessions[id] = ss
	s.mu.Unlock()
	s.patch(obj, ss)
	writeJSON(w, obj)
}

// getSession answers a remembered session with its sandbox state.
func (s *Sandbox) getSession(w http.ResponseWriter, r *http.Request) {
	ss, ok := s.session(r.PathValue("id"))
	if !ok {
		httputil.NewSingleHostReverseProxy(mustParse(s.cfg.StripeMock)).ServeHTTP(w, r)
		return
	}
	status, hdr, resp, err := s.mock(r, nil)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	var obj map[string]any
	if status != http.StatusOK || json.Unmarshal(resp, &obj) != nil {
		writeRaw(w, status, hdr, resp)
		return
	}
	s.patch(obj, &ss)
	writeJSON(w, obj)
}

func (s *Sandbox) patch(obj map[string]any, ss *session) {
	obj["id"] = ss.ID
	obj["url"] = s.cfg.URL + "/stripe/checkout/" + ss.ID
	obj["client_reference_id"] = ss.Order
	obj["metadata"] = map[string]string{"order_number": ss.Order}
	obj["amount_total"] = ss.Amount
	obj["amount_subtotal"] = ss.Amount
	obj["currency"] = ss.Currency
	obj["success_url"] = ss.Success
	obj["cancel_url"] = ss.Cancel
	obj["livemode"] = false
	if ss.Paid {
		obj["payment_status"], obj["status"] = "paid", "complete"
	} else {
		obj["payment_status"], obj["status"] = "unpaid", "open"
	}
}

func (s *Sandbox) session(id string) (session, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	ss, ok := s.sessions[id]
	if !ok {
		return session{}, false
	}
	return *ss, true
}

// mock sends r (with body) to stripe-mock.
func (s *Sandbox) mock(r *http.Request, body []byte) (int, http.Header, []byte, error) {
	u := strings.TrimRight(s.cfg.StripeMock, "/") + r.URL.Path
	if r.URL.RawQuery != "" {
		u += "?" + r.URL.RawQuery
	}
	req, err := http.NewRequestWithContext(r.Context(), r.Method, u, bytes.NewReader(body))
	if err != nil {
		return 0, nil, nil, err
	}
	req.Header = r.Header.Clone()
	req.Header.Del("Accept-Encoding")
	resp, err := s.cfg.Client.Do(req)
	if err != nil {
		return 0, nil, nil, fmt.Errorf("stripe-mock: %w", err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	return resp.StatusCode, resp.Header, b, err
}

var page = template.Must(template.New("page").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{{.Title}}</title>
<style>body{font-family:system-ui,sans-serif;background:#f4f5f7;margin:0}main{max-width:28rem;margin:4rem auto;background:#fff;
padding:2rem;border-radius:8px;box-shadow:0 1px 4px #0002}h1{font-size:1.3rem}.amount{font-size:2rem;margin:1rem 0}
.note{color:#555;font-size:.9rem}button,a.button{font-size:1rem;padding:.6rem 1.2rem;border-radius:4px;border:1px solid #888;
background:#fff;color:#222;text-decoration:none;display:inline-block;margin-right:.5rem;cursor:pointer}
button.pay,a.pay{background:{{.Color}};border-color:{{.Color}};color:#fff}</style></head>
<body><main><h1>{{.Title}}</h1><p class="note">Sandbox: no money moves. This page stands in for {{.Provider}}'s own.</p>
<p>{{.Description}}</p><div class="amount">{{.Amount}}</div>
{{if .PayURL}}<form method="post" action="{{.PayURL}}" style="display:inline"><button class="pay" name="pay" value="1">{{.PayLabel}}</button></form>{{end}}
{{if .ApproveURL}}<a class="button pay" href="{{.ApproveURL}}">{{.PayLabel}}</a>{{end}}
<a class="button" href="{{.CancelURL}}">Cancel</a>
{{if .Done}}<p class="note">{{.Done}}</p>{{end}}</main></body></html>`))

type pageData struct {
	Title, Provider, Description, Amount, Color, PayLabel, PayURL, ApproveURL, CancelURL, Done string
}

func (s *Sandbox) stripePage(w http.ResponseWriter, r *http.Request) {
	ss, ok := s.session(r.PathValue("id"))
	if !ok {
		http.Error(w, "no such sandbox Checkout Session", http.StatusNotFound)
		return
	}
	d := pageData{Title: "Stripe Checkout (sandbox)", Provider: "Stripe", Description: ss.Name,
		Amount: money(ss.Amount, ss.Currency), Color: "#635bff", PayLabel: "Pay", PayURL: s.cfg.URL + "/stripe/checkout/" + ss.ID,
		CancelURL: ss.Cancel}
	if ss.Paid {
		d.PayURL, d.Done = "", "Paid."
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	page.Execute(w, d)
}

// stripePay is the visitor paying: the session is paid, Gatehouse gets the
// signed webhook, the visitor goes back to the success URL (whose Confirm
// reads the session paid, should the webhook not have arrived).
func (s *Sandbox) stripePay(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	ss, ok := s.sessions[r.PathValue("id")]
	if ok {
		ss.Paid = true
	}
	var cp session
	if ok {
		cp = *ss
	}
	s.mu.Unlock()
	if !ok {
		http.Error(w, "no such sandbox Checkout Session", http.StatusNotFound)
		return
	}
	if err := s.StripeWebhook(r, cp); err != nil {
		// The return's Confirm completes the order all the same.
		fmt.Printf("sandbox: Stripe webhook for %s: %v\n", cp.Order, err)
	}
	http.Redirect(w, r, cp.Success, http.StatusSeeOther)
}

// StripeWebhook sends Gatehouse checkout.session.completed for a paid
// session, signed with StripeWebhookSecret.
func (s *Sandbox) StripeWebhook(r *http.Request, ss session) error {
	if s.cfg.Gatehouse == "" {
		return nil
	}
	body := stripetest.SessionEvent("evt_sandbox_"+ss.ID, "checkout.session.completed", stripetest.Session{
		ID: ss.ID, OrderNumber: ss.Order, Amount: ss.Amount, Currency: ss.Currency, PaymentStatus: "paid", Status: "complete"})
	req, err := http.NewRequestWithContext(r.Context(), http.MethodPost, s.cfg.Gatehouse+"/webhooks/stripe", bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Stripe-Signature", stripetest.Sign(body, StripeWebhookSecret, time.Now()))
	resp, err := s.cfg.Client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return fmt.Errorf("%s: %s", resp.Status, strings.TrimSpace(string(b)))
	}
	return nil
}

// paypalPage is PayPal's approval page: the fake approves at once on GET,
// so the visitor first chooses here.
func (s *Sandbox) paypalPage(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	if q.Get("approve") == "1" || q.Get("cancel") == "1" {
		http.StripPrefix("/paypal", s.paypal).ServeHTTP(w, r)
		return
	}
	id := q.Get("token")
	o, ok := s.PayPal.Order(id)
	if !ok {
		http.Error(w, "no such order", http.StatusNotFound)
		return
	}
	base := s.cfg.URL + "/paypal/checkoutnow?token=" + url.QueryEscape(id)
	d := pageData{Title: "PayPal (sandbox)", Provider: "PayPal", Description: o.Description,
		Amount: o.Value + " " + o.Currency, Color: "#0070ba", PayLabel: "Approve and pay", ApproveURL: base + "&approve=1",
		CancelURL: base + "&cancel=1"}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	page.Execute(w, d)
}

func money(minor int64, cur string) string {
	return fmt.Sprintf("%d.%02d %s", minor/100, minor%100, strings.ToUpper(cur))
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(v)
}

func writeRaw(w http.ResponseWriter, status int, hdr http.Header, body []byte) {
	if ct := hdr.Get("Content-Type"); ct != "" {
		w.Header().Set("Content-Type", ct)
	}
	w.WriteHeader(status)
	w.Write(body)
}

func mustParse(s string) *url.URL {
	u, _ := url.Parse(s)
	return u
}
