package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/model"
	"github.com/gatehouse-dev/gatehouse/internal/store"
)

// TestRemoteSessionActingEnds: a Remote Control session a sub-distributor
// opened while working as an installer ("access without password") is
// stored under the installer, yet on the separate Remote Control origin a
// claimed one needs no portal session: it must end when the installer
// revokes the access, and when the sub-distributor's own credentials end.
func TestRemoteSessionActingEnds(t *testing.T) {
	eachBackend(t, func(t *testing.T, st *store.Store) {
		tr := mustTree(t, st)
		ctx := context.Background()
		sys := model.WithActor(ctx, model.System)
		inst, sub := tr.a1.installer, tr.subA1
		mac := tr.a1.device.MAC
		if err := st.DeviceConnected(sys, mac, "node-1", time.Now(), model.DeviceHello{}); err != nil {
			t.Fatal(err)
		}
		if err := st.SetAccessWithoutPassword(as(inst), true); err != nil {
			t.Fatal(err)
		}
		acting := func() context.Context {
			a := model.ActorOf(inst)
			a.Real = model.ActorOf(sub)
			return model.WithActor(ctx, a)
		}
		open := func(actx context.Context) (string, string) {
			t.Helper()
			tok, rs, err := st.CreateRemoteSession(actx, mac)
			if err != nil {
				t.Fatal(err)
			}
			_, secret, err := st.ClaimRemoteSession(sys, tok, rs.Handoff)
			if err != nil {
				t.Fatal(err)
			}
			return tok, secret
		}

		// The installer's own Remote Control session is its own: revoking
		// the sub-distributor's access leaves it.
		ownTok, ownSecret := open(as(inst))
		tok, secret := open(acting())
		if err := st.SetAccessWithoutPassword(as(inst), false); err != nil {
			t.Fatal(err)
		}
		if _, err := st.RemoteSessionBrowser(sys, tok, secret); err == nil {
			t.Error("a Remote Control session opened while acting as the installer lives on after the installer revoked access without password")
		}
		if _, err := st.RemoteSessionBrowser(sys, ownTok, ownSecret); err != nil {
			t.Errorf("the installer's own Remote Control session ended with the revocation: %v", err)
		}

		// The sub-distributor's password: what it opened acting ends too.
		if err := st.SetAccessWithoutPassword(as(inst), true); err != nil {
			t.Fatal(err)
		}
		tok, secret = open(acting())
		if err := st.SetPassword(sys, sub.ID, "hash-x"); err != nil {
			t.Fatal(err)
		}
		if _, err := st.RemoteSessionBrowser(sys, tok, secret); err == nil {
			t.Error("a Remote Control session opened while acting lives on after the password of the account that opened it changed")
		}
	})
}

// TestRemoteSessionAfterPasswordChangeRefused: a request that
// authenticated before a password change and opens a Remote Control
// session after it (its transaction ran second) must be refused: the
// change already ended the account's Remote Control sessions, and a claimed
// one lives on the separate origin without any portal session.
func TestRemoteSessionAfterPasswordChangeRefused(t *testing.T) {
	eachBackend(t, func(t *testing.T, st *store.Store) {
		tr := mustTree(t, st)
		ctx := context.Background()
		sys := model.WithActor(ctx, model.System)
		inst, sub := tr.a1.installer, tr.subA1
		mac := tr.a1.device.MAC
		if err := st.DeviceConnected(sys, mac, "node-1", time.Now(), model.DeviceHello{}); err != nil {
			t.Fatal(err)
		}
		if err := st.SetAccessWithoutPassword(as(inst), true); err != nil {
			t.Fatal(err)
		}
		fresh := func(a *model.Account) *model.Actor {
			got, _, err := st.AccountForLogin(ctx, a.Username)
			if err != nil {
				t.Fatal(err)
			}
			return model.ActorOf(got)
		}
		// The account's own password.
		stale := fresh(sub)
		if err := st.SetPassword(sys, sub.ID, "hash-y"); err != nil {
			t.Fatal(err)
		}
		if _, _, err := st.CreateRemoteSession(model.WithActor(ctx, stale), mac); err == nil {
			t.Error("a request authenticated before the password change opened a Remote Control session after it")
		}
		// Acting: the real account's password, and the installer's.
		for _, changed := range []*model.Account{sub, inst} {
			a := fresh(inst)
			a.Real = fresh(sub)
			if err := st.SetPassword(sys, changed.ID, "hash-z"); err != nil {
				t.Fatal(err)
			}
			if _, _, err := st.CreateRemoteSession(model.WithActor(ctx, a), mac); err == nil {
				t.Errorf("acting, a request authenticated before the password change of %s opened a Remote Control session after it", changed.Username)
			}
		}
		// A current actor still opens one.
		a := fresh(inst)
		a.Real = fresh(sub)
		if _, _, err := st.CreateRemoteSession(model.WithActor(ctx, a), mac); err != nil {
			t.Errorf("a current actor: %v", err)
		}
		if _, _, err := st.CreateRemoteSession(model.WithActor(ctx, fresh(sub)), mac); err != nil {
			t.Errorf("a current account: %v", err)
		}
	})
}

// TestRemoteSessionAfterRevocationRefused: a request working as an
// installer that opens a Remote Control session after the installer
// revoked access without password (its transaction ran second) is refused:
// the revocation already ended the sessions opened acting.
func TestRemoteSessionAfterRevocationRefused(t *testing.T) {
	eachBackend(t, func(t *testing.T, st *store.Store) {
		tr := mustTree(t, st)
		ctx := context.Background()
		sys := model.WithActor(ctx, model.System)
		inst, sub := tr.a1.installer, tr.subA1
		mac := tr.a1.device.MAC
		if err := st.DeviceConnected(sys, mac, "node-1", time.Now(), model.DeviceHello{}); err != nil {
			t.Fatal(err)
		}
		if err := st.SetAccessWithoutPassword(as(inst), true); err != nil {
			t.Fatal(err)
		}
		i, _, _ := st.AccountForLogin(ctx, inst.Username)
		s, _, _ := st.AccountForLogin(ctx, sub.Username)
		a := model.ActorOf(i)
		a.Real = model.ActorOf(s)
		if err := st.SetAccessWithoutPassword(as(inst), false); err != nil {
			t.Fatal(err)
		}
		if _, _, err := st.CreateRemoteSession(model.WithActor(ctx, a), mac); err == nil {
			t.Error("a request acting as the installer opened a Remote Control session after the installer revoked access without password")
		}
		// The installer itself still opens one.
		if _, _, err := st.CreateRemoteSession(model.WithActor(ctx, model.ActorOf(i)), mac); err != nil {
			t.Errorf("the installer itself: %v", err)
		}
	})
}
