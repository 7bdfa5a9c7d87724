package api

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"

	"github.com/gatehouse-dev/gatehouse/internal/billing"
	"github.com/gatehouse-dev/gatehouse/internal/listquery"
	"github.com/gatehouse-dev/gatehouse/internal/model"
)

// ListOrders is the Payments module's search.
func (a *API) ListOrders(w http.ResponseWriter, r *http.Request) error {
	var v model.Validator
	f := listquery.Orders(r.URL.Query(), &v)
	format := checkFormat(r, &v)
	if err := v.Err(); err != nil {
		return err
	}
	f.Page = exportPage(format, f.Page)
	l, err := a.Store.ListOrders(r.Context(), f)
	if err != nil {
		return err
	}
	return writeList(w, format, "orders", l,
		[]string{"number", "type", "installer", "project", "counts", "total", "currency", "status", "created_at"},
		func(o *billing.Order) []string {
			return []string{o.Number, string(o.Type), o.Installer, o.Project, strconv.Itoa(o.Counts), strconv.FormatInt(o.Total, 10),
				o.Currency, string(o.Status), formatTime(o.Created)}
		})
}

// CreateOrder creates an activation, renewal or extra-member order.
func (a *API) CreateOrder(w http.ResponseWriter, r *http.Request) error {
	var req billing.OrderRequest
	if err := decodeJSON(w, r, &req); err != nil {
		return err
	}
	o, err := a.Store.CreateOrder(r.Context(), &req)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusCreated, o)
}

// GetOrder returns an order with its items and history.
func (a *API) GetOrder(w http.ResponseWriter, r *http.Request) error {
	o, err := a.Store.GetOrder(r.Context(), r.PathValue("number"))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, o)
}

// CancelOrder cancels a Processing order.
func (a *API) CancelOrder(w http.ResponseWriter, r *http.Request) error {
	n := r.PathValue("number")
	if err := a.Store.CancelOrder(r.Context(), n); err != nil {
		return err
	}
	o, err := a.Store.GetOrder(r.Context(), n)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, o)
}

// DeleteOrder hides an order from the Payments list.
func (a *API) DeleteOrder(w http.ResponseWriter, r *http.Request) error {
	if err := a.Store.HideOrder(r.Context(), r.PathValue("number")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

type payRequest struct {
	Method  string   `json:"method"`
	Coupons []string `json:"coupons"`
}

// PayResult answers a payment: the order, and where to send the payer for
// a provider payment.
type PayResult struct {
	Order       *billing.Order `json:"order"`
	RedirectURL string         `json:"redirect_url,omitempty"`
}

// PayOrder pays by coupon at once, or starts a Stripe / PayPal payment.
func (a *API) PayOrder(w http.ResponseWriter, r *http.Request) error {
	var req payRequest
	if err := decodeJSON(w, r, &req); err != nil {
		return err
	}
	res, err := a.Pay(r, r.PathValue("number"), req.Method, req.Coupons)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, res)
}

// Pay is the payment shared by the API and the portal.
func (a *API) Pay(r *http.Request, number, method string, coupons []string) (*PayResult, error) {
	ctx := r.Context()
	switch method {
	case "coupon":
		o, err := a.Store.PayWithCoupons(ctx, number, coupons)
		if err != nil {
			return nil, err
		}
		return &PayResult{Order: o}, nil
	case "stripe", "paypal":
	default:
		return nil, model.Invalid("method", "must be coupon, stripe or paypal")
	}
	p := a.Providers[method]
	if p == nil {
		// Checked after the order so that a foreign order stays "not found".
		if _, err := a.Store.GetOrder(ctx, number); err != nil {
			return nil, err
		}
		return nil, &model.Error{Code: model.ECONFLICT, Message: fmt.Sprintf("%s is not configured on this server: pay by another method.", providerLabel(method)),
			Fields: map[string]string{"method": "is not configured"}}
	}
	o, err := a.Store.PreparePayment(ctx, number, method)
	if err != nil {
		return nil, err
	}
	payer, _ := a.Store.GetBillingInfo(ctx)
	ret := a.PublicURL + "/payments/return?order=" + url.QueryEscape(o.Number)
	co, err := p.StartCheckout(ctx, billing.CheckoutRequest{OrderNumber: o.Number, Description: fmt.Sprintf("%s order %s (%d)", o.Type.Label(), o.Number, o.Counts),
		Amount: o.Total, Currency: o.Currency, ReturnURL: ret, CancelURL: a.PublicURL + "/payments/" + url.PathEscape(o.Number), PayerEmail: payer.Email})
	if err != nil {
		return nil, model.Errorf(model.ECONFLICT, "%s did not start the payment: %v", providerLabel(method), err)
	}
	if err := a.Store.RecordCheckout(ctx, o.Number, method, co.ProviderRef); err != nil {
		return nil, err
	}
	o, err = a.Store.GetOrder(ctx, o.Number)
	if err != nil {
		return nil, err
	}
	return &PayResult{Order: o, RedirectURL: co.RedirectURL}, nil
}

func providerLabel(m string) string {
	switch m {
	case "stripe":
		return "Stripe"
	case "paypal":
		return "PayPal"
	}
	return m
}

// ConfirmReturn asks the provider about an order's payment when the payer
// returns from it, and applies the answer (exactly once, like a webhook).
func (a *API) ConfirmReturn(r *http.Request, number string) (*billing.Order, error) {
	ctx := r.Context()
	o, err := a.Store.GetOrder(ctx, number)
	if err != nil {
		return nil, err
	}
	if o.Status == billing.StatusCompleted || o.Provider == "" || o.ProviderRef == "" {
		return o, nil // the webhook came first, or nothing to confirm
	}
	p := a.Providers[o.Provider]
	if p == nil {
		return nil, model.Errorf(model.ECONFLICT, "%s is not configured on this server.", providerLabel(o.Provider))
	}
	ev, err := p.Confirm(ctx, o.ProviderRef)
	if err != nil {
		return nil, model.Errorf(model.ECONFLICT, "%s could not confirm the payment yet: %v", providerLabel(o.Provider), err)
	}
	if ev.OrderNumber == "" {
		ev.OrderNumber = o.Number
	}
	if ev.OrderNumber != o.Number {
		return nil, model.Errorf(model.ECONFLICT, "The payment belongs to another order.")
	}
	if _, err := a.Store.ApplyPaymentEvent(ctx, o.Provider, ev); err != nil {
		return nil, err
	}
	return a.Store.GetOrder(ctx, number)
}

// maxWebhookBody bounds a provider's webhook.
const maxWebhookBody = 256 << 10

// Webhook verifies a provider's webhook over its raw body and applies the
// event exactly once.
func (a *API) Webhook(provider string) Handler {
	return func(w http.ResponseWriter, r *http.Request) error {
		p := a.Providers[provider]
		if p == nil {
			return model.Errorf(model.ENOTFOUND, "%s is not configured on this server.", providerLabel(provider))
		}
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxWebhookBody))
		if err != nil {
			return model.Invalid("body", "is larger than %d bytes", maxWebhookBody)
		}
		ev, err := p.VerifyWebhook(r.Context(), r.Header, body)
		if err != nil {
			if errors.Is(err, billing.ErrUnverified) {
				return model.Errorf(model.EINVALID, "The webhook is not verified: %v", err)
			}
			// Not a signature problem (the provider unreachable, …):
			// answer 5xx so that the provider delivers it again.
			return fmt.Errorf("verify %s webhook: %w", provider, err)
		}
		if ev.Kind == billing.EventIgnored || (ev.OrderNumber == "" && ev.ProviderRef == "") {
			return writeJSON(w, http.StatusOK, map[string]any{"received": true, "applied": false})
		}
		ctx := model.WithActor(r.Context(), model.System)
		applied, err := a.Store.ApplyPaymentEvent(ctx, provider, ev)
		if model.ErrorCode(err) == model.ENOTFOUND {
			// Not ours (another environment's order): acknowledge so it stops.
			return writeJSON(w, http.StatusOK, map[string]any{"received": true, "applied": false})
		} else if err != nil {
			return err
		}
		return writeJSON(w, http.StatusOK, map[string]any{"received": true, "applied": applied})
	}
}

// Invoice serves the PDF invoice of a completed order.
func (a *API) Invoice(w http.ResponseWriter, r *http.Request) error {
	inv, err := a.Store.InvoiceFor(r.Context(), r.PathValue("number"))
	if err != nil {
		return err
	}
	pdf, err := billing.InvoicePDF(inv)
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", "application/pdf")
	w.Header().Set("Content-Disposition", fmt.Sprintf(`attachment; filename="invoice-%s.pdf"`, inv.OrderNumber))
	_, err = w.Write(pdf)
	return err
}
