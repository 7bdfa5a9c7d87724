package gateway

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"
	"github.com/hashicorp/yamux"

	"github.com/gatehouse-dev/gatehouse/internal/model"
)

// conn is one device connection. Its goroutines are yamux's two and the
// control reader (run); timers are the control stream's deadlines.
type conn struct {
	g        *Gateway
	id       int64
	mac      string
	remote   string
	autopURL string
	ws       *websocket.Conn
	sess     *yamux.Session
	ctrl     *yamux.Stream

	connectedAt time.Time
	state       model.DeviceHello // what the device reported; the reader's alone
	seen        atomic.Bool       // heard from since the last flush
	closing     atomic.Bool
	tunnels     atomic.Int32

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

// readLine reads one control line (without its newline), at most MaxLine
// bytes with the newline.
func readLine(br *bufio.Reader, scratch *[]byte) ([]byte, error) {
	line, err := br.ReadSlice('\n')
	if err == nil {
		return line[:len(line)-1], nil
	}
	if !errors.Is(err, bufio.ErrBufferFull) {
		return nil, err
	}
	buf := append((*scratch)[:0], line...)
	for {
		line, err = br.ReadSlice('\n')
		if len(buf)+len(line) > MaxLine {
			return nil, errLineTooLong
		}
		buf = append(buf, line...)
		if err == nil {
			*scratch = buf[:0]
			if cap(buf) > 4096 {
				*scratch = nil // keep no big buffer between long lines
			}
			return buf[:len(buf)-1], nil
		}
		if !errors.Is(err, bufio.ErrBufferFull) {
			return nil, err
		}
	}
}

// run is the connection's control reader: it waits for the control stream
// and hello, then reads until the connection ends.
func (c *conn) run() {
	g := c.g
	code, reason := websocket.StatusCode(0), ""
	var readErr error
	registered := false
	defer g.wg.Done() // last: Close waits for the offline marks too
	defer func() {
		g.log.Debug("gateway: connection ends", "mac", c.mac, "code", int(code), "reason", reason, "read_err", readErr, "closing", c.closing.Load())
		c.close(code, reason)
		if registered {
			g.unregister(c)
			if !g.isClosing() {
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				if err := g.st.DeviceDisconnected(ctx, c.mac, g.opts.Node, c.connectedAt, g.st.Now()); err != nil {
					g.log.Warn("gateway: mark device offline", "mac", c.mac, "err", err)
				}
				cancel()
			}
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), g.opts.HelloTimeout)
	st, err := c.sess.AcceptStreamWithContext(ctx)
	cancel()
	if err != nil {
		code, reason, readErr = websocket.StatusPolicyViolation, "no control stream", err
		return
	}
	if st.StreamID() != 1 {
		code, reason = websocket.StatusPolicyViolation, "the control stream must be stream 1"
		return
	}
	c.ctrl = st
	// Only the server opens further streams (protocol §3): any the device
	// opens are closed at once, so that none sits in yamux's backlog
	// holding its receive window for the life of the connection.
	go func() {
		for {
			extra, err := c.sess.AcceptStream()
			if err != nil {
				return
			}
			extra.Close()
		}
	}()
	br := bufio.NewReaderSize(st, 256) // longer lines go through scratch
	var scratch []byte

	// hello, within HelloTimeout of the upgrade.
	st.SetReadDeadline(time.Now().Add(g.opts.HelloTimeout))
	line, err := readLine(br, &scratch)
	if err != nil {
		code, reason, readErr = closeFor(err, "no hello")
		return
	}
	// The work on each message (JSON, the database) runs on a goroutine of
	// its own, so that this one, which waits on the device most of its
	// life, keeps a small stack.
	onFreshStack(func() { code, reason, registered = c.hello(line) })
	if code != 0 || !registered {
		return
	}
	silence := 3 * g.opts.Heartbeat
	for {
		st.SetReadDeadline(time.Now().Add(silence))
		line, err := readLine(br, &scratch)
		if err != nil {
			code, reason, readErr = closeFor(err, "silent")
			return
		}
		ok := true
		onFreshStack(func() { ok = c.handle(line) })
		if !ok {
			code, reason = websocket.StatusPolicyViolation, "a control line is not a JSON object"
			return
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
	m, ok := parse(line)
	if !ok || m.Type != "hello" {
		return websocket.StatusPolicyViolation, "the first message must be a hello", false
	}
	c.merge(m)
	c.connectedAt = g.connectedAt()
	if err := g.st.DeviceConnected(context.Background(), c.mac, g.opts.Node, c.connectedAt, c.state); model.ErrorCode(err) == model.ECONFLICT {
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
	err := c.writeLocked(welcome{Type: "welcome", Heartbeat: int(g.opts.Heartbeat / time.Second),
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
		c.write(pong)
	case "ack":
		c.ack(m)
	}
	return true
}

var pong = struct {
	Type string `json:"type"`
}{"pong"}

// closeFor picks how to end a connection whose control read failed.
func closeFor(err error, silent string) (websocket.StatusCode, string, error) {
	switch {
	case errors.Is(err, errLineTooLong):
		return websocket.StatusPolicyViolation, "control line longer than 64 KiB", err
	case errors.Is(err, yamux.ErrTimeout):
		return 0, silent, err // nothing to say to a silent peer
	}
	return 0, "", err
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
		return &m, true
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
	return &m, true
}

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
	if err := g.st.DeviceReported(context.Background(), c.mac, g.opts.Node, c.connectedAt, g.st.Now(), c.state); err != nil {
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
	kind, done, err := g.st.AckCommand(context.Background(), c.id, id, m.OK, m.Error, m.Version)
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
	ctx := model.WithActor(context.Background(), model.System)
	if err := g.st.AutoPApplied(ctx, mac, version); err != nil {
		g.log.Warn("gateway: record applied config", "mac", mac, "version", version, "err", err)
	}
}

// write sends one control message, closing the connection when the device
// does not take it within WriteTimeout.
func (c *conn) write(v any) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	return c.writeLocked(v)
}

func (c *conn) writeLocked(v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	b = append(b, '\n')
	c.ctrl.SetWriteDeadline(time.Now().Add(c.g.opts.WriteTimeout))
	if _, err := c.ctrl.Write(b); err != nil {
		c.close(0, "") // a slow or gone reader costs only its own connection
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
// background: the handshake may take seconds), or at once when code is 0.
func (c *conn) close(code websocket.StatusCode, reason string) {
	if !c.closing.CompareAndSwap(false, true) {
		return
	}
	if code == 0 {
		c.ws.CloseNow()
		c.sess.Close()
		return
	}
	go func() {
		c.ws.Close(code, reason)
		c.sess.Close()
	}()
}
