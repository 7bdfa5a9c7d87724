// Package billing holds the money rules of Gatehouse — prices, orders and
// their states, coupons, invoices — and the payment providers (Stripe,
// PayPal) behind one interface.
package billing

import (
	"context"
	"net/http"
)

// CheckoutRequest describes what to charge at a provider.
type CheckoutRequest struct {
	OrderNumber string
	Description string
	Amount      int64  // minor units
	Currency    string // ISO 4217
	ReturnURL   string // the payer comes back here after approving
	CancelURL   string // … or here after giving up
	PayerEmail  string
}

// Checkout is a payment started at a provider.
type Checkout struct {
	ProviderRef string // Stripe Checkout Session id, PayPal order id
	RedirectURL string // where the payer approves the payment
}

// EventKind says what a provider reports about a payment.
type EventKind string

const (
	EventPaid    EventKind = "paid"    // the money is captured
	EventFailed  EventKind = "failed"  // the payment will not happen
	EventPending EventKind = "pending" // approved or processing, not captured yet
	EventIgnored EventKind = "ignored" // an event we do not act on
)

// Event is a provider's verified statement about a payment.
type Event struct {
	ID          string // the provider's event id: a repeat carries the same id
	Kind        EventKind
	OrderNumber string // from the payment's metadata / custom id
	ProviderRef string
	Amount      int64
	Currency    string
}

// Provider is a payment method run by a third party.
type Provider interface {
	Name() string // "stripe" or "paypal"
	// StartCheckout creates the payment and returns where to send the payer.
	StartCheckout(ctx context.Context, r CheckoutRequest) (Checkout, error)
	// VerifyWebhook checks a webhook's signature (over the raw body) and
	// parses it; an unverifiable webhook is an error.
	VerifyWebhook(ctx context.Context, header http.Header, body []byte) (Event, error)
	// Confirm asks the provider for the state of a payment when the payer
	// returns (PayPal: captures an approved order).
	Confirm(ctx context.Context, providerRef string) (Event, error)
}

// SignatureHeaders names the request headers that carry a webhook's
// signature, for every provider: the transports hand their values to the
// provider's VerifyWebhook, and nothing else of the request.
var SignatureHeaders = []string{
	"Stripe-Signature",
	"PAYPAL-AUTH-ALGO", "PAYPAL-CERT-URL", "PAYPAL-TRANSMISSION-ID", "PAYPAL-TRANSMISSION-SIG", "PAYPAL-TRANSMISSION-TIME",
}

// ProviderLabel is a provider's name as users know it.
func ProviderLabel(name string) string {
	switch name {
	case "stripe":
		return "Stripe"
	case "paypal":
		return "PayPal"
	}
	return name
}
