package store_test

import (
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/model"
	"github.com/gatehouse-dev/gatehouse/internal/store"
)

// TestOwnLanguage: the language switcher writes the signed-in person's
// own account — the real person's while working in an installer's — and
// refuses a language the portal does not speak, changing nothing.
func TestOwnLanguage(t *testing.T) {
	eachBackend(t, func(t *testing.T, st *store.Store) {
		tr := mustTree(t, st)
		inst := mustBranch(t, st, "lang", tr.subA1).installer
		lang := func(a *model.Account) string {
			got, err := st.GetAccount(sys, a.ID)
			if err != nil {
				t.Fatal(err)
			}
			return got.Language
		}
		if err := st.SetOwnLanguage(as(inst), "de"); err != nil {
			t.Fatal(err)
		}
		if got := lang(inst); got != "de" {
			t.Fatalf("installer's language %q, want de", got)
		}
		err := st.SetOwnLanguage(as(inst), "tlh")
		if model.ErrorCode(err) != model.EINVALID || model.ErrorFields(err)["language"] == "" {
			t.Fatalf("unknown language: %v, want invalid naming the field", err)
		}
		if got := lang(inst); got != "de" {
			t.Fatalf("a refused language changed it to %q", got)
		}
		// Working in the installer's account: the page is read by the sub-distributor.
		acting := model.ActorOf(inst)
		acting.Real = model.ActorOf(tr.subA1)
		if err := st.SetOwnLanguage(model.WithActor(t.Context(), acting), "ru"); err != nil {
			t.Fatal(err)
		}
		if lang(tr.subA1) != "ru" || lang(inst) != "de" {
			t.Fatalf("acting: sub %q, installer %q; want ru, de", lang(tr.subA1), lang(inst))
		}
		if n := sqlCount(t, st, `SELECT COUNT(*) FROM audit_log WHERE action = 'account.language_set'`); n != 2 {
			t.Fatalf("%d audit entries, want 2", n)
		}
	})
}
