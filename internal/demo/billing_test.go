package demo_test

import (
	"context"
	"io"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/billing"
	"github.com/gatehouse-dev/gatehouse/internal/demo"
	"github.com/gatehouse-dev/gatehouse/internal/model"
	"github.com/gatehouse-dev/gatehouse/internal/testutil"
)

// TestDemoBilling: a demo load has orders of demo-subdistributor's
// installers in all six statuses, its coupons in all three states, and
// demo-distributor's price overrides, as the sub-distributor sees them.
func TestDemoBilling(t *testing.T) {
	for _, b := range testutil.Backends(t) {
		t.Run(b, func(t *testing.T) {
			st := testutil.NewStore(t, b)
			if _, err := demo.Load(context.Background(), st, demo.Options{Password: "demo-password", Users: 300, Devices: 200, Seed: 7}, io.Discard); err != nil {
				t.Fatal(err)
			}
			sys := model.WithActor(context.Background(), model.System)
			sub, _, err := st.AccountForLogin(sys, demo.SubdistributorUser)
			if err != nil {
				t.Fatal(err)
			}
			sctx := model.WithActor(context.Background(), model.ActorOf(sub))
			for _, s := range billing.Statuses {
				l, err := st.ListOrders(sctx, billing.OrderFilter{Status: s, Page: model.Page{Page: 1, PerPage: 50}})
				if err != nil {
					t.Fatal(err)
				}
				if l.Total == 0 {
					t.Errorf("no %s order", s.Label())
				}
				for _, o := range l.Items {
					if o.SubdistributorID != sub.ID || o.Status != s {
						t.Errorf("order %s: sub %d status %s", o.Number, o.SubdistributorID, o.Status)
					}
					if s == billing.StatusCompleted {
						full, err := st.GetOrder(sctx, o.Number)
						if err != nil {
							t.Fatal(err)
						}
						if len(full.Items) == 0 || full.Items[0].NewExpires == nil || full.Paid == nil {
							t.Errorf("completed order %s without its effects: %+v", o.Number, full)
						}
					}
				}
			}
			for _, want := range []struct {
				state billing.CouponState
				code  string
			}{{billing.CouponNormal, demo.CouponNormal}, {billing.CouponUsed, demo.CouponUsed}, {billing.CouponExpired, demo.CouponExpired}} {
				l, err := st.ListCoupons(sctx, billing.CouponFilter{State: want.state, Page: model.Page{Page: 1, PerPage: 50}})
				if err != nil {
					t.Fatal(err)
				}
				found := false
				for _, c := range l.Items {
					found = found || c.Code == want.code
					if c.State != want.state {
						t.Errorf("coupon %s listed as %s is %s", c.Code, want.state, c.State)
					}
					if want.state == billing.CouponExpired && (c.Balance == 0 || st.Now().Before(c.Expires)) {
						t.Errorf("expired coupon %s: balance %d, expires %s", c.Code, c.Balance, c.Expires)
					}
				}
				if !found {
					t.Errorf("no %s coupon %s among %d", want.state, want.code, len(l.Items))
				}
			}
			prices, err := st.GetPrices(sctx)
			if err != nil {
				t.Fatal(err)
			}
			if p, ok := prices.Of(billing.CommunityApp); !ok || !p.Overridden {
				t.Errorf("demo-distributor's community price: %+v", p)
			}
		})
	}
}
