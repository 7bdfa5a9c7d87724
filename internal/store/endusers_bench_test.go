package store_test

import (
	"context"
	"strings"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/demo"
	"github.com/gatehouse-dev/gatehouse/internal/model"
	"github.com/gatehouse-dev/gatehouse/internal/store"
)

// BenchmarkEndUserLists times the User module's end-user lists, first
// page of 50 with its (capped) count, on the demo data set; at a million
// users:
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
		lastName := strings.Fields(comm.Name)[1]
		cases := []struct {
			name string
			ctx  context.Context
			f    model.EndUserFilter
		}{
			{"community/all", sub, model.EndUserFilter{Kind: model.KindCommunity}},
			{"villa/all", sub, model.EndUserFilter{Kind: model.KindVilla}},
			{"office/all", sub, model.EndUserFilter{Kind: model.KindOffice}},
			{"villa/family_member", sub, model.EndUserFilter{Kind: model.KindVilla, AccountType: "family_member"}},
			{"community/page100", sub, model.EndUserFilter{Kind: model.KindCommunity, Page: model.Page{Page: 100, PerPage: 50}}},
			{"community/sip-exact", sub, model.EndUserFilter{Kind: model.KindCommunity, SearchType: "sip", Q: comm.SIP}},
			{"community/sip-prefix", sub, model.EndUserFilter{Kind: model.KindCommunity, SearchType: "sip", Q: comm.SIP[:6]}},
			{"community/name-full", sub, model.EndUserFilter{Kind: model.KindCommunity, SearchType: "name", Q: comm.Name}},
			{"community/name-last", sub, model.EndUserFilter{Kind: model.KindCommunity, SearchType: "name", Q: lastName}},
			{"community/name-2chars", sub, model.EndUserFilter{Kind: model.KindCommunity, SearchType: "name", Q: lastName[:2]}},
			{"community/name-none", sub, model.EndUserFilter{Kind: model.KindCommunity, SearchType: "name", Q: "zzqx"}},
			{"villa/email", sub, model.EndUserFilter{Kind: model.KindVilla, SearchType: "email", Q: strings.Split(villa.Email, "@")[0]}},
			{"villa/email-domain", sub, model.EndUserFilter{Kind: model.KindVilla, SearchType: "email", Q: "mail.example"}},
			{"office/mobile", sub, model.EndUserFilter{Kind: model.KindOffice, SearchType: "mobile", Q: office.Mobile[len(office.Mobile)-9:]}},
			{"community/installer", sub, model.EndUserFilter{Kind: model.KindCommunity, SearchType: "installer", Q: comm.Installer}},
			{"villa/family_master", sub, model.EndUserFilter{Kind: model.KindVilla, SearchType: "family_master", Q: member.FamilyMaster}},
			{"office/office", sub, model.EndUserFilter{Kind: model.KindOffice, SearchType: "office", Q: office.Project}},
			{"admin/villa", admin, model.EndUserFilter{Kind: model.KindVilla}},
			{"admin/community-name-full", admin, model.EndUserFilter{Kind: model.KindCommunity, SearchType: "name", Q: comm.Name}},
			{"installer/community", inst, model.EndUserFilter{Kind: model.KindCommunity}},
			{"installer/villa", inst, model.EndUserFilter{Kind: model.KindVilla}},
		}
		for _, c := range cases {
			if c.f.Page.Page == 0 {
				c.f.Page = page
			}
			l, err := st.ListEndUsers(c.ctx, c.f)
			if err != nil {
				b.Fatalf("%s: %v", c.name, err)
			}
			b.Run(c.name, func(b *testing.B) {
				total := l.Total
				if total > store.EndUserCountCap {
					total = -1
				}
				b.ReportMetric(float64(total), "total")
				for b.Loop() {
					if _, err := st.ListEndUsers(c.ctx, c.f); err != nil {
						b.Fatal(err)
					}
				}
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
