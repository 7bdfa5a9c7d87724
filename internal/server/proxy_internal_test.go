package server

import (
	"net/http"
	"net/http/httptest"
	"testing"
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
