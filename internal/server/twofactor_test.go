package server_test

import (
	"fmt"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/pquerna/otp/totp"

	"github.com/gatehouse-dev/gatehouse/internal/i18n"
)

// Two-factor sign-in end to end: an installer turns it on (secret, first
// code, recovery codes), then every login needs a code: a wrong one is
// refused, a code works once, a recovery code works once, five wrong codes
// end the sign-in; the portal asks for the code after the password. Its
// sub-distributor requires it (the installer cannot turn it off) and
// resets it for a lost phone; another sub-distributor cannot (404).
func TestTwoFactorSignIn(t *testing.T) {
	eachBackend(t, func(t *testing.T, e *env) {
		inst := e.token("demo-installer")
		setup := e.do(nil, "POST", "/api/v1/me/two-factor", nil, bearer(inst))
		if setup.StatusCode != 201 {
			t.Fatalf("start: %d %s", setup.StatusCode, setup.body)
		}
		sj := setup.json(t)
		secret := sj["secret"].(string)
		if !strings.HasPrefix(sj["otpauth_url"].(string), "otpauth://totp/Gatehouse:demo-installer?") || sj["qr_png"] == "" {
			t.Errorf("setup: %s", setup.body)
		}
		code := func(at time.Time) string {
			c, err := totp.GenerateCode(secret, at)
			if err != nil {
				t.Fatal(err)
			}
			return c
		}
		if r := e.do(nil, "POST", "/api/v1/me/two-factor/confirm", map[string]string{"code": "000000"}, bearer(inst)); r.StatusCode != 400 || r.errorField(t, "code") == "" {
			// (000000 is right once in a million: the test would then fail here, not pass wrongly)
			t.Errorf("confirm with a wrong code: %d %s", r.StatusCode, r.body)
		}
		r := e.do(nil, "POST", "/api/v1/me/two-factor/confirm", map[string]string{"code": code(time.Now())}, bearer(inst))
		if r.StatusCode != 200 {
			t.Fatalf("confirm: %d %s", r.StatusCode, r.body)
		}
		var codes []string
		for _, c := range r.json(t)["recovery_codes"].([]any) {
			codes = append(codes, c.(string))
		}
		if len(codes) != 10 || len(codes[0]) != 11 {
			t.Fatalf("recovery codes: %v", codes)
		}
		if st := e.do(nil, "GET", "/api/v1/me/two-factor", nil, bearer(inst)).json(t); st["enabled"] != true || st["recovery_codes_left"] != float64(10) {
			t.Errorf("status: %v", st)
		}

		login := func() string {
			r := e.do(nil, "POST", "/api/v1/auth/login", map[string]string{"username": "demo-installer", "password": demoPassword})
			j := r.json(t)
			if r.StatusCode != 200 || j["second_factor"] != "totp" || j["token"] != nil {
				t.Fatalf("login with two-factor: %d %s", r.StatusCode, r.body)
			}
			return j["challenge"].(string)
		}
		second := func(ch, code string) *resp {
			return e.do(nil, "POST", "/api/v1/auth/login/second-factor", map[string]string{"challenge": ch, "code": code})
		}
		ch := login()
		if r := second(ch, "12345"); r.StatusCode != 400 || r.errorField(t, "code") == "" {
			t.Errorf("malformed code: %d %s", r.StatusCode, r.body)
		}
		// The step confirmed is used: the next one (the app's next code).
		next := code(time.Now().Add(30 * time.Second))
		if r := second(ch, next); r.StatusCode != 200 || r.json(t)["token"] == nil {
			t.Fatalf("second factor: %d %s", r.StatusCode, r.body)
		}
		if r := second(ch, next); r.StatusCode != 401 {
			t.Errorf("a used challenge: %d", r.StatusCode)
		}
		if r := second(login(), next); r.StatusCode != 401 {
			t.Errorf("a code used again: %d %s", r.StatusCode, r.body)
		}
		ch = login()
		if r := second(ch, strings.ToUpper(codes[0])); r.StatusCode != 200 {
			t.Errorf("recovery code: %d %s", r.StatusCode, r.body)
		}
		if r := second(login(), codes[0]); r.StatusCode != 401 {
			t.Errorf("a recovery code used again: %d", r.StatusCode)
		}
		ch = login()
		for i := range 5 {
			if r := second(ch, "aaaaa-aaaaa"); r.StatusCode != 401 {
				t.Errorf("wrong code %d: %d", i, r.StatusCode)
			}
		}
		if r := second(ch, codes[1]); r.StatusCode != 401 {
			t.Errorf("after five wrong codes the sign-in goes on: %d", r.StatusCode)
		}

		// The portal asks for the code after the password.
		jar, _ := cookiejar.New(nil)
		c := noRedirect(jar)
		r = e.form(c, "/login", url.Values{"username": {"demo-installer"}, "password": {demoPassword}, "next": {"/devices"}})
		if r.StatusCode != 200 || !strings.Contains(string(r.body), `id="second-factor"`) {
			t.Fatalf("portal login: %d", r.StatusCode)
		}
		pch := regexpFind(t, string(r.body), `name="challenge" value="([^"]+)"`)
		if r := e.form(c, "/login/second-factor", url.Values{"challenge": {pch}, "code": {"999999"}, "next": {"/devices"}}); r.StatusCode != 401 {
			t.Errorf("portal wrong code: %d", r.StatusCode)
		}
		if r := e.form(c, "/login/second-factor", url.Values{"challenge": {pch}, "code": {codes[2]}, "next": {"/devices"}}); r.StatusCode != 303 || r.Header.Get("Location") != "/devices" {
			t.Errorf("portal second factor: %d %s", r.StatusCode, r.Header.Get("Location"))
		}

		// The sub-distributor requires it: the installer cannot turn it off.
		sub := e.token("demo-subdistributor")
		if r := e.do(nil, "PUT", "/api/v1/me/two-factor/policy", map[string]bool{"require_for_children": true}, bearer(sub)); r.StatusCode != 200 || r.json(t)["require_for_children"] != true {
			t.Errorf("policy: %d %s", r.StatusCode, r.body)
		}
		if r := e.do(nil, "PUT", "/api/v1/me/two-factor/policy", map[string]bool{"require_for_children": true}, bearer(inst)); r.StatusCode != 403 {
			t.Errorf("an installer's policy: %d", r.StatusCode)
		}
		off := map[string]string{"password": demoPassword, "code": codes[3]}
		if r := e.do(nil, "POST", "/api/v1/me/two-factor/disable", off, bearer(inst)); r.StatusCode != 409 {
			t.Errorf("turning off what the parent requires: %d %s", r.StatusCode, r.body)
		}
		// A lost phone: the parent resets it; a stranger cannot.
		var instID int64
		if err := e.st.DB().QueryRow(`SELECT id FROM accounts WHERE username = 'demo-installer'`).Scan(&instID); err != nil {
			t.Fatal(err)
		}
		reset := fmt.Sprintf("/api/v1/accounts/%d/two-factor/reset", instID)
		if r := e.do(nil, "POST", reset, nil, bearer(e.token("subdistributor-1-2"))); r.StatusCode != 404 {
			t.Errorf("a stranger resets: %d", r.StatusCode)
		}
		if r := e.do(nil, "POST", reset, nil, bearer(sub)); r.StatusCode != 204 {
			t.Errorf("the parent resets: %d %s", r.StatusCode, r.body)
		}
		if r := e.do(nil, "POST", "/api/v1/auth/login", map[string]string{"username": "demo-installer", "password": demoPassword}); r.StatusCode != 200 || r.json(t)["token"] == nil {
			t.Errorf("login after the reset: %d %s", r.StatusCode, r.body)
		}
	})
}

// regexpFind returns the first group of pattern in s.
func regexpFind(t *testing.T, s, pattern string) string {
	t.Helper()
	m := regexp.MustCompile(pattern).FindStringSubmatch(s)
	if m == nil {
		t.Fatalf("%s not found", pattern)
	}
	return m[1]
}

// The portal's Two-factor page: set up with the QR code and the key, turn
// on with the first code, recovery codes shown once; a wrong code says so;
// turning off needs the password and a code. A sub-distributor sees the
// requirement for its installers.
func TestTwoFactorPortal(t *testing.T) {
	eachBackend(t, func(t *testing.T, e *env) {
		b := e.browserLogin("demo-installer")
		if r := e.do(b.c, "GET", "/account/two-factor", nil); r.StatusCode != 200 || !strings.Contains(string(r.body), `id="start-two-factor"`) ||
			strings.Contains(string(r.body), `id="two-factor-policy"`) {
			t.Fatalf("page: %d", r.StatusCode)
		}
		if r := e.form(b.c, "/account/two-factor/start", url.Values{}); r.StatusCode != 403 {
			t.Errorf("start without the CSRF token: %d", r.StatusCode)
		}
		r := e.form(b.c, "/account/two-factor/start", url.Values{"csrf_token": {b.csrf}})
		if r.StatusCode != 200 || !strings.Contains(string(r.body), `src="data:image/png;base64,`) {
			t.Fatalf("start: %d", r.StatusCode)
		}
		secret := regexpFind(t, string(r.body), `id="totp-secret">([A-Z2-7]+)<`)
		if r := e.form(b.c, "/account/two-factor/confirm", url.Values{"csrf_token": {b.csrf}, "code": {"12"}}); r.StatusCode != 400 || !strings.Contains(string(r.body), "did not match") {
			t.Errorf("a malformed code: %d", r.StatusCode)
		}
		// The key is still waiting: the right code turns it on.
		c, _ := totp.GenerateCode(secret, time.Now())
		r = e.form(b.c, "/account/two-factor/confirm", url.Values{"csrf_token": {b.csrf}, "code": {c}})
		if r.StatusCode != 200 || strings.Count(string(r.body), "<li>") < 10 || !strings.Contains(string(r.body), `id="recovery-codes"`) {
			t.Fatalf("confirm: %d", r.StatusCode)
		}
		code := regexpFind(t, string(r.body), `<li>([a-z2-7]{5}-[a-z2-7]{5})</li>`)
		if r := e.do(b.c, "GET", "/account/two-factor", nil); !strings.Contains(string(r.body), "9 recovery codes left") && !strings.Contains(string(r.body), "10 recovery codes left") {
			t.Errorf("the page after: %s", regexpFind(t, string(r.body), `id="two-factor-state">([^\n]*)`))
		}
		if r := e.form(b.c, "/account/two-factor/disable", url.Values{"csrf_token": {b.csrf}, "password": {"wrong-password"}, "code": {code}}); r.StatusCode != 400 {
			t.Errorf("turning off with a wrong password: %d", r.StatusCode)
		}
		if r := e.form(b.c, "/account/two-factor/disable", url.Values{"csrf_token": {b.csrf}, "password": {demoPassword}, "code": {code}}); r.StatusCode != 303 {
			t.Errorf("turning off: %d %s", r.StatusCode, r.body)
		}
		if r := e.do(nil, "POST", "/api/v1/auth/login", map[string]string{"username": "demo-installer", "password": demoPassword}); r.json(t)["token"] == nil {
			t.Errorf("login after turning off: %s", r.body)
		}
		sub := e.browserLogin("demo-subdistributor")
		if r := e.do(sub.c, "GET", "/account/two-factor", nil); !strings.Contains(string(r.body), "Require two-factor sign-in of my installers") {
			t.Error("the sub-distributor's page has no requirement for its installers")
		}
		if r := e.form(sub.c, "/account/two-factor/policy", url.Values{"csrf_token": {sub.csrf}, "require": {"on"}}); r.StatusCode != 303 {
			t.Errorf("policy: %d", r.StatusCode)
		}
		if r := e.do(sub.c, "GET", "/account/two-factor", nil); !strings.Contains(string(r.body), `id="require-children" checked`) {
			t.Error("the requirement is not shown as saved")
		}
	})
}

// Required by the parent and not set up: a session can do nothing but set
// it up (pages lead there, the session API answers 403 naming the way);
// an API token goes on; once set up, everything works again.
func TestTwoFactorRequiredMustEnroll(t *testing.T) {
	eachBackend(t, func(t *testing.T, e *env) {
		var name, lang string
		if err := e.st.DB().QueryRow(`SELECT i.username, i.language FROM accounts i JOIN accounts s ON s.id = i.parent_id
			WHERE s.username = 'demo-subdistributor' AND i.username <> 'demo-installer' ORDER BY i.id LIMIT 1`).Scan(&name, &lang); err != nil {
			t.Fatal(err)
		}
		// The installer reads the portal in its account's language.
		l := i18n.For(lang, "UTC")
		sess := e.token(name)
		r := e.do(nil, "POST", "/api/v1/tokens", map[string]any{"name": "script", "expires_in_days": 30}, bearer(sess))
		if r.StatusCode != 201 {
			t.Fatalf("API token: %d %s", r.StatusCode, r.body)
		}
		apiTok := r.json(t)["token"].(string)
		b := e.browserLogin(name)
		if r := e.do(nil, "PUT", "/api/v1/me/two-factor/policy", map[string]bool{"require_for_children": true}, bearer(e.token("demo-subdistributor"))); r.StatusCode != 200 {
			t.Fatalf("policy: %d", r.StatusCode)
		}
		if r := e.do(nil, "GET", "/api/v1/projects", nil, bearer(sess)); r.StatusCode != 403 || !strings.Contains(string(r.body), "/api/v1/me/two-factor") {
			t.Errorf("the session API before setting up: %d %s", r.StatusCode, r.body)
		}
		if r := e.do(nil, "GET", "/api/v1/projects", nil, bearer(apiTok)); r.StatusCode != 200 {
			t.Errorf("an API token: %d %s", r.StatusCode, r.body)
		}
		if r := e.do(b.c, "GET", "/", nil); r.StatusCode != 303 || !strings.HasPrefix(r.Header.Get("Location"), "/account/two-factor") {
			t.Errorf("a page before setting up: %d %s", r.StatusCode, r.Header.Get("Location"))
		}
		if r := e.do(b.c, "GET", "/account/two-factor", nil); r.StatusCode != 200 || !strings.Contains(string(r.body), l.T("Your parent account requires it: set it up to go on.")) {
			t.Errorf("the set-up page (%s): %d", lang, r.StatusCode)
		}
		setup := e.do(nil, "POST", "/api/v1/me/two-factor", nil, bearer(sess))
		if setup.StatusCode != 201 {
			t.Fatalf("set up: %d %s", setup.StatusCode, setup.body)
		}
		c, _ := totp.GenerateCode(setup.json(t)["secret"].(string), time.Now())
		if r := e.do(nil, "POST", "/api/v1/me/two-factor/confirm", map[string]string{"code": c}, bearer(sess)); r.StatusCode != 200 {
			t.Fatalf("confirm: %d %s", r.StatusCode, r.body)
		}
		if r := e.do(nil, "GET", "/api/v1/projects", nil, bearer(sess)); r.StatusCode != 200 {
			t.Errorf("the session after setting up: %d", r.StatusCode)
		}
		if r := e.do(b.c, "GET", "/", nil); r.StatusCode == 303 && strings.HasPrefix(r.Header.Get("Location"), "/account/two-factor") {
			t.Error("pages still lead to the set-up")
		}
	})
}

// The sub-distributor's installer page resets an installer's two-factor
// sign-in; another sub-distributor's installer is 404.
func TestTwoFactorResetFromInstallerPage(t *testing.T) {
	eachBackend(t, func(t *testing.T, e *env) {
		inst := e.token("demo-installer")
		setup := e.do(nil, "POST", "/api/v1/me/two-factor", nil, bearer(inst))
		c, _ := totp.GenerateCode(setup.json(t)["secret"].(string), time.Now())
		if r := e.do(nil, "POST", "/api/v1/me/two-factor/confirm", map[string]string{"code": c}, bearer(inst)); r.StatusCode != 200 {
			t.Fatalf("confirm: %d", r.StatusCode)
		}
		var id, foreign int64
		e.st.DB().QueryRow(`SELECT id FROM accounts WHERE username = 'demo-installer'`).Scan(&id)
		e.st.DB().QueryRow(`SELECT i.id FROM accounts i JOIN accounts s ON s.id = i.parent_id WHERE s.username = 'subdistributor-1-2' LIMIT 1`).Scan(&foreign)
		sub := e.browserLogin("demo-subdistributor")
		if r := e.do(sub.c, "GET", fmt.Sprintf("/users/installers/%d", id), nil); !strings.Contains(string(r.body), `id="reset-two-factor"`) {
			t.Error("no reset button on the installer's page")
		}
		if r := e.form(sub.c, fmt.Sprintf("/users/installers/%d/two-factor-reset", foreign), url.Values{"csrf_token": {sub.csrf}}); r.StatusCode != 404 {
			t.Errorf("another sub-distributor's installer: %d", r.StatusCode)
		}
		if r := e.form(sub.c, fmt.Sprintf("/users/installers/%d/two-factor-reset", id), url.Values{"csrf_token": {sub.csrf}}); r.StatusCode != 303 {
			t.Errorf("reset: %d %s", r.StatusCode, r.body)
		}
		if r := e.do(nil, "POST", "/api/v1/auth/login", map[string]string{"username": "demo-installer", "password": demoPassword}); r.json(t)["token"] == nil {
			t.Errorf("login after the reset still asks for a code: %s", r.body)
		}
	})
}

// A sub-distributor whose distributor requires two-factor sign-in cannot
// get round it by working in an installer's account: the acting sessions
// are refused too (leaving and logging out still work).
func TestTwoFactorRequiredWhileActing(t *testing.T) {
	e := newEnv(t, "sqlite")
	id := e.newInstaller(t, "acting-fitter")
	sub := e.hold("demo-subdistributor", demoPassword)
	a := e.actAs(t, sub, id)
	if r := e.do(nil, "PUT", "/api/v1/me/two-factor/policy", map[string]bool{"require_for_children": true}, bearer(e.token("demo-distributor"))); r.StatusCode != 200 {
		t.Fatalf("policy: %d %s", r.StatusCode, r.body)
	}
	if r := e.do(nil, "GET", "/api/v1/projects", nil, bearer(a.api)); r.StatusCode != 403 {
		t.Errorf("the API acting session: %d", r.StatusCode)
	}
	page := e.do(a.browser.c, "GET", "/installer/projects", nil)
	if page.StatusCode != 403 {
		t.Errorf("the portal acting session: %d", page.StatusCode)
	}
	// The refusal page still has the top bar and its way back (the acting
	// session's CSRF token).
	acsrf := csrfRE.FindSubmatch(page.body)
	if acsrf == nil {
		t.Fatal("no CSRF token on the refusal page")
	}
	if r := e.form(a.browser.c, "/access/end", url.Values{"csrf_token": {string(acsrf[1])}}); r.StatusCode != 303 {
		t.Errorf("leaving the installer's account: %d", r.StatusCode)
	}
	if r := e.do(a.browser.c, "GET", "/", nil); r.StatusCode != 303 || !strings.HasPrefix(r.Header.Get("Location"), "/account/two-factor") {
		t.Errorf("back in its own account: %d %s", r.StatusCode, r.Header.Get("Location"))
	}
}
