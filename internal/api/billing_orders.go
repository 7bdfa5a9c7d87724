package api

import (
	"fmt"
	"io"
	"net/http"
	"strconv"

	"github.com/gatehouse-dev/gatehouse/internal/billing"
	"github.com/gatehouse-dev/gatehouse/internal/listquery"
	"github.com/gatehouse-dev/gatehouse/internal/model"
	"github.com/gatehouse-dev/gatehouse/internal/usecase"
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
	o, err := a.Cases.CreateOrder(r.Context(), &req)
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
	if err := a.Cases.CancelOrder(r.Context(), n); err != nil {
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
	if err := a.Cases.DeleteOrder(r.Context(), r.PathValue("number")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

type payRequest struct {
	Method  string   `json:"method"`
	Coupons []string `json:"coupons"`
}

// PayOrder pays by coupon at once, or starts a Stripe / PayPal payment.
func (a *API) PayOrder(w http.ResponseWriter, r *http.Request) error {
	var req payRequest
	if err := decodeJSON(w, r, &req); err != nil {
		return err
	}
	res, err := a.Cases.PayOrder(r.Context(), usecase.PayInput{Number: r.PathValue("number"), Method: req.Method, Coupons: req.Coupons})
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, res)
}

// maxWebhookBody bounds a provider's webhook.
const maxWebhookBody = 256 << 10

// Webhook hands a provider's webhook (its raw body and signature headers)
// to the use case that verifies and applies it.
func (a *API) Webhook(provider string) Handler {
	return func(w http.ResponseWriter, r *http.Request) error {
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxWebhookBody))
		if err != nil {
			return model.Invalid("body", "is larger than %d bytes", maxWebhookBody)
		}
		in := usecase.WebhookInput{Provider: provider, Body: body, Signature: map[string]string{}}
		for _, h := range billing.SignatureHeaders {
			if v := r.Header.Get(h); v != "" {
				in.Signature[h] = v
			}
		}
		applied, err := a.Cases.ReceiveWebhook(r.Context(), in)
		if err != nil {
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
	pdf, err := billing.InvoicePDF(inv, nil) // in English, dated in UTC
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", "application/pdf")
	w.Header().Set("Content-Disposition", fmt.Sprintf(`attachment; filename="invoice-%s.pdf"`, inv.OrderNumber))
	_, err = w.Write(pdf)
	return err
}
