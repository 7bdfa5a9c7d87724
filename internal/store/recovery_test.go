package store_test

import (
	"context"
	"errors"
	"fmt"
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

func init() {
	coveredElsewhere["GetTwoFactorStatus"] = "the actor's own account only (TestTwoFactorOwnAccount)"
	coveredElsewhere["StartTOTP"] = "the actor's own account only (TestTwoFactorOwnAccount)"
	coveredElsewhere["ConfirmTOTP"] = "the actor's own account only (TestTwoFactorOwnAccount)"
	coveredElsewhere["DisableTOTP"] = "the actor's own account only (TestTwoFactorOwnAccount)"
	coveredElsewhere["SetChildrenTwoFactorRequired"] = "the actor's own account only (TestTwoFactorOwnAccount)"
	coveredElsewhere["TwoFactorForLogin"] = "auth, before an actor exists"
	coveredElsewhere["CreateLoginChallenge"] = "auth, before an actor exists"
	coveredElsewhere["UseLoginChallenge"] = "auth, before an actor exists (the challenge is the credential)"
	coveredElsewhere["SetOwnEmail"] = "the actor's own account only (TestOwnEmailAskedAtSignIn)"
	coveredElsewhere["SetOwnLanguage"] = "the signed-in person's own account only (TestOwnLanguage)"
	tenancyCases = append(tenancyCases, tenancyCase{method: "ResetChildTwoFactor", call: func(st *store.Store, ctx context.Context, b *branch) error {
		err := st.ResetChildTwoFactor(ctx, b.installer.ID)
		if a := model.ActorFrom(ctx); a != nil && a.AccountID == b.installer.ID {
			// One's own account is not below one: 404 by design.
			if model.ErrorCode(err) == model.ENOTFOUND {
				return nil
			}
			return fmt.Errorf("an installer reset its own two-factor sign-in: %v", err)
		}
		return err
	}})
}

// Two-factor sign-in is set by the account's own person: never while
// working as an installer; the status and the policy are one's own.
func TestTwoFactorOwnAccount(t *testing.T) {
	eachBackend(t, func(t *testing.T, st *store.Store) {
		tr := mustTree(t, st)
		inst := tr.a1.installer
		acting := model.ActorOf(inst)
		acting.Real = model.ActorOf(tr.subA1)
		actx := model.WithActor(context.Background(), acting)
		if err := st.StartTOTP(actx, "JBSWY3DPEHPK3PXP"); model.ErrorCode(err) != model.EFORBIDDEN {
			t.Errorf("start while acting as the installer: %v", err)
		}
		if err := st.SetChildrenTwoFactorRequired(as(inst), true); model.ErrorCode(err) != model.EFORBIDDEN {
			t.Errorf("an installer's policy: %v", err)
		}
		if err := st.SetChildrenTwoFactorRequired(as(tr.subA1), true); err != nil {
			t.Fatal(err)
		}
		if s, err := st.GetTwoFactorStatus(as(inst)); err != nil || !s.RequiredByParent || s.Enabled || s.RequireForChildren {
			t.Errorf("the installer's status: %+v %v", s, err)
		}
		if s, err := st.GetTwoFactorStatus(as(tr.a2.installer)); err != nil || s.RequiredByParent {
			t.Errorf("another sub-distributor's installer: %+v %v", s, err)
		}
		if err := st.StartTOTP(as(inst), "JBSWY3DPEHPK3PXP"); err != nil {
			t.Fatal(err)
		}
		wrong := func(string, int64) (int64, bool) { return 0, false }
		right := func(secret string, _ int64) (int64, bool) { return 42, secret == "JBSWY3DPEHPK3PXP" }
		if err := st.ConfirmTOTP(as(inst), wrong, nil); model.ErrorFields(err)["code"] == "" {
			t.Errorf("a wrong first code: %v", err)
		}
		if err := st.ConfirmTOTP(as(inst), right, []string{"h1", "h2"}); err != nil {
			t.Fatalf("confirm (the secret opens sealed): %v", err)
		}
		if err := st.StartTOTP(as(inst), "OTHER"); model.ErrorCode(err) != model.ECONFLICT {
			t.Errorf("a second authenticator while on: %v", err)
		}
		if s, _ := st.GetTwoFactorStatus(as(inst)); !s.Enabled || s.RecoveryCodesLeft != 2 {
			t.Errorf("after confirming: %+v", s)
		}
		if err := st.DisableTOTP(as(inst)); model.ErrorCode(err) != model.ECONFLICT {
			t.Errorf("turning off what the parent requires: %v", err)
		}
		// Sealed at rest.
		var sealed string
		st.DB().QueryRow(`SELECT secret FROM account_totp`).Scan(&sealed)
		if sealed == "" || strings.Contains(sealed, "JBSWY3DPEHPK3PXP") {
			t.Errorf("the secret is stored as %q", sealed)
		}
		if err := st.SetChildrenTwoFactorRequired(as(tr.subA1), false); err != nil {
			t.Fatal(err)
		}
		if err := st.DisableTOTP(as(inst)); err != nil {
			t.Errorf("turning off: %v", err)
		}
		if on, _ := st.TwoFactorForLogin(sys, inst.ID); on {
			t.Error("still on after turning off")
		}
	})
}
