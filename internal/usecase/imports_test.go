package usecase

import (
	"strings"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/model"
	"github.com/gatehouse-dev/gatehouse/internal/tabular"
)

func TestImportMACFileReadsTheTemplate(t *testing.T) {
	forEachBackend(t, func(t *testing.T, backend string) {
		tc := newTestCases(t, backend)
		_, sub := peopleTree(t, tc.store)
		inst := peopleAccount(t, tc.store, model.RoleInstaller, "fitter", sub)
		csv := "MAC,Name,Claim code\n0C:11:05:00:00:01,Front door,\nnot-a-mac,,\n0C1105000002,,\n"
		res, err := tc.ImportMACFile(peopleAs(sub), inst.ID, []byte(csv))
		if err != nil || res.Imported != 2 || len(res.Rejected) != 1 || res.Rejected[0].Row != 3 {
			t.Fatalf("import: %+v %v", res, err)
		}
		// The same file as XLSX, without the header: every MAC is taken now.
		x, err := tabular.XLSX("MACs", []string{"0C:11:05:00:00:01"}, [][]string{{"0C1105000002"}})
		if err != nil {
			t.Fatal(err)
		}
		if res, err := tc.ImportMACFile(peopleAs(sub), inst.ID, x); err != nil || res.Imported != 0 || len(res.Rejected) != 2 {
			t.Errorf("xlsx again: %+v %v", res, err)
		}
		for name, data := range map[string]string{"header only": "MAC\n", "empty": ""} {
			if _, err := tc.ImportMACFile(peopleAs(sub), inst.ID, []byte(data)); model.ErrorFields(err)["file"] == "" {
				t.Errorf("%s: %v", name, err)
			}
		}
		if err := tc.DeleteMAC(peopleAs(sub), inst.ID, "0c1105000002"); err != nil {
			t.Errorf("delete: %v", err)
		}
		l, _ := tc.store.ListMACs(peopleAs(sub), inst.ID, model.MACFilter{Page: model.Page{Page: 1, PerPage: 10}})
		if l.Total != 1 {
			t.Errorf("%d MACs left, want 1", l.Total)
		}
	})
}

func TestImportEndUserFileReportsEveryRejectedRowInOrder(t *testing.T) {
	forEachBackend(t, func(t *testing.T, backend string) {
		tc := newTestCases(t, backend)
		_, sub := peopleTree(t, tc.store)
		inst := peopleAccount(t, tc.store, model.RoleInstaller, "fitter", sub)
		ctx := peopleAs(inst)
		p, _ := peopleApartment(t, tc, ctx)
		// The guide's column names, any case; row 3 has a cell without a
		// header (rejected while reading), row 4 a building that does not
		// exist (rejected by the store).
		csv := "role,NAME,Building,Apartment Number,\n" +
			"Family Master,Anna Berg,Building A,101,\n" +
			"Family Master,Extra Cell,Building A,101,stray\n" +
			"Family Master,Nobody,Building Z,1,\n" +
			"Family Member,Tom Berg,Building A,101,\n"
		res, err := tc.ImportEndUserFile(ctx, p.ID, []byte(csv))
		if err != nil {
			t.Fatal(err)
		}
		if res.Imported != 2 || len(res.Rejected) != 2 || res.Rejected[0].Row != 3 || res.Rejected[1].Row != 4 ||
			!strings.Contains(res.Rejected[0].Reason, "without a header") {
			t.Errorf("result: %+v", res)
		}
		for name, data := range map[string]string{
			"unknown column": "Name,Shoe size\nAnna,42\n",
			"no name column": "Role,SIP\nFamily Master,6001\n",
			"header only":    "Name\n",
			"empty":          "",
		} {
			if _, err := tc.ImportEndUserFile(ctx, p.ID, []byte(data)); model.ErrorFields(err)["file"] == "" {
				t.Errorf("%s: %v", name, err)
			}
		}
		// The template reads as it is.
		if rows, rejected, err := importEndUserRows(ctx, EndUserTemplate()); err != nil || len(rows) != 2 || len(rejected) != 0 || rows[1].Name != "Tom Berg" {
			t.Errorf("template: %+v %v %v", rows, rejected, err)
		}
	})
}
