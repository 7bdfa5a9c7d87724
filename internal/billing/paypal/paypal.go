// Package paypal is Gatehouse's PayPal payment provider, a client of
// PayPal's REST API: an OAuth2 client-credentials token (cached until it
// expires), Orders v2 (create → the payer approves → capture) and webhooks
// verified through POST /v1/notifications/verify-webhook-signature.
//
// Amounts: billing amounts are minor units as ISO 4217 counts them (cents;
// yen for JPY). PayPal wants a decimal string, and refuses decimals for
// HUF, JPY and TWD, so such amounts must be whole units there.
package paypal

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/billing"
)

// SandboxURL and LiveURL are PayPal's API hosts.
const (
	SandboxURL = "https://api-m.sandbox.paypal.com"
	LiveURL    = "https://api-m.paypal.com"
)

// Config holds the PayPal REST app settings.
type Config struct {
	ClientID  string
	Secret    string
	WebhookID string // the id PayPal gave the webhook registered for this site
	BaseURL   string // default SandboxURL
	// HTTPClient is used for API calls; nil = a client with a 30 s timeout.
	HTTPClient *http.Client
}

// Provider implements billing.Provider with PayPal Orders v2.
type Provider struct {
	cfg  Config
	base string
	hc   *http.Client

	mu      sync.Mutex
	token   string
	expires time.Time
}

var _ billing.Provider = (*Provider)(nil)

// New checks the configuration and builds the provider.
func New(cfg Config) (*Provider, error) {
	for _, f := range []struct{ name, v string }{{"client id", cfg.ClientID}, {"secret", cfg.Secret}, {"webhook id", cfg.WebhookID}} {
		if strings.TrimSpace(f.v) == "" {
			return nil, fmt.Errorf("paypal: %s is required", f.name)
		}
	}
	base := strings.TrimRight(strings.TrimSpace(cfg.BaseURL), "/")
	if base == "" {
		base = SandboxURL
	}
	if u, err := url.Parse(base); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return nil, fmt.Errorf("paypal: bad API URL %q", cfg.BaseURL)
	}
	hc := cfg.HTTPClient
	if hc == nil {
		hc = &http.Client{Timeout: 30 * time.Second}
	}
	return &Provider{cfg: cfg, base: base, hc: hc}, nil
}

// Name answers "paypal".
func (p *Provider) Name() string { return "paypal" }

// APIError is an error answer of PayPal's API.
type APIError struct {
	Status  int
	Name    string // e.g. UNPROCESSABLE_ENTITY, RESOURCE_NOT_FOUND, invalid_client
	Message string
	Issues  []string // details[].issue, e.g. ORDER_NOT_APPROVED
	DebugID string
}

func (e *APIError) Error() string {
	s := fmt.Sprintf("paypal: HTTP %d %s", e.Status, e.Name)
	if len(e.Issues) > 0 {
		s += " (" + strings.Join(e.Issues, ", ") + ")"
	}
	if e.Message != "" {
		s += ": " + e.Message
	}
	if e.DebugID != "" {
		s += " [debug_id " + e.DebugID + "]"
	}
	return s
}

// HasIssue reports whether PayPal named issue among details[].issue.
func (e *APIError) HasIssue(issue string) bool {
	for _, i := range e.Issues {
		if i == issue {
			return true
		}
	}
	return false
}

func parseAPIError(status int, body []byte) *APIError {
	var b struct {
		Name             string `json:"name"`
		Message          string `json:"message"`
		DebugID          string `json:"debug_id"`
		Error            string `json:"error"`
		ErrorDescription string `json:"error_description"`
		Details          []struct {
			Issue string `json:"issue"`
		} `json:"details"`
	}
	_ = json.Unmarshal(body, &b)
	e := &APIError{Status: status, Name: b.Name, Message: b.Message, DebugID: b.DebugID}
	if e.Name == "" {
		e.Name = b.Error
	}
	if e.Message == "" {
		e.Message = b.ErrorDescription
	}
	if e.Name == "" && e.Message == "" {
		e.Message = strings.TrimSpace(string(body))
		if len(e.Message) > 200 {
			e.Message = e.Message[:200]
		}
	}
	for _, d := range b.Details {
		e.Issues = append(e.Issues, d.Issue)
	}
	return e
}

// accessToken answers the cached token or fetches a new one.
func (p *Provider) accessToken(ctx context.Context) (string, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.token != "" && time.Now().Before(p.expires) {
		return p.token, nil
	}
	req, err := http.NewRequestWithContext(ctx, "POST", p.base+"/v1/oauth2/token",
		strings.NewReader(url.Values{"grant_type": {"client_credentials"}}.Encode()))
	if err != nil {
		return "", err
	}
	req.SetBasicAuth(p.cfg.ClientID, p.cfg.Secret)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	resp, err := p.hc.Do(req)
	if err != nil {
		return "", fmt.Errorf("paypal: token: %w", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode != http.StatusOK {
		return "", parseAPIError(resp.StatusCode, body)
	}
	var t struct {
		AccessToken string `json:"access_token"`
		TokenType   string `json:"token_type"`
		ExpiresIn   int64  `json:"expires_in"`
	}
	if err := json.Unmarshal(body, &t); err != nil || t.AccessToken == "" {
		return "", errors.New("paypal: token: answer without access_token")
	}
	// Renew a minute early (or halfway for very short lives) so a request
	// never leaves with a token about to expire.
	life := time.Duration(t.ExpiresIn) * time.Second
	margin := time.Minute
	if life < 2*margin {
		margin = life / 2
	}
	p.token, p.expires = t.AccessToken, time.Now().Add(life-margin)
	return p.token, nil
}

func (p *Provider) dropToken(tok string) {
	p.mu.Lock()
	if p.token == tok {
		p.token = ""
	}
	p.mu.Unlock()
}

// call sends a JSON request with the bearer token; a 401 (token revoked or
// expired early) fetches a new token and tries once more.
func (p *Provider) call(ctx context.Context, method, path string, in any, requestID string, out any) error {
	var payload []byte
	if in != nil {
		var err error
		if payload, err = json.Marshal(in); err != nil {
			return err
		}
	}
	for attempt := 0; ; attempt++ {
		tok, err := p.accessToken(ctx)
		if err != nil {
			return err
		}
		req, err := http.NewRequestWithContext(ctx, method, p.base+path, bytes.NewReader(payload))
		if err != nil {
			return err
		}
		req.Header.Set("Authorization", "Bearer "+tok)
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Accept", "application/json")
		if requestID != "" {
			req.Header.Set("PayPal-Request-Id", requestID)
		}
		resp, err := p.hc.Do(req)
		if err != nil {
			return fmt.Errorf("paypal: %s %s: %w", method, path, err)
		}
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
		resp.Body.Close()
		if resp.StatusCode == http.StatusUnauthorized && attempt == 0 {
			p.dropToken(tok)
			continue
		}
		if resp.StatusCode < 200 || resp.StatusCode > 299 {
			return parseAPIError(resp.StatusCode, body)
		}
		if out != nil {
			if err := json.Unmarshal(body, out); err != nil {
				return fmt.Errorf("paypal: %s %s: bad answer: %w", method, path, err)
			}
		}
		return nil
	}
}

// Money is PayPal's amount object.
type Money struct {
	CurrencyCode string `json:"currency_code"`
	Value        string `json:"value"`
}

type link struct {
	Href string `json:"href"`
	Rel  string `json:"rel"`
}

type capture struct {
	ID       string `json:"id"`
	Status   string `json:"status"`
	Amount   Money  `json:"amount"`
	CustomID string `json:"custom_id"`
}

type order struct {
	ID            string `json:"id"`
	Status        string `json:"status"`
	Links         []link `json:"links"`
	PurchaseUnits []struct {
		ReferenceID string `json:"reference_id"`
		CustomID    string `json:"custom_id"`
		Amount      *Money `json:"amount"`
		Payments    struct {
			Captures []capture `json:"captures"`
		} `json:"payments"`
	} `json:"purchase_units"`
}

// StartCheckout creates an order (intent CAPTURE) with one purchase unit
// whose reference_id and custom_id are the order number, and returns the
// PayPal order id and the link where the payer approves it.
func (p *Provider) StartCheckout(ctx context.Context, r billing.CheckoutRequest) (billing.Checkout, error) {
	if strings.TrimSpace(r.OrderNumber) == "" || len(r.OrderNumber) > 127 {
		return billing.Checkout{}, errors.New("paypal: order number must be 1 to 127 characters")
	}
	if r.ReturnURL == "" || r.CancelURL == "" {
		return billing.Checkout{}, errors.New("paypal: return and cancel URLs are required")
	}
	value, err := FormatAmount(r.Amount, r.Currency)
	if err != nil {
		return billing.Checkout{}, err
	}
	desc := r.Description
	if desc == "" {
		desc = "Order " + r.OrderNumber
	}
	if rs := []rune(desc); len(rs) > 127 {
		desc = string(rs[:127])
	}
	body := map[string]any{
		"intent": "CAPTURE",
		"purchase_units": []any{map[string]any{
			"reference_id": r.OrderNumber,
			"custom_id":    r.OrderNumber,
			"invoice_id":   r.OrderNumber,
			"description":  desc,
			"amount":       Money{CurrencyCode: strings.ToUpper(r.Currency), Value: value},
		}},
		"payment_source": map[string]any{"paypal": map[string]any{
			"experience_context": map[string]any{
				"return_url":          r.ReturnURL,
				"cancel_url":          r.CancelURL,
				"user_action":         "PAY_NOW",
				"shipping_preference": "NO_SHIPPING",
			},
		}},
	}
	if r.PayerEmail != "" {
		body["payment_source"].(map[string]any)["paypal"].(map[string]any)["email_address"] = r.PayerEmail
	}
	var o order
	// No PayPal-Request-Id: paying an order again must create a new PayPal
	// order, not return the old one.
	if err := p.call(ctx, "POST", "/v2/checkout/orders", body, "", &o); err != nil {
		return billing.Checkout{}, err
	}
	for _, l := range o.Links {
		if l.Rel == "approve" || l.Rel == "payer-action" {
			return billing.Checkout{ProviderRef: o.ID, RedirectURL: l.Href}, nil
		}
	}
	return billing.Checkout{}, fmt.Errorf("paypal: order %s without an approve link", o.ID)
}

// Confirm captures an approved order (the payer has come back). It answers
// EventPaid when the capture is COMPLETED — also when the order was already
// captured (ORDER_ALREADY_CAPTURED / ALREADY_CAPTURED, e.g. by a second
// return) —, EventPending when the payer has not approved yet or the capture
// is pending, and EventFailed for a voided order or a declined capture.
// Event.ID is "order:<id>:<status>", the same however often it is asked.
func (p *Provider) Confirm(ctx context.Context, providerRef string) (billing.Event, error) {
	if strings.TrimSpace(providerRef) == "" || strings.ContainsAny(providerRef, "/?#") {
		return billing.Event{}, fmt.Errorf("paypal: bad order id %q", providerRef)
	}
	path := "/v2/checkout/orders/" + url.PathEscape(providerRef)
	var o order
	// No PayPal-Request-Id: an order is captured at most once anyway
	// (ORDER_ALREADY_CAPTURED), and a stored ORDER_NOT_APPROVED answer must
	// not be replayed once the payer has approved.
	err := p.call(ctx, "POST", path+"/capture", map[string]any{}, "", &o)
	var ae *APIError
	if errors.As(err, &ae) && ae.Status == http.StatusUnprocessableEntity &&
		(ae.HasIssue("ORDER_ALREADY_CAPTURED") || ae.HasIssue("ALREADY_CAPTURED") || ae.HasIssue("ORDER_NOT_APPROVED")) {
		// Ask for the order as it stands.
		o = order{}
		err = p.call(ctx, "GET", path, nil, "", &o)
	}
	if err != nil {
		return billing.Event{}, err
	}
	return orderEvent(&o)
}

func orderEvent(o *order) (billing.Event, error) {
	ev := billing.Event{ProviderRef: o.ID}
	state := o.Status
	var cap *capture
	if len(o.PurchaseUnits) > 0 {
		pu := o.PurchaseUnits[0]
		ev.OrderNumber = pu.CustomID
		if ev.OrderNumber == "" {
			ev.OrderNumber = pu.ReferenceID
		}
		if pu.Amount != nil {
			if amt, err := ParseAmount(pu.Amount.Value, pu.Amount.CurrencyCode); err == nil {
				ev.Amount, ev.Currency = amt, pu.Amount.CurrencyCode
			}
		}
		if cs := pu.Payments.Captures; len(cs) > 0 {
			cap = &cs[len(cs)-1]
		}
	}
	switch o.Status {
	case "COMPLETED":
		ev.Kind = billing.EventPaid
		if cap != nil {
			amt, err := ParseAmount(cap.Amount.Value, cap.Amount.CurrencyCode)
			if err != nil {
				return billing.Event{}, err
			}
			ev.Amount, ev.Currency = amt, cap.Amount.CurrencyCode
			switch cap.Status {
			case "COMPLETED":
			case "PENDING":
				ev.Kind, state = billing.EventPending, "CAPTURE_PENDING"
			case "DECLINED", "FAILED":
				ev.Kind, state = billing.EventFailed, "CAPTURE_"+cap.Status
			default:
				ev.Kind, state = billing.EventPending, "CAPTURE_"+cap.Status
			}
		}
	case "VOIDED":
		ev.Kind = billing.EventFailed
	default: // CREATED, SAVED, APPROVED, PAYER_ACTION_REQUIRED
		ev.Kind = billing.EventPending
	}
	ev.ID = "order:" + o.ID + ":" + state
	return ev, nil
}

// The transmission headers PayPal sends with a webhook.
var transmissionHeaders = []struct{ header, field string }{
	{"PAYPAL-AUTH-ALGO", "auth_algo"},
	{"PAYPAL-CERT-URL", "cert_url"},
	{"PAYPAL-TRANSMISSION-ID", "transmission_id"},
	{"PAYPAL-TRANSMISSION-SIG", "transmission_sig"},
	{"PAYPAL-TRANSMISSION-TIME", "transmission_time"},
}

// VerifyWebhook asks PayPal (POST /v1/notifications/verify-webhook-signature,
// with the transmission headers, the configured webhook id and the event as
// received) whether the webhook is genuine, and maps it:
//
//	PAYMENT.CAPTURE.COMPLETED                         → EventPaid
//	PAYMENT.CAPTURE.DENIED / PAYMENT.CAPTURE.DECLINED → EventFailed
//	CHECKOUT.ORDER.APPROVED                           → EventPending
//	anything else                                     → EventIgnored
//
// Event.ID is PayPal's event id (WH-…); a redelivery carries the same one.
// ProviderRef is the PayPal order id (supplementary_data.related_ids.order_id
// for captures), OrderNumber the custom_id. A webhook PayPal does not vouch
// for (or without its headers) is an error wrapping billing.ErrUnverified;
// PayPal unreachable is another error.
func (p *Provider) VerifyWebhook(ctx context.Context, header http.Header, body []byte) (billing.Event, error) {
	if !json.Valid(body) {
		return billing.Event{}, fmt.Errorf("paypal webhook: %w: body is not JSON", billing.ErrUnverified)
	}
	req := map[string]any{"webhook_id": p.cfg.WebhookID, "webhook_event": json.RawMessage(body)}
	for _, h := range transmissionHeaders {
		v := header.Get(h.header)
		if v == "" {
			return billing.Event{}, fmt.Errorf("paypal webhook: %w: no %s header", billing.ErrUnverified, h.header)
		}
		req[h.field] = v
	}
	var res struct {
		VerificationStatus string `json:"verification_status"`
	}
	if err := p.call(ctx, "POST", "/v1/notifications/verify-webhook-signature", req, "", &res); err != nil {
		var ae *APIError
		if errors.As(err, &ae) && ae.Status == http.StatusBadRequest {
			return billing.Event{}, fmt.Errorf("paypal webhook: %w: %v", billing.ErrUnverified, err)
		}
		return billing.Event{}, fmt.Errorf("paypal webhook: verify: %w", err)
	}
	if res.VerificationStatus != "SUCCESS" {
		return billing.Event{}, fmt.Errorf("paypal webhook: %w: verification_status %q", billing.ErrUnverified, res.VerificationStatus)
	}
	return parseEvent(body)
}

func parseEvent(body []byte) (billing.Event, error) {
	var ev struct {
		ID        string          `json:"id"`
		EventType string          `json:"event_type"`
		Resource  json.RawMessage `json:"resource"`
	}
	if err := json.Unmarshal(body, &ev); err != nil || ev.ID == "" {
		return billing.Event{}, errors.New("paypal webhook: event without id")
	}
	out := billing.Event{ID: ev.ID, Kind: billing.EventIgnored}
	switch ev.EventType {
	case "PAYMENT.CAPTURE.COMPLETED", "PAYMENT.CAPTURE.DENIED", "PAYMENT.CAPTURE.DECLINED":
		var c struct {
			capture
			SupplementaryData struct {
				RelatedIDs struct {
					OrderID string `json:"order_id"`
				} `json:"related_ids"`
			} `json:"supplementary_data"`
		}
		if err := json.Unmarshal(ev.Resource, &c); err != nil {
			return billing.Event{}, fmt.Errorf("paypal webhook: bad capture: %w", err)
		}
		out.Kind = billing.EventFailed
		if ev.EventType == "PAYMENT.CAPTURE.COMPLETED" {
			out.Kind = billing.EventPaid
		}
		out.OrderNumber = c.CustomID
		out.ProviderRef = c.SupplementaryData.RelatedIDs.OrderID
		if c.Amount.Value != "" {
			amt, err := ParseAmount(c.Amount.Value, c.Amount.CurrencyCode)
			if err != nil {
				return billing.Event{}, fmt.Errorf("paypal webhook: %w", err)
			}
			out.Amount, out.Currency = amt, c.Amount.CurrencyCode
		}
	case "CHECKOUT.ORDER.APPROVED":
		var o order
		if err := json.Unmarshal(ev.Resource, &o); err != nil {
			return billing.Event{}, fmt.Errorf("paypal webhook: bad order: %w", err)
		}
		oe, err := orderEvent(&o)
		if err != nil {
			return billing.Event{}, fmt.Errorf("paypal webhook: %w", err)
		}
		oe.ID, oe.Kind = ev.ID, billing.EventPending
		out = oe
	}
	return out, nil
}

// PayPal's currencies with the ISO 4217 digits of their minor unit and the
// decimals PayPal accepts.
var currencies = map[string]struct{ iso, paypal int }{
	"AUD": {2, 2}, "BRL": {2, 2}, "CAD": {2, 2}, "CNY": {2, 2}, "CZK": {2, 2}, "DKK": {2, 2},
	"EUR": {2, 2}, "HKD": {2, 2}, "HUF": {2, 0}, "ILS": {2, 2}, "JPY": {0, 0}, "MYR": {2, 2},
	"MXN": {2, 2}, "TWD": {2, 0}, "NZD": {2, 2}, "NOK": {2, 2}, "PHP": {2, 2}, "PLN": {2, 2},
	"GBP": {2, 2}, "RUB": {2, 2}, "SGD": {2, 2}, "SEK": {2, 2}, "CHF": {2, 2}, "THB": {2, 2},
	"USD": {2, 2},
}

// FormatAmount writes minor units as PayPal's value string: 1234 EUR →
// "12.34", 500 JPY → "500", 150000 HUF → "1500". An amount PayPal cannot
// express (fractions of a HUF or TWD) or a currency PayPal does not take is
// an error.
func FormatAmount(minor int64, currency string) (string, error) {
	c, ok := currencies[strings.ToUpper(currency)]
	if !ok {
		return "", fmt.Errorf("paypal: currency %q is not supported by PayPal", currency)
	}
	if minor <= 0 {
		return "", errors.New("paypal: amount must be positive")
	}
	unit := pow10(c.iso)
	major, frac := minor/unit, minor%unit
	if c.paypal == 0 {
		if frac != 0 {
			return "", fmt.Errorf("paypal: %s amounts must be whole units at PayPal", strings.ToUpper(currency))
		}
		return strconv.FormatInt(major, 10), nil
	}
	return fmt.Sprintf("%d.%0*d", major, c.iso, frac), nil
}

// ParseAmount reads PayPal's value string back into minor units.
func ParseAmount(value, currency string) (int64, error) {
	c, ok := currencies[strings.ToUpper(currency)]
	if !ok {
		return 0, fmt.Errorf("paypal: unknown currency %q", currency)
	}
	whole, frac, _ := strings.Cut(value, ".")
	if whole == "" || len(frac) > c.iso || strings.HasPrefix(value, "-") {
		return 0, fmt.Errorf("paypal: bad amount %q %s", value, currency)
	}
	w, err := strconv.ParseInt(whole, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("paypal: bad amount %q", value)
	}
	var f int64
	if frac != "" {
		if f, err = strconv.ParseInt(frac, 10, 64); err != nil || f < 0 {
			return 0, fmt.Errorf("paypal: bad amount %q", value)
		}
		f *= pow10(c.iso - len(frac))
	}
	return w*pow10(c.iso) + f, nil
}

func pow10(n int) int64 {
	r := int64(1)
	for ; n > 0; n-- {
		r *= 10
	}
	return r
}

func init() {
	billing.RegisterProvider("paypal", func(s map[string]string) (billing.Provider, error) {
		return New(Config{
			ClientID:  s["GATEHOUSE_PAYPAL_CLIENT_ID"],
			Secret:    s["GATEHOUSE_PAYPAL_SECRET"],
			WebhookID: s["GATEHOUSE_PAYPAL_WEBHOOK_ID"],
			BaseURL:   s["GATEHOUSE_PAYPAL_API_URL"],
		})
	})
}
