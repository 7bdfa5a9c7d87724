package server_test

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/auth"
	"github.com/gatehouse-dev/gatehouse/internal/demo"
	"github.com/gatehouse-dev/gatehouse/internal/mail"
	"github.com/gatehouse-dev/gatehouse/internal/mail/mailtest"
	"github.com/gatehouse-dev/gatehouse/internal/server"
	"github.com/gatehouse-dev/gatehouse/internal/testutil"
)

// newRemoteOriginEnv is a gateway env whose Remote Control is served on a
// separate origin, http://remote.localhost:<port>, by the same server.
func newRemoteOriginEnv(t *testing.T) (*env, string) {
	t.Helper()
	st := testutil.NewStore(t, "sqlite")
	if _, err := demo.Load(context.Background(), st, demo.Options{Password: demoPassword, Users: 300, Devices: 200, Seed: 7}, io.Discard); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	remote := "http://remote.localhost:" + strconv.Itoa(port)
	var logBuf syncBuffer
	log := slog.New(slog.NewTextHandler(&logBuf, nil))
	au := &auth.Service{Store: st, Config: auth.DefaultConfig, Log: log}
	smtpd := mailtest.Start(t)
	mailer, err := mail.NewSMTP(smtpd.Config())
	if err != nil {
		t.Fatal(err)
	}
	srv, err := server.New(server.Config{Gateway: gwOptions, PublicURL: "http://" + ln.Addr().String(), RemoteURL: remote}, st, au, mailer, log)
	if err != nil {
		t.Fatal(err)
	}
	ts := &httptest.Server{Listener: ln, Config: &http.Server{Handler: srv.Handler()}}
	ts.Start()
	t.Cleanup(ts.Close)
	t.Cleanup(func() { srv.Gateway().Close() })
	return &env{t: t, st: st, auth: au, srv: srv, ts: ts, url: ts.URL, log: &logBuf.Buffer, mail: mailer, smtpd: smtpd}, remote
}

// remoteClient talks to the remote origin's host name on e's listener.
func remoteClient(e *env, follow bool) *http.Client {
	jar, _ := cookiejar.New(nil)
	addr := e.ts.Listener.Addr().String()
	c := &http.Client{Jar: jar, Transport: &http.Transport{DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, network, addr)
	}}}
	if !follow {
		c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	}
	return c
}

func get(t *testing.T, c *http.Client, u string) (*http.Response, string) {
	t.Helper()
	res, err := c.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(res.Body)
	res.Body.Close()
	return res, string(b)
}

// TestRemoteControlOnASeparateOrigin: with --remote-url a session opens on
// its own host name: the link's handoff code works once and binds the
// session to that browser; the host serves nothing of the portal, and the
// device's pages keep their scripts (no sandbox there).
func TestRemoteControlOnASeparateOrigin(t *testing.T) {
	e, remote := newRemoteOriginEnv(t)
	subID := e.accountID(t, "demo-subdistributor")
	mac := e.devMAC(t, "a.subdistributor_id = "+strconv.FormatInt(subID, 10)+" AND p.kind = 'community' AND NOT d.online")
	startSim(t, e, mac)
	r := e.do(nil, "POST", "/api/v1/devices/"+mac+"/remote-sessions", nil, bearer(e.token("demo-subdistributor")))
	link := r.json(t)["url"].(string)
	if r.StatusCode != 201 || !strings.HasPrefix(link, remote+"/remote/") || !strings.Contains(link, "?handoff=") {
		t.Fatalf("session: %d %s", r.StatusCode, r.body)
	}
	browser := remoteClient(e, true)
	res, body := get(t, browser, link)
	if res.StatusCode != 200 || !strings.Contains(body, `name="password"`) || strings.Contains(res.Request.URL.RawQuery, "handoff") {
		t.Fatalf("first use of the link: %d at %s\n%s", res.StatusCode, res.Request.URL, body)
	}
	if csp := res.Header.Get("Content-Security-Policy"); strings.Contains(csp, "sandbox") {
		t.Errorf("the separate origin sandboxes the device's pages: %s", csp)
	}
	u, _ := url.Parse(link)
	page := remote + u.Path
	if res, _ := get(t, browser, page+"status"); res.StatusCode != 200 {
		t.Errorf("the claiming browser's next request: %d", res.StatusCode)
	}
	// The link works once; another browser has no way in.
	if res, body := get(t, remoteClient(e, true), link); res.StatusCode != 403 || !strings.Contains(body, "used already") {
		t.Errorf("second use of the link: %d %s", res.StatusCode, body)
	}
	if res, _ := get(t, remoteClient(e, true), page); res.StatusCode != 404 {
		t.Errorf("a browser without the claim: %d", res.StatusCode)
	}
	// Nothing of the portal on the Remote Control host.
	for _, p := range []string{"/", "/login", "/api/v1/me", "/remote/"} {
		if res, _ := get(t, browser, remote+p); res.StatusCode != 404 {
			t.Errorf("%s on the Remote Control host: %d", p, res.StatusCode)
		}
	}
	// The session ends on time there too.
	e.st.SetClock(func() time.Time { return time.Now().Add(time.Hour) })
	defer e.st.SetClock(time.Now)
	if res, body := get(t, browser, page); res.StatusCode != 403 || !strings.Contains(body, "expired") {
		t.Errorf("expired session: %d %s", res.StatusCode, body)
	}
}
