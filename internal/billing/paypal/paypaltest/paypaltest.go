// Package paypaltest is a fake of the parts of PayPal's REST API that
// Gatehouse uses, following PayPal's published API: the OAuth2 token
// endpoint, Orders v2 (create, get, capture), the payer's approval page and
// webhook signature verification. Use it in tests instead of the sandbox:
//
//	pp := paypaltest.New(t)                  // stops when the test ends
//	prov, _ := paypal.New(pp.Config())       // or GATEHOUSE_PAYPAL_API_URL=pp.URL, with ClientID/Secret/WebhookID
//	co, _ := prov.StartCheckout(ctx, req)    // co.RedirectURL is pp.URL+"/checkoutnow?token=<id>"
//	pp.Approve(co.ProviderRef)               // the payer approves (or GET co.RedirectURL in a browser:
//	                                         // it approves and redirects to return_url?token=<id>&PayerID=…)
//	ev, _ := prov.Confirm(ctx, co.ProviderRef) // captures → EventPaid
//	h, body := pp.CaptureWebhook(co.ProviderRef) // PAYMENT.CAPTURE.COMPLETED, signed: VerifyWebhook accepts it
//	h, body = pp.ForgedWebhook(...)          // verify-webhook-signature answers FAILURE
//
// Errors are answered as PayPal documents them: 401 invalid_client for bad
// client credentials, 401 AUTHENTICATION_FAILURE for a bad or expired
// token, 400 INVALID_REQUEST and 422 UNPROCESSABLE_ENTITY with
// details[].issue (MISSING_REQUIRED_PARAMETER, CURRENCY_NOT_SUPPORTED,
// DECIMAL_PRECISION, CANNOT_BE_ZERO_OR_NEGATIVE, ORDER_NOT_APPROVED,
// ORDER_ALREADY_CAPTURED), 404 RESOURCE_NOT_FOUND (INVALID_RESOURCE_ID).
package paypaltest

import (
	"bytes"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"hash/crc32"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/billing/paypal"
)

// The fake's credentials (Config() fills them in).
const (
	ClientID  = "gatehouse-test-client"
	Secret    = "gatehouse-test-secret"
	WebhookID = "1JE4291016473214C"
)

// Server is a running fake PayPal.
type Server struct {
	URL string
	// TokenLifetime is expires_in of new tokens (default 32400 s as PayPal).
	TokenLifetime time.Duration

	srv     *httptest.Server
	sigKey  []byte
	mu      sync.Mutex
	tokens  map[string]time.Time
	orders  map[string]*Order
	calls   map[string]int
	refuse  struct{ suffix, text string } // see Refuse
	seq     int
	captSeq int
}

// Order is the fake's record of a PayPal order.
type Order struct {
	ID          string
	Status      string // PAYER_ACTION_REQUIRED → APPROVED → COMPLETED, or VOIDED
	ReferenceID string
	CustomID    string
	Description string
	Currency    string
	Value       string
	ReturnURL   string
	CancelURL   string
	CaptureID   string
	// CaptureStatus is the status the capture gets (default COMPLETED); set
	// it with SetCaptureStatus before capturing to get PENDING or DECLINED.
	CaptureStatus string
}

// New starts a fake PayPal for the test.
func New(t testing.TB) *Server {
	s := newServer()
	s.srv = httptest.NewServer(s.handler())
	s.URL = s.srv.URL
	t.Cleanup(s.srv.Close)
	return s
}

// NewHandler is the fake outside a test — the sandbox payment mode of
// `make run` serves it: base is the URL its handler is reached at (its
// approval links point there), e.g. "http://127.0.0.1:8070/paypal" with the
// handler mounted under /paypal/ by http.StripPrefix.
func NewHandler(base string) (*Server, http.Handler) {
	s := newServer()
	s.URL = strings.TrimRight(base, "/")
	return s, s.handler()
}

func newServer() *Server {
	return &Server{TokenLifetime: 32400 * time.Second, tokens: map[string]time.Time{},
		orders: map[string]*Order{}, calls: map[string]int{}, sigKey: randomBytes(32)}
}

func (s *Server) handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/oauth2/token", s.token)
	mux.HandleFunc("POST /v2/checkout/orders", s.auth(s.createOrder))
	mux.HandleFunc("GET /v2/checkout/orders/{id}", s.auth(s.getOrder))
	mux.HandleFunc("POST /v2/checkout/orders/{id}/capture", s.auth(s.capture))
	mux.HandleFunc("POST /v1/notifications/verify-webhook-signature", s.auth(s.verify))
	mux.HandleFunc("GET /checkoutnow", s.checkoutPage)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		rf := s.refuse
		s.mu.Unlock()
		if rf.suffix != "" && r.Method == "POST" && strings.HasSuffix(r.URL.Path, rf.suffix) {
			writeError(w, http.StatusUnprocessableEntity, "UNPROCESSABLE_ENTITY", rf.text, Detail{Issue: rf.text, Description: rf.text})
			return
		}
		mux.ServeHTTP(w, r)
	})
}

// Refuse makes the fake refuse every POST whose path ends in suffix (e.g.
// "/v2/checkout/orders", "/capture"; "" stops refusing) with a 422 whose
// message and issue carry text: what a test checks reaches the log and
// never a user.
func (s *Server) Refuse(suffix, text string) {
	s.mu.Lock()
	s.refuse.suffix, s.refuse.text = suffix, text
	s.mu.Unlock()
}

// Config is a paypal.Config pointing at the fake with valid credentials.
func (s *Server) Config() paypal.Config {
	return paypal.Config{ClientID: ClientID, Secret: Secret, WebhookID: WebhookID, BaseURL: s.URL}
}

// Calls answers how many requests reached an endpoint, named like
// "POST /v1/oauth2/token" or "POST /v2/checkout/orders/{id}/capture".
func (s *Server) Calls(endpoint string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls[endpoint]
}

// Order answers a copy of an order, ok false when there is none.
func (s *Server) Order(id string) (Order, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	o, ok := s.orders[id]
	if !ok {
		return Order{}, false
	}
	return *o, true
}

// Approve is the payer approving the order on PayPal's page.
func (s *Server) Approve(id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	o, ok := s.orders[id]
	if !ok {
		return fmt.Errorf("paypaltest: no order %s", id)
	}
	if o.Status != "PAYER_ACTION_REQUIRED" && o.Status != "CREATED" {
		return fmt.Errorf("paypaltest: order %s is %s", id, o.Status)
	}
	o.Status = "APPROVED"
	return nil
}

// SetCaptureStatus makes the order's capture end in status (COMPLETED,
// PENDING, DECLINED).
func (s *Server) SetCaptureStatus(id, status string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if o, ok := s.orders[id]; ok {
		o.CaptureStatus = status
	}
}

// ExpireTokens makes every issued token invalid (as if it had expired).
func (s *Server) ExpireTokens() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.tokens = map[string]time.Time{}
}

// checkoutPage is PayPal's approval page: it approves and sends the payer
// to return_url?token=<id>&PayerID=…; with cancel=1 it sends them to
// cancel_url?token=<id>.
func (s *Server) checkoutPage(w http.ResponseWriter, r *http.Request) {
	s.count("GET /checkoutnow")
	id := r.URL.Query().Get("token")
	o, ok := s.Order(id)
	if !ok {
		http.Error(w, "no such order", http.StatusNotFound)
		return
	}
	target, q := o.ReturnURL, url.Values{"token": {id}}
	if r.URL.Query().Get("cancel") == "1" {
		target = o.CancelURL
	} else {
		if err := s.Approve(id); err != nil && o.Status != "APPROVED" {
			http.Error(w, err.Error(), http.StatusConflict)
			return
		}
		q.Set("PayerID", "FAKEPAYER123")
	}
	sep := "?"
	if strings.Contains(target, "?") {
		sep = "&"
	}
	http.Redirect(w, r, target+sep+q.Encode(), http.StatusFound)
}

func (s *Server) count(endpoint string) {
	s.mu.Lock()
	s.calls[endpoint]++
	s.mu.Unlock()
}

func debugID() string { return hex.EncodeToString(randomBytes(7)) }

func randomBytes(n int) []byte {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return b
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Paypal-Debug-Id", debugID())
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// Detail is one entry of an error's details[].
type Detail struct {
	Field       string `json:"field,omitempty"`
	Value       string `json:"value,omitempty"`
	Location    string `json:"location,omitempty"`
	Issue       string `json:"issue"`
	Description string `json:"description,omitempty"`
}

func writeError(w http.ResponseWriter, status int, name, message string, details ...Detail) {
	body := map[string]any{"name": name, "message": message, "debug_id": debugID()}
	if len(details) > 0 {
		body["details"] = details
	}
	writeJSON(w, status, body)
}

func invalidRequest(w http.ResponseWriter, d ...Detail) {
	writeError(w, 400, "INVALID_REQUEST", "Request is not well-formed, syntactically incorrect, or violates schema.", d...)
}

func unprocessable(w http.ResponseWriter, d ...Detail) {
	writeError(w, 422, "UNPROCESSABLE_ENTITY", "The requested action could not be performed, semantically incorrect, or failed business validation.", d...)
}

func (s *Server) token(w http.ResponseWriter, r *http.Request) {
	s.count("POST /v1/oauth2/token")
	id, secret, ok := r.BasicAuth()
	if !ok || id != ClientID || secret != Secret {
		writeJSON(w, 401, map[string]string{"error": "invalid_client", "error_description": "Client Authentication failed"})
		return
	}
	if !strings.HasPrefix(r.Header.Get("Content-Type"), "application/x-www-form-urlencoded") {
		writeJSON(w, 415, map[string]string{"error": "invalid_request", "error_description": "Unsupported content type"})
		return
	}
	if err := r.ParseForm(); err != nil || r.PostForm.Get("grant_type") == "" {
		writeJSON(w, 400, map[string]string{"error": "unsupported_grant_type", "error_description": "Grant Type is NULL"})
		return
	}
	if r.PostForm.Get("grant_type") != "client_credentials" {
		writeJSON(w, 400, map[string]string{"error": "unsupported_grant_type", "error_description": "unsupported grant_type"})
		return
	}
	tok := "A21AA" + hex.EncodeToString(randomBytes(24))
	s.mu.Lock()
	life := s.TokenLifetime
	s.tokens[tok] = time.Now().Add(life)
	s.mu.Unlock()
	writeJSON(w, 200, map[string]any{
		"scope":        "https://uri.paypal.com/services/payments/payment https://uri.paypal.com/services/applications/webhooks",
		"access_token": tok, "token_type": "Bearer", "app_id": "APP-80W284485P519543T",
		"expires_in": int64(life / time.Second), "nonce": time.Now().UTC().Format(time.RFC3339) + debugID(),
	})
}

func (s *Server) auth(next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		s.count(r.Pattern)
		tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		s.mu.Lock()
		exp, known := s.tokens[tok]
		s.mu.Unlock()
		if !ok || !known || time.Now().After(exp) {
			writeJSON(w, 401, map[string]any{"name": "AUTHENTICATION_FAILURE",
				"message": "Authentication failed due to invalid authentication credentials or a missing Authorization header.",
				"links":   []map[string]string{{"href": "https://developer.paypal.com/docs/api/overview/#error", "rel": "information_link"}}})
			return
		}
		if r.Method == "POST" && !strings.HasPrefix(r.Header.Get("Content-Type"), "application/json") {
			writeError(w, 415, "UNSUPPORTED_MEDIA_TYPE", "The server does not support the request payload's media type.")
			return
		}
		next(w, r)
	}
}

type money struct {
	CurrencyCode string `json:"currency_code"`
	Value        string `json:"value"`
}

// PayPal's currencies and whether they take decimals.
var currencies = map[string]bool{
	"AUD": true, "BRL": true, "CAD": true, "CNY": true, "CZK": true, "DKK": true, "EUR": true, "HKD": true,
	"HUF": false, "ILS": true, "JPY": false, "MYR": true, "MXN": true, "TWD": false, "NZD": true, "NOK": true,
	"PHP": true, "PLN": true, "GBP": true, "RUB": true, "SGD": true, "SEK": true, "CHF": true, "THB": true, "USD": true,
}

var valueRE = regexp.MustCompile(`^((-?[0-9]+)|(-?([0-9]+)?[.][0-9]+))$`)

func (s *Server) createOrder(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Intent        string `json:"intent"`
		PurchaseUnits []struct {
			ReferenceID string `json:"reference_id"`
			CustomID    string `json:"custom_id"`
			InvoiceID   string `json:"invoice_id"`
			Description string `json:"description"`
			Amount      *money `json:"amount"`
		} `json:"purchase_units"`
		PaymentSource *struct {
			PayPal *struct {
				ExperienceContext *struct {
					ReturnURL string `json:"return_url"`
					CancelURL string `json:"cancel_url"`
				} `json:"experience_context"`
			} `json:"paypal"`
		} `json:"payment_source"`
		ApplicationContext *struct {
			ReturnURL string `json:"return_url"`
			CancelURL string `json:"cancel_url"`
		} `json:"application_context"`
	}
	dec := json.NewDecoder(r.Body)
	if err := dec.Decode(&req); err != nil {
		invalidRequest(w, Detail{Issue: "MALFORMED_REQUEST_JSON", Description: "The request JSON is not well formed."})
		return
	}
	switch {
	case req.Intent == "":
		invalidRequest(w, Detail{Field: "/intent", Location: "body", Issue: "MISSING_REQUIRED_PARAMETER", Description: "A required field / parameter is missing."})
		return
	case req.Intent != "CAPTURE" && req.Intent != "AUTHORIZE":
		invalidRequest(w, Detail{Field: "/intent", Value: req.Intent, Location: "body", Issue: "INVALID_PARAMETER_VALUE", Description: "The value of a field is invalid."})
		return
	case len(req.PurchaseUnits) == 0:
		invalidRequest(w, Detail{Field: "/purchase_units", Location: "body", Issue: "MISSING_REQUIRED_PARAMETER", Description: "A required field / parameter is missing."})
		return
	case len(req.PurchaseUnits) > 10:
		invalidRequest(w, Detail{Field: "/purchase_units", Location: "body", Issue: "INVALID_ARRAY_MAX_ITEMS", Description: "The number of items in an array parameter is too large."})
		return
	}
	pu := req.PurchaseUnits[0]
	if pu.Amount == nil || pu.Amount.CurrencyCode == "" || pu.Amount.Value == "" {
		invalidRequest(w, Detail{Field: "/purchase_units/@reference_id=='" + pu.ReferenceID + "'/amount", Location: "body", Issue: "MISSING_REQUIRED_PARAMETER", Description: "A required field / parameter is missing."})
		return
	}
	if len(pu.CustomID) > 127 || len(pu.Description) > 127 || len(pu.ReferenceID) > 256 || len(pu.InvoiceID) > 127 {
		invalidRequest(w, Detail{Field: "/purchase_units/0", Location: "body", Issue: "INVALID_STRING_LENGTH", Description: "The value of a field is either too short or too long."})
		return
	}
	if !valueRE.MatchString(pu.Amount.Value) {
		invalidRequest(w, Detail{Field: "/purchase_units/0/amount/value", Value: pu.Amount.Value, Location: "body", Issue: "INVALID_PARAMETER_SYNTAX", Description: "The value of a field does not conform to the expected format."})
		return
	}
	decimals, ok := currencies[pu.Amount.CurrencyCode]
	if !ok {
		unprocessable(w, Detail{Field: "/purchase_units/@reference_id=='" + pu.ReferenceID + "'/amount/currency_code", Value: pu.Amount.CurrencyCode, Location: "body", Issue: "CURRENCY_NOT_SUPPORTED", Description: "Currency code is not currently supported. Please refer https://developer.paypal.com/docs/api/reference/currency-codes/ for list of supported currency codes."})
		return
	}
	if _, frac, has := strings.Cut(pu.Amount.Value, "."); has && (!decimals || len(frac) > 2) {
		unprocessable(w, Detail{Field: "/purchase_units/@reference_id=='" + pu.ReferenceID + "'/amount/value", Value: pu.Amount.Value, Location: "body", Issue: "DECIMAL_PRECISION", Description: "If the currency supports decimals, only two decimal place precision is supported."})
		return
	}
	if strings.HasPrefix(pu.Amount.Value, "-") || strings.Trim(pu.Amount.Value, "0.") == "" {
		unprocessable(w, Detail{Field: "/purchase_units/@reference_id=='" + pu.ReferenceID + "'/amount/value", Value: pu.Amount.Value, Location: "body", Issue: "CANNOT_BE_ZERO_OR_NEGATIVE", Description: "Must be greater than zero. If the currency supports decimals, only two decimal place precision is supported."})
		return
	}
	o := &Order{Status: "CREATED", ReferenceID: pu.ReferenceID, CustomID: pu.CustomID, Description: pu.Description,
		Currency: pu.Amount.CurrencyCode, Value: pu.Amount.Value, CaptureStatus: "COMPLETED"}
	approveRel := "approve"
	if ps := req.PaymentSource; ps != nil && ps.PayPal != nil && ps.PayPal.ExperienceContext != nil {
		o.ReturnURL, o.CancelURL = ps.PayPal.ExperienceContext.ReturnURL, ps.PayPal.ExperienceContext.CancelURL
		o.Status, approveRel = "PAYER_ACTION_REQUIRED", "payer-action"
	} else if ac := req.ApplicationContext; ac != nil {
		o.ReturnURL, o.CancelURL = ac.ReturnURL, ac.CancelURL
	}
	s.mu.Lock()
	s.seq++
	o.ID = fmt.Sprintf("%dGH%09dT", 5+s.seq%4, s.seq)
	s.orders[o.ID] = o
	body := s.orderJSON(o, approveRel)
	s.mu.Unlock()
	writeJSON(w, 201, body)
}

// orderJSON renders an order as Orders v2 does; s.mu is held.
func (s *Server) orderJSON(o *Order, approveRel string) map[string]any {
	pu := map[string]any{"reference_id": o.ReferenceID, "custom_id": o.CustomID, "description": o.Description,
		"amount": money{o.Currency, o.Value}}
	if o.CaptureID != "" {
		pu["payments"] = map[string]any{"captures": []any{s.captureJSON(o)}}
	}
	links := []map[string]string{{"href": s.URL + "/v2/checkout/orders/" + o.ID, "rel": "self", "method": "GET"}}
	if o.Status == "CREATED" || o.Status == "PAYER_ACTION_REQUIRED" {
		links = append(links, map[string]string{"href": s.URL + "/checkoutnow?token=" + o.ID, "rel": approveRel, "method": "GET"})
	}
	if o.Status == "APPROVED" {
		links = append(links, map[string]string{"href": s.URL + "/v2/checkout/orders/" + o.ID + "/capture", "rel": "capture", "method": "POST"})
	}
	return map[string]any{"id": o.ID, "intent": "CAPTURE", "status": o.Status,
		"purchase_units": []any{pu}, "links": links}
}

func (s *Server) captureJSON(o *Order) map[string]any {
	return map[string]any{"id": o.CaptureID, "status": o.CaptureStatus, "amount": money{o.Currency, o.Value},
		"custom_id": o.CustomID, "final_capture": true,
		"supplementary_data": map[string]any{"related_ids": map[string]string{"order_id": o.ID}}}
}

func notFound(w http.ResponseWriter, id string) {
	writeError(w, 404, "RESOURCE_NOT_FOUND", "The specified resource does not exist.", Detail{Field: "order_id", Value: id, Location: "path",
		Issue: "INVALID_RESOURCE_ID", Description: "Specified resource ID does not exist. Please check the resource ID and try again."})
}

func (s *Server) getOrder(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	o, ok := s.orders[r.PathValue("id")]
	var body map[string]any
	if ok {
		body = s.orderJSON(o, "payer-action")
	}
	s.mu.Unlock()
	if !ok {
		notFound(w, r.PathValue("id"))
		return
	}
	writeJSON(w, 200, body)
}

func (s *Server) capture(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	s.mu.Lock()
	defer s.mu.Unlock()
	o, ok := s.orders[id]
	switch {
	case !ok:
		notFound(w, id)
	case o.CaptureID != "":
		unprocessable(w, Detail{Issue: "ORDER_ALREADY_CAPTURED", Description: "Order already captured.If 'intent=CAPTURE' only one capture per order is allowed."})
	case o.Status != "APPROVED":
		unprocessable(w, Detail{Issue: "ORDER_NOT_APPROVED", Description: "Payer has not yet approved the Order for payment. Please redirect the payer to the 'rel':'approve' url returned as part of the HATEOAS links within the Create Order call or provide a valid payment_source in the request."})
	default:
		s.captSeq++
		o.CaptureID = fmt.Sprintf("3C%014dF", s.captSeq)
		o.Status = "COMPLETED"
		writeJSON(w, 201, s.orderJSON(o, ""))
	}
}

// Webhook is an event body as PayPal posts it.
func (s *Server) eventBody(eventType string, resource map[string]any) []byte {
	b, _ := json.Marshal(map[string]any{
		"id": "WH-" + strings.ToUpper(hex.EncodeToString(randomBytes(8))), "event_version": "1.0",
		"create_time": time.Now().UTC().Format(time.RFC3339), "resource_type": strings.ToLower(strings.SplitN(eventType, ".", 3)[1]),
		"event_type": eventType, "summary": eventType, "resource": resource,
	})
	return b
}

// CaptureWebhook is a signed PAYMENT.CAPTURE.COMPLETED for a captured
// order (or PAYMENT.CAPTURE.DENIED / .PENDING… as eventType says with
// WebhookFor). It panics when the order has no capture.
func (s *Server) CaptureWebhook(orderID string) (http.Header, []byte) {
	return s.WebhookFor("PAYMENT.CAPTURE.COMPLETED", orderID)
}

// WebhookFor is a signed webhook of eventType about the order: capture
// events carry the capture (with supplementary_data.related_ids.order_id),
// CHECKOUT.ORDER.* the order.
func (s *Server) WebhookFor(eventType, orderID string) (http.Header, []byte) {
	s.mu.Lock()
	o, ok := s.orders[orderID]
	if !ok {
		s.mu.Unlock()
		panic("paypaltest: no order " + orderID)
	}
	var res map[string]any
	if strings.HasPrefix(eventType, "PAYMENT.CAPTURE.") {
		c := *o
		if c.CaptureID == "" {
			c.CaptureID = "3C00000000000000X"
		}
		res = s.captureJSON(&c)
		res["status"] = strings.TrimPrefix(eventType, "PAYMENT.CAPTURE.")
	} else {
		res = s.orderJSON(o, "payer-action")
	}
	s.mu.Unlock()
	body := s.eventBody(eventType, res)
	return s.Sign(body), body
}

// Sign is the transmission headers PayPal would send with body; the fake's
// verify endpoint answers SUCCESS for them (for this webhook id and this
// exact body).
func (s *Server) Sign(body []byte) http.Header {
	h := http.Header{}
	id := uuid()
	ts := time.Now().UTC().Format(time.RFC3339)
	h.Set("Paypal-Transmission-Id", id)
	h.Set("Paypal-Transmission-Time", ts)
	h.Set("Paypal-Auth-Algo", "SHA256withRSA")
	h.Set("Paypal-Cert-Url", s.URL+"/v1/notifications/certs/CERT-360caa42-fca2a594-1d93a270")
	h.Set("Paypal-Transmission-Sig", s.signature(id, ts, WebhookID, body))
	h.Set("Content-Type", "application/json")
	return h
}

// ForgedWebhook is a webhook whose signature does not hold: the fake's
// verify endpoint answers FAILURE.
func (s *Server) ForgedWebhook(eventType, orderID string) (http.Header, []byte) {
	h, body := s.WebhookFor(eventType, orderID)
	h.Set("Paypal-Transmission-Sig", base64.StdEncoding.EncodeToString(randomBytes(32)))
	return h, body
}

func uuid() string {
	b := randomBytes(16)
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:])
}

// signature stands in for PayPal's RSA signature over
// "<transmission_id>|<transmission_time>|<webhook_id>|<crc32 of body>".
func (s *Server) signature(id, ts, webhookID string, body []byte) string {
	m := hmac.New(sha256.New, s.sigKey)
	fmt.Fprintf(m, "%s|%s|%s|%d", id, ts, webhookID, crc32.ChecksumIEEE(body))
	return base64.StdEncoding.EncodeToString(m.Sum(nil))
}

func (s *Server) verify(w http.ResponseWriter, r *http.Request) {
	var req struct {
		AuthAlgo         string          `json:"auth_algo"`
		CertURL          string          `json:"cert_url"`
		TransmissionID   string          `json:"transmission_id"`
		TransmissionSig  string          `json:"transmission_sig"`
		TransmissionTime string          `json:"transmission_time"`
		WebhookID        string          `json:"webhook_id"`
		WebhookEvent     json.RawMessage `json:"webhook_event"`
	}
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		writeError(w, 400, "VALIDATION_ERROR", "Invalid request - see details", Detail{Issue: "MALFORMED_REQUEST_JSON"})
		return
	}
	var missing []Detail
	for f, v := range map[string]string{"auth_algo": req.AuthAlgo, "cert_url": req.CertURL, "transmission_id": req.TransmissionID,
		"transmission_sig": req.TransmissionSig, "transmission_time": req.TransmissionTime, "webhook_id": req.WebhookID} {
		if v == "" {
			missing = append(missing, Detail{Field: f, Issue: "Required field cannot be blank"})
		}
	}
	if len(req.WebhookEvent) == 0 || string(req.WebhookEvent) == "null" {
		missing = append(missing, Detail{Field: "webhook_event", Issue: "Required field cannot be blank"})
	}
	if len(missing) > 0 {
		writeError(w, 400, "VALIDATION_ERROR", "Invalid request - see details", missing...)
		return
	}
	// PayPal signs the body it sent; the client must pass the event on
	// unchanged (whitespace aside) for the CRC to match.
	var compact bytes.Buffer
	if err := json.Compact(&compact, req.WebhookEvent); err != nil {
		writeError(w, 400, "VALIDATION_ERROR", "Invalid request - see details", Detail{Field: "webhook_event", Issue: "Invalid JSON"})
		return
	}
	status := "FAILURE"
	if req.WebhookID == WebhookID && req.AuthAlgo == "SHA256withRSA" && strings.HasPrefix(req.CertURL, s.URL+"/") {
		for _, body := range [][]byte{req.WebhookEvent, compact.Bytes()} {
			if hmac.Equal([]byte(s.signature(req.TransmissionID, req.TransmissionTime, req.WebhookID, body)), []byte(req.TransmissionSig)) {
				status = "SUCCESS"
			}
		}
	}
	writeJSON(w, 200, map[string]string{"verification_status": status})
}
