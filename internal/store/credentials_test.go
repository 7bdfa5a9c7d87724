package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/model"
	"github.com/gatehouse-dev/gatehouse/internal/store"
)

func init() {
	coveredElsewhere["ChangeOwnPassword"] = "TestPasswordEndsCredentials (the actor's own account only)"
}

// TestPasswordEndsCredentials: SetPassword, a used password link and
// ChangeOwnPassword end every session and API token of the account and
// every session acting in it; ChangeOwnPassword keeps only the session it
// issues, and is refused while acting.
func TestPasswordEndsCredentials(t *testing.T) {
	eachBackend(t, func(t *testing.T, st *store.Store) {
		tr := mustTree(t, st)
		ctx := context.Background()
		inst, sub := tr.a1.installer, tr.subA1
		now := time.Now().UTC()
		n := 0
		session := func(acc *model.Account, actingAs *model.Account) string {
			t.Helper()
			n++
			a, _, err := st.AccountForLogin(ctx, acc.Username)
			if err != nil {
				t.Fatal(err)
			}
			se := &model.Session{TokenHash: "s" + string(rune('a'+n)), CSRFToken: "c", Created: now, LastSeen: now, Expires: now.Add(time.Hour)}
			if actingAs == nil {
				se.AccountID, se.Epoch = a.ID, a.CredentialEpoch
				if err := st.CreateSession(ctx, se); err != nil {
					t.Fatal(err)
				}
				return se.TokenHash
			}
			if err := st.SetAccessWithoutPassword(as(actingAs), true); err != nil {
				t.Fatal(err)
			}
			if err := st.CreateImpersonationSession(model.WithActor(ctx, model.ActorOf(a)), actingAs.ID, se); err != nil {
				t.Fatal(err)
			}
			return se.TokenHash
		}
		token := func(acc *model.Account) string {
			t.Helper()
			n++
			a, _, _ := st.AccountForLogin(ctx, acc.Username)
			h := "t" + string(rune('a'+n))
			if err := st.CreateAPIToken(model.WithActor(ctx, model.ActorOf(a)), &model.APIToken{Name: "ci"}, h); err != nil {
				t.Fatal(err)
			}
			return h
		}
		live := func(h string) bool {
			if h[0] == 't' {
				_, err := st.AccountByAPIToken(ctx, h, now)
				return err == nil
			}
			_, _, err := st.SessionByHash(ctx, h)
			return err == nil
		}

		own, tok, acting, subOwn := session(inst, nil), token(inst), session(sub, inst), session(sub, nil)
		if err := st.SetPassword(sys, inst.ID, "hash-2"); err != nil {
			t.Fatal(err)
		}
		for what, h := range map[string]string{"session": own, "API token": tok, "acting session": acting} {
			if live(h) {
				t.Errorf("SetPassword: the installer's %s lives on", what)
			}
		}
		if !live(subOwn) {
			t.Error("SetPassword of the installer ended the sub-distributor's own session")
		}

		// A session made under the old epoch (a login racing the change)
		// is refused although its row was never deleted.
		stale := &model.Session{TokenHash: "stale", AccountID: inst.ID, CSRFToken: "c", Created: now, LastSeen: now, Expires: now.Add(time.Hour), Epoch: 0}
		if err := st.CreateSession(ctx, stale); err != nil {
			t.Fatal(err)
		}
		if live("stale") {
			t.Error("a session carrying the old epoch authenticates")
		}

		own, tok, acting = session(inst, nil), token(inst), session(sub, inst)
		if err := st.ChangeOwnPassword(model.WithActor(ctx, &model.Actor{AccountID: inst.ID, Role: model.RoleInstaller, Real: model.ActorOf(sub)}), "hash-x", &model.Session{}); model.ErrorCode(err) != model.EFORBIDDEN {
			t.Errorf("own change while acting: %v", err)
		}
		next := &model.Session{TokenHash: "next", CSRFToken: "c", Created: now, LastSeen: now, Expires: now.Add(time.Hour)}
		if err := st.ChangeOwnPassword(as(inst), "hash-3", next); err != nil {
			t.Fatal(err)
		}
		for what, h := range map[string]string{"session": own, "API token": tok, "acting session": acting} {
			if live(h) {
				t.Errorf("ChangeOwnPassword: the installer's %s lives on", what)
			}
		}
		if !live("next") {
			t.Error("the session issued with the change does not authenticate")
		}

		// A claimed Remote Control session (the separate origin needs no
		// portal session) ends with the password of the account that opened it.
		mac := tr.a1.device.MAC
		if err := st.DeviceConnected(sys, mac, "node-1", time.Now(), model.DeviceHello{}); err != nil {
			t.Fatal(err)
		}
		rtok, rs, err := st.CreateRemoteSession(as(sub), mac)
		if err != nil {
			t.Fatal(err)
		}
		_, secret, err := st.ClaimRemoteSession(sys, rtok, rs.Handoff)
		if err != nil {
			t.Fatal(err)
		}
		if err := st.SetPassword(sys, sub.ID, "hash-r"); err != nil {
			t.Fatal(err)
		}
		if _, err := st.RemoteSessionBrowser(sys, rtok, secret); err == nil {
			t.Error("a claimed Remote Control session lives on after the password of its account changed")
		}

		// The impersonator's password: its acting sessions end too.
		acting, subOwn = session(sub, inst), session(sub, nil)
		if err := st.SetPassword(sys, sub.ID, "hash-4"); err != nil {
			t.Fatal(err)
		}
		if live(acting) || live(subOwn) {
			t.Error("the sub-distributor's sessions live on after its password changed")
		}
	})
}
