// Package gateway is the device gateway of docs/device-protocol.md: devices
// connect over WebSocket carrying yamux, report hello/status, receive their
// commands and serve Remote Control tunnels. Commands live in the store; the
// bus tells the node holding a device's connection to send them.
package gateway

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"

	"github.com/gatehouse-dev/gatehouse/internal/bus"
	"github.com/gatehouse-dev/gatehouse/internal/deviceauth"
	"github.com/gatehouse-dev/gatehouse/internal/gateway/ymux"
	"github.com/gatehouse-dev/gatehouse/internal/model"
	"github.com/gatehouse-dev/gatehouse/internal/store"
)

// ErrOffline answers a tunnel to a device no node holds.
var ErrOffline = errors.New("gateway: the device is offline")

// ErrTooManyTunnels answers a tunnel to a device that has its 16 open.
var ErrTooManyTunnels = errors.New("gateway: the device has too many Remote Control tunnels open")

// Headers of the connect request a device may send besides its
// credentials (docs/device-protocol.md §2): the maker's claim code of its
// MAC, and its model and firmware, shown with a pending key.
const (
	HeaderClaim    = "X-Gatehouse-Claim"
	HeaderModel    = "X-Gatehouse-Model"
	HeaderFirmware = "X-Gatehouse-Firmware"
)

// Protocol constants (docs/device-protocol.md).
const (
	Subprotocol   = "gatehouse.device.v1"
	MaxMessage    = 256 << 10 // one WebSocket message
	MaxLine       = 64 << 10  // one control line, newline included
	MaxTunnels    = 16        // tunnel streams per device at once
	MaxBusBody    = 1 << 20   // a tunnel body carried between nodes
	closeReplaced = websocket.StatusCode(4409)
)

// Bus subjects.
const (
	subjectKick      = "gatehouse.device.kick"      // JSON list of MACs with new commands
	subjectConnected = "gatehouse.device.connected" // a device connected: older connections elsewhere close
	subjectTunnel    = "gatehouse.device.tunnel."   // + node: Remote Control requests for that node's devices
	subjectDeleted   = "gatehouse.device.deleted"   // JSON list of MACs deleted: their connections close
	subjectRevoked   = "gatehouse.device.revoked"   // JSON list of MACs whose accepted key changed: their connections close
)

// closeDeleted closes the connection of a device deleted from the cloud;
// closeRevoked one whose key is no longer the accepted one.
const (
	closeDeleted = websocket.StatusCode(4404)
	closeRevoked = websocket.StatusCode(4403)
)

// Options tune one node's gateway.
type Options struct {
	Node      string        // this node's name, unique among nodes (default: host name + pid)
	PublicURL string        // base of the autop_url sent to devices; default: the request's host
	Heartbeat time.Duration // sent to devices in welcome (default 30s); silence for 3× closes
	// Limiter bounds attempts with keys the cloud did not accept, shared
	// with the node's AutoP server (nil: one of the gateway's own, with
	// deviceauth.DefaultLimits).
	Limiter *deviceauth.Limiter
	// The rest are for tests; zero means the protocol's value.
	HelloTimeout  time.Duration // connect to hello (10s)
	WriteTimeout  time.Duration // one write to a device (10s)
	TunnelTimeout time.Duration // a Remote Control request (15s)
	ResendEvery   time.Duration // Run's sweep for queued commands of held devices (30s)
	ExpireEvery   time.Duration // Run's expiry of old commands (1m)
}

// Gateway is one node's device gateway.
type Gateway struct {
	st   *store.Store
	bus  bus.Bus
	log  *slog.Logger
	opts Options

	mu      sync.Mutex
	conns   map[string]*conn // MAC → this node's current connection
	closing bool
	unsubs  []func()
	wg      sync.WaitGroup
	stop    chan struct{}
	flusher sync.Once

	started       time.Time    // connections before it belong to an earlier run of this node
	lastConnected atomic.Int64 // UnixMicro of the last connected_at handed out
	seq           atomic.Uint64
}

// New returns a gateway, answering the bus at once; Run starts its
// background work.
func New(st *store.Store, b bus.Bus, log *slog.Logger, opts Options) *Gateway {
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if b == nil {
		b = bus.NewLocal()
	}
	if opts.Node == "" {
		host, _ := os.Hostname()
		if host == "" {
			host = "gatehouse"
		}
		opts.Node = fmt.Sprintf("%s-%d", host, os.Getpid())
	}
	opts.PublicURL = strings.TrimSuffix(opts.PublicURL, "/")
	if opts.Heartbeat <= 0 {
		opts.Heartbeat = 30 * time.Second
	}
	opts.Heartbeat = opts.Heartbeat.Truncate(time.Second)
	if opts.Heartbeat < time.Second {
		opts.Heartbeat = time.Second
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&opts.HelloTimeout, 10*time.Second)
	def(&opts.WriteTimeout, 10*time.Second)
	def(&opts.TunnelTimeout, 15*time.Second)
	def(&opts.ResendEvery, 30*time.Second)
	def(&opts.ExpireEvery, time.Minute)
	if opts.Limiter == nil {
		opts.Limiter = deviceauth.NewLimiter(deviceauth.Limits{})
	}
	g := &Gateway{st: st, bus: b, log: log.With("node", opts.Node), opts: opts, conns: map[string]*conn{}, stop: make(chan struct{}),
		started: time.Now()}
	for subject, fn := range map[string]func([]byte){subjectKick: g.onKick, subjectConnected: g.onConnected, subjectDeleted: g.onDeleted,
		subjectRevoked: g.onRevoked} {
		if un, err := b.Subscribe(subject, fn); err != nil {
			g.log.Error("gateway: subscribe", "subject", subject, "err", err)
		} else {
			g.unsubs = append(g.unsubs, un)
		}
	}
	if un, err := b.Respond(subjectTunnel+subjectToken(opts.Node), g.onTunnel); err != nil {
		g.log.Error("gateway: answer tunnels", "err", err)
	} else {
		g.unsubs = append(g.unsubs, un)
	}
	return g
}

// Node is this node's name.
func (g *Gateway) Node() string { return g.opts.Node }

// subjectToken makes a node name usable as one token of a bus subject.
func subjectToken(s string) string {
	return strings.Map(func(r rune) rune {
		switch r {
		case '.', '*', '>', ' ', '\t', '\r', '\n':
			return '_'
		}
		return r
	}, s)
}

// CommandID is a command's id on the wire ("c1042").
func CommandID(id int64) string { return fmt.Sprintf("c%d", id) }

func parseCommandID(s string) (int64, bool) {
	var id int64
	if len(s) < 2 || s[0] != 'c' {
		return 0, false
	}
	for _, r := range s[1:] {
		if r < '0' || r > '9' || id > (1<<62)/10 {
			return 0, false
		}
		id = id*10 + int64(r-'0')
	}
	return id, true
}

// ServeHTTP is GET /device/v1/connect: the device is authenticated before
// the upgrade: 400 malformed; the one refusal of deviceauth for an unknown
// MAC and for every key the cloud has not accepted (a new one is recorded
// as pending); 429 over the attempt limits.
func (g *Gateway) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if g.isClosing() {
		http.Error(w, "The node is shutting down; connect again.", http.StatusServiceUnavailable)
		return
	}
	mac, key, ok := r.BasicAuth()
	if !ok {
		http.Error(w, "Authorization: Basic base64(MAC:key) is required.", http.StatusBadRequest)
		return
	}
	if !offers(r, Subprotocol) {
		http.Error(w, "Sec-WebSocket-Protocol must offer "+Subprotocol+".", http.StatusBadRequest)
		return
	}
	var limited *deviceauth.Outcome
	src := deviceauth.Source(r.RemoteAddr)
	norm, _ := model.NormalizeMAC(mac)
	d, err := g.st.AuthenticateDevice(r.Context(), model.DeviceAttempt{MAC: mac, Key: key, Claim: r.Header.Get(HeaderClaim),
		RemoteAddr: r.RemoteAddr, Model: r.Header.Get(HeaderModel), Firmware: r.Header.Get(HeaderFirmware),
		Allow: func() error {
			if o := g.opts.Limiter.Take(src, norm); !o.OK {
				limited = &o
				return errLimited
			}
			return nil
		}})
	switch {
	case limited != nil:
		if limited.Report {
			g.auditLimited(norm, r.RemoteAddr, limited.Why)
		}
		deviceauth.TooMany(w, limited.RetryAfter)
		return
	case err == nil:
	case model.ErrorCode(err) == model.EINVALID:
		http.Error(w, model.ErrorMessage(err), http.StatusBadRequest)
		return
	case model.ErrorCode(err) == model.ENOTFOUND, model.ErrorCode(err) == model.EFORBIDDEN:
		deviceauth.Refuse(w)
		return
	default:
		g.log.Error("gateway: authenticate device", "mac", mac, "err", err)
		http.Error(w, "The node is busy; connect again later.", http.StatusServiceUnavailable)
		return
	}
	// The server's Read/WriteTimeout deadlines stay on a hijacked
	// connection: clear them (heartbeats watch the connection instead).
	rc := http.NewResponseController(w)
	rc.SetReadDeadline(time.Time{})
	rc.SetWriteDeadline(time.Time{})
	ws, err := websocket.Accept(leanHijacker{w}, r, &websocket.AcceptOptions{Subprotocols: []string{Subprotocol},
		CompressionMode: websocket.CompressionDisabled, InsecureSkipVerify: true})
	if err != nil {
		return // Accept answered
	}
	nc := websocket.NetConn(context.Background(), ws, websocket.MessageBinary)
	ws.SetReadLimit(MaxMessage) // after NetConn, which lifts the limit
	c := &conn{g: g, id: d.ID, mac: d.MAC, ws: ws, nc: nc, remote: r.RemoteAddr, autopURL: g.autopURL(r, d.MAC)}
	c.sess = ymux.Server(nc, ymux.Config{Control: c.control, WriteTimeout: g.opts.WriteTimeout, MaxStreams: MaxTunnels})
	g.mu.Lock()
	if g.closing {
		g.mu.Unlock()
		ws.CloseNow()
		return
	}
	g.wg.Add(1)
	g.mu.Unlock()
	go c.run()
}

var errLimited = errors.New("gateway: over the attempt limits")

// auditLimited records that attempts for mac from remoteAddr hit the limits
// (the limiter bounds how often).
func (g *Gateway) auditLimited(mac, remoteAddr, why string) {
	ctx, cancel := context.WithTimeout(model.WithActor(context.Background(), model.System), 5*time.Second)
	defer cancel()
	if err := g.st.Audit(ctx, "device.auth_limited", "device", mac, map[string]any{"mac": mac, "remote_addr": remoteAddr,
		"limit": why, "via": "gateway"}); err != nil {
		g.log.Warn("gateway: audit a limited attempt", "err", err)
	}
}

// leanHijacker hands the WebSocket small buffers instead of net/http's
// 4 KiB reader and writer: a device connection is mostly idle, and 100,000
// of them must fit in memory. Larger reads and writes bypass the buffers.
type leanHijacker struct{ http.ResponseWriter }

// Frame headers and short messages go through the buffers; longer
// payloads are read and written directly.
const (
	leanReadBuffer  = 256
	leanWriteBuffer = 512
)

func (l leanHijacker) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	conn, brw, err := http.NewResponseController(l.ResponseWriter).Hijack()
	if err != nil {
		return nil, nil, err
	}
	// What the device sent right after its request is already read:
	// it must be in the new reader's buffer (Accept takes it from there).
	n := brw.Reader.Buffered()
	if n > leanReadBuffer {
		return conn, brw, nil // rare: keep net/http's buffers
	}
	var r io.Reader = conn
	if n > 0 {
		b, _ := brw.Reader.Peek(n)
		r = io.MultiReader(bytes.NewReader(bytes.Clone(b)), conn)
	}
	br := bufio.NewReaderSize(r, leanReadBuffer)
	if n > 0 {
		if _, err := br.Peek(n); err != nil {
			conn.Close()
			return nil, nil, err
		}
	}
	return conn, bufio.NewReadWriter(br, bufio.NewWriterSize(conn, leanWriteBuffer)), nil
}

// offers reports whether the request offers the WebSocket subprotocol p.
func offers(r *http.Request, p string) bool {
	for _, h := range r.Header.Values("Sec-WebSocket-Protocol") {
		for _, v := range strings.Split(h, ",") {
			if strings.TrimSpace(v) == p {
				return true
			}
		}
	}
	return false
}

func (g *Gateway) autopURL(r *http.Request, mac string) string {
	base := g.opts.PublicURL
	if base == "" {
		scheme := "http"
		if r.TLS != nil {
			scheme = "https"
		}
		base = scheme + "://" + r.Host
	}
	return base + "/autop/" + mac + ".cfg"
}

func (g *Gateway) isClosing() bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.closing
}

// connectedAt hands out a connection time unique on this node, so that a
// connection's end never mistakes a newer connection for its own.
func (g *Gateway) connectedAt() time.Time {
	for {
		now := g.st.Now().UTC().Truncate(time.Microsecond)
		last := g.lastConnected.Load()
		if now.UnixMicro() <= last {
			now = time.UnixMicro(last + 1).UTC()
		}
		if g.lastConnected.CompareAndSwap(last, now.UnixMicro()) {
			return now
		}
	}
}

// register makes c the device's current connection on this node, closing
// an older one, and tells the other nodes to close theirs.
// register outcomes.
const (
	registered = iota
	registerClosing
	registerOlder // a newer connection of the device is here already
)

func (g *Gateway) register(c *conn) int {
	g.mu.Lock()
	if g.closing {
		g.mu.Unlock()
		return registerClosing
	}
	old := g.conns[c.mac]
	if old != nil && old.connectedAt.After(c.connectedAt) {
		// Two connections at once: the newer (as the store records it) wins.
		g.mu.Unlock()
		return registerOlder
	}
	g.conns[c.mac] = c
	g.mu.Unlock()
	if old != nil {
		old.close(closeReplaced, "replaced by a newer connection")
	}
	g.flusher.Do(func() { go g.flushSeen() })
	msg, _ := json.Marshal(connectedMsg{MAC: c.mac, Node: g.opts.Node, At: c.connectedAt.UnixMicro()})
	if err := g.bus.Publish(subjectConnected, msg); err != nil {
		g.log.Warn("gateway: publish connect", "mac", c.mac, "err", err)
	}
	return registered
}

func (g *Gateway) unregister(c *conn) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.conns[c.mac] == c {
		delete(g.conns, c.mac)
		return true
	}
	return false
}

func (g *Gateway) local(mac string) *conn {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.conns[mac]
}

type connectedMsg struct {
	MAC  string `json:"mac"`
	Node string `json:"node"`
	At   int64  `json:"at"` // UnixMicro
}

// onConnected closes this node's connection of a device that connected
// to another node since.
func (g *Gateway) onConnected(data []byte) {
	var m connectedMsg
	if json.Unmarshal(data, &m) != nil || m.Node == g.opts.Node {
		return
	}
	if c := g.local(m.MAC); c != nil && c.connectedAt.UnixMicro() < m.At {
		c.close(closeReplaced, "replaced by a newer connection")
	}
}

// Deleted closes, on whichever node holds them, the connections of devices
// just deleted: their MACs are free and their keys unbound, so they must not
// stay connected as if registered.
func (g *Gateway) Deleted(ctx context.Context, macs ...string) {
	g.publishMACs(subjectDeleted, macs)
}

func (g *Gateway) onDeleted(data []byte) {
	var macs []string
	if json.Unmarshal(data, &macs) != nil {
		return
	}
	for _, m := range macs {
		if c := g.local(m); c != nil {
			c.close(closeDeleted, "the device was deleted from the cloud")
		}
	}
}

// Revoked closes, on whichever node holds them, the connections of devices
// whose accepted key a person just replaced: they were made with the old
// key, which gets nothing any more.
func (g *Gateway) Revoked(ctx context.Context, macs ...string) {
	g.publishMACs(subjectRevoked, macs)
}

func (g *Gateway) onRevoked(data []byte) {
	var macs []string
	if json.Unmarshal(data, &macs) != nil {
		return
	}
	for _, m := range macs {
		if c := g.local(m); c != nil {
			c.close(closeRevoked, "the key of this connection is no longer accepted")
		}
	}
}

// Connected counts the devices connected to this node.
func (g *Gateway) Connected() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return len(g.conns)
}

// Kick tells whichever node holds each device's connection to send its
// pending commands now. Devices that are offline get them when they connect.
func (g *Gateway) Kick(ctx context.Context, macs ...string) {
	g.publishMACs(subjectKick, macs)
}

// publishMACs sends the MACs (any notation; the malformed are dropped) to
// every node on subject, as one message.
func (g *Gateway) publishMACs(subject string, macs []string) {
	norm := make([]string, 0, len(macs))
	for _, m := range macs {
		if n, ok := model.NormalizeMAC(m); ok {
			norm = append(norm, n)
		}
	}
	if len(norm) == 0 {
		return
	}
	data, _ := json.Marshal(norm)
	if err := g.bus.Publish(subject, data); err != nil {
		g.log.Warn("gateway: publish", "subject", subject, "devices", len(norm), "err", err)
	}
}

func (g *Gateway) onKick(data []byte) {
	var macs []string
	if json.Unmarshal(data, &macs) != nil {
		return
	}
	var held []*conn
	g.mu.Lock()
	for _, m := range macs {
		if c := g.conns[m]; c != nil {
			held = append(held, c)
		}
	}
	g.mu.Unlock()
	if len(held) > 0 {
		go g.deliver(held, false)
	}
}

// deliver sends the commands of the devices of these connections that
// they were not told yet (all that are pending, for a new connection): one
// query for all, marked sent, then written to each device. Commands sent
// to an earlier connection and not acknowledged go again on the next one.
func (g *Gateway) deliver(conns []*conn, resend bool) {
	ctx := context.Background()
	ids := make([]int64, len(conns))
	for i, c := range conns {
		ids[i] = c.id
	}
	list := g.st.QueuedCommands
	if resend {
		list = g.st.PendingCommands
	}
	pending, err := list(ctx, ids...)
	if err != nil {
		g.log.Error("gateway: pending commands", "err", err)
		return
	}
	var sent []int64
	for _, cs := range pending {
		for _, c := range cs {
			sent = append(sent, c.ID)
		}
	}
	if len(sent) == 0 {
		return
	}
	if err := g.st.MarkCommandsSent(ctx, sent...); err != nil {
		g.log.Error("gateway: mark commands sent", "err", err)
		return
	}
	for _, c := range conns {
		if cs := pending[c.id]; len(cs) > 0 {
			go c.sendCommands(cs)
		}
	}
}

// flushSeen writes last_seen of the devices heard from, in bulk, every
// half heartbeat.
func (g *Gateway) flushSeen() {
	t := time.NewTicker(g.opts.Heartbeat / 2)
	defer t.Stop()
	for {
		select {
		case <-g.stop:
			return
		case <-t.C:
		}
		var ids []int64
		g.mu.Lock()
		for _, c := range g.conns {
			if c.seen.Swap(false) {
				ids = append(ids, c.id)
			}
		}
		g.mu.Unlock()
		if len(ids) > 0 {
			if err := g.st.DevicesSeen(context.Background(), g.opts.Node, g.st.Now(), ids); err != nil {
				g.log.Warn("gateway: record last seen", "devices", len(ids), "err", err)
			}
		}
	}
}

// Run does the node's background work until ctx ends: devices this node
// left online before a restart go offline, old commands expire, and queued
// commands of devices held here are sent (a safety net for a lost bus
// message).
func (g *Gateway) Run(ctx context.Context) error {
	if n, err := g.st.NodeOffline(ctx, g.opts.Node, g.started); err != nil {
		g.log.Error("gateway: clear this node's devices", "err", err)
	} else if n > 0 {
		g.log.Info("gateway: devices left online by this node's previous run are offline", "devices", n)
	}
	g.sweepStale(ctx)
	expire := time.NewTicker(g.opts.ExpireEvery)
	defer expire.Stop()
	resend := time.NewTicker(g.opts.ResendEvery)
	defer resend.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-g.stop:
			return nil
		case <-expire.C:
			if n, err := g.st.ExpireCommands(ctx); err != nil && ctx.Err() == nil {
				g.log.Error("gateway: expire commands", "err", err)
			} else if n > 0 {
				g.log.Info("gateway: commands expired", "count", n)
			}
			g.sweepStale(ctx)
		case <-resend.C:
			macs, err := g.st.QueuedCommandDevices(ctx, g.opts.Node)
			if err != nil {
				if ctx.Err() == nil {
					g.log.Error("gateway: queued commands", "err", err)
				}
				continue
			}
			var held []*conn
			g.mu.Lock()
			for _, m := range macs {
				if c := g.conns[m]; c != nil {
					held = append(held, c)
				}
			}
			g.mu.Unlock()
			if len(held) > 0 {
				g.deliver(held, false)
			}
		}
	}
}

// sweepStale takes offline the devices no node has heard from for a while
// (a node that died, or online flags that no connection ever set): five
// heartbeats, and at least two minutes, of silence.
func (g *Gateway) sweepStale(ctx context.Context) {
	n, err := g.st.StaleOffline(ctx, time.Now().Add(-max(5*g.opts.Heartbeat, 2*time.Minute)))
	if err != nil && ctx.Err() == nil {
		g.log.Error("gateway: stale devices", "err", err)
	} else if n > 0 {
		g.log.Info("gateway: devices nothing was heard from are offline", "devices", n)
	}
}

// Close ends every device connection of this node and marks its devices
// offline.
func (g *Gateway) Close() error {
	g.mu.Lock()
	if g.closing {
		g.mu.Unlock()
		return nil
	}
	g.closing = true
	conns := make([]*conn, 0, len(g.conns))
	for _, c := range g.conns {
		conns = append(conns, c)
	}
	unsubs := g.unsubs
	g.unsubs = nil
	g.mu.Unlock()
	close(g.stop)
	for _, un := range unsubs {
		un()
	}
	for _, c := range conns {
		c.close(0, "")
	}
	done := make(chan struct{})
	go func() { g.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		g.log.Warn("gateway: device connections still closing")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := g.st.NodeOffline(ctx, g.opts.Node, time.Now().Add(time.Hour)); err != nil {
		g.log.Warn("gateway: mark this node's devices offline", "err", err)
	}
	return nil
}
