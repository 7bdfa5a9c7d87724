package demo

import (
	"context"
	"fmt"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/billing"
	"github.com/gatehouse-dev/gatehouse/internal/model"
	"github.com/gatehouse-dev/gatehouse/internal/store"
)

// LoadBilling adds the money side of the demo: a distributor price list,
// coupons in every state for the demo sub-distributors, and orders in every
// status, all made through the store.
func LoadBilling(ctx context.Context, st *store.Store) error {
	ctx = model.WithActor(ctx, model.System)
	dist, _, err := st.AccountForLogin(ctx, DistributorUser)
	if err != nil {
		return err
	}
	sub, _, err := st.AccountForLogin(ctx, SubdistributorUser)
	if err != nil {
		return err
	}
	inst, _, err := st.AccountForLogin(ctx, InstallerUser)
	if err != nil {
		return err
	}
	dctx := model.WithActor(ctx, model.ActorOf(dist))
	if err := st.PutPrices(dctx, []billing.Price{{Item: billing.CommunityApp, ActivationFee: 450, MonthlyFee: 90, Currency: "USD"},
		{Item: billing.OfficeUser, ActivationFee: 350, MonthlyFee: 80, Currency: "USD"}}); err != nil {
		return fmt.Errorf("demo prices: %w", err)
	}
	now := st.Now()
	coupons := []*billing.Coupon{
		{Code: "DEMO-NORMAL-1", Value: 500_000, Expires: now.AddDate(1, 0, 0)},
		{Code: "DEMO-NORMAL-2", Value: 20_000, Expires: now.AddDate(0, 6, 0)},
		{Code: "DEMO-USED", Value: 1_000, Expires: now.AddDate(1, 0, 0)},
		{Code: "DEMO-EXPIRED", Value: 5_000, Expires: now.Add(time.Second)},
	}
	for _, c := range coupons {
		c.SubdistributorID = sub.ID
		if err := st.IssueCoupon(dctx, c); err != nil {
			return fmt.Errorf("demo coupon %s: %w", c.Code, err)
		}
	}
	sctx := model.WithActor(ctx, model.ActorOf(sub))
	users, err := st.ListBillableUsers(sctx, billing.BillableFilter{InstallerID: inst.ID, ProjectType: "office", Mode: "renew"})
	if err != nil {
		return err
	}
	if len(users) < 6 {
		return nil
	}
	order := func(u billing.BillableUser, months int) (*billing.Order, error) {
		return st.CreateOrder(sctx, &billing.OrderRequest{Kind: "renewal", InstallerID: inst.ID, ProjectType: "office",
			Items: []billing.OrderLine{{UserID: u.ID, Months: months}}})
	}
	// Completed by coupon (and DEMO-USED spent), completed by Stripe,
	// failed, system processing, cancelled, and one left processing; a
	// timed-out one comes from the clock.
	steps := []func(o *billing.Order) error{
		func(o *billing.Order) error {
			_, err := st.PayWithCoupons(sctx, o.Number, []string{"DEMO-USED", "DEMO-NORMAL-1"})
			return err
		},
		func(o *billing.Order) error {
			_, err := st.ApplyPaymentEvent(ctx, "stripe", billing.Event{ID: "demo_evt_" + o.Number, Kind: billing.EventPaid, OrderNumber: o.Number})
			return err
		},
		func(o *billing.Order) error {
			_, err := st.ApplyPaymentEvent(ctx, "paypal", billing.Event{ID: "demo_fail_" + o.Number, Kind: billing.EventFailed, OrderNumber: o.Number})
			return err
		},
		func(o *billing.Order) error {
			_, err := st.ApplyPaymentEvent(ctx, "paypal", billing.Event{ID: "demo_pend_" + o.Number, Kind: billing.EventPending, OrderNumber: o.Number})
			return err
		},
		func(o *billing.Order) error { return st.CancelOrder(sctx, o.Number) },
		func(o *billing.Order) error { return nil },
	}
	for i, step := range steps {
		o, err := order(users[i], 1+i*6)
		if err != nil {
			return fmt.Errorf("demo order: %w", err)
		}
		if err := step(o); err != nil {
			return fmt.Errorf("demo order %d: %w", i, err)
		}
	}
	// One Timeout order: made "an hour ago" by the store's clock.
	real := st.Now
	st.SetClock(func() time.Time { return real().Add(-time.Hour) })
	o, err := order(users[0], 3)
	st.SetClock(func() time.Time { return time.Now().UTC().Truncate(time.Microsecond) })
	if err != nil {
		return err
	}
	_ = o
	_, err = st.TimeoutOrders(ctx, billing.DefaultOrderTimeout)
	return err
}
