package api

import (
	"net/http"
	"strconv"

	"github.com/gatehouse-dev/gatehouse/internal/billing"
	"github.com/gatehouse-dev/gatehouse/internal/model"
	"github.com/gatehouse-dev/gatehouse/internal/usecase"
)

// GetPrices returns the price list in force for the caller.
func (a *API) GetPrices(w http.ResponseWriter, r *http.Request) error {
	l, err := a.Store.GetPrices(r.Context())
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, l)
}

type pricesRequest struct {
	Items []billing.Price `json:"items"`
}

// PutPrices sets the distributor's overrides (the admin's default).
func (a *API) PutPrices(w http.ResponseWriter, r *http.Request) error {
	var req pricesRequest
	if err := decodeJSON(w, r, &req); err != nil {
		return err
	}
	if err := a.Cases.PutPrices(r.Context(), req.Items); err != nil {
		return err
	}
	return a.GetPrices(w, r)
}

// ListCoupons lists coupons by state.
func (a *API) ListCoupons(w http.ResponseWriter, r *http.Request) error {
	var v model.Validator
	q := r.URL.Query()
	f := billing.CouponFilter{Page: model.ParsePage(q, &v), State: billing.CouponState(q.Get("state"))}
	v.Check(f.State == "" || f.State == "all" || f.State == billing.CouponNormal || f.State == billing.CouponUsed || f.State == billing.CouponExpired,
		"state", "must be normal, used or expired")
	if f.State == "all" {
		f.State = ""
	}
	if s := q.Get("subdistributor_id"); s != "" {
		id, err := strconv.ParseInt(s, 10, 64)
		v.Check(err == nil && id > 0, "subdistributor_id", "must be an id")
		f.SubdistributorID = id
	}
	format := checkFormat(r, &v)
	if err := v.Err(); err != nil {
		return err
	}
	f.Page = exportPage(format, f.Page)
	l, err := a.Store.ListCoupons(r.Context(), f)
	if err != nil {
		return err
	}
	return writeList(w, format, "coupons", l, []string{"code", "subdistributor", "value", "balance", "currency", "expires_at", "state"},
		func(c *billing.Coupon) []string {
			return []string{c.Code, c.Subdistributor, strconv.FormatInt(c.Value, 10), strconv.FormatInt(c.Balance, 10), c.Currency, formatTime(c.Expires), string(c.State)}
		})
}

type couponRequest struct {
	Code             string `json:"code"`
	SubdistributorID int64  `json:"subdistributor_id"`
	Value            int64  `json:"value"`
	ExpiresAt        string `json:"expires_at"`
}

// IssueCoupon issues a coupon to a sub-distributor.
func (a *API) IssueCoupon(w http.ResponseWriter, r *http.Request) error {
	var req couponRequest
	if err := decodeJSON(w, r, &req); err != nil {
		return err
	}
	c, err := a.Cases.IssueCoupon(r.Context(), usecase.CouponInput{Code: req.Code, SubdistributorID: req.SubdistributorID, Value: req.Value, ExpiresAt: req.ExpiresAt})
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusCreated, c)
}

// GetBillingInfo returns the caller's billing information.
func (a *API) GetBillingInfo(w http.ResponseWriter, r *http.Request) error {
	b, err := a.Store.GetBillingInfo(r.Context())
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, b)
}

// PutBillingInfo saves the caller's billing information.
func (a *API) PutBillingInfo(w http.ResponseWriter, r *http.Request) error {
	var b billing.Info
	if err := decodeJSON(w, r, &b); err != nil {
		return err
	}
	if err := a.Cases.PutBillingInfo(r.Context(), &b); err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, b)
}
