package store_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/demo"
	"github.com/gatehouse-dev/gatehouse/internal/model"
	"github.com/gatehouse-dev/gatehouse/internal/store"
)

// BenchmarkEndUserLists times the User module's end-user lists, first
// page of 50 with its (capped) count, on the demo data set, reporting the
// median and 95th percentile in milliseconds ("total" -1: more than the
// count cap; -2: refused, narrow first); at a million users:
//
//	GATEHOUSE_BENCH_USERS=1000000 go test -run '^$' -bench EndUserLists -benchtime 20x -timeout 60m ./internal/store/
//
// GATEHOUSE_BENCH_ENDUSERS_DB names an existing demo database (a copy of a
// SQLite file, or a postgres:// URL) to time instead of loading one; it is
// migrated first.
func BenchmarkEndUserLists(b *testing.B) {
	eachBenchStore(b, "GATEHOUSE_BENCH_ENDUSERS_DB", func(b *testing.B, st *store.Store, backend string) {
		benchVacuum(b, st, backend, "end_users, projects, accounts")
		sub := actorCtx(b, st, demo.SubdistributorUser)
		admin := actorCtx(b, st, demo.AdminUser)
		inst := actorCtx(b, st, demo.InstallerUser)
		dist := actorCtx(b, st, demo.DistributorUser)
		page := model.Page{Page: 1, PerPage: 50}
		// Sample values from the sub-distributor's own lists.
		sample := func(k model.EndUserKind, at string) *model.EndUserRow {
			l, err := st.ListEndUsers(sub, model.EndUserFilter{Kind: k, AccountType: at, Page: page})
			if err != nil || len(l.Items) == 0 {
				b.Fatalf("no %s %s users: %v", k, at, err)
			}
			return l.Items[len(l.Items)/2]
		}
		comm, villa, member, office := sample(model.KindCommunity, ""), sample(model.KindVilla, ""),
			sample(model.KindVilla, "family_member"), sample(model.KindOffice, "")
		firstName, lastName := strings.Fields(comm.Name)[0], strings.Fields(comm.Name)[1]
		masterLast := strings.Fields(member.FamilyMaster)[1]
		cf := func(st, q string) model.EndUserFilter {
			return model.EndUserFilter{Kind: model.KindCommunity, SearchType: st, Q: q}
		}
		cases := []struct {
			name string
			ctx  context.Context
			f    model.EndUserFilter
		}{
			{"community/all", sub, model.EndUserFilter{Kind: model.KindCommunity}},
			{"villa/all", sub, model.EndUserFilter{Kind: model.KindVilla}},
			{"office/all", sub, model.EndUserFilter{Kind: model.KindOffice}},
			{"villa/family_member", sub, model.EndUserFilter{Kind: model.KindVilla, AccountType: "family_member"}},
			{"community/family_master", sub, model.EndUserFilter{Kind: model.KindCommunity, AccountType: "family_master"}},
			{"community/page100", sub, model.EndUserFilter{Kind: model.KindCommunity, Page: model.Page{Page: 100, PerPage: 50}}},
			{"community/sip-exact", sub, cf("sip", comm.SIP)},
			{"community/sip-prefix", sub, cf("sip", comm.SIP[:6])},
			{"community/sip-2digits", sub, cf("sip", comm.SIP[:2])},
			{"community/name-full", sub, cf("name", comm.Name)},
			{"community/name-last", sub, cf("name", lastName)},
			{"community/name-first", sub, cf("name", firstName)},
			{"community/name-last-masters", sub, model.EndUserFilter{Kind: model.KindCommunity, AccountType: "family_master", SearchType: "name", Q: lastName}},
			{"community/name-2chars", sub, cf("name", lastName[:2])},
			{"community/name-1char", sub, cf("name", lastName[:1])},
			{"community/name-none", sub, cf("name", "zzqx")},
			{"community/email-full", sub, cf("email", comm.Email)},
			{"community/email-first-name", sub, cf("email", strings.ToLower(firstName)+".")},
			{"villa/email", sub, model.EndUserFilter{Kind: model.KindVilla, SearchType: "email", Q: strings.Split(villa.Email, "@")[0]}},
			{"villa/email-domain", sub, model.EndUserFilter{Kind: model.KindVilla, SearchType: "email", Q: "mail.example"}},
			{"office/mobile", sub, model.EndUserFilter{Kind: model.KindOffice, SearchType: "mobile", Q: office.Mobile[len(office.Mobile)-9:]}},
			{"community/mobile-full", sub, cf("mobile", comm.Mobile)},
			{"community/installer", sub, cf("installer", comm.Installer)},
			{"community/family_master-full", sub, cf("family_master", comm.FamilyMaster)},
			{"community/family_master-last", sub, cf("family_master", lastName)},
			{"villa/family_master", sub, model.EndUserFilter{Kind: model.KindVilla, SearchType: "family_master", Q: member.FamilyMaster}},
			{"villa/family_master-last", sub, model.EndUserFilter{Kind: model.KindVilla, SearchType: "family_master", Q: masterLast}},
			{"office/office", sub, model.EndUserFilter{Kind: model.KindOffice, SearchType: "office", Q: office.Project}},
			{"dist/community", dist, model.EndUserFilter{Kind: model.KindCommunity}},
			{"dist/community-name-last", dist, cf("name", lastName)},
			{"dist/community-name-full", dist, cf("name", comm.Name)},
			{"dist/office-sip-prefix", dist, model.EndUserFilter{Kind: model.KindOffice, SearchType: "sip", Q: office.SIP[:6]}},
			{"admin/villa", admin, model.EndUserFilter{Kind: model.KindVilla}},
			{"admin/community-name-full", admin, cf("name", comm.Name)},
			{"admin/community-name-last", admin, cf("name", lastName)},
			{"admin/villa-family_master-last", admin, model.EndUserFilter{Kind: model.KindVilla, SearchType: "family_master", Q: masterLast}},
			{"installer/community", inst, model.EndUserFilter{Kind: model.KindCommunity}},
			{"installer/villa", inst, model.EndUserFilter{Kind: model.KindVilla}},
			{"installer/community-name-last", inst, cf("name", lastName)},
			{"installer/community-name-full", inst, cf("name", comm.Name)},
			// The expiring filter (the dashboard's expiring figures link to
			// expiring=30): the level's expiry index; a year's window is
			// dense and walks the list.
			{"community/expiring30", sub, model.EndUserFilter{Kind: model.KindCommunity, ExpiringDays: 30}},
			{"villa/expiring30", sub, model.EndUserFilter{Kind: model.KindVilla, ExpiringDays: 30}},
			{"office/expiring30", sub, model.EndUserFilter{Kind: model.KindOffice, ExpiringDays: 30}},
			{"community/expiring30-page20", sub, model.EndUserFilter{Kind: model.KindCommunity, ExpiringDays: 30, Page: model.Page{Page: 20, PerPage: 50}}},
			{"community/expiring365", sub, model.EndUserFilter{Kind: model.KindCommunity, ExpiringDays: 365}},
			{"community/expiring30-name-last", sub, model.EndUserFilter{Kind: model.KindCommunity, ExpiringDays: 30, SearchType: "name", Q: lastName}},
			{"dist/community-expiring30", dist, model.EndUserFilter{Kind: model.KindCommunity, ExpiringDays: 30}},
			{"admin/community-expiring30", admin, model.EndUserFilter{Kind: model.KindCommunity, ExpiringDays: 30}},
			{"installer/community-expiring30", inst, model.EndUserFilter{Kind: model.KindCommunity, ExpiringDays: 30}},
		}
		for _, c := range cases {
			if c.f.Page.Page == 0 {
				c.f.Page = page
			}
			l, err := st.ListEndUsers(c.ctx, c.f)
			if err != nil && model.ErrorCode(err) != model.EINVALID {
				b.Fatalf("%s: %v", c.name, err)
			}
			b.Run(c.name, func(b *testing.B) {
				total := l.Total
				if err != nil {
					total = -2 // refused: narrow first
				} else if total > store.EndUserCountCap {
					total = -1
				}
				var ds []time.Duration
				for b.Loop() {
					t0 := time.Now()
					if _, err := st.ListEndUsers(c.ctx, c.f); err != nil && model.ErrorCode(err) != model.EINVALID {
						b.Fatal(err)
					}
					ds = append(ds, time.Since(t0))
				}
				reportPercentiles(b, ds)
				b.ReportMetric(float64(total), "total")
			})
		}
		b.Run("GetEndUserRow", func(b *testing.B) {
			for b.Loop() {
				if _, err := st.GetEndUserRow(sub, comm.ID); err != nil {
					b.Fatal(err)
				}
			}
		})
	})
}
