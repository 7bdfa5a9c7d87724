package server_test

import (
	"net/url"

	"github.com/gatehouse-dev/gatehouse/internal/auth"
	"strings"
	"testing"
)

// TestLoginFieldBoundsHTTP: a user name or password past its bound is a 400
// naming it on both back ends (a 4,000-byte name was a 500 on PostgreSQL),
// from the API and from the portal form.
func TestLoginFieldBoundsHTTP(t *testing.T) {
	eachBackend(t, func(t *testing.T, e *env) {
		// Random text: PostgreSQL compresses a repeated letter below its
		// index row limit.
		var sb strings.Builder
		for sb.Len() < 4000 {
			sb.WriteString(auth.NewToken())
		}
		long := sb.String()[:4000]
		for field, body := range map[string]map[string]string{
			"username": {"username": long, "password": "wrong-password"},
			"password": {"username": "demo-installer", "password": long},
		} {
			if r := e.do(nil, "POST", "/api/v1/auth/login", body); r.StatusCode != 400 || r.errorField(t, field) == "" {
				t.Errorf("API, over-long %s: %d %s", field, r.StatusCode, r.body)
			}
			if r := e.form(nil, "/login", url.Values{"username": {body["username"]}, "password": {body["password"]}}); r.StatusCode != 400 || !strings.Contains(string(r.body), "The "+map[string]string{"username": "user name", "password": "password"}[field]+" must be at most") {
				t.Errorf("portal, over-long %s: %d", field, r.StatusCode)
			}
		}
		// A login body is small: 64 KiB of padding is refused naming the body.
		if r := e.do(nil, "POST", "/api/v1/auth/login", `{"username":"demo-installer","password":"x`+strings.Repeat(" ", 64<<10)+`"}`); r.StatusCode != 400 || r.errorField(t, "body") == "" {
			t.Errorf("API, 64 KiB body: %d %s", r.StatusCode, r.body)
		}
		// The longest name a login accepts is still just a wrong login.
		if r := e.do(nil, "POST", "/api/v1/auth/login", map[string]string{"username": strings.Repeat("a", 254), "password": "wrong-password"}); r.StatusCode != 401 {
			t.Errorf("254-byte name: %d %s", r.StatusCode, r.body)
		}
	})
}
