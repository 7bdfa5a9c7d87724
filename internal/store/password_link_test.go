package store_test

import (
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/model"
	"github.com/gatehouse-dev/gatehouse/internal/store"
)

// TestPasswordChangeEndsPasswordLinks: a pending welcome or reset link is
// a way into the account like a session: setting the password any other
// way (own change, the admin command) must end it, or whoever read the old
// mail sets a password after the owner changed it to lock them out.
func TestPasswordChangeEndsPasswordLinks(t *testing.T) {
	eachBackend(t, func(t *testing.T, st *store.Store) {
		tr := mustTree(t, st)
		inst, sub := tr.a1.installer, tr.subA1
		link := func(h string) {
			t.Helper()
			if err := st.CreatePasswordToken(as(sub), inst.ID, "reset", h, time.Now().Add(24*time.Hour)); err != nil {
				t.Fatal(err)
			}
		}
		link("link-1")
		if err := st.SetPassword(sys, inst.ID, "hash-1"); err != nil {
			t.Fatal(err)
		}
		if _, err := st.PasswordTokenAccount(sys, "link-1"); err == nil {
			t.Error("a reset link still works after the password was set by the admin command")
		}
		link("link-2")
		se := &model.Session{TokenHash: "own-new", CSRFToken: "c", Created: time.Now(), LastSeen: time.Now(), Expires: time.Now().Add(time.Hour)}
		a, _, _ := st.AccountForLogin(sys, inst.Username)
		if err := st.ChangeOwnPassword(as(a), "hash-2", se); err != nil {
			t.Fatal(err)
		}
		if _, err := st.UsePasswordToken(sys, "link-2", "hash-3"); err == nil {
			t.Error("a reset link still sets the password after the owner changed it")
		}
	})
}
