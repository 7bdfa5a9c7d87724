package server_test

import (
	"bytes"
	"fmt"
	"mime/multipart"
	"net/url"
	"strings"
	"sync"
	"testing"
)

// TestLoginThrottleUnderParallelAttempts: attempts racing each other cannot
// all slip under the limit of 10.
func TestLoginThrottleUnderParallelAttempts(t *testing.T) {
	e := newEnv(t, "sqlite")
	var mu sync.Mutex
	codes := map[int]int{}
	var wg sync.WaitGroup
	for i := 0; i < 40; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := e.do(nil, "POST", "/api/v1/auth/login", map[string]string{"username": "demo-subdistributor", "password": "wrong-password"})
			mu.Lock()
			codes[r.StatusCode]++
			mu.Unlock()
		}()
	}
	wg.Wait()
	if codes[401] > 10 || codes[429] < 30 || codes[401]+codes[429] != 40 {
		t.Errorf("40 parallel wrong passwords: %v, want at most 10 × 401 and the rest 429", codes)
	}
}

func TestNoOpenRedirectAfterLogin(t *testing.T) {
	e := newEnv(t, "sqlite")
	for _, next := range []string{"/\t/evil.example", "/\\evil.example", "//evil.example", "https://evil.example/", "/%0a/evil", "\n/evil"} {
		r := e.form(nil, "/login", url.Values{"username": {"demo-admin"}, "password": {demoPassword}, "next": {next}})
		if loc := r.Header.Get("Location"); loc != "/" && loc != "/%0a/evil" {
			t.Errorf("next=%q redirects to %q", next, loc)
		}
	}
}

// TestTextThatCannotBeStored: NUL characters and invalid UTF-8 are a 400
// naming the field on both back ends, never a 500.
func TestTextThatCannotBeStored(t *testing.T) {
	eachBackend(t, func(t *testing.T, e *env) {
		if r := e.do(nil, "POST", "/api/v1/auth/login", `{"username":"a\u0000","password":"x"}`); r.StatusCode != 400 {
			t.Errorf("NUL in the login JSON: %d %s", r.StatusCode, r.body)
		}
		if r := e.form(nil, "/login", url.Values{"username": {"a\x00"}, "password": {"x"}}); r.StatusCode != 400 {
			t.Errorf("NUL in the login form: %d", r.StatusCode)
		}
		if r := e.form(nil, "/login", url.Values{"username": {"a\xff"}, "password": {"x"}}); r.StatusCode != 400 {
			t.Errorf("invalid UTF-8 in the login form: %d", r.StatusCode)
		}
		sub := e.token("demo-subdistributor")
		if r := e.do(nil, "GET", "/api/v1/installers?account=%00", nil, bearer(sub)); r.StatusCode != 400 || r.errorField(t, "account") == "" {
			t.Errorf("NUL in a filter: %d %s", r.StatusCode, r.body)
		}
		if r := e.do(nil, "POST", "/api/v1/tokens", `{"name":"\u0000"}`, bearer(sub)); r.StatusCode != 400 {
			t.Errorf("NUL in a JSON field: %d %s", r.StatusCode, r.body)
		}
		id := installerID(t, e, "demo-installer")
		ct, body := multipartFile(t, "macs.csv", []byte("MAC,Name\n0C110E000001,a\x00b\n"))
		if r := e.do(nil, "POST", fmt.Sprintf("/api/v1/installers/%d/macs/import", id), string(body), bearer(sub), "Content-Type: "+ct); r.StatusCode != 400 || !strings.Contains(string(r.body), "row 2") {
			t.Errorf("NUL in an import: %d %s", r.StatusCode, r.body)
		}
	})
}

// TestUploadLimitWithFormToken: the import limit holds when the CSRF token
// comes as a form field (which makes the server parse the form early).
func TestUploadLimitWithFormToken(t *testing.T) {
	e := newEnv(t, "sqlite")
	b := e.browserLogin("demo-subdistributor")
	id := installerID(t, e, "demo-installer")
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	mw.WriteField("csrf_token", b.csrf)
	fw, _ := mw.CreateFormFile("file", "big.csv")
	fw.Write([]byte("MAC\n0C110F000001\n"))
	fw.Write(bytes.Repeat([]byte(" "), 18<<20))
	mw.Close()
	r := e.do(b.c, "POST", fmt.Sprintf("/api/v1/installers/%d/macs/import", id), buf.String(), "Content-Type: "+mw.FormDataContentType())
	if r.StatusCode != 413 || !strings.Contains(string(r.body), "larger than 17 MiB") {
		t.Errorf("an 18 MB upload: %d %s", r.StatusCode, r.body)
	}
	l, _ := e.st.DB().Query("SELECT 1 FROM installer_macs WHERE mac = '0C110F000001'")
	if l.Next() {
		t.Error("the oversized upload was imported")
	}
	l.Close()
}

// TestActingSessionLimits: working as an installer cannot touch its API
// tokens, and logging out through the API ends the own session too.
func TestActingSessionLimits(t *testing.T) {
	e := newEnv(t, "sqlite")
	inst := e.token("demo-installer")
	e.do(nil, "PUT", "/api/v1/me/access-without-password", map[string]any{"enabled": true}, bearer(inst))
	b := e.browserLogin("demo-subdistributor")
	id := installerID(t, e, "demo-installer")
	if r := e.form(b.c, fmt.Sprintf("/users/installers/%d/access", id), url.Values{"csrf_token": {b.csrf}}); r.StatusCode != 303 {
		t.Fatalf("enter: %d", r.StatusCode)
	}
	acsrf := string(csrfRE.FindSubmatch(e.do(b.c, "GET", "/", nil).body)[1])
	if r := e.do(b.c, "GET", "/api/v1/tokens", nil); r.StatusCode != 403 {
		t.Errorf("acting session lists the installer's API tokens: %d", r.StatusCode)
	}
	var own string
	for _, c := range b.c.Jar.Cookies(mustURL(e.url)) {
		if c.Name == "gatehouse_session" {
			own = c.Value
		}
	}
	if own == "" {
		t.Fatal("no own session cookie")
	}
	if r := e.do(b.c, "POST", "/api/v1/auth/logout", nil, "X-CSRF-Token: "+acsrf); r.StatusCode != 204 {
		t.Fatalf("API logout while acting: %d %s", r.StatusCode, r.body)
	}
	// Replay the own session cookie the browser held: the server must have
	// ended that session too.
	if r := e.do(nil, "GET", "/api/v1/me", nil, "Cookie: gatehouse_session="+own); r.StatusCode != 401 {
		t.Errorf("the own session survives logging out while acting: %d", r.StatusCode)
	}
}

func mustURL(s string) *url.URL {
	u, err := url.Parse(s)
	if err != nil {
		panic(err)
	}
	return u
}

// TestJSONWithFormContentType: curl -d sends JSON with a form Content-Type;
// the API reads the body as JSON all the same.
func TestJSONWithFormContentType(t *testing.T) {
	e := newEnv(t, "sqlite")
	r := e.do(nil, "POST", "/api/v1/auth/login", `{"username":"demo-admin","password":"demo-password"}`, "Content-Type: application/x-www-form-urlencoded")
	if r.StatusCode != 200 {
		t.Fatalf("login with curl's default content type: %d %s", r.StatusCode, r.body)
	}
	tok := r.json(t)["token"].(string)
	r = e.do(nil, "POST", "/api/v1/tokens", `{"name":"curl"}`, bearer(tok), "Content-Type: application/x-www-form-urlencoded")
	if r.StatusCode != 201 {
		t.Errorf("token with curl's default content type: %d %s", r.StatusCode, r.body)
	}
}
