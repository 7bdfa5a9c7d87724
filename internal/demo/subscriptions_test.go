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

// TestDemoSubscriptionCandidates: in the demo `make run` loads,
// demo-subdistributor finds users to pay for in every Subscriptions flow of
// demo-installer — activation and renewal of each item, extra family members
// of a community and of a villa — lists community users with their
// apartment's name (the guide's APT Name), and can order each flow.
func TestDemoSubscriptionCandidates(t *testing.T) {
	ctx := context.Background()
	st := testutil.NewStore(t, "sqlite")
	if _, err := demo.Load(ctx, st, demo.Options{Password: "demo-password"}, io.Discard); err != nil {
		t.Fatal(err)
	}
	acc := func(name string) *model.Account {
		a, _, err := st.AccountForLogin(ctx, name)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		return a
	}
	sub, inst := acc(demo.SubdistributorUser), acc(demo.InstallerUser)
	sctx := model.WithActor(ctx, model.ActorOf(sub))
	for _, f := range []struct {
		flow, projectType, mode, service string
		item                             billing.Item
		kind                             string // the order to create for the first candidate
	}{
		{"community activation", "community", "active", "family_master", billing.CommunityApp, "activation"},
		{"community renewal", "community", "renew", "family_master", billing.CommunityApp, "renewal"},
		{"community extra family member", "community", "active", "family_member", billing.FamilyMemberApp, "extra_member"},
		{"community family member renewal", "community", "renew", "family_member", billing.FamilyMemberApp, "renewal"},
		{"property manager app activation", "community", "active", "property_manager", billing.PropertyManagerApp, "activation"},
		{"property manager app renewal", "community", "renew", "property_manager", billing.PropertyManagerApp, "renewal"},
		{"villa activation", "villa", "active", "app", billing.VillaApp, "activation"},
		{"villa renewal", "villa", "renew", "app", billing.VillaApp, "renewal"},
		{"villa extra family member", "villa", "active", "app", billing.VillaExtraMember, "extra_member"},
		{"villa premium", "villa", "active", "premium", billing.VillaPremium, "activation"},
		{"villa premium renewal", "villa", "renew", "premium", billing.VillaPremium, "renewal"},
		{"office activation", "office", "active", "", billing.OfficeUser, "activation"},
		{"office renewal", "office", "renew", "", billing.OfficeUser, "renewal"},
	} {
		us, err := st.ListBillableUsers(sctx, billing.BillableFilter{InstallerID: inst.ID, ProjectType: f.projectType, Mode: f.mode, ServiceType: f.service})
		if err != nil {
			t.Fatalf("%s: %v", f.flow, err)
		}
		var first *billing.BillableUser
		for i, u := range us {
			if u.Item == f.item {
				first = &us[i]
				break
			}
		}
		if first == nil {
			t.Errorf("%s: no %s candidate among %d users of %s", f.flow, f.item, len(us), inst.Username)
			continue
		}
		if f.projectType == "community" && f.service != "property_manager" && (first.Apartment == "" || first.AptName == "") {
			t.Errorf("%s: %s without APT / APT Name: %+v", f.flow, first.Name, first)
		}
		svc := "app"
		if f.service == "premium" {
			svc = "premium"
		}
		o, err := st.CreateOrder(sctx, &billing.OrderRequest{Kind: f.kind, InstallerID: inst.ID, ProjectType: f.projectType,
			Items: []billing.OrderLine{{UserID: first.ID, Months: 12, Service: svc}}})
		if err != nil {
			t.Errorf("%s: ordering %s: %v", f.flow, first.Name, err)
		} else if o.Total <= 0 {
			t.Errorf("%s: order %s totals %d", f.flow, o.Number, o.Total)
		}
	}
}
