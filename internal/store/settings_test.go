package store_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/model"
	"github.com/gatehouse-dev/gatehouse/internal/store"
)

func init() {
	tenancyCases = append(tenancyCases,
		tenancyCase{method: "GetCustomerService", call: func(st *store.Store, ctx context.Context, b *branch) error {
			cs, err := st.GetCustomerService(ctx, b.installer.SubdistributorID)
			if err == nil && cs.SubdistributorID != b.installer.SubdistributorID {
				return fmt.Errorf("settings of sub-distributor %d answered for %d", cs.SubdistributorID, b.installer.SubdistributorID)
			}
			return err
		}},
		tenancyCase{method: "PutCustomerService", call: func(st *store.Store, ctx context.Context, b *branch) error {
			err := st.PutCustomerService(ctx, b.installer.SubdistributorID, &model.CustomerService{Email: "cs@example.com", Phone: "+1 555 0100"})
			if model.ErrorCode(err) == model.EFORBIDDEN {
				return model.NotFound("forbidden by role") // the distributor may read, not write
			}
			return err
		}, allowed: func(a *model.Account) bool { return a.Role == model.RoleAdmin || a.Role == model.RoleSubdistributor }},
		tenancyCase{method: "MarkFeedbackMailed", call: func(st *store.Store, ctx context.Context, b *branch) error {
			if err := st.PutCustomerService(sys, b.installer.SubdistributorID, &model.CustomerService{ReceiveFeedback: true, FeedbackEmail: "fb@example.com"}); err != nil {
				return fmt.Errorf("setup: %w", err)
			}
			f := &model.Feedback{Subject: "Hello", Message: "World"}
			if _, err := st.CreateFeedback(as(b.installer), f); err != nil {
				return fmt.Errorf("setup: %w", err)
			}
			return st.MarkFeedbackMailed(ctx, f.ID)
		}},
	)
	coveredElsewhere["CreateFeedback"] = "TestFeedback"
	coveredElsewhere["ListFeedback"] = "TestFeedbackListScoping"
}

func TestCustomerService(t *testing.T) {
	eachBackend(t, func(t *testing.T, st *store.Store) {
		tr := mustTree(t, st)
		// Never saved: the defaults.
		cs, err := st.GetCustomerService(as(tr.subA1), tr.subA1.ID)
		if err != nil || cs.HasContacts() || cs.ReceiveFeedback || cs.Language != "en" || cs.Updated != nil || cs.Subdistributor != "sub-a1" {
			t.Fatalf("defaults: %+v %v", cs, err)
		}
		in := &model.CustomerService{Email: " support@sub-a1.example ", Phone: "+49 30 1234-56", Other: "WhatsApp +49 170 000\r\nMon–Fri 9–17",
			ReceiveFeedback: true, FeedbackEmail: "feedback@sub-a1.example", Language: "de"}
		if err := st.PutCustomerService(as(tr.subA1), tr.subA1.ID, in); err != nil {
			t.Fatal(err)
		}
		got, err := st.GetCustomerService(as(tr.subA1), tr.subA1.ID)
		if err != nil || got.Email != "support@sub-a1.example" || got.Phone != "+49 30 1234-56" || got.Other != "WhatsApp +49 170 000\nMon–Fri 9–17" ||
			!got.ReceiveFeedback || got.FeedbackEmail != "feedback@sub-a1.example" || got.Language != "de" || got.Updated == nil {
			t.Fatalf("saved: %+v %v", got, err)
		}
		// Its installer reads the contacts, not the feedback address.
		seen, err := st.GetCustomerService(as(tr.a1.installer), tr.subA1.ID)
		if err != nil || seen.Email != got.Email || seen.Phone != got.Phone || seen.Other != got.Other || !seen.ReceiveFeedback || seen.FeedbackEmail != "" {
			t.Errorf("installer's view: %+v %v", seen, err)
		}
		// Saving again replaces the row (one row per sub-distributor).
		if err := st.PutCustomerService(as(tr.subA1), tr.subA1.ID, &model.CustomerService{Phone: "110"}); err != nil {
			t.Fatal(err)
		}
		if got, _ := st.GetCustomerService(as(tr.subA1), tr.subA1.ID); got.Email != "" || got.Phone != "110" || got.ReceiveFeedback {
			t.Errorf("second save: %+v", got)
		}

		// Bad input names its fields and changes nothing.
		for _, c := range []struct {
			cs    model.CustomerService
			field string
		}{
			{model.CustomerService{ReceiveFeedback: true}, "feedback_email"},
			{model.CustomerService{ReceiveFeedback: true, FeedbackEmail: "not-an-email"}, "feedback_email"},
			{model.CustomerService{FeedbackEmail: "Sub <fb@example.com>"}, "feedback_email"},
			{model.CustomerService{Email: "a@b@c"}, "email"},
			{model.CustomerService{Phone: "call me"}, "phone"},
			{model.CustomerService{Other: strings.Repeat("x", model.MaxContactOther+1)}, "other"},
			{model.CustomerService{Other: "bell\a"}, "other"},
			{model.CustomerService{Language: "xx"}, "language"},
		} {
			err := st.PutCustomerService(as(tr.subA1), tr.subA1.ID, &c.cs)
			if model.ErrorCode(err) != model.EINVALID || model.ErrorFields(err)[c.field] == "" {
				t.Errorf("%+v: %v, want field %s", c.cs, err, c.field)
			}
		}
		if got, _ := st.GetCustomerService(as(tr.subA1), tr.subA1.ID); got.Phone != "110" {
			t.Errorf("a refused save changed the settings: %+v", got)
		}
		// Not an installer's or a distributor's to write; the admin (the demo loader) may.
		if err := st.PutCustomerService(as(tr.distA), tr.subA1.ID, &model.CustomerService{}); model.ErrorCode(err) != model.EFORBIDDEN {
			t.Errorf("distributor writes: %v", err)
		}
		if err := st.PutCustomerService(sys, tr.subA1.ID, &model.CustomerService{Email: "sys@example.com"}); err != nil {
			t.Errorf("system writes: %v", err)
		}
		// An id that is not a sub-distributor is not found, even for the admin.
		if _, err := st.GetCustomerService(as(tr.admin), tr.a1.installer.ID); model.ErrorCode(err) != model.ENOTFOUND {
			t.Errorf("settings of an installer id: %v", err)
		}
		if err := st.PutCustomerService(sys, tr.distA.ID, &model.CustomerService{}); model.ErrorCode(err) != model.ENOTFOUND {
			t.Errorf("settings for a distributor id: %v", err)
		}
		// Every save is in the sub-distributor's audit log.
		l, err := st.ListAudit(as(tr.subA1), model.AuditFilter{Action: "settings.customer_service", Page: model.Page{Page: 1, PerPage: 50}})
		if err != nil || l.Total != 2 {
			t.Errorf("audit: %d entries by the sub-distributor, want 2 (%v)", l.Total, err)
		}
	})
}

func TestFeedback(t *testing.T) {
	eachBackend(t, func(t *testing.T, st *store.Store) {
		tr := mustTree(t, st)
		inst := as(tr.a1.installer)
		count := func() int {
			l, err := st.ListFeedback(as(tr.subA1), model.FeedbackFilter{Page: model.Page{Page: 1, PerPage: 50}})
			if err != nil {
				t.Fatal(err)
			}
			return l.Total
		}
		// Receive Feedback off (the default): refused, nothing stored.
		_, err := st.CreateFeedback(inst, &model.Feedback{Subject: "Hi", Message: "There"})
		if model.ErrorCode(err) != model.ECONFLICT || !strings.Contains(model.ErrorMessage(err), "not receiving feedback") {
			t.Errorf("feedback while off: %v", err)
		}
		if n := count(); n != 0 {
			t.Fatalf("refused feedback stored: %d rows", n)
		}
		if err := st.PutCustomerService(as(tr.subA1), tr.subA1.ID, &model.CustomerService{ReceiveFeedback: true, FeedbackEmail: "fb@sub-a1.example", Language: "fr"}); err != nil {
			t.Fatal(err)
		}
		// An empty contact email is the installer's own.
		f := &model.Feedback{Subject: "  Door  R29\toffline ", Message: "It stopped\r\nat noon."}
		cs, err := st.CreateFeedback(inst, f)
		if err != nil {
			t.Fatal(err)
		}
		if cs.FeedbackEmail != "fb@sub-a1.example" || cs.Language != "fr" || !cs.ReceiveFeedback {
			t.Errorf("settings for delivery: %+v", cs)
		}
		if f.ID == 0 || f.SubdistributorID != tr.subA1.ID || f.InstallerID != tr.a1.installer.ID || f.Installer != "inst-a1" ||
			f.ContactEmail != "inst-a1@example.com" || f.Subject != "Door R29 offline" || f.Message != "It stopped\nat noon." || f.Mailed {
			t.Errorf("stored feedback: %+v", f)
		}
		// Bad input names its field.
		for _, c := range []struct {
			f     model.Feedback
			field string
		}{
			{model.Feedback{Message: "m"}, "subject"},
			{model.Feedback{Subject: "s"}, "message"},
			{model.Feedback{Subject: strings.Repeat("s", model.MaxFeedbackSubject+1), Message: "m"}, "subject"},
			{model.Feedback{Subject: "s", Message: strings.Repeat("m", model.MaxFeedbackMessage+1)}, "message"},
			{model.Feedback{Subject: "s", Message: "m\x00"}, "message"},
			{model.Feedback{Subject: "s", Message: "m", ContactEmail: "nobody"}, "contact_email"},
		} {
			_, err := st.CreateFeedback(inst, &c.f)
			if model.ErrorFields(err)[c.field] == "" {
				t.Errorf("%+v: %v, want field %s", c.f, err, c.field)
			}
		}
		if n := count(); n != 1 {
			t.Errorf("%d rows after refused feedback, want 1", n)
		}
		// Only installers send feedback.
		for _, a := range []*model.Account{tr.subA1, tr.distA, tr.admin} {
			if _, err := st.CreateFeedback(as(a), &model.Feedback{Subject: "s", Message: "m", ContactEmail: "a@example.com"}); model.ErrorCode(err) != model.EFORBIDDEN {
				t.Errorf("feedback by %s: %v", a.Username, err)
			}
		}
		// An installer directly under a distributor has no contacts and nobody to write to.
		direct := mustAccount(t, st, model.RoleInstaller, "inst-direct", tr.distA)
		if _, err := st.GetCustomerService(as(direct), 0); model.ErrorCode(err) != model.ENOTFOUND {
			t.Errorf("contacts of a distributor's installer: %v", err)
		}
		if _, err := st.GetCustomerService(as(direct), tr.subA1.ID); model.ErrorCode(err) != model.ENOTFOUND {
			t.Errorf("a distributor's installer reads a sub-distributor's contacts: %v", err)
		}
		if _, err := st.CreateFeedback(as(direct), &model.Feedback{Subject: "s", Message: "m"}); model.ErrorCode(err) != model.ECONFLICT {
			t.Errorf("feedback by a distributor's installer: %v", err)
		}
		// Mailed is recorded.
		if err := st.MarkFeedbackMailed(inst, f.ID); err != nil {
			t.Fatal(err)
		}
		l, _ := st.ListFeedback(as(tr.subA1), model.FeedbackFilter{Page: model.Page{Page: 1, PerPage: 50}})
		if len(l.Items) != 1 || !l.Items[0].Mailed || l.Items[0].InstallerName != "inst-a1" {
			t.Errorf("after mailing: %+v", l.Items)
		}
		if err := st.MarkFeedbackMailed(inst, 99999); model.ErrorCode(err) != model.ENOTFOUND {
			t.Errorf("mark a missing feedback: %v", err)
		}
		// The sub-distributor sees the creation in its audit log.
		al, _ := st.ListAudit(as(tr.subA1), model.AuditFilter{Action: "feedback.create", Page: model.Page{Page: 1, PerPage: 50}})
		if al.Total != 1 {
			t.Errorf("feedback.create audit entries seen by the sub-distributor: %d", al.Total)
		}
	})
}

func TestFeedbackListScoping(t *testing.T) {
	eachBackend(t, func(t *testing.T, st *store.Store) {
		tr := mustTree(t, st)
		for _, sub := range []*model.Account{tr.subA1, tr.subA2, tr.subB} {
			if err := st.PutCustomerService(sys, sub.ID, &model.CustomerService{ReceiveFeedback: true, FeedbackEmail: "fb@example.com"}); err != nil {
				t.Fatal(err)
			}
		}
		send := func(b *branch, subject string) {
			t.Helper()
			if _, err := st.CreateFeedback(as(b.installer), &model.Feedback{Subject: subject, Message: "text"}); err != nil {
				t.Fatal(err)
			}
		}
		send(tr.a1, "A1 first")
		send(tr.a1, "A1 100% broken")
		send(tr.a1, "A1 third")
		send(tr.b, "B only")
		page := model.Page{Page: 1, PerPage: 50}
		for _, c := range []struct {
			who  *model.Account
			want []string
		}{
			{tr.admin, []string{"B only", "A1 third", "A1 100% broken", "A1 first"}},
			{tr.distA, []string{"A1 third", "A1 100% broken", "A1 first"}},
			{tr.subA1, []string{"A1 third", "A1 100% broken", "A1 first"}},
			{tr.subA2, nil},
			{tr.distB, []string{"B only"}},
			{tr.subB, []string{"B only"}},
			{tr.a1.installer, []string{"A1 third", "A1 100% broken", "A1 first"}},
			{tr.a2.installer, nil},
			{tr.b.installer, []string{"B only"}},
		} {
			l, err := st.ListFeedback(as(c.who), model.FeedbackFilter{Page: page})
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, f := range l.Items {
				got = append(got, f.Subject)
			}
			if strings.Join(got, "|") != strings.Join(c.want, "|") || l.Total != len(c.want) {
				t.Errorf("ListFeedback by %s: %q (total %d), want %q", c.who.Username, got, l.Total, c.want)
			}
		}
		// Search and pages.
		sub := as(tr.subA1)
		if l, _ := st.ListFeedback(sub, model.FeedbackFilter{Subject: "%", Page: page}); l.Total != 1 || l.Items[0].Subject != "A1 100% broken" {
			t.Errorf("subject %%: %+v", l.Items)
		}
		if l, _ := st.ListFeedback(sub, model.FeedbackFilter{Installer: "INST-A", Page: page}); l.Total != 3 {
			t.Errorf("installer INST-A: %d", l.Total)
		}
		if l, _ := st.ListFeedback(sub, model.FeedbackFilter{Installer: "inst-b", Page: page}); l.Total != 0 {
			t.Errorf("another sub-distributor's installer is searchable: %d", l.Total)
		}
		l, _ := st.ListFeedback(sub, model.FeedbackFilter{Page: model.Page{Page: 2, PerPage: 2}})
		if l.Total != 3 || len(l.Items) != 1 || l.Items[0].Subject != "A1 first" {
			t.Errorf("page 2: %+v", l)
		}
	})
}
