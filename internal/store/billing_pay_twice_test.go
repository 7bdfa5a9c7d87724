package store_test

import (
	"sync"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/billing"
	"github.com/gatehouse-dev/gatehouse/internal/model"
	"github.com/gatehouse-dev/gatehouse/internal/store"
)

// TestSameOrderPaidTwiceAtOnce: one order paid by coupon several times at
// once (a payer who retries while the first payment is still running, or
// after a node was killed under it) is paid once; the other payments are
// refused as a conflict (409) — on PostgreSQL they went on to debit the
// coupon again and failed on the debit's unique key with a 500 (found by
// the fault suite's TestKillDuringPayment).
func TestSameOrderPaidTwiceAtOnce(t *testing.T) {
	eachBackend(t, func(t *testing.T, st *store.Store) {
		tr := mustTree(t, st)
		for round := range 5 {
			o := billingOrder(t, st, tr.a1)
			c := mustCoupon(t, st, tr.subA1.ID, o.Total*10)
			const payments = 6
			errs := make([]error, payments)
			var wg sync.WaitGroup
			for i := range errs {
				wg.Add(1)
				go func() {
					defer wg.Done()
					_, errs[i] = st.PayWithCoupons(as(tr.subA1), o.Number, []string{c.Code})
				}()
			}
			wg.Wait()
			ok := 0
			for _, err := range errs {
				switch model.ErrorCode(err) {
				case "":
					ok++
				case model.ECONFLICT:
				default:
					t.Errorf("round %d: paying the order again at once: %v, want a conflict", round, err)
				}
			}
			if ok != 1 {
				t.Errorf("round %d: %d of %d payments of one order succeeded", round, ok, payments)
			}
			l, _ := st.ListCoupons(as(tr.subA1), billing.CouponFilter{Page: model.Page{Page: 1, PerPage: 50}})
			for _, x := range l.Items {
				if x.Code == c.Code && x.Balance != o.Total*9 {
					t.Errorf("round %d: coupon balance %d, want %d (spent once)", round, x.Balance, o.Total*9)
				}
			}
		}
	})
}
