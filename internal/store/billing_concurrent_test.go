package store_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/billing"
	"github.com/gatehouse-dev/gatehouse/internal/model"
	"github.com/gatehouse-dev/gatehouse/internal/store"
)

// concurrentWindow is how long a write held open inside its transaction
// (by a test hook) gives a concurrent one to run into it.
const concurrentWindow = 500 * time.Millisecond

// concurrentOrderTree is a tree whose branch a1 may order (the payment
// feature on).
func concurrentOrderTree(t *testing.T, st *store.Store) (*tree, *branch) {
	t.Helper()
	tr := mustTree(t, st)
	if err := st.SetSubdistributorSwitches(sys, tr.a1.installer.SubdistributorID, new(true), new(false)); err != nil {
		t.Fatal(err)
	}
	return tr, tr.a1
}

// concurrentOrderStaff adds a new office user of b to order for.
func concurrentOrderStaff(t *testing.T, st *store.Store, b *branch) *model.EndUser {
	t.Helper()
	u := &model.EndUser{ProjectID: b.office.ID, DepartmentID: b.dept.ID, Role: model.OfficeStaff, Name: fmt.Sprintf("Staff %d", nextSeq())}
	if err := st.AddEndUser(as(b.installer), u); err != nil {
		t.Fatal(err)
	}
	return u
}

// TestOrderDuringPriceChange starts an order while a price change is
// written but not yet committed. The order waits for the change and must
// then be priced from the list as changed: not from a mix of the two
// lists, and not refused for a price that exists before and after.
func TestOrderDuringPriceChange(t *testing.T) {
	eachBackend(t, func(t *testing.T, st *store.Store) {
		tr, b := concurrentOrderTree(t, st)
		distA := as(tr.distA)
		raise := func(ctx context.Context, by int64) error {
			l, err := st.GetPrices(ctx)
			if err != nil {
				return err
			}
			p, _ := l.Of(billing.OfficeUser)
			p.ActivationFee += by
			p.MonthlyFee += by
			return st.PutPrices(ctx, []billing.Price{p})
		}
		for _, c := range []struct {
			name   string
			setter context.Context // who changes the prices
		}{
			{name: "the admin changes the default list", setter: sys},
			{name: "the distributor adds an override", setter: distA},
			{name: "the distributor changes its override", setter: distA}, // the one the case before added
		} {
			t.Run(c.name, func(t *testing.T) {
				u := concurrentOrderStaff(t, st, b)
				type result struct {
					o   *billing.Order
					err error
				}
				done := make(chan result, 1)
				hook := func() {
					go func() {
						o, err := st.CreateOrder(sys, &billing.OrderRequest{Kind: "activation", InstallerID: b.installer.ID, ProjectType: "office",
							Items: []billing.OrderLine{{UserID: u.ID, Months: 12}}})
						done <- result{o, err}
					}()
					time.Sleep(concurrentWindow)
				}
				if err := raise(store.WithPricesWrittenHook(c.setter, hook), 1000); err != nil {
					t.Fatalf("price change: %v", err)
				}
				r := <-done
				if r.err != nil {
					t.Fatalf("the order begun during the price change failed: %v", r.err)
				}
				l, err := st.GetPrices(distA)
				if err != nil {
					t.Fatal(err)
				}
				now, _ := l.Of(billing.OfficeUser)
				if want := billing.Amount(now, true, 12); r.o.Total != want {
					t.Errorf("order total %d, want %d: the price in force once the change committed (%+v)", r.o.Total, want, now)
				}
			})
		}
	})
}

// TestInstallerDeletedDuringAnOrder deletes an installer (confirmed)
// while an order for one of its users is being written. An installer with
// orders cannot be deleted: the deletion must wait for the order and then
// be refused as such (409), not fail on the orders' foreign key (500).
func TestInstallerDeletedDuringAnOrder(t *testing.T) {
	eachBackend(t, func(t *testing.T, st *store.Store) {
		tr, b := concurrentOrderTree(t, st)
		u := concurrentOrderStaff(t, st, b)
		deleted := make(chan error, 1)
		hook := func() {
			go func() {
				_, err := st.DeleteInstaller(as(tr.subA1), b.installer.ID, true)
				deleted <- err
			}()
			time.Sleep(concurrentWindow)
		}
		_, orderErr := st.CreateOrder(store.WithOrderPricedHook(sys, hook), &billing.OrderRequest{Kind: "activation", InstallerID: b.installer.ID,
			ProjectType: "office", Items: []billing.OrderLine{{UserID: u.ID, Months: 12}}})
		delErr := <-deleted
		if orderErr != nil {
			t.Fatalf("the order failed: %v (the deletion: %v)", orderErr, delErr)
		}
		if model.ErrorCode(delErr) != model.ECONFLICT {
			t.Errorf("deleting the installer while its order is written: %v, want the conflict of an installer with orders", delErr)
		}
		if _, err := st.GetInstaller(sys, b.installer.ID); err != nil {
			t.Errorf("the installer with an order is gone: %v", err)
		}
	})
}
