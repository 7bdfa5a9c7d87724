package devicesim

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/hashicorp/yamux"
)

// fakeGW is a minimal server side of docs/device-protocol.md, written from
// that page, so the simulator's conformance is tested without the real
// gateway (the end-to-end tests against gatehouse are in server_test.go).
type fakeGW struct {
	t         testing.TB
	ts        *httptest.Server
	heartbeat int

	mu         sync.Mutex
	registered map[string]bool
	keys       map[string]string // bound key per MAC (trust on first use)
	conns      map[string]*fakeConn
	resets     map[string]string // command id → mac, for reset acks
	refuse     []int             // statuses to answer the next connects with
	retryAfter []string          // their Retry-After headers, in the same order ("" or missing: none)
	mute       bool              // after welcome, never answer
	autop      map[string]*autopFile
	autopLog   []autopReq
	connects   []connectReq
	connCh     chan *fakeConn
}

type autopFile struct{ version, body string }

type autopReq struct {
	mac, key, ifNoneMatch string
	status                int
	at                    time.Time
}

type connectReq struct {
	mac, key, remote string
	at               time.Time
	status           int
}

type fakeConn struct {
	gw     *fakeGW
	mac    string
	key    string
	remote string
	hello  map[string]any
	ws     *websocket.Conn
	sess   *yamux.Session
	ctrl   *yamux.Stream
	msgs   chan map[string]any
	closed chan struct{}
	wmu    sync.Mutex
}

func newFakeGW(t testing.TB, macs ...string) *fakeGW {
	g := &fakeGW{t: t, heartbeat: 30, registered: map[string]bool{}, keys: map[string]string{},
		conns: map[string]*fakeConn{}, resets: map[string]string{}, autop: map[string]*autopFile{},
		connCh: make(chan *fakeConn, 100)}
	for _, m := range macs {
		g.registered[m] = true
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /device/v1/connect", g.connect)
	mux.HandleFunc("GET /autop/{file}", g.serveAutoP)
	g.ts = httptest.NewServer(mux)
	t.Cleanup(func() {
		g.mu.Lock()
		for _, c := range g.conns {
			c.sess.Close()
		}
		g.mu.Unlock()
		g.ts.Close()
	})
	return g
}

func (g *fakeGW) connect(w http.ResponseWriter, r *http.Request) {
	mac, key, ok := r.BasicAuth()
	g.mu.Lock()
	req := connectReq{mac: mac, key: key, remote: r.RemoteAddr, at: time.Now()}
	status, retryAfter := 0, ""
	switch {
	case !ok || len(mac) != 12 || !validKey(key):
		status = http.StatusBadRequest
	case len(g.refuse) > 0:
		status, g.refuse = g.refuse[0], g.refuse[1:]
		if len(g.retryAfter) > 0 {
			retryAfter, g.retryAfter = g.retryAfter[0], g.retryAfter[1:]
		}
	case !g.registered[mac]:
		status = http.StatusNotFound
	case g.keys[mac] != "" && g.keys[mac] != key:
		status = http.StatusForbidden
	}
	req.status = status
	g.connects = append(g.connects, req)
	if status == 0 {
		g.keys[mac] = key
	}
	g.mu.Unlock()
	if status != 0 {
		if retryAfter != "" {
			w.Header().Set("Retry-After", retryAfter)
		}
		http.Error(w, http.StatusText(status), status)
		return
	}
	if r.Header.Get("Sec-WebSocket-Protocol") != subprotocol {
		http.Error(w, "subprotocol", http.StatusBadRequest)
		return
	}
	ws, err := websocket.Accept(w, r, &websocket.AcceptOptions{Subprotocols: []string{subprotocol}})
	if err != nil {
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	nc := websocket.NetConn(ctx, ws, websocket.MessageBinary)
	ws.SetReadLimit(maxMessage)
	cfg := yamux.DefaultConfig()
	cfg.EnableKeepAlive = false
	cfg.LogOutput = io.Discard
	sess, err := yamux.Server(nc, cfg)
	if err != nil {
		return
	}
	defer sess.Close()
	ctrl, err := sess.AcceptStream()
	if err != nil {
		return
	}
	if ctrl.StreamID() != 1 {
		g.t.Errorf("control stream id %d, want 1", ctrl.StreamID())
		return
	}
	br := bufio.NewReader(ctrl)
	ctrl.SetReadDeadline(time.Now().Add(10 * time.Second))
	line, err := br.ReadBytes('\n')
	if err != nil {
		g.t.Errorf("%s: no hello: %v", mac, err)
		return
	}
	ctrl.SetReadDeadline(time.Time{})
	var hello map[string]any
	if err := json.Unmarshal(line, &hello); err != nil || hello["type"] != "hello" {
		g.t.Errorf("%s: first line is not a hello: %s", mac, line)
		return
	}
	c := &fakeConn{gw: g, mac: mac, key: key, remote: r.RemoteAddr, hello: hello, ws: ws, sess: sess, ctrl: ctrl,
		msgs: make(chan map[string]any, 1000), closed: make(chan struct{})}
	defer close(c.closed)
	c.send(map[string]any{"type": "welcome", "heartbeat": g.heartbeat, "server_time": time.Now().UTC().Format(time.RFC3339),
		"autop_url": g.ts.URL + "/autop/" + mac + ".cfg"})
	g.mu.Lock()
	if old := g.conns[mac]; old != nil {
		old.sess.Close()
	}
	g.conns[mac] = c
	mute := g.mute
	g.mu.Unlock()
	g.connCh <- c
	for {
		line, err := br.ReadBytes('\n')
		if err != nil {
			return
		}
		var m map[string]any
		if err := json.Unmarshal(line, &m); err != nil {
			g.t.Errorf("%s: bad control line %q", mac, line)
			return
		}
		if m["type"] == "status" && !mute {
			c.send(map[string]any{"type": "pong"})
		}
		if m["type"] == "ack" && m["ok"] == true {
			g.mu.Lock()
			if g.resets[fmt.Sprint(m["id"])] == mac {
				delete(g.keys, mac) // a reset clears the binding
			}
			g.mu.Unlock()
		}
		c.msgs <- m
	}
}

func (g *fakeGW) serveAutoP(w http.ResponseWriter, r *http.Request) {
	file := r.PathValue("file")
	mac := strings.TrimSuffix(file, ".cfg")
	user, key, ok := r.BasicAuth()
	g.mu.Lock()
	defer g.mu.Unlock()
	req := autopReq{mac: mac, key: key, ifNoneMatch: r.Header.Get("If-None-Match"), at: time.Now()}
	defer func() { g.autopLog = append(g.autopLog, req) }()
	if !ok || user != mac || g.keys[mac] != key {
		req.status = 401
		http.Error(w, "unauthorized", 401)
		return
	}
	f := g.autop[mac]
	if f == nil {
		f = &autopFile{version: "v0", body: ""}
	}
	w.Header().Set("ETag", `"`+f.version+`"`)
	w.Header().Set("X-Gatehouse-Config-Version", f.version)
	if req.ifNoneMatch == `"`+f.version+`"` {
		req.status = 304
		w.WriteHeader(304)
		return
	}
	req.status = 200
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	fmt.Fprintf(w, "# Gatehouse AutoP %s version %s\n%s", mac, f.version, f.body)
}

func (g *fakeGW) setAutoP(mac, version, body string) {
	g.mu.Lock()
	g.autop[mac] = &autopFile{version, body}
	g.mu.Unlock()
}

func (g *fakeGW) autopRequests() []autopReq {
	g.mu.Lock()
	defer g.mu.Unlock()
	return append([]autopReq(nil), g.autopLog...)
}

func (g *fakeGW) connectRequests() []connectReq {
	g.mu.Lock()
	defer g.mu.Unlock()
	return append([]connectReq(nil), g.connects...)
}

// next returns the next connection the server welcomed.
func (g *fakeGW) next(t testing.TB) *fakeConn {
	t.Helper()
	select {
	case c := <-g.connCh:
		return c
	case <-time.After(10 * time.Second):
		t.Fatal("no device connected within 10 s")
		return nil
	}
}

func (c *fakeConn) send(m map[string]any) {
	b, _ := json.Marshal(m)
	c.wmu.Lock()
	defer c.wmu.Unlock()
	c.ctrl.Write(append(b, '\n'))
}

func (c *fakeConn) command(typ, id string, extra ...string) {
	m := map[string]any{"type": typ, "id": id}
	for i := 0; i+1 < len(extra); i += 2 {
		m[extra[i]] = extra[i+1]
	}
	if typ == "reset" {
		c.gw.mu.Lock()
		c.gw.resets[id] = c.mac
		c.gw.mu.Unlock()
	}
	c.send(m)
}

// expect returns the next message of type typ, skipping others.
func (c *fakeConn) expect(t testing.TB, typ string) map[string]any {
	t.Helper()
	timeout := time.After(10 * time.Second)
	for {
		select {
		case m := <-c.msgs:
			if m["type"] == typ {
				return m
			}
		case <-timeout:
			t.Fatalf("%s: no %s within 10 s", c.mac, typ)
		}
	}
}

// waitClosed waits for the connection to end.
func (c *fakeConn) waitClosed(t testing.TB) {
	t.Helper()
	select {
	case <-c.closed:
	case <-time.After(10 * time.Second):
		t.Fatalf("%s: connection still open after 10 s", c.mac)
	}
}

// goAway closes the connection as a node shutting down does: a close
// handshake with 1001.
func (c *fakeConn) goAway() {
	c.ws.Close(websocket.StatusGoingAway, "the node is shutting down")
}

// openTunnel opens a server-side stream with the tunnel header.
func (c *fakeConn) openTunnel(t testing.TB, service string) net.Conn {
	t.Helper()
	st, err := c.sess.OpenStream()
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(st, `{"type":"tunnel","id":"t1","service":%q}`+"\n", service)
	return st
}

// fastConfig is a test fleet configuration: quick back-off and reboots.
func fastConfig(server string, macs ...string) Config {
	return Config{Server: server, MACs: macs, Backoff: 100 * time.Millisecond, BackoffMax: 2 * time.Second,
		RebootDelay: 100 * time.Millisecond, RefusedRetry: 500 * time.Millisecond}
}

func startFleet(t testing.TB, cfg Config) *Fleet {
	t.Helper()
	if cfg.Log == nil {
		var buf syncBuf
		cfg.Log = slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
		t.Cleanup(func() {
			if t.Failed() {
				t.Logf("simulator log:\n%s", buf.String())
			}
		})
	}
	f, err := Start(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

type syncBuf struct {
	mu sync.Mutex
	b  []byte
}

func (s *syncBuf) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.b = append(s.b, p...)
	return len(p), nil
}

func (s *syncBuf) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return string(s.b)
}

func ctxT(t testing.TB, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}
