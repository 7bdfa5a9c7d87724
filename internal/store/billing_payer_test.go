package store_test

import (
	"strings"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/billing"
	"github.com/gatehouse-dev/gatehouse/internal/model"
	"github.com/gatehouse-dev/gatehouse/internal/store"
)

// TestWhoPays walks the payer rules (billing.MayPay) through the store for
// every combination of Pay by Distributor and the installer's charge mode:
// what GetOrder and ListOrders say (can_pay, pay_note), what PaymentGate
// says, and that PreparePayment, PayWithCoupons and CreateOrder obey it.
func TestWhoPays(t *testing.T) {
	eachBackend(t, func(t *testing.T, st *store.Store) {
		tr := mustTree(t, st)
		inst := tr.a1.installer
		actors := map[string]*model.Account{"admin": tr.admin, "distributor": tr.distA, "subdistributor": tr.subA1, "installer": inst}

		// check says who may pay o (the others may not) and that the list agrees.
		check := func(what string, o *billing.Order, distributorPays bool, payers ...string) {
			t.Helper()
			for name, a := range actors {
				want := false
				for _, p := range payers {
					want = want || p == name
				}
				got, err := st.GetOrder(as(a), o.Number)
				if err != nil {
					t.Fatalf("%s: GetOrder by %s: %v", what, name, err)
				}
				if got.CanPay != want || got.DistributorPays != distributorPays {
					t.Errorf("%s: %s sees can_pay %v, distributor_pays %v; want %v, %v", what, name, got.CanPay, got.DistributorPays, want, distributorPays)
				}
				if !want && got.PayNote == "" {
					t.Errorf("%s: %s may not pay and is not told why", what, name)
				}
				if want && got.PayNote != "" {
					t.Errorf("%s: %s may pay but reads %q", what, name, got.PayNote)
				}
				l, err := st.ListOrders(as(a), billing.OrderFilter{Number: o.Number, Page: model.Page{Page: 1, PerPage: 5}})
				if err != nil || len(l.Items) != 1 || l.Items[0].CanPay != want {
					t.Errorf("%s: ListOrders by %s: %+v %v", what, name, l.Items, err)
				}
				_, err = st.PreparePayment(as(a), o.Number, "stripe")
				if want && err != nil {
					t.Errorf("%s: %s may pay but PreparePayment says %v", what, name, err)
				} else if !want && model.ErrorCode(err) != model.EFORBIDDEN {
					t.Errorf("%s: %s may not pay but PreparePayment says %v", what, name, err)
				}
			}
		}
		gate := func(what string, a *model.Account, canPay bool, reason string) {
			t.Helper()
			g, err := st.PaymentGate(as(a))
			if err != nil || !g.Enabled || g.CanPay != canPay || !strings.Contains(g.Reason, reason) {
				t.Errorf("%s: PaymentGate of %s = %+v, %v; want can pay %v, reason with %q", what, a.Username, g, err, canPay, reason)
			}
		}

		// 1. Pay by Distributor off, charge mode "installer": the sub-distributor and the installer pay.
		o := billingOrder(t, st, tr.a1)
		check("installer pays", o, false, "subdistributor", "installer")
		gate("installer pays", inst, true, "")
		gate("installer pays", tr.subA1, true, "")
		c := mustCoupon(t, st, tr.subA1.ID, 1_000_000)
		for _, a := range []*model.Account{inst, tr.distA, tr.admin} {
			if _, err := st.PayWithCoupons(as(a), o.Number, []string{c.Code}); model.ErrorCode(err) != model.EFORBIDDEN || !strings.Contains(model.ErrorMessage(err), "Coupons belong") {
				t.Errorf("%s spends the sub-distributor's coupon: %v", a.Username, err)
			}
		}
		// An installer may create its own users' orders, not another installer's.
		u := &model.EndUser{ProjectID: tr.a1.office.ID, DepartmentID: tr.a1.dept.ID, Role: model.OfficeStaff, Name: "Own Staff"}
		if err := st.AddEndUser(as(inst), u); err != nil {
			t.Fatal(err)
		}
		own, err := st.CreateOrder(as(inst), &billing.OrderRequest{Kind: "activation", InstallerID: inst.ID, ProjectType: "office",
			Items: []billing.OrderLine{{UserID: u.ID, Months: 1}}})
		if err != nil {
			t.Fatalf("the installer orders for its own user: %v", err)
		}
		if _, err := st.CreateOrder(as(inst), &billing.OrderRequest{Kind: "activation", InstallerID: tr.a2.installer.ID, ProjectType: "office",
			Items: []billing.OrderLine{{UserID: u.ID, Months: 1}}}); model.ErrorFields(err)["installer_id"] == "" {
			t.Errorf("the installer orders for another installer: %v", err)
		}
		// A completed order offers nobody Pay, and says nothing about who would.
		done, err := st.PayWithCoupons(as(tr.subA1), own.Number, []string{c.Code})
		if err != nil {
			t.Fatal(err)
		}
		for name, a := range actors {
			got, _ := st.GetOrder(as(a), done.Number)
			if got.CanPay || got.PayNote != "" {
				t.Errorf("completed order as %s: can_pay %v, note %q", name, got.CanPay, got.PayNote)
			}
		}

		// 2. Charge mode "enduser": the installer neither pays nor orders; the sub-distributor pays.
		enduser := model.ChargeEndUser
		if _, err := st.UpdateInstaller(as(tr.subA1), inst.ID, model.InstallerPatch{ChargeMode: &enduser}); err != nil {
			t.Fatal(err)
		}
		o = billingOrder(t, st, tr.a1)
		check("end user charge mode", o, false, "subdistributor")
		gate("end user charge mode", inst, false, "charge mode")
		if _, err := st.CreateOrder(as(inst), &billing.OrderRequest{Kind: "renewal", InstallerID: inst.ID, ProjectType: "office",
			Items: []billing.OrderLine{{UserID: u.ID, Months: 1}}}); model.ErrorCode(err) != model.EFORBIDDEN {
			t.Errorf("an installer that does not pay creates an order: %v", err)
		}

		// 3. Charge mode fixed to "distributor" while Pay by Distributor was on; the
		// switch is off again, the installer's charge mode stays: the distributor pays.
		if err := st.SetSubdistributorSwitches(sys, tr.subA1.ID, new(true), new(true)); err != nil {
			t.Fatal(err)
		}
		name := "Refreshed"
		if a, err := st.UpdateInstaller(as(tr.subA1), inst.ID, model.InstallerPatch{Name: &name}); err != nil || a.ChargeMode != model.ChargeDistributor {
			t.Fatalf("charge mode under Pay by Distributor: %+v %v", a, err)
		}
		o = billingOrder(t, st, tr.a1) // switches Pay by Distributor off again
		check("charge mode distributor", o, true, "distributor", "admin")
		gate("charge mode distributor", inst, false, "Pay by Distributor")
		gate("charge mode distributor", tr.subA1, true, "") // its other installers it pays for

		// 4. Pay by Distributor on, the installer's charge mode still "installer": the distributor pays.
		o2 := billingOrder(t, st, tr.a2)
		if err := st.SetSubdistributorSwitches(sys, tr.subA2.ID, new(true), new(true)); err != nil {
			t.Fatal(err)
		}
		actors = map[string]*model.Account{"admin": tr.admin, "distributor": tr.distA, "subdistributor": tr.subA2, "installer": tr.a2.installer}
		check("pay by distributor", o2, true, "distributor", "admin")
		gate("pay by distributor", tr.a2.installer, false, "Pay by Distributor")
		gate("pay by distributor", tr.subA2, false, "Pay by Distributor")
		// The other distributor does not see the order at all.
		if _, err := st.PreparePayment(as(tr.distB), o2.Number, "stripe"); model.ErrorCode(err) != model.ENOTFOUND {
			t.Errorf("another distributor pays: %v", err)
		}
	})
}
