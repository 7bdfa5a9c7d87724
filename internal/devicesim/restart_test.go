package devicesim

import (
	"context"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// After the server closes going away (1001: a node shutting down, usually
// to restart), the device does not ask again at once — the node would
// answer 503 "shutting down" — but after a restart's time, spread: in
// [RestartWait, 3×RestartWait].
func TestGoingAwayWaitsForTheRestart(t *testing.T) {
	g := newFakeGW(t, mac1)
	cfg := fastConfig(g.ts.URL, mac1)
	cfg.RestartWait = 300 * time.Millisecond
	f := startFleet(t, cfg)
	c := g.next(t)
	c.goAway()
	c.waitClosed(t)
	g.next(t)
	reqs := g.connectRequests()
	if len(reqs) != 2 {
		t.Fatalf("%d connects, want 2", len(reqs))
	}
	if gap := reqs[1].at.Sub(reqs[0].at); gap < 300*time.Millisecond {
		t.Errorf("came back %s after the going-away close, want at least RestartWait (300 ms)", gap)
	}
	if err := f.Device(mac1).WaitOnline(ctxT(t, 5*time.Second)); err != nil {
		t.Fatal(err)
	}
	if tries := f.Tries(); tries[1] != 2 || tries.Connections() != 2 {
		t.Errorf("attempts per connection %v, want 2 connections at the first attempt", tries)
	}
}

// While the node restarts nothing listens: connections are refused at once.
// Within a minute of a going-away close such refusals do not grow the
// back-off (it would keep the device away long after the node is back):
// each waits Backoff to 3×Backoff.
func TestRefusedWhileRestartingDoesNotGrowBackoff(t *testing.T) {
	g := newFakeGW(t, mac1)
	cfg := fastConfig(g.ts.URL, mac1)
	cfg.RestartWait = 100 * time.Millisecond
	var refuse atomic.Int32
	var mu sync.Mutex
	var refusedAt []time.Time
	var d net.Dialer
	cfg.Dial = func(ctx context.Context, network, addr string) (net.Conn, error) {
		if refuse.Add(-1) >= 0 {
			mu.Lock()
			refusedAt = append(refusedAt, time.Now())
			mu.Unlock()
			return nil, &net.OpError{Op: "dial", Net: network, Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)}
		}
		return d.DialContext(ctx, network, addr)
	}
	f := startFleet(t, cfg)
	c := g.next(t)
	for len(g.autopRequests()) == 0 { // its boot's fetch dials too
		time.Sleep(5 * time.Millisecond)
	}
	const refusals = 7
	refuse.Store(refusals)
	c.goAway()
	c.waitClosed(t)
	g.next(t)
	if err := f.Device(mac1).WaitOnline(ctxT(t, 5*time.Second)); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(refusedAt) != refusals {
		t.Fatalf("%d refused attempts, want %d", len(refusedAt), refusals)
	}
	reqs := g.connectRequests()
	times := append(refusedAt, reqs[len(reqs)-1].at)
	for i := 1; i < len(times); i++ {
		// Backoff 100 ms: each wait in [100, 300] ms (the doubling
		// windows would be 100, 200, 400, 800 ms …, from 0).
		if gap := times[i].Sub(times[i-1]); gap < 95*time.Millisecond || gap > 300*time.Millisecond+250*time.Millisecond {
			t.Errorf("refused attempt %d: next attempt after %s, want 100–300 ms", i, gap)
		}
	}
	if tries := f.Tries(); tries[refusals+1] != 1 {
		t.Errorf("attempts per connection %v: want one connection at attempt %d", tries, refusals+1)
	}
}

// The waits of protocol §2, as the device draws them.
func TestRetryWaits(t *testing.T) {
	cfg := Config{}
	cfg.defaults()
	now := time.Now()
	var rs retryState
	// Failures without a going-away close double the window.
	for n, window := range []time.Duration{1, 2, 4, 8} {
		if w := rs.next(&cfg, outcome{connRefused: true}, now, 0.999); w < (window*time.Second)*99/100 || w >= window*time.Second {
			t.Errorf("refusal %d before any going-away: wait %s, want just under %s", n, w, window*time.Second)
		}
	}
	// A going-away close after a stable connection: 2–6 s, and the
	// back-off starts again.
	if w := rs.next(&cfg, outcome{goingAway: true, lasted: time.Hour}, now, 0); w != 2*time.Second {
		t.Errorf("least wait after going away %s, want 2 s", w)
	}
	if w := rs.next(&cfg, outcome{goingAway: true, lasted: time.Hour}, now, 0.999); w < 5990*time.Millisecond || w >= 6*time.Second {
		t.Errorf("longest wait after going away %s, want just under 6 s", w)
	}
	// Refusals within a minute of it: 1–3 s each, however many.
	for i := range 20 {
		at := now.Add(time.Duration(i) * 2 * time.Second)
		if lo, hi := rs.next(&cfg, outcome{connRefused: true}, at, 0), rs.next(&cfg, outcome{connRefused: true}, at, 0.999); lo != time.Second || hi >= 3*time.Second || hi < 2990*time.Millisecond {
			t.Errorf("refusal %d while restarting: waits %s–%s, want 1–3 s", i, lo, hi)
		}
	}
	// A 503 with Retry-After is not counted either, so the back-off is
	// still at its start; past the minute, refusals count again.
	if w := rs.next(&cfg, outcome{retryAfter: 4 * time.Second}, now, 0.5); w != 4500*time.Millisecond {
		t.Errorf("Retry-After 4: wait %s", w)
	}
	later := now.Add(restartWindow + time.Second)
	for n, window := range []time.Duration{1, 2, 4} {
		if w := rs.next(&cfg, outcome{connRefused: true}, later, 0.999); w < (window*time.Second)*99/100 || w >= window*time.Second {
			t.Errorf("refusal %d after the restart window: wait %s, want just under %s", n, w, window*time.Second)
		}
	}
}

// A device fetches its AutoP file after every boot (protocol §7), not after
// every reconnect: a node restarting must not make all its devices fetch.
func TestAutoPFetchedAfterBootNotAfterReconnect(t *testing.T) {
	g := newFakeGW(t, mac1)
	g.setAutoP(mac1, "v1", "Config.Settings.SNTP.TimeZone = Europe/Berlin\n")
	f := startFleet(t, fastConfig(g.ts.URL, mac1))
	d := f.Device(mac1)
	c := g.next(t)
	if st := c.expect(t, "status"); st["config_version"] != "v1" {
		t.Fatalf("status after the boot fetch: %v", st)
	}
	d.Drop()
	c.waitClosed(t)
	c2 := g.next(t)
	if err := d.WaitOnline(ctxT(t, 5*time.Second)); err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond) // a fetch after the reconnect would be made by now
	if n := len(g.autopRequests()); n != 1 {
		t.Errorf("%d AutoP fetches after a reconnect without a boot, want 1 (the boot's)", n)
	}
	rebootAt := time.Now()
	c2.command("reboot", "b1")
	c2.expect(t, "ack")
	c2.waitClosed(t)
	g.next(t)
	if err := d.WaitBoots(ctxT(t, 5*time.Second), 2); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for len(g.autopRequests()) < 2 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	reqs := g.autopRequests()
	if len(reqs) < 2 {
		t.Fatalf("%d AutoP fetches, want one after each of the 2 boots", len(reqs))
	}
	if reqs[1].at.Before(rebootAt) {
		t.Errorf("fetched again after a reconnect without a boot: %+v", reqs)
	}
	if reqs[1].ifNoneMatch != `"v1"` {
		t.Errorf("the fetch after the reboot sent If-None-Match %q", reqs[1].ifNoneMatch)
	}
}

func TestTriesSummary(t *testing.T) {
	before, now := make(Tries, maxCountedTries+1), make(Tries, maxCountedTries+1)
	before[1] = 5
	now[1], now[2], now[3] = 12, 2, 1 // since before: 7 at the first attempt, 2 at the second, 1 at the third
	d := now.Since(before)
	if d.Connections() != 10 || d.Mean() != 1.4 || d.Quantile(0.5) != 1 || d.Quantile(0.9) != 2 || d.Quantile(0.99) != 3 {
		t.Errorf("%v: connections %d mean %.2f p50 %d p90 %d p99 %d", d, d.Connections(), d.Mean(), d.Quantile(0.5), d.Quantile(0.9), d.Quantile(0.99))
	}
	if s := d.String(); s != "1.40 attempts per connection (p50 1, p90 2, p99 3, max 3) over 10 connections" {
		t.Errorf("String: %q", s)
	}
	many := make(Tries, maxCountedTries+1)
	many[maxCountedTries] = 4
	if s := many.String(); s != "16.00 attempts per connection (p50 16, p90 16, p99 16, max 16+) over 4 connections" {
		t.Errorf("String with the last bucket: %q", s)
	}
}
