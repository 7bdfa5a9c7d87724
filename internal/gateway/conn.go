package gateway

import (
	"bytes"
	"encoding/json"
	"errors"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"

	"github.com/gatehouse-dev/gatehouse/internal/gateway/ymux"
	"github.com/gatehouse-dev/gatehouse/internal/model"
)

// conn is one device connection. Its one goroutine is the reader (run,
// in ymux's Serve); the timers are the WebSocket's read and write
// deadlines. Its pong writer and close handshake, when under way, are
// goroutines of the gateway too.
type conn struct {
	g        *Gateway
	id       int64
	mac      string
	remote   string
	autopURL string
	ws       *websocket.Conn
	nc       net.Conn // ws as the byte stream the session runs on
	raw      net.Conn // the hijacked connection under ws (nil in tests without one)
	sess     *ymux.Session
	admitted *slot // the connect's place (admission.go), released when hello is done

	connectedAt time.Time
	// The reader's alone:
	state      model.DeviceHello // what the device reported
	registered bool              // hello taken: the device is this node's
	lines      lines             // the control stream, split
	deadline   time.Time         // of the read now waiting

	seen    atomic.Bool // heard from since the last flush
	closing atomic.Bool
	tunnels atomic.Int32
	pongs   atomic.Int32 // statuses not answered yet

	wmu sync.Mutex // one writer at a time on the control stream
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
	code   websocket.StatusCode
	reason string
}

func (e *closeError) Error() string { return e.reason }

// control takes the control stream's bytes as they come (ymux's Control,
// on the reader).
func (c *conn) control(p []byte) error { return c.lines.feed(p, c.line) }

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
		l.partial = l.partial[:0]
		if cap(l.partial) > 4096 {
			l.partial = nil // keep no big buffer between long lines
		}
	}
	return nil
}

// line acts on one control line: the first must be the hello. Only a
// complete line puts off the silence deadline (pings and partial lines do
// not).
func (c *conn) line(line []byte) error {
	if !c.registered {
		// The work on each message (JSON, the database) runs on a
		// goroutine of its own, so that the reader, which waits on the
		// device most of its life, keeps a small stack.
		var code websocket.StatusCode
		var reason string
		onFreshStack(func() { code, reason, c.registered = c.hello(line) })
		if code != 0 || !c.registered {
			return &closeError{code, reason}
		}
	} else {
		ok := true
		onFreshStack(func() { ok = c.handle(line) })
		if !ok {
			return &closeError{websocket.StatusPolicyViolation, "a control line is not a JSON object"}
		}
	}
	c.setReadDeadline(3 * c.g.opts.Heartbeat)
	return nil
}

// setReadDeadline bounds the wait for the device's next control line.
func (c *conn) setReadDeadline(d time.Duration) {
	c.deadline = time.Now().Add(d)
	c.nc.SetReadDeadline(c.deadline)
}

// run is the connection's one goroutine: it reads the session (ymux hands
// the control stream's bytes to control) until the connection ends.
func (c *conn) run() {
	g := c.g
	code, reason := websocket.StatusCode(0), ""
	var readErr error
	defer g.wg.Done() // last: Shutdown waits for the offline marks too
	defer func() {
		c.admitted.release() // ended before its hello was done
		g.log.Debug("gateway: connection ends", "mac", c.mac, "code", int(code), "reason", reason, "read_err", readErr, "closing", c.closing.Load())
		c.close(code, reason)
		g.unregister(c)
		if c.registered && !g.isClosing() {
			ctx, cancel := g.within(g.ctx, disconnectTimeout)
			if err := g.st.DeviceDisconnected(ctx, c.mac, g.opts.Node, c.connectedAt, g.st.Now()); err != nil {
				g.log.Warn("gateway: mark device offline", "mac", c.mac, "err", err)
			}
			cancel()
		}
	}()
	// The control stream and hello, within HelloTimeout of the upgrade.
	c.setReadDeadline(g.opts.HelloTimeout)
	readErr = c.sess.Serve()
	var ce *closeError
	switch {
	case errors.As(readErr, &ce):
		code, reason = ce.code, ce.reason
	case errors.Is(readErr, errLineTooLong):
		code, reason = websocket.StatusPolicyViolation, "control line longer than 64 KiB"
	case errors.Is(readErr, ymux.ErrNotControlStream):
		code, reason = websocket.StatusPolicyViolation, "the control stream must be stream 1"
	case errors.Is(readErr, ymux.ErrNoControlStream):
		code, reason = websocket.StatusPolicyViolation, "no control stream"
	case !time.Now().Before(c.deadline):
		// The read deadline passed (websocket.NetConn reports it as a
		// cancelled read): nothing to say to a silent peer.
		reason = "silent"
		if !c.registered {
			reason = "no hello"
		}
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

// hello takes the device's first message: the connection is recorded,
// registered and welcomed, and the device's pending commands sent.
func (c *conn) hello(line []byte) (code websocket.StatusCode, reason string, registered bool) {
	g := c.g
	defer c.admitted.release()
	m, ok := parse(line)
	if !ok || m.Type != "hello" {
		return websocket.StatusPolicyViolation, "the first message must be a hello", false
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
		return websocket.StatusTryAgainLater, "try again later", false
	}
	// Commands wait for the welcome: the writer is held until it is out.
	c.wmu.Lock()
	switch g.register(c) {
	case registerClosing:
		c.wmu.Unlock()
		return websocket.StatusGoingAway, "the node is shutting down", false
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
	}
	return true
}

var pongLine = []byte(`{"type":"pong"}` + "\n")

// pong answers a status without holding up the reader: the write may wait
// for the device to open its window, and only the reader can see it do
// so. One goroutine at a time writes the pongs owed, together.
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
		// with its code: run, after Serve, says why (1008 …).
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

// close ends the connection once: with a close frame of code (in the
// background, within closeWait: the handshake may take seconds), or at
// once when code is 0. Only from a goroutine of the gateway, or Shutdown.
func (c *conn) close(code websocket.StatusCode, reason string) {
	if !c.closing.CompareAndSwap(false, true) {
		return
	}
	if code == 0 {
		c.ws.CloseNow()
		c.sess.Close()
		return
	}
	if c.raw != nil {
		// The reader and the handshake's writes fail past it: a device
		// that neither reads nor answers costs closeWait at most.
		c.raw.SetDeadline(time.Now().Add(closeWait))
	}
	c.g.spawn(func() {
		c.ws.Close(code, reason)
		c.sess.Close()
	})
}

// kill cuts the connection at once, whatever is under way on it: every
// read and write on the socket fails now.
func (c *conn) kill() {
	if c.raw != nil {
		c.raw.SetDeadline(time.Unix(1, 0))
	}
}
