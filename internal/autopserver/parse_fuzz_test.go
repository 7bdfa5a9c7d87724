package autopserver

import (
	"bufio"
	"bytes"
	"net/http"
	"strings"
	"testing"
)

// FuzzParseRequest: the front door's parser never takes a request that
// net/http's server would read otherwise — every request it parses whole
// is one http.ReadRequest reads the same (method, path, HTTP/1.1, Host,
// credentials, If-None-Match, no body, keep-alive) and the server would
// not refuse (its header checks) — and it stops reading at the request's
// end. Its prefixes need more bytes (a request split by the network is not
// handed over for that alone).
//
//	go test -run XXX -fuzz FuzzParseRequest -fuzztime 60s ./internal/autopserver
func FuzzParseRequest(f *testing.F) {
	const ok = "GET /autop/0C1105000001.cfg HTTP/1.1\r\nHost: gatehouse.example\r\nAuthorization: Basic MEMxMTA1MDAwMDAxOmtleQ==\r\n\r\n"
	for _, s := range []string{
		ok,
		strings.Replace(ok, "GET", "HEAD", 1),
		strings.Replace(ok, "\r\n\r\n", "\r\nIf-None-Match: \"ab\"\r\nConnection: keep-alive\r\n\r\n", 1),
		ok + ok,
		strings.Replace(ok, "Host", "host", 1),
		strings.Replace(ok, "\r\n\r\n", "\r\nX-A: \t b \x80\r\n\r\n", 1),
		strings.Replace(ok, "\r\n\r\n", "\r\nContent-Length: 3\r\n\r\nabc", 1),
		strings.ReplaceAll(ok, "\r\n", "\n"),
		"GET /autop/",
		"GET /device/v1/connect HTTP/1.1\r\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var r leanRequest
		n, v := parseRequest(b, &r)
		if v != whole {
			if n != 0 {
				t.Fatalf("verdict %d with length %d", v, n)
			}
			return
		}
		if n <= 0 || n > len(b) {
			t.Fatalf("length %d of %d", n, len(b))
		}
		for k := 0; k < n; k++ {
			var p leanRequest
			if _, v := parseRequest(b[:k], &p); v != needMore {
				t.Fatalf("the prefix of %d bytes: verdict %d", k, v)
			}
		}
		req, err := http.ReadRequest(bufio.NewReader(bytes.NewReader(b[:n])))
		if err != nil {
			t.Fatalf("net/http cannot read %q: %v", b[:n], err)
		}
		method := http.MethodGet
		if r.head {
			method = http.MethodHead
		}
		hosts := req.Header.Values("Host")
		if req.Host != "" {
			hosts = append(hosts, req.Host) // ReadRequest moves Host out of the header
		}
		if req.Method != method || req.URL.Path != string(r.path) || req.URL.RawQuery != "" || req.RequestURI != string(r.path) ||
			req.Proto != "HTTP/1.1" || len(hosts) != 1 || req.Host != string(r.host) ||
			len(req.Header.Values("Authorization")) != 1 || req.Header.Get("Authorization") != string(r.auth) ||
			req.Header.Get("If-None-Match") != string(r.ifNoneMatch) || len(req.Header.Values("If-None-Match")) > 1 ||
			req.ContentLength != 0 || len(req.TransferEncoding) != 0 || req.Close ||
			"/autop/"+string(r.mac)+".cfg" != string(r.path) {
			t.Fatalf("net/http reads %q otherwise: %+v", b[:n], req)
		}
		for name, vs := range req.Header {
			for _, v := range vs {
				for i := 0; i < len(v); i++ {
					if c := v[i]; c < ' ' && c != '\t' || c == 0x7f {
						t.Fatalf("net/http's server refuses the value of %s: %q", name, v)
					}
				}
			}
		}
	})
}
