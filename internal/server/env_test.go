package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/autopserver"

	"github.com/gatehouse-dev/gatehouse/internal/auth"
	"github.com/gatehouse-dev/gatehouse/internal/demo"
	"github.com/gatehouse-dev/gatehouse/internal/mail"
	"github.com/gatehouse-dev/gatehouse/internal/mail/mailtest"
	"github.com/gatehouse-dev/gatehouse/internal/model"
	"github.com/gatehouse-dev/gatehouse/internal/server"
	"github.com/gatehouse-dev/gatehouse/internal/store"
	"github.com/gatehouse-dev/gatehouse/internal/testutil"
)

const demoPassword = "demo-password"

// env is a running server on a real database holding a small demo data set.
type env struct {
	t     testing.TB
	st    *store.Store
	auth  *auth.Service
	srv   *server.Server
	ts    *httptest.Server
	front *autopserver.FrontDoor // ts's listener
	url   string
	log   *bytes.Buffer
	mail  mail.Sender
	smtpd *mailtest.Server
}

func newEnv(t testing.TB, backend string) *env {
	t.Helper()
	st := testutil.NewStore(t, backend)
	if _, err := demo.Load(context.Background(), st, demo.Options{Password: demoPassword, Users: 300, Devices: 200, Seed: 7}, io.Discard); err != nil {
		t.Fatal(err)
	}
	var logBuf bytes.Buffer
	log := slog.New(slog.NewTextHandler(&logBuf, nil))
	au := &auth.Service{Store: st, Config: auth.DefaultConfig, Log: log}
	// Mail goes through a real SMTP server in process.
	smtpd := mailtest.Start(t)
	mailer, err := mail.NewSMTP(smtpd.Config())
	if err != nil {
		t.Fatal(err)
	}
	srv, err := server.New(server.Config{}, st, au, mailer, log)
	if err != nil {
		t.Fatal(err)
	}
	ts, front := serveNode(t, srv)
	return &env{t: t, st: st, auth: au, srv: srv, ts: ts, front: front, url: ts.URL, log: &logBuf, mail: mailer, smtpd: smtpd}
}

// serveNode serves srv on loopback as `gatehouse serve` does (Server.Run):
// behind the AutoP front door, so that devices' fetches take the path they
// take in production.
func serveNode(t testing.TB, srv *server.Server) (*httptest.Server, *autopserver.FrontDoor) {
	t.Helper()
	ts := httptest.NewUnstartedServer(srv.Handler())
	front := srv.FrontDoor(ts.Listener, nil)
	ts.Listener = front
	ts.Start()
	t.Cleanup(ts.Close)
	return ts, front
}

// resp is a response with its body read.
type resp struct {
	*http.Response
	body []byte
}

func (r *resp) json(t testing.TB) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.body, &m); err != nil {
		t.Fatalf("response is not JSON (%d): %s", r.StatusCode, r.body)
	}
	return m
}

// errorCode returns error.code of a JSON error body.
func (r *resp) errorCode(t testing.TB) string {
	t.Helper()
	e, _ := r.json(t)["error"].(map[string]any)
	code, _ := e["code"].(string)
	return code
}

func (r *resp) errorField(t testing.TB, field string) string {
	t.Helper()
	e, _ := r.json(t)["error"].(map[string]any)
	f, _ := e["fields"].(map[string]any)
	s, _ := f[field].(string)
	return s
}

// do sends a request with optional JSON body and headers ("K: V").
func (e *env) do(c *http.Client, method, path string, body any, headers ...string) *resp {
	e.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	default:
		js, _ := json.Marshal(b)
		rd = bytes.NewReader(js)
	}
	req, err := http.NewRequest(method, e.url+path, rd)
	if err != nil {
		e.t.Fatal(err)
	}
	for _, h := range headers {
		k, v, _ := strings.Cut(h, ": ")
		req.Header.Set(k, v)
	}
	if c == nil {
		c = noRedirect(nil)
	}
	res, err := c.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return &resp{Response: res, body: b}
}

func noRedirect(jar http.CookieJar) *http.Client {
	return &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

// token logs in through the API and returns the bearer token.
func (e *env) token(username string) string {
	e.t.Helper()
	r := e.do(nil, "POST", "/api/v1/auth/login", map[string]string{"username": username, "password": demoPassword})
	if r.StatusCode != 200 {
		e.t.Fatalf("login %s: %d %s", username, r.StatusCode, r.body)
	}
	return r.json(e.t)["token"].(string)
}

func bearer(tok string) string { return "Authorization: Bearer " + tok }

// browser is a cookie-jar client signed in through the login form, with the
// CSRF token of its session.
type browser struct {
	c    *http.Client
	csrf string
}

var csrfRE = regexp.MustCompile(`name="csrf_token" value="([^"]+)"`)

func (e *env) browserLogin(username string) *browser {
	e.t.Helper()
	jar, _ := cookiejar.New(nil)
	c := noRedirect(jar)
	r := e.form(c, "/login", url.Values{"username": {username}, "password": {demoPassword}})
	if r.StatusCode != http.StatusSeeOther {
		e.t.Fatalf("form login %s: %d %s", username, r.StatusCode, r.body)
	}
	home := e.do(c, "GET", "/", nil)
	m := csrfRE.FindSubmatch(home.body)
	if m == nil {
		e.t.Fatalf("no CSRF token on the home page: %s", home.body)
	}
	return &browser{c: c, csrf: string(m[1])}
}

func (e *env) form(c *http.Client, path string, v url.Values) *resp {
	e.t.Helper()
	return e.do(c, "POST", path, v.Encode(), "Content-Type: application/x-www-form-urlencoded")
}

func sysCtx() context.Context { return model.WithActor(context.Background(), model.System) }
