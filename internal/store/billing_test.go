package store_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/billing"
	"github.com/gatehouse-dev/gatehouse/internal/model"
	"github.com/gatehouse-dev/gatehouse/internal/store"
)

// billingFixture switches payments on for b's sub-distributor and adds a
// fresh, not yet active office user to b; it returns an activation order
// for it (12 months) made by the system.
func billingOrder(t testing.TB, st *store.Store, b *branch) *billing.Order {
	t.Helper()
	if err := st.SetSubdistributorSwitches(sys, b.installer.SubdistributorID, new(true), new(false)); err != nil {
		t.Fatal(err)
	}
	u := &model.EndUser{ProjectID: b.office.ID, DepartmentID: b.dept.ID, Role: model.OfficeStaff, Name: fmt.Sprintf("Staff %d", nextSeq())}
	if err := st.AddEndUser(as(b.installer), u); err != nil {
		t.Fatal(err)
	}
	o, err := st.CreateOrder(sys, &billing.OrderRequest{Kind: "activation", InstallerID: b.installer.ID, ProjectType: "office",
		Items: []billing.OrderLine{{UserID: u.ID, Months: 12}}})
	if err != nil {
		t.Fatal(err)
	}
	return o
}

func mustCoupon(t testing.TB, st *store.Store, subID int64, value int64) *billing.Coupon {
	t.Helper()
	c := &billing.Coupon{Code: fmt.Sprintf("CPN-%d", nextSeq()), SubdistributorID: subID, Value: value, Expires: time.Now().Add(24 * time.Hour)}
	if err := st.IssueCoupon(sys, c); err != nil {
		t.Fatal(err)
	}
	return c
}

// forbiddenAsRefusal turns a role refusal into the tenancy table's refusal
// (role rules are tested on their own below).
func forbiddenAsRefusal(err error) error {
	if model.ErrorCode(err) == model.EFORBIDDEN {
		return model.NotFound("forbidden by role")
	}
	return err
}

func init() {
	subOnly := func(a *model.Account) bool { return a.Role == model.RoleSubdistributor }
	subOrInstaller := func(a *model.Account) bool {
		return a.Role == model.RoleSubdistributor || a.Role == model.RoleInstaller
	}
	distOnly := func(a *model.Account) bool { return a.Role == model.RoleDistributor || a.Role == model.RoleAdmin }
	tenancyCases = append(tenancyCases,
		tenancyCase{method: "CreateOrder", call: func(st *store.Store, ctx context.Context, b *branch) error {
			o := billingOrder(nil2(), st, b)
			_, err := st.CreateOrder(ctx, &billing.OrderRequest{Kind: "renewal", InstallerID: b.installer.ID, ProjectType: "community",
				Items: []billing.OrderLine{{UserID: b.user.ID, Months: 3}}})
			_ = o
			if model.ErrorCode(err) == model.EINVALID && model.ErrorFields(err)["items[0].user_id"] != "" {
				return nil // the installer was accepted; the user was never activated
			}
			return err
		}},
		tenancyCase{method: "GetOrder", call: func(st *store.Store, ctx context.Context, b *branch) error {
			_, err := st.GetOrder(ctx, billingOrder(nil2(), st, b).Number)
			return err
		}},
		tenancyCase{method: "CancelOrder", call: func(st *store.Store, ctx context.Context, b *branch) error {
			return st.CancelOrder(ctx, billingOrder(nil2(), st, b).Number)
		}},
		tenancyCase{method: "HideOrder", call: func(st *store.Store, ctx context.Context, b *branch) error {
			o := billingOrder(nil2(), st, b)
			if err := st.CancelOrder(sys, o.Number); err != nil {
				return fmt.Errorf("cancel: %w", err)
			}
			return st.HideOrder(ctx, o.Number)
		}},
		tenancyCase{method: "PayWithCoupons", call: func(st *store.Store, ctx context.Context, b *branch) error {
			o := billingOrder(nil2(), st, b)
			c := mustCoupon(nil2(), st, b.installer.SubdistributorID, 1_000_000)
			_, err := st.PayWithCoupons(ctx, o.Number, []string{c.Code})
			return forbiddenAsRefusal(err)
		}, allowed: subOnly}, // coupons are the sub-distributor's money
		// Pay by Distributor off: the sub-distributor and the installer (charge mode "installer") pay.
		tenancyCase{method: "PreparePayment", call: func(st *store.Store, ctx context.Context, b *branch) error {
			_, err := st.PreparePayment(ctx, billingOrder(nil2(), st, b).Number, "stripe")
			return forbiddenAsRefusal(err)
		}, allowed: subOrInstaller},
		// Pay by Distributor on: the distributor (and the admin with it) pays.
		tenancyCase{method: "PreparePayment", call: func(st *store.Store, ctx context.Context, b *branch) error {
			o := billingOrder(nil2(), st, b)
			if err := st.SetSubdistributorSwitches(sys, b.installer.SubdistributorID, new(true), new(true)); err != nil {
				panic(err)
			}
			_, err := st.PreparePayment(ctx, o.Number, "stripe")
			return forbiddenAsRefusal(err)
		}, allowed: distOnly},
		tenancyCase{method: "RecordCheckout", call: func(st *store.Store, ctx context.Context, b *branch) error {
			return st.RecordCheckout(ctx, billingOrder(nil2(), st, b).Number, "stripe", "cs_test")
		}},
		tenancyCase{method: "ApplyPaymentEvent", call: func(st *store.Store, ctx context.Context, b *branch) error {
			o := billingOrder(nil2(), st, b)
			_, err := st.ApplyPaymentEvent(ctx, "stripe", billing.Event{ID: fmt.Sprintf("evt_%d", nextSeq()), Kind: billing.EventPaid, OrderNumber: o.Number, Amount: o.Total})
			return err
		}},
		tenancyCase{method: "InvoiceFor", call: func(st *store.Store, ctx context.Context, b *branch) error {
			o := billingOrder(nil2(), st, b)
			if _, err := st.ApplyPaymentEvent(sys, "stripe", billing.Event{ID: fmt.Sprintf("evt_%d", nextSeq()), Kind: billing.EventPaid, OrderNumber: o.Number}); err != nil {
				return err
			}
			_, err := st.InvoiceFor(ctx, o.Number)
			return err
		}},
		tenancyCase{method: "IssueCoupon", call: func(st *store.Store, ctx context.Context, b *branch) error {
			c := &billing.Coupon{Code: fmt.Sprintf("T-%d", nextSeq()), SubdistributorID: b.installer.SubdistributorID, Value: 100, Expires: time.Now().Add(time.Hour)}
			return forbiddenAsRefusal(st.IssueCoupon(ctx, c))
		}, allowed: distOnly},
	)
	for _, m := range []string{"ListOrders", "ListCoupons", "ListBillableUsers"} {
		coveredElsewhere[m] = "TestBillingLists"
	}
	for _, m := range []string{"GetPrices", "PutPrices"} {
		coveredElsewhere[m] = "TestPrices"
	}
	for _, m := range []string{"GetBillingInfo", "PutBillingInfo"} {
		coveredElsewhere[m] = "TestBillingInfoIsOwn"
	}
	coveredElsewhere["PaymentGate"] = "TestPaymentGate"
	coveredElsewhere["TimeoutOrders"] = "TestOrderTimeout"
}

// nil2 is the testing.TB of fixtures made inside tenancy calls: a failure
// there panics, which fails the test loudly.
func nil2() testing.TB { return panicTB{} }

type panicTB struct{ testing.TB }

func (panicTB) Helper()                   {}
func (panicTB) Fatal(args ...any)         { panic(fmt.Sprint(args...)) }
func (panicTB) Fatalf(f string, a ...any) { panic(fmt.Sprintf(f, a...)) }

func TestBillingLists(t *testing.T) {
	eachBackend(t, func(t *testing.T, st *store.Store) {
		tr := mustTree(t, st)
		orders := map[int64]*billing.Order{}
		for _, b := range []*branch{tr.a1, tr.a2, tr.b} {
			orders[b.installer.ID] = billingOrder(t, st, b)
			mustCoupon(t, st, b.installer.SubdistributorID, 500)
		}
		for _, actor := range []*model.Account{tr.admin, tr.distA, tr.subA1, tr.subA2, tr.a1.installer, tr.distB, tr.subB, tr.b.installer} {
			l, err := st.ListOrders(as(actor), billing.OrderFilter{Page: model.Page{Page: 1, PerPage: 500}})
			if err != nil {
				t.Fatal(err)
			}
			want := 0
			for _, b := range []*branch{tr.a1, tr.a2, tr.b} {
				if tr.canSee(actor, b) {
					want++
				}
			}
			if l.Total != want || len(l.Items) != want {
				t.Errorf("ListOrders by %s: %d orders, want %d", actor.Username, l.Total, want)
			}
			for _, o := range l.Items {
				inst, _ := st.GetAccount(sys, o.InstallerID)
				if !tr.inSubtree(st, actor, inst) {
					t.Errorf("ListOrders by %s shows %s's order", actor.Username, inst.Username)
				}
			}
			cl, err := st.ListCoupons(as(actor), billing.CouponFilter{Page: model.Page{Page: 1, PerPage: 500}})
			if actor.Role == model.RoleInstaller {
				if model.ErrorCode(err) != model.EFORBIDDEN {
					t.Errorf("ListCoupons by installer: %v", err)
				}
			} else {
				for _, c := range cl.Items {
					sub, _ := st.GetAccount(sys, c.SubdistributorID)
					if !tr.inSubtree(st, actor, sub) {
						t.Errorf("ListCoupons by %s shows %s's coupon", actor.Username, sub.Username)
					}
				}
				if cl.Total == 0 {
					t.Errorf("ListCoupons by %s: none", actor.Username)
				}
			}
			// Billable users of another subtree's installer: none.
			for _, b := range []*branch{tr.a1, tr.b} {
				us, err := st.ListBillableUsers(as(actor), billing.BillableFilter{InstallerID: b.installer.ID, ProjectType: "office", Mode: "active"})
				if err != nil {
					t.Fatal(err)
				}
				if tr.canSee(actor, b) != (len(us) > 0) {
					t.Errorf("ListBillableUsers by %s of %s: %d users", actor.Username, b.installer.Username, len(us))
				}
			}
		}
		// Filters: number, status, type.
		o := orders[tr.a1.installer.ID]
		l, _ := st.ListOrders(as(tr.subA1), billing.OrderFilter{Number: o.Number[12:], Page: model.Page{Page: 1, PerPage: 50}})
		if l.Total != 1 || l.Items[0].Number != o.Number {
			t.Errorf("search by number: %+v", l.Items)
		}
		l, _ = st.ListOrders(as(tr.subA1), billing.OrderFilter{Status: billing.StatusCompleted, Page: model.Page{Page: 1, PerPage: 50}})
		if l.Total != 0 {
			t.Errorf("completed orders: %d", l.Total)
		}
		// Hidden orders leave the list.
		if err := st.CancelOrder(as(tr.subA1), o.Number); err != nil {
			t.Fatal(err)
		}
		if err := st.HideOrder(as(tr.subA1), o.Number); err != nil {
			t.Fatal(err)
		}
		l, _ = st.ListOrders(as(tr.subA1), billing.OrderFilter{Page: model.Page{Page: 1, PerPage: 50}})
		if l.Total != 0 {
			t.Errorf("a hidden order is listed: %+v", l.Items)
		}
	})
}

func TestPrices(t *testing.T) {
	eachBackend(t, func(t *testing.T, st *store.Store) {
		tr := mustTree(t, st)
		def, err := st.GetPrices(as(tr.subA1))
		if err != nil || len(def.Items) != len(billing.Items) || def.Currency != "USD" {
			t.Fatalf("default prices: %+v %v", def, err)
		}
		if err := st.PutPrices(as(tr.distA), []billing.Price{{Item: billing.OfficeUser, ActivationFee: 1, MonthlyFee: 2, Currency: "USD"}}); err != nil {
			t.Fatal(err)
		}
		a, _ := st.GetPrices(as(tr.a1.installer))
		b, _ := st.GetPrices(as(tr.b.installer))
		pa, _ := a.Of(billing.OfficeUser)
		pb, _ := b.Of(billing.OfficeUser)
		if pa.MonthlyFee != 2 || !pa.Overridden || pb.MonthlyFee == 2 {
			t.Errorf("override: A %+v, B %+v", pa, pb)
		}
		if err := st.PutPrices(as(tr.subA1), []billing.Price{{Item: billing.OfficeUser, Currency: "USD"}}); model.ErrorCode(err) != model.EFORBIDDEN {
			t.Errorf("sub-distributor sets prices: %v", err)
		}
		err = st.PutPrices(as(tr.distA), []billing.Price{{Item: billing.OfficeUser, MonthlyFee: 2, Currency: "EUR"}})
		if model.ErrorCode(err) != model.EINVALID {
			t.Errorf("second currency: %v", err)
		}
		// The order is priced from the override: 1 + 12×2.
		o := billingOrder(t, st, tr.a1)
		if o.Total != 25 {
			t.Errorf("order total %d, want 25", o.Total)
		}
	})
}

func TestBillingInfoIsOwn(t *testing.T) {
	eachBackend(t, func(t *testing.T, st *store.Store) {
		tr := mustTree(t, st)
		if err := st.PutBillingInfo(as(tr.subA1), &billing.Info{Company: "Sub A1 Ltd", ATTN: "Ann", Email: "ann@a1.example", TEL: "+1 555"}); err != nil {
			t.Fatal(err)
		}
		if err := st.PutBillingInfo(as(tr.subA1), &billing.Info{Email: "not mail"}); model.ErrorFields(err)["email"] == "" {
			t.Errorf("bad email: %v", err)
		}
		mine, _ := st.GetBillingInfo(as(tr.subA1))
		other, _ := st.GetBillingInfo(as(tr.subA2))
		if mine.Company != "Sub A1 Ltd" || other.Company == "Sub A1 Ltd" {
			t.Errorf("billing info: mine %+v, other %+v", mine, other)
		}
	})
}

func TestPaymentGate(t *testing.T) {
	eachBackend(t, func(t *testing.T, st *store.Store) {
		tr := mustTree(t, st)
		g, _ := st.PaymentGate(as(tr.subA1))
		if g.Enabled || g.Reason == "" {
			t.Errorf("payments off: %+v", g)
		}
		if _, err := st.ListOrders(as(tr.a1.installer), billing.OrderFilter{Page: model.Page{Page: 1, PerPage: 5}}); model.ErrorCode(err) != model.EFORBIDDEN {
			t.Errorf("installer lists orders with payments off: %v", err)
		}
		o := billingOrder(t, st, tr.a1) // switches payments on
		if err := st.SetSubdistributorSwitches(sys, tr.subA1.ID, new(true), new(true)); err != nil {
			t.Fatal(err)
		}
		c := mustCoupon(t, st, tr.subA1.ID, 100000)
		if _, err := st.PayWithCoupons(as(tr.subA1), o.Number, []string{c.Code}); model.ErrorCode(err) != model.EFORBIDDEN {
			t.Errorf("sub-distributor pays with Pay by Distributor on: %v", err)
		}
		if _, err := st.PreparePayment(as(tr.a1.installer), o.Number, "stripe"); model.ErrorCode(err) != model.EFORBIDDEN {
			t.Errorf("installer pays with Pay by Distributor on: %v", err)
		}
		if _, err := st.PayWithCoupons(as(tr.distA), o.Number, []string{c.Code}); model.ErrorCode(err) != model.EFORBIDDEN {
			t.Errorf("the distributor spends the sub-distributor's coupon: %v", err)
		}
		if _, err := st.PreparePayment(as(tr.distA), o.Number, "stripe"); err != nil {
			t.Errorf("the distributor pays: %v", err)
		}
		g, _ = st.PaymentGate(as(tr.subA1))
		if !g.Enabled || g.CanPay {
			t.Errorf("pay by distributor gate: %+v", g)
		}
	})
}

// TestExactlyOnce: replayed, duplicated and concurrent paid events
// complete an order and extend its user's expiry once.
func TestExactlyOnce(t *testing.T) {
	eachBackend(t, func(t *testing.T, st *store.Store) {
		tr := mustTree(t, st)
		o := billingOrder(t, st, tr.a1)
		uid := o.Items[0].EndUserID
		var wg sync.WaitGroup
		applied := make(chan bool, 20)
		for i := 0; i < 20; i++ {
			wg.Add(1)
			go func(i int) {
				defer wg.Done()
				// Two event ids (a webhook and a return-URL confirm), each delivered ten times.
				ok, err := st.ApplyPaymentEvent(sys, "stripe", billing.Event{ID: fmt.Sprintf("evt_%d", i%2), Kind: billing.EventPaid, OrderNumber: o.Number, Amount: o.Total, Currency: "usd"})
				if err != nil {
					t.Error(err)
				}
				applied <- ok
			}(i)
		}
		wg.Wait()
		close(applied)
		n := 0
		for ok := range applied {
			if ok {
				n++
			}
		}
		if n != 1 {
			t.Errorf("applied %d times", n)
		}
		u, _ := st.GetEndUser(sys, uid)
		want := time.Now().AddDate(0, 12, 0)
		if !u.Active || u.AppExpires == nil || u.AppExpires.Sub(want).Abs() > time.Hour {
			t.Errorf("user after payment: active %v, expires %v (want about %v)", u.Active, u.AppExpires, want)
		}
		got, _ := st.GetOrder(sys, o.Number)
		if got.Status != billing.StatusCompleted || got.Items[0].NewExpires == nil {
			t.Errorf("order: %+v", got)
		}
		// A renewal extends from the current expiry.
		r, err := st.CreateOrder(sys, &billing.OrderRequest{Kind: "renewal", InstallerID: tr.a1.installer.ID, ProjectType: "office",
			Items: []billing.OrderLine{{UserID: uid, Months: 6}}})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := st.ApplyPaymentEvent(sys, "paypal", billing.Event{ID: "WH-1", Kind: billing.EventPaid, OrderNumber: r.Number}); err != nil {
			t.Fatal(err)
		}
		u2, _ := st.GetEndUser(sys, uid)
		if !u2.AppExpires.Equal(u.AppExpires.AddDate(0, 6, 0)) {
			t.Errorf("renewal: %v, want %v", u2.AppExpires, u.AppExpires.AddDate(0, 6, 0))
		}
		// Longer than 60 months is refused, naming the field.
		_, err = st.CreateOrder(sys, &billing.OrderRequest{Kind: "renewal", InstallerID: tr.a1.installer.ID, ProjectType: "office",
			Items: []billing.OrderLine{{UserID: uid, Months: 61}}})
		if model.ErrorFields(err)["items[0].months"] == "" {
			t.Errorf("61 months: %v", err)
		}
	})
}

// TestConcurrentCouponPayments: 100 payments at once against one coupon
// never drive its balance below zero and debit exactly what they pay.
func TestConcurrentCouponPayments(t *testing.T) {
	eachBackend(t, func(t *testing.T, st *store.Store) {
		tr := mustTree(t, st)
		var orders []*billing.Order
		for i := 0; i < 100; i++ {
			orders = append(orders, billingOrder(t, st, tr.a1))
		}
		each := orders[0].Total
		c := mustCoupon(t, st, tr.subA1.ID, each*10+each/2) // pays 10 orders, not 11
		var wg sync.WaitGroup
		var mu sync.Mutex
		paid := 0
		for _, o := range orders {
			wg.Add(1)
			go func(o *billing.Order) {
				defer wg.Done()
				_, err := st.PayWithCoupons(as(tr.subA1), o.Number, []string{c.Code})
				if err == nil {
					mu.Lock()
					paid++
					mu.Unlock()
				} else if code := model.ErrorCode(err); code != model.EINVALID && code != model.ECONFLICT {
					t.Errorf("pay: %v", err)
				}
			}(o)
		}
		wg.Wait()
		if paid != 10 {
			t.Errorf("%d orders paid, want 10", paid)
		}
		l, _ := st.ListCoupons(as(tr.subA1), billing.CouponFilter{Page: model.Page{Page: 1, PerPage: 50}})
		for _, x := range l.Items {
			if x.Code == c.Code && x.Balance != each/2 {
				t.Errorf("balance %d, want %d", x.Balance, each/2)
			}
		}
		done, _ := st.ListOrders(as(tr.subA1), billing.OrderFilter{Status: billing.StatusCompleted, Page: model.Page{Page: 1, PerPage: 500}})
		if done.Total != 10 {
			t.Errorf("%d completed orders, want 10", done.Total)
		}
	})
}

// TestOrderTimeout: an unpaid order times out; a late payment still completes it and says so.
func TestOrderTimeout(t *testing.T) {
	eachBackend(t, func(t *testing.T, st *store.Store) {
		tr := mustTree(t, st)
		o := billingOrder(t, st, tr.a1)
		if n, err := st.TimeoutOrders(sys, 30*time.Minute); err != nil || n != 0 {
			t.Fatalf("fresh order timed out: %d %v", n, err)
		}
		if _, err := st.TimeoutOrders(as(tr.subA1), time.Minute); model.ErrorCode(err) != model.EFORBIDDEN {
			t.Errorf("sub-distributor runs timeouts: %v", err)
		}
		st.SetClock(func() time.Time { return time.Now().UTC().Add(31 * time.Minute) })
		if n, err := st.TimeoutOrders(sys, 30*time.Minute); err != nil || n != 1 {
			t.Fatalf("timed out %d, %v", n, err)
		}
		got, _ := st.GetOrder(sys, o.Number)
		if got.Status != billing.StatusTimeout {
			t.Fatalf("status %s", got.Status)
		}
		if err := st.CancelOrder(sys, o.Number); model.ErrorCode(err) != model.ECONFLICT {
			t.Errorf("cancel a timed-out order: %v", err)
		}
		if ok, err := st.ApplyPaymentEvent(sys, "stripe", billing.Event{ID: "late", Kind: billing.EventPaid, OrderNumber: o.Number}); err != nil || !ok {
			t.Fatalf("late webhook: %v %v", ok, err)
		}
		got, _ = st.GetOrder(sys, o.Number)
		last := got.Events[len(got.Events)-1]
		if got.Status != billing.StatusCompleted || last.Status != billing.StatusCompleted || !contains(last.Message, "after the order was Timeout") {
			t.Errorf("late payment: %s, history %+v", got.Status, got.Events)
		}
	})
}

func contains(s, sub string) bool {
	return len(sub) == 0 || (len(s) >= len(sub) && (s[:len(sub)] == sub || contains(s[1:], sub)))
}

// TestRunOrderTimeoutsIsOwnedByItsCaller: the loop times orders out as the
// system, and returns when its context ends, so that serve can wait for it
// before it closes the store.
func TestRunOrderTimeoutsIsOwnedByItsCaller(t *testing.T) {
	eachBackend(t, func(t *testing.T, st *store.Store) {
		tr := mustTree(t, st)
		o := billingOrder(t, st, tr.a1)
		st.SetClock(func() time.Time { return time.Now().UTC().Add(31 * time.Minute) })
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		var logged []string
		go func() {
			defer close(done)
			store.RunOrderTimeouts(ctx, st, 30*time.Minute, time.Hour, func(f string, a ...any) { logged = append(logged, fmt.Sprintf(f, a...)) })
		}()
		deadline := time.Now().Add(10 * time.Second)
		for {
			got, err := st.GetOrder(sys, o.Number)
			if err == nil && got.Status == billing.StatusTimeout {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("the order did not time out: %+v %v", got, err)
			}
			time.Sleep(20 * time.Millisecond)
		}
		cancel()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Fatal("RunOrderTimeouts did not return after its context ended")
		}
		if len(logged) != 1 || !contains(logged[0], "1 orders timed out") {
			t.Errorf("logged %q", logged)
		}
	})
}
