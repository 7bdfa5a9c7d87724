package demo

import (
	"context"
	"fmt"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/billing"
	"github.com/gatehouse-dev/gatehouse/internal/model"
	"github.com/gatehouse-dev/gatehouse/internal/store"
)

// Demo coupon codes of demo-subdistributor.
const (
	CouponNormal   = "DEMO-NORMAL-1"
	CouponNormal2  = "DEMO-NORMAL-2"
	CouponUsed     = "DEMO-USED"
	CouponExpired  = "DEMO-EXPIRED"
	demoUsedValue  = 1_000 // minor units: less than any order that spends it
	demoOrderMonth = 24    // months of the demo renewals (a total above demoUsedValue)
)

// billingUser is a demo end user an order can be made for.
type billingUser struct {
	installer   int64
	projectType string // community | villa | office
	user        billing.BillableUser
}

// LoadBilling adds the money side of the demo: a price-list override for
// demo-distributor, coupons of demo-subdistributor in every state (Normal,
// Used, Expired) and a history of orders of its installers in every status
// (Processing, System Processing, Completed, Failed, Timeout, Cancel). It
// works through the store; only the back-dated rows (an expired coupon, an
// order left unpaid two hours ago) are bulk-inserted.
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
	dctx := model.WithActor(ctx, model.ActorOf(dist))
	sctx := model.WithActor(ctx, model.ActorOf(sub))

	// demo-distributor sells community and office apps a little cheaper.
	if err := st.PutPrices(dctx, []billing.Price{
		{Item: billing.CommunityApp, ActivationFee: 450, MonthlyFee: 90, Currency: "USD"},
		{Item: billing.OfficeUser, ActivationFee: 350, MonthlyFee: 80, Currency: "USD"},
	}); err != nil {
		return fmt.Errorf("demo prices: %w", err)
	}
	prices, err := st.GetPrices(dctx)
	if err != nil {
		return err
	}

	// Coupons: two Normal, one to be spent to Used, one Expired.
	now := st.Now()
	for _, c := range []*billing.Coupon{
		{Code: CouponNormal, Value: 500_000, Expires: now.AddDate(1, 0, 0)},
		{Code: CouponNormal2, Value: 20_000, Expires: now.AddDate(0, 6, 0)},
		{Code: CouponUsed, Value: demoUsedValue, Expires: now.AddDate(1, 0, 0)},
	} {
		c.SubdistributorID = sub.ID
		if err := st.IssueCoupon(dctx, c); err != nil {
			return fmt.Errorf("demo coupon %s: %w", c.Code, err)
		}
	}
	// The store issues coupons only with a future expiry: the expired one,
	// issued last year and partly spent, is written back-dated.
	cid, err := st.MaxID(ctx, "coupons")
	if err != nil {
		return err
	}
	if err := st.BulkInsert(ctx, "coupons", []string{"id", "code", "subdistributor_id", "distributor_id", "value", "balance", "currency",
		"expires_at", "issued_by", "created_at"}, [][]any{{cid + 1, CouponExpired, sub.ID, dist.ID, int64(5_000), int64(3_200), prices.Currency,
		now.AddDate(0, 0, -20), dist.ID, now.AddDate(-1, 0, -20)}}); err != nil {
		return fmt.Errorf("demo expired coupon: %w", err)
	}

	// The demo's end users of demo-subdistributor's installers, read as the system.
	renewable, activatable, err := billingUsers(ctx, st, sub.ID)
	if err != nil {
		return err
	}
	if len(renewable) == 0 {
		return fmt.Errorf("demo orders: demo-subdistributor's installers have no active users")
	}
	next := 0
	order := func(kind string) (*billing.Order, error) {
		pool := renewable
		if kind == "activation" && len(activatable) > 0 {
			pool = activatable
		} else {
			kind = "renewal"
		}
		u := pool[next%len(pool)]
		next++
		return st.CreateOrder(sctx, &billing.OrderRequest{Kind: kind, InstallerID: u.installer, ProjectType: u.projectType,
			Items: []billing.OrderLine{{UserID: u.user.ID, Months: demoOrderMonth}}})
	}
	event := func(provider string, kind billing.EventKind) func(o *billing.Order) error {
		return func(o *billing.Order) error {
			_, err := st.ApplyPaymentEvent(ctx, provider, billing.Event{ID: fmt.Sprintf("demo_%s_%s", kind, o.Number), Kind: kind, OrderNumber: o.Number})
			return err
		}
	}
	steps := []struct {
		kind string
		do   func(o *billing.Order) error
	}{
		// Completed by coupon: DEMO-USED is spent to nothing, DEMO-NORMAL-1 pays the rest.
		{"renewal", func(o *billing.Order) error {
			_, err := st.PayWithCoupons(sctx, o.Number, []string{CouponUsed, CouponNormal})
			return err
		}},
		{"activation", event("stripe", billing.EventPaid)},
		{"renewal", event("paypal", billing.EventPaid)},
		{"renewal", event("paypal", billing.EventFailed)},
		{"activation", event("stripe", billing.EventFailed)},
		{"renewal", event("stripe", billing.EventPending)},
		{"renewal", func(o *billing.Order) error { return st.CancelOrder(sctx, o.Number) }},
		{"activation", func(o *billing.Order) error { return st.CancelOrder(sctx, o.Number) }},
		{"renewal", func(o *billing.Order) error { return nil }}, // left Processing
	}
	for i, s := range steps {
		o, err := order(s.kind)
		if err != nil {
			return fmt.Errorf("demo order %d: %w", i, err)
		}
		if err := s.do(o); err != nil {
			return fmt.Errorf("demo order %d (%s): %w", i, o.Number, err)
		}
	}
	// Timeout: an order created two hours ago and never paid, which the
	// store's timeout job then times out.
	if err := unpaidOrder(ctx, st, sub, renewable[next%len(renewable)], prices, now.Add(-2*time.Hour)); err != nil {
		return fmt.Errorf("demo unpaid order: %w", err)
	}
	if n, err := st.TimeoutOrders(ctx, billing.DefaultOrderTimeout); err != nil {
		return err
	} else if n == 0 {
		return fmt.Errorf("demo orders: no order timed out")
	}
	return nil
}

// billingUsers lists users of the sub-distributor's installers whose app
// runs or ran (renewable) and users never activated (activatable). The
// latter leave out demo-installer's, kept for people trying Activation.
func billingUsers(ctx context.Context, st *store.Store, subID int64) (renewable, activatable []billingUser, err error) {
	insts, err := st.ListAccounts(ctx, model.AccountFilter{Role: model.RoleInstaller, ParentID: subID, Page: model.Page{Page: 1, PerPage: 500}})
	if err != nil {
		return nil, nil, err
	}
	for _, inst := range insts.Items {
		if inst.ParentID != subID {
			continue
		}
		for _, pt := range []string{"community", "office", "villa"} {
			for _, mode := range []string{"renew", "active"} {
				if mode == "active" && inst.Username == InstallerUser {
					continue
				}
				us, err := st.ListBillableUsers(ctx, billing.BillableFilter{InstallerID: inst.ID, ProjectType: pt, Mode: mode})
				if err != nil {
					return nil, nil, err
				}
				for _, u := range us {
					if u.Item == "" {
						continue
					}
					b := billingUser{installer: inst.ID, projectType: pt, user: u}
					if mode == "renew" {
						renewable = append(renewable, b)
					} else {
						activatable = append(activatable, b)
					}
				}
			}
		}
	}
	return renewable, activatable, nil
}

// unpaidOrder writes a Processing renewal order created at `at`.
func unpaidOrder(ctx context.Context, st *store.Store, sub *model.Account, u billingUser, prices billing.PriceList, at time.Time) error {
	p, ok := prices.Of(u.user.Item)
	if !ok {
		return fmt.Errorf("no price for %s", u.user.Item)
	}
	amount := billing.Amount(p, false, 3)
	oid, err := st.MaxID(ctx, "orders")
	if err != nil {
		return err
	}
	oid++
	project, projectID := u.user.Project, any(u.user.ProjectID)
	if u.projectType == "villa" {
		project, projectID = "-", nil
	}
	if err := st.BulkInsert(ctx, "orders", []string{"id", "number", "type", "installer_id", "subdistributor_id", "distributor_id", "created_by",
		"project_id", "project_name", "project_type", "status", "counts", "total", "currency", "created_at", "processing_since", "updated_at"},
		[][]any{{oid, billing.NewOrderNumber(at), string(billing.TypeSubscription), u.installer, sub.ID, sub.ParentID, sub.ID,
			projectID, project, u.projectType, string(billing.StatusProcessing), 1, amount, prices.Currency, at, at, at}}); err != nil {
		return err
	}
	iid, err := st.MaxID(ctx, "order_items")
	if err != nil {
		return err
	}
	if err := st.BulkInsert(ctx, "order_items", []string{"id", "order_id", "end_user_id", "user_name", "item", "service", "months", "amount"},
		[][]any{{iid + 1, oid, u.user.ID, u.user.Name, string(u.user.Item), "app", 3, amount}}); err != nil {
		return err
	}
	eid, err := st.MaxID(ctx, "order_events")
	if err != nil {
		return err
	}
	return st.BulkInsert(ctx, "order_events", []string{"id", "order_id", "at", "status", "message"},
		[][]any{{eid + 1, oid, at, string(billing.StatusProcessing), "Order created by " + sub.Username + "."}})
}
