package usecase

import (
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/model"
)

// The mail server refuses the feedback mail: the feedback is kept, marked
// not mailed, the installer succeeds and only the log has the reply.
func TestFeedbackIsKeptWhenTheMailFails(t *testing.T) {
	forEachBackend(t, func(t *testing.T, backend string) {
		tc := newTestCases(t, backend)
		_, sub := peopleTree(t, tc.store)
		inst := peopleAccount(t, tc.store, model.RoleInstaller, "fitter", sub)
		if err := tc.SaveCustomerService(peopleAs(sub), &model.CustomerService{Email: "help@sub.example", ReceiveFeedback: true,
			FeedbackEmail: "feedback@sub.example", Language: "en"}); err != nil {
			t.Fatalf("settings: %v", err)
		}
		cs, err := tc.CallerCustomerService(peopleAs(inst))
		if err != nil || cs.Email != "help@sub.example" || cs.SubdistributorID != sub.ID || cs.FeedbackEmail != "" {
			t.Fatalf("the installer sees %+v, %v", cs, err)
		}

		f := &model.Feedback{Subject: "Door", Message: "It works.", ContactEmail: "me@fitter.example"}
		if err := tc.SubmitFeedback(peopleAs(inst), f); err != nil || !f.Mailed {
			t.Fatalf("delivered feedback: %v mailed=%v", err, f.Mailed)
		}
		if m := tc.smtp.Wait(t, 1, 10*time.Second)[0]; m.To[0] != "feedback@sub.example" || !strings.Contains(m.Text, "It works.") {
			t.Errorf("mail: %+v", m)
		}

		tc.smtp.Reject(true)
		f = &model.Feedback{Subject: "Second", Message: "Kept?", ContactEmail: "me@fitter.example"}
		if err := tc.SubmitFeedback(peopleAs(inst), f); err != nil || f.Mailed || f.ID == 0 {
			t.Fatalf("refused feedback: %v mailed=%v id=%d", err, f.Mailed, f.ID)
		}
		l, err := tc.store.ListFeedback(peopleAs(sub), model.FeedbackFilter{Page: model.Page{Page: 1, PerPage: 10}})
		if err != nil || l.Total != 2 {
			t.Fatalf("stored: %d %v", l.Total, err)
		}
		if !strings.Contains(tc.log.String(), "feedback stored but not mailed") || !strings.Contains(tc.log.String(), peopleSMTPReject) {
			t.Errorf("log: %s", tc.log.String())
		}

		// Receive Feedback off: refused, nothing stored.
		if err := tc.SaveCustomerService(peopleAs(sub), &model.CustomerService{Email: "help@sub.example", Language: "en"}); err != nil {
			t.Fatal(err)
		}
		if err := tc.SubmitFeedback(peopleAs(inst), &model.Feedback{Subject: "Third", Message: "Anyone?"}); model.ErrorCode(err) != model.ECONFLICT {
			t.Errorf("feedback while off: %v", err)
		}
	})
}

func TestCustomerServiceBelongsToSubdistributors(t *testing.T) {
	forEachBackend(t, func(t *testing.T, backend string) {
		tc := newTestCases(t, backend)
		dist, _ := peopleTree(t, tc.store)
		if _, err := tc.CallerCustomerService(peopleAs(dist)); model.ErrorCode(err) != model.EFORBIDDEN {
			t.Errorf("distributor: %v", err)
		}
		// An installer directly under the distributor has nobody's settings.
		direct := peopleAccount(t, tc.store, model.RoleInstaller, "direct", dist)
		if cs, err := tc.CallerCustomerService(peopleAs(direct)); err != nil || cs.SubdistributorID != 0 || cs.Language == "" {
			t.Errorf("direct installer: %+v %v", cs, err)
		}
	})
}
