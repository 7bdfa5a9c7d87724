package ymux_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/hashicorp/yamux"

	"github.com/gatehouse-dev/gatehouse/internal/gateway/ymux"
)

// The peer in these tests is hashicorp/yamux's client, as devices and the
// simulator use it, or a raw byte writer for what that client never does.

// collector is a Control that keeps what stream 1 carried.
type collector struct {
	mu   sync.Mutex
	b    bytes.Buffer
	wake chan struct{}
}

func newCollector() *collector { return &collector{wake: make(chan struct{}, 1)} }

func (c *collector) Control(p []byte) error {
	c.mu.Lock()
	c.b.Write(p)
	c.mu.Unlock()
	select {
	case c.wake <- struct{}{}:
	default:
	}
	return nil
}

// waitFor returns what came once it is at least n bytes.
func (c *collector) waitFor(t testing.TB, n int) []byte {
	t.Helper()
	timeout := time.After(20 * time.Second)
	for {
		c.mu.Lock()
		if c.b.Len() >= n {
			b := bytes.Clone(c.b.Bytes())
			c.mu.Unlock()
			return b
		}
		have := c.b.Len()
		c.mu.Unlock()
		select {
		case <-c.wake:
		case <-timeout:
			t.Fatalf("stream 1 carried %d bytes, want %d", have, n)
		}
	}
}

// server is a session under test with its Serve running.
type server struct {
	*ymux.Session
	served chan error // Serve's result
}

func (s *server) serveErr(t testing.TB) error {
	t.Helper()
	select {
	case err := <-s.served:
		return err
	case <-time.After(20 * time.Second):
		t.Fatal("Serve did not return")
		return nil
	}
}

func (s *server) stillServing(t testing.TB) {
	t.Helper()
	select {
	case err := <-s.served:
		t.Fatalf("the session ended: %v", err)
	default:
	}
	if s.IsClosed() {
		t.Fatal("the session is closed")
	}
}

func serve(t testing.TB, conn net.Conn, cfg ymux.Config) *server {
	s := &server{Session: ymux.Server(conn, cfg), served: make(chan error, 1)}
	go func() { s.served <- s.Serve() }()
	t.Cleanup(func() { s.Close() })
	return s
}

// openControl opens stream 1 from the client and waits until the server
// has it.
func openControl(t testing.TB, c *yamux.Session, col *collector) *yamux.Stream {
	t.Helper()
	ctrl, err := c.OpenStream()
	if err != nil {
		t.Fatal(err)
	}
	ctrl.Write([]byte("\n"))
	col.waitFor(t, 1)
	return ctrl
}

func clientConfig() *yamux.Config {
	cfg := yamux.DefaultConfig()
	cfg.EnableKeepAlive = false
	cfg.LogOutput = io.Discard
	return cfg
}

// tcpPair connects a hashicorp client to a ymux server over TCP.
func tcpPair(t testing.TB, cfg ymux.Config, ccfg *yamux.Config) (*server, *yamux.Session) {
	t.Helper()
	sc, cc := tcpConns(t)
	s := serve(t, sc, cfg)
	if ccfg == nil {
		ccfg = clientConfig()
	}
	c, err := yamux.Client(cc, ccfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return s, c
}

func tcpConns(t testing.TB) (server, client net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, _ := ln.Accept()
		accepted <- c
	}()
	client, err = net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	server = <-accepted
	if server == nil {
		t.Fatal("accept failed")
	}
	t.Cleanup(func() { client.Close(); server.Close() })
	return server, client
}

// wsPair connects them over a WebSocket (websocket.NetConn both sides, as
// the gateway and the simulator do).
func wsPair(t testing.TB, cfg ymux.Config) (*server, *yamux.Session) {
	t.Helper()
	got := make(chan *server, 1)
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ws, err := websocket.Accept(w, r, nil)
		if err != nil {
			return
		}
		s := &server{Session: ymux.Server(websocket.NetConn(context.Background(), ws, websocket.MessageBinary), cfg), served: make(chan error, 1)}
		got <- s
		s.served <- s.Serve()
	}))
	t.Cleanup(hs.Close)
	ws, _, err := websocket.Dial(context.Background(), "ws"+strings.TrimPrefix(hs.URL, "http"), nil)
	if err != nil {
		t.Fatal(err)
	}
	c, err := yamux.Client(websocket.NetConn(context.Background(), ws, websocket.MessageBinary), clientConfig())
	if err != nil {
		t.Fatal(err)
	}
	s := <-got
	t.Cleanup(func() { c.Close(); s.Close() })
	return s, c
}

// raw writes and reads yamux frames by hand.
type raw struct {
	t testing.TB
	net.Conn
}

func (r raw) frame(typ uint8, flags uint16, id, length uint32, payload []byte) {
	r.t.Helper()
	h := make([]byte, 12, 12+len(payload))
	h[1] = typ
	binary.BigEndian.PutUint16(h[2:], flags)
	binary.BigEndian.PutUint32(h[4:], id)
	binary.BigEndian.PutUint32(h[8:], length)
	if _, err := r.Write(append(h, payload...)); err != nil {
		r.t.Fatalf("raw write: %v", err)
	}
}

func (r raw) data(id uint32, flags uint16, payload []byte) {
	r.t.Helper()
	r.frame(0, flags, id, uint32(len(payload)), payload)
}

type frame struct {
	typ        uint8
	flags      uint16
	id, length uint32
	payload    []byte
}

func (r raw) read() frame {
	r.t.Helper()
	var h [12]byte
	r.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.ReadFull(r, h[:]); err != nil {
		r.t.Fatalf("raw read: %v", err)
	}
	f := frame{typ: h[1], flags: binary.BigEndian.Uint16(h[2:]), id: binary.BigEndian.Uint32(h[4:]), length: binary.BigEndian.Uint32(h[8:])}
	if f.typ == 0 && f.length > 0 {
		f.payload = make([]byte, f.length)
		if _, err := io.ReadFull(r, f.payload); err != nil {
			r.t.Fatalf("raw read: %v", err)
		}
	}
	return f
}

// sync makes sure the server has taken everything sent before: it answers
// a ping only after reading what came ahead of it. It returns the frames
// that came before the answer.
func (r raw) sync(opaque uint32) []frame {
	r.t.Helper()
	r.frame(2, 1, 0, opaque, nil)
	var before []frame
	for {
		f := r.read()
		if f.typ != 2 {
			before = append(before, f)
			continue
		}
		if f.flags != 2 || f.length != opaque {
			r.t.Fatalf("ping answer: %+v", f)
		}
		return before
	}
}

const (
	synFlag = 1
	ackFlag = 2
	finFlag = 4
	rstFlag = 8
)

func random(n int, seed uint64) []byte {
	r := rand.New(rand.NewPCG(seed, seed))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

// TestControlLinesBothWays: stream 1 carries lines cut anyhow, both ways,
// in order.
func TestControlLinesBothWays(t *testing.T) {
	col := newCollector()
	s, c := tcpPair(t, ymux.Config{Control: col.Control}, nil)
	ctrl, err := c.OpenStream()
	if err != nil {
		t.Fatal(err)
	}
	in := []string{`{"type":"hel`, `lo","model":"R29C"}` + "\n" + `{"type":"sta`, "tus\"}\n", "{}", "\n"}
	for _, p := range in {
		if _, err := ctrl.Write([]byte(p)); err != nil { // a frame each
			t.Fatal(err)
		}
	}
	want := strings.Join(in, "")
	if got := col.waitFor(t, len(want)); string(got) != want {
		t.Errorf("stream 1 carried %q, want %q", got, want)
	}
	out := []string{`{"type":"welcome"}` + "\n", `{"type":"re`, `boot","id":"c1"}` + "\n"}
	for _, p := range out {
		if err := s.WriteControl([]byte(p)); err != nil {
			t.Fatal(err)
		}
	}
	br := bufio.NewReader(ctrl)
	ctrl.SetReadDeadline(time.Now().Add(10 * time.Second))
	for _, line := range []string{`{"type":"welcome"}`, `{"type":"reboot","id":"c1"}`} {
		got, err := br.ReadString('\n')
		if err != nil || got != line+"\n" {
			t.Errorf("client read %q %v, want %q", got, err, line)
		}
	}
	s.stillServing(t)
}

// TestFlowControlBothWays: more than a window each way on stream 1 and
// on a server stream, at once: windows open as data is consumed (nothing
// stalls) and neither side sends past the other's window (hashicorp's
// client ends its session on that, ymux too).
func TestFlowControlBothWays(t *testing.T) {
	for name, pair := range map[string]func(testing.TB, ymux.Config) (*server, *yamux.Session){
		"tcp":       func(t testing.TB, cfg ymux.Config) (*server, *yamux.Session) { return tcpPair(t, cfg, nil) },
		"websocket": wsPair,
	} {
		t.Run(name, func(t *testing.T) {
			const n = 1<<20 + 12345 // four windows and a bit
			col := newCollector()
			s, c := pair(t, ymux.Config{Control: col.Control, WriteTimeout: 20 * time.Second})
			up, down := random(n, 1), random(n, 2)
			upStream, downStream := random(n, 3), random(n, 4)

			ctrl, err := c.OpenStream()
			if err != nil {
				t.Fatal(err)
			}
			errs := make(chan error, 8)
			go func() { // device → server on stream 1
				ctrl.SetWriteDeadline(time.Now().Add(20 * time.Second))
				_, err := ctrl.Write(up)
				errs <- err
			}()
			// The server writes only once stream 1 is open.
			col.waitFor(t, 1)
			go func() { errs <- s.WriteControl(down) }() // server → device

			st, err := s.OpenStream()
			if err != nil {
				t.Fatal(err)
			}
			go func() { // server → device on the server's stream
				_, err := st.Write(downStream)
				errs <- err
			}()
			cst, err := c.AcceptStream()
			if err != nil {
				t.Fatal(err)
			}
			if cst.StreamID() != st.StreamID() || st.StreamID()%2 != 0 {
				t.Errorf("server stream %d, client sees %d", st.StreamID(), cst.StreamID())
			}
			go func() { // device → server, then FIN
				cst.SetWriteDeadline(time.Now().Add(20 * time.Second))
				_, err := cst.Write(upStream)
				if err == nil {
					err = cst.Close()
				}
				errs <- err
			}()

			got := make([]byte, n)
			ctrl.SetReadDeadline(time.Now().Add(20 * time.Second))
			if _, err := io.ReadFull(ctrl, got); err != nil || !bytes.Equal(got, down) {
				t.Errorf("device read of stream 1: %v, equal %v", err, bytes.Equal(got, down))
			}
			cst.SetReadDeadline(time.Now().Add(20 * time.Second))
			if _, err := io.ReadFull(cst, got); err != nil || !bytes.Equal(got, downStream) {
				t.Errorf("device read of stream %d: %v, equal %v", cst.StreamID(), err, bytes.Equal(got, downStream))
			}
			st.SetReadDeadline(time.Now().Add(20 * time.Second))
			all, err := io.ReadAll(st) // to the device's FIN
			if err != nil || !bytes.Equal(all, upStream) {
				t.Errorf("server read of stream %d: %d bytes, %v, equal %v", st.StreamID(), len(all), err, bytes.Equal(all, upStream))
			}
			if got := col.waitFor(t, n); !bytes.Equal(got, up) {
				t.Errorf("stream 1 to the server: %d bytes, equal %v", len(got), bytes.Equal(got, up))
			}
			for range 4 {
				if err := <-errs; err != nil {
					t.Error(err)
				}
			}
			s.stillServing(t)
			if c.IsClosed() {
				t.Error("the client's session ended")
			}
		})
	}
}

// TestWindowOverrun: a device sending past a window ends the session;
// up to the window is fine.
func TestWindowOverrun(t *testing.T) {
	t.Run("stream 1", func(t *testing.T) {
		sc, cc := tcpConns(t)
		col := newCollector()
		s := serve(t, sc, ymux.Config{Control: col.Control})
		r := raw{t, cc}
		r.frame(1, synFlag, 1, 0, nil)
		// The server consumes stream 1 at once and opens the window again,
		// but a frame larger than the window is never allowed.
		r.data(1, 0, make([]byte, ymux.Window))
		r.sync(1)
		s.stillServing(t)
		r.frame(0, 0, 1, ymux.Window+1, nil)
		if err := s.serveErr(t); !errors.Is(err, ymux.ErrProtocol) {
			t.Errorf("Serve: %v", err)
		}
	})
	t.Run("server stream", func(t *testing.T) {
		sc, cc := tcpConns(t)
		s := serve(t, sc, ymux.Config{})
		r := raw{t, cc}
		r.frame(1, synFlag, 1, 0, nil)
		r.sync(1)
		st, err := s.OpenStream()
		if err != nil {
			t.Fatal(err)
		}
		// Nobody reads the stream: a window's worth is buffered, no more.
		chunk := make([]byte, 32<<10)
		for sent := 0; sent < ymux.Window; sent += len(chunk) {
			r.data(st.StreamID(), 0, chunk)
		}
		r.sync(2)
		s.stillServing(t)
		r.data(st.StreamID(), 0, []byte{1})
		if err := s.serveErr(t); !errors.Is(err, ymux.ErrProtocol) {
			t.Errorf("Serve: %v", err)
		}
		if _, err := st.Write([]byte("x")); !errors.Is(err, net.ErrClosed) {
			t.Errorf("write after the session ended: %v", err)
		}
	})
}

// TestDeviceOpenedStreamIsReset: a stream the device opens besides stream
// 1 is reset at once; the session goes on.
func TestDeviceOpenedStreamIsReset(t *testing.T) {
	col := newCollector()
	s, c := tcpPair(t, ymux.Config{Control: col.Control}, nil)
	ctrl, err := c.OpenStream()
	if err != nil {
		t.Fatal(err)
	}
	extra, err := c.OpenStream()
	if err != nil {
		t.Fatal(err)
	}
	extra.Write([]byte("ignored"))
	extra.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := extra.Read(make([]byte, 1)); err != yamux.ErrConnectionReset {
		t.Errorf("device-opened stream %d: read %v, want a reset", extra.StreamID(), err)
	}
	// Stream 1 still works both ways.
	ctrl.Write([]byte("after\n"))
	if got := col.waitFor(t, 6); string(got) != "after\n" {
		t.Errorf("stream 1 after the reset: %q", got)
	}
	if err := s.WriteControl([]byte("ok\n")); err != nil {
		t.Fatal(err)
	}
	ctrl.SetReadDeadline(time.Now().Add(10 * time.Second))
	if line, err := bufio.NewReader(ctrl).ReadString('\n'); line != "ok\n" {
		t.Errorf("device read %q %v", line, err)
	}
	s.stillServing(t)
}

// TestBadPeers: frames a session cannot go on after.
func TestBadPeers(t *testing.T) {
	for _, c := range []struct {
		name string
		send func(r raw)
		want error
	}{
		{"version 1", func(r raw) { r.Write([]byte{1, 0, 0, synFlag, 0, 0, 0, 1, 0, 0, 0, 0}) }, ymux.ErrProtocol},
		{"unknown type", func(r raw) { r.frame(1, synFlag, 1, 0, nil); r.frame(9, 0, 1, 0, nil) }, ymux.ErrProtocol},
		{"stream 3 first", func(r raw) { r.frame(1, synFlag, 3, 0, nil) }, ymux.ErrNotControlStream},
		{"stream 1 twice", func(r raw) { r.frame(1, synFlag, 1, 0, nil); r.frame(1, synFlag, 1, 0, nil) }, ymux.ErrProtocol},
		{"stream 1 reset", func(r raw) { r.frame(1, synFlag, 1, 0, nil); r.frame(1, rstFlag, 1, 0, nil) }, ymux.ErrStreamReset},
		{"stream 1 closed", func(r raw) { r.frame(1, synFlag, 1, 0, nil); r.frame(1, finFlag, 1, 0, nil) }, io.EOF},
		{"gone before stream 1", func(r raw) { r.Close() }, ymux.ErrNoControlStream},
	} {
		t.Run(c.name, func(t *testing.T) {
			sc, cc := tcpConns(t)
			s := serve(t, sc, ymux.Config{})
			c.send(raw{t, cc})
			if err := s.serveErr(t); !errors.Is(err, c.want) {
				t.Errorf("Serve: %v, want %v", err, c.want)
			}
			if !s.IsClosed() {
				t.Error("the session is open")
			}
		})
	}
}

// TestGoAwayEndsSession: the device's GoAway ends the session.
func TestGoAwayEndsSession(t *testing.T) {
	s, c := tcpPair(t, ymux.Config{}, nil)
	if _, err := c.OpenStream(); err != nil {
		t.Fatal(err)
	}
	c.GoAway()
	if err := s.serveErr(t); !errors.Is(err, ymux.ErrGoAway) {
		t.Errorf("Serve: %v", err)
	}
	select {
	case <-s.CloseChan():
	default:
		t.Error("CloseChan is open")
	}
}

// TestKeepAlivePingsAnswered: the client's keep-alive fails and ends its
// session when a ping goes unanswered for its write timeout (here 500 ms);
// 2 s of pings every 20 ms leave both ends up.
func TestKeepAlivePingsAnswered(t *testing.T) {
	ccfg := clientConfig()
	ccfg.EnableKeepAlive = true
	ccfg.KeepAliveInterval = 20 * time.Millisecond
	ccfg.ConnectionWriteTimeout = 500 * time.Millisecond
	s, c := tcpPair(t, ymux.Config{}, ccfg)
	if _, err := c.OpenStream(); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Ping(); err != nil {
		t.Fatalf("ping: %v", err)
	}
	time.Sleep(2 * time.Second)
	if c.IsClosed() {
		t.Error("the client's keep-alive ended its session")
	}
	s.stillServing(t)
}

// TestSlowReader: a device that does not take what the server writes
// costs its session, within WriteTimeout, with a timeout error.
func TestSlowReader(t *testing.T) {
	check := func(t *testing.T, s *server, err error) {
		t.Helper()
		var ne net.Error
		if !errors.Is(err, ymux.ErrTimeout) || !errors.As(err, &ne) || !ne.Timeout() || !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Errorf("write error: %v", err)
		}
		if !s.IsClosed() {
			t.Error("the session is open")
		}
		if err := s.serveErr(t); !errors.Is(err, ymux.ErrTimeout) {
			t.Errorf("Serve: %v", err)
		}
	}
	t.Run("window stays shut", func(t *testing.T) {
		// hashicorp's client takes a window's worth, never read by the
		// device, and opens no more.
		col := newCollector()
		s, c := tcpPair(t, ymux.Config{Control: col.Control, WriteTimeout: 300 * time.Millisecond}, nil)
		openControl(t, c, col)
		line := bytes.Repeat([]byte("p"), 1000)
		var err error
		for i := 0; err == nil && i < 10*ymux.Window/len(line); i++ {
			err = s.WriteControl(line)
		}
		check(t, s, err)
	})
	t.Run("connection stays full", func(t *testing.T) {
		// A device that grants any window and never reads its socket.
		sc, cc := tcpConns(t)
		s := serve(t, sc, ymux.Config{WriteTimeout: 300 * time.Millisecond})
		r := raw{t, cc}
		r.frame(1, synFlag, 1, 1<<31, nil)
		r.sync(1)
		const size = 64 << 10
		chunk := make([]byte, size)
		var err error
		for i := 0; err == nil && i < 1<<31/size; i++ { // untyped: fits an int on 32-bit platforms too
			err = s.WriteControl(chunk)
		}
		check(t, s, err)
	})
}

// TestCloseUnblocks: Close ends whatever waits on the session.
func TestCloseUnblocks(t *testing.T) {
	col := newCollector()
	s, c := tcpPair(t, ymux.Config{Control: col.Control, WriteTimeout: time.Hour}, nil)
	openControl(t, c, col)
	// The device's window on stream 1 is used up: the next write waits.
	if err := s.WriteControl(make([]byte, ymux.Window)); err != nil {
		t.Fatal(err)
	}
	st, err := s.OpenStream()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.Write(make([]byte, ymux.Window)); err != nil {
		t.Fatal(err)
	}
	results := make(chan error, 3)
	go func() { results <- s.WriteControl([]byte("x")) }()
	go func() { _, err := st.Read(make([]byte, 1)); results <- err }()
	go func() { _, err := st.Write([]byte("x")); results <- err }()
	select {
	case err := <-results:
		t.Fatalf("returned before Close: %v", err)
	case <-time.After(200 * time.Millisecond):
	}
	s.Close()
	for range 3 {
		select {
		case err := <-results:
			if !errors.Is(err, ymux.ErrSessionClosed) || !errors.Is(err, net.ErrClosed) {
				t.Errorf("after Close: %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("still blocked after Close")
		}
	}
	if err := s.serveErr(t); !errors.Is(err, ymux.ErrSessionClosed) {
		t.Errorf("Serve: %v", err)
	}
	if _, err := s.OpenStream(); !errors.Is(err, ymux.ErrSessionClosed) {
		t.Errorf("OpenStream after Close: %v", err)
	}
}

// tunnel opens the device's control stream, then a server stream that
// starts with first, and accepts it on the device's side.
func tunnel(t *testing.T, s *server, c *yamux.Session, first string) (*ymux.Stream, *yamux.Stream) {
	t.Helper()
	if _, err := c.OpenStream(); err != nil {
		t.Fatal(err)
	}
	st, err := s.OpenStream()
	if err != nil {
		t.Fatal(err)
	}
	st.Write([]byte(first))
	cst, err := c.AcceptStream()
	if err != nil {
		t.Fatal(err)
	}
	return st, cst
}

// TestHalfClose follows hashicorp's streams: after the device's FIN the
// server reads EOF and may still write; after the server's FIN the device
// reads EOF.
func TestHalfClose(t *testing.T) {
	s, c := tcpPair(t, ymux.Config{}, nil)
	st, cst := tunnel(t, s, c, "GET / HTTP/1.1\r\n\r\n")
	cst.Write([]byte("request"))
	cst.Close()
	st.SetReadDeadline(time.Now().Add(10 * time.Second))
	if got, err := io.ReadAll(st); string(got) != "request" || err != nil {
		t.Errorf("server read to the device's FIN: %q %v", got, err)
	}
	if _, err := st.Read(make([]byte, 1)); err != io.EOF {
		t.Errorf("read after EOF: %v", err)
	}
	if _, err := st.Write([]byte("answer")); err != nil {
		t.Errorf("write after the device's FIN: %v", err)
	}
	st.Close()
	cst.SetReadDeadline(time.Now().Add(10 * time.Second))
	if got, err := io.ReadAll(cst); string(got) != "GET / HTTP/1.1\r\n\r\nanswer" || err != nil {
		t.Errorf("device read to the server's FIN: %q %v", got, err)
	}
	if _, err := st.Write([]byte("x")); !errors.Is(err, ymux.ErrStreamClosed) {
		t.Errorf("write after Close: %v", err)
	}
	if _, err := st.Read(make([]byte, 1)); !errors.Is(err, ymux.ErrStreamClosed) {
		t.Errorf("read after Close: %v", err)
	}
	s.stillServing(t)
}

// TestCloseResetsAWritingPeer: a stream closed before the device's FIN
// (the browser went away in the middle of an answer) is reset: the
// device's writer, waiting for window this side will never open, returns
// at once instead of at its deadline, and frees its tunnel.
func TestCloseResetsAWritingPeer(t *testing.T) {
	s, c := tcpPair(t, ymux.Config{}, nil)
	st, cst := tunnel(t, s, c, "GET /big HTTP/1.1\r\n\r\n")
	written := make(chan error, 1)
	go func() {
		// Four MiB, many windows: the deadline is only there to end the
		// write if the server never tells.
		cst.SetWriteDeadline(time.Now().Add(10 * time.Second))
		_, err := cst.Write(make([]byte, 4<<20))
		written <- err
	}()
	st.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.ReadFull(st, make([]byte, 1000)); err != nil {
		t.Fatal(err)
	}
	st.Close()
	if err := <-written; err != yamux.ErrConnectionReset {
		t.Errorf("the device's write into the closed stream: %v, want %v", err, yamux.ErrConnectionReset)
	}
	// The session goes on: a new stream works both ways.
	st2, err := s.OpenStream()
	if err != nil {
		t.Fatal(err)
	}
	st2.Write([]byte("ping"))
	cst2, err := c.AcceptStream()
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 4)
	cst2.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.ReadFull(cst2, buf); err != nil || string(buf) != "ping" {
		t.Errorf("device read on a new stream: %q %v", buf, err)
	}
	s.stillServing(t)
	if c.IsClosed() {
		t.Error("the client's session ended")
	}
}

// TestClosedStreamFrames: what the server sends when it closes a stream
// (FIN after the device's FIN, RST before it), and what it answers to data
// still coming on a server stream that is not open: RST, once per frame;
// nothing on a device stream (odd) it refused already.
func TestClosedStreamFrames(t *testing.T) {
	sc, cc := tcpConns(t)
	s := serve(t, sc, ymux.Config{})
	r := raw{t, cc}
	r.frame(1, synFlag, 1, 0, nil)
	r.sync(1)
	closeWith := func(id uint32, st *ymux.Stream, want uint16) {
		t.Helper()
		st.Close()
		if f := r.read(); f.typ != 1 || f.flags != want || f.id != id || f.length != 0 {
			t.Errorf("close of stream %d: %+v, want flags %d", id, f, want)
		}
	}
	// Closed after the device's FIN: FIN.
	st, err := s.OpenStream()
	if err != nil {
		t.Fatal(err)
	}
	r.read() // its SYN
	r.frame(1, finFlag, st.StreamID(), 0, nil)
	r.sync(2)
	closeWith(st.StreamID(), st, finFlag)
	// Closed before it: RST; the device's data still coming is answered
	// with RST, frame by frame.
	if st, err = s.OpenStream(); err != nil {
		t.Fatal(err)
	}
	r.read()
	r.data(st.StreamID(), 0, []byte("part of an answer"))
	r.sync(3)
	closeWith(st.StreamID(), st, rstFlag)
	r.data(st.StreamID(), 0, []byte("more of it"))
	r.data(st.StreamID(), 0, []byte("and more"))
	r.data(st.StreamID(), finFlag, nil) // its FIN: nothing to answer
	got := r.sync(4)
	if len(got) != 2 {
		t.Errorf("answers to data on a closed stream: %+v, want two RSTs", got)
	}
	for _, f := range got {
		if f.typ != 1 || f.flags != rstFlag || f.id != st.StreamID() {
			t.Errorf("answer to data on a closed stream: %+v, want RST", f)
		}
	}
	// A device stream refused with RST is not answered again.
	r.data(3, synFlag, []byte("x"))
	r.data(3, 0, []byte("y"))
	if got := r.sync(5); len(got) != 1 || got[0].flags != rstFlag || got[0].id != 3 {
		t.Errorf("answers on a refused device stream: %+v, want one RST", got)
	}
	s.stillServing(t)
}

// TestHugeFrameLengths: a peer's frame may declare up to 4 GiB: on a
// stream that is not open it is dropped as it comes (never an int: one
// above 2 GiB is negative on 32-bit platforms), beyond a window it ends
// the session.
func TestHugeFrameLengths(t *testing.T) {
	for _, length := range []uint32{1 << 31, 1<<32 - 1} {
		t.Run(fmt.Sprintf("%d bytes on a stream not open", length), func(t *testing.T) {
			sc, cc := net.Pipe() // a write returns once the server read it all
			s := serve(t, sc, ymux.Config{})
			r := raw{t, cc}
			r.frame(1, synFlag, 1, 0, nil)
			r.read() // its ACK
			r.frame(0, 0, 3, length, bytes.Repeat([]byte("x"), 100<<10))
			s.stillServing(t)
			cc.Close() // in the middle of the frame
			if err := s.serveErr(t); !errors.Is(err, io.ErrUnexpectedEOF) {
				t.Errorf("Serve: %v", err)
			}
		})
		t.Run(fmt.Sprintf("%d bytes on stream 1", length), func(t *testing.T) {
			sc, cc := tcpConns(t)
			s := serve(t, sc, ymux.Config{})
			r := raw{t, cc}
			r.frame(1, synFlag, 1, 0, nil)
			r.frame(0, 0, 1, length, []byte("x"))
			if err := s.serveErr(t); !errors.Is(err, ymux.ErrProtocol) {
				t.Errorf("Serve: %v", err)
			}
		})
	}
}

// TestStreamIDsRunOut: once the last even id is used, OpenStream refuses:
// ids do not wrap to 0 and start over.
func TestStreamIDsRunOut(t *testing.T) {
	s, c := tcpPair(t, ymux.Config{}, nil)
	if _, err := c.OpenStream(); err != nil {
		t.Fatal(err)
	}
	s.SetNextID(1<<32 - 4)
	for _, want := range []uint32{1<<32 - 4, 1<<32 - 2} {
		st, err := s.OpenStream()
		if err != nil {
			t.Fatalf("stream %d: %v", want, err)
		}
		if st.StreamID() != want {
			t.Errorf("stream %d, want %d", st.StreamID(), want)
		}
		st.Close()
	}
	if st, err := s.OpenStream(); !errors.Is(err, ymux.ErrTooManyStreams) {
		id := uint32(0)
		if st != nil {
			id = st.StreamID()
		}
		t.Errorf("a stream after the last id: %d %v, want %v", id, err, ymux.ErrTooManyStreams)
	}
	s.stillServing(t)
}

// TestStalledFrameMemory: a device that stops in the middle of a frame
// pins one read chunk (4 KiB), not a frame's buffer: 500 such sessions
// cost well under 20 KiB of heap each (a stalled 32 KiB buffer was 40).
func TestStalledFrameMemory(t *testing.T) {
	const n = 500
	var ms runtime.MemStats
	runtime.GC()
	runtime.GC() // and the pools' victims
	runtime.ReadMemStats(&ms)
	before := ms.HeapInuse
	sessions := make([]*server, 0, n)
	peers := make([]net.Conn, 0, n)
	for range n {
		sc, cc := net.Pipe() // a write returns once the server read it all
		s := serve(t, sc, ymux.Config{Control: func([]byte) error { return nil }})
		r := raw{t, cc}
		r.frame(1, synFlag, 1, 0, nil)
		r.read()                                 // its ACK
		r.frame(0, 0, 1, 1000, []byte("{\"typ")) // 5 bytes of 1000, then silence
		sessions, peers = append(sessions, s), append(peers, cc)
	}
	runtime.GC()
	runtime.GC()
	runtime.ReadMemStats(&ms)
	each := (int64(ms.HeapInuse) - int64(before)) / n
	t.Logf("%d sessions stalled in the middle of a frame: %.1f KiB of heap each", n, float64(each)/1024)
	if each > 20<<10 {
		t.Errorf("a session stalled in the middle of a frame costs %.1f KiB of heap, want < 20", float64(each)/1024)
	}
	for i, s := range sessions {
		s.stillServing(t)
		s.Close()
		peers[i].Close()
	}
}

// TestStreamDeadlinesAndLimit: a stream's deadline fails its own reads
// only; MaxStreams bounds the open streams, and a closed one frees its
// place.
func TestStreamDeadlinesAndLimit(t *testing.T) {
	s, c := tcpPair(t, ymux.Config{MaxStreams: 2}, nil)
	if _, err := c.OpenStream(); err != nil {
		t.Fatal(err)
	}
	a, err := s.OpenStream()
	if err != nil {
		t.Fatal(err)
	}
	b, err := s.OpenStream()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.OpenStream(); !errors.Is(err, ymux.ErrTooManyStreams) {
		t.Errorf("a third stream: %v", err)
	}
	a.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
	var ne net.Error
	if _, err := a.Read(make([]byte, 1)); !errors.As(err, &ne) || !ne.Timeout() {
		t.Errorf("read past the deadline: %v", err)
	}
	ca, err := c.AcceptStream()
	if err != nil {
		t.Fatal(err)
	}
	ca.Write([]byte("late"))
	a.SetReadDeadline(time.Time{})
	buf := make([]byte, 4)
	if _, err := io.ReadFull(a, buf); err != nil || string(buf) != "late" {
		t.Errorf("read after the deadline was lifted: %q %v", buf, err)
	}
	b.Close()
	if _, err := s.OpenStream(); err != nil {
		t.Errorf("a stream in the place of a closed one: %v", err)
	}
	s.stillServing(t)
}

// TestOneGoroutinePerSession: a session is its Serve alone, also while it
// answers pings, opens streams and writes.
func TestOneGoroutinePerSession(t *testing.T) {
	const n = 200
	type pair struct {
		s *server
		r raw
	}
	before := runtime.NumGoroutine()
	var pairs []pair
	for range n {
		sc, cc := tcpConns(t)
		s := &server{Session: ymux.Server(sc, ymux.Config{Control: func([]byte) error { return nil }}), served: make(chan error, 1)}
		pairs = append(pairs, pair{s, raw{t, cc}})
	}
	for _, p := range pairs {
		go func() { p.s.served <- p.s.Serve() }()
		p.r.frame(1, synFlag, 1, 0, nil)
		p.r.data(1, 0, []byte("{}\n"))
		p.r.sync(7)
		if _, err := p.s.OpenStream(); err != nil {
			t.Fatal(err)
		}
		if err := p.s.WriteControl([]byte("ok\n")); err != nil {
			t.Fatal(err)
		}
	}
	if after := runtime.NumGoroutine(); after-before > n {
		t.Errorf("%d sessions run %d goroutines", n, after-before)
	}
	for _, p := range pairs {
		p.s.stillServing(t)
		p.s.Close()
		p.s.serveErr(t)
	}
}

// BenchmarkStreamRoundTrip: 1 KiB to the device and back on one stream,
// ymux serving beside hashicorp's server, both over TCP to hashicorp's
// client echoing.
func BenchmarkStreamRoundTrip(b *testing.B) {
	msg := random(1024, 5)
	back := make([]byte, len(msg))
	run := func(b *testing.B, st net.Conn) {
		b.SetBytes(int64(2 * len(msg)))
		for b.Loop() {
			if _, err := st.Write(msg); err != nil {
				b.Fatal(err)
			}
			if _, err := io.ReadFull(st, back); err != nil {
				b.Fatal(err)
			}
		}
	}
	echo := func(c *yamux.Session) {
		go func() {
			st, err := c.AcceptStream()
			if err == nil {
				io.Copy(st, st)
			}
		}()
	}
	b.Run("ymux", func(b *testing.B) {
		s, c := tcpPair(b, ymux.Config{}, nil)
		c.OpenStream()
		echo(c)
		st, err := s.OpenStream()
		if err != nil {
			b.Fatal(err)
		}
		run(b, st)
	})
	b.Run("hashicorp", func(b *testing.B) {
		sc, cc := tcpConns(b)
		cfg := clientConfig()
		s, _ := yamux.Server(sc, cfg)
		c, _ := yamux.Client(cc, cfg)
		defer s.Close()
		defer c.Close()
		echo(c)
		st, err := s.OpenStream()
		if err != nil {
			b.Fatal(err)
		}
		run(b, st)
	})
}

// BenchmarkStreamUpload: what the device sends on a stream (a tunnel's
// answer), 1 MiB an op, read by the server in read chunks.
func BenchmarkStreamUpload(b *testing.B) {
	for name, pair := range map[string]func(testing.TB, ymux.Config) (*server, *yamux.Session){
		"tcp":       func(t testing.TB, cfg ymux.Config) (*server, *yamux.Session) { return tcpPair(t, cfg, nil) },
		"websocket": wsPair,
	} {
		b.Run(name, func(b *testing.B) {
			s, c := pair(b, ymux.Config{})
			c.OpenStream()
			st, err := s.OpenStream()
			if err != nil {
				b.Fatal(err)
			}
			st.Write([]byte("GET / HTTP/1.1\r\n\r\n"))
			cst, err := c.AcceptStream()
			if err != nil {
				b.Fatal(err)
			}
			msg := random(1<<20, 6)
			go func() {
				for {
					if _, err := cst.Write(msg); err != nil {
						return
					}
				}
			}()
			buf := make([]byte, 32<<10)
			b.SetBytes(int64(len(msg)))
			for b.Loop() {
				for left := len(msg); left > 0; {
					n, err := st.Read(buf[:min(left, len(buf))])
					if err != nil {
						b.Fatal(err)
					}
					left -= n
				}
			}
			st.Close()
		})
	}
}
