package store_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/model"
	"github.com/gatehouse-dev/gatehouse/internal/store"
)

func init() {
	for _, m := range []string{"ListPasskeys", "StartPasskeyRegistration", "AddPasskey", "RenamePasskey", "DeletePasskey"} {
		coveredElsewhere[m] = "the actor's own account only (TestPasskeysOwnAccount)"
	}
	coveredElsewhere["SecondFactorsForLogin"] = "auth, before an actor exists"
	coveredElsewhere["BeginLoginPasskey"] = "auth, before an actor exists (the challenge is the credential; TestPasskeyLoginChallenge)"
	coveredElsewhere["UseLoginPasskey"] = "auth, before an actor exists (the challenge is the credential; TestPasskeyLoginChallenge)"
}

// fakeBegin records the credentials a ceremony was made for.
func fakeBegin(got *[]store.StoredPasskey, session string) store.PasskeyBegin {
	return func(_ int64, creds []store.StoredPasskey) (string, error) {
		*got = creds
		return session, nil
	}
}

// fakeFinish accepts the registration when the ceremony kept is want, with
// credential id cred.
func fakeFinish(want, cred string) store.PasskeyFinish {
	return func(_ int64, session string) (*store.NewPasskey, error) {
		if session != want {
			return nil, model.Invalid("credential", "is for another ceremony")
		}
		return &store.NewPasskey{CredentialID: cred, Credential: `{"id":"` + cred + `"}`, SignCount: 1}, nil
	}
}

func addPasskey(t *testing.T, st *store.Store, ctx context.Context, name, cred string, codes []string) (model.Passkey, bool) {
	t.Helper()
	var seen []store.StoredPasskey
	if err := st.StartPasskeyRegistration(ctx, fakeBegin(&seen, "reg-"+cred), time.Now().Add(time.Minute)); err != nil {
		t.Fatalf("start %s: %v", cred, err)
	}
	pk, stored, err := st.AddPasskey(ctx, name, fakeFinish("reg-"+cred, cred), codes)
	if err != nil {
		t.Fatalf("add %s: %v", cred, err)
	}
	return pk, stored
}

// An account's passkeys are its own person's: added through a registration
// that is used once and expires, bounded in number, unique across accounts;
// the first turns two-factor sign-in on with recovery codes (a later one
// keeps the codes); renamed and removed by id of one's own only (anyone
// else's is 404); the last second factor is not removed one by one; a
// parent's reset removes them, audited.
func TestPasskeysOwnAccount(t *testing.T) {
	eachBackend(t, func(t *testing.T, st *store.Store) {
		tr := mustTree(t, st)
		inst, other := tr.a1.installer, tr.a2.installer
		acting := model.ActorOf(inst)
		acting.Real = model.ActorOf(tr.subA1)
		actx := model.WithActor(context.Background(), acting)
		var seen []store.StoredPasskey
		if err := st.StartPasskeyRegistration(actx, fakeBegin(&seen, "x"), time.Now().Add(time.Minute)); model.ErrorCode(err) != model.EFORBIDDEN {
			t.Errorf("a registration while acting as the installer: %v", err)
		}
		if _, err := st.ListPasskeys(actx); model.ErrorCode(err) != model.EFORBIDDEN {
			t.Errorf("the list while acting: %v", err)
		}
		// No registration waiting; one expired; one for another ceremony.
		if _, _, err := st.AddPasskey(as(inst), "k", fakeFinish("s", "c"), nil); model.ErrorCode(err) != model.ECONFLICT {
			t.Errorf("finishing without a registration: %v", err)
		}
		if err := st.StartPasskeyRegistration(as(inst), fakeBegin(&seen, "old"), time.Now().Add(-time.Second)); err != nil {
			t.Fatal(err)
		}
		if _, _, err := st.AddPasskey(as(inst), "k", fakeFinish("old", "c"), nil); model.ErrorCode(err) != model.ECONFLICT {
			t.Errorf("an expired registration: %v", err)
		}
		if err := st.StartPasskeyRegistration(as(inst), fakeBegin(&seen, "reg"), time.Now().Add(time.Minute)); err != nil {
			t.Fatal(err)
		}
		if _, _, err := st.AddPasskey(as(inst), "k", fakeFinish("another", "c"), nil); model.ErrorFields(err)["credential"] == "" {
			t.Errorf("an answer for another ceremony: %v", err)
		}
		if _, _, err := st.AddPasskey(as(inst), strings.Repeat("n", 65), fakeFinish("reg", "c"), nil); model.ErrorFields(err)["name"] == "" {
			t.Errorf("a long name: %v", err)
		}
		pk, stored, err := st.AddPasskey(as(inst), "  Laptop ", fakeFinish("reg", "cred-1"), []string{"h1", "h2", "h3"})
		if err != nil || !stored || pk.Name != "Laptop" || pk.ID == 0 {
			t.Fatalf("add: %+v %v %v", pk, stored, err)
		}
		// The registration is used up.
		if _, _, err := st.AddPasskey(as(inst), "again", fakeFinish("reg", "cred-9"), nil); model.ErrorCode(err) != model.ECONFLICT {
			t.Errorf("a registration used twice: %v", err)
		}
		if s, _ := st.GetTwoFactorStatus(as(inst)); !s.Enabled || s.TOTP || s.Passkeys != 1 || s.RecoveryCodesLeft != 3 {
			t.Errorf("status after the first passkey: %+v", s)
		}
		if totp, pks, _ := st.SecondFactorsForLogin(sys, inst.ID); totp || !pks {
			t.Errorf("factors for login: %v %v", totp, pks)
		}
		if on, _ := st.TwoFactorForLogin(sys, inst.ID); !on {
			t.Error("two-factor sign-in is not on with a passkey")
		}
		// A second one keeps the codes; its ceremony excludes the first.
		if err := st.StartPasskeyRegistration(as(inst), fakeBegin(&seen, "reg2"), time.Now().Add(time.Minute)); err != nil || len(seen) != 1 || seen[0].CredentialID != "cred-1" {
			t.Fatalf("the second registration saw %+v: %v", seen, err)
		}
		pk2, stored, err := st.AddPasskey(as(inst), "", fakeFinish("reg2", "cred-2"), []string{"x"})
		if err != nil || stored || pk2.Name != "Passkey" {
			t.Fatalf("second: %+v %v %v", pk2, stored, err)
		}
		// The same credential on another account: a conflict.
		if err := st.StartPasskeyRegistration(as(other), fakeBegin(&seen, "o"), time.Now().Add(time.Minute)); err != nil {
			t.Fatal(err)
		}
		if _, _, err := st.AddPasskey(as(other), "k", fakeFinish("o", "cred-1"), nil); model.ErrorCode(err) != model.ECONFLICT {
			t.Errorf("a credential registered twice: %v", err)
		}
		opk, _ := addPasskey(t, st, as(other), "theirs", "cred-o", []string{"o1"})

		l, err := st.ListPasskeys(as(inst))
		if err != nil || len(l) != 2 || l[0].ID != pk.ID || l[1].ID != pk2.ID || l[0].LastUsed != nil {
			t.Errorf("list: %+v %v", l, err)
		}
		if r, err := st.RenamePasskey(as(inst), pk2.ID, "YubiKey"); err != nil || r.Name != "YubiKey" || r.ID != pk2.ID {
			t.Errorf("rename: %+v %v", r, err)
		}
		if _, err := st.RenamePasskey(as(inst), pk2.ID, "a\x01b"); model.ErrorFields(err)["name"] == "" {
			t.Errorf("a name with a control character: %v", err)
		}
		if _, err := st.RenamePasskey(as(inst), opk.ID, "mine"); model.ErrorCode(err) != model.ENOTFOUND {
			t.Errorf("renaming another's passkey: %v", err)
		}
		if err := st.DeletePasskey(as(inst), opk.ID); model.ErrorCode(err) != model.ENOTFOUND {
			t.Errorf("removing another's passkey: %v", err)
		}
		if err := st.DeletePasskey(as(inst), pk.ID); err != nil {
			t.Errorf("remove: %v", err)
		}
		if err := st.DeletePasskey(as(inst), pk2.ID); model.ErrorCode(err) != model.ECONFLICT {
			t.Errorf("removing the last second factor: %v", err)
		}
		// At most MaxPasskeys.
		for i := 1; i < model.MaxPasskeys; i++ {
			addPasskey(t, st, as(inst), "k", fmt.Sprintf("many-%d", i), nil)
		}
		if err := st.StartPasskeyRegistration(as(inst), fakeBegin(&seen, "z"), time.Now().Add(time.Minute)); model.ErrorCode(err) != model.ECONFLICT {
			t.Errorf("registration past the bound: %v", err)
		}
		// The parent's reset removes them, audited with their number.
		if err := st.ResetChildTwoFactor(as(tr.subA1), inst.ID); err != nil {
			t.Fatal(err)
		}
		if l, _ := st.ListPasskeys(as(inst)); len(l) != 0 {
			t.Errorf("passkeys after the reset: %d", len(l))
		}
		if s, _ := st.GetTwoFactorStatus(as(inst)); s.Enabled || s.RecoveryCodesLeft != 0 {
			t.Errorf("status after the reset: %+v", s)
		}
		var details string
		st.DB().QueryRow(`SELECT details FROM audit_log WHERE action = 'auth.two_factor_reset' ORDER BY id DESC LIMIT 1`).Scan(&details)
		if !strings.Contains(details, `"passkeys_removed":10`) {
			t.Errorf("the reset's audit entry: %s", details)
		}
		// The other account's is untouched.
		if l, _ := st.ListPasskeys(as(other)); len(l) != 1 {
			t.Errorf("the other account's passkeys: %d", len(l))
		}
	})
}

// A login's passkey ceremony is bound to its challenge: begun for the
// account's credentials, kept with the challenge; an assertion refused
// counts as a wrong code (five end the challenge); an accepted one moves
// the signature counter forward, marks the passkey used and ends the
// challenge (it cannot be used again).
func TestPasskeyLoginChallenge(t *testing.T) {
	eachBackend(t, func(t *testing.T, st *store.Store) {
		tr := mustTree(t, st)
		inst := tr.a1.installer
		ctx := context.Background()
		var seen []store.StoredPasskey
		if err := st.CreateLoginChallenge(ctx, "h-none", inst.ID, time.Now().Add(time.Minute)); err != nil {
			t.Fatal(err)
		}
		if err := st.BeginLoginPasskey(ctx, "h-none", fakeBegin(&seen, "s")); model.ErrorCode(err) != model.ECONFLICT {
			t.Errorf("an account without passkeys: %v", err)
		}
		pk, _ := addPasskey(t, st, as(inst), "Laptop", "cred-1", []string{"h1"})
		if err := st.BeginLoginPasskey(ctx, "unknown", fakeBegin(&seen, "s")); model.ErrorCode(err) != model.EUNAUTHORIZED {
			t.Errorf("an unknown challenge: %v", err)
		}
		if err := st.CreateLoginChallenge(ctx, "h1", inst.ID, time.Now().Add(time.Minute)); err != nil {
			t.Fatal(err)
		}
		accept := func(wantSession string, count uint32) store.PasskeyVerify {
			return func(_ int64, session string, creds []store.StoredPasskey) (int64, uint32, bool) {
				if session != wantSession || len(creds) != 1 || count <= creds[0].SignCount {
					return 0, 0, false
				}
				return creds[0].ID, count, true
			}
		}
		// Before a ceremony is begun: a wrong attempt.
		if _, wrong, err := st.UseLoginPasskey(ctx, "h1", accept("", 5)); !wrong || model.ErrorCode(err) != model.EUNAUTHORIZED {
			t.Errorf("an assertion without a ceremony: %v %v", wrong, err)
		}
		if err := st.BeginLoginPasskey(ctx, "h1", fakeBegin(&seen, "sess-1")); err != nil || len(seen) != 1 || seen[0].CredentialID != "cred-1" || seen[0].SignCount != 1 {
			t.Fatalf("begin: %+v %v", seen, err)
		}
		// A counter that did not move forward (1 stored): refused.
		if _, wrong, _ := st.UseLoginPasskey(ctx, "h1", accept("sess-1", 1)); !wrong {
			t.Error("a counter not moving forward was accepted")
		}
		acc, wrong, err := st.UseLoginPasskey(ctx, "h1", accept("sess-1", 7))
		if err != nil || wrong || acc == nil || acc.ID != inst.ID {
			t.Fatalf("use: %v %v %v", acc, wrong, err)
		}
		var count int64
		if err := st.DB().QueryRow(fmt.Sprintf(`SELECT sign_count FROM account_passkeys WHERE id = %d`, pk.ID)).Scan(&count); err != nil {
			t.Fatal(err)
		}
		if l, _ := st.ListPasskeys(as(inst)); count != 7 || len(l) != 1 || l[0].LastUsed == nil {
			t.Errorf("after the login: count %d, %+v", count, l)
		}
		if _, _, err := st.UseLoginPasskey(ctx, "h1", accept("sess-1", 8)); model.ErrorCode(err) != model.EUNAUTHORIZED {
			t.Errorf("the challenge used again: %v", err)
		}
		var via string
		st.DB().QueryRow(`SELECT details FROM audit_log WHERE action = 'auth.second_factor' ORDER BY id DESC LIMIT 1`).Scan(&via)
		if !strings.Contains(via, `"passkey"`) {
			t.Errorf("the audit entry: %s", via)
		}
		// Five refusals end the challenge, passkey or code alike.
		if err := st.CreateLoginChallenge(ctx, "h2", inst.ID, time.Now().Add(time.Minute)); err != nil {
			t.Fatal(err)
		}
		if err := st.BeginLoginPasskey(ctx, "h2", fakeBegin(&seen, "sess-2")); err != nil {
			t.Fatal(err)
		}
		for range 4 {
			st.UseLoginPasskey(ctx, "h2", accept("other", 100))
		}
		if _, wrong, _ := st.UseLoginChallenge(ctx, "h2", func(string, int64) (int64, bool) { return 0, false }, ""); !wrong {
			t.Error("a wrong code was not wrong")
		}
		if _, _, err := st.UseLoginPasskey(ctx, "h2", accept("sess-2", 100)); model.ErrorCode(err) != model.EUNAUTHORIZED {
			t.Errorf("after five refusals: %v", err)
		}
		if err := st.BeginLoginPasskey(ctx, "h2", fakeBegin(&seen, "s")); model.ErrorCode(err) != model.EUNAUTHORIZED {
			t.Errorf("a new ceremony after five refusals: %v", err)
		}
	})
}
