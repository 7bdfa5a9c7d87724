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
