package usecase

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"

	"github.com/gatehouse-dev/gatehouse/internal/billing"
	"github.com/gatehouse-dev/gatehouse/internal/model"
)

// Billing: orders, their payment (coupons, Stripe, PayPal), the providers'
// return and webhooks, prices, coupons and billing information. The store
// checks and prices an order in the transaction that writes it; these use
// cases add the payment providers, whose answers are logged and never shown.

// CreateOrder creates a Processing order for users of one installer,
// validated and priced in the transaction that writes it.
func (c *Cases) CreateOrder(ctx context.Context, req *billing.OrderRequest) (*billing.Order, error) {
	return c.store.CreateOrder(ctx, req)
}

// CancelOrder cancels a Processing order.
func (c *Cases) CancelOrder(ctx context.Context, number string) error {
	return c.store.CancelOrder(ctx, number)
}

// DeleteOrder hides an order from the Payments list (it stays for the books).
func (c *Cases) DeleteOrder(ctx context.Context, number string) error {
	return c.store.HideOrder(ctx, number)
}

// PayInput pays an order.
type PayInput struct {
	Number  string
	Method  string   // coupon | stripe | paypal
	Coupons []string // codes, for coupon
}

// PayResult is a payment's outcome: the order, and for a provider payment
// where to send the payer to approve it.
type PayResult struct {
	Order       *billing.Order `json:"order"`
	RedirectURL string         `json:"redirect_url,omitempty"`
}

// PayOrder pays by coupon at once, or starts a Stripe / PayPal payment
// whose return and cancel pages are on the public URL.
func (c *Cases) PayOrder(ctx context.Context, in PayInput) (*PayResult, error) {
	switch in.Method {
	case "coupon":
		o, err := c.store.PayWithCoupons(ctx, in.Number, in.Coupons)
		if err != nil {
			return nil, err
		}
		return &PayResult{Order: o}, nil
	case "stripe", "paypal":
	default:
		return nil, model.Invalid("method", "must be coupon, stripe or paypal")
	}
	p := c.providers[in.Method]
	if p == nil {
		// Checked after the order so that a foreign order stays "not found".
		if _, err := c.store.GetOrder(ctx, in.Number); err != nil {
			return nil, err
		}
		return nil, model.Errorf(model.ECONFLICT, "%s is not configured on this server: pay by another method.", billing.ProviderLabel(in.Method)).
			WithField("method", "is not configured")
	}
	o, err := c.store.PreparePayment(ctx, in.Number, in.Method)
	if err != nil {
		return nil, err
	}
	payerEmail := "" // a hint for the provider's form: without it the payer types it
	if payer, err := c.store.GetBillingInfo(ctx); err == nil {
		payerEmail = payer.Email
	}
	co, err := p.StartCheckout(ctx, billing.CheckoutRequest{OrderNumber: o.Number, Description: fmt.Sprintf("%s order %s (%d)", o.Type.Label(), o.Number, o.Counts),
		Amount: o.Total, Currency: o.Currency, ReturnURL: c.publicURL + "/payments/return?order=" + url.QueryEscape(o.Number),
		CancelURL: c.publicURL + "/payments/" + url.PathEscape(o.Number), PayerEmail: payerEmail})
	if err != nil {
		return nil, c.billingProviderFailed(ctx, "starting the "+billing.ProviderLabel(in.Method)+" payment", o.Number, err)
	}
	if err := c.store.RecordCheckout(ctx, o.Number, in.Method, co.ProviderRef); err != nil {
		return nil, err
	}
	if o, err = c.store.GetOrder(ctx, o.Number); err != nil {
		return nil, err
	}
	return &PayResult{Order: o, RedirectURL: co.RedirectURL}, nil
}

// ConfirmReturn asks the provider about an order's payment when the payer
// returns from it, and applies the answer (exactly once, like a webhook).
func (c *Cases) ConfirmReturn(ctx context.Context, number string) (*billing.Order, error) {
	o, err := c.store.GetOrder(ctx, number)
	if err != nil {
		return nil, err
	}
	if o.Status == billing.StatusCompleted || o.Provider == "" || o.ProviderRef == "" {
		return o, nil // the webhook came first, or nothing to confirm
	}
	p := c.providers[o.Provider]
	if p == nil {
		return nil, model.Errorf(model.ECONFLICT, "%s is not configured on this server.", billing.ProviderLabel(o.Provider))
	}
	ev, err := p.Confirm(ctx, o.ProviderRef)
	if err != nil {
		return nil, c.billingProviderFailed(ctx, "confirming the "+billing.ProviderLabel(o.Provider)+" payment", o.Number, err)
	}
	if ev.OrderNumber == "" {
		ev.OrderNumber = o.Number
	}
	if ev.OrderNumber != o.Number {
		return nil, model.Errorf(model.ECONFLICT, "The payment belongs to another order.")
	}
	if _, err := c.store.ApplyPaymentEvent(ctx, o.Provider, ev); err != nil {
		return nil, err
	}
	return c.store.GetOrder(ctx, number)
}

// WebhookInput is a provider's webhook as delivered.
type WebhookInput struct {
	Provider string // stripe | paypal
	Body     []byte // raw: the signature covers it byte for byte
	// Signature holds the delivery's headers named in
	// billing.SignatureHeaders, by name.
	Signature map[string]string
}

// ReceiveWebhook verifies a provider's webhook over its raw body and applies
// its event exactly once, as the system. It reports whether the event
// changed an order. An event about an order this server does not know
// (another environment's) is acknowledged without effect.
func (c *Cases) ReceiveWebhook(ctx context.Context, in WebhookInput) (applied bool, err error) {
	p := c.providers[in.Provider]
	if p == nil {
		return false, model.Errorf(model.ENOTFOUND, "%s is not configured on this server.", billing.ProviderLabel(in.Provider))
	}
	h := http.Header{}
	for k, v := range in.Signature {
		h.Set(k, v)
	}
	ev, err := p.VerifyWebhook(ctx, h, in.Body)
	if errors.Is(err, billing.ErrUnverified) {
		c.log.WarnContext(ctx, "webhook not verified", "provider", in.Provider, "err", err)
		return false, model.Errorf(model.EINVALID, "The webhook is not verified.")
	} else if err != nil {
		// Not a signature problem (the provider unreachable, …): a 5xx
		// makes the provider deliver it again.
		return false, c.internal(ctx, "verifying the "+billing.ProviderLabel(in.Provider)+" webhook", err)
	}
	if ev.Kind == billing.EventIgnored || (ev.OrderNumber == "" && ev.ProviderRef == "") {
		return false, nil
	}
	applied, err = c.store.ApplyPaymentEvent(model.WithActor(ctx, model.System), in.Provider, ev)
	if model.ErrorCode(err) == model.ENOTFOUND {
		return false, nil
	}
	return applied, err
}

// PutPrices sets the caller's prices: the admin's default list, or a
// distributor's overrides of it.
func (c *Cases) PutPrices(ctx context.Context, ps []billing.Price) error {
	return c.store.PutPrices(ctx, ps)
}

// CouponInput is a coupon to issue, as a person typed it.
type CouponInput struct {
	Code             string
	SubdistributorID int64
	Value            int64  // minor units
	ExpiresAt        string // a date (valid through that day) or an RFC 3339 time
}

// IssueCoupon issues a coupon to a sub-distributor of the caller.
func (c *Cases) IssueCoupon(ctx context.Context, in CouponInput) (*billing.Coupon, error) {
	exp, err := billing.ParseExpiry(in.ExpiresAt)
	if err != nil {
		return nil, err
	}
	cp := &billing.Coupon{Code: in.Code, SubdistributorID: in.SubdistributorID, Value: in.Value, Expires: exp}
	if err := c.store.IssueCoupon(ctx, cp); err != nil {
		return nil, err
	}
	return cp, nil
}

// PutBillingInfo saves the caller's billing information (b is trimmed).
func (c *Cases) PutBillingInfo(ctx context.Context, b *billing.Info) error {
	return c.store.PutBillingInfo(ctx, b)
}

// billingProviderFailed logs what a payment provider answered at step
// (its message, code, request id) and returns an error that names only the
// step: a provider's text is for the log, never for the payer. It stays a
// conflict, as before, so the payer is shown the order again.
func (c *Cases) billingProviderFailed(ctx context.Context, step, order string, err error) error {
	c.log.ErrorContext(ctx, step+" failed", "order", order, "err", err)
	return model.Errorf(model.ECONFLICT, "%s failed. Please try again later; if it keeps failing, contact your administrator.", upperFirst(step))
}

// PaymentProviderConfigured reports whether this server takes payments
// through the named provider ("stripe", "paypal"), for pages that offer it.
func (c *Cases) PaymentProviderConfigured(name string) bool { return c.providers[name] != nil }
