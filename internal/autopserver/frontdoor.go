package autopserver

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/store"
)

// The front door: a listener in front of the node's net/http server that
// answers devices' cached AutoP fetches itself and hands every other
// connection over, untouched, to net/http.
//
// net/http spends ~30 µs of CPU per keep-alive request here (request and
// header maps, bufio, the response writer's header clone, the background
// read and its deadlines, the server's middleware) for an answer that is
// one prepared byte string per file. The front door reads the first
// request of each connection into a small buffer and parses it with a
// strict, bounded parser (parse.go). A request it answers is exactly
// `GET|HEAD /autop/{12 upper-case hex}.cfg HTTP/1.1` with one Host, Basic
// credentials of that MAC with the file's accepted key and no body, whose
// file the node can serve (the cache, or one read); the answer (200, or 304
// for a matching If-None-Match) is net/http's, byte for byte
// (TestFrontDoorAnswersAsNetHTTP). Anything else — another path, a
// refusal (401/403/404/429, with their limits and audit), a body, HTTP/1.0,
// Connection: close, an odd header, a head larger than the buffer — hands
// the connection to net/http with the bytes already read replayed first,
// and there it stays. A keep-alive connection asking only for AutoP files
// stays with the front door.
//
// Bounds: a request's head must fit leanHeadMax bytes and leanHeaderMax
// lines, and arrive within ReadHeaderTimeout of the connection's accept (the
// first request) or of its first byte; an idle keep-alive connection is
// closed after about IdleTimeout (re-armed lazily, at most 1/8 early, so
// that a request costs no deadline update).

// FrontDoorOptions are a front door's bounds and hooks.
type FrontDoorOptions struct {
	// ReadHeaderTimeout bounds a request head's arrival (and a TLS handshake);
	// IdleTimeout the wait for the next request on a keep-alive connection.
	ReadHeaderTimeout time.Duration
	IdleTimeout       time.Duration
	// TLS, when set, is the node's TLS configuration: the front door does the
	// handshake and reads the requests inside; a connection that negotiated
	// HTTP/2 goes to net/http at once.
	TLS *tls.Config
	// PassHost: requests whose Host is this go to net/http (Remote Control's
	// own origin answers every path itself).
	PassHost string
	// Observe is told of every answer the front door gives (metrics, the
	// request log); nil: nobody.
	Observe func(LeanAnswer)
}

// LeanAnswer describes one answer of the front door, for metrics and the
// request log.
type LeanAnswer struct {
	Method string // GET or HEAD
	Path   []byte // valid during the call only
	Status int    // 200 or 304
	Took   time.Duration
}

// FrontDoor is a net.Listener for net/http's server (http.Server.Serve):
// Accept returns the connections the front door hands over.
type FrontDoor struct {
	s    *Server
	ln   net.Listener
	opts FrontDoorOptions

	handoff chan net.Conn
	done    chan struct{} // closed when Accept returns errors
	stopped sync.Once
	err     error // what Accept returns once done is closed

	answered atomic.Uint64

	closing atomic.Bool
	mu      sync.Mutex
	conns   map[*leanConn]struct{} // the connections the front door holds
	active  sync.WaitGroup
}

// FrontDoor starts a front door on ln for this AutoP server.
func (s *Server) FrontDoor(ln net.Listener, opts FrontDoorOptions) *FrontDoor {
	if opts.ReadHeaderTimeout <= 0 {
		opts.ReadHeaderTimeout = 10 * time.Second
	}
	if opts.IdleTimeout <= 0 {
		opts.IdleTimeout = 120 * time.Second
	}
	f := &FrontDoor{s: s, ln: ln, opts: opts, handoff: make(chan net.Conn), done: make(chan struct{}),
		conns: map[*leanConn]struct{}{}}
	go f.acceptLoop()
	return f
}

// Accept returns the next connection handed over to net/http.
func (f *FrontDoor) Accept() (net.Conn, error) {
	select {
	case c := <-f.handoff:
		return c, nil
	case <-f.done:
		return nil, f.err
	}
}

// Answered counts the answers the front door gave itself.
func (f *FrontDoor) Answered() uint64 { return f.answered.Load() }

// Addr is the listener's address.
func (f *FrontDoor) Addr() net.Addr { return f.ln.Addr() }

// Close stops accepting and closes the connections the front door holds
// once their answer under way is written; connections already handed over
// are net/http's.
func (f *FrontDoor) Close() error {
	if f.closing.Swap(true) {
		return nil // closed already (http.Server.Shutdown closes its listener, then Run the front door)
	}
	err := f.ln.Close()
	f.stop(net.ErrClosed)
	f.mu.Lock()
	for c := range f.conns {
		c.nc.SetReadDeadline(aLongTimeAgo) // wakes a connection waiting for a request
	}
	f.mu.Unlock()
	return err
}

// Shutdown closes the front door and waits, within ctx, for the
// connections it holds to end.
func (f *FrontDoor) Shutdown(ctx context.Context) error {
	f.Close()
	ended := make(chan struct{})
	go func() { f.active.Wait(); close(ended) }()
	select {
	case <-ended:
		return nil
	case <-ctx.Done():
		f.mu.Lock()
		for c := range f.conns {
			c.nc.Close()
		}
		f.mu.Unlock()
		return ctx.Err()
	}
}

var aLongTimeAgo = time.Unix(1, 0)

func (f *FrontDoor) stop(err error) {
	f.stopped.Do(func() {
		f.err = err
		close(f.done)
	})
}

func (f *FrontDoor) acceptLoop() {
	var delay time.Duration
	for {
		nc, err := f.ln.Accept()
		if err != nil {
			if f.closing.Load() || errors.Is(err, net.ErrClosed) {
				f.stop(net.ErrClosed)
				return
			}
			// Out of file descriptors and the like: wait and retry, as
			// net/http does.
			delay = min(max(2*delay, 5*time.Millisecond), time.Second)
			f.s.log.Warn("autop front door: accept", "err", err, "retry_in", delay)
			select {
			case <-time.After(delay):
			case <-f.done:
				return
			}
			continue
		}
		delay = 0
		c := &leanConn{f: f, nc: nc, accepted: time.Now()}
		if !f.track(c) {
			nc.Close()
			continue
		}
		go c.serve()
	}
}

func (f *FrontDoor) track(c *leanConn) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closing.Load() {
		return false
	}
	f.conns[c] = struct{}{}
	f.active.Add(1)
	return true
}

func (f *FrontDoor) untrack(c *leanConn) {
	f.mu.Lock()
	delete(f.conns, c)
	f.mu.Unlock()
	f.active.Done()
}

// leanHeadMax bounds the bytes of a request head the front door reads; a
// larger head goes to net/http with its own bounds (MaxHeaderBytes).
const leanHeadMax = 4096

var headBuffers = sync.Pool{New: func() any { return new([leanHeadMax]byte) }}

// leanConn is one connection while the front door holds it.
type leanConn struct {
	f        *FrontDoor
	nc       net.Conn // as accepted (Close and Shutdown reach it)
	conn     net.Conn // what requests are read from: nc, or TLS over it
	accepted time.Time
	deadline time.Time // the read deadline set on nc
	out      []byte    // the answers to write
	cred     [256]byte // Basic credentials, decoded
}

func (c *leanConn) setDeadline(t time.Time) {
	c.deadline = t
	c.conn.SetReadDeadline(t)
}

func (c *leanConn) serve() {
	handed := false
	defer func() {
		if v := recover(); v != nil {
			c.f.s.log.Error("autop front door: panic", "remote_addr", c.nc.RemoteAddr().String(), "panic", v)
		}
		if !handed {
			c.nc.Close()
		}
		c.f.untrack(c)
	}()
	o := &c.f.opts
	c.conn = c.nc
	// The first request (and a TLS handshake) within ReadHeaderTimeout of
	// the accept, as net/http.
	c.setDeadline(c.accepted.Add(o.ReadHeaderTimeout))
	if o.TLS != nil {
		tc := tls.Server(c.nc, o.TLS)
		if err := tc.Handshake(); err != nil {
			c.f.s.log.Warn("http: TLS handshake error", "remote_addr", c.nc.RemoteAddr().String(), "err", err)
			return
		}
		c.conn = tc
		if tc.ConnectionState().NegotiatedProtocol == "h2" {
			handed = c.handOver(nil)
			return
		}
	}
	bufp := headBuffers.Get().(*[leanHeadMax]byte)
	buf := bufp[:]
	defer func() {
		if !handed {
			headBuffers.Put(bufp)
		}
	}()
	start, end := 0, 0   // buf[start:end] is read and not yet answered
	var headStarted bool // a partial head is in buf: its deadline is set
	now := c.accepted
	first := true
	for {
		// Answer every whole request in the buffer (pipelined ones too).
		for start < end {
			var r leanRequest
			n, v := parseRequest(buf[start:end], &r)
			if v == needMore {
				break
			}
			if v == pass || !c.answer(&r, &now) {
				if !c.flush() {
					return
				}
				handed = c.handOver(buf[start:end])
				return
			}
			start += n
			headStarted, first = false, false
		}
		if !c.flush() {
			return
		}
		if start == end {
			start, end = 0, 0
		} else if start > 0 {
			end = copy(buf, buf[start:end])
			start = 0
		}
		if end == len(buf) { // a head larger than the front door reads
			handed = c.handOver(buf[:end])
			return
		}
		switch {
		case end == 0 && !first:
			// Idle: re-armed only when an eighth of the timeout has passed.
			if want := now.Add(o.IdleTimeout); c.deadline.Before(want.Add(-o.IdleTimeout / 8)) {
				c.setDeadline(want)
			}
		case end > 0 && !headStarted && !first:
			headStarted = true
			if want := time.Now().Add(o.ReadHeaderTimeout); want.Before(c.deadline) {
				c.setDeadline(want)
			}
		}
		if c.f.closing.Load() {
			return
		}
		n, err := c.conn.Read(buf[end:])
		end += n
		if err != nil {
			return // closed, timed out or broken: nothing to answer
		}
		now = time.Now()
	}
}

// flush writes the answers gathered; false when the connection broke.
func (c *leanConn) flush() bool {
	if len(c.out) == 0 {
		return true
	}
	_, err := c.conn.Write(c.out)
	if cap(c.out) > 64<<10 {
		c.out = nil // a large file's answer is not kept for the next
	} else {
		c.out = c.out[:0]
	}
	return err == nil
}

// handOver gives the connection to net/http, pending (the bytes read and
// not answered) to be read first. False when nobody takes it.
func (c *leanConn) handOver(pending []byte) bool {
	var nc net.Conn = c.conn
	c.conn.SetReadDeadline(time.Time{})
	if len(pending) > 0 {
		nc = &replayConn{Conn: c.conn, pending: append([]byte(nil), pending...)}
	}
	select {
	case c.f.handoff <- nc:
		return true
	case <-c.f.done:
		return false
	}
}

// replayConn is a connection handed over with bytes already read: Read
// returns them first.
type replayConn struct {
	net.Conn
	pending []byte
}

func (c *replayConn) Read(p []byte) (int, error) {
	if len(c.pending) > 0 {
		n := copy(p, c.pending)
		c.pending = c.pending[n:]
		if len(c.pending) == 0 {
			c.pending = nil
		}
		return n, nil
	}
	return c.Conn.Read(p)
}

// CloseWrite and ReadFrom are the connection's own, when it has them:
// net/http uses them (a lingering close, sendfile) on a TCP connection.
func (c *replayConn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}

func (c *replayConn) ReadFrom(r io.Reader) (int64, error) { return io.Copy(c.Conn, r) }

// NetConn is the connection underneath (its bytes still pending are not in it).
func (c *replayConn) NetConn() net.Conn { return c.Conn }

// Pending is how many of the bytes read before the hand-over Read has not
// given out yet: none, and the connection underneath can be read directly
// (the device gateway's event loop takes it).
func (c *replayConn) Pending() int { return len(c.pending) }

// TLSConnectionState is the TLS state of a connection the front door handed
// over after its TLS handshake (net/http sets Request.TLS only for a
// *tls.Conn of its own): nil for a plain one.
func TLSConnectionState(c net.Conn) *tls.ConnectionState {
	if rc, ok := c.(*replayConn); ok {
		c = rc.Conn
	}
	if tc, ok := c.(*tls.Conn); ok {
		cs := tc.ConnectionState()
		return &cs
	}
	return nil
}

// answer answers r when its file can be served and its key is the accepted
// one, appending the answer to c.out; false leaves r to net/http (every
// refusal is net/http's, with its limits and audit). *now is moved on.
func (c *leanConn) answer(r *leanRequest, now *time.Time) bool {
	s := c.f.s
	if c.f.opts.PassHost != "" && string(r.host) == c.f.opts.PassHost {
		return false
	}
	user, key, ok := decodeBasic(r.auth, c.cred[:])
	if !ok || string(user) != string(r.mac) || !store.ValidDeviceKey(bytesString(key)) {
		return false
	}
	mac := string(r.mac)
	sv, err := s.read(context.Background(), mac)
	if err != nil || !sv.KeyMatches(bytesString(key)) {
		return false
	}
	if sv.NeedsFetchRecord(s.st.Now()) {
		s.rec.add(sv.DeviceID)
	}
	a := sv.Prepared(prepareServed).(*answer)
	status := http.StatusOK
	if r.ifNoneMatch != nil && etagMatches(bytesString(r.ifNoneMatch), a.etag) {
		status = http.StatusNotModified
		c.out = append(c.out, a.raw304...)
	} else {
		c.out = append(c.out, a.raw200...)
	}
	end := time.Now()
	c.out = appendDate(c.out, end)
	c.out = append(c.out, "\r\n"...)
	if status == http.StatusOK && !r.head {
		c.out = append(c.out, a.head...)
		c.out = append(c.out, a.body...)
	}
	c.f.answered.Add(1)
	if obs := c.f.opts.Observe; obs != nil {
		m := http.MethodGet
		if r.head {
			m = http.MethodHead
		}
		obs(LeanAnswer{Method: m, Path: r.path, Status: status, Took: end.Sub(*now)})
	}
	*now = end
	return true
}

// The Date header, formatted once a second.
type dateLine struct {
	sec  int64
	line []byte // "Date: …\r\n"
}

var currentDate atomic.Pointer[dateLine]

func appendDate(b []byte, t time.Time) []byte {
	sec := t.Unix()
	d := currentDate.Load()
	if d == nil || d.sec != sec {
		line := append([]byte("Date: "), t.UTC().AppendFormat(nil, http.TimeFormat)...)
		d = &dateLine{sec: sec, line: append(line, "\r\n"...)}
		currentDate.Store(d)
	}
	return append(b, d.line...)
}
