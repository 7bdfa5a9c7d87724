// Package stripe is Gatehouse's Stripe payment provider: a Checkout Session
// per payment (github.com/stripe/stripe-go/v85), webhooks verified with the
// SDK's signature check over the raw body.
package stripe

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	sgo "github.com/stripe/stripe-go/v85"
	"github.com/stripe/stripe-go/v85/webhook"

	"github.com/gatehouse-dev/gatehouse/internal/billing"
)

// Config holds the Stripe settings.
type Config struct {
	SecretKey     string // sk_live_… / sk_test_… (a restricted rk_… key works too)
	WebhookSecret string // whsec_… of the webhook endpoint
	BackendURL    string // base URL of the API; empty = https://api.stripe.com (set for stripe-mock)
	// HTTPClient is used for API calls; nil = a client with a 30 s timeout.
	HTTPClient *http.Client
}

// Provider implements billing.Provider with Stripe Checkout.
type Provider struct {
	client        *sgo.Client
	webhookSecret string
}

var _ billing.Provider = (*Provider)(nil)

// New checks the configuration and builds the provider.
func New(cfg Config) (*Provider, error) {
	if strings.TrimSpace(cfg.SecretKey) == "" {
		return nil, errors.New("stripe: secret key is required")
	}
	if strings.TrimSpace(cfg.WebhookSecret) == "" {
		return nil, errors.New("stripe: webhook secret is required")
	}
	hc := cfg.HTTPClient
	if hc == nil {
		hc = &http.Client{Timeout: 30 * time.Second}
	}
	bc := &sgo.BackendConfig{
		HTTPClient:    hc,
		LeveledLogger: &sgo.LeveledLogger{Level: sgo.LevelNull},
	}
	if cfg.BackendURL != "" {
		bc.URL = sgo.String(strings.TrimRight(cfg.BackendURL, "/"))
	}
	return &Provider{
		client:        sgo.NewClient(cfg.SecretKey, sgo.WithBackends(sgo.NewBackendsWithConfig(bc))),
		webhookSecret: cfg.WebhookSecret,
	}, nil
}

// Name answers "stripe".
func (p *Provider) Name() string { return "stripe" }

// StartCheckout creates a Checkout Session in payment mode with one line item
// (the order's description and amount), client_reference_id and
// metadata.order_number set to the order number, and returns the session id
// and its hosted URL.
func (p *Provider) StartCheckout(ctx context.Context, r billing.CheckoutRequest) (billing.Checkout, error) {
	if err := validate(r); err != nil {
		return billing.Checkout{}, err
	}
	desc := r.Description
	if strings.TrimSpace(desc) == "" {
		desc = "Order " + r.OrderNumber
	}
	params := &sgo.CheckoutSessionCreateParams{
		Mode:              sgo.String(string(sgo.CheckoutSessionModePayment)),
		SuccessURL:        sgo.String(r.ReturnURL),
		CancelURL:         sgo.String(r.CancelURL),
		ClientReferenceID: sgo.String(r.OrderNumber),
		Metadata:          map[string]string{"order_number": r.OrderNumber},
		LineItems: []*sgo.CheckoutSessionCreateLineItemParams{{
			Quantity: sgo.Int64(1),
			PriceData: &sgo.CheckoutSessionCreateLineItemPriceDataParams{
				Currency:   sgo.String(strings.ToLower(r.Currency)),
				UnitAmount: sgo.Int64(r.Amount),
				ProductData: &sgo.CheckoutSessionCreateLineItemPriceDataProductDataParams{
					Name: sgo.String(desc),
				},
			},
		}},
		// The payment intent carries the order number too, so it shows in
		// the Stripe dashboard next to the charge.
		PaymentIntentData: &sgo.CheckoutSessionCreatePaymentIntentDataParams{
			Metadata: map[string]string{"order_number": r.OrderNumber},
		},
	}
	if r.PayerEmail != "" {
		params.CustomerEmail = sgo.String(r.PayerEmail)
	}
	s, err := p.client.V1CheckoutSessions.Create(ctx, params)
	if err != nil {
		return billing.Checkout{}, apiError("create checkout session", err)
	}
	if s.ID == "" || s.URL == "" {
		return billing.Checkout{}, errors.New("stripe: checkout session without id or url")
	}
	return billing.Checkout{ProviderRef: s.ID, RedirectURL: s.URL}, nil
}

func validate(r billing.CheckoutRequest) error {
	switch {
	case strings.TrimSpace(r.OrderNumber) == "":
		return errors.New("stripe: order number is required")
	case r.Amount <= 0:
		return errors.New("stripe: amount must be positive")
	case len(r.Currency) != 3:
		return fmt.Errorf("stripe: currency %q is not an ISO 4217 code", r.Currency)
	case r.ReturnURL == "" || r.CancelURL == "":
		return errors.New("stripe: return and cancel URLs are required")
	}
	return nil
}

// VerifyWebhook checks the Stripe-Signature header over the raw body with
// the webhook secret (default tolerance of 5 minutes) and maps the event:
//
//	checkout.session.completed (payment_status paid)      → EventPaid
//	checkout.session.completed (payment still processing) → EventPending
//	checkout.session.async_payment_succeeded              → EventPaid
//	checkout.session.async_payment_failed / .expired      → EventFailed
//	anything else                                         → EventIgnored
//
// Event.ID is Stripe's event id, so a redelivery carries the same ID. An
// error wraps billing.ErrUnverified when the signature does not hold.
//
// The event's API version is not required to equal the SDK's: the endpoint
// may be pinned to an older version, and the handful of session fields read
// here (id, payment_status, metadata, client_reference_id, amount_total,
// currency) are the same in all of them.
func (p *Provider) VerifyWebhook(_ context.Context, header http.Header, body []byte) (billing.Event, error) {
	ev, err := webhook.ConstructEventWithOptions(body, header.Get("Stripe-Signature"), p.webhookSecret,
		webhook.ConstructEventOptions{IgnoreAPIVersionMismatch: true})
	if err != nil {
		switch {
		case errors.Is(err, webhook.ErrNotSigned), errors.Is(err, webhook.ErrInvalidHeader),
			errors.Is(err, webhook.ErrNoValidSignature), errors.Is(err, webhook.ErrTooOld):
			return billing.Event{}, fmt.Errorf("stripe webhook: %w: %v", billing.ErrUnverified, err)
		}
		return billing.Event{}, fmt.Errorf("stripe webhook: %w", err)
	}
	if ev.ID == "" {
		return billing.Event{}, errors.New("stripe webhook: event without id")
	}
	out := billing.Event{ID: ev.ID, Kind: billing.EventIgnored}
	var kind billing.EventKind
	switch ev.Type {
	case "checkout.session.completed":
		kind = "" // decided by the session's payment_status below
	case "checkout.session.async_payment_succeeded":
		kind = billing.EventPaid
	case "checkout.session.async_payment_failed", "checkout.session.expired":
		kind = billing.EventFailed
	default:
		return out, nil
	}
	if ev.Data == nil || len(ev.Data.Raw) == 0 {
		return billing.Event{}, errors.New("stripe webhook: event without data.object")
	}
	var s sgo.CheckoutSession
	if err := json.Unmarshal(ev.Data.Raw, &s); err != nil {
		return billing.Event{}, fmt.Errorf("stripe webhook: bad checkout session: %w", err)
	}
	if kind == "" {
		kind = paymentKind(&s)
	}
	fillFromSession(&out, &s)
	out.Kind = kind
	return out, nil
}

// Confirm retrieves the Checkout Session and maps its state: paid → EventPaid,
// expired → EventFailed, otherwise EventPending. Event.ID is
// "session:<id>:<state>", so asking twice about the same state dedupes.
func (p *Provider) Confirm(ctx context.Context, providerRef string) (billing.Event, error) {
	if strings.TrimSpace(providerRef) == "" {
		return billing.Event{}, errors.New("stripe: empty checkout session id")
	}
	s, err := p.client.V1CheckoutSessions.Retrieve(ctx, providerRef, nil)
	if err != nil {
		return billing.Event{}, apiError("retrieve checkout session", err)
	}
	out := billing.Event{}
	fillFromSession(&out, s)
	state := string(s.PaymentStatus)
	if s.Status == sgo.CheckoutSessionStatusExpired && s.PaymentStatus != sgo.CheckoutSessionPaymentStatusPaid {
		state = "expired"
		out.Kind = billing.EventFailed
	} else {
		out.Kind = paymentKind(s)
	}
	out.ID = "session:" + s.ID + ":" + state
	return out, nil
}

func paymentKind(s *sgo.CheckoutSession) billing.EventKind {
	switch s.PaymentStatus {
	case sgo.CheckoutSessionPaymentStatusPaid, sgo.CheckoutSessionPaymentStatusNoPaymentRequired:
		return billing.EventPaid
	}
	return billing.EventPending
}

func fillFromSession(e *billing.Event, s *sgo.CheckoutSession) {
	e.ProviderRef = s.ID
	e.OrderNumber = s.Metadata["order_number"]
	if e.OrderNumber == "" {
		e.OrderNumber = s.ClientReferenceID
	}
	e.Amount = s.AmountTotal
	e.Currency = strings.ToUpper(string(s.Currency))
}

// apiError turns an SDK error into one that names the operation and Stripe's
// message (never the key).
func apiError(op string, err error) error {
	var se *sgo.Error
	if errors.As(err, &se) {
		msg := se.Msg
		if msg == "" {
			msg = string(se.Type)
		}
		return fmt.Errorf("stripe: %s: %s (HTTP %d)", op, msg, se.HTTPStatusCode)
	}
	return fmt.Errorf("stripe: %s: %w", op, err)
}

func init() {
	billing.RegisterProvider("stripe", func(s map[string]string) (billing.Provider, error) {
		return New(Config{
			SecretKey:     s["GATEHOUSE_STRIPE_SECRET_KEY"],
			WebhookSecret: s["GATEHOUSE_STRIPE_WEBHOOK_SECRET"],
			BackendURL:    s["GATEHOUSE_STRIPE_API_URL"],
		})
	})
}
