package store_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/billing"
	"github.com/gatehouse-dev/gatehouse/internal/model"
	"github.com/gatehouse-dev/gatehouse/internal/store"
)

// An extra family member is billed the same way in a community and in a
// villa (the guide: "Activation: Transaction for the initial activation of
// the user account"; an extra family member is an account, paid "in the
// same way"); the premium plan, the villa's feature plan, is "Features";
// the villa's service-type filter finds family members.
func TestExtraMemberOrderType(t *testing.T) {
	eachBackend(t, func(t *testing.T, st *store.Store) {
		tr := mustTree(t, st)
		b := tr.a1
		if err := st.SetSubdistributorSwitches(sys, b.installer.SubdistributorID, new(true), new(false)); err != nil {
			t.Fatal(err)
		}
		ctx := as(b.installer)
		villa := &model.Project{Kind: model.ProjectPersonal, Name: "Villa Extra"}
		if err := st.CreateProject(ctx, villa); err != nil {
			t.Fatal(err)
		}
		master := &model.EndUser{ProjectID: villa.ID, Role: model.FamilyMaster, Name: "Villa Master"}
		if err := st.AddEndUser(ctx, master); err != nil {
			t.Fatal(err)
		}
		vm := &model.EndUser{ProjectID: villa.ID, Role: model.FamilyMember, Name: "Villa Kid", FamilyMasterID: master.ID}
		if err := st.AddEndUser(ctx, vm); err != nil {
			t.Fatal(err)
		}
		if _, err := st.UpdateApartment(ctx, b.apartment.ID, wholeApartment(&model.Apartment{Number: b.apartment.Number, FamilyMemberLimit: 4})); err != nil {
			t.Fatal(err)
		}
		cm := &model.EndUser{ProjectID: b.project.ID, ApartmentID: b.apartment.ID, Role: model.FamilyMember, Name: "Community Kid"}
		if err := st.AddEndUser(ctx, cm); err != nil {
			t.Fatal(err)
		}
		// (a) The villa's service type "Family member" lists the members only.
		us, err := st.ListBillableUsers(ctx, billing.BillableFilter{InstallerID: b.installer.ID, ProjectType: "villa", Mode: "active", ServiceType: "family_member"})
		if err != nil {
			t.Fatal(err)
		}
		if len(us) != 1 || us[0].ID != vm.ID || us[0].Item != billing.VillaExtraMember {
			t.Errorf("villa family members: %+v", us)
		}
		order := func(kind, ptype string, lines ...billing.OrderLine) (*billing.Order, error) {
			return st.CreateOrder(ctx, &billing.OrderRequest{Kind: kind, InstallerID: b.installer.ID, ProjectType: ptype, Items: lines})
		}
		// (c) Whatever the request calls it, an extra member's order is an Activation.
		for _, kind := range []string{"activation", "extra_member"} {
			for _, c := range []struct {
				ptype string
				user  int64
			}{{"community", cm.ID}, {"villa", vm.ID}} {
				o, err := order(kind, c.ptype, billing.OrderLine{UserID: c.user, Months: 12})
				if err != nil {
					t.Fatalf("%s %s: %v", kind, c.ptype, err)
				}
				if o.Type != billing.TypeActivation {
					t.Errorf("%s of a %s extra member: type %s, want Activation", kind, c.ptype, o.Type.Label())
				}
			}
		}
		o, err := order("activation", "villa", billing.OrderLine{UserID: master.ID, Months: 12, Service: "premium"})
		if err != nil {
			t.Fatal(err)
		}
		if o.Type != billing.TypeFeatures {
			t.Errorf("premium plan: type %s, want Features", o.Type.Label())
		}
		_, err = order("activation", "villa", billing.OrderLine{UserID: master.ID, Months: 12, Service: "premium"}, billing.OrderLine{UserID: vm.ID, Months: 12})
		if model.ErrorCode(err) != model.EINVALID || !strings.Contains(model.ErrorFields(err)["items"], "premium") {
			t.Errorf("premium plan with an activation in one order: %v", err)
		}
		_, err = order("extra_member", "villa", billing.OrderLine{UserID: master.ID, Months: 12})
		if model.ErrorCode(err) != model.EINVALID || model.ErrorFields(err)["items[0].user_id"] == "" {
			t.Errorf("extra_member for a family master: %v", err)
		}
	})
}

// (b) An end user added without a SIP number gets one, whichever way it was
// added (portal form, API, import: all go through the store); a typed one
// is kept.
func TestEndUserGetsSIP(t *testing.T) {
	eachBackend(t, func(t *testing.T, st *store.Store) {
		tr := mustTree(t, st)
		b := tr.a1
		ctx := as(b.installer)
		seen := map[string]bool{}
		for i := 0; i < 3; i++ {
			u := &model.EndUser{ProjectID: b.office.ID, DepartmentID: b.dept.ID, Role: model.OfficeStaff, Name: "No SIP"}
			if err := st.AddEndUser(ctx, u); err != nil {
				t.Fatal(err)
			}
			got, err := st.GetEndUser(ctx, u.ID)
			if err != nil {
				t.Fatal(err)
			}
			if got.SIP == "" || got.SIP != u.SIP || seen[got.SIP] {
				t.Errorf("user %d: SIP %q (returned %q), seen %v", u.ID, got.SIP, u.SIP, seen)
			}
			seen[got.SIP] = true
		}
		u := &model.EndUser{ProjectID: b.office.ID, DepartmentID: b.dept.ID, Role: model.OfficeStaff, Name: "Own SIP", SIP: "5551234"}
		if err := st.AddEndUser(ctx, u); err != nil {
			t.Fatal(err)
		}
		if got, _ := st.GetEndUser(ctx, u.ID); got.SIP != "5551234" {
			t.Errorf("typed SIP: %q", got.SIP)
		}
	})
}

// (e) A renewal by days ("renewed daily"): its items carry the Next
// Expiration Date — what paying gives while the order waits, what it gave
// once completed; a renewal by months has none. Days are for renewals only.
func TestDailyRenewalNextExpiration(t *testing.T) {
	eachBackend(t, func(t *testing.T, st *store.Store) {
		tr := mustTree(t, st)
		b := tr.a1
		o := billingOrder(t, st, b) // an office user's activation
		if _, err := st.ApplyPaymentEvent(sys, "stripe", billing.Event{ID: fmt.Sprintf("evt_%d", nextSeq()), Kind: billing.EventPaid, OrderNumber: o.Number, Amount: o.Total}); err != nil {
			t.Fatal(err)
		}
		uid := o.Items[0].EndUserID
		u, err := st.GetEndUser(sys, uid)
		if err != nil || u.AppExpires == nil {
			t.Fatalf("activated user: %+v %v", u, err)
		}
		ctx := as(tr.subA1)
		req := func(kind string, l billing.OrderLine) (*billing.Order, error) {
			return st.CreateOrder(ctx, &billing.OrderRequest{Kind: kind, InstallerID: b.installer.ID, ProjectType: "office", Items: []billing.OrderLine{l}})
		}
		for _, c := range []struct {
			kind  string
			l     billing.OrderLine
			field string
		}{
			{"activation", billing.OrderLine{UserID: uid, Days: 10}, "items[0].days"},
			{"renewal", billing.OrderLine{UserID: uid, Days: 10, Months: 1}, "items[0].days"},
			{"renewal", billing.OrderLine{UserID: uid, Days: 2000}, "items[0].days"},
		} {
			if _, err := req(c.kind, c.l); model.ErrorCode(err) != model.EINVALID || model.ErrorFields(err)[c.field] == "" {
				t.Errorf("%s %+v: %v", c.kind, c.l, err)
			}
		}
		monthly, err := req("renewal", billing.OrderLine{UserID: uid, Months: 1})
		if err != nil {
			t.Fatal(err)
		}
		if monthly.Items[0].NextExpires != nil {
			t.Errorf("a monthly renewal shows a Next Expiration Date")
		}
		daily, err := req("renewal", billing.OrderLine{UserID: uid, Days: 10})
		if err != nil {
			t.Fatal(err)
		}
		want := u.AppExpires.AddDate(0, 0, 10).UTC()
		got, err := st.GetOrder(ctx, daily.Number)
		if err != nil {
			t.Fatal(err)
		}
		it := got.Items[0]
		if it.Days != 10 || it.NextExpires == nil || !it.NextExpires.Equal(want) {
			t.Errorf("waiting daily renewal: %+v, want next expiry %v", it, want)
		}
		if it.Amount <= 0 || it.Amount >= monthly.Items[0].Amount {
			t.Errorf("10 days cost %d, a month %d", it.Amount, monthly.Items[0].Amount)
		}
		if _, err := st.ApplyPaymentEvent(sys, "stripe", billing.Event{ID: fmt.Sprintf("evt_%d", nextSeq()), Kind: billing.EventPaid, OrderNumber: daily.Number, Amount: daily.Total}); err != nil {
			t.Fatal(err)
		}
		got, _ = st.GetOrder(ctx, daily.Number)
		if u2, _ := st.GetEndUser(sys, uid); u2.AppExpires == nil || !u2.AppExpires.Equal(want) {
			t.Errorf("after paying: expires %v, want %v", u2.AppExpires, want)
		}
		if it := got.Items[0]; it.NextExpires == nil || !it.NextExpires.Equal(want) {
			t.Errorf("completed daily renewal: %+v", it)
		}
		inv, err := st.InvoiceFor(ctx, daily.Number)
		if err != nil {
			t.Fatal(err)
		}
		if len(inv.Lines) != 1 || !strings.Contains(inv.Lines[0].Description, "10 days") {
			t.Errorf("invoice of a daily renewal: %+v", inv.Lines)
		}
	})
}
