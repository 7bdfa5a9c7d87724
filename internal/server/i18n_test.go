package server_test

import (
	"fmt"
	"html"
	"net/http/cookiejar"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/i18n"
)

// TestMain fails the package when a page asked the catalogs for a message
// they lack: every page the tests render speaks only catalog text.
func TestMain(m *testing.M) {
	code := m.Run()
	if missing := i18n.Missing(); len(missing) > 0 {
		fmt.Fprintf(os.Stderr, "FAIL: the portal asked for %d messages the catalogs lack (internal/i18n/catalogs/en):\n", len(missing))
		for _, k := range missing {
			fmt.Fprintf(os.Stderr, "  %q\n", k)
		}
		code = 1
	}
	os.Exit(code)
}

// in is a message in a language, as a page writes it (HTML-escaped).
func in(lang, key string, args ...any) string {
	return html.EscapeString(i18n.For(lang, "").T(key, args...))
}

// TestPortalLanguage: a visitor reads their browser's language, or the one
// picked with the switcher; a signed-in person reads their account's, and
// the switcher saves it there (with the CSRF token); the API stays English.
func TestPortalLanguage(t *testing.T) {
	eachBackend(t, func(t *testing.T, e *env) {
		body := func(r *resp) string { return string(r.body) }
		// Not signed in: Accept-Language, then the cookie.
		jar, _ := cookiejar.New(nil)
		c := noRedirect(jar)
		r := e.do(c, "GET", "/login", nil, "Accept-Language: de-DE,de;q=0.9,en;q=0.5")
		if !strings.Contains(body(r), `<html lang="de">`) || !strings.Contains(body(r), in("de", "Log in")) || in("de", "Log in") == "Log in" {
			t.Fatalf("login page for a German browser is not German: %.300s", r.body)
		}
		if r := e.do(c, "GET", "/login", nil, "Accept-Language: pt-BR"); !strings.Contains(body(r), `<html lang="en">`) {
			t.Fatal("a language not spoken here is not English")
		}
		if r := e.form(c, "/language", url.Values{"lang": {"tlh"}, "next": {"/login"}}); r.StatusCode != 400 || len(r.Header.Values("Set-Cookie")) != 0 {
			t.Fatalf("unknown language: %d, cookies %q", r.StatusCode, r.Header.Values("Set-Cookie"))
		}
		r = e.form(c, "/language", url.Values{"lang": {"fr"}, "next": {"//evil.example/x"}})
		if r.StatusCode != 303 || r.Header.Get("Location") != "/" {
			t.Fatalf("switch: %d to %q, want 303 to / (a foreign next is refused)", r.StatusCode, r.Header.Get("Location"))
		}
		if r := e.do(c, "GET", "/login", nil, "Accept-Language: de"); !strings.Contains(body(r), `<html lang="fr">`) {
			t.Fatal("the switcher's cookie does not win over Accept-Language")
		}

		// Signed in: the account's language wins over the browser's.
		b := e.browserLogin("demo-installer")
		if r := e.do(b.c, "GET", "/installer/projects", nil, "Accept-Language: de"); !strings.Contains(body(r), `<html lang="en">`) {
			t.Fatal("an installer whose account says English reads another language")
		}
		if r := e.form(b.c, "/account/language", url.Values{"lang": {"de"}, "next": {"/installer/projects"}}); r.StatusCode != 403 {
			t.Fatalf("switch without the CSRF token: %d, want 403", r.StatusCode)
		}
		if r := e.form(b.c, "/account/language", url.Values{"csrf_token": {b.csrf}, "lang": {"xx"}, "next": {"/"}}); r.StatusCode != 400 {
			t.Fatalf("switch to an unknown language: %d, want 400", r.StatusCode)
		}
		var lang string
		e.st.DB().QueryRow(`SELECT language FROM accounts WHERE username = 'demo-installer'`).Scan(&lang)
		if lang != "en" {
			t.Fatalf("refused switches changed the language to %q", lang)
		}
		r = e.form(b.c, "/account/language", url.Values{"csrf_token": {b.csrf}, "lang": {"de"}, "next": {"/installer/projects?page=1"}})
		if r.StatusCode != 303 || r.Header.Get("Location") != "/installer/projects?page=1" {
			t.Fatalf("switch: %d to %q", r.StatusCode, r.Header.Get("Location"))
		}
		e.st.DB().QueryRow(`SELECT language FROM accounts WHERE username = 'demo-installer'`).Scan(&lang)
		if lang != "de" {
			t.Fatalf("account language %q after the switch, want de", lang)
		}
		// Another browser of the same person: the account's language.
		other := e.browserLogin("demo-installer")
		page := body(e.do(other.c, "GET", "/installer/projects", nil, "Accept-Language: ru"))
		for _, want := range []string{`<html lang="de">`, in("de", "Projects"), in("de", "Log out")} {
			if !strings.Contains(page, want) {
				t.Errorf("the installer's page after switching to German lacks %q", want)
			}
		}

		// Times in the account's time zone and the language's format.
		if _, err := e.st.DB().Exec(`UPDATE accounts SET time_zone = 'Asia/Shanghai' WHERE username = 'demo-installer'`); err != nil {
			t.Fatal(err)
		}
		var at time.Time
		var raw any
		if err := e.st.DB().QueryRow(`SELECT at FROM audit_log WHERE action = 'account.language_set' ORDER BY id DESC LIMIT 1`).Scan(&raw); err != nil {
			t.Fatal(err)
		}
		switch v := raw.(type) {
		case time.Time:
			at = v
		case string:
			at, _ = time.Parse(time.RFC3339Nano, v)
		}
		if at.IsZero() {
			t.Fatalf("audit time %v", raw)
		}
		audit := body(e.do(other.c, "GET", "/audit", nil))
		if want := i18n.For("de", "Asia/Shanghai").DateTime(at); !strings.Contains(audit, want) {
			t.Errorf("the audit log does not show the switch at %q (German, Shanghai time)", want)
		}

		// A validation message in the reader's language; the API's in English.
		form := body(e.do(other.c, "GET", "/account/email", nil))
		other.csrf = regexpFind(t, form, `name="csrf_token" value="([^"]+)"`)
		r = e.form(other.c, "/account/email", url.Values{"csrf_token": {other.csrf}, "email": {"not an address"}})
		if want := in("de", "is not a valid email address"); r.StatusCode != 400 || !strings.Contains(body(r), want) || strings.Contains(body(r), "is not a valid email address") {
			t.Errorf("a bad e-mail address: %d, want the German %q only", r.StatusCode, want)
		}
		tok := e.token("demo-installer")
		api := e.do(nil, "GET", "/api/v1/projects/999999999", nil, bearer(tok), "Accept-Language: de", "Cookie: gatehouse_lang=de")
		if api.StatusCode != 404 || api.errorCode(t) != "not_found" || !strings.Contains(body(api), "not found") {
			t.Errorf("the API's error is not English with its code: %d %s", api.StatusCode, api.body)
		}
		// Payments switched off above the installer: the refusal names its
		// sub-distributor, in the reader's language.
		var sub string
		var subID int64
		if err := e.st.DB().QueryRow(`SELECT s.username, s.id FROM accounts i JOIN accounts s ON s.id = i.subdistributor_id WHERE i.username = 'demo-installer'`).Scan(&sub, &subID); err != nil {
			t.Fatal(err)
		}
		if _, err := e.st.DB().Exec(fmt.Sprintf(`UPDATE accounts SET payment_enabled = false WHERE id = %d`, subID)); err != nil {
			t.Fatal(err)
		}
		if r, want := e.do(other.c, "GET", "/payments", nil), in("de", "The distributor of %s has not switched the payment feature on.", sub); r.StatusCode != 403 || !strings.Contains(body(r), want) {
			t.Errorf("payments switched off: %d, want 403 saying %q", r.StatusCode, want)
		}
		// An error page in the reader's language.
		if r := e.do(other.c, "GET", "/installer/projects/999999999", nil); r.StatusCode != 404 || !strings.Contains(body(r), `<html lang="de">`) || !strings.Contains(body(r), in("de", "Not Found")) {
			t.Errorf("error page: %d, want 404 in German", r.StatusCode)
		}
	})
}
