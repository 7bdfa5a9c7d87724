// Package devicesim simulates intercom devices speaking the device protocol
// of docs/device-protocol.md, built from that page alone: many devices in one
// process, each with its own key, web UI, config and command memory.
//
// A device costs the goroutines of its yamux session (receive and send), one
// that accepts Remote Control tunnels and one that reads its control stream
// and runs its connect / back-off loop. Heartbeats come from one scheduler
// shared by the fleet, and dials are bounded (Config.DialConcurrency) so a
// fleet of 100,000 does not flood the server's accept queue. The WebSocket's
// client side is the device's own (wsclient.go): the connect request written
// on the dialed connection, nothing per connection but the socket and a 1
// KiB reader, since the simulator runs on the CPUs of the server it
// measures.
package devicesim

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/yamux"
)

// Config describes a fleet of simulated devices.
type Config struct {
	Server      string   // Gatehouse base URL, http(s)://host:port
	MACs        []string // one device per MAC
	StateDir    string   // keys and executed command ids survive restarts here; "" keeps them in memory
	Model       string   // reported model (default "R29C")
	Firmware    string   // reported firmware (default "29.30.1.12")
	SourceAddrs []string // local addresses to dial from, round robin ("" = any), for >28k connections
	// ClaimCodes are the maker's claim codes printed for the MACs (MAC in
	// any notation → code): a device presents its own on every connect
	// (protocol §2), so that the cloud accepts its key at once.
	ClaimCodes map[string]string
	// Keys are keys provisioned at the factory (MAC → key): a device
	// without a key of its own in StateDir starts with this one instead of a
	// random one (a factory reset still makes a random one).
	Keys map[string]string
	Log  *slog.Logger

	// TLS is used for https:// servers (nil: the system roots).
	TLS *tls.Config
	// DialConcurrency bounds the connection attempts in flight at once
	// (default 200).
	DialConcurrency int
	// FetchConcurrency bounds the AutoP fetches made after a connect at once
	// (default 64; fetches asked for by an autop command are not bounded).
	FetchConcurrency int
	// Backoff is the first reconnect window (protocol §2: 1 s, the
	// default); it doubles per failed attempt up to BackoffMax (default 60
	// s), and the wait is a random time within it (full jitter); after a
	// 503 or 429 with a Retry-After, that long plus up to a second instead.
	Backoff    time.Duration
	BackoffMax time.Duration
	// StableAfter resets the back-off once a connection lasted this long
	// (default 60 s).
	StableAfter time.Duration
	// RefusedRetry is the wait after a refusal, 403 or 404 (default 60
	// s, the protocol's Retry-After: a pending key may be accepted soon).
	RefusedRetry time.Duration
	// RestartWait is the least wait after the server closed the connection
	// going away (1001: the node shuts down, usually to restart); the wait
	// is a random time in [RestartWait, 3×RestartWait] (default 2 s, so 2–6
	// s, what a node shutting down answers in Retry-After). Connections
	// refused within a minute of it wait Backoff to 3×Backoff, not counted
	// in the back-off: the node is still restarting.
	RestartWait time.Duration
	// RebootDelay is how long a reboot keeps the device away: a random time
	// in [RebootDelay, 2×RebootDelay] (default 500 ms, so 0.5–1 s).
	RebootDelay time.Duration
	// WelcomeTimeout bounds the wait for welcome after hello (default 15 s).
	WelcomeTimeout time.Duration
	// Firmware upgrades (protocol §5.1): shares of the fleet, 0 to 1,
	// that fail an upgrade each way — chosen by MAC, so the same devices
	// fail every run. Checksum: the image "arrives corrupted" (ack ok:false
	// "checksum mismatch"); timeout: the device goes silent after the
	// download (the cloud's deadline fails it); old version: it reboots and
	// comes back with its old firmware.
	UpgradeFailChecksum   float64
	UpgradeFailTimeout    float64
	UpgradeFailOldVersion float64
	// UpgradeStepTime is how long verifying and installing an image take
	// each (default 200 ms).
	UpgradeStepTime time.Duration
	// Diagnostics is how the devices answer a diagnostic (protocol §5.2):
	// DiagnosticsOn (""), DiagnosticsNone or DiagnosticsSilent (diag.go).
	Diagnostics string
	// DownloadRate bounds each device's firmware download, in bytes a
	// second (0: as fast as the server sends), so that a demo's progress
	// bars move as over a device's own uplink.
	DownloadRate int64
	// DownloadConcurrency bounds the firmware downloads of the fleet at
	// once (default 128; more wait their turn).
	DownloadConcurrency int
	// Dial, when set, makes every connection instead of TCP (SourceAddrs
	// is then unused): for benchmarks that connect more devices than a
	// process may open sockets, over in-memory connections.
	Dial func(ctx context.Context, network, addr string) (net.Conn, error)
	// Journal, when set, receives one line "MAC id" for every command a
	// device executes (a repeat of a remembered id is not executed and not
	// written), so that a test outside this process can check that each
	// command ran exactly once per device. Lines are written whole.
	Journal io.Writer
}

func (c *Config) defaults() {
	if c.Model == "" {
		c.Model = "R29C"
	}
	if c.Firmware == "" {
		c.Firmware = "29.30.1.12"
	}
	if c.Log == nil {
		c.Log = slog.New(slog.DiscardHandler)
	}
	if c.DialConcurrency <= 0 {
		c.DialConcurrency = 200
	}
	if c.FetchConcurrency <= 0 {
		c.FetchConcurrency = 64
	}
	if c.Backoff <= 0 {
		c.Backoff = time.Second
	}
	if c.BackoffMax <= 0 {
		c.BackoffMax = 60 * time.Second
	}
	if c.BackoffMax < c.Backoff {
		c.BackoffMax = c.Backoff
	}
	if c.StableAfter <= 0 {
		c.StableAfter = 60 * time.Second
	}
	if c.RefusedRetry <= 0 {
		c.RefusedRetry = 60 * time.Second
	}
	if c.RestartWait <= 0 {
		c.RestartWait = 2 * time.Second
	}
	if c.RebootDelay <= 0 {
		c.RebootDelay = 500 * time.Millisecond
	}
	if c.WelcomeTimeout <= 0 {
		c.WelcomeTimeout = 15 * time.Second
	}
	if c.UpgradeStepTime <= 0 {
		c.UpgradeStepTime = 200 * time.Millisecond
	}
	if c.DownloadConcurrency <= 0 {
		c.DownloadConcurrency = 128
	}
}

// Fleet is a running set of simulated devices.
type Fleet struct {
	cfg    Config
	log    *slog.Logger
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	devices []*Device
	byMAC   map[string]*Device

	journalMu sync.Mutex // one Config.Journal line at a time

	base        *url.URL // the server, for the default AutoP URL
	connectURL  *url.URL // http(s)://host/device/v1/connect
	connectAddr string   // its host:port
	dialContext func(ctx context.Context, network, addr string) (net.Conn, error)
	httpClient  *http.Client
	// downloadClient fetches firmware images: connections of its own (an
	// AutoP fetch does not wait behind downloads), without httpClient's 30 s
	// bound on the whole exchange (an image may take longer).
	downloadClient *http.Client
	sources        []*net.TCPAddr
	srcNext        atomic.Uint64

	dialSem  chan struct{}
	fetchSem chan struct{}
	sched    *scheduler
	ymuxCfg  *yamux.Config // every session's, read only

	online     atomic.Int64
	connecting atomic.Int64
	attempts   atomic.Int64 // connection attempts
	failed     atomic.Int64 // attempts that never got a welcome
	busy       atomic.Int64 // attempts answered 503 (the server shedding load)
	lost       atomic.Int64 // connections that ended after a welcome
	// upgraded and upgradeFailed count upgrades acknowledged: ok with
	// the version asked for, or not.
	upgraded      atomic.Int64
	upgradeFailed atomic.Int64
	tries         triesHistogram
	closeOnce     sync.Once
}

// Stats are a fleet's counters since Start.
type Stats struct {
	Online     int   // devices online now
	Connecting int   // devices dialling or waiting for a welcome now
	Attempts   int64 // connection attempts
	Failed     int64 // attempts that never got a welcome (refused, timed out, …)
	Busy       int64 // of them, attempts answered 503: the server shed load
	Lost       int64 // connections that ended after their welcome (reboots included)
	Upgraded   int64 // firmware upgrades acknowledged ok with the version asked for
	// UpgradeFailed counts upgrades acknowledged failed or with another
	// version (silent ones are not counted).
	UpgradeFailed int64
}

// Stats returns the fleet's counters.
func (f *Fleet) Stats() Stats {
	return Stats{Online: f.Online(), Connecting: f.Connecting(), Attempts: f.attempts.Load(), Failed: f.failed.Load(), Busy: f.busy.Load(), Lost: f.lost.Load(),
		Upgraded: f.upgraded.Load(), UpgradeFailed: f.upgradeFailed.Load()}
}

// Start connects every device of cfg and keeps them connected until Close
// or until ctx ends (pass a context that lives as long as the fleet, e.g.
// t.Context() or context.Background()). It loads or creates every device's
// state, then returns without waiting for connections: use
// Fleet.WaitOnline, Device.WaitOnline or Fleet.Online.
func Start(ctx context.Context, cfg Config) (*Fleet, error) {
	cfg.defaults()
	base, err := url.Parse(strings.TrimRight(cfg.Server, "/"))
	if err != nil || (base.Scheme != "http" && base.Scheme != "https") || base.Host == "" {
		return nil, fmt.Errorf("devicesim: server %q must be an http(s):// URL", cfg.Server)
	}
	connectURL := *base
	connectURL.Path = strings.TrimRight(base.Path, "/") + "/device/v1/connect"
	connectAddr := connectURL.Host
	if connectURL.Port() == "" {
		connectAddr = net.JoinHostPort(connectURL.Hostname(), map[string]string{"http": "80", "https": "443"}[base.Scheme])
	}

	f := &Fleet{
		cfg:         cfg,
		log:         cfg.Log,
		byMAC:       make(map[string]*Device, len(cfg.MACs)),
		base:        base,
		connectURL:  &connectURL,
		connectAddr: connectAddr,
		dialSem:     make(chan struct{}, cfg.DialConcurrency),
		fetchSem:    make(chan struct{}, cfg.FetchConcurrency),
	}
	for _, s := range cfg.SourceAddrs {
		s = strings.TrimSpace(s)
		if s == "" {
			continue
		}
		ip := net.ParseIP(s)
		if ip == nil {
			return nil, fmt.Errorf("devicesim: source address %q is not an IP address", s)
		}
		f.sources = append(f.sources, &net.TCPAddr{IP: ip})
	}
	for _, m := range cfg.MACs {
		mac, err := ParseMAC(m)
		if err != nil {
			return nil, fmt.Errorf("devicesim: %w", err)
		}
		if f.byMAC[mac] != nil {
			continue
		}
		d := newDevice(f, mac)
		d.claim, d.factoryKey = lookupMAC(cfg.ClaimCodes, mac), lookupMAC(cfg.Keys, mac)
		d.idx = len(f.devices)
		f.devices = append(f.devices, d)
		f.byMAC[mac] = d
	}
	if cfg.StateDir != "" {
		if err := ensureDir(cfg.StateDir); err != nil {
			return nil, fmt.Errorf("devicesim: state directory: %w", err)
		}
	}
	// Load or create every device's state before anything connects, so a
	// broken state directory fails Start rather than some devices.
	if err := loadAll(f.devices); err != nil {
		return nil, err
	}

	dial := &net.Dialer{Timeout: 30 * time.Second, KeepAlive: -1}
	dialContext := func(ctx context.Context, network, addr string) (net.Conn, error) {
		d := *dial
		h, _ := ctx.Value(rawConnKey{}).(*rawConnHolder)
		if h != nil && h.source != nil {
			d.LocalAddr = h.source // a device's connections come from its own address
		} else if len(f.sources) > 0 {
			d.LocalAddr = f.sources[int(f.srcNext.Add(1)%uint64(len(f.sources)))]
		}
		if d.LocalAddr != nil {
			d.Control = bindNoPort
		}
		dial := d.DialContext
		if cfg.Dial != nil {
			dial = cfg.Dial
		}
		c, err := dial(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		if h != nil {
			h.conn = c
		}
		return c, nil
	}
	f.dialContext = dialContext
	f.httpClient = &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{
		DialContext:         dialContext,
		TLSClientConfig:     cfg.TLS,
		MaxIdleConns:        64,
		MaxIdleConnsPerHost: 64,
		MaxConnsPerHost:     128,
		IdleConnTimeout:     30 * time.Second,
		TLSHandshakeTimeout: 30 * time.Second,
		Proxy:               nil,
	}}
	f.downloadClient = &http.Client{Transport: &http.Transport{
		DialContext:           dialContext,
		TLSClientConfig:       cfg.TLS,
		MaxIdleConns:          cfg.DownloadConcurrency,
		MaxIdleConnsPerHost:   cfg.DownloadConcurrency,
		MaxConnsPerHost:       cfg.DownloadConcurrency,
		IdleConnTimeout:       30 * time.Second,
		TLSHandshakeTimeout:   30 * time.Second,
		ResponseHeaderTimeout: 30 * time.Second,
		Proxy:                 nil,
	}}

	f.ymuxCfg = yamux.DefaultConfig()
	f.ymuxCfg.AcceptBacklog = maxTunnels
	f.ymuxCfg.EnableKeepAlive = false
	f.ymuxCfg.ConnectionWriteTimeout = writeTimeout
	// No timer goroutine per opened stream: the device opens only the
	// control stream, and the welcome's timeout covers its SYN unanswered.
	f.ymuxCfg.StreamOpenTimeout = 0
	f.ymuxCfg.LogOutput = io.Discard

	f.ctx, f.cancel = context.WithCancel(context.WithoutCancel(ctx))
	f.sched = newScheduler(f.ctx, 32)
	// The fleet lives until Close or until ctx ends.
	stop := context.AfterFunc(ctx, func() { f.Close() })
	go func() { <-f.ctx.Done(); stop() }()
	for _, d := range f.devices {
		f.wg.Add(1)
		go d.run()
	}
	return f, nil
}

// lookupMAC finds the value of a MAC in a map keyed by MACs in any
// notation.
func lookupMAC(m map[string]string, mac string) string {
	if v, ok := m[mac]; ok {
		return v
	}
	for k, v := range m {
		if n, err := ParseMAC(k); err == nil && n == mac {
			return v
		}
	}
	return ""
}

// loadAll loads every device's state, one after the other (creating files
// in one directory from several goroutines is much slower on ext4).
func loadAll(devices []*Device) error {
	for _, d := range devices {
		if err := d.load(); err != nil {
			return fmt.Errorf("devicesim: %s: %w", d.mac, err)
		}
	}
	return nil
}

// rawConnKey carries a *rawConnHolder in a dial's context: the TCP
// connection under the WebSocket, for Device.Drop.
type rawConnKey struct{}

type rawConnHolder struct {
	source *net.TCPAddr // the address to dial from, nil for any
	conn   net.Conn
}

// Device returns the simulated device with that MAC (any notation), or nil.
func (f *Fleet) Device(mac string) *Device {
	m, err := ParseMAC(mac)
	if err != nil {
		return nil
	}
	return f.byMAC[m]
}

// Devices returns every device of the fleet in the order of Config.MACs.
func (f *Fleet) Devices() []*Device { return append([]*Device(nil), f.devices...) }

// Online counts devices with a live connection that got a welcome.
func (f *Fleet) Online() int { return int(f.online.Load()) }

// Connecting counts devices dialling or waiting for their welcome.
func (f *Fleet) Connecting() int { return int(f.connecting.Load()) }

// WaitOnline blocks until at least n devices are online or ctx ends.
func (f *Fleet) WaitOnline(ctx context.Context, n int) error {
	t := time.NewTicker(20 * time.Millisecond)
	defer t.Stop()
	for f.Online() < n {
		select {
		case <-ctx.Done():
			return fmt.Errorf("%d of %d devices online: %w", f.Online(), n, ctx.Err())
		case <-t.C:
		}
	}
	return nil
}

// Close disconnects every device and waits for them to stop.
func (f *Fleet) Close() error {
	f.closeOnce.Do(func() {
		f.cancel()
		for _, d := range f.devices {
			d.mu.Lock()
			l := d.link
			d.mu.Unlock()
			if l != nil {
				l.abort()
			}
		}
		f.wg.Wait()
		f.httpClient.CloseIdleConnections()
		f.downloadClient.CloseIdleConnections()
	})
	return nil
}

// errClosed is what a device loop sees when the fleet closes.
var errClosed = errors.New("devicesim: fleet closed")

// maxCountedTries is the last bucket of the attempts histogram: that many
// attempts or more.
const maxCountedTries = 16

// triesHistogram counts the connections that got a welcome by the attempts
// the device made for each (1 = at the first).
type triesHistogram [maxCountedTries + 1]atomic.Int64

func (h *triesHistogram) add(tries int) { h[min(tries, maxCountedTries)].Add(1) }

// Tries is a histogram of the connect attempts a device made before it was
// online: Tries[n] connections came at the n-th attempt
// (Tries[len(Tries)-1]: at that many or more; Tries[0] is always 0).
type Tries []int64

// Tries returns the histogram of attempts per connection since Start.
func (f *Fleet) Tries() Tries {
	t := make(Tries, len(f.tries))
	for i := range f.tries {
		t[i] = f.tries[i].Load()
	}
	return t
}

// Since is t less an earlier histogram of the same fleet.
func (t Tries) Since(earlier Tries) Tries {
	d := append(Tries(nil), t...)
	for i := range earlier {
		d[i] -= earlier[i]
	}
	return d
}

// Connections is the number of connections counted.
func (t Tries) Connections() int64 {
	var n int64
	for _, c := range t {
		n += c
	}
	return n
}

// Mean is the average attempts per connection.
func (t Tries) Mean() float64 {
	var n, sum int64
	for i, c := range t {
		n += c
		sum += int64(i) * c
	}
	if n == 0 {
		return 0
	}
	return float64(sum) / float64(n)
}

// Quantile is the least attempts within which a fraction q of the
// connections came.
func (t Tries) Quantile(q float64) int {
	need := int64(q*float64(t.Connections()) + 0.5)
	var n int64
	for i, c := range t {
		n += c
		if n >= need && n > 0 {
			return i
		}
	}
	return len(t) - 1
}

// String summarizes: mean, median, 90th and 99th percentile, and the most.
func (t Tries) String() string {
	if t.Connections() == 0 {
		return "no connections"
	}
	most := 0
	for i, c := range t {
		if c > 0 {
			most = i
		}
	}
	plus := ""
	if most == len(t)-1 {
		plus = "+"
	}
	return fmt.Sprintf("%.2f attempts per connection (p50 %d, p90 %d, p99 %d, max %d%s) over %d connections",
		t.Mean(), t.Quantile(0.5), t.Quantile(0.9), t.Quantile(0.99), most, plus, t.Connections())
}

// journal writes one executed command to Config.Journal, when set.
func (f *Fleet) journal(mac, id string) {
	if f.cfg.Journal == nil {
		return
	}
	f.journalMu.Lock()
	defer f.journalMu.Unlock()
	if _, err := io.WriteString(f.cfg.Journal, mac+" "+id+"\n"); err != nil {
		f.log.Warn("journal", "err", err)
	}
}
