package store_test

import (
	"context"
	"fmt"
	"reflect"
	"sort"
	"sync"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/billing"
	"github.com/gatehouse-dev/gatehouse/internal/model"
	"github.com/gatehouse-dev/gatehouse/internal/store"
)

func mustInvoice(t *testing.T, st *store.Store, ctx context.Context, number string) *billing.Invoice {
	t.Helper()
	inv, err := st.InvoiceFor(ctx, number)
	if err != nil {
		t.Fatalf("invoice of %s: %v", number, err)
	}
	return inv
}

func mustPaidEvent(t *testing.T, st *store.Store, o *billing.Order) {
	t.Helper()
	if ok, err := st.ApplyPaymentEvent(sys, "stripe", billing.Event{ID: fmt.Sprintf("evt_%d", nextSeq()), Kind: billing.EventPaid, OrderNumber: o.Number}); err != nil || !ok {
		t.Fatalf("pay %s: %v %v", o.Number, ok, err)
	}
}

// TestInvoiceFrozen: the invoice of a completed order keeps the billing
// information, lines and total it was issued with, whatever is edited
// later; invoices are numbered per issuer without gaps.
func TestInvoiceFrozen(t *testing.T) {
	eachBackend(t, func(t *testing.T, st *store.Store) {
		tr := mustTree(t, st)
		oldPayer := billing.Info{Company: "Old Sub Ltd", ATTN: "Ann", Address: "1 Old Street", TEL: "+1 555 1", Fax: "+1 555 2", Email: "ann@old.example"}
		oldSeller := billing.Info{Company: "Old Distribution", Address: "9 Seller Way", Email: "sales@old.example"}
		if err := st.PutBillingInfo(as(tr.subA1), &oldPayer); err != nil {
			t.Fatal(err)
		}
		if err := st.PutBillingInfo(as(tr.distA), &oldSeller); err != nil {
			t.Fatal(err)
		}
		o := billingOrder(t, st, tr.a1)
		c := mustCoupon(t, st, tr.subA1.ID, 1_000_000)
		paid, err := st.PayWithCoupons(as(tr.subA1), o.Number, []string{c.Code})
		if err != nil {
			t.Fatal(err)
		}
		inv := mustInvoice(t, st, as(tr.subA1), o.Number)
		if inv.Payer != oldPayer || inv.Seller != oldSeller || inv.Total != o.Total || len(inv.Lines) != 1 ||
			inv.Lines[0].Amount != o.Items[0].Amount || inv.Lines[0].UserName != o.Items[0].UserName || inv.Lines[0].NewExpires == nil ||
			inv.Seq < 1 || inv.Number != billing.InvoiceNumber(inv.Seq) || inv.IssuerID != tr.distA.ID || inv.OrderNumber != o.Number {
			t.Fatalf("issued invoice: %+v", inv)
		}
		if paid.InvoiceNumber != inv.Number {
			t.Errorf("order's invoice number %q, invoice %q", paid.InvoiceNumber, inv.Number)
		}

		// Everything an invoice printed changes afterwards…
		if err := st.PutBillingInfo(as(tr.subA1), &billing.Info{Company: "New Sub GmbH", ATTN: "Bob", Address: "2 New Road"}); err != nil {
			t.Fatal(err)
		}
		if err := st.PutBillingInfo(as(tr.distA), &billing.Info{Company: "New Distribution"}); err != nil {
			t.Fatal(err)
		}
		if err := st.PutPrices(as(tr.distA), []billing.Price{{Item: billing.OfficeUser, ActivationFee: 7777, MonthlyFee: 777, Currency: "USD"}}); err != nil {
			t.Fatal(err)
		}
		// … and the issued invoice, seen by anyone allowed, stays as issued.
		for _, a := range []*model.Account{tr.subA1, tr.distA, tr.admin, tr.a1.installer} {
			if got := mustInvoice(t, st, as(a), o.Number); !reflect.DeepEqual(got, inv) {
				t.Errorf("invoice read by %s after the edits:\n got %+v\nwant %+v", a.Username, got, inv)
			}
		}

		// A later order (completed by a provider's webhook, the system
		// acting) takes the new details and the next number.
		o2 := billingOrder(t, st, tr.a1)
		mustPaidEvent(t, st, o2)
		inv2 := mustInvoice(t, st, as(tr.subA1), o2.Number)
		if inv2.Payer.Company != "New Sub GmbH" || inv2.Seller.Company != "New Distribution" || inv2.Seq != inv.Seq+1 || inv2.Total != 7777+12*777 {
			t.Errorf("later invoice: %+v", inv2)
		}

		// Another issuer numbers from 1.
		ob := billingOrder(t, st, tr.b)
		mustPaidEvent(t, st, ob)
		if ib := mustInvoice(t, st, as(tr.subB), ob.Number); ib.Seq != 1 || ib.IssuerID != tr.distB.ID {
			t.Errorf("distB's first invoice: %+v", ib)
		}

		// An unpaid order has none.
		o3 := billingOrder(t, st, tr.a1)
		if _, err := st.InvoiceFor(as(tr.subA1), o3.Number); model.ErrorCode(err) != model.ECONFLICT {
			t.Errorf("invoice of an unpaid order: %v", err)
		}
	})
}

// TestInvoiceNumbersGapFree: payments completing at once take consecutive
// numbers, each once.
func TestInvoiceNumbersGapFree(t *testing.T) {
	eachBackend(t, func(t *testing.T, st *store.Store) {
		tr := mustTree(t, st)
		var orders []*billing.Order
		for i := 0; i < 12; i++ {
			b := tr.a1
			if i%2 == 1 {
				b = tr.a2 // another sub-distributor, the same issuer
			}
			orders = append(orders, billingOrder(t, st, b))
		}
		var wg sync.WaitGroup
		for _, o := range orders {
			wg.Add(1)
			go func(o *billing.Order) {
				defer wg.Done()
				// Delivered twice: the second delivery issues nothing.
				for i := 0; i < 2; i++ {
					if _, err := st.ApplyPaymentEvent(sys, "stripe", billing.Event{ID: "evt_" + o.Number, Kind: billing.EventPaid, OrderNumber: o.Number}); err != nil {
						t.Error(err)
					}
				}
			}(o)
		}
		wg.Wait()
		var seqs []int
		for _, o := range orders {
			seqs = append(seqs, int(mustInvoice(t, st, sys, o.Number).Seq))
		}
		sort.Ints(seqs)
		for i, s := range seqs {
			if s != i+1 {
				t.Fatalf("invoice numbers %v: want 1 to %d", seqs, len(orders))
			}
		}
	})
}

// TestInvoiceMigration: orders completed before migration 00017 get
// invoices from the billing information saved then (the account's own
// details where none was), numbered per issuer in payment order, and
// later invoices continue the sequence.
func TestInvoiceMigration(t *testing.T) {
	eachBackend(t, func(t *testing.T, st *store.Store) {
		tr := mustTree(t, st)
		o1 := billingOrder(t, st, tr.a1)
		mustPaidEvent(t, st, o1)
		o2 := billingOrder(t, st, tr.a2)
		mustPaidEvent(t, st, o2)
		if err := st.PutBillingInfo(as(tr.subA1), &billing.Info{Company: "Saved Later Ltd", Address: "3 Saved Street"}); err != nil {
			t.Fatal(err)
		}
		if _, err := st.DB().Exec(fmt.Sprintf(`UPDATE accounts SET company = 'A2 Account Co', email = 'a2@account.example' WHERE id = %d`, tr.subA2.ID)); err != nil {
			t.Fatal(err)
		}
		if err := store.RedoMigration(context.Background(), st, 17); err != nil {
			t.Fatal(err)
		}
		i1 := mustInvoice(t, st, sys, o1.Number)
		i2 := mustInvoice(t, st, sys, o2.Number)
		if i1.Seq != 1 || i2.Seq != 2 || i1.Payer.Company != "Saved Later Ltd" || i1.Payer.Address != "3 Saved Street" ||
			i1.Total != o1.Total || len(i1.Lines) != 1 || i1.Lines[0].Description != billing.OfficeUser.Label() || i1.Installer != tr.a1.installer.Username {
			t.Errorf("migrated invoice 1: %+v", i1)
		}
		// subA2 saved nothing: its account's details, as the invoice printed them.
		if i2.Payer.Company != "A2 Account Co" || i2.Payer.ATTN != tr.subA2.Name || i2.Payer.Email != "a2@account.example" || i2.Payer.Address != "" {
			t.Errorf("migrated invoice 2 payer %+v, account %+v", i2.Payer, tr.subA2)
		}
		o3 := billingOrder(t, st, tr.a1)
		mustPaidEvent(t, st, o3)
		if i3 := mustInvoice(t, st, sys, o3.Number); i3.Seq != 3 {
			t.Errorf("the next invoice after the migration: %d", i3.Seq)
		}
	})
}

// TestInvoiceNumberRollback: a completion that fails after taking its
// invoice number (here the audit row is refused by a trigger) gives the
// number back with the rest of the transaction.
func TestInvoiceNumberRollback(t *testing.T) {
	eachBackend(t, func(t *testing.T, st *store.Store) {
		tr := mustTree(t, st)
		o1 := billingOrder(t, st, tr.a1)
		mustPaidEvent(t, st, o1)
		bad := billingOrder(t, st, tr.a1)
		ddl := []string{fmt.Sprintf(`CREATE TRIGGER refuse_audit BEFORE INSERT ON audit_log
			WHEN NEW.action = 'order.pay' AND NEW.object_id = '%s' BEGIN SELECT RAISE(ABORT, 'refused'); END`, bad.Number)}
		if st.Dialect() == store.Postgres {
			ddl = []string{fmt.Sprintf(`CREATE FUNCTION refuse_audit() RETURNS trigger LANGUAGE plpgsql AS $$
				BEGIN IF NEW.action = 'order.pay' AND NEW.object_id = '%s' THEN RAISE EXCEPTION 'refused'; END IF; RETURN NEW; END $$`, bad.Number),
				`CREATE TRIGGER refuse_audit BEFORE INSERT ON audit_log FOR EACH ROW EXECUTE FUNCTION refuse_audit()`}
		}
		for _, q := range ddl {
			if _, err := st.DB().Exec(q); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := st.ApplyPaymentEvent(sys, "stripe", billing.Event{ID: "evt_refused", Kind: billing.EventPaid, OrderNumber: bad.Number}); err == nil {
			t.Fatal("the refused completion succeeded")
		}
		if got, _ := st.GetOrder(sys, bad.Number); got.Status == billing.StatusCompleted || got.InvoiceNumber != "" {
			t.Errorf("half-completed order: %+v", got)
		}
		o2 := billingOrder(t, st, tr.a1)
		mustPaidEvent(t, st, o2)
		if i1, i2 := mustInvoice(t, st, sys, o1.Number), mustInvoice(t, st, sys, o2.Number); i2.Seq != i1.Seq+1 {
			t.Errorf("invoice numbers %d then %d: a gap", i1.Seq, i2.Seq)
		}
	})
}
