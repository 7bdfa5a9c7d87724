package store_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/billing"
	"github.com/gatehouse-dev/gatehouse/internal/model"
	"github.com/gatehouse-dev/gatehouse/internal/store"
)

// TestOrderIsWrittenAsItWasChecked changes what an order was checked and
// priced against — the price list, the user (deleted), the user's
// activation (paid by another order) — from another transaction between
// the order's check and its write. The change must wait for the order's
// transaction (and then apply to a consistent state): the order is written
// as it was checked, at the price in force when it is written.
func TestOrderIsWrittenAsItWasChecked(t *testing.T) {
	// How long the hook gives the concurrent change to (wrongly) land.
	const window = 500 * time.Millisecond
	cases := []struct {
		name string
		// change runs concurrently with the order of user u; check looks
		// at the outcome once both are done.
		change func(st *store.Store, b *branch, u *model.EndUser, first *billing.Order) error
		check  func(t *testing.T, st *store.Store, o *billing.Order, u *model.EndUser, before billing.Price)
	}{
		{name: "price changed", change: func(st *store.Store, b *branch, u *model.EndUser, first *billing.Order) error {
			l, err := st.GetPrices(sys)
			if err != nil {
				return err
			}
			var ps []billing.Price
			for _, p := range l.Items {
				p.ActivationFee += 1000
				p.MonthlyFee += 100
				ps = append(ps, p)
			}
			return st.PutPrices(sys, ps)
		}, check: func(t *testing.T, st *store.Store, o *billing.Order, u *model.EndUser, before billing.Price) {
			if want := billing.Amount(before, true, 12); o.Total != want {
				t.Errorf("order total %d, want %d (the price when it was written)", o.Total, want)
			}
			l, _ := st.GetPrices(sys)
			if p, _ := l.Of(billing.OfficeUser); p.ActivationFee != before.ActivationFee+1000 {
				t.Errorf("the price change was lost: %+v", p)
			}
		}},
		{name: "user deleted", change: func(st *store.Store, b *branch, u *model.EndUser, first *billing.Order) error {
			_, err := st.DeleteEndUser(as(b.installer), u.ID)
			return err
		}, check: func(t *testing.T, st *store.Store, o *billing.Order, u *model.EndUser, before billing.Price) {
			got, err := st.GetOrder(sys, o.Number)
			if err != nil {
				t.Fatal(err)
			}
			if len(got.Items) != 1 || got.Items[0].EndUserID != 0 {
				t.Errorf("after the user's deletion the order's item is %+v, want the user gone from it", got.Items)
			}
		}},
		{name: "user activated by another order", change: func(st *store.Store, b *branch, u *model.EndUser, first *billing.Order) error {
			_, err := st.ApplyPaymentEvent(sys, "stripe", billing.Event{ID: fmt.Sprintf("evt_%d", nextSeq()), Kind: billing.EventPaid, OrderNumber: first.Number, Amount: first.Total})
			return err
		}, check: func(t *testing.T, st *store.Store, o *billing.Order, u *model.EndUser, before billing.Price) {
			got, err := st.GetEndUser(sys, u.ID)
			if err != nil {
				t.Fatal(err)
			}
			if !got.Active {
				t.Error("the other order's payment did not activate the user")
			}
		}},
	}
	eachBackend(t, func(t *testing.T, st *store.Store) {
		tr := mustTree(t, st)
		if err := st.SetSubdistributorSwitches(sys, tr.a1.installer.SubdistributorID, new(true), new(false)); err != nil {
			t.Fatal(err)
		}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				b := tr.a1
				u := &model.EndUser{ProjectID: b.office.ID, DepartmentID: b.dept.ID, Role: model.OfficeStaff, Name: fmt.Sprintf("Staff %d", nextSeq())}
				if err := st.AddEndUser(as(b.installer), u); err != nil {
					t.Fatal(err)
				}
				req := func() *billing.OrderRequest {
					return &billing.OrderRequest{Kind: "activation", InstallerID: b.installer.ID, ProjectType: "office",
						Items: []billing.OrderLine{{UserID: u.ID, Months: 12}}}
				}
				// An earlier order of the same user, for the case that pays it.
				first, err := st.CreateOrder(sys, req())
				if err != nil {
					t.Fatal(err)
				}
				l, err := st.GetPrices(sys)
				if err != nil {
					t.Fatal(err)
				}
				before, _ := l.Of(billing.OfficeUser)
				done := make(chan error, 1)
				landedInside := false
				hook := func() {
					go func() { done <- c.change(st, b, u, first) }()
					select {
					case err := <-done:
						landedInside = true
						done <- err
					case <-time.After(window):
					}
				}
				o, err := st.CreateOrder(store.WithOrderPricedHook(sys, hook), req())
				if cerr := <-done; cerr != nil {
					t.Fatalf("the concurrent change failed: %v", cerr)
				}
				if landedInside {
					t.Fatalf("the %s between the order's check and its write (the order's error: %v)", c.name, err)
				}
				if err != nil {
					t.Fatalf("order: %v", err)
				}
				c.check(t, st, o, u, before)
			})
		}
	})
}
