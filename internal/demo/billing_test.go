package demo_test

import (
	"context"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/billing"
	"github.com/gatehouse-dev/gatehouse/internal/demo"
	"github.com/gatehouse-dev/gatehouse/internal/model"
	"github.com/gatehouse-dev/gatehouse/internal/store"
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

// TestDemoOrderHistory: the demo's orders are dated across the last twelve
// months, each completed one paid after it was created and its history in
// time order, and the same seed gives the same history (another seed does not).
func TestDemoOrderHistory(t *testing.T) {
	for _, b := range testutil.Backends(t) {
		t.Run(b, func(t *testing.T) {
			now := time.Date(2026, 10, 15, 12, 0, 0, 0, time.UTC)
			load := func(seed uint64) (string, []*billing.Order, *store.Store) {
				st := testutil.NewStore(t, b)
				st.SetClock(func() time.Time { return now })
				if _, err := demo.Load(context.Background(), st, demo.Options{Password: "demo-password", Users: 300, Devices: 200, Seed: seed, Now: now}, io.Discard); err != nil {
					t.Fatal(err)
				}
				sys := model.WithActor(context.Background(), model.System)
				l, err := st.ListOrders(sys, billing.OrderFilter{Page: model.Page{Page: 1, PerPage: 500}})
				if err != nil {
					t.Fatal(err)
				}
				var sig []string
				var full []*billing.Order
				for _, o := range l.Items {
					f, err := st.GetOrder(sys, o.Number)
					if err != nil {
						t.Fatal(err)
					}
					full = append(full, f)
					paid := "-"
					if f.Paid != nil {
						paid = f.Paid.UTC().Format(time.RFC3339)
					}
					sig = append(sig, fmt.Sprintf("%s %s %s %s %s %d %d %s", f.Created.UTC().Format(time.RFC3339), f.Type, f.Status, paid, f.Installer, f.Counts, f.Total, f.Project))
				}
				return strings.Join(sig, "\n"), full, st
			}
			sig, orders, st := load(7)
			if len(orders) < demo.HistoryOrders {
				t.Fatalf("%d demo orders, want at least %d", len(orders), demo.HistoryOrders)
			}
			types := map[billing.OrderType]bool{}
			for _, o := range orders {
				types[o.Type] = true
			}
			for _, ty := range []billing.OrderType{billing.TypeActivation, billing.TypeSubscription} {
				if !types[ty] {
					t.Errorf("no %s order", ty.Label())
				}
			}
			// An extra family member's order (an Activation, as the guide has it) when the data set has a member to activate.
			var waiting int
			if err := st.DB().QueryRow(`SELECT count(*) FROM end_users u JOIN accounts a ON a.id = u.installer_id JOIN accounts s ON s.id = a.subdistributor_id
				WHERE s.username = 'demo-subdistributor' AND u.role = 'family_member' AND u.active = false`).Scan(&waiting); err != nil {
				t.Fatal(err)
			}
			if waiting > 0 && !types[billing.TypeActivation] {
				t.Errorf("no Activation order although %d family members wait for activation", waiting)
			}
			months := map[string]bool{}
			recent := 0
			for _, o := range orders {
				c := o.Created.UTC()
				months[c.Format("2006-01")] = true
				if c.After(now) || c.Before(now.AddDate(-1, 0, -1)) {
					t.Errorf("order %s created %v, not within the year before %v", o.Number, c, now)
				}
				if now.Sub(c) < 24*time.Hour {
					recent++
				}
				if len(o.Events) == 0 || !o.Events[0].At.Equal(o.Created) {
					t.Errorf("order %s: first history line %+v, created %v", o.Number, o.Events, c)
				}
				for i := 1; i < len(o.Events); i++ {
					if o.Events[i].At.Before(o.Events[i-1].At) {
						t.Errorf("order %s: history out of order: %+v", o.Number, o.Events)
					}
				}
				if o.Status == billing.StatusCompleted {
					if o.Paid == nil || !o.Paid.After(o.Created) || o.Paid.After(now) {
						t.Errorf("completed order %s created %v paid %v", o.Number, c, o.Paid)
					}
					for _, it := range o.Items {
						if it.NewExpires == nil || (it.EndUserID != 0 && it.NewExpires.Before(o.Paid.AddDate(0, it.Months, 0).Add(-time.Second))) {
							t.Errorf("order %s paid %v: item %+v", o.Number, o.Paid, it)
						}
					}
				}
			}
			if len(months) < 9 {
				t.Errorf("orders created in %d months only: %v", len(months), months)
			}
			if recent > 5 || recent == 0 {
				t.Errorf("%d of %d orders created in the last day", recent, len(orders))
			}
			// The store's clock runs again after the load.
			a := st.Now()
			time.Sleep(5 * time.Millisecond)
			if b := st.Now(); !b.After(a) {
				t.Errorf("the store's clock stands after the demo: %v then %v", a, b)
			}

			again, _, _ := load(7)
			if again != sig {
				t.Errorf("same seed, another history:\n%s\n---\n%s", sig, again)
			}
			other, _, _ := load(8)
			if other == sig {
				t.Error("another seed gives the same history")
			}
		})
	}
}
