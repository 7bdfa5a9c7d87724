package usecase

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/model"
	"github.com/gatehouse-dev/gatehouse/internal/store"
)

// peopleSMTPReject is what mailtest's server answers while it rejects mail:
// the text a user must never see.
const peopleSMTPReject = "mailtest rejects this message"

var peopleSystem = model.WithActor(context.Background(), model.System)

func peopleAs(a *model.Account) context.Context {
	return model.WithActor(context.Background(), model.ActorOf(a))
}

func peopleAccount(t *testing.T, st *store.Store, role model.Role, name string, parent *model.Account) *model.Account {
	t.Helper()
	a := &model.Account{Role: role, Username: name, Name: "Name " + name, Email: name + "@example.com"}
	if parent != nil {
		a.ParentID = parent.ID
	}
	if err := st.CreateAccount(peopleSystem, a, "x"); err != nil {
		t.Fatalf("create %s: %v", name, err)
	}
	return a
}

// peopleTree is admin → distributor → sub-distributor.
func peopleTree(t *testing.T, st *store.Store) (dist, sub *model.Account) {
	t.Helper()
	admin := peopleAccount(t, st, model.RoleAdmin, "admin", nil)
	dist = peopleAccount(t, st, model.RoleDistributor, "dist", admin)
	sub = peopleAccount(t, st, model.RoleSubdistributor, "sub", dist)
	return dist, sub
}

// peopleMailedToken is the token of the password link in a mail's text.
func peopleMailedToken(t *testing.T, text string) string {
	t.Helper()
	i := strings.Index(text, "token=")
	if i < 0 {
		t.Fatalf("no link in %q", text)
	}
	return strings.Fields(text[i+len("token="):])[0]
}

func TestCreateInstallerMailsTheWelcomeLink(t *testing.T) {
	forEachBackend(t, func(t *testing.T, backend string) {
		tc := newTestCases(t, backend)
		_, sub := peopleTree(t, tc.store)
		created, err := tc.CreateInstaller(peopleAs(sub), &model.Account{Username: "fitter", Email: "fitter@example.com", ParentID: sub.ID, Language: "de"})
		if err != nil || created.WelcomeMail != nil {
			t.Fatalf("create: %v, welcome mail %v", err, created)
		}
		msgs := tc.smtp.Wait(t, 1, 10*time.Second)
		if got := msgs[0]; len(got.To) != 1 || got.To[0] != "fitter@example.com" || !strings.Contains(got.Text, "https://portal.example/password/set?token=") {
			t.Fatalf("welcome mail: %+v", got)
		}
		// The link, stored with the installer, sets its password.
		in := PasswordFromLink{Token: peopleMailedToken(t, msgs[0].Text), Password: "fitter-pass-1", Confirm: "fitter-pass-1"}
		if acc, err := tc.SetPasswordFromLink(context.Background(), in); err != nil || acc.ID != created.Installer.ID {
			t.Errorf("set the password: %v", err)
		}
	})
}

func TestCreateInstallerNamesMissingFields(t *testing.T) {
	forEachBackend(t, func(t *testing.T, backend string) {
		tc := newTestCases(t, backend)
		_, sub := peopleTree(t, tc.store)
		_, err := tc.CreateInstaller(peopleAs(sub), &model.Account{Email: " ", ParentID: sub.ID})
		if f := model.ErrorFields(err); f["email"] == "" || f["account"] == "" {
			t.Fatalf("err = %v, want email and account named", err)
		}
		if l, _ := tc.store.ListInstallers(peopleAs(sub), model.InstallerFilter{Page: model.Page{Page: 1, PerPage: 10}}); l.Total != 0 {
			t.Errorf("%d installers stored", l.Total)
		}
	})
}

// The mail server refuses the welcome mail: the installer is kept, and the
// answer says what to do without the server's reply, which is logged.
func TestCreateInstallerHidesTheMailServersReply(t *testing.T) {
	forEachBackend(t, func(t *testing.T, backend string) {
		tc := newTestCases(t, backend)
		_, sub := peopleTree(t, tc.store)
		tc.smtp.Reject(true)
		created, err := tc.CreateInstaller(peopleAs(sub), &model.Account{Username: "fitter", Email: "fitter@example.com", ParentID: sub.ID})
		if err != nil {
			t.Fatalf("create: %v", err)
		}
		if created.WelcomeMail == nil {
			t.Fatal("the refused welcome mail is reported as sent")
		}
		msg := model.ErrorMessage(created.WelcomeMail)
		if strings.Contains(msg, peopleSMTPReject) || strings.Contains(msg, "554") || !strings.Contains(msg, "Reset password") {
			t.Errorf("message = %q: it must say what to do, not the server's reply", msg)
		}
		if _, err := tc.store.GetInstaller(peopleAs(sub), created.Installer.ID); err != nil {
			t.Errorf("the installer is gone: %v", err)
		}
		if !strings.Contains(tc.log.String(), peopleSMTPReject) {
			t.Errorf("the reply is not logged: %s", tc.log.String())
		}
	})
}

func TestResetInstallerPasswordHidesTheMailServersReply(t *testing.T) {
	forEachBackend(t, func(t *testing.T, backend string) {
		tc := newTestCases(t, backend)
		_, sub := peopleTree(t, tc.store)
		inst := peopleAccount(t, tc.store, model.RoleInstaller, "fitter", sub)
		tc.smtp.Reject(true)
		_, err := tc.ResetInstallerPassword(peopleAs(sub), inst.ID)
		if model.ErrorCode(err) != model.EINTERNAL {
			t.Fatalf("err = %v, want internal", err)
		}
		if msg := model.ErrorMessage(err); strings.Contains(msg, peopleSMTPReject) || !strings.Contains(msg, "could not be sent") {
			t.Errorf("message = %q", msg)
		}
		if !strings.Contains(tc.log.String(), peopleSMTPReject) {
			t.Errorf("the reply is not logged: %s", tc.log.String())
		}
		// Delivered again, the link works once.
		tc.smtp.Reject(false)
		if _, err := tc.ResetInstallerPassword(peopleAs(sub), inst.ID); err != nil {
			t.Fatal(err)
		}
		tok := peopleMailedToken(t, tc.smtp.Wait(t, 1, 10*time.Second)[0].Text)
		in := PasswordFromLink{Token: tok, Password: "fitter-pass-1", Confirm: "other"}
		if acc, err := tc.SetPasswordFromLink(context.Background(), in); model.ErrorFields(err)["confirm"] == "" || acc == nil || acc.Username != "fitter" {
			t.Errorf("mismatched confirm: %v %v", acc, err)
		}
		in.Confirm = in.Password
		if _, err := tc.SetPasswordFromLink(context.Background(), in); err != nil {
			t.Fatalf("set: %v", err)
		}
		if _, err := tc.SetPasswordFromLink(context.Background(), in); model.ErrorCode(err) != model.ENOTFOUND {
			t.Errorf("used link: %v", err)
		}
	})
}

// Another sub-distributor's installer is not found: nothing is mailed.
func TestResetInstallerPasswordKeepsToTheSubtree(t *testing.T) {
	forEachBackend(t, func(t *testing.T, backend string) {
		tc := newTestCases(t, backend)
		dist, sub := peopleTree(t, tc.store)
		other := peopleAccount(t, tc.store, model.RoleSubdistributor, "other", dist)
		inst := peopleAccount(t, tc.store, model.RoleInstaller, "fitter", sub)
		if _, err := tc.ResetInstallerPassword(peopleAs(other), inst.ID); model.ErrorCode(err) != model.ENOTFOUND {
			t.Errorf("err = %v, want not found", err)
		}
		if n := len(tc.smtp.Messages()); n != 0 {
			t.Errorf("%d mails sent", n)
		}
	})
}
