package server_test

import (
	"net/http/cookiejar"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/usecase"
)

// "Forgot password?" end to end with a real SMTP server: the link comes by
// mail in the account's language, sets the password once, and the old
// password stops working; an unknown name gets the same answer and no
// mail; past the address's limit, 429 with Retry-After and nothing mailed.
func TestPasswordRecovery(t *testing.T) {
	eachBackend(t, func(t *testing.T, e *env) {
		var email string
		if err := e.st.DB().QueryRow(`SELECT email FROM accounts WHERE username = 'demo-installer'`).Scan(&email); err != nil || email == "" {
			t.Fatalf("demo-installer's e-mail: %q %v", email, err)
		}
		// The language of the mail is the account's.
		if _, err := e.st.DB().Exec(`UPDATE accounts SET language = 'fr' WHERE username = 'demo-installer'`); err != nil {
			t.Fatal(err)
		}
		before := len(e.smtpd.Messages())
		ask := func(login string) *resp {
			return e.do(nil, "POST", "/api/v1/auth/password-recovery", map[string]string{"login": login})
		}
		known := ask("Demo-Installer") // user names are case-insensitive, as at login
		if known.StatusCode != 202 {
			t.Fatalf("known account: %d %s", known.StatusCode, known.body)
		}
		msgs := e.smtpd.Wait(t, before+1, 10*time.Second)
		m := msgs[len(msgs)-1]
		if len(m.To) != 1 || !strings.EqualFold(m.To[0], email) || !strings.Contains(m.Subject, "demo-installer") ||
			!strings.Contains(m.Text, "Bonjour") {
			t.Errorf("the mail: to %v, subject %q\n%s", m.To, m.Subject, m.Text)
		}
		link := linkRE.FindString(m.Text)
		if link == "" {
			t.Fatalf("no link in the mail:\n%s", m.Text)
		}
		// Valid for an hour (the link an account asks for itself is used at once).
		var created, expires time.Time
		if err := e.st.DB().QueryRow(`SELECT t.created_at, t.expires_at FROM password_tokens t JOIN accounts a ON a.id = t.account_id
			WHERE a.username = 'demo-installer' AND t.used_at IS NULL`).Scan(&created, &expires); err != nil || usecase.RecoveryLinkTTL != time.Hour ||
			expires.Sub(created) > time.Hour || expires.Sub(created) < 59*time.Minute {
			t.Errorf("the link's lifetime: %v (%v)", expires.Sub(created), err)
		}
		// An unknown name, and an address no account holds: the same answer, no mail.
		for _, login := range []string{"nobody-here", "nobody@nowhere.example"} {
			if r := ask(login); r.StatusCode != 202 || string(r.body) != string(known.body) {
				t.Errorf("%s: %d %s (want the known account's answer %s)", login, r.StatusCode, r.body, known.body)
			}
		}
		// Bad input names the field.
		if r := ask(""); r.StatusCode != 400 || r.errorField(t, "login") == "" {
			t.Errorf("empty login: %d %s", r.StatusCode, r.body)
		}
		if r := ask(strings.Repeat("x", 255)); r.StatusCode != 400 || r.errorField(t, "login") == "" {
			t.Errorf("long login: %d %s", r.StatusCode, r.body)
		}
		// The link sets the password once; the old one stops working.
		tok := strings.TrimPrefix(link, "/password/set?token=")
		if r := e.form(nil, "/password/set", url.Values{"token": {tok}, "password": {"recovered-pass-1"}, "confirm": {"recovered-pass-1"}}); r.StatusCode != 303 {
			t.Fatalf("set password: %d %s", r.StatusCode, r.body)
		}
		if r := e.do(nil, "GET", link, nil); r.StatusCode != 404 {
			t.Errorf("used link: %d", r.StatusCode)
		}
		if r := e.do(nil, "POST", "/api/v1/auth/login", map[string]string{"username": "demo-installer", "password": demoPassword}); r.StatusCode != 401 {
			t.Errorf("old password after recovery: %d", r.StatusCode)
		}
		if r := e.do(nil, "POST", "/api/v1/auth/login", map[string]string{"username": "demo-installer", "password": "recovered-pass-1"}); r.StatusCode != 200 {
			t.Errorf("new password: %d", r.StatusCode)
		}
		// The portal: the login page links the form; the form answers alike.
		if r := e.do(nil, "GET", "/login", nil); !strings.Contains(string(r.body), `href="/password/forgot"`) {
			t.Error("the login page has no Forgot password? link")
		}
		if r := e.do(nil, "GET", "/password/forgot", nil); r.StatusCode != 200 || !strings.Contains(string(r.body), `id="forgot-password"`) {
			t.Errorf("the form: %d", r.StatusCode)
		}
		// Requests so far from this address: 5 (known, two unknown, two bad
		// ones are refused before they count: 3). Two more reach the limit.
		if r := e.form(nil, "/password/forgot", url.Values{"login": {"nobody-here"}}); r.StatusCode != 200 || !strings.Contains(string(r.body), `id="recovery-sent"`) {
			t.Errorf("portal answer: %d", r.StatusCode)
		}
		if r := ask("demo-installer"); r.StatusCode != 202 {
			t.Errorf("fifth request: %d", r.StatusCode)
		}
		sent := len(e.smtpd.Wait(t, before+2, 10*time.Second))
		r := ask("demo-installer")
		ra, _ := strconv.Atoi(r.Header.Get("Retry-After"))
		if r.StatusCode != 429 || r.errorCode(t) != "too_many_requests" || ra < 1 || ra > 15*60 {
			t.Errorf("over the address's limit: %d %s, Retry-After %q", r.StatusCode, r.body, r.Header.Get("Retry-After"))
		}
		if r := e.form(nil, "/password/forgot", url.Values{"login": {"demo-installer"}}); r.StatusCode != 429 || r.Header.Get("Retry-After") == "" {
			t.Errorf("portal over the limit: %d", r.StatusCode)
		}
		time.Sleep(200 * time.Millisecond) // a mail that was wrongly sent would be in by now
		if n := len(e.smtpd.Messages()); n != sent {
			t.Errorf("%d mails after refused requests, want %d", n, sent)
		}
	})
}

// An account without an e-mail address is asked for one before any other
// page; the API is not held up; the address given must be one.
func TestOwnEmailAskedAtSignIn(t *testing.T) {
	eachBackend(t, func(t *testing.T, e *env) {
		if _, err := e.st.DB().Exec(`UPDATE accounts SET email = '' WHERE username = 'demo-installer'`); err != nil {
			t.Fatal(err)
		}
		jar, _ := cookiejar.New(nil)
		b := &browser{c: noRedirect(jar)}
		if r := e.form(b.c, "/login", url.Values{"username": {"demo-installer"}, "password": {demoPassword}}); r.StatusCode != 303 {
			t.Fatalf("login: %d", r.StatusCode)
		}
		r := e.do(b.c, "GET", "/installer/projects?page=2", nil)
		if r.StatusCode != 303 || r.Header.Get("Location") != "/account/email?next="+url.QueryEscape("/installer/projects?page=2") {
			t.Fatalf("a page without an e-mail address: %d %s", r.StatusCode, r.Header.Get("Location"))
		}
		if r := e.do(nil, "GET", "/api/v1/projects", nil, bearer(e.token("demo-installer"))); r.StatusCode != 200 {
			t.Errorf("the API: %d", r.StatusCode)
		}
		form := e.do(b.c, "GET", "/account/email?next=/installer/projects", nil)
		if form.StatusCode != 200 || !strings.Contains(string(form.body), `id="own-email"`) {
			t.Fatalf("the form: %d", form.StatusCode)
		}
		b.csrf = regexpFind(t, string(form.body), `name="csrf_token" value="([^"]+)"`)
		for _, bad := range []string{"", "not an address", "Name <x@example.com>"} {
			if r := e.form(b.c, "/account/email", url.Values{"csrf_token": {b.csrf}, "email": {bad}, "next": {"/installer/projects"}}); r.StatusCode != 400 {
				t.Errorf("%q: %d", bad, r.StatusCode)
			}
		}
		r = e.form(b.c, "/account/email", url.Values{"csrf_token": {b.csrf}, "email": {"fitter@example.com"}, "next": {"/installer/projects"}})
		if r.StatusCode != 303 || !strings.HasPrefix(r.Header.Get("Location"), "/installer/projects") {
			t.Fatalf("saving: %d %s", r.StatusCode, r.Header.Get("Location"))
		}
		if r := e.do(b.c, "GET", "/installer/projects", nil); r.StatusCode != 200 {
			t.Errorf("after giving one: %d", r.StatusCode)
		}
		var got string
		e.st.DB().QueryRow(`SELECT email FROM accounts WHERE username = 'demo-installer'`).Scan(&got)
		if got != "fitter@example.com" {
			t.Errorf("stored %q", got)
		}
	})
}
