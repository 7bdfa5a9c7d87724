package server_test

import (
	"fmt"
	"net/url"
	"strings"
	"testing"
)

// TestInstallerMailFailureHidesTheServersReply: while the mail server
// refuses every message, creating an installer and resetting its password
// say the mail was not sent — in the API's JSON and on the portal's pages —
// without the mail server's reply, which goes to the log. The installer is
// created all the same.
func TestInstallerMailFailureHidesTheServersReply(t *testing.T) {
	const reply = "mailtest rejects this message"
	e := newEnv(t, "sqlite")
	e.smtpd.Reject(true)
	sub := e.token("demo-subdistributor")
	noReply := func(what, text string) {
		t.Helper()
		if strings.Contains(text, reply) || strings.Contains(text, "554") {
			t.Errorf("%s shows the mail server's reply: %s", what, text)
		}
	}

	// API: create answers 201 with welcome_mail failed and what to do.
	r := e.do(nil, "POST", "/api/v1/installers", map[string]any{"account": "mailless-api", "email": "mailless-api@example.com"}, bearer(sub))
	if r.StatusCode != 201 {
		t.Fatalf("create: %d %s", r.StatusCode, r.body)
	}
	out := r.json(t)
	if wm, _ := out["welcome_mail"].(string); !strings.HasPrefix(wm, "failed: ") || !strings.Contains(wm, "Reset password") {
		t.Errorf("welcome_mail = %q", out["welcome_mail"])
	}
	noReply("the API's create", string(r.body))
	id := int64(out["id"].(float64))
	// API: reset is a 500 that says the mail could not be sent.
	r = e.do(nil, "POST", fmt.Sprintf("/api/v1/installers/%d/password-reset", id), nil, bearer(sub))
	if r.StatusCode != 500 || !strings.Contains(string(r.body), "could not be sent") {
		t.Errorf("reset: %d %s", r.StatusCode, r.body)
	}
	noReply("the API's reset", string(r.body))

	// Portal: the installer is created; the notice and the page say the
	// mail failed, not why.
	b := e.browserLogin("demo-subdistributor")
	r = e.form(b.c, "/users/installers", url.Values{"csrf_token": {b.csrf}, "account": {"mailless-web"}, "email": {"mailless-web@example.com"},
		"time_zone": {"UTC"}, "business": {"intercom"}, "language": {"en"}, "charge_mode": {"installer"}, "connect_type": {"udp"}})
	if r.StatusCode != 303 || !strings.Contains(r.Header.Get("Location"), "could+not+be+sent") {
		t.Fatalf("portal create: %d %s", r.StatusCode, r.Header.Get("Location"))
	}
	loc := r.Header.Get("Location")
	noReply("the portal's create notice", loc)
	page := e.do(b.c, "GET", loc, nil)
	if page.StatusCode != 200 || !strings.Contains(string(page.body), "mailless-web") {
		t.Fatalf("installer page: %d", page.StatusCode)
	}
	noReply("the portal's installer page", string(page.body))
	webID := installerID(t, e, "mailless-web")
	r = e.form(b.c, fmt.Sprintf("/users/installers/%d/password-reset", webID), url.Values{"csrf_token": {b.csrf}})
	if r.StatusCode != 303 || !strings.Contains(r.Header.Get("Location"), "could+not+be+sent") {
		t.Fatalf("portal reset: %d %s", r.StatusCode, r.Header.Get("Location"))
	}
	noReply("the portal's reset notice", r.Header.Get("Location"))
	noReply("the portal's page after the reset", string(e.do(b.c, "GET", r.Header.Get("Location"), nil).body))

	if n := strings.Count(e.log.String(), reply); n < 4 {
		t.Errorf("the reply is logged %d times, want once for each of the 4 failed mails:\n%s", n, e.log.String())
	}
}
