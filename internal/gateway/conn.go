package gateway

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/gateway/ymux"
	"github.com/gatehouse-dev/gatehouse/internal/model"
)

// conn is one device connection. It holds no goroutine of its own while
// the device is idle: the bytes the device sends are pushed through the
// WebSocket frame parser (ws), the yamux session (sess.Feed) and the
// control stream's line splitter by whoever reads the socket — an event
// loop (polled, Linux, plain TCP) or, for TLS and in-memory connections, a
// reader goroutine (streamed). Complete control lines queue; a goroutine
// handles them (JSON, the database) and exists only while there are some.
// While it does, the socket is not read: lines are handled in order and a
// device cannot queue more than one read's worth.
type conn struct {
	g        *Gateway
	id       int64
	mac      string
	autopURL string
	t        transport
	sess     *ymux.Session
	admitted *slot  // the connect's place (admission.go), released when hello is done
	authN    uint64 // the order of its authentication among the node's connects

	connectedAt time.Time
	// The reader's (whoever owns the reading, see own):
	ws      wsReader
	lines   lines
	queue   [][]byte // complete lines not handled yet
	stopped bool     // the session takes no more bytes
	// The line handler's:
	state model.DeviceHello // what the device reported

	// own hands the reading between the event loop and the line handler:
	// reading is true while one of them reads or handles, more when the
	// socket became readable meanwhile.
	own     sync.Mutex
	reading bool
	more    bool

	registered atomic.Bool  // hello taken: the device is this node's
	handling   atomic.Bool  // lines wait or are being handled: the silence clock waits
	deadline   atomic.Int64 // UnixNano: the next complete line is due (hello, then 3 heartbeats)
	closeBy    atomic.Int64 // UnixNano: a close handshake under way ends by then
	why        atomic.Pointer[string]

	seen    atomic.Bool // heard from since the last flush
	closing atomic.Bool
	tunnels atomic.Int32
	pongs   atomic.Int32 // statuses not answered yet

	// lastProgress (the line handler's): when a download's percent was
	// last recorded, so that a device reporting too often costs no writes.
	lastProgress time.Time

	wmu sync.Mutex // one writer at a time on the control stream
}

// transport is a connection's socket, written frame by frame.
type transport interface {
	// write sends one WebSocket frame, whole. wait: the caller may wait
	// for room until deadline (the event loop's writes never wait: they
	// queue). After a close frame was written, nothing more is.
	write(frame []byte, wait bool, deadline time.Time) error
	// waitRoom waits, by deadline, until a write would not wait (the
	// queue is below its bound); the connection is cut when it passes.
	waitRoom(deadline time.Time) error
	// cut closes the socket now: its reader ends.
	cut()
	// stalled reports a write that waits for the device for longer than
	// d (what it queued is not read); false for transports whose writes
	// carry their own deadline.
	stalled(now time.Time, d time.Duration) bool
	// queues: writes never block (they queue); else they may, and a
	// close frame goes out from a goroutine of its own.
	queues() bool
	remoteAddr() net.Addr
	localAddr() net.Addr
}

// pollTransport is a transport an event loop reads: start hands it the
// connection.
type pollTransport interface {
	transport
	start(c *conn, buffered []byte)
	// discard closes the socket of a connection never started.
	discard()
}

// message is any control message from a device.
type message struct {
	Type          string  `json:"type"`
	ID            string  `json:"id"`
	OK            bool    `json:"ok"`
	Error         string  `json:"error"`
	Version       string  `json:"version"`
	Model         *string `json:"model"`
	Firmware      *string `json:"firmware"`
	IP            *string `json:"ip"`
	Uptime        *int64  `json:"uptime"`
	ConfigVersion *string `json:"config_version"`
	Stage         string  `json:"stage"`   // progress
	Percent       *int    `json:"percent"` // progress
}

type welcome struct {
	Type       string `json:"type"`
	Heartbeat  int    `json:"heartbeat"`
	ServerTime string `json:"server_time"`
	AutoPURL   string `json:"autop_url"`
}

type command struct {
	Type string `json:"type"`
	ID   string `json:"id"`
	Mode string `json:"mode,omitempty"`
	URL  string `json:"url,omitempty"`
}

var errLineTooLong = errors.New("control line longer than 64 KiB")

// closeError ends a connection with a close frame.
type closeError struct {
	code   closeCode
	reason string
}

func (e *closeError) Error() string { return e.reason }

// errSilent: no complete line came in time (hello, or 3 heartbeats).
var errSilent = errors.New("gateway: the device is silent")

// control takes the control stream's bytes as they come (ymux's Control,
// on the reader): complete lines queue for the handler.
func (c *conn) control(p []byte) error { return c.lines.feed(p, c.queueLine) }

func (c *conn) queueLine(line []byte) error {
	c.queue = append(c.queue, bytes.Clone(line))
	c.handling.Store(true) // the line came in time, whenever it is handled
	return nil
}

// feed takes bytes the device sent (on the reader); it reports whether
// lines wait for the handler.
func (c *conn) feed(p []byte) bool {
	if err := c.ws.feed(p, c); err != nil {
		c.readEnded(err)
	}
	return len(c.queue) > 0
}

// wsData is the WebSocket's: a binary message's bytes, the session's.
func (c *conn) wsData(p []byte) error {
	if c.stopped || c.closing.Load() {
		return nil // closing: only the device's close frame matters now
	}
	if err := c.sess.Feed(p); err != nil {
		c.stopped = true
		c.readEnded(err)
	}
	return nil
}

// wsControl is the WebSocket's: a ping is answered, the device's close
// frame echoed (or, answering ours, ends the handshake) and the socket
// closed.
func (c *conn) wsControl(op byte, payload []byte) error {
	switch op {
	case opPing:
		if !c.closing.Load() {
			if err := c.t.write(wsFrame(opPong, payload), false, time.Now().Add(c.g.opts.WriteTimeout)); err != nil {
				c.close(0, "")
			}
		}
	case opClose:
		if len(payload) == 1 {
			c.fail(&wsError{closeProtocolError, "received invalid close payload"})
			return nil
		}
		if c.closing.CompareAndSwap(false, true) {
			c.setWhy("the device closed")
			c.stopped = true
			c.sess.End(io.EOF)
			c.closeBy.Store(time.Now().Add(closeWait).UnixNano())
			c.t.write(wsFrame(opClose, payload), false, time.Now().Add(closeWait))
		}
		// A queued echo goes out before the socket is cut (a streamed
		// transport has written it already).
		if q, ok := c.t.(interface{ cutWhenFlushed() }); ok {
			q.cutWhenFlushed()
		} else {
			c.t.cut()
		}
	}
	return nil
}

// readEnded ends the session for err, why its bytes stopped, a
// handler's refusal or the sweep's errSilent, and closes the connection as the session's reason
// calls for: a close frame with a reason for a device that broke the
// protocol, none for a silent or gone one.
func (c *conn) readEnded(err error) {
	var we *wsError
	if errors.As(err, &we) {
		c.fail(we)
		return
	}
	why := err
	err = c.sess.End(err)
	code, reason := closeCode(0), ""
	var ce *closeError
	switch {
	case errors.As(err, &ce):
		code, reason = ce.code, ce.reason
	case errors.Is(err, errLineTooLong):
		code, reason = closePolicy, "control line longer than 64 KiB"
	case errors.Is(err, ymux.ErrNotControlStream):
		code, reason = closePolicy, "the control stream must be stream 1"
	case errors.Is(err, ymux.ErrNoControlStream):
		code, reason = closePolicy, "no control stream"
	case errors.Is(why, errSilent):
		reason = "silent"
		if !c.registered.Load() {
			reason = "no hello"
		}
	}
	if reason == "" {
		reason = err.Error()
		c.setWhy(reason)
	}
	c.close(code, reason)
}

// fail closes the connection for a breach of WebSocket.
func (c *conn) fail(we *wsError) {
	c.stopped = true
	c.sess.End(we)
	c.close(we.code, we.reason)
}

func (c *conn) setWhy(s string) { c.why.CompareAndSwap(nil, &s) }

// handleQueued handles the lines queued, in order (on a goroutine of its
// own: the line handler).
func (c *conn) handleQueued() {
	for len(c.queue) > 0 {
		line := c.queue[0]
		c.queue[0] = nil
		c.queue = c.queue[1:]
		if c.closing.Load() {
			break // a closing connection takes no more lines
		}
		if err := c.line(line); err != nil {
			c.queue = nil
			c.readEnded(err)
		}
	}
	c.queue = nil
	c.handling.Store(false)
}

// line acts on one control line: the first must be the hello. Only a
// complete line puts off the silence deadline (pings and partial lines do
// not).
func (c *conn) line(line []byte) error {
	if !c.registered.Load() {
		code, reason, registered := c.hello(line)
		if registered {
			c.registered.Store(true)
		}
		if code != 0 || !registered {
			return &closeError{code, reason}
		}
	} else if !c.handle(line) {
		return &closeError{closePolicy, "a control line is not a JSON object"}
	}
	c.setDeadline(3 * c.g.opts.Heartbeat)
	return nil
}

// setDeadline bounds the wait for the device's next complete line.
func (c *conn) setDeadline(d time.Duration) { c.deadline.Store(time.Now().Add(d).UnixNano()) }

// sweep is the gateway's periodic look at the connection (instead of a
// timer each): silence, a device that does not read what is written to
// it, a close handshake that takes too long.
func (c *conn) sweep(now time.Time) {
	if c.closing.Load() {
		if by := c.closeBy.Load(); by != 0 && now.UnixNano() > by {
			c.t.cut()
		}
		return
	}
	if c.t.stalled(now, c.g.opts.WriteTimeout) {
		c.setWhy("the device does not read")
		c.close(0, "")
		return
	}
	if !c.handling.Load() && now.UnixNano() > c.deadline.Load() {
		c.readEnded(errSilent)
	}
}

// ended is the end of the connection, once its socket is closed (the
// reader's last act): the device is offline, unless a newer connection
// holds it.
func (c *conn) ended() {
	g := c.g
	defer g.wg.Done()    // last: Shutdown waits for the offline marks too
	c.admitted.release() // ended before its hello was done
	c.closing.Store(true)
	c.sess.Close()
	why := ""
	if w := c.why.Load(); w != nil {
		why = *w
	}
	g.log.Debug("gateway: connection ends", "mac", c.mac, "why", why)
	g.unregister(c)
	if c.registered.Load() && !g.isClosing() {
		ctx, cancel := g.within(g.ctx, disconnectTimeout)
		if err := g.st.DeviceDisconnected(ctx, c.mac, g.opts.Node, c.connectedAt, g.st.Now()); err != nil {
			g.log.Warn("gateway: mark device offline", "mac", c.mac, "err", err)
		}
		cancel()
	}
}

// onFreshStack runs fn on a goroutine of its own and waits for it.
func onFreshStack(fn func()) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		fn()
	}()
	<-done
}

// lines splits the control stream into lines, each at most MaxLine bytes
// with its newline.
type lines struct {
	partial []byte // the start of a line still waiting for its newline
}

// feed hands each complete line in p (without its newline) to each, in
// order; p may end in the middle of a line.
func (l *lines) feed(p []byte, each func(line []byte) error) error {
	for len(p) > 0 {
		i := bytes.IndexByte(p, '\n')
		if i < 0 {
			if len(l.partial)+len(p) >= MaxLine { // its newline would make it longer still
				return errLineTooLong
			}
			l.partial = append(l.partial, p...)
			return nil
		}
		if len(l.partial)+i+1 > MaxLine {
			return errLineTooLong
		}
		line := p[:i]
		if len(l.partial) > 0 {
			line = append(l.partial, line...)
		}
		p = p[i+1:]
		if err := each(line); err != nil {
			return err
		}
		l.partial = nil // an idle connection keeps no buffer
	}
	return nil
}

// hello takes the device's first message: the connection is recorded,
// registered and welcomed, and the device's pending commands sent.
func (c *conn) hello(line []byte) (code closeCode, reason string, registered bool) {
	g := c.g
	defer c.admitted.release()
	defer g.helloDone(c)
	m, ok := parse(line)
	if !ok || m.Type != "hello" {
		return closePolicy, "the first message must be a hello", false
	}
	c.merge(m)
	c.connectedAt = g.connectedAt()
	ctx, cancel := g.within(g.ctx, connectTimeout)
	err := g.st.DeviceConnected(ctx, c.mac, g.opts.Node, c.connectedAt, c.state)
	cancel()
	if model.ErrorCode(err) == model.ECONFLICT {
		return closeReplaced, "replaced by a newer connection", false
	} else if err != nil {
		g.log.Error("gateway: record connection", "mac", c.mac, "err", err)
		return closeTryAgainLater, "try again later", false
	}
	// Commands wait for the welcome: the writer is held until it is out.
	c.wmu.Lock()
	switch g.register(c) {
	case registerClosing:
		c.wmu.Unlock()
		return closeGoingAway, "the node is shutting down", false
	case registerOlder:
		c.wmu.Unlock()
		return closeReplaced, "replaced by a newer connection", false
	}
	err = c.writeLocked(welcome{Type: "welcome", Heartbeat: int(g.opts.Heartbeat / time.Second),
		ServerTime: time.Now().UTC().Format(time.RFC3339), AutoPURL: c.autopURL})
	c.wmu.Unlock()
	if err != nil {
		return 0, "", true
	}
	if c.state.ConfigVersion != "" {
		g.autopApplied(c.mac, c.state.ConfigVersion)
	}
	g.deliver([]*conn{c}, true)
	g.deliverUpgradesOnConnect(c)
	return 0, "", true
}

// handle acts on one control message after hello; false for a line that
// is not a JSON object.
func (c *conn) handle(line []byte) bool {
	m, ok := parse(line)
	if !ok {
		return false
	}
	c.seen.Store(true)
	switch m.Type {
	case "status", "hello":
		c.status(m)
		c.pong()
	case "ack":
		c.ack(m)
	case "progress":
		c.progress(m)
	}
	return true
}

var pongLine = []byte(`{"type":"pong"}` + "\n")

// pong answers a status without holding up the line handler: the write
// may wait for the device to open its window, and only the reader (which
// waits for the handler) can see it do so. One goroutine at a time writes
// the pongs owed, together.
func (c *conn) pong() {
	if c.pongs.Add(1) != 1 {
		return // the writer at work sends this one too
	}
	c.g.spawn(func() {
		for n := c.pongs.Load(); n > 0; n = c.pongs.Add(-n) {
			n = min(n, 256)
			if c.writeLine(bytes.Repeat(pongLine, int(n))) != nil {
				return // the connection is closing: no more pongs
			}
		}
	})
}

// parse decodes one control line, which must be a JSON object. A field of
// an unexpected type is ignored, like an unknown one (a numeric id, a
// string uptime): only a line that is not an object costs the connection.
func parse(line []byte) (*message, bool) {
	line = bytes.TrimSpace(line)
	if len(line) == 0 || line[0] != '{' {
		return nil, false
	}
	var m message
	if err := json.Unmarshal(line, &m); err == nil {
		return m.storable(), true
	}
	var fields map[string]json.RawMessage
	if json.Unmarshal(line, &fields) != nil {
		return nil, false
	}
	m = message{}
	str := func(k string) *string {
		var s string
		if json.Unmarshal(fields[k], &s) != nil {
			return nil
		}
		return &s
	}
	if v := str("type"); v != nil {
		m.Type = *v
	}
	if v := str("id"); v != nil {
		m.ID = *v
	} else if raw := fields["id"]; len(raw) > 0 {
		m.ID = string(raw) // a number: not one of ours, ignored
	}
	json.Unmarshal(fields["ok"], &m.OK)
	if v := str("error"); v != nil {
		m.Error = *v
	}
	if v := str("version"); v != nil {
		m.Version = *v
	}
	m.Model, m.Firmware, m.IP, m.ConfigVersion = str("model"), str("firmware"), str("ip"), str("config_version")
	if v := str("stage"); v != nil {
		m.Stage = *v
	}
	var pct int
	if json.Unmarshal(fields["percent"], &pct) == nil && fields["percent"] != nil {
		m.Percent = &pct
	}
	var up int64
	if json.Unmarshal(fields["uptime"], &up) == nil && fields["uptime"] != nil {
		m.Uptime = &up
	}
	return m.storable(), true
}

// Bounds of a device's text as the store keeps it.
const (
	maxDeviceText = 64  // model, firmware, IP, versions
	maxErrorText  = 500 // a refused command's error
)

// storable makes the text the store keeps of m fit to store: no NUL and
// cut at a character boundary (PostgreSQL's text holds neither a NUL nor
// broken UTF-8: the device's hello or ack would fail to record).
func (m *message) storable() *message {
	m.Error, m.Version = storable(m.Error, maxErrorText), storable(m.Version, maxDeviceText)
	for _, p := range []**string{&m.Model, &m.Firmware, &m.IP, &m.ConfigVersion} {
		if *p == nil {
			continue
		}
		if s := storable(**p, maxDeviceText); s != **p {
			*p = &s // only then: a status line is the hot path
		}
	}
	return m
}

// storable is s without NUL, valid UTF-8, at most max bytes.
func storable(s string, max int) string { return model.StorableText(s, max) }

// merge takes the facts a hello or status reports; it says whether any
// that the store shows changed (uptime alone does not count).
func (c *conn) merge(m *message) (changed bool) {
	set := func(dst *string, v *string) {
		if v != nil {
			s := *v
			if len(s) > 64 {
				s = s[:64]
			}
			if *dst != s {
				*dst, changed = s, true
			}
		}
	}
	set(&c.state.Model, m.Model)
	set(&c.state.Firmware, m.Firmware)
	set(&c.state.IP, m.IP)
	set(&c.state.ConfigVersion, m.ConfigVersion)
	if m.Uptime != nil && *m.Uptime >= 0 {
		c.state.Uptime = *m.Uptime
	}
	return changed
}

func (c *conn) status(m *message) {
	g := c.g
	oldVersion := c.state.ConfigVersion
	if !c.merge(m) {
		return // last_seen goes out with the next flush
	}
	ctx, cancel := g.within(g.ctx, reportTimeout)
	err := g.st.DeviceReported(ctx, c.mac, g.opts.Node, c.connectedAt, g.st.Now(), c.state)
	cancel()
	if err != nil {
		g.log.Warn("gateway: record status", "mac", c.mac, "err", err)
	}
	if c.state.ConfigVersion != oldVersion && c.state.ConfigVersion != "" {
		g.autopApplied(c.mac, c.state.ConfigVersion)
	}
}

func (c *conn) ack(m *message) {
	g := c.g
	if id, ok := parseUpgradeID(m.ID); ok {
		c.upgradeAck(id, m)
		return
	}
	id, ok := parseCommandID(m.ID)
	if !ok {
		return // not one of ours: ignored
	}
	ctx, cancel := g.within(g.ctx, reportTimeout)
	kind, done, err := g.st.AckCommand(ctx, c.id, id, m.OK, m.Error, m.Version)
	cancel()
	if err != nil {
		g.log.Error("gateway: record ack", "mac", c.mac, "command", m.ID, "err", err)
		return
	}
	if done && kind == model.CommandAutoP && m.OK && m.Version != "" {
		v := m.Version
		if len(v) > 64 {
			v = v[:64]
		}
		g.autopApplied(c.mac, v)
	}
}

// autopApplied tells AutoP (store/autop.go) that the device applied a
// config version: its one-time commands go once that version held them.
// The single call site of store.AutoPApplied.
func (g *Gateway) autopApplied(mac, version string) {
	ctx, cancel := g.within(model.WithActor(g.ctx, model.System), reportTimeout)
	defer cancel()
	if err := g.st.AutoPApplied(ctx, mac, version); err != nil {
		g.log.Warn("gateway: record applied config", "mac", mac, "version", version, "err", err)
	}
}

// writeLocked sends one control message (c.wmu held), closing the
// connection when the device does not take it within WriteTimeout.
func (c *conn) writeLocked(v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return c.writeLineLocked(append(b, '\n'))
}

func (c *conn) writeLine(b []byte) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	return c.writeLineLocked(b)
}

func (c *conn) writeLineLocked(b []byte) error {
	if err := c.sess.WriteControl(b); err != nil {
		// A slow or gone reader costs only its own connection. A session
		// closed already was closed by whoever closes the connection too,
		// with its code (readEnded says why: 1008 …).
		if !errors.Is(err, ymux.ErrSessionClosed) {
			c.close(0, "")
		}
		return err
	}
	return nil
}

// sendCommands writes commands to the device, oldest first.
func (c *conn) sendCommands(cs []*model.DeviceCommand) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	for _, cmd := range cs {
		if c.closing.Load() {
			return
		}
		w := command{Type: string(cmd.Kind), ID: CommandID(cmd.ID), Mode: cmd.Mode}
		if cmd.Kind == model.CommandAutoP {
			w.URL = c.autopURL
		}
		if err := c.writeLocked(w); err != nil {
			return
		}
	}
}

// close ends the connection once: with a close frame of code (the device
// has closeWait to answer it, the socket closes then or at its answer), or
// at once when code is 0. From any goroutine.
func (c *conn) close(code closeCode, reason string) {
	if !c.closing.CompareAndSwap(false, true) {
		return
	}
	c.setWhy(fmt.Sprintf("%d %s", code, reason))
	c.sess.End(ymux.ErrSessionClosed) // waiting writers return; the socket stays for the close frame
	if code == 0 {
		c.t.cut()
		return
	}
	c.closeBy.Store(time.Now().Add(closeWait).UnixNano())
	frame := wsCloseFrame(code, reason)
	deadline := time.Now().Add(closeWait)
	if c.t.queues() {
		c.t.write(frame, false, deadline) // queued at worst
		return
	}
	// A streamed socket's write may wait for the device.
	c.g.spawn(func() { c.t.write(frame, true, deadline) })
}

// kill cuts the connection at once, whatever is under way on it.
func (c *conn) kill() { c.t.cut() }

// wire is the session's view of the connection: each write one binary
// message (a yamux frame), as devices expect (docs/device-protocol.md §3).
// It is written under the session's write lock.
type wire struct {
	c        *conn
	deadline time.Time
}

func (w *wire) Read([]byte) (int, error) {
	return 0, errors.New("gateway: the session is fed, not read")
}

// Write sends p as one binary message. Frames with a payload (commands,
// tunnel data: written by goroutines of their own) may wait for room;
// bare headers (the session's answers, written while it is fed) never do.
func (w *wire) Write(p []byte) (int, error) {
	bp := framePool.Get().(*[]byte)
	frame := appendWSHeader((*bp)[:0], opBinary, len(p))
	frame = append(frame, p...)
	deadline := w.deadline
	if deadline.IsZero() {
		deadline = time.Now().Add(w.c.g.opts.WriteTimeout)
	}
	// Under the session's write lock: never wait here (WaitRoom did,
	// before the lock, for frames with a payload).
	err := w.c.t.write(frame, false, deadline)
	*bp = frame[:0]
	framePool.Put(bp)
	if err != nil {
		return 0, err
	}
	return len(p), nil
}

// framePool holds the buffers a session's frame is written from (a yamux
// frame is at most 32 KiB and 12 bytes).
var framePool = sync.Pool{New: func() any { b := make([]byte, 0, 10+12+32<<10); return &b }}

// WaitRoom waits, by deadline, until the transport's queue has room
// (ymux.RoomWaiter): frames with a payload wait there, outside the
// session's write lock.
func (w *wire) WaitRoom(deadline time.Time) error { return w.c.t.waitRoom(deadline) }

func (w *wire) Close() error                       { w.c.close(0, ""); return nil }
func (w *wire) LocalAddr() net.Addr                { return w.c.t.localAddr() }
func (w *wire) RemoteAddr() net.Addr               { return w.c.t.remoteAddr() }
func (w *wire) SetDeadline(t time.Time) error      { return w.SetWriteDeadline(t) }
func (w *wire) SetReadDeadline(time.Time) error    { return nil }
func (w *wire) SetWriteDeadline(t time.Time) error { w.deadline = t; return nil }

// timeoutError is a write that waited past its deadline.
type timeoutError struct{}

func (timeoutError) Error() string   { return "gateway: write timed out" }
func (timeoutError) Timeout() bool   { return true }
func (timeoutError) Temporary() bool { return true }
