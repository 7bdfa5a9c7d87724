package server_test

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/gatehouse-dev/gatehouse/internal/auth"
	"github.com/gatehouse-dev/gatehouse/internal/demo"
	"github.com/gatehouse-dev/gatehouse/internal/gateway"
	"github.com/gatehouse-dev/gatehouse/internal/mail"
	"github.com/gatehouse-dev/gatehouse/internal/mail/mailtest"
	"github.com/gatehouse-dev/gatehouse/internal/model"
	"github.com/gatehouse-dev/gatehouse/internal/server"
	"github.com/gatehouse-dev/gatehouse/internal/store"
	"github.com/gatehouse-dev/gatehouse/internal/testutil"
)

// gatewayGoroutines maps the id of each goroutine running the gateway's
// code or started by it to its stack, but for the HTTP server's own (a
// device's connect request being answered).
func gatewayGoroutines() map[string]string {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			buf = buf[:n]
			break
		}
		buf = make([]byte, 2*len(buf))
	}
	out := map[string]string{}
	for _, g := range strings.Split(string(buf), "\n\n") {
		if strings.Contains(g, "gatehouse/internal/gateway") && !strings.Contains(g, "net/http.(*conn).serve") {
			id, _, _ := strings.Cut(strings.TrimPrefix(g, "goroutine "), " ")
			out[id] = g
		}
	}
	return out
}

// gatewayGoroutinesSince lists the stacks of the gateway's goroutines but
// those in before (the gateways of other tests, which not all close), once
// none are left or settle has passed.
func gatewayGoroutinesSince(before map[string]string, settle time.Duration) []string {
	deadline := time.Now().Add(settle)
	for {
		var left []string
		for id, g := range gatewayGoroutines() {
			if _, ok := before[id]; !ok {
				left = append(left, g)
			}
		}
		if len(left) == 0 || time.Now().After(deadline) {
			return left
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestGatewayShutdownEndsItsGoroutines: with simulated devices connected
// over real sockets, a command delivered, a Remote Control response open,
// a device that has not said hello yet and Run at work, Shutdown closes
// every connection with 1001, marks the devices offline and returns with
// no goroutine of the gateway left.
func TestGatewayShutdownEndsItsGoroutines(t *testing.T) {
	before := gatewayGoroutines()
	e := newGatewayEnv(t, "sqlite", nil, nil, gwOptions)
	g := e.srv.Gateway()
	runDone := make(chan struct{})
	go func() {
		defer close(runDone)
		g.Run(context.Background())
	}()
	sub := accountCtx(t, e.st, demo.SubdistributorUser)
	macs := subMACs(t, e.st, 5)
	f := startFleet(t, e, macs[:3]...)
	waitOnline(t, f, 3, 10*time.Second)
	raw := connectRaw(t, e, macs[3])
	// A device connected that has not opened its control stream yet: the
	// WebSocket alone, whose reads see the close frame's code.
	enrollKey(t, e, macs[4], rawKey(macs[4]))
	wctx, wcancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer wcancel()
	silent, _, err := websocket.Dial(wctx, "ws"+strings.TrimPrefix(e.url, "http")+"/device/v1/connect", &websocket.DialOptions{
		HTTPHeader: rawHeader(macs[4], rawKey(macs[4])), Subprotocols: []string{gateway.Subprotocol}})
	if err != nil {
		t.Fatal(err)
	}
	defer silent.CloseNow()
	silentEnd := make(chan error, 1)
	go func() {
		_, _, err := silent.Read(context.Background())
		silentEnd <- err
	}()
	eventually(t, 5*time.Second, "held", func() bool { return g.Connected() == 4 })

	// A command, delivered and acknowledged.
	c, err := e.st.CreateCommand(sub, macs[0], model.CommandAutoP, "")
	if err != nil {
		t.Fatal(err)
	}
	g.Kick(sub, macs[0])
	eventually(t, 10*time.Second, "the command done", func() bool { return commandOf(t, e, sub, macs[0], c.ID).Status == model.CommandDone })
	// A Remote Control response left open.
	req, _ := http.NewRequest("GET", "http://device/login", nil)
	res, err := g.Tunnel(macs[1]).RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	// The raw device's status is answered: its pong writer ran.
	raw.send(t, map[string]any{"type": "status", "ip": "192.0.2.9"})
	raw.expect(t, "pong")
	if len(gatewayGoroutinesSince(before, 0)) == 0 {
		t.Fatal("no goroutine of the gateway found while devices are connected: the test sees nothing")
	}

	const within = 10 * time.Second
	ctx, cancel := context.WithTimeout(context.Background(), within)
	defer cancel()
	start := time.Now()
	if err := g.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown: %v after %v", err, time.Since(start))
	}
	took := time.Since(start)
	// Shutdown waited for its goroutines: a moment for those that just
	// returned to leave the stack.
	if left := gatewayGoroutinesSince(before, time.Second); len(left) > 0 {
		t.Fatalf("%d goroutines of the gateway left after Shutdown returned (in %v):\n\n%s", len(left), took, strings.Join(left, "\n\n"))
	}
	select {
	case <-runDone:
	default:
		t.Error("Run still running after Shutdown")
	}
	// The devices were told the node is going away.
	if err := raw.waitClosed(time.Second); err != nil {
		t.Errorf("%s: %v", raw.mac, err)
	}
	select {
	case err := <-silentEnd:
		if websocket.CloseStatus(err) != websocket.StatusGoingAway {
			t.Errorf("the device without hello: closed with %v, want 1001", err)
		}
	case <-time.After(time.Second):
		t.Error("the device without hello is still connected")
	}
	for _, m := range macs[:4] {
		if detail(t, e, sub, m).Online {
			t.Errorf("%s online after Shutdown", m)
		}
	}
	// Nobody new gets in.
	if _, resp, err := dialRaw(t, e, macs[4], rawKey(macs[4])); err == nil || resp == nil || resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("a connect after Shutdown: %v %v", resp, err)
	}
}

// TestGatewayStoreCallStopsAtItsDeadline: with the database stuck (another
// connection holds the lock the gateway's write needs), the write of a
// device's status fails at its deadline: the reader goes on and answers the
// status, instead of hanging for as long as the lock is held.
func TestGatewayStoreCallStopsAtItsDeadline(t *testing.T) {
	for _, backend := range testutil.Backends(t) {
		t.Run(backend, func(t *testing.T) {
			o := gwOptions
			o.StoreTimeout = time.Second
			e := newGatewayEnv(t, backend, nil, nil, o)
			mac := subMACs(t, e.st, 1)[0]
			d := connectRaw(t, e, mac)
			d.send(t, map[string]any{"type": "status", "ip": "192.0.2.10"})
			d.expect(t, "pong")

			release := lockDevice(t, e.st, backend, mac)
			defer release()
			start := time.Now()
			d.send(t, map[string]any{"type": "status", "ip": "192.0.2.11"}) // a change: written at once
			if _, err := d.read(8 * time.Second); err != nil {
				t.Fatalf("no answer to a status within 8 s of a stuck database (store deadline 1 s): %v", err)
			}
			t.Logf("answered after %v", time.Since(start))
			release()
			// The device goes on.
			d.send(t, map[string]any{"type": "status", "ip": "192.0.2.12"})
			d.expect(t, "pong")
		})
	}
}

// TestGatewayShutdownCutsWhatIsLeftAtItsDeadline: when Shutdown's ctx ends
// with a device's status stuck on the database, the store call is
// cancelled and the connection cut: Shutdown returns ctx's error soon
// after, and no goroutine of the gateway is left.
func TestGatewayShutdownCutsWhatIsLeftAtItsDeadline(t *testing.T) {
	for _, backend := range testutil.Backends(t) {
		t.Run(backend, func(t *testing.T) {
			before := gatewayGoroutines()
			e := newGatewayEnv(t, backend, nil, nil, gwOptions) // the store calls' own deadlines: 5 s and more
			g := e.srv.Gateway()
			mac := subMACs(t, e.st, 1)[0]
			d := connectRaw(t, e, mac)
			release := lockDevice(t, e.st, backend, mac)
			defer release()
			d.send(t, map[string]any{"type": "status", "ip": "192.0.2.20"})
			time.Sleep(200 * time.Millisecond) // the reader is in the store call

			ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
			defer cancel()
			start := time.Now()
			err := g.Shutdown(ctx)
			took := time.Since(start)
			if !errors.Is(err, context.DeadlineExceeded) || took > 4*time.Second {
				t.Fatalf("Shutdown: %v after %v, want the deadline's error within 4 s", err, took)
			}
			t.Logf("Shutdown gave up after %v", took)
			if left := gatewayGoroutinesSince(before, 2*time.Second); len(left) > 0 {
				t.Fatalf("%d goroutines of the gateway left after Shutdown gave up:\n\n%s", len(left), strings.Join(left, "\n\n"))
			}
		})
	}
}

// lockDevice holds, on a connection of its own, the lock a write of the
// device's row waits for: the row's on PostgreSQL, the database's on SQLite.
func lockDevice(t *testing.T, st *store.Store, backend, mac string) (release func()) {
	t.Helper()
	ctx := context.Background()
	var tx *sql.Tx
	var err error
	if backend == "postgres" {
		tx, err = st.DB().BeginTx(ctx, nil)
		if err == nil {
			_, err = tx.ExecContext(ctx, `SELECT id FROM devices WHERE mac = $1 FOR UPDATE`, mac)
		}
	} else {
		tx, err = st.DB().BeginTx(ctx, nil) // BEGIN IMMEDIATE (_txlock): the write lock
	}
	if err != nil {
		t.Fatal(err)
	}
	done := false
	return func() {
		if !done {
			done = true
			tx.Rollback()
		}
	}
}

// TestServerShutdownRecordsAutoPFetches: a fetch served just before the
// node stops is recorded by the time Run returns, before the store closes.
func TestServerShutdownRecordsAutoPFetches(t *testing.T) {
	dsn := filepath.Join(t.TempDir(), "gatehouse.db")
	st, err := store.Open(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if err := st.SetSecretKey(bytes.Repeat([]byte{7}, 32)); err != nil {
		t.Fatal(err)
	}
	if _, err := demo.Load(context.Background(), st, demo.Options{Password: demoPassword, Users: 50, Devices: 20, Seed: 3}, io.Discard); err != nil {
		t.Fatal(err)
	}
	var mac string
	if err := st.DB().QueryRow(`SELECT mac FROM devices WHERE key_hash = '' ORDER BY id LIMIT 1`).Scan(&mac); err != nil {
		t.Fatal(err)
	}
	key := devKey(mac)
	enrollKeys(t, st, map[string]string{mac: key})
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	mailer, err := mail.NewSMTP(mailtest.Start(t).Config())
	if err != nil {
		t.Fatal(err)
	}
	srv, err := server.New(server.Config{Addr: "127.0.0.1:0", Gateway: gateway.Options{Heartbeat: 2 * time.Second}}, st,
		&auth.Service{Store: st, Config: auth.DefaultConfig, Log: log}, mailer, log)
	if err != nil {
		t.Fatal(err)
	}
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	addr := make(chan string, 1)
	ran := make(chan error, 1)
	go func() { ran <- srv.Run(ctx, func(a string) { addr <- a }) }()
	var base string
	select {
	case a := <-addr:
		base = "http://" + a
	case err := <-ran:
		t.Fatal(err)
	}

	req, _ := http.NewRequest("GET", base+"/autop/"+mac+".cfg", nil)
	req.SetBasicAuth(mac, key)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, res.Body)
	res.Body.Close()
	if res.StatusCode != 200 {
		t.Fatalf("fetch: %d", res.StatusCode)
	}
	stop()
	select {
	case err := <-ran:
		if err != nil {
			t.Fatalf("Run: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Run did not return within 30 s of its context's end")
	}
	// As `gatehouse serve` does: the store closes once Run returned.
	st.Close()

	again, err := store.Open(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer again.Close()
	var fetched sql.NullString
	if err := again.DB().QueryRow(`SELECT autop_fetched_at FROM devices WHERE mac = ?`, mac).Scan(&fetched); err != nil {
		t.Fatal(err)
	}
	if !fetched.Valid {
		t.Error("the fetch served before shutdown is not recorded")
	}
}
