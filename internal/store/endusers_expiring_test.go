package store_test

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/model"
	"github.com/gatehouse-dev/gatehouse/internal/store"
)

// TestEndUserListExpiring: the expiring filter lists exactly the users of
// the actor's subtree whose App service expires from now to before now +
// the days — not those expiring later, already expired or without one, not
// another subtree's — in each list, alone and with the other filters; the
// dashboard's expiring figures per list are the lists' counts; bad days
// are refused naming expiring.
func TestEndUserListExpiring(t *testing.T) {
	eachBackend(t, func(t *testing.T, st *store.Store) {
		et := mustEUTree(t, st)
		now := time.Date(2026, 3, 10, 12, 0, 0, 0, time.UTC)
		st.SetClock(func() time.Time { return now })
		// Per branch: in the 30-day window the villa master (10 days), the
		// property manager (29 days 23 h) and the office user (1 h), and
		// the community family master from this very second; out of it the
		// villa member (40 days), the family member (exactly 30 days: the
		// window's end) and, expired an hour ago, nobody else's. mustEUTree
		// gave the others a year or none.
		expires := func(u *model.EndUser, at time.Time) {
			sqlExec(t, st, `UPDATE end_users SET app_expires_at = ? WHERE id = ?`, at, u.ID)
		}
		in30 := map[*model.EndUser]bool{}
		in60 := map[*model.EndUser]bool{}
		for _, eb := range et.branches() {
			expires(eb.villaMaster, now.AddDate(0, 0, 10))
			expires(eb.manager, now.AddDate(0, 0, 30).Add(-time.Hour))
			expires(eb.staff, now.Add(time.Hour))
			expires(eb.user, now)
			expires(eb.villaMember, now.AddDate(0, 0, 40))
			expires(eb.member, now.AddDate(0, 0, 30))
			for _, u := range []*model.EndUser{eb.villaMaster, eb.manager, eb.staff, eb.user} {
				in30[u], in60[u] = true, true
			}
			in60[eb.villaMember], in60[eb.member] = true, true
		}
		// An expired user: the a1 office gets a second user, expired.
		expired := mustEndUser(t, st, as(et.a1.installer), &model.EndUser{ProjectID: et.a1.office.ID, DepartmentID: et.a1.dept.ID,
			Role: model.OfficeStaff, Name: "Ex Pired", SIP: "7099999", Email: "ex@mail.example", Active: true})
		expires(expired, now.Add(-time.Hour))
		if err := st.RecomputeDashboard(sys); err != nil {
			t.Fatal(err)
		}

		actors := []*model.Account{et.admin, et.distA, et.subA1, et.subA2, et.a1.installer, et.a2.installer, et.distB, et.subB, et.b.installer}
		for _, actor := range actors {
			ctx := as(actor)
			d, err := st.Dashboard(ctx)
			if err != nil {
				t.Fatal(err)
			}
			var total int64
			for _, k := range []model.EndUserKind{model.KindVilla, model.KindCommunity, model.KindOffice} {
				for _, c := range []struct {
					days int
					in   map[*model.EndUser]bool
				}{{30, in30}, {60, in60}, {1, nil}} {
					var want []*model.EndUser
					for _, eb := range et.branches() {
						if !et.canSee(actor, eb.branch) {
							continue
						}
						for _, u := range eb.ofKind(k) {
							if c.in[u] || (c.days == 1 && (u == eb.staff || u == eb.user)) {
								want = append(want, u)
							}
						}
					}
					l := listAll(t, st, ctx, model.EndUserFilter{Kind: k, ExpiringDays: c.days})
					if got, w := names(l), userNames(want...); !slices.Equal(got, w) || l.Total != len(want) {
						t.Errorf("%s %s expiring=%d: %q (total %d), want %q", actor.Username, k, c.days, got, l.Total, w)
					}
					if c.days != model.DashboardExpiringDays {
						continue
					}
					total += int64(l.Total)
					var fig int64 = -1
					for _, x := range d.ExpiringLists {
						if x.List == k {
							fig = x.Users
						}
					}
					if fig != int64(l.Total) {
						t.Errorf("%s: dashboard's %s expiring %d, the list counts %d", actor.Username, k, fig, l.Total)
					}
				}
			}
			if d.Expiring != total || total == 0 {
				t.Errorf("%s: dashboard expiring %d, lists %d", actor.Username, d.Expiring, total)
			}
		}

		// With the other filters: account type, a search, an installer or
		// a project of the installer portal.
		sub := as(et.subA1)
		a1 := et.a1
		for _, c := range []struct {
			f    model.EndUserFilter
			want []*model.EndUser
		}{
			{model.EndUserFilter{Kind: model.KindVilla, AccountType: "family_master"}, []*model.EndUser{a1.villaMaster}},
			{model.EndUserFilter{Kind: model.KindVilla, AccountType: "family_member"}, nil},
			{model.EndUserFilter{Kind: model.KindCommunity, SearchType: "name", Q: "pat manager"}, []*model.EndUser{a1.manager}},
			{model.EndUserFilter{Kind: model.KindCommunity, SearchType: "name", Q: "kim"}, nil},
			{model.EndUserFilter{Kind: model.KindCommunity, SearchType: "sip", Q: a1.manager.SIP}, []*model.EndUser{a1.manager}},
			{model.EndUserFilter{Kind: model.KindCommunity, SearchType: "email", Q: "pat."}, []*model.EndUser{a1.manager}},
			{model.EndUserFilter{Kind: model.KindCommunity, SearchType: "installer", Q: a1.installer.Username}, []*model.EndUser{a1.user, a1.manager}},
			{model.EndUserFilter{Kind: model.KindOffice, SearchType: "office", Q: a1.office.Name}, []*model.EndUser{a1.staff}},
			{model.EndUserFilter{Kind: model.KindCommunity, ProjectID: a1.project.ID}, []*model.EndUser{a1.user, a1.manager}},
			{model.EndUserFilter{Kind: model.KindCommunity, InstallerID: a1.installer.ID}, []*model.EndUser{a1.user, a1.manager}},
			{model.EndUserFilter{Kind: model.KindCommunity, InstallerID: et.b.installer.ID}, nil},
			// Fewer users in the window than hold the name: read through
			// the window, the name tested on each.
			{model.EndUserFilter{Kind: model.KindCommunity, SearchType: "name", Q: a1.installer.Username}, []*model.EndUser{a1.user, a1.manager}},
			{model.EndUserFilter{Kind: model.KindCommunity, SearchType: "family_master", Q: a1.user.Name, ExpiringDays: 1}, []*model.EndUser{a1.user}},
			{model.EndUserFilter{Kind: model.KindVilla, SearchType: "family_master", Q: a1.villaMaster.Name, ExpiringDays: 1}, nil},
		} {
			if c.f.ExpiringDays == 0 {
				c.f.ExpiringDays = 30
			}
			l := listAll(t, st, sub, c.f)
			if got, w := names(l), userNames(c.want...); !slices.Equal(got, w) || l.Total != len(c.want) {
				t.Errorf("sub-a1 %+v: %q (total %d), want %q", c.f, got, l.Total, w)
			}
		}
		// The installer portal's list: one installer's, narrowed to itself.
		l := listAll(t, st, as(a1.installer), model.EndUserFilter{Kind: model.KindCommunity, InstallerID: a1.installer.ID, ExpiringDays: 30})
		if got, w := names(l), userNames(a1.user, a1.manager); !slices.Equal(got, w) {
			t.Errorf("inst-a1 expiring: %q, want %q", got, w)
		}

		// Bad days: a 400 naming expiring.
		for _, days := range []int{-1, model.MaxExpiringDays + 1} {
			_, err := st.ListEndUsers(sub, model.EndUserFilter{Kind: model.KindVilla, ExpiringDays: days, Page: model.Page{Page: 1, PerPage: 10}})
			if model.ErrorCode(err) != model.EINVALID || model.ErrorFields(err)["expiring"] == "" {
				t.Errorf("expiring=%d: %v", days, err)
			}
		}
	})
}

// TestEndUserListExpiringDense: more users expiring than the count cap are
// paged newest first by walking the list, each page holding only expiring
// users; a narrower search among them counts exactly.
func TestEndUserListExpiringDense(t *testing.T) {
	eachBackend(t, func(t *testing.T, st *store.Store) {
		et := mustEUTree(t, st)
		now := time.Date(2026, 3, 10, 12, 0, 0, 0, time.UTC)
		a1 := et.a1
		first, err := st.MaxID(sys, "end_users")
		if err != nil {
			t.Fatal(err)
		}
		firstApt, err := st.MaxID(sys, "apartments")
		if err != nil {
			t.Fatal(err)
		}
		// n masters created a minute apart from 2025; every 40th expires in
		// 60 days, the others within 30.
		const n = 10_400
		base := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
		apts := make([][]any, 0, n)
		rows := make([][]any, 0, n)
		for i := 0; i < n; i++ {
			apt := firstApt + 1 + int64(i)
			exp := now.AddDate(0, 0, 1+i%29)
			if i%40 == 0 {
				exp = now.AddDate(0, 0, 60)
			}
			apts = append(apts, []any{apt, a1.building.ID, "9", fmt.Sprintf("E%05d", i), "", 4})
			rows = append(rows, []any{first + 1 + int64(i), a1.installer.ID, a1.project.ID, apt, "family_master",
				fmt.Sprintf("Soon Person %05d", i), fmt.Sprintf("9%08d", i), fmt.Sprintf("soon%05d@mail.example", i),
				"", "", "", true, false, base.Add(time.Duration(i) * time.Minute), exp})
		}
		if err := st.BulkInsert(sys, "apartments", []string{"id", "building_id", "floor", "number", "name", "family_member_limit"}, apts); err != nil {
			t.Fatal(err)
		}
		if err := st.BulkInsert(sys, "end_users", []string{"id", "installer_id", "project_id", "apartment_id", "role", "name", "sip", "email",
			"mobile", "phone", "address", "active", "premium", "created_at", "app_expires_at"}, rows); err != nil {
			t.Fatal(err)
		}
		st.SetClock(func() time.Time { return now })
		sub := as(et.subA1)
		want := func(i int) string { return fmt.Sprintf("Soon Person %05d", i) }
		for _, pg := range []int{1, 7} {
			l := listAll(t, st, sub, model.EndUserFilter{Kind: model.KindCommunity, ExpiringDays: 30, Page: model.Page{Page: pg, PerPage: 50}})
			if l.Total != store.EndUserCountCap+1 || len(l.Items) != 50 {
				t.Fatalf("page %d: total %d, %d items", pg, l.Total, len(l.Items))
			}
			// Newest first, skipping every 40th: the expected names.
			var exp []string
			skip := (pg - 1) * 50
			for i := n - 1; i >= 0 && len(exp) < 50; i-- {
				if i%40 == 0 {
					continue
				}
				if skip > 0 {
					skip--
					continue
				}
				exp = append(exp, want(i))
			}
			for j, r := range l.Items {
				if r.Name != exp[j] {
					t.Fatalf("page %d item %d: %s, want %s", pg, j, r.Name, exp[j])
				}
			}
		}
		l := listAll(t, st, sub, model.EndUserFilter{Kind: model.KindCommunity, ExpiringDays: 30, SearchType: "name", Q: "person 0004"})
		// 00040–00049 hold "person 0004": 00040 expires later.
		if l.Total != 9 || slices.Contains(names(l), want(40)) {
			t.Errorf("name search among the expiring: total %d %q", l.Total, names(l))
		}
	})
}
