package usecase

import (
	"strings"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/model"
)

// TestResetPasswordSaysWhichStepFailed: when the reset link cannot be
// stored, nothing is mailed and the error says the link was not made
// (not that it was made and only the mail failed), without the database's
// text.
func TestResetPasswordSaysWhichStepFailed(t *testing.T) {
	forEachBackend(t, func(t *testing.T, backend string) {
		tc := newTestCases(t, backend)
		_, sub := peopleTree(t, tc.store)
		inst := peopleAccount(t, tc.store, model.RoleInstaller, "fitter", sub)
		// The database refuses new links (a full disk, a lost connection).
		stmts := []string{`CREATE TRIGGER people_refuse_links BEFORE INSERT ON password_tokens
			BEGIN SELECT RAISE(ABORT, 'people-db-secret refused'); END`}
		if backend == "postgres" {
			stmts = []string{`CREATE FUNCTION people_refuse_links() RETURNS trigger AS $$
				BEGIN RAISE EXCEPTION 'people-db-secret refused'; END $$ LANGUAGE plpgsql`,
				`CREATE TRIGGER people_refuse_links BEFORE INSERT ON password_tokens FOR EACH ROW EXECUTE FUNCTION people_refuse_links()`}
		}
		for _, q := range stmts {
			if _, err := tc.store.DB().Exec(q); err != nil {
				t.Fatal(err)
			}
		}
		_, err := tc.ResetInstallerPassword(peopleAs(sub), inst.ID)
		msg := model.ErrorMessage(err)
		if model.ErrorCode(err) != model.EINTERNAL || strings.Contains(msg, "was made") || strings.Contains(msg, "secret") {
			t.Errorf("err = %v: want an internal error that does not say the link was made, nor the cause", err)
		}
		if n := len(tc.smtp.Messages()); n != 0 {
			t.Errorf("%d mails sent for a link that was not made", n)
		}
		if !strings.Contains(tc.log.String(), "people-db-secret") {
			t.Errorf("the cause was not logged: %s", tc.log.String())
		}
	})
}
