package server_test

import (
	"encoding/csv"
	"html"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/auth"
	"github.com/gatehouse-dev/gatehouse/internal/model"
)

// feedbackTotal is the sub-distributor's feedback count through the API.
func feedbackTotal(t *testing.T, e *env, tok string) int {
	t.Helper()
	r := e.do(nil, "GET", "/api/v1/feedback", nil, bearer(tok))
	if r.StatusCode != 200 {
		t.Fatalf("list feedback: %d %s", r.StatusCode, r.body)
	}
	return int(r.json(t)["total"].(float64))
}

// withoutSettings empties the Setting module of every sub-distributor: the
// demo fills it, and these tests start from nothing saved.
func withoutSettings(t *testing.T, e *env) *env {
	t.Helper()
	for _, q := range []string{"DELETE FROM feedback", "DELETE FROM customer_service", "DELETE FROM audit_log WHERE object_type = 'feedback'"} {
		if _, err := e.st.DB().Exec(q); err != nil {
			t.Fatal(err)
		}
	}
	return e
}

func TestCustomerServiceAndFeedbackAPI(t *testing.T) {
	eachBackend(t, func(t *testing.T, e *env) {
		withoutSettings(t, e)
		sub, inst := e.token("demo-subdistributor"), e.token("demo-installer")
		path := "/api/v1/settings/customer-service"

		// Nothing saved yet: empty contacts, feedback off.
		r := e.do(nil, "GET", path, nil, bearer(sub))
		if r.StatusCode != 200 || r.json(t)["receive_feedback"] != false || r.json(t)["email"] != "" || r.json(t)["language"] != "en" {
			t.Fatalf("defaults: %d %s", r.StatusCode, r.body)
		}
		// Bad input: the field is named, nothing is saved.
		r = e.do(nil, "PUT", path, map[string]any{"email": "support@sub.example", "receive_feedback": true}, bearer(sub))
		if r.StatusCode != 400 || r.errorField(t, "feedback_email") == "" {
			t.Errorf("Receive Feedback without an address: %d %s", r.StatusCode, r.body)
		}
		r = e.do(nil, "PUT", path, map[string]any{"phone": "call me", "language": "xx", "colour": "red"}, bearer(sub))
		if r.StatusCode != 400 || r.errorField(t, "colour") == "" {
			t.Errorf("unknown field: %d %s", r.StatusCode, r.body)
		}
		r = e.do(nil, "PUT", path, map[string]any{"phone": "call me", "language": "xx"}, bearer(sub))
		if r.StatusCode != 400 || r.errorField(t, "phone") == "" || r.errorField(t, "language") == "" {
			t.Errorf("bad phone and language: %d %s", r.StatusCode, r.body)
		}
		if r := e.do(nil, "GET", path, nil, bearer(sub)); r.json(t)["email"] != "" {
			t.Fatalf("a refused PUT saved something: %s", r.body)
		}
		// Saved.
		want := map[string]any{"email": "support@sub.example", "phone": "+49 30 1234567", "other": "WhatsApp +49 170 1234567\nMon-Fri 8-18",
			"receive_feedback": true, "feedback_email": "feedback@sub.example", "language": "de"}
		r = e.do(nil, "PUT", path, want, bearer(sub))
		if r.StatusCode != 200 {
			t.Fatalf("PUT: %d %s", r.StatusCode, r.body)
		}
		got := e.do(nil, "GET", path, nil, bearer(sub)).json(t)
		for k, v := range want {
			if got[k] != v {
				t.Errorf("saved %s = %v, want %v", k, got[k], v)
			}
		}
		// The installer sees its sub-distributor's contacts, not the feedback address.
		got = e.do(nil, "GET", path, nil, bearer(inst)).json(t)
		if got["email"] != want["email"] || got["phone"] != want["phone"] || got["other"] != want["other"] || got["receive_feedback"] != true ||
			got["feedback_email"] != "" || got["subdistributor"] == "" {
			t.Errorf("installer's view: %v", got)
		}
		// Roles.
		if r := e.do(nil, "GET", path, nil, bearer(e.token("demo-distributor"))); r.StatusCode != 403 {
			t.Errorf("distributor reads settings: %d", r.StatusCode)
		}
		if r := e.do(nil, "PUT", path, want, bearer(inst)); r.StatusCode != 403 {
			t.Errorf("installer writes settings: %d", r.StatusCode)
		}
		if r := e.do(nil, "POST", "/api/v1/feedback", map[string]string{"subject": "s", "message": "m"}, bearer(sub)); r.StatusCode != 403 {
			t.Errorf("sub-distributor sends feedback: %d", r.StatusCode)
		}
		if r := e.do(nil, "GET", "/api/v1/feedback", nil, bearer(inst)); r.StatusCode != 403 {
			t.Errorf("installer lists feedback: %d", r.StatusCode)
		}

		// Feedback: stored and mailed, in the sub-distributor's language, with
		// Reply-To the installer's account email when none is given.
		r = e.do(nil, "POST", "/api/v1/feedback", map[string]string{"subject": "Türsprechanlage R29 offline", "message": "Since Monday.\nPlease call back."}, bearer(inst))
		if r.StatusCode != 201 {
			t.Fatalf("feedback: %d %s", r.StatusCode, r.body)
		}
		fb := r.json(t)
		if fb["mailed"] != true || fb["contact_email"] != "team@installer1101.example" || fb["installer"] != "demo-installer" {
			t.Errorf("created feedback: %s", r.body)
		}
		m := e.smtpd.Wait(t, 1, 10*time.Second)[0]
		if len(m.To) != 1 || m.To[0] != "feedback@sub.example" || m.ReplyTo != "team@installer1101.example" {
			t.Errorf("mail to %q, reply-to %q", m.To, m.ReplyTo)
		}
		if m.Subject != "Feedback von Installateur demo-installer: Türsprechanlage R29 offline" {
			t.Errorf("mail subject %q", m.Subject)
		}
		if !strings.Contains(m.Text, "Since Monday.\nPlease call back.") || !strings.Contains(m.Text, "/settings#feedback\n") {
			t.Errorf("mail text: %q", m.Text)
		}
		// The sub-distributor lists it; CSV exports it.
		r = e.do(nil, "GET", "/api/v1/feedback?installer=DEMO-inst&subject=r29", nil, bearer(sub))
		items, _ := r.json(t)["items"].([]any)
		if r.StatusCode != 200 || len(items) != 1 || items[0].(map[string]any)["mailed"] != true {
			t.Fatalf("list: %d %s", r.StatusCode, r.body)
		}
		r = e.do(nil, "GET", "/api/v1/feedback?format=csv", nil, bearer(sub))
		rows, err := csv.NewReader(strings.NewReader(string(r.body))).ReadAll()
		if err != nil || len(rows) != 2 || rows[0][4] != "subject" || rows[1][4] != "Türsprechanlage R29 offline" || rows[1][7] != "true" {
			t.Errorf("csv: %v %q", err, rows)
		}
		if r := e.do(nil, "GET", "/api/v1/feedback?per_page=501", nil, bearer(sub)); r.StatusCode != 400 || r.errorField(t, "per_page") == "" {
			t.Errorf("per_page=501: %d", r.StatusCode)
		}
		// Another sub-distributor sees none of it.
		if n := feedbackTotal(t, e, e.token("subdistributor-1-2")); n != 0 {
			t.Errorf("another sub-distributor lists %d feedback", n)
		}
		// Bad feedback names its field; nothing is stored or mailed.
		r = e.do(nil, "POST", "/api/v1/feedback", map[string]string{"subject": "", "message": "x", "contact_email": "nope"}, bearer(inst))
		if r.StatusCode != 400 || r.errorField(t, "subject") == "" || r.errorField(t, "contact_email") == "" {
			t.Errorf("bad feedback: %d %s", r.StatusCode, r.body)
		}

		// The mail fails: the feedback is kept, marked not mailed, the
		// installer still succeeds and the log says why.
		e.smtpd.Reject(true)
		r = e.do(nil, "POST", "/api/v1/feedback", map[string]string{"subject": "Second", "message": "Kept?", "contact_email": "me@fitter.example"}, bearer(inst))
		e.smtpd.Reject(false)
		if r.StatusCode != 201 || r.json(t)["mailed"] != false {
			t.Fatalf("feedback while the mail server refuses: %d %s", r.StatusCode, r.body)
		}
		if n := feedbackTotal(t, e, sub); n != 2 {
			t.Errorf("%d feedback stored, want 2", n)
		}
		l, _ := e.st.ListFeedback(sysCtx(), model.FeedbackFilter{Subject: "Second", Page: model.Page{Page: 1, PerPage: 5}})
		if len(l.Items) != 1 || l.Items[0].Mailed || l.Items[0].ContactEmail != "me@fitter.example" {
			t.Errorf("the unmailed row: %+v", l.Items)
		}
		if !strings.Contains(e.log.String(), "feedback stored but not mailed") {
			t.Errorf("the failed delivery is not logged:\n%s", e.log.String())
		}

		// Receive Feedback off: 409 with a clear message, nothing stored or mailed.
		if r := e.do(nil, "PUT", path, map[string]any{"email": "support@sub.example"}, bearer(sub)); r.StatusCode != 200 {
			t.Fatalf("switch off: %d %s", r.StatusCode, r.body)
		}
		if got := e.do(nil, "GET", path, nil, bearer(inst)).json(t); got["receive_feedback"] != false {
			t.Errorf("installer sees receive_feedback %v", got["receive_feedback"])
		}
		r = e.do(nil, "POST", "/api/v1/feedback", map[string]string{"subject": "Third", "message": "Anyone?"}, bearer(inst))
		if r.StatusCode != 409 || r.errorCode(t) != "conflict" || !strings.Contains(string(r.body), "not receiving feedback") {
			t.Errorf("feedback while off: %d %s", r.StatusCode, r.body)
		}
		if n := feedbackTotal(t, e, sub); n != 2 {
			t.Errorf("%d feedback stored after a refusal, want 2", n)
		}
		if n := len(e.smtpd.Messages()); n != 1 {
			t.Errorf("%d mails arrived, want 1", n)
		}
		// Every change is audited.
		al, _ := e.st.ListAudit(sysCtx(), model.AuditFilter{ObjectType: "feedback", Page: model.Page{Page: 1, PerPage: 50}})
		if al.Total != 3 { // two created, one mailed
			t.Errorf("feedback audit entries: %d, want 3", al.Total)
		}
	})
}

// TestInstallerWithoutSubdistributor: an installer created directly under
// a distributor has no contacts and nobody to send feedback to.
func TestInstallerWithoutSubdistributor(t *testing.T) {
	e := newEnv(t, "sqlite")
	dist, _, err := e.st.AccountForLogin(sysCtx(), "demo-distributor")
	if err != nil {
		t.Fatal(err)
	}
	hash, _ := auth.HashPassword(demoPassword)
	if err := e.st.CreateAccount(sysCtx(), &model.Account{Role: model.RoleInstaller, Username: "direct-fitter", ParentID: dist.ID, Email: "d@example.com"}, hash); err != nil {
		t.Fatal(err)
	}
	tok := e.token("direct-fitter")
	r := e.do(nil, "GET", "/api/v1/settings/customer-service", nil, bearer(tok))
	if r.StatusCode != 200 || r.json(t)["subdistributor_id"] != float64(0) || r.json(t)["receive_feedback"] != false {
		t.Errorf("contacts: %d %s", r.StatusCode, r.body)
	}
	r = e.do(nil, "POST", "/api/v1/feedback", map[string]string{"subject": "s", "message": "m"}, bearer(tok))
	if r.StatusCode != 409 {
		t.Errorf("feedback: %d %s", r.StatusCode, r.body)
	}
	b := e.browserLogin("direct-fitter")
	page := e.do(b.c, "GET", "/installer/support", nil)
	if page.StatusCode != 200 || !strings.Contains(string(page.body), "directly under your distributor") {
		t.Errorf("support page: %d %s", page.StatusCode, page.body)
	}
}

func TestSettingsPortal(t *testing.T) {
	e := withoutSettings(t, newEnv(t, "sqlite"))
	sb := e.browserLogin("demo-subdistributor")
	if r := e.do(sb.c, "GET", "/settings", nil); r.StatusCode != 200 || !strings.Contains(string(r.body), `id="customer-service-form"`) ||
		!strings.Contains(string(r.body), "Receive Feedback is off") {
		t.Fatalf("settings page: %d", r.StatusCode)
	}
	// Invalid: 400, the field's message, the values kept, nothing saved.
	bad := url.Values{"csrf_token": {sb.csrf}, "email": {"support@sub.example"}, "phone": {"+1 555 0100"}, "other": {"Chat: sub.example/chat"},
		"receive_feedback": {"on"}, "feedback_email": {""}, "language": {"fr"}}
	r := e.form(sb.c, "/settings", bad)
	body := html.UnescapeString(string(r.body))
	if r.StatusCode != 400 || !strings.Contains(body, "is required when Receive Feedback is on") || !strings.Contains(body, `value="support@sub.example"`) ||
		!strings.Contains(body, "Chat: sub.example/chat</textarea>") || !strings.Contains(body, `value="fr" selected`) {
		t.Errorf("invalid form: %d\n%s", r.StatusCode, body)
	}
	if cs, _ := e.st.GetCustomerService(sysCtx(), installerSub(t, e)); cs.Email != "" {
		t.Errorf("an invalid form saved: %+v", cs)
	}
	// Without the CSRF token: refused.
	good := url.Values{"email": {"support@sub.example"}, "phone": {"+1 555 0100"}, "other": {"Chat: sub.example/chat"},
		"receive_feedback": {"on"}, "feedback_email": {"fb@sub.example"}, "language": {"en"}}
	if r := e.form(sb.c, "/settings", good); r.StatusCode != 403 {
		t.Errorf("settings without CSRF: %d", r.StatusCode)
	}
	good.Set("csrf_token", sb.csrf)
	if r := e.form(sb.c, "/settings", good); r.StatusCode != 303 || !strings.HasPrefix(r.Header.Get("Location"), "/settings?notice=") {
		t.Fatalf("save: %d %s", r.StatusCode, r.Header.Get("Location"))
	}

	// The installer's Support page shows the contacts and the form.
	ib := e.browserLogin("demo-installer")
	page := e.do(ib.c, "GET", "/installer/support", nil)
	pb := html.UnescapeString(string(page.body))
	if page.StatusCode != 200 || !strings.Contains(pb, "support@sub.example") || !strings.Contains(pb, "+1 555 0100") ||
		!strings.Contains(pb, `id="feedback-form"`) || strings.Contains(pb, "fb@sub.example") {
		t.Fatalf("support page: %d\n%s", page.StatusCode, pb)
	}
	if r := e.do(sb.c, "GET", "/installer/support", nil); r.StatusCode != 403 {
		t.Errorf("sub-distributor on the installer's page: %d", r.StatusCode)
	}
	// Invalid feedback: 400 with the field and the text kept.
	r = e.form(ib.c, "/installer/support", url.Values{"csrf_token": {ib.csrf}, "subject": {""}, "message": {"Keep this text"}, "contact_email": {"me@fitter.example"}})
	if r.StatusCode != 400 || !strings.Contains(string(r.body), "Keep this text</textarea>") || !strings.Contains(string(r.body), `class="field-error"`) {
		t.Errorf("invalid feedback: %d", r.StatusCode)
	}
	r = e.form(ib.c, "/installer/support", url.Values{"csrf_token": {ib.csrf}, "subject": {"Portal feedback"}, "message": {"Sent from the page"}, "contact_email": {"me@fitter.example"}})
	if r.StatusCode != 303 || !strings.Contains(r.Header.Get("Location"), "notice=") {
		t.Fatalf("send feedback: %d %s", r.StatusCode, r.body)
	}
	m := e.smtpd.Wait(t, 1, 10*time.Second)[0]
	if m.To[0] != "fb@sub.example" || m.ReplyTo != "me@fitter.example" || !strings.Contains(m.Text, "Sent from the page") {
		t.Errorf("mail: %+v", m)
	}
	// The sub-distributor reads it in the Setting module.
	list := html.UnescapeString(string(e.do(sb.c, "GET", "/settings?subject=portal", nil).body))
	if !strings.Contains(list, "Portal feedback") || !strings.Contains(list, "Sent from the page") || !strings.Contains(list, "me@fitter.example") {
		t.Errorf("feedback list does not show it:\n%s", list)
	}
	if list := string(e.do(sb.c, "GET", "/settings?subject=nothing-like-this", nil).body); strings.Contains(list, "Portal feedback") {
		t.Error("the subject search does not filter")
	}

	// Switched off: the page says so, and a POST is refused with 409.
	good.Del("receive_feedback")
	if r := e.form(sb.c, "/settings", good); r.StatusCode != 303 {
		t.Fatalf("switch off: %d", r.StatusCode)
	}
	pb = html.UnescapeString(string(e.do(ib.c, "GET", "/installer/support", nil).body))
	if !strings.Contains(pb, `id="feedback-off"`) || !strings.Contains(pb, "is not receiving feedback") || strings.Contains(pb, `id="feedback-form"`) {
		t.Errorf("support page while off:\n%s", pb)
	}
	r = e.form(ib.c, "/installer/support", url.Values{"csrf_token": {ib.csrf}, "subject": {"Late"}, "message": {"Too late"}})
	if r.StatusCode != 409 || !strings.Contains(string(r.body), "not receiving feedback") {
		t.Errorf("feedback while off: %d", r.StatusCode)
	}
	if n := len(e.smtpd.Messages()); n != 1 {
		t.Errorf("%d mails, want 1", n)
	}
	l, _ := e.st.ListFeedback(sysCtx(), model.FeedbackFilter{Page: model.Page{Page: 1, PerPage: 50}})
	if l.Total != 1 {
		t.Errorf("%d feedback rows, want 1", l.Total)
	}
}

// installerSub is demo-installer's sub-distributor id.
func installerSub(t *testing.T, e *env) int64 {
	t.Helper()
	a, _, err := e.st.AccountForLogin(sysCtx(), "demo-installer")
	if err != nil {
		t.Fatal(err)
	}
	return a.SubdistributorID
}
