package devicesim

import (
	"bufio"
	"encoding/json"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

const (
	mac1 = "0C1105AABB01"
	mac2 = "0C1105AABB02"
)

func TestHelloWelcomeStatusPong(t *testing.T) {
	g := newFakeGW(t, mac1)
	g.heartbeat = 1
	cfg := fastConfig(g.ts.URL, "0c:11:05:aa:bb:01")
	cfg.Model, cfg.Firmware = "E12W", "12.30.1.1"
	f := startFleet(t, cfg)
	c := g.next(t)
	if c.mac != mac1 {
		t.Fatalf("connected as %q, want %q", c.mac, mac1)
	}
	if len(c.key) != 43 || !validKey(c.key) {
		t.Errorf("key %q is not 43 base64url characters", c.key)
	}
	h := c.hello
	if h["model"] != "E12W" || h["firmware"] != "12.30.1.1" || h["config_version"] != "" {
		t.Errorf("hello = %v", h)
	}
	if ip := net.ParseIP(h["ip"].(string)); ip == nil || !ip.IsPrivate() {
		t.Errorf("hello ip %v is not a LAN address", h["ip"])
	}
	if _, ok := h["uptime"].(float64); !ok {
		t.Errorf("hello uptime %v is not a number", h["uptime"])
	}
	d := f.Device(mac1)
	if err := d.WaitOnline(ctxT(t, 5*time.Second)); err != nil {
		t.Fatal(err)
	}
	if f.Online() != 1 {
		t.Errorf("Online() = %d", f.Online())
	}
	// Heartbeat of 1 s: two statuses within ~2.5 s, each with uptime.
	start := time.Now()
	for range 2 {
		st := c.expect(t, "status")
		if _, ok := st["uptime"].(float64); !ok {
			t.Errorf("status without uptime: %v", st)
		}
	}
	if el := time.Since(start); el > 3*time.Second {
		t.Errorf("two heartbeats took %s with heartbeat 1 s", el)
	}
	if !d.Online() {
		t.Error("device went offline while the server answers pongs")
	}
}

func TestRebootOnceAndBack(t *testing.T) {
	g := newFakeGW(t, mac1)
	f := startFleet(t, fastConfig(g.ts.URL, mac1))
	d := f.Device(mac1)
	c := g.next(t)
	c.command("reboot", "c1")
	a := c.expect(t, "ack")
	if a["id"] != "c1" || a["ok"] != true {
		t.Fatalf("ack = %v", a)
	}
	c.waitClosed(t)
	c2 := g.next(t)
	if err := d.WaitOnline(ctxT(t, 5*time.Second)); err != nil {
		t.Fatal(err)
	}
	if d.Boots() != 2 || d.Executed("c1") != 1 {
		t.Fatalf("after reboot: boots %d, executed %d", d.Boots(), d.Executed("c1"))
	}
	if c2.key != c.key {
		t.Error("a reboot changed the key")
	}
	if up := c2.hello["uptime"].(float64); up > 2 {
		t.Errorf("uptime after reboot %v s", up)
	}
	// The server lost the ack and sends c1 again: same ack, no reboot.
	c2.command("reboot", "c1")
	a = c2.expect(t, "ack")
	if a["id"] != "c1" || a["ok"] != true {
		t.Fatalf("repeat ack = %v", a)
	}
	time.Sleep(300 * time.Millisecond)
	select {
	case <-c2.closed:
		t.Fatal("a repeated reboot id rebooted the device again")
	default:
	}
	if d.Boots() != 2 || d.Executed("c1") != 1 {
		t.Fatalf("after repeat: boots %d, executed %d", d.Boots(), d.Executed("c1"))
	}
}

func TestFactoryResetNewKeyAndConfigResetKeepsKey(t *testing.T) {
	g := newFakeGW(t, mac1)
	g.setAutoP(mac1, "v1", "Config.DoorSetting.RELAY.HoldDelayA = 7\n")
	f := startFleet(t, fastConfig(g.ts.URL, mac1))
	d := f.Device(mac1)
	c := g.next(t)
	if err := d.WaitVersion(ctxT(t, 5*time.Second), "v1"); err != nil {
		t.Fatal(err)
	}
	// Config reset: config and version gone, key kept.
	c.command("reset", "r1", "mode", "config")
	if a := c.expect(t, "ack"); a["ok"] != true {
		t.Fatalf("config reset ack %v", a)
	}
	c.waitClosed(t)
	c2 := g.next(t)
	if c2.key != c.key {
		t.Error("a config reset changed the key")
	}
	if c2.hello["config_version"] != "" {
		t.Errorf("hello after config reset reports version %v", c2.hello["config_version"])
	}
	if d.Boots() != 2 {
		t.Errorf("boots %d after a reset", d.Boots())
	}
	// It fetched its file again after connecting (no If-None-Match now).
	if err := d.WaitVersion(ctxT(t, 5*time.Second), "v1"); err != nil {
		t.Fatal(err)
	}
	// Factory reset: a new key.
	c2.command("reset", "r2", "mode", "factory")
	if a := c2.expect(t, "ack"); a["ok"] != true {
		t.Fatalf("factory reset ack %v", a)
	}
	c2.waitClosed(t)
	c3 := g.next(t)
	if c3.key == c2.key || !validKey(c3.key) {
		t.Errorf("factory reset kept key %q (now %q)", c2.key, c3.key)
	}
	if d.Key() != c3.key {
		t.Error("Key() is not the key the device connects with")
	}
	// Both resets are remembered across them.
	c3.command("reset", "r1", "mode", "config")
	c3.command("reset", "r2", "mode", "factory")
	c3.expect(t, "ack")
	c3.expect(t, "ack")
	if d.Executed("r1") != 1 || d.Executed("r2") != 1 || d.Boots() != 3 {
		t.Errorf("executed r1 %d r2 %d boots %d", d.Executed("r1"), d.Executed("r2"), d.Boots())
	}
	// A bad mode is refused without a reset.
	c3.command("reset", "r3", "mode", "everything")
	if a := c3.expect(t, "ack"); a["ok"] != false || !strings.Contains(a["error"].(string), "mode") {
		t.Errorf("bad mode ack %v", a)
	}
}

func TestAutoPCommandAndFetchAfterConnect(t *testing.T) {
	g := newFakeGW(t, mac1)
	g.setAutoP(mac1, "v1", "Config.Settings.SNTP.TimeZone = Europe/Berlin\nConfig.Account1.SIP.TransType = 0\n# comment\n\nnot a setting\nConfig.Account1.SIP.TransType = 1\n")
	f := startFleet(t, fastConfig(g.ts.URL, mac1))
	d := f.Device(mac1)
	c := g.next(t)
	// After connecting it fetched the file and reported the version.
	st := c.expect(t, "status")
	if st["config_version"] != "v1" {
		t.Fatalf("status after the boot fetch: %v", st)
	}
	cfg := d.Config()
	if cfg["Config.Settings.SNTP.TimeZone"] != "Europe/Berlin" || cfg["Config.Account1.SIP.TransType"] != "1" || len(cfg) != 2 {
		t.Errorf("config %v: want the later line to win and non-settings skipped", cfg)
	}
	// A new version, and an autop command.
	g.setAutoP(mac1, "v2", "Config.DoorSetting.RELAY.HoldDelayA = 7\n")
	c.command("autop", "a1", "url", g.ts.URL+"/autop/"+mac1+".cfg")
	a := c.expect(t, "ack")
	if a["id"] != "a1" || a["ok"] != true || a["version"] != "v2" {
		t.Fatalf("autop ack %v", a)
	}
	if st := c.expect(t, "status"); st["config_version"] != "v2" {
		t.Errorf("status after autop %v", st)
	}
	cfg = d.Config()
	if cfg["Config.DoorSetting.RELAY.HoldDelayA"] != "7" || cfg["Config.Settings.SNTP.TimeZone"] != "Europe/Berlin" {
		t.Errorf("config after v2 %v (applied settings are kept until a reset)", cfg)
	}
	reqs := g.autopRequests()
	last := reqs[len(reqs)-1]
	if last.ifNoneMatch != `"v1"` || last.status != 200 || last.key != c.key {
		t.Errorf("autop request %+v: want If-None-Match \"v1\" with the device key", last)
	}
	// Unchanged: a 304, acked with the version it has.
	c.command("autop", "a2", "url", g.ts.URL+"/autop/"+mac1+".cfg")
	if a := c.expect(t, "ack"); a["ok"] != true || a["version"] != "v2" {
		t.Errorf("autop ack on 304: %v", a)
	}
	reqs = g.autopRequests()
	if last := reqs[len(reqs)-1]; last.status != 304 {
		t.Errorf("second fetch got %d, want 304", last.status)
	}
	// A repeated id: same ack, no fetch.
	n := len(reqs)
	c.command("autop", "a1", "url", g.ts.URL+"/autop/"+mac1+".cfg")
	if a := c.expect(t, "ack"); a["ok"] != true || a["version"] != "v2" {
		t.Errorf("repeated autop ack %v", a)
	}
	if len(g.autopRequests()) != n || d.Executed("a1") != 1 {
		t.Errorf("a repeated autop id was executed again")
	}
	// A failing fetch is a failed ack.
	c.command("autop", "a3", "url", g.ts.URL+"/nowhere.cfg")
	if a := c.expect(t, "ack"); a["ok"] != false || a["error"] == "" {
		t.Errorf("failed autop ack %v", a)
	}
	// Unknown command types with an id get ok:false.
	c.command("selfdestruct", "x1")
	if a := c.expect(t, "ack"); a["id"] != "x1" || a["ok"] != false {
		t.Errorf("unknown command ack %v", a)
	}
}

func TestNumericCommandIDsEchoed(t *testing.T) {
	g := newFakeGW(t, mac1)
	f := startFleet(t, fastConfig(g.ts.URL, mac1))
	c := g.next(t)
	c.send(map[string]any{"type": "autop", "id": 42})
	a := c.expect(t, "ack")
	if a["id"] != float64(42) {
		t.Errorf("ack id %#v, want the number 42 echoed", a["id"])
	}
	if f.Device(mac1).Executed("42") != 1 {
		t.Error("numeric id not counted as \"42\"")
	}
}

func TestStateSurvivesRestart(t *testing.T) {
	dir := t.TempDir()
	g := newFakeGW(t, mac1, mac2)
	g.setAutoP(mac1, "v7", "Config.DoorSetting.RELAY.HoldDelayA = 9\n")
	cfg := fastConfig(g.ts.URL, mac1, mac2)
	cfg.StateDir = dir
	f := startFleet(t, cfg)
	conns := map[string]*fakeConn{}
	for range 2 {
		c := g.next(t)
		conns[c.mac] = c
	}
	d := f.Device(mac1)
	if err := d.WaitVersion(ctxT(t, 5*time.Second), "v7"); err != nil {
		t.Fatal(err)
	}
	conns[mac1].command("autop", "s1")
	conns[mac1].expect(t, "ack")
	f.Close()

	b, err := os.ReadFile(filepath.Join(dir, mac1+".json"))
	if err != nil {
		t.Fatal(err)
	}
	var st state
	if err := json.Unmarshal(b, &st); err != nil || st.Key != conns[mac1].key || st.ConfigVersion != "v7" || len(st.Executed) != 1 {
		t.Fatalf("state file %s", b)
	}

	f2 := startFleet(t, cfg)
	for range 2 {
		c := g.next(t)
		if c.key != conns[c.mac].key {
			t.Errorf("%s came back with another key", c.mac)
		}
		conns[c.mac] = c
	}
	if v := conns[mac1].hello["config_version"]; v != "v7" {
		t.Errorf("hello after restart reports version %v", v)
	}
	d2 := f2.Device(mac1)
	if d2.Config()["Config.DoorSetting.RELAY.HoldDelayA"] != "9" {
		t.Errorf("config after restart %v", d2.Config())
	}
	n := len(g.autopRequests())
	conns[mac1].command("autop", "s1")
	if a := conns[mac1].expect(t, "ack"); a["ok"] != true || a["version"] != "v7" {
		t.Errorf("remembered ack %v", a)
	}
	if d2.Executed("s1") != 0 {
		t.Error("a command executed before the restart was executed again")
	}
	time.Sleep(100 * time.Millisecond)
	for _, r := range g.autopRequests()[n:] {
		if r.mac == mac1 && r.status == 200 {
			t.Errorf("a remembered autop command fetched again: %+v", r)
		}
	}
}

func TestOnlyLast256CommandsRemembered(t *testing.T) {
	g := newFakeGW(t, mac1)
	f := startFleet(t, fastConfig(g.ts.URL, mac1))
	c := g.next(t)
	for i := range 300 {
		c.send(map[string]any{"type": "reset", "id": "m" + itoa(i), "mode": "bogus"})
	}
	for range 300 {
		c.expect(t, "ack")
	}
	d := f.Device(mac1)
	d.mu.Lock()
	n, first := len(d.acks), d.acks[0].ID
	d.mu.Unlock()
	if n != 256 || first != "m44" {
		t.Errorf("remembered %d ids from %s, want 256 from m44", n, first)
	}
}

func itoa(i int) string { b, _ := json.Marshal(i); return string(b) }

func TestTunnelServesWebUI(t *testing.T) {
	g := newFakeGW(t, mac1)
	g.setAutoP(mac1, "v3", "Config.DoorSetting.RELAY.HoldDelayA = 5\n")
	f := startFleet(t, fastConfig(g.ts.URL, mac1))
	c := g.next(t)
	if err := f.Device(mac1).WaitVersion(ctxT(t, 5*time.Second), "v3"); err != nil {
		t.Fatal(err)
	}
	st := c.openTunnel(t, "http")
	defer st.Close()
	br := bufio.NewReader(st)
	// Two requests on one stream: the login page, then a login.
	req, _ := http.NewRequest("GET", "http://device/", nil)
	req.Write(st)
	res, err := http.ReadResponse(br, req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	if res.StatusCode != 200 || !strings.Contains(string(body), `action="login"`) || !strings.Contains(string(body), mac1) {
		t.Fatalf("login page %d: %s", res.StatusCode, body)
	}
	form := url.Values{"user": {"admin"}, "password": {"admin"}}.Encode()
	req, _ = http.NewRequest("POST", "http://device/login", strings.NewReader(form))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Write(st)
	res, err = http.ReadResponse(br, req)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, res.Body)
	if res.StatusCode != 303 || res.Header.Get("Location") != "status" || len(res.Cookies()) != 1 {
		t.Fatalf("login: %d Location %q cookies %v", res.StatusCode, res.Header.Get("Location"), res.Cookies())
	}
	req, _ = http.NewRequest("GET", "http://device/status", nil)
	req.AddCookie(res.Cookies()[0])
	req.Write(st)
	res, err = http.ReadResponse(br, req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ = io.ReadAll(res.Body)
	s := string(body)
	if !strings.Contains(s, `id="config-version">v3<`) || !strings.Contains(s, "Config.DoorSetting.RELAY.HoldDelayA") {
		t.Errorf("status page through the tunnel lacks the config: %s", s)
	}

	// Another service is refused: the stream is closed at once.
	bad := c.openTunnel(t, "ssh")
	bad.SetReadDeadline(time.Now().Add(5 * time.Second))
	if n, err := bad.Read(make([]byte, 10)); err == nil || n != 0 {
		t.Errorf("a tunnel for ssh was served (%d bytes, %v)", n, err)
	} else if ne, ok := err.(net.Error); ok && ne.Timeout() {
		t.Error("a tunnel for ssh was left open")
	}
}

func TestWebUI(t *testing.T) {
	g := newFakeGW(t, mac1, mac2)
	g.setAutoP(mac1, "v9", "Config.Settings.SNTP.TimeZone = Europe/Paris\n")
	f := startFleet(t, fastConfig(g.ts.URL, mac1, mac2))
	if err := f.Device(mac1).WaitVersion(ctxT(t, 5*time.Second), "v9"); err != nil {
		t.Fatal(err)
	}
	if err := f.WaitOnline(ctxT(t, 5*time.Second), 2); err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(f)
	defer ts.Close()
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar}
	get := func(path string) (int, string) {
		t.Helper()
		res, err := c.Get(ts.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res.StatusCode, string(b)
	}
	code, body := get("/")
	if code != 200 || !strings.Contains(body, `href="`+mac1+`/"`) || !strings.Contains(body, `<span id="online-count">2</span>`) {
		t.Fatalf("fleet page %d: %s", code, body)
	}
	// Status without login: back to the login page.
	code, body = get("/" + mac1 + "/status")
	if code != 200 || !strings.Contains(body, `name="password"`) {
		t.Fatalf("status without login %d: %s", code, body)
	}
	res, err := c.PostForm(ts.URL+"/"+mac1+"/login", url.Values{"user": {"admin"}, "password": {"wrong"}})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != 401 || !strings.Contains(string(b), "Wrong user name or password") {
		t.Fatalf("wrong password: %d %s", res.StatusCode, b)
	}
	res, err = c.PostForm(ts.URL+"/"+mac1+"/login", url.Values{"user": {"admin"}, "password": {"admin"}})
	if err != nil {
		t.Fatal(err)
	}
	b, _ = io.ReadAll(res.Body)
	res.Body.Close()
	if res.Request.URL.Path != "/"+mac1+"/status" || !strings.Contains(string(b), `<td id="config-version">v9</td>`) ||
		!strings.Contains(string(b), "<td>Config.Settings.SNTP.TimeZone</td><td>Europe/Paris</td>") ||
		!strings.Contains(string(b), `<span class="on">online</span>`) {
		t.Fatalf("after login at %s: %s", res.Request.URL, b)
	}
	// The cookie is the device's own: the other device still asks to log in.
	if _, body := get("/" + mac2 + "/status"); !strings.Contains(body, `name="password"`) {
		t.Error("a login on one device opened another")
	}
	if code, _ := get("/0C1105FFFFFF/"); code != 404 {
		t.Errorf("unknown device: %d", code)
	}
	code, body = get("/" + mac1 + "/logout")
	if !strings.Contains(body, `name="password"`) {
		t.Errorf("logout %d: %s", code, body)
	}
	if _, body := get("/" + mac1 + "/status"); !strings.Contains(body, `name="password"`) {
		t.Error("still logged in after logout")
	}
}

// Full jitter (protocol §2): attempt n waits a uniform random time in
// [0, min(max, base·2ⁿ)), so that devices dropped together come back
// spread over the window, not in waves.
func TestBackoffIsFullJitter(t *testing.T) {
	base, max := time.Second, 60*time.Second
	for n, window := range []time.Duration{1, 2, 4, 8, 16, 32, 60, 60, 60} {
		window *= time.Second
		if lo := backoff(base, max, n, 0); lo != 0 {
			t.Errorf("attempt %d: the least wait is %s, want 0", n, lo)
		}
		if hi := backoff(base, max, n, 0.999999); hi > window || hi < window-window/1000 {
			t.Errorf("attempt %d: the longest wait is %s, want just under %s", n, hi, window)
		}
	}
	if d := backoff(base, max, 1000, 0.5); d != max/2 {
		t.Errorf("attempt 1000: %s, want half the cap", d)
	}
	// The waits of many devices, as the simulator draws them, are spread
	// evenly over the window: every tenth holds about a tenth of them.
	const devices = 20000
	for _, n := range []int{0, 3, 10} {
		window := min(base<<n, max)
		var buckets [10]int
		var sum time.Duration
		for range devices {
			d := backoff(base, max, n, rand.Float64())
			if d < 0 || d >= window {
				t.Fatalf("attempt %d: wait %s outside [0, %s)", n, d, window)
			}
			buckets[int(d*10/window)]++
			sum += d
		}
		for i, c := range buckets {
			if c < devices/10*85/100 || c > devices/10*115/100 {
				t.Errorf("attempt %d: %d of %d waits in tenth %d of the window, want about %d: %v", n, c, devices, i, devices/10, buckets)
			}
		}
		if mean := sum / devices; mean < window*45/100 || mean > window*55/100 {
			t.Errorf("attempt %d: mean wait %s, want about half of %s", n, mean, window)
		}
	}
}

func TestReconnectBackoffAndRefusal(t *testing.T) {
	g := newFakeGW(t, mac1)
	g.refuse = []int{503, 503, 503, 429, 403}
	g.retryAfter = []string{"", "", "1", "1"}
	cfg := fastConfig(g.ts.URL, mac1)
	cfg.Backoff, cfg.BackoffMax, cfg.RefusedRetry = 100*time.Millisecond, 300*time.Millisecond, 1500*time.Millisecond
	f := startFleet(t, cfg)
	g.next(t)
	if err := f.Device(mac1).WaitOnline(ctxT(t, 10*time.Second)); err != nil {
		t.Fatal(err)
	}
	reqs := g.connectRequests()
	if len(reqs) != 6 {
		t.Fatalf("%d connects, want 6: %+v", len(reqs), reqs)
	}
	// Gaps: full jitter within 100 ms, then 200 ms; a 503 and a 429 with
	// Retry-After: 1 wait 1 s and up to a second more; 1.5 s after the 403.
	lims := [][2]time.Duration{{0, 100}, {0, 200}, {1000, 2000}, {1000, 2000}, {1500, 1500}}
	for i, lim := range lims {
		gap := reqs[i+1].at.Sub(reqs[i].at)
		lo, hi := lim[0]*time.Millisecond, lim[1]*time.Millisecond
		if gap < lo-10*time.Millisecond || gap > hi+250*time.Millisecond {
			t.Errorf("retry %d after %s, want %s–%s", i+1, gap, lo, hi)
		}
	}
	if st := f.Stats(); st.Busy != 3 {
		t.Errorf("%d attempts counted as answered 503, want 3", st.Busy)
	}
}

func TestDropReconnects(t *testing.T) {
	g := newFakeGW(t, mac1)
	f := startFleet(t, fastConfig(g.ts.URL, mac1))
	d := f.Device(mac1)
	c := g.next(t)
	d.Drop()
	c.waitClosed(t)
	c2 := g.next(t)
	if c2.key != c.key || d.Boots() != 1 {
		t.Errorf("after a drop: key changed %v, boots %d", c2.key != c.key, d.Boots())
	}
	if err := d.WaitOnline(ctxT(t, 5*time.Second)); err != nil {
		t.Fatal(err)
	}
}

func TestSilentServerMeansReconnect(t *testing.T) {
	g := newFakeGW(t, mac1)
	g.heartbeat = 1
	g.mute = true
	f := startFleet(t, fastConfig(g.ts.URL, mac1))
	c := g.next(t)
	start := time.Now()
	c.waitClosed(t)
	if el := time.Since(start); el < 2500*time.Millisecond || el > 6*time.Second {
		t.Errorf("gave up on a silent server after %s, want about 3 heartbeats (3 s)", el)
	}
	g.next(t)
	_ = f
}

func TestSourceAddrs(t *testing.T) {
	g := newFakeGW(t, mac1, mac2)
	cfg := fastConfig(g.ts.URL, mac1, mac2)
	cfg.SourceAddrs = []string{"127.0.0.2", "127.0.0.3"}
	startFleet(t, cfg)
	seen := map[string]bool{}
	for range 2 {
		c := g.next(t)
		host, _, _ := net.SplitHostPort(c.remote)
		seen[host] = true
	}
	if !seen["127.0.0.2"] || !seen["127.0.0.3"] {
		t.Errorf("connections came from %v, want 127.0.0.2 and 127.0.0.3", seen)
	}
}

func TestUnregisteredAndWrongKey(t *testing.T) {
	g := newFakeGW(t, mac1)
	g.keys[mac1] = strings.Repeat("k", 43) // bound to another key
	cfg := fastConfig(g.ts.URL, mac1, mac2)
	cfg.RefusedRetry = time.Hour
	f := startFleet(t, cfg)
	time.Sleep(500 * time.Millisecond)
	if f.Online() != 0 {
		t.Fatal("a refused device is online")
	}
	got := map[string]int{}
	for _, r := range g.connectRequests() {
		got[r.mac] = r.status
	}
	if got[mac1] != 403 || got[mac2] != 404 || len(g.connectRequests()) != 2 {
		t.Errorf("connects %+v: want one 403 and one 404, then a long wait", g.connectRequests())
	}
}

func TestParseMAC(t *testing.T) {
	for in, want := range map[string]string{
		"0C1105AABBCC": "0C1105AABBCC", "0c:11:05:aa:bb:cc": "0C1105AABBCC", "0c-11-05-aa-bb-cc": "0C1105AABBCC",
		"0c11.05aa.bbcc": "0C1105AABBCC", " 0C1105AABBCC ": "0C1105AABBCC",
	} {
		if got, err := ParseMAC(in); err != nil || got != want {
			t.Errorf("ParseMAC(%q) = %q, %v", in, got, err)
		}
	}
	for _, in := range []string{"", "0C1105AABB", "0C1105AABBCCDD", "0C1105AABBCG", "0C/11/05/AA/BB/CC"} {
		if _, err := ParseMAC(in); err == nil {
			t.Errorf("ParseMAC(%q) accepted", in)
		}
	}
}

func TestParseMACList(t *testing.T) {
	macs, err := ParseMACList(strings.NewReader("# devices\n0c:11:05:aa:bb:01\n\n  0C1105AABB02  # the door\n0C1105AABB01\n"))
	if err != nil || strings.Join(macs, ",") != mac1+","+mac2 {
		t.Fatalf("got %v, %v", macs, err)
	}
	_, err = ParseMACList(strings.NewReader("0C1105AABB01\nnot-a-mac\n"))
	if err == nil || !strings.Contains(err.Error(), "line 2") {
		t.Errorf("bad line: %v", err)
	}
}

func TestParseAutoP(t *testing.T) {
	s, v, err := ParseAutoP(strings.NewReader("# Gatehouse AutoP 0C1105AABBCC version 9f2c41d07a1b3e55\r\nConfig.Settings.SNTP.TimeZone = Europe/Berlin\r\nConfig.A.B = too short\nConfig.Account1.SIP.TransType=1\n  # indented comment\nConfig.DoorSetting.RELAY.Text = a = b\n"))
	if err != nil || v != "9f2c41d07a1b3e55" {
		t.Fatalf("version %q, %v", v, err)
	}
	want := []Setting{{"Config.Settings.SNTP.TimeZone", "Europe/Berlin"}, {"Config.Account1.SIP.TransType", "1"}, {"Config.DoorSetting.RELAY.Text", "a = b"}}
	if len(s) != len(want) {
		t.Fatalf("settings %v", s)
	}
	for i := range want {
		if s[i] != want[i] {
			t.Errorf("setting %d = %v, want %v", i, s[i], want[i])
		}
	}
}
