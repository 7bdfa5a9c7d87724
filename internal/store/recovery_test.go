package store_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/model"
	"github.com/gatehouse-dev/gatehouse/internal/store"
)

func init() {
	coveredElsewhere["RequestPasswordRecovery"] = "auth, before an actor exists (TestPasswordRecoveryLookupAndLimits)"
	coveredElsewhere["PruneRecoveryRequests"] = "auth, the janitor (TestPasswordRecoveryLookupAndLimits)"
}

// Which account a "Forgot password?" names, and the limits: a user name in
// any case, an e-mail address only one account holds; never a disabled
// account or one without an e-mail address; 3 links an hour per account,
// then none (no error); past the address's limit, RecoveryThrottled.
func TestPasswordRecoveryLookupAndLimits(t *testing.T) {
	eachBackend(t, func(t *testing.T, st *store.Store) {
		tr := mustTree(t, st)
		inst := tr.a1.installer
		exec := func(q string, args ...any) { sqlExec(t, st, q, args...) }
		exec(`UPDATE accounts SET email = 'fitter@example.com' WHERE id = ?`, inst.ID)
		exec(`UPDATE accounts SET email = 'shared@example.com' WHERE id IN (?, ?)`, tr.a2.installer.ID, tr.b.installer.ID)
		exec(`UPDATE accounts SET email = '' WHERE id = ?`, tr.subA1.ID)
		lim := store.RecoveryLimits{PerAddress: 100, AddressWindow: time.Hour, PerAccount: 3, AccountWindow: time.Hour}
		n := 0
		ask := func(login, addr string, lim store.RecoveryLimits) (*model.Account, string, error) {
			n++
			hash := strings.Repeat("0", 60) + string(rune('a'+n%26)) + string(rune('a'+n/26)) + "00"
			acc, err := st.RequestPasswordRecovery(sys, login, addr, store.PasswordLink{Hash: hash, Purpose: "reset", Expires: st.Now().Add(time.Hour)}, lim)
			return acc, hash, err
		}
		for _, c := range []struct {
			login string
			want  int64
		}{
			{strings.ToUpper(inst.Username), inst.ID},
			{" FITTER@example.com ", inst.ID},
			{"shared@example.com", 0}, // two accounts hold it
			{tr.subA1.Username, 0},    // no e-mail address
			{"nobody", 0},
			{"nobody@example.com", 0},
		} {
			acc, hash, err := ask(c.login, "10.0.0.1", lim)
			if err != nil || (acc == nil) != (c.want == 0) || (acc != nil && acc.ID != c.want) {
				t.Errorf("%q: %+v %v, want account %d", c.login, acc, err, c.want)
				continue
			}
			_, lerr := st.PasswordTokenAccount(sys, hash)
			if (lerr == nil) != (c.want != 0) {
				t.Errorf("%q: the link works: %v", c.login, lerr)
			}
		}
		// Disabled: no link.
		exec(`UPDATE accounts SET disabled = true WHERE id = ?`, tr.a2.installer.ID)
		if acc, _, err := ask(tr.a2.installer.Username, "10.0.0.1", lim); acc != nil || err != nil {
			t.Errorf("disabled account: %+v %v", acc, err)
		}
		// The installer had 2 links: one more, then none, without an error.
		if acc, _, err := ask(inst.Username, "10.0.0.2", lim); acc == nil || err != nil {
			t.Errorf("third link: %+v %v", acc, err)
		}
		if acc, _, err := ask(inst.Username, "10.0.0.3", lim); acc != nil || err != nil {
			t.Errorf("fourth link in the hour: %+v %v", acc, err)
		}
		// An address over its limit: refused, nothing recorded or made.
		tight := lim
		tight.PerAddress = 2
		for i := range 2 {
			if _, _, err := ask("nobody", "10.9.9.9", tight); err != nil {
				t.Fatalf("request %d: %v", i, err)
			}
		}
		var rt *store.RecoveryThrottled
		if _, _, err := ask("nobody", "10.9.9.9", tight); !errors.As(err, &rt) || model.ErrorCode(err) != model.ETOOMANY ||
			rt.RetryAfterSeconds() < 1 || rt.RetryAfterSeconds() > 3600 {
			t.Errorf("over the address's limit: %v", err)
		}
		// A day later the requests are forgotten.
		var before, after int
		st.DB().QueryRow(`SELECT count(*) FROM password_recovery_requests`).Scan(&before)
		st.SetClock(func() time.Time { return time.Now().Add(25 * time.Hour) })
		if err := st.PruneRecoveryRequests(sys); err != nil {
			t.Fatal(err)
		}
		st.DB().QueryRow(`SELECT count(*) FROM password_recovery_requests`).Scan(&after)
		if before == 0 || after != 0 {
			t.Errorf("requests before and after the prune: %d, %d", before, after)
		}
	})
}
