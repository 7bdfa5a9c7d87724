package devicesim

import (
	"bufio"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/hashicorp/yamux"
)

// Protocol constants of docs/device-protocol.md.
const (
	subprotocol      = "gatehouse.device.v1"
	maxMessage       = 256 << 10 // §3: a WebSocket message
	maxControlLine   = 64 << 10  // §4: a control line, newline included
	rememberCommands = 256       // §5: executed ids kept
	maxTunnels       = 16        // §8: tunnel streams at once
	writeTimeout     = 10 * time.Second
	defaultHeartbeat = 30 * time.Second
)

// Device is one simulated device.
type Device struct {
	f   *Fleet
	idx int // position in the fleet: picks its source address
	mac string
	ip  string
	// claim is the maker's claim code printed for the MAC, factoryKey the
	// key provisioned at the factory ("" for none).
	claim, factoryKey string

	mu       sync.Mutex
	key      string
	acks     []ackRecord       // the last rememberCommands executed commands, oldest first
	executed map[string]int    // id → executions in this process (test hook)
	config   map[string]string // applied configuration
	version  string            // AutoP version applied last
	boots    int
	bootedAt time.Time
	link     *link // the live connection, nil when none
	online   bool
	changed  chan struct{} // closed and cleared on any change, made by waiters
	webToken string        // the web UI's login cookie value, made on first login
	tries    int           // connect attempts since the last welcome; run's goroutine only
	// fetchedBoot is the boot whose AutoP fetch got an answer.
	fetchedBoot int
	// firmware is what the device runs ("" until an upgrade: Config's);
	// job its upgrade under way (firmware.go); downloaded counts image
	// bytes received.
	firmware   string
	job        *upgradeJob
	downloaded int64

	syslog deviceLog // its system log (diag.go)

	saveMu  sync.Mutex // orders state file writes
	autopMu sync.Mutex // one AutoP fetch at a time
}

// ackRecord is an executed command and the ack it got, so a repeat of its id
// is answered the same way without executing it again.
type ackRecord struct {
	ID      string `json:"id"`
	OK      bool   `json:"ok"`
	Error   string `json:"error,omitempty"`
	Version string `json:"version,omitempty"`
}

func newDevice(f *Fleet, mac string) *Device {
	d := &Device{f: f, mac: mac, ip: lanAddress(mac), boots: 1, bootedAt: time.Now()}
	d.logf("kernel", "Booting Linux on physical CPU 0x0; firmware %s", f.cfg.Firmware)
	return d
}

// lanAddress makes up the device's LAN address from its MAC: 10.x.y.z.
func lanAddress(mac string) string {
	var b [6]byte
	for i := range b {
		fmt.Sscanf(mac[2*i:2*i+2], "%02X", &b[i])
	}
	last := int(b[5])
	if last == 0 || last == 255 {
		last = 1
	}
	return fmt.Sprintf("10.%d.%d.%d", b[3], b[4], last)
}

// MAC is the device's MAC, 12 upper-case hex digits.
func (d *Device) MAC() string { return d.mac }

// Key is the device's current key (it changes on a factory reset).
func (d *Device) Key() string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.key
}

// IP is the LAN address the device reports.
func (d *Device) IP() string { return d.ip }

// Online reports a live connection that got a welcome.
func (d *Device) Online() bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.online
}

// WaitOnline blocks until the device is online or ctx ends.
func (d *Device) WaitOnline(ctx context.Context) error {
	return d.wait(ctx, func() bool { return d.online })
}

// WaitOffline blocks until the device is offline (between connections) or
// ctx ends.
func (d *Device) WaitOffline(ctx context.Context) error {
	return d.wait(ctx, func() bool { return !d.online })
}

// WaitVersion blocks until the device applied AutoP version v or ctx ends.
func (d *Device) WaitVersion(ctx context.Context, v string) error {
	return d.wait(ctx, func() bool { return d.version == v })
}

// WaitBoots blocks until the device booted at least n times or ctx ends.
func (d *Device) WaitBoots(ctx context.Context, n int) error {
	return d.wait(ctx, func() bool { return d.boots >= n })
}

// WaitConfig blocks until the applied config has key = value or ctx ends.
func (d *Device) WaitConfig(ctx context.Context, key, value string) error {
	return d.wait(ctx, func() bool { v, ok := d.config[key]; return ok && v == value })
}

// wait blocks until cond (called with d.mu held) holds or ctx ends.
func (d *Device) wait(ctx context.Context, cond func() bool) error {
	for {
		d.mu.Lock()
		if cond() {
			d.mu.Unlock()
			return nil
		}
		if d.changed == nil {
			d.changed = make(chan struct{})
		}
		ch := d.changed
		d.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return fmt.Errorf("devicesim %s: %w", d.mac, ctx.Err())
		}
	}
}

// notifyLocked wakes the waiters; d.mu is held.
func (d *Device) notifyLocked() {
	if d.changed != nil {
		close(d.changed)
		d.changed = nil
	}
}

// Config is the configuration the device applied last (key → value).
func (d *Device) Config() map[string]string {
	d.mu.Lock()
	defer d.mu.Unlock()
	m := make(map[string]string, len(d.config))
	for k, v := range d.config {
		m[k] = v
	}
	return m
}

// ConfigVersion is the AutoP version the device applied last.
func (d *Device) ConfigVersion() string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.version
}

// Boots counts the device's boots (1 after Start, +1 per reboot or reset).
func (d *Device) Boots() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.boots
}

// Uptime is the time since the device last booted.
func (d *Device) Uptime() time.Duration {
	d.mu.Lock()
	defer d.mu.Unlock()
	return time.Since(d.bootedAt)
}

// Executed counts the commands with this id the device executed (0 or 1,
// whatever the server resent).
func (d *Device) Executed(id string) int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.executed[id]
}

// ExecutedIDs lists the ids of the commands the device executed in this
// process, each with its count (1 unless execution-once is broken).
func (d *Device) ExecutedIDs() map[string]int {
	d.mu.Lock()
	defer d.mu.Unlock()
	m := make(map[string]int, len(d.executed))
	for k, v := range d.executed {
		m[k] = v
	}
	return m
}

// Drop closes the device's connection abruptly, as a network fault would;
// it reconnects with back-off.
func (d *Device) Drop() {
	d.mu.Lock()
	l := d.link
	d.mu.Unlock()
	if l != nil {
		l.drop()
	}
}

// run is the device's life: connect, serve the control stream, reconnect
// with back-off, reboot when told, until the fleet closes.
func (d *Device) run() {
	f := d.f
	defer f.wg.Done()
	var rs retryState
	for f.ctx.Err() == nil {
		out := d.connect()
		if f.ctx.Err() != nil {
			return
		}
		wait := rs.next(&f.cfg, out, time.Now(), rand.Float64())
		if out.err != nil {
			f.log.Debug("device disconnected", "mac", d.mac, "err", out.err, "retry_in", wait)
		}
		t := time.NewTimer(wait)
		select {
		case <-f.ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		if out.reboot {
			d.mu.Lock()
			d.boots++
			d.bootedAt = time.Now()
			d.boot()
			d.notifyLocked()
			fw := d.firmwareLocked()
			d.mu.Unlock()
			d.logf("kernel", "Booting Linux on physical CPU 0x0; firmware %s (boot %d)", fw, d.Boots())
		}
	}
}

// restartWindow is how long after a going-away close (1001) refused
// connections are taken for the node restarting.
const restartWindow = 60 * time.Second

// retryState is what a device's reconnect waits depend on.
type retryState struct {
	attempt int // n of protocol §2: failed attempts since the back-off was reset
	// restartUntil: a refused connection before then is the node restarting
	// (it closed with 1001 shortly before), not a reason to wait longer.
	restartUntil time.Time
}

// next is the wait before the next connect after out (protocol §2), r in
// [0, 1) its random draw.
func (rs *retryState) next(cfg *Config, out outcome, now time.Time, r float64) time.Duration {
	if out.lasted > 0 && !out.goingAway {
		// Back online after the restart, then lost otherwise: a node that
		// dies now is not restarting, whatever the last 1001 said.
		rs.restartUntil = time.Time{}
	}
	switch {
	case out.reboot:
		rs.attempt = 0
		return cfg.RebootDelay + time.Duration(r*float64(cfg.RebootDelay+1))
	case out.refused:
		return cfg.RefusedRetry
	case out.retryAfter > 0:
		// The server said when; a fraction of a second more spreads the
		// devices told the same second. Not counted in n.
		return out.retryAfter + time.Duration(r*float64(time.Second))
	case out.goingAway:
		// The node is shutting down, usually to restart: come back when a
		// restart is about done — what it answers a connect meanwhile (503,
		// Retry-After 2 to 6 s) — instead of asking it now. Not counted in n.
		if out.lasted >= cfg.StableAfter {
			rs.attempt = 0
		}
		rs.restartUntil = now.Add(restartWindow)
		return cfg.RestartWait + time.Duration(r*float64(2*cfg.RestartWait))
	case out.connRefused && now.Before(rs.restartUntil):
		// Nothing listens yet: the node is still restarting. Refusals are
		// instant and cost it nothing; doubling the wait for each would
		// only keep the device away long after the node is back. Not
		// counted in n.
		return cfg.Backoff + time.Duration(r*float64(2*cfg.Backoff))
	}
	if out.lasted >= cfg.StableAfter {
		rs.attempt = 0
	}
	wait := backoff(cfg.Backoff, cfg.BackoffMax, rs.attempt, r)
	rs.attempt++
	return wait
}

// backoff is the wait before reconnect attempt n (0-based), with full
// jitter (protocol §2): a random time in [0, min(max, base·2ⁿ)), r in
// [0, 1) choosing it. Devices that lost their connection together (a node
// restarting) come back spread evenly over the window, not in waves.
func backoff(base, max time.Duration, n int, r float64) time.Duration {
	d := base
	for i := 0; i < n && d < max; i++ {
		d *= 2
	}
	if d > max {
		d = max
	}
	return time.Duration(float64(d) * r)
}

// outcome is how a connection ended.
type outcome struct {
	err     error
	refused bool // 403 or 404: wait RefusedRetry
	// retryAfter is the least wait a 503 or 429 asked for.
	retryAfter time.Duration
	reboot     bool // told to reboot or reset
	// goingAway: the server closed the WebSocket with 1001, going away (a
	// node shutting down).
	goingAway bool
	// connRefused: nothing listened at the server's address.
	connRefused bool
	lasted      time.Duration
}

// link is one live connection of a device.
type link struct {
	d         *Device
	raw       net.Conn // the TCP connection
	ws        *wsConn
	sess      *yamux.Session
	ctrl      *yamux.Stream
	wmu       sync.Mutex // control stream writes
	lastRecv  atomic.Int64
	heartbeat time.Duration
	autopURL  string
	closed    atomic.Bool
	tunnels   atomic.Int32
	// ctx ends with the connection: a download under way stops with it.
	ctx    context.Context
	cancel context.CancelFunc
}

// connect makes one connection and serves it until it ends.
func (d *Device) connect() (out outcome) {
	f := d.f
	f.connecting.Add(1)
	f.attempts.Add(1)
	d.tries++
	connecting := true
	defer func() {
		if connecting {
			f.connecting.Add(-1)
			if f.ctx.Err() == nil {
				f.failed.Add(1)
			}
		} else {
			f.lost.Add(1)
		}
	}()
	select {
	case f.dialSem <- struct{}{}:
	case <-f.ctx.Done():
		return outcome{err: errClosed}
	}
	d.mu.Lock()
	key := d.key
	d.mu.Unlock()
	holder := &rawConnHolder{}
	if n := len(f.sources); n > 0 {
		holder.source = f.sources[d.idx%n]
	}
	// Fleet.upgrade bounds the request's time (connectTimeout) and the
	// answer's head (maxResponseHead); the dialer bounds the dial.
	dctx := context.WithValue(f.ctx, rawConnKey{}, holder)
	hdr := http.Header{}
	hdr.Set("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte(d.mac+":"+key)))
	// Protocol §2: the claim code, and what a pending key is shown with.
	if d.claim != "" {
		hdr.Set("X-Gatehouse-Claim", d.claim)
	}
	hdr.Set("X-Gatehouse-Model", f.cfg.Model)
	hdr.Set("X-Gatehouse-Firmware", d.Firmware())
	ws, err := f.upgrade(dctx, hdr)
	<-f.dialSem
	if err != nil {
		var ref *refusal
		if errors.As(err, &ref) {
			out.refused = ref.status == http.StatusForbidden || ref.status == http.StatusNotFound
			if ref.status == http.StatusServiceUnavailable {
				f.busy.Add(1)
			}
			if ref.status == http.StatusTooManyRequests || ref.status == http.StatusServiceUnavailable {
				// Protocol §2: wait at least what the server asks.
				if s, err := strconv.Atoi(ref.retryAfter); err == nil && s > 0 {
					out.retryAfter = min(time.Duration(s)*time.Second, 10*time.Minute)
				}
			}
		}
		out.err = err
		out.connRefused = errors.Is(err, syscall.ECONNREFUSED)
		return out
	}
	start := time.Now()
	l := &link{d: d, raw: holder.conn, ws: ws, heartbeat: defaultHeartbeat}
	l.ctx, l.cancel = context.WithCancel(f.ctx)
	l.lastRecv.Store(start.UnixNano())
	sess, err := yamux.Client(&wireConn{ws: ws, l: l}, f.ymuxCfg)
	if err != nil {
		ws.CloseNow()
		return outcome{err: err}
	}
	l.sess = sess
	defer func() {
		out.lasted = time.Since(start)
		out.goingAway = ws.CloseCode() == closeGoingAway
		d.mu.Lock()
		wasOnline := d.online
		d.online = false
		if d.link == l {
			d.link = nil
		}
		d.notifyLocked()
		d.mu.Unlock()
		if wasOnline {
			f.online.Add(-1)
		}
		if out.reboot {
			l.close()
		} else {
			l.abort()
		}
	}()
	d.mu.Lock()
	d.link = l
	d.mu.Unlock()
	if f.ctx.Err() != nil { // Close ran before the link was visible
		return outcome{err: errClosed}
	}

	l.ctrl, err = sess.OpenStream()
	if err != nil {
		return outcome{err: fmt.Errorf("open control stream: %w", err)}
	}
	br := bufio.NewReaderSize(l.ctrl, 512)
	d.mu.Lock()
	hello := map[string]any{"type": "hello", "model": f.cfg.Model, "firmware": d.firmwareLocked(), "ip": d.ip,
		"uptime": int64(time.Since(d.bootedAt) / time.Second), "config_version": d.version}
	d.mu.Unlock()
	d.logf("gatehoused[412]", "connected to %s; hello sent (model %s, firmware %v)", f.base.Host, f.cfg.Model, hello["firmware"])
	if err := l.send(hello); err != nil {
		return outcome{err: fmt.Errorf("hello: %w", err)}
	}
	// Wait for welcome; anything else first is a protocol error.
	l.ctrl.SetReadDeadline(time.Now().Add(f.cfg.WelcomeTimeout))
	line, err := readLine(br)
	if err != nil {
		return outcome{err: fmt.Errorf("waiting for welcome: %w", err)}
	}
	l.ctrl.SetReadDeadline(time.Time{})
	var w message
	if err := json.Unmarshal(line, &w); err != nil || w.Type != "welcome" {
		return outcome{err: fmt.Errorf("expected welcome, got %.200q", line)}
	}
	if w.Heartbeat > 0 {
		l.heartbeat = time.Duration(w.Heartbeat) * time.Second
	}
	l.autopURL = w.AutoPURL
	d.logf("gatehoused[412]", "welcome: heartbeat %d s", w.Heartbeat)
	if l.autopURL == "" {
		l.autopURL = f.base.String() + "/autop/" + d.mac + ".cfg"
	}

	d.mu.Lock()
	d.online = true
	d.notifyLocked()
	d.mu.Unlock()
	f.online.Add(1)
	f.connecting.Add(-1)
	connecting = false
	f.tries.add(d.tries)
	d.tries = 0
	f.sched.add(l, time.Now().Add(l.heartbeat))
	go l.acceptTunnels()
	d.mu.Lock()
	boot := d.boots
	fetch := d.fetchedBoot != boot
	d.mu.Unlock()
	if fetch {
		go l.fetchAfterBoot(boot)
	}
	if err := l.ackAfterReboot(); err != nil {
		return outcome{err: err}
	}

	for {
		line, err := readLine(br)
		if err != nil {
			return outcome{err: err}
		}
		var m message
		if err := json.Unmarshal(line, &m); err != nil {
			d.f.log.Debug("bad control line", "mac", d.mac, "line", string(line))
			continue
		}
		reboot, err := l.handle(&m)
		if err != nil {
			return outcome{err: err}
		}
		if reboot {
			return outcome{reboot: true}
		}
	}
}

// readLine reads one control line (without its newline) of at most
// maxControlLine bytes.
func readLine(br *bufio.Reader) ([]byte, error) {
	line, err := br.ReadSlice('\n')
	if err == bufio.ErrBufferFull {
		buf := append([]byte(nil), line...)
		for err == bufio.ErrBufferFull {
			line, err = br.ReadSlice('\n')
			buf = append(buf, line...)
			if len(buf) > maxControlLine {
				return nil, errors.New("control line over 64 KiB")
			}
		}
		line = buf
	}
	if err != nil {
		return nil, err
	}
	return line[:len(line)-1], nil
}

// message is any server → device control message.
type message struct {
	Type      string          `json:"type"`
	ID        json.RawMessage `json:"id"`
	Mode      string          `json:"mode"`
	URL       string          `json:"url"`
	Heartbeat int             `json:"heartbeat"`
	AutoPURL  string          `json:"autop_url"`
	upgradeMessage
}

// id is the command id as text; the protocol makes it a string, a number is
// taken as its digits.
func (m *message) id() string {
	if len(m.ID) == 0 || string(m.ID) == "null" {
		return ""
	}
	var s string
	if json.Unmarshal(m.ID, &s) == nil {
		return s
	}
	return string(m.ID)
}

// handle acts on one control message; reboot says the connection must end
// for a reboot.
func (l *link) handle(m *message) (reboot bool, err error) {
	d := l.d
	switch m.Type {
	case "pong", "welcome":
		return false, nil
	case "reboot", "reset", "autop", "upgrade":
	default:
		if m.id() != "" {
			return false, l.ack(m, ackRecord{OK: false, Error: "unknown command type " + m.Type})
		}
		return false, nil
	}
	id := m.id()
	if id == "" {
		return false, nil // a command without an id cannot be acknowledged
	}
	d.logf("gatehoused[412]", "command %s: %s", id, m.Type)
	if rec, ok := d.remembered(id); ok {
		return false, l.ack(m, rec)
	}
	switch m.Type {
	case "upgrade":
		return l.upgrade(m, id)
	case "reboot":
		rec := ackRecord{OK: true}
		if err := d.remember(id, rec, nil); err != nil {
			return false, err
		}
		if err := l.ack(m, rec); err != nil {
			return false, err
		}
		return true, nil
	case "reset":
		if m.Mode != "factory" && m.Mode != "config" {
			rec := ackRecord{OK: false, Error: fmt.Sprintf("unknown reset mode %q", m.Mode)}
			if err := d.remember(id, rec, nil); err != nil {
				return false, err
			}
			return false, l.ack(m, rec)
		}
		rec := ackRecord{OK: true}
		// Remembered (with the reset itself) before acknowledging: a resend
		// after the reboot is answered, not executed again.
		factory := m.Mode == "factory"
		if err := d.remember(id, rec, func() {
			d.config, d.version = nil, ""
			if factory {
				d.key = newKey()
				d.webToken = ""
			}
		}); err != nil {
			return false, err
		}
		if err := l.ack(m, rec); err != nil {
			return false, err
		}
		return true, nil
	default: // autop
		u := m.URL
		if u == "" {
			u = l.autopURL
		}
		version, _, ferr := d.fetchAutoP(d.f.ctx, u)
		rec := ackRecord{OK: ferr == nil, Version: version}
		if ferr != nil {
			rec.Error = ferr.Error()
			rec.Version = ""
		}
		if err := d.remember(id, rec, nil); err != nil {
			return false, err
		}
		if err := l.ack(m, rec); err != nil {
			return false, err
		}
		if ferr == nil {
			return false, l.sendStatus()
		}
		return false, nil
	}
}

// remembered returns the ack of an executed command id.
func (d *Device) remembered(id string) (ackRecord, bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	for i := len(d.acks) - 1; i >= 0; i-- {
		if d.acks[i].ID == id {
			return d.acks[i], true
		}
	}
	return ackRecord{}, false
}

// remember records an executed command (and applies change, if any, in the
// same step) and saves the state.
func (d *Device) remember(id string, rec ackRecord, change func()) error {
	rec.ID = id
	d.mu.Lock()
	d.acks = append(d.acks, rec)
	if n := len(d.acks); n > rememberCommands {
		d.acks = append(d.acks[:0:0], d.acks[n-rememberCommands:]...)
	}
	if d.executed == nil {
		d.executed = make(map[string]int)
	}
	d.executed[id]++
	d.f.journal(d.mac, id)
	if change != nil {
		change()
	}
	d.notifyLocked()
	d.mu.Unlock()
	return d.save()
}

func (l *link) ack(m *message, rec ackRecord) error {
	a := struct {
		Type    string          `json:"type"`
		ID      json.RawMessage `json:"id"`
		OK      bool            `json:"ok"`
		Error   string          `json:"error,omitempty"`
		Version string          `json:"version,omitempty"`
	}{"ack", m.ID, rec.OK, rec.Error, rec.Version}
	if rec.OK {
		l.d.logf("gatehoused[412]", "command %s acknowledged: ok", m.id())
	} else {
		l.d.logf("gatehoused[412]", "command %s acknowledged: failed: %s", m.id(), rec.Error)
	}
	return l.send(a)
}

// send writes one control message.
func (l *link) send(v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	b = append(b, '\n')
	l.wmu.Lock()
	defer l.wmu.Unlock()
	l.ctrl.SetWriteDeadline(time.Now().Add(writeTimeout))
	_, err = l.ctrl.Write(b)
	return err
}

// sendStatus reports uptime and the applied config version: the heartbeat.
func (l *link) sendStatus() error {
	d := l.d
	d.mu.Lock()
	st := struct {
		Type          string `json:"type"`
		Uptime        int64  `json:"uptime"`
		ConfigVersion string `json:"config_version"`
	}{"status", int64(time.Since(d.bootedAt) / time.Second), d.version}
	d.mu.Unlock()
	return l.send(st)
}

// beat is the scheduler's call every heartbeat: report, or give up on a
// connection that has been silent for 3 heartbeats.
func (l *link) beat() bool {
	if l.closed.Load() {
		return false
	}
	if time.Since(time.Unix(0, l.lastRecv.Load())) > 3*l.heartbeat {
		l.d.f.log.Debug("server silent, reconnecting", "mac", l.d.mac)
		l.abort()
		return false
	}
	if err := l.sendStatus(); err != nil {
		l.abort()
		return false
	}
	return true
}

// fetchAfterBoot fetches the AutoP file once the device is online after
// boot (protocol §7: after every boot, not after every reconnect: a node
// restarting does not make its devices fetch), and reports a new version.
// Until the AutoP server answered, every connection of the boot tries.
func (l *link) fetchAfterBoot(boot int) {
	d := l.d
	f := d.f
	select {
	case f.fetchSem <- struct{}{}:
	case <-f.ctx.Done():
		return
	}
	defer func() { <-f.fetchSem }()
	if l.closed.Load() {
		return
	}
	_, changed, err := d.fetchAutoP(f.ctx, l.autopURL)
	var answered *autopStatusError
	if err == nil || errors.As(err, &answered) {
		d.mu.Lock()
		d.fetchedBoot = boot
		d.mu.Unlock()
	}
	if err != nil {
		f.log.Debug("autop fetch after boot", "mac", d.mac, "err", err)
		return
	}
	if changed && !l.closed.Load() {
		if err := l.sendStatus(); err != nil {
			l.abort()
		}
	}
}

// close ends the connection cleanly (a WebSocket close), as before a reboot.
func (l *link) close() {
	if l.closed.Swap(true) {
		return
	}
	l.cancel()
	// The close handshake on the WebSocket itself (close frames both ways)
	// before the TCP connection ends: closing the socket with unread data
	// would reset it, and the peer could lose the ack just written.
	// (yamux's Close goes through wireConn, whose Close drops the
	// connection at once.)
	l.ws.CloseHandshake(closeNormal, "reboot")
	l.sess.Close()
	if l.raw != nil {
		l.raw.Close()
	}
}

// abort ends the connection at once.
func (l *link) abort() {
	if l.closed.Swap(true) {
		return
	}
	if l.cancel != nil {
		l.cancel()
	}
	if l.raw != nil {
		l.raw.Close()
	}
	l.ws.CloseNow()
	if l.sess != nil {
		l.sess.Close()
	}
}

// drop resets the TCP connection, as a network fault would.
func (l *link) drop() {
	if tc, ok := l.raw.(*net.TCPConn); ok {
		tc.SetLinger(0)
	}
	l.abort()
}

// wireConn is the byte stream yamux runs on: the WebSocket's binary
// messages as a net.Conn. It notes when anything arrived (for the silence
// check), and writes a yamux data frame's header together with its body, in
// one WebSocket message (the header alone otherwise: each frame one
// message, as the server sends them). yamux sets no deadline on it; the
// link's close and abort end reads and writes under way.
type wireConn struct {
	ws      *wsConn
	l       *link
	hdr     [12]byte // a data frame header waiting for its body
	pending bool
}

func (c *wireConn) Read(p []byte) (int, error) {
	n, err := c.ws.Read(p)
	if n > 0 {
		c.l.lastRecv.Store(time.Now().UnixNano())
	}
	return n, err
}

// Write is called by yamux's send loop alone: a 12-byte header, then, for a
// data frame of non-zero length, its body.
func (c *wireConn) Write(p []byte) (int, error) {
	if !c.pending && len(p) == 12 && p[0] == 0 && p[1] == 0 && (p[8]|p[9]|p[10]|p[11]) != 0 {
		copy(c.hdr[:], p)
		c.pending = true
		return len(p), nil
	}
	var err error
	if c.pending && len(c.hdr)+len(p) > maxMessage {
		// A body of a whole stream window (256 KiB) with its header would
		// be one message over §3's limit; boundaries mean nothing, so the
		// header goes alone.
		c.pending = false
		if err = c.ws.WriteMessage(c.hdr[:], nil); err == nil {
			err = c.ws.WriteMessage(p, nil)
		}
	} else if c.pending {
		c.pending = false
		err = c.ws.WriteMessage(c.hdr[:], p)
	} else {
		err = c.ws.WriteMessage(p, nil)
	}
	if err != nil {
		return 0, err
	}
	return len(p), nil
}

func (c *wireConn) Close() error                     { return c.ws.CloseNow() }
func (c *wireConn) LocalAddr() net.Addr              { return wsAddr{} }
func (c *wireConn) RemoteAddr() net.Addr             { return wsAddr{} }
func (c *wireConn) SetDeadline(time.Time) error      { return nil }
func (c *wireConn) SetReadDeadline(time.Time) error  { return nil }
func (c *wireConn) SetWriteDeadline(time.Time) error { return nil }

type wsAddr struct{}

func (wsAddr) Network() string { return "websocket" }
func (wsAddr) String() string  { return "websocket" }

// sortedKeys lists a config's keys in order.
func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
