package autopserver_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/autopserver"
)

// frontDoorPair serves the same routes twice on loopback: plain net/http
// (ref) and behind a front door (lean), each with an AutoP server of its
// own (own cache, own limiter) on one store.
type frontDoorPair struct {
	ref, lean string       // addresses
	answered  atomic.Int64 // answers the front door gave itself
	devs      []benchDevice
}

func newFrontDoorPair(t *testing.T) *frontDoorPair {
	t.Helper()
	st, devs := benchStore(t)
	p := &frontDoorPair{devs: devs}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	serve := func(ln net.Listener, a *autopserver.Server) {
		mux := http.NewServeMux()
		mux.Handle("GET /autop/{file}", a)
		mux.HandleFunc("GET /other", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "another route\n") })
		srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 120 * time.Second}
		go srv.Serve(ln)
		t.Cleanup(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			srv.Shutdown(ctx)
			a.Close(ctx)
		})
	}
	listen := func() net.Listener {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		return ln
	}
	ln := listen()
	p.ref = ln.Addr().String()
	serve(ln, autopserver.New(st, log, true, nil))
	lean := autopserver.New(st, log, true, nil)
	fd := lean.FrontDoor(listen(), autopserver.FrontDoorOptions{PassHost: "remote.example",
		Observe: func(autopserver.LeanAnswer) { p.answered.Add(1) }})
	p.lean = fd.Addr().String()
	serve(fd, lean)
	return p
}

var dateLine = regexp.MustCompile(`(?m)^Date: [^\r\n]*\r$`)

// exchange writes raw on a new connection and reads the answers to
// methods (one a request): the bytes received, the Date lines blanked,
// and whether the server then closed the connection (waiting for it
// longer when it should).
func exchange(t *testing.T, addr, raw string, methods []string, closes bool) (string, bool) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(c, raw); err != nil {
		t.Fatal(err)
	}
	var got bytes.Buffer
	br := bufio.NewReader(io.TeeReader(c, &got))
	for _, m := range methods {
		res, err := http.ReadResponse(br, &http.Request{Method: m})
		if err != nil {
			t.Fatalf("%s: reading an answer: %v (so far %q)", addr, err, got.String())
		}
		io.Copy(io.Discard, res.Body)
		res.Body.Close()
	}
	// Closed: EOF. Open: nothing more within a moment.
	wait := 100 * time.Millisecond
	if closes {
		wait = 5 * time.Second
	}
	c.SetReadDeadline(time.Now().Add(wait))
	_, err = br.ReadByte()
	var ne net.Error
	closed := errors.Is(err, io.EOF) || errors.Is(err, net.ErrClosed) || (err != nil && !(errors.As(err, &ne) && ne.Timeout()))
	if err == nil {
		t.Fatalf("%s: more than %d answers: %q", addr, len(methods), got.String())
	}
	return dateLine.ReplaceAllString(got.String()[:got.Len()-br.Buffered()], "Date: (now)\r"), closed
}

// The front door answers every request exactly as net/http does: the
// ones it serves itself (byte for byte but the Date), and the ones it
// hands over (through the connection it read them from).
func TestFrontDoorAnswersAsNetHTTP(t *testing.T) {
	p := newFrontDoorPair(t)
	d, d2 := p.devs[0], p.devs[1]
	basic := func(user, key string) string {
		return "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+key))
	}
	get := func(mac, auth string, extra ...string) string {
		s := "GET /autop/" + mac + ".cfg HTTP/1.1\r\nHost: gatehouse.example\r\nUser-Agent: intercom/1.0\r\n"
		if auth != "" {
			s += "Authorization: " + auth + "\r\n"
		}
		for _, h := range extra {
			s += h + "\r\n"
		}
		return s + "\r\n"
	}
	ok, ok2 := get(d.mac, basic(d.mac, d.key)), get(d2.mac, basic(d2.mac, d2.key))
	// The ETag, from net/http.
	res, _ := exchange(t, p.ref, ok, []string{"GET"}, false)
	etag := regexp.MustCompile(`Etag: ("[0-9a-f]+")`).FindStringSubmatch(res)
	if etag == nil {
		t.Fatalf("no ETag in %q", res)
	}

	type exchangeCase struct {
		name    string
		raw     string
		methods []string // one per answer
		lean    int      // answers the front door gives itself
		closes  bool
	}
	cases := []exchangeCase{
		{"ok", ok, []string{"GET"}, 1, false},
		{"head", strings.Replace(ok, "GET", "HEAD", 1), []string{"HEAD"}, 1, false},
		{"304", get(d.mac, basic(d.mac, d.key), "If-None-Match: "+etag[1]), []string{"GET"}, 1, false},
		{"304 weak in a list", get(d.mac, basic(d.mac, d.key), `If-None-Match: "x", W/`+etag[1]), []string{"GET"}, 1, false},
		{"304 star", get(d.mac, basic(d.mac, d.key), "If-None-Match: *"), []string{"GET"}, 1, false},
		{"another version", get(d.mac, basic(d.mac, d.key), `If-None-Match: "0000"`), []string{"GET"}, 1, false},
		{"keep-alive said", get(d.mac, basic(d.mac, d.key), "Connection: Keep-Alive"), []string{"GET"}, 1, false},
		{"lower-case header names", strings.Replace(ok, "Authorization:", "authorization:", 1), []string{"GET"}, 1, false},
		{"wrong key", get(d.mac, basic(d.mac, d2.key)), []string{"GET"}, 0, false},
		{"unknown MAC", get("0C1105FFFFFE", basic("0C1105FFFFFE", d.key)), []string{"GET"}, 0, false},
		{"another device's credentials", get(d.mac, basic(d2.mac, d2.key)), []string{"GET"}, 0, false},
		{"malformed key", get(d.mac, basic(d.mac, "short")), []string{"GET"}, 0, false},
		{"malformed credentials", get(d.mac, "Basic !!!"), []string{"GET"}, 0, false},
		{"bearer", get(d.mac, "Bearer x"), []string{"GET"}, 0, false},
		{"missing auth", get(d.mac, ""), []string{"GET"}, 0, false},
		{"two auth", get(d.mac, basic(d.mac, d.key), "Authorization: "+basic(d.mac, d.key)), []string{"GET"}, 0, false},
		{"lower-case MAC", get(strings.ToLower(d.mac), basic(d.mac, d.key)), []string{"GET"}, 0, false},
		{"malformed path", get("zz", basic(d.mac, d.key)), []string{"GET"}, 0, false},
		{"another file", strings.Replace(ok, ".cfg", ".txt", 1), []string{"GET"}, 0, false},
		{"query", strings.Replace(ok, ".cfg", ".cfg?x=1", 1), []string{"GET"}, 0, false},
		{"another route", "GET /other HTTP/1.1\r\nHost: a\r\n\r\n", []string{"GET"}, 0, false},
		{"POST", strings.Replace(ok, "GET", "POST", 1), []string{"POST"}, 0, false},
		{"missing host", strings.Replace(ok, "Host: gatehouse.example\r\n", "", 1), []string{"GET"}, 0, true},
		{"two hosts", get(d.mac, basic(d.mac, d.key), "Host: b.example"), []string{"GET"}, 0, true},
		{"bad host", strings.Replace(ok, "gatehouse.example", "a b", 1), []string{"GET"}, 0, true},
		{"pass host", strings.Replace(ok, "gatehouse.example", "remote.example", 1), []string{"GET"}, 0, false},
		{"NUL in a header", get(d.mac, basic(d.mac, d.key), "X-A: a\x00b"), []string{"GET"}, 0, true},
		{"space before colon", get(d.mac, basic(d.mac, d.key), "X-A : b"), []string{"GET"}, 0, true},
		{"folded header", get(d.mac, basic(d.mac, d.key), "X-A: a", " b"), []string{"GET"}, 0, false},
		{"bare LF", strings.ReplaceAll(ok, "\r\n", "\n"), []string{"GET"}, 0, false},
		{"oversized headers", get(d.mac, basic(d.mac, d.key), "X-Big: "+strings.Repeat("b", 6000)), []string{"GET"}, 0, false},
		{"many headers", get(d.mac, basic(d.mac, d.key), strings.Repeat("X-N: n\r\n", 70)+"X-End: e"), []string{"GET"}, 0, false},
		{"HTTP/1.0", strings.Replace(ok, "HTTP/1.1", "HTTP/1.0", 1), []string{"GET"}, 0, true},
		{"HTTP/1.0 keep-alive", strings.Replace(get(d.mac, basic(d.mac, d.key), "Connection: keep-alive"), "HTTP/1.1", "HTTP/1.0", 1), []string{"GET"}, 0, false},
		{"connection close", get(d.mac, basic(d.mac, d.key), "Connection: close"), []string{"GET"}, 0, true},
		{"chunked with body", get(d.mac, basic(d.mac, d.key), "Transfer-Encoding: chunked") + "5\r\nhello\r\n0\r\n\r\n", []string{"GET"}, 0, false},
		{"with body", get(d.mac, basic(d.mac, d.key), "Content-Length: 5") + "hello", []string{"GET"}, 0, false},
		{"expect", get(d.mac, basic(d.mac, d.key), "Expect: 100-continue", "Content-Length: 0"), []string{"GET"}, 0, false},
		{"pipelined", ok + ok2 + get(d.mac, basic(d.mac, d.key), "If-None-Match: "+etag[1]) + strings.Replace(ok2, "GET", "HEAD", 1),
			[]string{"GET", "GET", "GET", "HEAD"}, 4, false},
		{"pipelined, a refusal between", ok + get(d.mac, basic(d.mac, d2.key)) + ok2, []string{"GET", "GET", "GET"}, 1, false},
		{"pipelined, another route after", ok + "GET /other HTTP/1.1\r\nHost: a\r\n\r\n" + ok2, []string{"GET", "GET", "GET"}, 1, false},
		{"pipelined, close last", ok + get(d2.mac, basic(d2.mac, d2.key), "Connection: close"), []string{"GET", "GET"}, 1, true},
		{"pipelined, a half request last", ok + "GET /autop/", []string{"GET"}, 1, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			want, wantClosed := exchange(t, p.ref, c.raw, c.methods, c.closes)
			before := p.answered.Load()
			got, gotClosed := exchange(t, p.lean, c.raw, c.methods, c.closes)
			if got != want {
				t.Errorf("front door:\n%q\nnet/http:\n%q", got, want)
			}
			if gotClosed != wantClosed || gotClosed != c.closes {
				t.Errorf("closed: front door %v, net/http %v, want %v", gotClosed, wantClosed, c.closes)
			}
			if n := p.answered.Load() - before; n != int64(c.lean) {
				t.Errorf("the front door answered %d itself, want %d", n, c.lean)
			}
		})
	}

	// One keep-alive connection: files, then another route, then files
	// again (net/http's now).
	t.Run("keep-alive", func(t *testing.T) {
		seq := []string{ok, ok2, "GET /other HTTP/1.1\r\nHost: a\r\n\r\n", ok}
		conv := func(addr string) string {
			c, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			c.SetDeadline(time.Now().Add(10 * time.Second))
			br := bufio.NewReader(c)
			var all strings.Builder
			for _, raw := range seq {
				io.WriteString(c, raw)
				res, err := http.ReadResponse(br, nil)
				if err != nil {
					t.Fatal(err)
				}
				var b bytes.Buffer
				res.Write(&b)
				all.WriteString(b.String())
			}
			return dateLine.ReplaceAllString(all.String(), "Date: (now)\r")
		}
		want := conv(p.ref)
		before := p.answered.Load()
		if got := conv(p.lean); got != want {
			t.Errorf("front door:\n%q\nnet/http:\n%q", got, want)
		}
		if n := p.answered.Load() - before; n != 2 {
			t.Errorf("the front door answered %d itself, want 2", n)
		}
	})
}
