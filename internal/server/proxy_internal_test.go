package server

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"html"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestProxyHeadersTrustOnlyTheLastHop: the client controls the left of
// X-Forwarded-For; only the entry our proxy appended is believed.
func TestProxyHeadersTrustOnlyTheLastHop(t *testing.T) {
	var got string
	h := (&Server{cfg: Config{TrustProxy: true}}).proxyHeaders(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { got = r.RemoteAddr }))
	for xff, want := range map[string]string{
		"6.6.6.6, 203.0.113.9": "203.0.113.9:0",
		"203.0.113.9":          "203.0.113.9:0",
		"6.6.6.6, not-an-ip":   "192.0.2.1:1234", // unreadable: keep the connection's address
	} {
		req := httptest.NewRequest("GET", "/", nil)
		req.Header.Set("X-Forwarded-For", xff)
		h.ServeHTTP(httptest.NewRecorder(), req)
		if got != want {
			t.Errorf("X-Forwarded-For %q: client %s, want %s", xff, got, want)
		}
	}
	// Without --trust-proxy the header is ignored.
	h = (&Server{}).proxyHeaders(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { got = r.RemoteAddr }))
	req := httptest.NewRequest("GET", "/", nil)
	req.Header.Set("X-Forwarded-For", "6.6.6.6")
	h.ServeHTTP(httptest.NewRecorder(), req)
	if got != "192.0.2.1:1234" {
		t.Errorf("untrusted proxy header used: %s", got)
	}
}

// TestProxyHeadersLastLineOfForwardedFor: a proxy that adds its own
// X-Forwarded-For line (HAProxy's "option forwardfor") leaves the client's
// forged line first; the address is the last entry of the last line, or a
// client rotating forged addresses escapes the per-address login throttle.
func TestProxyHeadersLastLineOfForwardedFor(t *testing.T) {
	var got string
	h := (&Server{cfg: Config{TrustProxy: true}}).proxyHeaders(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { got = r.RemoteAddr }))
	req := httptest.NewRequest("GET", "/", nil)
	req.Header.Add("X-Forwarded-For", "6.6.6.6")
	req.Header.Add("X-Forwarded-For", "198.51.100.7, 203.0.113.9")
	h.ServeHTTP(httptest.NewRecorder(), req)
	if got != "203.0.113.9:0" {
		t.Errorf("two X-Forwarded-For lines: client %s, want 203.0.113.9:0 (the last entry the proxy appended)", got)
	}
}

// TestRemoteLocationStaysInTheSession: a device's redirect never leaves
// the Remote Control session's path (found by review: backslashes read as
// slashes by browsers; then dot segments, plain or as %2e).
func TestRemoteLocationStaysInTheSession(t *testing.T) {
	for loc, want := range map[string]string{
		"status":                 "/remote/T/status",
		"status?a=1#top":         "/remote/T/status?a=1#top",
		"../status":              "/remote/T/", // /remote/status
		"sub/page":               "/remote/T/sub/page",
		"?page=2":                "/remote/T/login?page=2",
		"/status":                "/remote/T/status",
		"http://10.0.0.5/status": "/remote/T/status",
		"//evil.example/x":       "/remote/T/x",
		"../../devices":          "/remote/T/",
		"../../../logout":        "/remote/T/",
		"/../../logout":          "/remote/T/",
		"%2e%2e/%2E%2E/logout":   "/remote/T/",
		"/.%2e/.%2e/logout":      "/remote/T/",
		"http://x/../../logout":  "/remote/T/",
		" //evil.example":        "/remote/T/",
		`\\evil.example`:         "/remote/T/",
		`\/evil.example`:         "/remote/T/",
		`/\evil.example`:         "/remote/T/",
		`http:\\evil.example`:    "/remote/T/",
		"javascript:alert(1)":    "/remote/T/",
		"mailto:x@example.com":   "/remote/T/",
		"/a\r\nSet-Cookie: x=1":  "/remote/T/",
		"/a\x01b":                "/remote/T/",
	} {
		if got := remoteLocation("/remote/T", "/remote/T/login", loc); got != want {
			t.Errorf("Location %q → %q, want %q", loc, got, want)
		}
	}
	// From a deeper page, relative ones resolve from there.
	if got := remoteLocation("/remote/T", "/remote/T/a/b", "../c"); got != "/remote/T/c" {
		t.Errorf("../c from /remote/T/a/b → %q", got)
	}
}

// deviceResponse is a device's answer to GET path with header h and body.
func deviceResponse(path string, h http.Header, body string) *http.Response {
	req := httptest.NewRequest("GET", path, nil)
	return &http.Response{StatusCode: 200, Header: h, Body: io.NopCloser(strings.NewReader(body)),
		ContentLength: int64(len(body)), Request: req}
}

func testView(sandbox, secure bool) remoteView {
	return remoteView{prefix: "/remote/T", reqPath: "/remote/T/page", secure: secure, sandbox: sandbox,
		origin: "http://portal.example", now: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
}

// TestRemoteResponseHeadersAllowList: of a device's response header only
// the allow-list reaches the browser (found by review: Clear-Site-Data
// logged the portal user out, Refresh sent the tab to another site,
// WWW-Authenticate raised a prompt in the portal's name).
func TestRemoteResponseHeadersAllowList(t *testing.T) {
	h := http.Header{}
	for k, v := range map[string]string{
		"Clear-Site-Data":              `"cookies", "storage"`,
		"Refresh":                      "0;url=https://evil.example/",
		"WWW-Authenticate":             `Basic realm="portal"`,
		"Proxy-Authenticate":           `Basic realm="portal"`,
		"Link":                         "<https://evil.example/x.css>; rel=stylesheet",
		"Content-Security-Policy":      "default-src *",
		"Access-Control-Allow-Origin":  "*",
		"Service-Worker-Allowed":       "/",
		"Strict-Transport-Security":    "max-age=63072000; includeSubDomains",
		"Alt-Svc":                      `h3=":443"`,
		"X-Frame-Options":              "ALLOWALL",
		"Permissions-Policy":           "camera=*",
		"Cross-Origin-Opener-Policy":   "unsafe-none",
		"Origin-Agent-Cluster":         "?0",
		"Accept-CH":                    "Sec-CH-UA-Full-Version-List",
		"NEL":                          `{"report_to":"x","max_age":1}`,
		"Report-To":                    `{"group":"x"}`,
		"Reporting-Endpoints":          `x="https://evil.example/r"`,
		"Speculation-Rules":            `"/rules.json"`,
		"Set-Login":                    "logged-out",
		"Server":                       "GoAhead",
		"X-Powered-By":                 "PHP",
		"Cache-Control":                "public, max-age=31536000",
		"Expires":                      "Thu, 01 Jan 2099 00:00:00 GMT",
		"Content-Type":                 "text/html; charset=GBK",
		"Content-Language":             "de",
		"Content-Length":               "4",
		"ETag":                         `"v1"`,
		"Last-Modified":                "Mon, 01 Jan 2024 00:00:00 GMT",
		"Content-Disposition":          `attachment; filename="../../etc/config.tgz"`,
		"Location":                     "https://evil.example/status",
		"X-Content-Type-Options":       "sniff",
		"Timing-Allow-Origin":          "*",
		"Cross-Origin-Resource-Policy": "cross-origin",
	} {
		h.Set(k, v)
	}
	resp := deviceResponse("/status", h, "body")
	if err := testView(true, false).filterResponse(resp); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"Content-Type":           "text/html; charset=GBK",
		"Content-Language":       "de",
		"Content-Length":         "4",
		"Etag":                   `"v1"`,
		"Last-Modified":          "Mon, 01 Jan 2024 00:00:00 GMT",
		"Content-Disposition":    `attachment; filename=config.tgz`,
		"Location":               "/remote/T/status",
		"Cache-Control":          "no-store",
		"X-Content-Type-Options": "nosniff",
		"Referrer-Policy":        "same-origin",
		"X-Frame-Options":        "SAMEORIGIN",
		"Content-Security-Policy": "sandbox allow-forms allow-same-origin allow-popups allow-downloads; script-src 'none'; " +
			"object-src 'none'; base-uri 'none'; form-action http://portal.example/remote/T/; frame-ancestors 'self'",
	}
	for k, v := range resp.Header {
		if want[k] == "" {
			t.Errorf("passed: %s: %q", k, v)
		} else if len(v) != 1 || v[0] != want[k] {
			t.Errorf("%s: %q, want %q", k, v, want[k])
		}
	}
	for k := range want {
		if resp.Header.Get(k) == "" {
			t.Errorf("missing: %s", k)
		}
	}
	if b, _ := io.ReadAll(resp.Body); string(b) != "body" {
		t.Errorf("body %q", b)
	}

	// On the separate origin the same allow-list, without the sandbox.
	h = http.Header{"Clear-Site-Data": {`"*"`}, "Refresh": {"0;url=/x"}, "Content-Type": {"text/html"}}
	resp = deviceResponse("/", h, "<meta http-equiv=refresh content=0>")
	if err := testView(false, false).filterResponse(resp); err != nil {
		t.Fatal(err)
	}
	if resp.Header.Get("Clear-Site-Data") != "" || resp.Header.Get("Refresh") != "" || strings.Contains(resp.Header.Get("Content-Security-Policy"), "sandbox") {
		t.Errorf("separate origin: %v", resp.Header)
	}
	if b, _ := io.ReadAll(resp.Body); string(b) != "<meta http-equiv=refresh content=0>" {
		t.Errorf("separate origin: its pages keep their meta (scripts run there anyway): %q", b)
	}
}

// TestRemoteDeviceCookiesStayInTheSession: a device's cookies are kept in
// the session's path, for the portal's host only, Lax at least, no longer
// than a session; the portal's names and __Host- are refused.
func TestRemoteDeviceCookiesStayInTheSession(t *testing.T) {
	h := http.Header{"Set-Cookie": {
		"sid=1; Path=/; Domain=example.com; SameSite=None; Secure; Max-Age=31536000",
		"strict=2; SameSite=Strict; HttpOnly; Expires=Thu, 01 Jan 2099 00:00:00 GMT",
		"__Host-x=3; Path=/; Secure",
		"__secure-y=4; Secure",
		SessionCookie + "=stolen; Path=/",
		RemoteCookie + "=stolen",
	}}
	for _, secure := range []bool{false, true} {
		resp := deviceResponse("/", http.Header{"Set-Cookie": h["Set-Cookie"]}, "")
		if err := testView(true, secure).filterResponse(resp); err != nil {
			t.Fatal(err)
		}
		got := resp.Header.Values("Set-Cookie")
		sec := ""
		if secure {
			sec = "; Secure"
		}
		want := []string{
			"sid=1; Path=/remote/T/; Max-Age=900" + sec + "; SameSite=Lax",
			"strict=2; Path=/remote/T/; Expires=Fri, 02 Jan 2026 03:19:05 GMT; HttpOnly" + sec + "; SameSite=Strict",
		}
		if secure {
			want = append(want, "__secure-y=4; Path=/remote/T/; Secure; SameSite=Lax")
		}
		if strings.Join(got, "\n") != strings.Join(want, "\n") {
			t.Errorf("secure %v:\n%s\nwant\n%s", secure, strings.Join(got, "\n"), strings.Join(want, "\n"))
		}
	}
}

// TestRemoteRequestHeadersAllowList: the device gets no credential of the
// portal and nothing of its URL, only the allow-listed headers, its own
// cookies, and Origin and Referer as its own.
func TestRemoteRequestHeadersAllowList(t *testing.T) {
	in := httptest.NewRequest("POST", "http://portal.example/remote/T/login", nil)
	for k, v := range map[string]string{
		"Cookie":           SessionCookie + "=s; dev=1; " + ActingCookie + "=a; other=2",
		"Authorization":    "Bearer portal-token",
		"X-CSRF-Token":     "csrf",
		"Origin":           "null",
		"Referer":          "http://portal.example/remote/T/index?x=1",
		"Accept":           "text/html",
		"Accept-Encoding":  "gzip, br",
		"Content-Type":     "application/x-www-form-urlencoded",
		"X-Forwarded-For":  "6.6.6.6",
		"Forwarded":        "for=6.6.6.6",
		"Sec-Fetch-Site":   "same-origin",
		"X-Requested-With": "XMLHttpRequest",
	} {
		in.Header.Set(k, v)
	}
	h := remoteRequestHeader(in, "/remote/T", "0C1105000001")
	want := http.Header{
		"Cookie":           {"dev=1; other=2"},
		"Origin":           {"http://0C1105000001"},
		"Referer":          {"http://0C1105000001/index?x=1"},
		"Accept":           {"text/html"},
		"Accept-Encoding":  {"identity"},
		"Content-Type":     {"application/x-www-form-urlencoded"},
		"X-Requested-With": {"XMLHttpRequest"},
	}
	if !reflect.DeepEqual(h, want) {
		t.Errorf("to the device:\n%v\nwant\n%v", h, want)
	}
	// A Referer of the portal itself, or another site, is not passed.
	for _, ref := range []string{"http://portal.example/devices/0C1105000001", "https://evil.example/remote/T/x"} {
		in.Header.Set("Referer", ref)
		in.Header.Set("Origin", "https://evil.example")
		if h := remoteRequestHeader(in, "/remote/T", "m"); h.Get("Referer") != "" || h.Get("Origin") != "" {
			t.Errorf("Referer %s: passed as %q, Origin %q", ref, h.Get("Referer"), h.Get("Origin"))
		}
	}
}

// rewriteEquiv runs page through the meta rewriter, read in pieces of n
// bytes (all at once when n is 0).
func rewriteEquiv(t testing.TB, page []byte, n int) []byte {
	var r io.Reader = bytes.NewReader(page)
	if n > 0 {
		r = &pieceReader{b: page, n: n}
	}
	out, err := io.ReadAll(newEquivRewriter(io.NopCloser(r)))
	if err != nil {
		t.Fatal(err)
	}
	return out
}

type pieceReader struct {
	b []byte
	n int
}

func (p *pieceReader) Read(b []byte) (int, error) {
	if len(p.b) == 0 {
		return 0, io.EOF
	}
	n := copy(b[:min(len(b), p.n)], p.b)
	p.b = p.b[n:]
	return n, nil
}

// TestRemoteMetaHTTPEquivNeutralised: a device page's <meta http-equiv>
// cannot refresh the tab, set a cookie or a policy on the portal's origin,
// however it is spelled; the legacy charset declaration keeps working.
func TestRemoteMetaHTTPEquivNeutralised(t *testing.T) {
	for in, want := range map[string]string{
		`<meta http-equiv="refresh" content="0;url=https://evil.example/">`:     `<meta data-equiv="refresh" content="0;url=https://evil.example/">`,
		`<META HTTP-EQUIV=Refresh CONTENT="0; URL=//evil.example">`:             `<META data-equiv=Refresh CONTENT="0; URL=//evil.example">`,
		`<meta http-equiv='set-cookie' content='x=1; Path=/'>`:                  `<meta data-equiv='set-cookie' content='x=1; Path=/'>`,
		`<meta http-equiv="Content-Security-Policy" content="sandbox">`:         `<meta data-equiv="Content-Security-Policy" content="sandbox">`,
		`<meta http-equiv="&#x72;efresh" content="0;url=//evil.example">`:       `<meta data-equiv="&#x72;efresh" content="0;url=//evil.example">`,
		"<meta\nhttp-equiv\n=\n\"refresh\">":                                    "<meta\ndata-equiv\n=\n\"refresh\">",
		`<meta http-equiv="content-type" content="text/html; charset=gb2312">`:  `<meta http-equiv="content-type" content="text/html; charset=gb2312">`,
		`<meta HTTP-EQUIV = 'Content-Type' content="text/html; charset=gbk">`:   `<meta HTTP-EQUIV = 'Content-Type' content="text/html; charset=gbk">`,
		`<meta http-equiv=content-type content="text/html">`:                    `<meta http-equiv=content-type content="text/html">`,
		`<meta http-equiv="content&#x2D;type" content="text/html">`:             `<meta http-equiv="content&#x2D;type" content="text/html">`,
		`<meta http-equiv="content-type refresh" content="0;url=//e">`:          `<meta data-equiv="content-type refresh" content="0;url=//e">`,
		`<meta http-equiv=content-type`:                                         `<meta data-equiv=content-type`, // ends in the tag
		`<!-- "<a title='--><meta http-equiv=refresh content=0;url=//e>'" -->`:  `<!-- "<a title='--><meta data-equiv=refresh content=0;url=//e>'" -->`,
		"<meta http-equ\x00iv=refresh>":                                         "<meta http-equ iv=refresh>",
		"\xfe\xff\x00<\x00m":                                                    "\xfe\xff < m",
		"<x \x1b$Bhttp\x1b(B-equiv=refresh>":                                    "<x  $Bhttp (B-equiv=refresh>",
		`<!DOCTYPE x [<!ENTITY e "&#60;meta">]><?xml-stylesheet href="x.xsl"?>`: `<!DOCTYPE x [<!entitX e "&#60;meta">]><?xml-stylesheeX href="x.xsl"?>`,
		"no markup at all": "no markup at all",
	} {
		for _, n := range []int{0, 1, 3, 7} {
			if got := string(rewriteEquiv(t, []byte(in), n)); got != want {
				t.Errorf("in pieces of %d: %q\n→ %q\nwant %q", n, in, got, want)
			}
		}
	}
	// Kept only when its value is told within the window.
	long := `<meta http-equiv="` + strings.Repeat(" ", equivWindow) + `content-type">`
	if got := string(rewriteEquiv(t, []byte(long), 5)); !strings.Contains(got, "data-equiv") {
		t.Errorf("a value past the window was kept: %q", got)
	}
}

// TestRemoteMetaRewriteOfResponses: the rewrite runs on sandboxed pages of
// any type a browser might parse as markup, not on images; a gzip page is
// decoded first, another encoding refused; an untyped page gets a type.
func TestRemoteMetaRewriteOfResponses(t *testing.T) {
	meta := `<meta http-equiv="refresh" content="0;url=//evil.example">`
	for _, tc := range []struct {
		ctype, enc string
		rewritten  bool
	}{
		{"text/html", "", true},
		{"application/xhtml+xml", "", true},
		{"image/svg+xml", "", true},
		{"text/plain", "", true},
		{"", "", true},
		{"nonsense", "", true},
		{`text/html; charset="utf-8`, "", true},
		{"image/png, text/html", "", false}, // unreadable: a download
		{"image/png", "", false},
		{"application/octet-stream", "", false},
		{"text/html", "gzip", true},
	} {
		body := meta
		if tc.enc == "gzip" {
			var b bytes.Buffer
			zw := gzip.NewWriter(&b)
			zw.Write([]byte(meta))
			zw.Close()
			body = b.String()
		}
		h := http.Header{}
		if tc.ctype != "" {
			h.Set("Content-Type", tc.ctype)
		}
		if tc.enc != "" {
			h.Set("Content-Encoding", tc.enc)
		}
		h.Set("Content-Length", strconv.Itoa(len(body)))
		resp := deviceResponse("/", h, body)
		if err := testView(true, false).filterResponse(resp); err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		if got := strings.Contains(string(b), "data-equiv"); got != tc.rewritten || (!got && string(b) != meta) {
			t.Errorf("%q %q: body %q", tc.ctype, tc.enc, b)
		}
		if resp.Header.Get("Content-Type") == "" {
			t.Errorf("%q: no type", tc.ctype)
		}
		if tc.enc == "gzip" && (resp.Header.Get("Content-Encoding") != "" || resp.Header.Get("Content-Length") != "") {
			t.Errorf("decoded page keeps %v", resp.Header)
		}
		if tc.enc == "" && resp.Header.Get("Content-Length") != strconv.Itoa(len(body)) {
			t.Errorf("%q: Content-Length %q, body %d", tc.ctype, resp.Header.Get("Content-Length"), len(b))
		}
	}
	resp := deviceResponse("/", http.Header{"Content-Type": {"text/html"}, "Content-Encoding": {"br"}}, "x")
	if err := testView(true, false).filterResponse(resp); err == nil {
		t.Error("a page in an encoding the rewrite cannot read was passed")
	}
}

// equivLeft matches what the rewriter may leave of "http-equiv": one whose
// value is given right after it.
var equivLeft = regexp.MustCompile(`^(?i)http-equiv[\t\n\f\r ]*=[\t\n\f\r ]*("[^"]*"|'[^']*'|[^\t\n\f\r >]*[\t\n\f\r >])`)

// FuzzEquivRewriter: however a page is split into reads, the rewrite is the
// same, keeps its length, leaves no NUL or ESC and no http-equiv but the
// charset declaration, and no XML entity or style sheet.
func FuzzEquivRewriter(f *testing.F) {
	for _, s := range []string{
		`<meta http-equiv="refresh" content="0;url=//evil.example">`,
		`<meta http-equiv="Content-Type" content="text/html; charset=gbk">`,
		`<meta http-equiv=content-type content=text/html>`,
		`<meta http-equiv = "&#99;ontent-type">`,
		"<meta http-equiv\x00=refresh>",
		`<!DOCTYPE x [<!ENTITY e "x">]><?xml-stylesheet href="a"?>`,
		`HTTP-EQUIVhttp-equivhttp-equiv="content-type"`,
		"\xffhttp-equiv=\"Content-tYpe\"", // found by the fuzzer (a bug of this test's)
	} {
		f.Add([]byte(s), uint8(1))
	}
	f.Fuzz(func(t *testing.T, page []byte, n uint8) {
		whole := rewriteEquiv(t, page, 0)
		if pieces := rewriteEquiv(t, page, int(n%19)+1); !bytes.Equal(whole, pieces) {
			t.Fatalf("in pieces of %d:\n%q\nwhole:\n%q", int(n%19)+1, pieces, whole)
		}
		if len(whole) != len(page) {
			t.Fatalf("length %d → %d", len(page), len(whole))
		}
		if bytes.ContainsAny(whole, "\x00\x1b") {
			t.Fatalf("NUL or ESC left: %q", whole)
		}
		lower := bytes.Clone(whole) // ASCII only: the same indexes
		for i, c := range lower {
			if 'A' <= c && c <= 'Z' {
				lower[i] = c + 'a' - 'A'
			}
		}
		if bytes.Contains(lower, []byte("<!entity")) || bytes.Contains(lower, []byte("xml-stylesheet")) {
			t.Fatalf("entity or style sheet left: %q", whole)
		}
		for i := 0; ; {
			j := bytes.Index(lower[i:], []byte("http-equiv"))
			if j < 0 {
				break
			}
			i += j
			m := equivLeft.FindSubmatch(whole[i:])
			if m == nil {
				t.Fatalf("http-equiv left at %d: %q", i, whole)
			}
			v := strings.TrimRight(string(m[1]), "\t\n\f\r >")
			if len(v) > 0 && (v[0] == '"' || v[0] == '\'') {
				v = v[1 : len(v)-1]
			}
			if !strings.EqualFold(html.UnescapeString(v), "content-type") {
				t.Fatalf("http-equiv=%q left: %q", v, whole)
			}
			i += len("http-equiv")
		}
	})
}

// TestRemoteTrailersAndEarlyHintsDropped: a device's chunked trailer is not
// passed, and an informational answer (Early Hints' Link) is refused.
func TestRemoteTrailersAndEarlyHintsDropped(t *testing.T) {
	proxy := func(raw string) *http.Response {
		rp := &httputil.ReverseProxy{
			Rewrite: func(pr *httputil.ProxyRequest) { pr.Out.URL.Scheme, pr.Out.URL.Host = "http", "device" },
			Transport: roundTripper(func(req *http.Request) (*http.Response, error) {
				return http.ReadResponse(bufio.NewReader(strings.NewReader(raw)), req)
			}),
			ModifyResponse: testView(true, false).filterResponse,
			ErrorHandler:   func(w http.ResponseWriter, r *http.Request, err error) { w.WriteHeader(http.StatusBadGateway) },
		}
		rec := httptest.NewRecorder()
		rp.ServeHTTP(rec, httptest.NewRequest("GET", "/remote/T/x", nil))
		return rec.Result()
	}
	res := proxy("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTrailer: Clear-Site-Data\r\nContent-Type: text/plain\r\n\r\n" +
		"2\r\nok\r\n0\r\nClear-Site-Data: \"*\"\r\nRefresh: 0;url=//evil.example\r\n\r\n")
	b, _ := io.ReadAll(res.Body)
	if string(b) != "ok" || len(res.Trailer) != 0 || res.Header.Get("Trailer") != "" {
		t.Errorf("trailer passed: %q %v %v", b, res.Trailer, res.Header)
	}
	for k := range res.Header {
		if strings.HasPrefix(k, http.TrailerPrefix) {
			t.Errorf("trailer passed: %s", k)
		}
	}
	if res := proxy("HTTP/1.1 103 Early Hints\r\nLink: <https://evil.example/>; rel=preconnect\r\n\r\n"); res.StatusCode != 502 || res.Header.Get("Link") != "" {
		t.Errorf("early hints: %d %v", res.StatusCode, res.Header)
	}
}

type roundTripper func(*http.Request) (*http.Response, error)

func (f roundTripper) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }
