package server_test

import (
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/bus"
	"github.com/gatehouse-dev/gatehouse/internal/demo"
	"github.com/gatehouse-dev/gatehouse/internal/store"
)

// The AutoP file cache on a cluster: two nodes on one PostgreSQL and one
// NATS. A write acknowledged on node A (its HTTP response returned) is never
// answered with the old file by node B, for every kind of input of a file;
// node B serves from its cache meanwhile.

// autoPCluster drives one device's file across two nodes.
type autoPCluster struct {
	t          *testing.T
	a, b       *env
	mac, key   string
	instTok    string
	subTok     string
	installer  int64
	project    int64
	kind       string
	last       string // the key and body node B served last
	fetches    int    // by node B
	rounds     int
	settings   int  // installer settings rounds: each sets other values
	cachedSeen bool // node B served a file from its cache before a write
}

func newAutoPCluster(t *testing.T, a, b *env) *autoPCluster {
	t.Helper()
	c := &autoPCluster{t: t, a: a, b: b, instTok: a.token(demo.InstallerUser), subTok: a.token(demo.SubdistributorUser)}
	err := a.st.DB().QueryRow(`SELECT d.mac, d.installer_id, d.project_id, p.kind FROM devices d
		JOIN accounts i ON i.id = d.installer_id JOIN projects p ON p.id = d.project_id
		WHERE i.username = $1 AND d.key_hash = '' ORDER BY d.id LIMIT 1`, demo.InstallerUser).Scan(&c.mac, &c.installer, &c.project, &c.kind)
	if err != nil {
		t.Fatal(err)
	}
	c.key = devKey(c.mac)
	enrollKey(t, a, c.mac, c.key)
	return c
}

// fetchB fetches the file from node B with key.
func (c *autoPCluster) fetchB(key string) *resp {
	c.t.Helper()
	c.fetches++
	return c.b.fetchCfg(c.t, "/autop/"+c.mac+".cfg", c.mac, key)
}

// waitCaching waits until node B serves the file from its cache.
func (c *autoPCluster) waitCaching(within time.Duration) {
	c.t.Helper()
	eventually(c.t, within, "node B serving from its cache", func() bool {
		before := c.b.st.AutoPCacheHits()
		c.fetchB(c.key)
		c.fetchB(c.key)
		return c.b.st.AutoPCacheHits() > before
	})
}

// round makes node B keep the current file (two fetches), runs write on
// node A (it returns once A answered), then fetches from node B: the file
// must be the one the database holds now, and it must have changed.
func (c *autoPCluster) round(what string, write func()) {
	c.t.Helper()
	c.rounds++
	before := c.b.st.AutoPCacheHits()
	c.fetchB(c.key)
	c.fetchB(c.key)
	if c.b.st.AutoPCacheHits() > before {
		c.cachedSeen = true
	}
	write()
	c.check(what)
}

// check compares what node B serves with the database: the file with the
// accepted key, and a refusal for any other.
func (c *autoPCluster) check(what string) {
	c.t.Helper()
	got := c.fetchB(c.key)
	want, err := c.a.st.AutoPServe(sysCtx(), c.mac)
	served := err == nil && want.KeyHash == store.DeviceKeyHash(c.key)
	switch {
	case served && (got.StatusCode != http.StatusOK || string(got.body) != string(want.File.Bytes())):
		c.t.Fatalf("%s: node B answered the old file after node A acknowledged the write: %d\n%s\nthe database has:\n%s",
			what, got.StatusCode, got.body, want.File.Bytes())
	case !served && got.StatusCode == http.StatusOK:
		c.t.Fatalf("%s: node B served a file the database no longer gives this key:\n%s", what, got.body)
	}
	// The file, or the key it is served for, changed.
	if now := c.key + "\n" + string(got.body); now == c.last && served {
		c.t.Fatalf("%s: the file did not change: the round tests nothing", what)
	} else {
		c.last = now
	}
}

// do calls node A's API and wants 2xx.
func (c *autoPCluster) do(method, path, tok string, body any) *resp {
	c.t.Helper()
	r := c.a.do(nil, method, path, body, bearer(tok))
	if r.StatusCode/100 != 2 {
		c.t.Fatalf("%s %s on node A: %d %s", method, path, r.StatusCode, r.body)
	}
	return r
}

// everyKind runs n rounds of every kind of write that changes the file.
func (c *autoPCluster) everyKind(n int) {
	c.t.Helper()
	mac := c.mac
	for i := range n {
		line := fmt.Sprintf("Config.DoorSetting.RELAY.HoldDelayA = %d", 1000*c.rounds+i)
		c.round("AutoP lists saved", func() {
			c.do("PUT", "/api/v1/devices/"+mac+"/autop", c.subTok, map[string]any{"regular": []string{line}})
		})
	}
	zones := []string{"Europe/Berlin", "Asia/Tokyo", "America/Chicago", "Australia/Sydney"}
	// The installer's settings the file is rendered with (its time zone is
	// the project's when the project has one: not rendered).
	for range n {
		c.round("installer settings", func() {
			c.settings++
			k := c.settings
			c.do("PATCH", fmt.Sprintf("/api/v1/installers/%d", c.installer), c.subTok,
				map[string]any{"connect_type": []string{"udp", "tcp", "tls"}[k%3], "rtp_confusion": k%2 == 0})
		})
	}
	for range n {
		c.round("project time zone", func() {
			c.settings++
			c.do("PATCH", fmt.Sprintf("/api/v1/projects/%d", c.project), c.instTok, map[string]any{"time_zone": zones[c.settings%len(zones)]})
		})
	}
	// Another project of the same kind in another time zone to move to.
	r := c.do("POST", "/api/v1/projects", c.instTok, map[string]any{"kind": c.kind, "name": fmt.Sprintf("Elsewhere %d", c.rounds),
		"time_zone": "Pacific/Auckland"})
	other := int64(r.json(c.t)["id"].(float64))
	home := c.project
	for i := range n {
		c.round("device moved to another project", func() {
			to := other
			if i%2 == 1 {
				to = home
			}
			c.do("PATCH", "/api/v1/installer/devices/"+mac, c.instTok, map[string]any{"project_id": to})
		})
	}
	// The MAC leaves and comes back as a new device (another project, no key
	// until enrolled again).
	for range max(n/3, 1) {
		c.round("device deleted", func() { c.do("DELETE", "/api/v1/installer/devices/"+mac, c.instTok, nil) })
		c.round("device added again", func() {
			c.do("POST", "/api/v1/installer/devices", c.instTok, map[string]any{"mac": mac, "project_id": other, "type": "door_phone"})
		})
		c.round("key enrolled", func() { enrollKey(c.t, c.a, mac, c.key) })
	}
	c.project = other // where the device is now
	// A new key accepted through an enrollment window, by node A's gateway:
	// acknowledged when the device's connection is accepted. (A few: new
	// keys for one MAC count against the gateway's attempt limits.)
	for i := range min(n, 5) {
		c.round("key changed through a window", func() {
			c.do("POST", "/api/v1/enrollment-windows", c.instTok, map[string]any{"mac": mac, "minutes": 5})
			key := fmt.Sprintf("cluster-key-%s-%04d-0123456789abcdef", mac, c.rounds*100+i)
			d, res, err := dialRaw(c.t, c.a, mac, key)
			if err != nil {
				status := 0
				if res != nil {
					status = res.StatusCode
				}
				c.t.Fatalf("connect with a new key through a window: %d %v", status, err)
			}
			d.ws.CloseNow()
			old := c.key
			c.key = key
			if got := c.fetchB(old); got.StatusCode == http.StatusOK {
				c.t.Fatalf("node B served the file for the key that was replaced")
			}
		})
	}
}

func TestAutoPClusterNeverStale(t *testing.T) {
	a, b := twoNodes(t)
	c := newAutoPCluster(t, a, b)
	c.waitCaching(10 * time.Second)
	hits := b.st.AutoPCacheHits()
	c.everyKind(15)
	if !c.cachedSeen {
		t.Fatal("node B never served from its cache before a write: the test proves nothing")
	}
	t.Logf("%d rounds; node B served %d of its %d fetches from its cache", c.rounds, b.st.AutoPCacheHits()-hits, c.fetches)

	// Without writes, node B answers from its cache.
	const steady = 500
	hits, start := b.st.AutoPCacheHits(), time.Now()
	for range steady {
		if r := c.fetchB(c.key); r.StatusCode != http.StatusOK {
			t.Fatalf("steady fetch: %d", r.StatusCode)
		}
	}
	served := b.st.AutoPCacheHits() - hits
	t.Logf("no writes: node B served %d of %d fetches from its cache (%.0f fetches/s, one client)", served, steady,
		steady/time.Since(start).Seconds())
	if served < steady/2 { // not all: a busy machine may delay a heartbeat past Silent
		t.Errorf("node B served only %d of %d fetches from its cache with no write", served, steady)
	}
}

// When node B loses the bus without noticing a disconnect (its NATS
// connection is blackholed), it stops serving from its cache within
// bus.DefaultNoticeTimings.Silent and reads every file; writes on node A
// wait at most AckWait for it. Once the bus is back, B caches again and
// stays correct.
func TestAutoPClusterBusLost(t *testing.T) {
	a, b, proxy := proxiedNodes(t)
	c := newAutoPCluster(t, a, b)
	c.waitCaching(10 * time.Second)
	c.everyKind(1)

	proxy.cut()
	cutAt := time.Now()
	var lastHit time.Time
	for time.Since(cutAt) < bus.DefaultNoticeTimings.Silent+time.Second {
		before := b.st.AutoPCacheHits()
		c.fetchB(c.key)
		if b.st.AutoPCacheHits() > before {
			lastHit = time.Now()
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Logf("node B served from its cache until %v after it lost the bus", lastHit.Sub(cutAt).Round(time.Millisecond))
	if lastHit.Sub(cutAt) > bus.DefaultNoticeTimings.Silent+300*time.Millisecond { // a fetch's own time
		t.Errorf("node B served from its cache %v after it lost the bus; the bound is %v", lastHit.Sub(cutAt), bus.DefaultNoticeTimings.Silent)
	}
	hits := b.st.AutoPCacheHits()
	for i := range 3 {
		start := time.Now()
		c.round("AutoP lists saved while node B is cut off", func() {
			line := fmt.Sprintf("Config.DoorSetting.RELAY.HoldDelayB = %d", i)
			c.do("PUT", "/api/v1/devices/"+c.mac+"/autop", c.subTok, map[string]any{"regular": []string{line}})
		})
		took := time.Since(start)
		t.Logf("a write on node A while node B is cut off: answered after %v", took.Round(time.Millisecond))
		if took > bus.DefaultNoticeTimings.AckWait+2*time.Second {
			t.Errorf("a write on node A took %v while node B was cut off", took)
		}
	}
	if n := b.st.AutoPCacheHits() - hits; n > 0 {
		t.Errorf("node B served %d fetches from its cache while it could not hear the bus", n)
	}

	proxy.heal()
	c.waitCaching(15 * time.Second)
	c.everyKind(2)
}

// proxiedNodes is twoNodes with node B's NATS connection through a proxy
// the test can cut.
func proxiedNodes(t *testing.T) (a, b *env, p *tcpProxy) {
	t.Helper()
	a, b = twoNodesVia(t, func(url string) string {
		p = startProxy(t, strings.TrimPrefix(url, "nats://"))
		return p.url()
	})
	return a, b, p
}

// tcpProxy forwards TCP connections to a target. cut blackholes them: bytes
// are read and dropped both ways and nothing is closed, so neither side
// notices. heal closes them, and forwards again: clients reconnect.
type tcpProxy struct {
	ln      net.Listener
	target  string
	blocked atomic.Bool
	mu      sync.Mutex
	conns   []net.Conn
}

func startProxy(t *testing.T, target string) *tcpProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &tcpProxy{ln: ln, target: target}
	t.Cleanup(func() { ln.Close(); p.closeAll() })
	go func() {
		for {
			in, err := ln.Accept()
			if err != nil {
				return
			}
			out, err := net.Dial("tcp", target)
			if err != nil {
				in.Close()
				continue
			}
			p.mu.Lock()
			p.conns = append(p.conns, in, out)
			p.mu.Unlock()
			go p.pipe(out, in)
			go p.pipe(in, out)
		}
	}()
	return p
}

func (p *tcpProxy) url() string { return "nats://" + p.ln.Addr().String() }

func (p *tcpProxy) pipe(dst, src net.Conn) {
	defer dst.Close()
	defer src.Close()
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if err != nil {
			return
		}
		if p.blocked.Load() {
			continue
		}
		if _, err := dst.Write(buf[:n]); err != nil {
			return
		}
	}
}

func (p *tcpProxy) cut() { p.blocked.Store(true) }

func (p *tcpProxy) heal() {
	p.closeAll()
	p.blocked.Store(false)
}

func (p *tcpProxy) closeAll() {
	p.mu.Lock()
	conns := p.conns
	p.conns = nil
	p.mu.Unlock()
	for _, c := range conns {
		c.Close()
	}
}
