package store_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/model"
	"github.com/gatehouse-dev/gatehouse/internal/store"
)

func init() {
	tenancyCases = append(tenancyCases, tenancyCase{method: "ImportEndUserFile", call: func(st *store.Store, ctx context.Context, b *branch) error {
		res, err := st.ImportEndUserFile(ctx, b.project.ID, fmt.Sprintf("tenancy-%d", nextSeq()), []store.EndUserImportRow{{Row: 2, Role: "Property Manager", Name: "Imported"}})
		if err == nil && (res.Imported != 1 || len(res.Rejected) != 0) {
			return fmt.Errorf("import: %+v", res)
		}
		return err
	}})
}

// TestImportEndUserFileOnce: a file imported into a project is remembered
// in the import's transaction; the same file again (a retry after a lost
// answer, a node killed between the commit and the answer, two at once)
// imports nothing twice, while another file, another project, a file that
// imported nothing and the same file after EndUserImportMemory import as
// usual. The fault suite's TestKillDuringEndUserImport found the duplicates.
func TestImportEndUserFileOnce(t *testing.T) {
	eachBackend(t, func(t *testing.T, st *store.Store) {
		tr := mustTree(t, st)
		b := tr.a1
		ctx := as(b.installer)
		users := func(p *model.Project) int {
			t.Helper()
			var n int
			if err := st.DB().QueryRow(fmt.Sprintf(`SELECT count(*) FROM end_users WHERE project_id = %d`, p.ID)).Scan(&n); err != nil {
				t.Fatal(err)
			}
			return n
		}
		rows := []store.EndUserImportRow{{Row: 2, Name: "Clerk One", Department: "Sales"}, {Row: 3, Name: "Clerk Two", Department: "Sales"}}
		before := users(b.office)
		res, err := st.ImportEndUserFile(ctx, b.office.ID, "digest-1", rows)
		if err != nil || res.Imported != 2 {
			t.Fatalf("import: %+v %v", res, err)
		}
		// The same file again: refused, naming the file and when, nothing written.
		_, err = st.ImportEndUserFile(ctx, b.office.ID, "digest-1", rows)
		if model.ErrorCode(err) != model.ECONFLICT || model.ErrorFields(err)["file"] == "" || !strings.Contains(model.ErrorMessage(err), "imported into this project at") {
			t.Errorf("the same file again: %v", err)
		}
		if n := users(b.office); n != before+2 {
			t.Errorf("%d users imported by the file sent twice, want 2", n-before)
		}
		audit, _ := st.ListAudit(ctx, model.AuditFilter{Action: "end_user.import", Page: allRows})
		if audit.Total != 1 {
			t.Errorf("%d import audit entries, want 1", audit.Total)
		}
		// Another file, or the file into another project, import.
		if res, err := st.ImportEndUserFile(ctx, b.office.ID, "digest-2", rows); err != nil || res.Imported != 2 {
			t.Errorf("another file: %+v %v", res, err)
		}
		other := &model.Project{Kind: model.ProjectOffice, Name: "Second Offices"}
		if err := st.CreateProject(ctx, other); err != nil {
			t.Fatal(err)
		}
		if err := st.CreateDepartment(ctx, &model.Department{ProjectID: other.ID, Name: "Sales"}); err != nil {
			t.Fatal(err)
		}
		if res, err := st.ImportEndUserFile(ctx, other.ID, "digest-1", rows); err != nil || res.Imported != 2 {
			t.Errorf("the file into another project: %+v %v", res, err)
		}
		// A file that imported nothing is not remembered.
		bad := []store.EndUserImportRow{{Row: 2, Name: "Lost", Department: "Nowhere"}}
		for i := range 2 {
			if res, err := st.ImportEndUserFile(ctx, b.office.ID, "digest-bad", bad); err != nil || res.Imported != 0 || len(res.Rejected) != 1 {
				t.Errorf("a file of rejected rows, try %d: %+v %v", i, res, err)
			}
		}
		// Sent four times at once: imported once.
		before = users(b.office)
		var wg sync.WaitGroup
		errs := make([]error, 4)
		for i := range errs {
			wg.Add(1)
			go func() { defer wg.Done(); _, errs[i] = st.ImportEndUserFile(ctx, b.office.ID, "digest-3", rows) }()
		}
		wg.Wait()
		ok := 0
		for _, err := range errs {
			switch model.ErrorCode(err) {
			case "":
				ok++
			case model.ECONFLICT:
			default:
				t.Errorf("concurrent import: %v", err)
			}
		}
		if n := users(b.office); ok != 1 || n != before+2 {
			t.Errorf("sent four times at once: %d succeeded, %d users imported (want 1, 2)", ok, n-before)
		}
		// Forgotten after EndUserImportMemory.
		st.SetClock(func() time.Time { return time.Now().UTC().Add(store.EndUserImportMemory + time.Minute) })
		if res, err := st.ImportEndUserFile(ctx, b.office.ID, "digest-1", rows); err != nil || res.Imported != 2 {
			t.Errorf("the same file a day later: %+v %v", res, err)
		}
		if _, err := st.ImportEndUserFile(ctx, b.office.ID, "digest-1", rows); model.ErrorCode(err) != model.ECONFLICT {
			t.Errorf("and once more: %v", err)
		}
		// The project's files older than a day (digest-2, digest-3) are
		// forgotten by that import: the table holds a day of imports.
		if n := sqlCount(t, st, fmt.Sprintf(`SELECT count(*) FROM end_user_imports WHERE project_id = %d`, b.office.ID)); n != 1 {
			t.Errorf("%d files remembered for the project after a day, want 1 (today's)", n)
		}
	})
}
