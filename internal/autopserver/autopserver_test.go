package autopserver_test

import (
	"encoding/base64"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/deviceauth"
)

// The fetch's fast paths (a MAC already normal, credentials decoded on the
// stack, header values prepared once per file) answer exactly as the
// general ones.
func TestAutoPFetchFastPaths(t *testing.T) {
	h, _, devs := benchHandler(t)
	d := devs[0]
	fetch := func(method, path, auth string, hdr ...string) *httptest.ResponseRecorder {
		r := httptest.NewRequest(method, path, nil)
		if auth != "" {
			r.Header.Set("Authorization", auth)
		}
		for i := 0; i+1 < len(hdr); i += 2 {
			r.Header.Set(hdr[i], hdr[i+1])
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		return w
	}
	basic := func(user, key string) string {
		return "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+key))
	}
	lower := strings.ToLower(d.mac)
	dashes := lower[0:2] + "-" + lower[2:4] + "-" + lower[4:6] + "-" + lower[6:8] + "-" + lower[8:10] + "-" + lower[10:12]

	ok := fetch(http.MethodGet, "/autop/"+d.mac+".cfg", basic(d.mac, d.key))
	if ok.Code != 200 || !strings.HasPrefix(ok.Body.String(), "# Gatehouse AutoP "+d.mac) {
		t.Fatalf("fetch: %d %q", ok.Code, ok.Body)
	}
	etag := ok.Header().Get("Etag")
	for name, want := range map[string]string{"Cache-Control": "no-cache", "Content-Type": "text/plain; charset=utf-8",
		"X-Gatehouse-Config-Version": strings.Trim(etag, `"`)} {
		if got := ok.Header().Get(name); got != want || etag == "" {
			t.Errorf("%s: %q, want %q (Etag %q)", name, got, want, etag)
		}
	}
	if got := ok.Header().Get("Content-Length"); got != strconv.Itoa(ok.Body.Len()) {
		t.Errorf("Content-Length %s for %d bytes", got, ok.Body.Len())
	}
	// A response's header values are the file's, shared: adding to one must not
	// change the next.
	ok.Header().Add("Etag", "x")

	for _, c := range []struct {
		name, method, path, auth string
		hdr                      []string
		code                     int
	}{
		{"same again", http.MethodGet, "/autop/" + d.mac + ".cfg", basic(d.mac, d.key), nil, 200},
		{"lower-case path and user", http.MethodGet, "/autop/" + lower + ".cfg", basic(lower, d.key), nil, 200},
		{"dashes in the user", http.MethodGet, "/autop/" + d.mac + ".cfg", basic(dashes, d.key), nil, 200},
		{"lower-case scheme", http.MethodGet, "/autop/" + d.mac + ".cfg", "basic " + base64.StdEncoding.EncodeToString([]byte(d.mac+":"+d.key)), nil, 200},
		{"not modified", http.MethodGet, "/autop/" + d.mac + ".cfg", basic(d.mac, d.key), []string{"If-None-Match", `"other", W/` + etag}, 304},
		{"star", http.MethodGet, "/autop/" + d.mac + ".cfg", basic(d.mac, d.key), []string{"If-None-Match", "*"}, 304},
		{"other tag", http.MethodGet, "/autop/" + d.mac + ".cfg", basic(d.mac, d.key), []string{"If-None-Match", `"other"`}, 200},
		{"no credentials", http.MethodGet, "/autop/" + d.mac + ".cfg", "", nil, 401},
		{"no colon", http.MethodGet, "/autop/" + d.mac + ".cfg", "Basic " + base64.StdEncoding.EncodeToString([]byte(d.mac+d.key)), nil, 401},
		{"bad base64", http.MethodGet, "/autop/" + d.mac + ".cfg", "Basic !!!", nil, 401},
		{"another MAC as user", http.MethodGet, "/autop/" + d.mac + ".cfg", basic(devs[1].mac, d.key), nil, 401},
		{"another device's key", http.MethodGet, "/autop/" + d.mac + ".cfg", basic(d.mac, devs[1].key), nil, deviceauth.RefusedStatus},
		{"unknown MAC", http.MethodGet, "/autop/0C1105FFFFFF.cfg", basic("0C1105FFFFFF", d.key), nil, deviceauth.RefusedStatus},
		{"not a MAC", http.MethodGet, "/autop/0C1105FFFFFG.cfg", basic("0C1105FFFFFG", d.key), nil, 404},
	} {
		w := fetch(c.method, c.path, c.auth, c.hdr...)
		if w.Code != c.code {
			t.Errorf("%s: %d %q, want %d", c.name, w.Code, w.Body, c.code)
			continue
		}
		switch c.code {
		case 200:
			if w.Body.String() != ok.Body.String() || w.Header().Get("Etag") != etag || len(w.Header()["Etag"]) != 1 {
				t.Errorf("%s: %v %q", c.name, w.Header(), w.Body)
			}
		case 304:
			if w.Body.Len() != 0 || w.Header().Get("Etag") != etag || w.Header().Get("Content-Length") != "" {
				t.Errorf("%s: %v %q", c.name, w.Header(), w.Body)
			}
		case 401:
			if w.Header().Get("WWW-Authenticate") == "" {
				t.Errorf("%s: no WWW-Authenticate", c.name)
			}
		}
	}
	// HEAD answers the headers of GET without the body (the route is GET's,
	// which ServeMux also serves to HEAD).
	head := fetch(http.MethodHead, "/autop/"+d.mac+".cfg", basic(d.mac, d.key))
	if head.Code != 200 || head.Body.Len() != 0 || head.Header().Get("Content-Length") != ok.Header().Get("Content-Length") {
		t.Errorf("HEAD: %d %v %q", head.Code, head.Header(), head.Body)
	}
}
