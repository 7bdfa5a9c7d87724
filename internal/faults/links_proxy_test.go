package faults_test

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"math"
	"math/rand/v2"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	toxiproxy "github.com/Shopify/toxiproxy/v2"
	"github.com/rs/zerolog"
)

// linkProxy is a fault proxy in the test process (Shopify/toxiproxy, in
// process) between the simulator's devices and a node: every device
// connection (the WebSocket of /device/v1/connect, AutoP fetches, firmware
// downloads) goes through it, and toxics break those links on demand.
type linkProxy struct {
	t testing.TB
	p *toxiproxy.Proxy
}

// newLinkProxy listens on a free loopback port and forwards to upstream
// (a node's HOST:PORT) until the test ends.
func newLinkProxy(t testing.TB, name, upstream string) *linkProxy {
	t.Helper()
	srv := toxiproxy.NewServer(toxiproxy.NewMetricsContainer(nil), zerolog.Nop())
	p := toxiproxy.NewProxy(srv, name, "127.0.0.1:0", upstream)
	if err := p.Start(); err != nil {
		t.Fatalf("toxiproxy %s: %v", name, err)
	}
	t.Cleanup(p.Stop)
	return &linkProxy{t: t, p: p}
}

// URL is the server URL the simulator is given instead of the node's.
func (l *linkProxy) URL() string { return "http://" + l.p.Listen }

// add adds toxic name of kind typ on stream ("upstream": device → node,
// "downstream": node → device) to every link, open or new, each link
// taking it with probability toxicity.
func (l *linkProxy) add(name, typ, stream string, toxicity float64, attrs map[string]any) {
	l.t.Helper()
	b, err := json.Marshal(map[string]any{"name": name, "type": typ, "stream": stream, "toxicity": toxicity, "attributes": attrs})
	if err != nil {
		l.t.Fatal(err)
	}
	if _, err := l.p.Toxics.AddToxicJson(strings.NewReader(string(b))); err != nil {
		l.t.Fatalf("toxic %s: %v", name, err)
	}
}

// remove takes toxic name off every link (a timeout toxic's links are
// closed then, as toxiproxy does).
func (l *linkProxy) remove(name string) {
	l.t.Helper()
	if err := l.p.Toxics.RemoveToxic(context.Background(), name); err != nil {
		l.t.Fatalf("remove toxic %s: %v", name, err)
	}
}

// linkGoroutines reads the node's goroutines now from its /metrics.
func linkGoroutines(t testing.TB, n *node) int {
	t.Helper()
	resp, err := http.Get(n.URL() + "/metrics")
	if err != nil {
		t.Fatalf("metrics: %v", err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		if f := strings.Fields(sc.Text()); len(f) == 2 && f[0] == "go_goroutines" {
			v, _ := strconv.ParseFloat(f[1], 64)
			return int(v)
		}
	}
	t.Fatalf("no go_goroutines in the node's /metrics")
	return 0
}

// linkMemory samples a node's resident set every 200 ms until stopped, and
// keeps the peak.
type linkMemory struct {
	mu   sync.Mutex
	peak int // KiB
	stop chan struct{}
	done chan struct{}
}

func sampleLinkMemory(n *node) *linkMemory {
	m := &linkMemory{stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(m.done)
		for {
			rss, _ := n.Memory()
			m.mu.Lock()
			m.peak = max(m.peak, rss)
			m.mu.Unlock()
			select {
			case <-m.stop:
				return
			case <-time.After(200 * time.Millisecond):
			}
		}
	}()
	return m
}

// Peak is the highest VmRSS sampled so far, in KiB.
func (m *linkMemory) Peak() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.peak
}

func (m *linkMemory) Stop() {
	select {
	case <-m.stop:
	default:
		close(m.stop)
	}
	<-m.done
}

// linkCutter is a plain TCP forwarder of the test's own, put in front of the
// toxiproxy, for the faults toxiproxy cannot stand for faithfully:
//
//   - half-open (cut/heal): toxiproxy's timeout toxic stops the data but
//     passes a close on (a device that gives up closes the node's side too);
//     here a dead link carries nothing either way and passes no FIN or RST,
//     so the node can only learn of it by the silence;
//   - drops (dropRandom): toxiproxy's reset_peer, with a toxicity, picks
//     links as they pass data and cannot say how many it cut; here a share of
//     the open links is chosen, each reset (RST) at a random time, counted;
//   - flapping (lifetime): reset_peer swallows every byte from the moment it
//     applies, so a link could not work for a second before it dies; here
//     every link is reset a set time after it opened.
type linkCutter struct {
	t        testing.TB
	ln       net.Listener
	upstream string
	// lifetime, when set (nanoseconds), resets every link opened since
	// that long after it opened.
	lifetime atomic.Int64

	mu       sync.Mutex
	dead     bool
	links    map[*cutLink]bool
	cuts     atomic.Int64
	accepted atomic.Int64
}

// cutLink is one device connection: the device's side and the node's.
type cutLink struct {
	down, up net.Conn
	// stranded: the device's side was reset, the node's goes silent.
	stranded atomic.Bool
}

func newLinkCutter(t testing.TB, upstream string) *linkCutter {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	c := &linkCutter{t: t, ln: ln, upstream: upstream, links: map[*cutLink]bool{}}
	t.Cleanup(func() {
		ln.Close()
		c.heal()
	})
	go c.serve()
	return c
}

// URL is the server URL the simulator is given.
func (c *linkCutter) URL() string { return "http://" + c.ln.Addr().String() }

// Cuts is how many links were reset (dropRandom, lifetime).
func (c *linkCutter) Cuts() int { return int(c.cuts.Load()) }

// Accepted is how many connections the devices opened (their WebSocket
// connects, AutoP fetches, …).
func (c *linkCutter) Accepted() int { return int(c.accepted.Load()) }

func (c *linkCutter) serve() {
	for {
		conn, err := c.ln.Accept()
		if err != nil {
			return
		}
		c.accepted.Add(1)
		go c.link(conn)
	}
}

func (c *linkCutter) isDead() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.dead
}

func (c *linkCutter) link(down net.Conn) {
	l := &cutLink{down: down}
	c.mu.Lock()
	dead := c.dead
	c.links[l] = true
	c.mu.Unlock()
	defer c.forget(l)
	if dead {
		// A connect over a dead link reaches nothing.
		io.Copy(io.Discard, down)
		return
	}
	up, err := net.Dial("tcp", c.upstream)
	if err != nil {
		return
	}
	c.mu.Lock()
	l.up = up
	c.mu.Unlock()
	if life := time.Duration(c.lifetime.Load()); life > 0 {
		timer := time.AfterFunc(life, func() { c.reset(l) })
		defer timer.Stop()
	}
	var wg sync.WaitGroup
	pipe := func(dst, src net.Conn) {
		defer wg.Done()
		buf := make([]byte, 32<<10)
		for {
			n, err := src.Read(buf)
			if n > 0 && !c.isDead() && !l.stranded.Load() {
				if _, werr := dst.Write(buf[:n]); werr != nil {
					err = werr
				}
			}
			if err != nil {
				if c.isDead() || l.stranded.Load() {
					// No FIN, no RST passes a dead link: the other side
					// hears nothing until heal.
					return
				}
				dst.Close()
				src.Close()
				return
			}
		}
	}
	wg.Add(2)
	go pipe(up, down)
	go pipe(down, up)
	wg.Wait()
}

func (c *linkCutter) forget(l *cutLink) {
	c.mu.Lock()
	delete(c.links, l)
	up := l.up
	c.mu.Unlock()
	l.down.Close()
	if up != nil {
		up.Close()
	}
}

// reset cuts a link at both ends with an RST.
func (c *linkCutter) reset(l *cutLink) {
	c.mu.Lock()
	up := l.up
	c.mu.Unlock()
	rst(l.down)
	if up != nil {
		rst(up)
	}
	c.cuts.Add(1)
}

func rst(conn net.Conn) {
	if tc, ok := conn.(*net.TCPConn); ok {
		tc.SetLinger(0)
	}
	conn.Close()
}

// dropRandom picks share of the open links at random and resets each at a
// random time within; it returns how many it picked.
func (c *linkCutter) dropRandom(rng *rand.Rand, share float64, within time.Duration) int {
	c.mu.Lock()
	var open []*cutLink
	for l := range c.links {
		if l.up != nil {
			open = append(open, l)
		}
	}
	c.mu.Unlock()
	// Map order is random but not the seed's: sort, then draw.
	slices.SortFunc(open, func(a, b *cutLink) int {
		return strings.Compare(a.down.RemoteAddr().String(), b.down.RemoteAddr().String())
	})
	k := int(math.Round(share * float64(len(open))))
	for _, i := range rng.Perm(len(open))[:k] {
		l := open[i]
		time.AfterFunc(time.Duration(rng.Int64N(int64(within))), func() { c.reset(l) })
	}
	return k
}

// strand cuts every open link as a device that moved to another network
// sees it: its side is reset (it reconnects at once, over a new link that
// works), while the node's side stays open and silent, no FIN, no RST: the
// node holds an old connection of each device until its heartbeat timeout.
// It returns how many links it stranded.
func (c *linkCutter) strand() int {
	c.mu.Lock()
	var open []*cutLink
	for l := range c.links {
		if l.up != nil {
			open = append(open, l)
		}
	}
	c.mu.Unlock()
	for _, l := range open {
		l.stranded.Store(true)
		rst(l.down)
	}
	return len(open)
}

// cut kills every link, open or new: data is read and dropped, closes are
// not passed on.
func (c *linkCutter) cut() {
	c.mu.Lock()
	c.dead = true
	c.mu.Unlock()
}

// heal lets new connections through again and closes every link that was
// open while dead (both ends: they are gone, as after a real outage).
func (c *linkCutter) heal() {
	c.mu.Lock()
	c.dead = false
	var conns []net.Conn
	for l := range c.links {
		conns = append(conns, l.down)
		if l.up != nil {
			conns = append(conns, l.up)
		}
	}
	c.mu.Unlock()
	for _, conn := range conns {
		conn.Close()
	}
}
