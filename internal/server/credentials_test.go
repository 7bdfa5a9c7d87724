package server_test

import (
	"fmt"
	"net/http/cookiejar"
	"net/url"
	"strings"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/auth"
	"github.com/gatehouse-dev/gatehouse/internal/model"
)

// held is every way one account can be signed in at once: a login session
// used as a bearer token, a long-lived API token and a portal cookie session.
type held struct {
	username string
	session  string
	apiToken string
	browser  *browser
}

func (e *env) hold(username, password string) *held {
	e.t.Helper()
	r := e.do(nil, "POST", "/api/v1/auth/login", map[string]string{"username": username, "password": password})
	if r.StatusCode != 200 {
		e.t.Fatalf("login %s: %d %s", username, r.StatusCode, r.body)
	}
	sess := r.json(e.t)["token"].(string)
	r = e.do(nil, "POST", "/api/v1/tokens", map[string]any{"name": "script"}, bearer(sess))
	if r.StatusCode != 201 {
		e.t.Fatalf("API token for %s: %d %s", username, r.StatusCode, r.body)
	}
	b := e.browserLoginWith(username, password)
	return &held{username: username, session: sess, apiToken: r.json(e.t)["token"].(string), browser: b}
}

func (e *env) browserLoginWith(username, password string) *browser {
	e.t.Helper()
	jar, _ := cookiejar.New(nil)
	c := noRedirect(jar)
	r := e.form(c, "/login", url.Values{"username": {username}, "password": {password}})
	if r.StatusCode != 303 {
		e.t.Fatalf("form login %s: %d %s", username, r.StatusCode, r.body)
	}
	m := csrfRE.FindSubmatch(e.do(c, "GET", "/", nil).body)
	if m == nil {
		e.t.Fatalf("no CSRF token for %s", username)
	}
	return &browser{c: c, csrf: string(m[1])}
}

// ended checks that every credential of h is refused: 401 on the API
// (reads and writes) and the login page on the portal.
func (e *env) ended(t *testing.T, h *held, why string) {
	t.Helper()
	for kind, tok := range map[string]string{"login session": h.session, "API token": h.apiToken} {
		if r := e.do(nil, "GET", "/api/v1/me", nil, bearer(tok)); r.StatusCode != 401 {
			t.Errorf("%s: the %s of %s still reads: %d", why, kind, h.username, r.StatusCode)
		}
		if r := e.do(nil, "POST", "/api/v1/tokens", map[string]any{"name": "again"}, bearer(tok)); r.StatusCode != 401 {
			t.Errorf("%s: the %s of %s still writes: %d", why, kind, h.username, r.StatusCode)
		}
	}
	if r := e.do(h.browser.c, "GET", "/", nil); r.StatusCode != 303 || !strings.HasPrefix(r.Header.Get("Location"), "/login") {
		t.Errorf("%s: the portal session of %s still works: %d %s", why, h.username, r.StatusCode, r.Header.Get("Location"))
	}
}

func (e *env) alive(t *testing.T, h *held, why string) {
	t.Helper()
	for kind, tok := range map[string]string{"login session": h.session, "API token": h.apiToken} {
		if r := e.do(nil, "GET", "/api/v1/me", nil, bearer(tok)); r.StatusCode != 200 {
			t.Errorf("%s: the %s of %s ended: %d", why, kind, h.username, r.StatusCode)
		}
	}
	if r := e.do(h.browser.c, "GET", "/", nil); r.StatusCode != 200 {
		t.Errorf("%s: the portal session of %s ended: %d", why, h.username, r.StatusCode)
	}
}

// acting is a sub-distributor working inside an installer: an API session
// and a portal session (acting cookie beside the own one).
type acting struct {
	api     string
	browser *browser
}

// newInstaller makes an installer under demo-subdistributor with a
// password, that grants access without password, and returns its id.
func (e *env) newInstaller(t *testing.T, username string) int64 {
	t.Helper()
	ctx := sysCtx()
	sub, _, err := e.st.AccountForLogin(ctx, "demo-subdistributor")
	if err != nil {
		t.Fatal(err)
	}
	hash, _ := auth.HashPassword(demoPassword)
	a := &model.Account{Role: model.RoleInstaller, Username: username, ParentID: sub.ID, Email: username + "@example.com", Language: "en", TimeZone: "UTC"}
	if err := e.st.CreateAccount(ctx, a, hash); err != nil {
		t.Fatal(err)
	}
	tok := e.token(username)
	if r := e.do(nil, "PUT", "/api/v1/me/access-without-password", map[string]any{"enabled": true}, bearer(tok)); r.StatusCode != 200 {
		t.Fatalf("grant: %d %s", r.StatusCode, r.body)
	}
	return a.ID
}

// actAs opens both kinds of acting session of the sub-distributor held by
// sub into installer id.
func (e *env) actAs(t *testing.T, sub *held, id int64) *acting {
	t.Helper()
	r := e.do(nil, "POST", fmt.Sprintf("/api/v1/installers/%d/impersonate", id), nil, bearer(sub.session))
	if r.StatusCode != 201 {
		t.Fatalf("impersonate: %d %s", r.StatusCode, r.body)
	}
	b := e.browserLoginWith(sub.username, demoPassword)
	if r := e.form(b.c, fmt.Sprintf("/users/installers/%d/access", id), url.Values{"csrf_token": {b.csrf}}); r.StatusCode != 303 {
		t.Fatalf("portal access: %d %s", r.StatusCode, r.body)
	}
	if home := string(e.do(b.c, "GET", "/", nil).body); !strings.Contains(home, `id="acting-banner"`) {
		t.Fatal("portal is not acting")
	}
	a := &acting{api: r.json(t)["token"].(string), browser: b}
	if r := e.do(nil, "GET", "/api/v1/me", nil, bearer(a.api)); r.StatusCode != 200 || r.json(t)["id"] != float64(id) {
		t.Fatalf("the API acting session: %d %s", r.StatusCode, r.body)
	}
	return a
}

// actingEnded: the API acting session is refused; the portal is no longer
// inside the installer (it falls back to the own session, or to the login
// page when that ended too).
func (e *env) actingEnded(t *testing.T, a *acting, why string) {
	t.Helper()
	if r := e.do(nil, "GET", "/api/v1/me", nil, bearer(a.api)); r.StatusCode != 401 {
		t.Errorf("%s: the API acting session still works: %d %s", why, r.StatusCode, r.body)
	}
	if r := e.do(a.browser.c, "GET", "/", nil); strings.Contains(string(r.body), `id="acting-banner"`) {
		t.Errorf("%s: the portal is still acting", why)
	}
}

// TestPasswordChangeEndsCredentials: every way a password is set ends every
// session and API token of the account and every session acting in it,
// and nobody else's.
func TestPasswordChangeEndsCredentials(t *testing.T) {
	eachBackend(t, func(t *testing.T, e *env) {
		sub := e.hold("demo-subdistributor", demoPassword)
		other := e.hold("demo-installer", demoPassword)

		t.Run("admin reset-password", func(t *testing.T) {
			id := e.newInstaller(t, "cred-admin")
			inst := e.hold("cred-admin", demoPassword)
			act := e.actAs(t, sub, id)
			hash, _ := auth.HashPassword("a-new-password")
			// What `gatehouse admin reset-password` calls.
			if err := e.st.SetPassword(sysCtx(), id, hash); err != nil {
				t.Fatal(err)
			}
			e.actingEnded(t, act, "after admin reset-password")
			e.ended(t, inst, "after admin reset-password")
			if r := e.do(nil, "PUT", "/api/v1/me/access-without-password", map[string]any{"enabled": false}, bearer(inst.apiToken)); r.StatusCode != 401 {
				t.Errorf("an API token made before the reset still writes: %d", r.StatusCode)
			}
			e.alive(t, sub, "the installer's reset")
			e.alive(t, other, "another installer's reset")
		})

		for _, via := range []string{"api", "portal"} {
			t.Run("parent reset, mailed link, "+via, func(t *testing.T) {
				name := "cred-link-" + via
				id := e.newInstaller(t, name)
				inst := e.hold(name, demoPassword)
				act := e.actAs(t, sub, id)
				if via == "api" {
					if r := e.do(nil, "POST", fmt.Sprintf("/api/v1/installers/%d/password-reset", id), nil, bearer(sub.apiToken)); r.StatusCode/100 != 2 {
						t.Fatalf("reset: %d %s", r.StatusCode, r.body)
					}
				} else {
					if r := e.form(sub.browser.c, fmt.Sprintf("/users/installers/%d/password-reset", id), url.Values{"csrf_token": {sub.browser.csrf}}); r.StatusCode != 303 {
						t.Fatalf("portal reset: %d %s", r.StatusCode, r.body)
					}
				}
				// Asking for a link changes nothing until the link is used.
				e.alive(t, inst, "a reset link mailed, not used")
				link := e.lastLink(name + "@example.com")
				tok := strings.TrimPrefix(link, "/password/set?token=")
				if r := e.form(nil, "/password/set", url.Values{"token": {tok}, "password": {"link-password-1"}, "confirm": {"link-password-1"}}); r.StatusCode != 303 {
					t.Fatalf("set password: %d %s", r.StatusCode, r.body)
				}
				e.ended(t, inst, "after the mailed link set the password")
				e.actingEnded(t, act, "after the mailed link set the password")
				e.alive(t, sub, "the installer's link")
				e.hold(name, "link-password-1") // the new password works
			})
		}

		for _, via := range []string{"api", "portal"} {
			t.Run("delete installer, "+via, func(t *testing.T) {
				name := "cred-del-" + via
				id := e.newInstaller(t, name)
				inst := e.hold(name, demoPassword)
				act := e.actAs(t, sub, id)
				if via == "api" {
					if r := e.do(nil, "DELETE", fmt.Sprintf("/api/v1/installers/%d?confirm=true", id), nil, bearer(sub.apiToken)); r.StatusCode/100 != 2 {
						t.Fatalf("delete: %d %s", r.StatusCode, r.body)
					}
				} else {
					if r := e.form(sub.browser.c, fmt.Sprintf("/users/installers/%d/delete", id), url.Values{"csrf_token": {sub.browser.csrf}, "confirm": {"yes"}}); r.StatusCode != 303 {
						t.Fatalf("portal delete: %d %s", r.StatusCode, r.body)
					}
				}
				e.ended(t, inst, "after deletion")
				e.actingEnded(t, act, "after deletion")
				e.alive(t, sub, "the installer's deletion")
			})
		}

		t.Run("own change, api", func(t *testing.T) {
			id := e.newInstaller(t, "cred-own-api")
			inst := e.hold("cred-own-api", demoPassword)
			elsewhere := e.hold("cred-own-api", demoPassword)
			act := e.actAs(t, sub, id)
			if r := e.do(nil, "PUT", "/api/v1/me/password", map[string]string{"current_password": "wrong-password", "new_password": "own-password-1"}, bearer(inst.session)); r.StatusCode != 400 || r.errorField(t, "current_password") == "" {
				t.Errorf("wrong current password: %d %s", r.StatusCode, r.body)
			}
			if r := e.do(nil, "PUT", "/api/v1/me/password", map[string]string{"current_password": demoPassword, "new_password": "own-password-1"}, bearer(act.api)); r.StatusCode != 403 {
				t.Errorf("changed while acting: %d %s", r.StatusCode, r.body)
			}
			r := e.do(nil, "PUT", "/api/v1/me/password", map[string]string{"current_password": demoPassword, "new_password": "own-password-1"}, bearer(inst.session))
			if r.StatusCode != 200 {
				t.Fatalf("own change: %d %s", r.StatusCode, r.body)
			}
			fresh := r.json(t)["token"].(string)
			e.ended(t, inst, "after the own change")
			e.ended(t, elsewhere, "after the own change")
			e.actingEnded(t, act, "after the own change")
			if r := e.do(nil, "GET", "/api/v1/me", nil, bearer(fresh)); r.StatusCode != 200 {
				t.Errorf("the session the change issued: %d", r.StatusCode)
			}
			e.alive(t, sub, "the installer's own change")
		})

		t.Run("own change, portal", func(t *testing.T) {
			e.newInstaller(t, "cred-own-web")
			inst := e.hold("cred-own-web", demoPassword)
			elsewhere := e.hold("cred-own-web", demoPassword)
			b := inst.browser
			if r := e.do(b.c, "GET", "/account/password", nil); r.StatusCode != 200 || !strings.Contains(string(r.body), `id="change-password"`) {
				t.Fatalf("password page: %d", r.StatusCode)
			}
			if r := e.form(b.c, "/account/password", url.Values{"csrf_token": {b.csrf}, "current_password": {demoPassword}, "new_password": {"own-password-2"}, "confirm": {"other"}}); r.StatusCode != 400 {
				t.Errorf("mismatched confirmation: %d", r.StatusCode)
			}
			if r := e.form(b.c, "/account/password", url.Values{"csrf_token": {b.csrf}, "current_password": {demoPassword}, "new_password": {"own-password-2"}, "confirm": {"own-password-2"}}); r.StatusCode != 303 {
				t.Fatalf("portal own change: %d %s", r.StatusCode, r.body)
			}
			// This browser goes on with its new session; everything else ends.
			if r := e.do(b.c, "GET", "/", nil); r.StatusCode != 200 {
				t.Errorf("the changing browser was signed out: %d", r.StatusCode)
			}
			e.ended(t, elsewhere, "after the portal change")
			if r := e.do(nil, "GET", "/api/v1/me", nil, bearer(inst.apiToken)); r.StatusCode != 401 {
				t.Errorf("the API token of the changing account: %d", r.StatusCode)
			}
			e.hold("cred-own-web", "own-password-2")
		})

		// Last: it ends the sub-distributor's own credentials.
		t.Run("impersonator's password", func(t *testing.T) {
			id := e.newInstaller(t, "cred-imp")
			inst := e.hold("cred-imp", demoPassword)
			act := e.actAs(t, sub, id)
			s, _, _ := e.st.AccountForLogin(sysCtx(), "demo-subdistributor")
			hash, _ := auth.HashPassword(demoPassword)
			if err := e.st.SetPassword(sysCtx(), s.ID, hash); err != nil {
				t.Fatal(err)
			}
			e.ended(t, sub, "after the sub-distributor's reset")
			e.actingEnded(t, act, "after the sub-distributor's reset")
			if r := e.do(act.browser.c, "GET", "/", nil); r.StatusCode != 303 {
				t.Errorf("the impersonating portal is not sent to the login page: %d", r.StatusCode)
			}
			e.alive(t, inst, "the sub-distributor's reset")
		})
	})
}

func (e *env) loginToken(username, password string) string {
	e.t.Helper()
	r := e.do(nil, "POST", "/api/v1/auth/login", map[string]string{"username": username, "password": password})
	if r.StatusCode != 200 {
		e.t.Fatalf("login %s: %d %s", username, r.StatusCode, r.body)
	}
	return r.json(e.t)["token"].(string)
}
