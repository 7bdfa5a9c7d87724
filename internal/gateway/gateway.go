// Package gateway is the device gateway of docs/device-protocol.md: devices
// connect over WebSocket carrying yamux, report hello/status, receive their
// commands and serve Remote Control tunnels. Commands live in the store; the
// bus tells the node holding a device's connection to send them.
package gateway

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

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
	closeReplaced = closeCode(4409)
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
	closeDeleted = closeCode(4404)
	closeRevoked = closeCode(4403)
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
	// MaxConnecting bounds the connects in progress, request to hello
	// done; more are answered 503 with a Retry-After (admission.go).
	// Default DefaultMaxConnecting.
	MaxConnecting int
	// The rest are for tests; zero means the protocol's value.
	HelloTimeout  time.Duration // connect to hello (10s)
	WriteTimeout  time.Duration // one write to a device (10s)
	TunnelTimeout time.Duration // a Remote Control request (15s)
	// DiagnosticIdle is the longest silence of a device running a
	// diagnostic (30s; a capture's seconds more).
	DiagnosticIdle time.Duration
	// DiagnosticsAtOnce bounds the diagnostics this node runs at once
	// (16): each holds its result in memory until complete, up to its
	// max_bytes. More wait queued until one ends.
	DiagnosticsAtOnce int
	ResendEvery       time.Duration // Run's sweep for queued commands of held devices (DefaultResendEvery)
	ExpireEvery       time.Duration // Run's expiry of old commands (1m)
	StoreTimeout      time.Duration // bounds every store call instead of its own deadline (the constants below)
	// Streamed gives every connection a reader goroutine, as TLS ones
	// have, instead of the event loop (tests of that path).
	Streamed bool
}

// DefaultResendEvery is how often Run sends the queued commands of the
// devices this node holds: the bound on a command's delay when its kick was
// lost (the bus down, a node's message missed).
const DefaultResendEvery = 30 * time.Second

// Deadlines of the gateway's store calls: a stuck database fails the call,
// it never holds the goroutine that made it (nor Shutdown) for longer.
const (
	authTimeout        = 10 * time.Second // a device's credentials, at connect (its request bounds it too)
	connectTimeout     = 10 * time.Second // record a hello
	reportTimeout      = 5 * time.Second  // a status, an ack, an applied config version, an audit entry
	commandsTimeout    = 10 * time.Second // read the commands to send; mark them sent
	seenTimeout        = 10 * time.Second // one bulk write of last_seen
	disconnectTimeout  = 10 * time.Second // a device's connection ended
	lookupTimeout      = 5 * time.Second  // which node holds a device (Remote Control)
	sweepTimeout       = 30 * time.Second // Run's bulk updates: this node's devices offline, expiry, stale devices, queued commands
	nodeOfflineTimeout = 10 * time.Second // Shutdown's last write: this node's devices offline
)

// Bounds of closing.
const (
	// closeWait bounds a close handshake with a device: the close frame
	// out, the device's answer in. A device that does not answer is cut.
	closeWait = 5 * time.Second
	// forceGrace is how long Shutdown waits for its goroutines after its
	// ctx ended and everything was cut.
	forceGrace = time.Second
	// closeTimeout bounds Close.
	closeTimeout = 15 * time.Second
)

// Gateway is one node's device gateway.
type Gateway struct {
	st   *store.Store
	bus  bus.Bus
	log  *slog.Logger
	opts Options

	// ctx is the gateway's life, the parent of every store call it makes:
	// cancelled when Shutdown ends, or gives up waiting.
	ctx    context.Context
	cancel context.CancelFunc
	// stopping ends at the start of Shutdown: Run and the last-seen
	// flusher stop.
	stopping context.Context
	stop     context.CancelFunc

	mu    sync.Mutex
	conns map[string]*conn   // MAC → this node's current connection
	live  map[*conn]struct{} // every connection being served, before hello too
	// awaitingHello: device id → its connection upgraded and not yet past
	// its hello. One each: a newer connect of the device replaces it, so
	// that one key cannot hold many of the node's connect places.
	awaitingHello map[int64]*conn
	closing       bool
	unsubs        []func()
	// wg counts every connection until it ended (its reader goroutine, or
	// its place in the event loop) and every goroutine of the gateway: a
	// close frame's writer and the pong writer, command deliveries, the
	// last-seen flusher, Run and the bus handlers while they run. Shutdown
	// waits for it.
	wg       sync.WaitGroup
	shutdown chan struct{} // closed when Shutdown has finished
	flusher  sync.Once
	sweeper  sync.Once

	started       time.Time    // connections before it belong to an earlier run of this node
	lastConnected atomic.Int64 // UnixMicro of the last connected_at handed out
	seq           atomic.Uint64
	authenticated atomic.Uint64 // connects authenticated: their order (conn.authN)
	admission     admission     // connects in progress (admission.go)
	upgrades      upgradeGate   // is any firmware upgrade in flight (upgrades.go)
	diags         diagGate      // is any diagnostic queued (diagnostics.go)
	diagSlots     chan struct{} // one per diagnostic running here (Options.DiagnosticsAtOnce)
	diagMu        sync.Mutex
	diagWaiting   map[string]*conn // devices with a diagnostic left queued for want of a slot
	diagBy        map[string]int   // slots taken per requesting account

	// closingSince (under mu) is when Shutdown began, closingFrom how many
	// connections it had to close (closingRetryAfter).
	closingSince time.Time
	closingFrom  int
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
	def(&opts.DiagnosticIdle, 30*time.Second)
	if opts.DiagnosticsAtOnce <= 0 {
		opts.DiagnosticsAtOnce = DefaultDiagnosticsAtOnce
	}
	def(&opts.ResendEvery, DefaultResendEvery)
	def(&opts.ExpireEvery, time.Minute)
	if opts.Limiter == nil {
		opts.Limiter = deviceauth.NewLimiter(deviceauth.Limits{})
	}
	g := &Gateway{st: st, bus: b, log: log.With("node", opts.Node), opts: opts, conns: map[string]*conn{}, live: map[*conn]struct{}{}, awaitingHello: map[int64]*conn{},
		shutdown: make(chan struct{}), started: time.Now(), diagSlots: make(chan struct{}, opts.DiagnosticsAtOnce), diagWaiting: map[string]*conn{}, diagBy: map[string]int{}}
	g.admission.max = int64(cmp.Or(opts.MaxConnecting, DefaultMaxConnecting))
	g.ctx, g.cancel = context.WithCancel(context.Background())
	g.stopping, g.stop = context.WithCancel(g.ctx)
	for subject, fn := range map[string]func([]byte){subjectKick: g.onKick, subjectConnected: g.onConnected, subjectDeleted: g.onDeleted,
		subjectRevoked: g.onRevoked} {
		if un, err := b.Subscribe(subject, func(data []byte) {
			if g.enter() {
				defer g.wg.Done()
				fn(data)
			}
		}); err != nil {
			g.log.Error("gateway: subscribe", "subject", subject, "err", err)
		} else {
			g.unsubs = append(g.unsubs, un)
		}
	}
	if un, err := b.Respond(subjectTunnel+subjectToken(opts.Node), func(data []byte) ([]byte, bool) {
		if !g.enter() {
			return frame(tunnelReply{Offline: true}, nil), true
		}
		defer g.wg.Done()
		return g.onTunnel(data)
	}); err != nil {
		g.log.Error("gateway: answer tunnels", "err", err)
	} else {
		g.unsubs = append(g.unsubs, un)
	}
	return g
}

// Node is this node's name.
func (g *Gateway) Node() string { return g.opts.Node }

// enter counts in a goroutine that comes from outside (a bus message,
// Run) for as long as it runs in the gateway: false once Shutdown began.
func (g *Gateway) enter() bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closing {
		return false
	}
	g.wg.Add(1)
	return true
}

// spawn runs fn on a goroutine Shutdown waits for: only from a goroutine
// counted already, or from Shutdown before it waits.
func (g *Gateway) spawn(fn func()) {
	g.wg.Add(1)
	go func() {
		defer g.wg.Done()
		fn()
	}()
}

// within bounds one store call made under ctx: d, or Options.StoreTimeout
// when set.
func (g *Gateway) within(ctx context.Context, d time.Duration) (context.Context, context.CancelFunc) {
	if g.opts.StoreTimeout > 0 {
		d = g.opts.StoreTimeout
	}
	return context.WithTimeout(ctx, d)
}

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
	// Only the form the cloud writes (CommandID): no sign, no leading
	// zero, ids from 1 — "c007" is not command 7's id, and a device
	// echoing something else acknowledges nothing.
	if len(s) < 2 || s[0] != 'c' || s[1] == '0' {
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

// parseUpgradeID reads a firmware upgrade's command id ("u77").
func parseUpgradeID(s string) (int64, bool) {
	if len(s) < 2 || s[0] != 'u' {
		return 0, false
	}
	return parseCommandID("c" + s[1:])
}

// helloDone: c is past its hello (recorded or refused).
func (g *Gateway) helloDone(c *conn) {
	g.mu.Lock()
	if g.awaitingHello[c.id] == c {
		delete(g.awaitingHello, c.id)
	}
	g.mu.Unlock()
}

// ServeHTTP is GET /device/v1/connect: the device is authenticated before
// the upgrade: 400 malformed; the one refusal of deviceauth for an unknown
// MAC and for every key the cloud has not accepted (a new one is recorded
// as pending); 429 over the attempt limits.
func (g *Gateway) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	admitted := g.admit(w) // nil: answered 503 (admission.go)
	if admitted == nil {
		return
	}
	defer admitted.abandon()
	if g.isClosing() {
		// A node shutting down is usually restarting: the device is told
		// to come back in a few seconds (spread), and its back-off does not
		// grow for it (protocol §2).
		w.Header().Set("Retry-After", strconv.Itoa(g.closingRetryAfter()))
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
	actx, cancel := g.within(r.Context(), authTimeout)
	defer cancel()
	d, err := g.st.AuthenticateDevice(actx, model.DeviceAttempt{MAC: mac, Key: key, Claim: r.Header.Get(HeaderClaim),
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
	authN := g.authenticated.Add(1)
	// The server's Read/WriteTimeout deadlines stay on a hijacked
	// connection: clear them (the gateway's sweep watches the connection
	// instead).
	rc := http.NewResponseController(w)
	rc.SetReadDeadline(time.Time{})
	rc.SetWriteDeadline(time.Time{})
	if !wsUpgrade(w, r) {
		return // answered
	}
	w.WriteHeader(http.StatusSwitchingProtocols)
	raw, brw, err := rc.Hijack()
	if err != nil {
		http.Error(w, http.StatusText(http.StatusInternalServerError), http.StatusInternalServerError)
		return
	}
	// The 101 out; what the device sent right after its request is read
	// already: it goes first.
	if err := brw.Writer.Flush(); err != nil {
		raw.Close()
		return
	}
	var buffered []byte
	if n := brw.Reader.Buffered(); n > 0 {
		b, _ := brw.Reader.Peek(n)
		buffered = bytes.Clone(b)
	}
	c := &conn{g: g, id: d.ID, mac: d.MAC, autopURL: g.autopURL(r, d.MAC), admitted: admitted.handOff(), authN: authN}
	c.sess = ymux.Server(&wire{c: c}, ymux.Config{Control: c.control, WriteTimeout: g.opts.WriteTimeout, MaxStreams: MaxTunnels})
	// The control stream and hello, within HelloTimeout of the upgrade.
	c.setDeadline(g.opts.HelloTimeout)
	var polled pollTransport
	if !g.opts.Streamed {
		polled = pollConn(raw)
	}
	var stream *streamed
	if polled != nil {
		c.t = polled
	} else {
		stream = &streamed{raw: raw}
		c.t = stream
	}
	g.mu.Lock()
	if g.closing {
		g.mu.Unlock()
		c.admitted.release()
		if polled != nil {
			polled.discard()
		} else {
			raw.Close()
		}
		return
	}
	g.live[c] = struct{}{}
	// The device's connects are ordered by their authentication (before
	// the 101): a connect registering late does not replace a newer one.
	replaced := g.awaitingHello[c.id]
	if replaced != nil && replaced.authN > c.authN {
		replaced = c
	} else {
		g.awaitingHello[c.id] = c
	}
	g.wg.Add(1)
	g.mu.Unlock()
	if replaced != nil {
		replaced.admitted.release() // its place is this connect's now
		replaced.setWhy("replaced by a newer connect before its hello")
		replaced.close(closeReplaced, "replaced by a newer connection")
	}
	g.sweeper.Do(func() { go g.sweep() })
	if polled != nil {
		polled.start(c, buffered)
	} else {
		go stream.run(c, buffered)
	}
}

var errLimited = errors.New("gateway: over the attempt limits")

// handedOver is a connection that came through the node's front door
// (autopserver.FrontDoor): the socket under it, and how many bytes the
// front door read that its reader has not taken yet.
type handedOver interface {
	NetConn() net.Conn
	Pending() int
}

// Transports counts the live connections by how they are read: polled by
// the event loop, or streamed by a goroutine of their own (TLS, in-memory).
func (g *Gateway) Transports() (polled, streamed int) {
	g.mu.Lock()
	defer g.mu.Unlock()
	for c := range g.live {
		if _, ok := c.t.(pollTransport); ok {
			polled++
		} else {
			streamed++
		}
	}
	return polled, streamed
}

// closingRetryAfter is the Retry-After a node shutting down answers: what
// is left of the shutdown — the connections still open, at the pace the
// others closed — then 2 to 6 seconds, about what a restart takes, spread
// so that the devices it turns away do not all come back in the same
// second.
func (g *Gateway) closingRetryAfter() int {
	g.mu.Lock()
	left, closed, took := len(g.live), g.closingFrom-len(g.live), time.Since(g.closingSince)
	g.mu.Unlock()
	rest := 0
	if left > 0 && closed > 0 {
		rest = int((took*time.Duration(left)/time.Duration(closed) + time.Second/2) / time.Second)
	}
	return min(rest, maxRetryAfter) + 2 + rand.N(5)
}

// auditLimited records that attempts for mac from remoteAddr hit the limits
// (the limiter bounds how often).
func (g *Gateway) auditLimited(mac, remoteAddr, why string) {
	ctx, cancel := g.within(model.WithActor(g.ctx, model.System), reportTimeout)
	defer cancel()
	if err := g.st.Audit(ctx, "device.auth_limited", "device", mac, map[string]any{"mac": mac, "remote_addr": remoteAddr,
		"limit": why, "via": "gateway"}); err != nil {
		g.log.Warn("gateway: audit a limited attempt", "err", err)
	}
}

// sweep looks at every connection of the node periodically, until
// Shutdown has finished: silence, stalled writes, close handshakes that
// take too long (one goroutine instead of timers for each connection).
func (g *Gateway) sweep() {
	every := min(g.opts.HelloTimeout, g.opts.Heartbeat, g.opts.WriteTimeout, closeWait) / 8
	every = min(max(every, 10*time.Millisecond), time.Second)
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-g.shutdown:
			return
		case now := <-t.C:
			g.mu.Lock()
			for c := range g.live {
				c.sweep(now)
			}
			g.mu.Unlock()
		}
	}
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
	g.flusher.Do(func() { g.spawn(g.flushSeen) })
	msg, _ := json.Marshal(connectedMsg{MAC: c.mac, Node: g.opts.Node, At: c.connectedAt.UnixMicro()})
	if err := g.bus.Publish(subjectConnected, msg); err != nil {
		g.log.Warn("gateway: publish connect", "mac", c.mac, "err", err)
	}
	return registered
}

// unregister forgets c, which ended; true when it was the device's
// current connection here.
func (g *Gateway) unregister(c *conn) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	delete(g.live, c)
	if g.awaitingHello[c.id] == c {
		delete(g.awaitingHello, c.id)
	}
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
// pending commands and its firmware upgrade released (queued) now. Devices
// that are offline get them when they connect.
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

// held returns the connections this node holds of the devices macs, but
// those in skip (sorted).
func (g *Gateway) held(macs, skip []string) []*conn {
	var out []*conn
	g.mu.Lock()
	defer g.mu.Unlock()
	for _, m := range macs {
		if _, found := slices.BinarySearch(skip, m); found {
			continue
		}
		if c := g.conns[m]; c != nil {
			out = append(out, c)
		}
	}
	return out
}

func (g *Gateway) onKick(data []byte) {
	var macs []string
	if json.Unmarshal(data, &macs) != nil {
		return
	}
	held := g.held(macs, nil)
	if len(held) > 0 {
		g.spawn(func() { g.deliver(held, false) })
	}
}

// deliver sends the commands of the devices of these connections that
// they were not told yet (all that are pending, for a new connection): one
// query for all, marked sent, then written to each device. Commands sent
// to an earlier connection and not acknowledged go again on the next one.
func (g *Gateway) deliver(conns []*conn, resend bool) {
	ids := make([]int64, len(conns))
	for i, c := range conns {
		ids[i] = c.id
	}
	defer g.deliverDiagnostics(conns, resend) // diagnostics.go
	list := g.st.QueuedCommands
	if resend {
		list = g.st.PendingCommands
	}
	if !resend {
		// A kick (or the safety net): the upgrades released meanwhile too.
		// A new connection's are sent by its hello (deliverUpgradesOnConnect).
		defer g.deliverQueuedUpgrades(conns)
	}
	ctx, cancel := g.within(g.ctx, commandsTimeout)
	pending, err := list(ctx, ids...)
	cancel()
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
	ctx, cancel = g.within(g.ctx, commandsTimeout)
	err = g.st.MarkCommandsSent(ctx, sent...)
	cancel()
	if err != nil {
		g.log.Error("gateway: mark commands sent", "err", err)
		return
	}
	for _, c := range conns {
		if cs := pending[c.id]; len(cs) > 0 {
			g.spawn(func() { c.sendCommands(cs) })
		}
	}
}

// flushSeen writes last_seen of the devices heard from, in bulk, every
// half heartbeat, and once more when the gateway stops.
func (g *Gateway) flushSeen() {
	t := time.NewTicker(g.opts.Heartbeat / 2)
	defer t.Stop()
	for stopped := false; !stopped; {
		select {
		case <-g.stopping.Done():
			stopped = true
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
			ctx, cancel := g.within(g.ctx, seenTimeout)
			if err := g.st.DevicesSeen(ctx, g.opts.Node, g.st.Now(), ids); err != nil {
				g.log.Warn("gateway: record last seen", "devices", len(ids), "err", err)
			}
			cancel()
		}
	}
}

// Run does the node's background work until ctx ends or Shutdown begins:
// devices this node left online before a restart go offline, old commands
// expire, and queued commands of devices held here are sent (a safety net
// for a lost bus message). Shutdown waits for it.
func (g *Gateway) Run(ctx context.Context) error {
	if !g.enter() {
		return nil
	}
	defer g.wg.Done()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	defer context.AfterFunc(g.stopping, cancel)() // Shutdown stops the sweeps under way too
	g.nodeOffline(ctx, g.started, sweepTimeout, "gateway: clear this node's devices",
		"gateway: devices left online by this node's previous run are offline")
	g.sweepStale(ctx)
	expire := time.NewTicker(g.opts.ExpireEvery)
	defer expire.Stop()
	resend := time.NewTicker(g.opts.ResendEvery)
	defer resend.Stop()
	var reconnected <-chan struct{} // nil (never ready) for a bus that cannot lose messages
	if r, ok := g.bus.(interface{ Reconnected() <-chan struct{} }); ok {
		reconnected = r.Reconnected()
	}
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-expire.C:
			sctx, scancel := g.within(ctx, sweepTimeout)
			if n, err := g.st.ExpireCommands(sctx); err != nil && ctx.Err() == nil {
				g.log.Error("gateway: expire commands", "err", err)
			} else if n > 0 {
				g.log.Info("gateway: commands expired", "count", n)
			}
			scancel()
			g.sweepStale(ctx)
		case <-resend.C:
			g.resendQueued(ctx)
		case <-reconnected:
			// Kicks published while the bus was away may be lost: the
			// queued commands of the devices held here are sent now rather
			// than at the next sweep.
			g.resendQueued(ctx)
		}
	}
}

// resendQueued sends the queued commands, upgrades and diagnostics of the
// devices held here (a kick the bus lost), then the commands sent a sweep
// ago and never acknowledged.
func (g *Gateway) resendQueued(ctx context.Context) {
	sctx, scancel := g.within(ctx, sweepTimeout)
	macs, err := g.st.QueuedCommandDevices(sctx, g.opts.Node)
	if err == nil {
		var up []string
		up, err = g.st.QueuedUpgradeDevices(sctx, g.opts.Node)
		macs = append(macs, up...)
		if err == nil {
			up, err = g.st.QueuedDiagnosticDevices(sctx, g.opts.Node)
			macs = append(macs, up...)
		}
		slices.Sort(macs)
		macs = slices.Compact(macs) // a device with both is delivered to once
	}
	scancel()
	if err != nil {
		if ctx.Err() == nil {
			g.log.Error("gateway: queued commands", "err", err)
		}
		return
	}
	held := g.held(macs, nil)
	if len(held) > 0 {
		g.deliver(held, false)
	}
	g.resendUnacked(ctx, macs)
}

// resendUnacked sends again, on the devices' connections here, the
// commands sent a sweep ago and still not acknowledged (the write went to
// a connection that was ending, or the ack was not recorded): nothing else
// would while the device stays connected. The device executes each id once
// and answers a repeat with the same ack. Devices in queued (delivered to
// just now) are left to the next sweep.
func (g *Gateway) resendUnacked(ctx context.Context, queued []string) {
	sctx, cancel := g.within(ctx, sweepTimeout)
	macs, err := g.st.UnackedCommandDevices(sctx, g.opts.Node, g.st.Now().Add(-g.opts.ResendEvery))
	cancel()
	if err != nil {
		if ctx.Err() == nil {
			g.log.Error("gateway: unacknowledged commands", "err", err)
		}
		return
	}
	held := g.held(macs, queued)
	if len(held) > 0 {
		g.log.Info("gateway: commands not acknowledged sent again", "devices", len(held))
		g.deliver(held, true)
	}
}

// sweepStale takes offline the devices no node has heard from for a while
// (a node that died, or online flags that no connection ever set): five
// heartbeats, and at least two minutes, of silence.
func (g *Gateway) sweepStale(ctx context.Context) {
	sctx, cancel := g.within(ctx, sweepTimeout)
	defer cancel()
	n, err := g.st.StaleOffline(sctx, time.Now().Add(-max(5*g.opts.Heartbeat, 2*time.Minute)))
	if err != nil && ctx.Err() == nil {
		g.log.Error("gateway: stale devices", "err", err)
	} else if n > 0 {
		g.log.Info("gateway: devices nothing was heard from are offline", "devices", n)
	}
}

// nodeOffline takes offline the devices of this node that connected
// before until, within d; it logs failed, or done with how many.
func (g *Gateway) nodeOffline(ctx context.Context, until time.Time, d time.Duration, failed, done string) {
	sctx, cancel := g.within(ctx, d)
	defer cancel()
	if n, err := g.st.NodeOffline(sctx, g.opts.Node, until); err != nil {
		g.log.Error(failed, "err", err)
	} else if n > 0 && done != "" {
		g.log.Info(done, "devices", n)
	}
}

// Shutdown stops the gateway: new connections are refused (503), the bus
// is left, Run and the last-seen flusher stop, every device connection is
// closed with 1001 (going away; a device that does not answer its close
// frame within closeWait is cut) while this node's devices are marked
// offline, and Shutdown waits for every goroutine of the gateway, then
// marks offline those whose hello ended meanwhile. When ctx ends
// first, the store calls under way are cancelled and every connection is
// cut; Shutdown then waits forceGrace more and returns ctx's error. A
// second call waits for the first.
func (g *Gateway) Shutdown(ctx context.Context) error {
	g.mu.Lock()
	if g.closing {
		g.mu.Unlock()
		select {
		case <-g.shutdown:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	g.closing = true
	live := slices.Collect(maps.Keys(g.live))
	g.closingSince, g.closingFrom = time.Now(), len(live)
	unsubs := g.unsubs
	g.unsubs = nil
	g.mu.Unlock()
	defer close(g.shutdown)
	defer g.cancel()
	g.stop()
	for _, un := range unsubs {
		un()
	}
	// The node's devices are marked offline while their connections close,
	// not after: both take seconds for a node of 100,000 devices. A hello
	// under way may still record its device online: the last mark below.
	until := g.connectedAt()
	g.spawn(func() {
		g.nodeOffline(ctx, until, nodeOfflineTimeout, "gateway: mark this node's devices offline", "")
	})
	for _, c := range live {
		c.close(closeGoingAway, "the node is shutting down")
	}
	idle := make(chan struct{})
	go func() { g.wg.Wait(); close(idle) }()
	select {
	case <-idle:
	case <-ctx.Done():
		g.log.Warn("gateway: shutdown deadline passed: cutting what is left")
		g.cancel()
		g.mu.Lock()
		live = slices.Collect(maps.Keys(g.live))
		g.mu.Unlock()
		for _, c := range live {
			c.kill()
		}
		select {
		case <-idle:
		case <-time.After(forceGrace):
			g.log.Warn("gateway: goroutines still running after shutdown")
		}
		return ctx.Err()
	}
	// Every connection ended, and no hello is under way: this node holds
	// no device now (the devices of the hellos that ended meanwhile).
	g.nodeOffline(ctx, time.Now().Add(time.Hour), nodeOfflineTimeout, "gateway: mark this node's devices offline", "")
	return nil
}

// Close is Shutdown within closeTimeout.
func (g *Gateway) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), closeTimeout)
	defer cancel()
	return g.Shutdown(ctx)
}
