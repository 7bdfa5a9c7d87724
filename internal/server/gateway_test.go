package server_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/hashicorp/yamux"

	"github.com/gatehouse-dev/gatehouse/internal/auth"
	"github.com/gatehouse-dev/gatehouse/internal/bus"
	"github.com/gatehouse-dev/gatehouse/internal/demo"
	"github.com/gatehouse-dev/gatehouse/internal/deviceauth"
	"github.com/gatehouse-dev/gatehouse/internal/devicesim"
	"github.com/gatehouse-dev/gatehouse/internal/gateway"
	"github.com/gatehouse-dev/gatehouse/internal/mail"
	"github.com/gatehouse-dev/gatehouse/internal/mail/mailtest"
	"github.com/gatehouse-dev/gatehouse/internal/model"
	"github.com/gatehouse-dev/gatehouse/internal/server"
	"github.com/gatehouse-dev/gatehouse/internal/store"
	"github.com/gatehouse-dev/gatehouse/internal/testutil"
)

// gwOptions are faster gateway timings for tests: a 2 s heartbeat (silence
// closes after 6 s); the protocol's other limits.
var gwOptions = gateway.Options{Heartbeat: 2 * time.Second}

// gwFast is gwOptions with a heartbeat of hb and the given hello and write
// timeouts (zero: the protocol's 10 s).
func gwFast(hb, hello, write time.Duration) gateway.Options {
	o := gwOptions
	o.Heartbeat, o.HelloTimeout, o.WriteTimeout = hb, hello, write
	return o
}

// newGatewayEnv is newEnv with a gateway tuned by opts on bus b (nil: the
// in-process bus), on an existing store when st is not nil. The gateway is
// closed before the store.
func newGatewayEnv(t testing.TB, backend string, st *store.Store, b bus.Bus, opts gateway.Options) *env {
	t.Helper()
	if st == nil {
		st = testutil.NewStore(t, backend)
		if _, err := demo.Load(context.Background(), st, demo.Options{Password: demoPassword, Users: 300, Devices: 200, Seed: 7}, io.Discard); err != nil {
			t.Fatal(err)
		}
	}
	var logBuf syncBuffer
	log := slog.New(slog.NewTextHandler(&logBuf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	au := &auth.Service{Store: st, Config: auth.DefaultConfig, Log: log}
	smtpd := mailtest.Start(t)
	mailer, err := mail.NewSMTP(smtpd.Config())
	if err != nil {
		t.Fatal(err)
	}
	srv, err := server.New(server.Config{Bus: b, Gateway: opts}, st, au, mailer, log)
	if err != nil {
		t.Fatal(err)
	}
	ts, front := serveNode(t, srv)
	t.Cleanup(func() { srv.Gateway().Close() })
	return &env{t: t, st: st, auth: au, srv: srv, ts: ts, front: front, url: ts.URL, log: &logBuf.Buffer, mail: mailer, smtpd: smtpd}
}

// syncBuffer is a log buffer safe for the gateway's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.Buffer.Write(p)
}

// subMACs returns n MACs of the demo sub-distributor's devices.
func subMACs(t testing.TB, st *store.Store, n int) []string {
	t.Helper()
	rows, err := st.DB().Query(fmt.Sprintf(`SELECT d.mac FROM devices d JOIN accounts a ON a.id = d.subdistributor_id
		WHERE a.username = '%s' ORDER BY d.id LIMIT %d`, demo.SubdistributorUser, n))
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var m string
		rows.Scan(&m)
		out = append(out, m)
	}
	if len(out) < n {
		t.Fatalf("the demo sub-distributor has %d devices, want %d", len(out), n)
	}
	// The demo data makes some devices up as online: these are not, until
	// they connect.
	if _, err := st.DB().Exec(`UPDATE devices SET online = false, node = '' WHERE mac IN ('` + strings.Join(out, "','") + `')`); err != nil {
		t.Fatal(err)
	}
	return out
}

func accountCtx(t testing.TB, st *store.Store, username string) context.Context {
	t.Helper()
	a, _, err := st.AccountForLogin(context.Background(), username)
	if err != nil {
		t.Fatal(err)
	}
	return model.WithActor(context.Background(), model.ActorOf(a))
}

// startFleet runs simulated devices against e with fast reconnects.
func startFleet(t testing.TB, e *env, macs ...string) *devicesim.Fleet {
	t.Helper()
	f, err := devicesim.Start(context.Background(), devicesim.Config{Server: e.url, MACs: macs, Keys: enrolledKeys(t, e.st, macs), ClaimCodes: claimCodes(t, e.st, macs),
		Backoff: 50 * time.Millisecond, BackoffMax: 500 * time.Millisecond, RebootDelay: 50 * time.Millisecond,
		RefusedRetry: 500 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

func waitOnline(t testing.TB, f *devicesim.Fleet, n int, within time.Duration) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), within)
	defer cancel()
	if err := f.WaitOnline(ctx, n); err != nil {
		t.Fatalf("%d of %d devices online after %v", f.Online(), n, within)
	}
}

// eventually polls cond every 20 ms until it holds or within passes.
func eventually(t testing.TB, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("not within %v: %s", within, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func detail(t testing.TB, e *env, ctx context.Context, mac string) *model.DeviceDetail {
	t.Helper()
	d, err := e.st.GetDeviceDetail(ctx, mac)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func commandOf(t testing.TB, e *env, ctx context.Context, mac string, id int64) *model.DeviceCommand {
	t.Helper()
	cs, err := e.st.ListCommands(ctx, mac, 500)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range cs {
		if c.ID == id {
			return c
		}
	}
	t.Fatalf("command %d of %s not listed", id, mac)
	return nil
}

// rawDevice is a minimal protocol client for the cases the simulator is too
// well-behaved for: silence, bad frames, slow reading, a second connection.
type rawDevice struct {
	mac, key string
	ws       *websocket.Conn
	sess     *yamux.Session
	ctrl     *yamux.Stream
	br       *bufio.Reader
	welcome  map[string]any
}

func rawKey(mac string) string { return "raw-test-key-" + mac + "-0123456789abcdef" }

func rawHeader(mac, key string) http.Header {
	h := http.Header{}
	h.Set("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte(mac+":"+key)))
	return h
}

// dialRaw connects without hello; the raw device's own key (rawKey) is
// enrolled first.
func dialRaw(t testing.TB, e *env, mac, key string) (*rawDevice, *http.Response, error) {
	t.Helper()
	if key == rawKey(mac) {
		enrollKey(t, e, mac, key)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ws, resp, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(e.url, "http")+"/device/v1/connect", &websocket.DialOptions{
		HTTPHeader: rawHeader(mac, key), Subprotocols: []string{gateway.Subprotocol}})
	if err != nil {
		return nil, resp, err
	}
	t.Cleanup(func() { ws.CloseNow() })
	nc := websocket.NetConn(context.Background(), ws, websocket.MessageBinary)
	cfg := yamux.DefaultConfig()
	cfg.EnableKeepAlive, cfg.LogOutput = false, io.Discard
	sess, err := yamux.Client(nc, cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctrl, err := sess.OpenStream()
	if err != nil {
		t.Fatal(err)
	}
	return &rawDevice{mac: mac, key: key, ws: ws, sess: sess, ctrl: ctrl, br: bufio.NewReader(ctrl)}, resp, nil
}

// connectRaw connects, says hello and reads the welcome.
func connectRaw(t testing.TB, e *env, mac string) *rawDevice {
	t.Helper()
	d, resp, err := dialRaw(t, e, mac, rawKey(mac))
	if err != nil {
		status := 0
		if resp != nil {
			status = resp.StatusCode
		}
		t.Fatalf("connect %s: %d %v", mac, status, err)
	}
	d.send(t, map[string]any{"type": "hello", "model": "RAW1", "firmware": "1.0", "ip": "192.0.2.1", "uptime": 5})
	m, err := d.read(10 * time.Second)
	if err != nil || m["type"] != "welcome" {
		var ce websocket.CloseError
		errors.As(err, &ce)
		_, _, rerr := d.ws.Reader(context.Background())
		t.Fatalf("%s: no welcome: %v %v (close: %v)\nserver log:\n%s", mac, m, err, rerr, e.log.String()[max(0, e.log.Len()-3000):])
	}
	d.welcome = m
	return d
}

func (d *rawDevice) send(t testing.TB, v any) {
	t.Helper()
	b, _ := json.Marshal(v)
	if _, err := d.ctrl.Write(append(b, '\n')); err != nil {
		t.Fatalf("%s: send: %v", d.mac, err)
	}
}

// read returns the next control message, or an error once the connection
// is gone.
func (d *rawDevice) read(timeout time.Duration) (map[string]any, error) {
	d.ctrl.SetReadDeadline(time.Now().Add(timeout))
	line, err := d.br.ReadBytes('\n')
	if err != nil {
		return nil, err
	}
	var m map[string]any
	return m, json.Unmarshal(line, &m)
}

func (d *rawDevice) expect(t testing.TB, typ string) map[string]any {
	t.Helper()
	for {
		m, err := d.read(5 * time.Second)
		if err != nil {
			t.Fatalf("%s: waiting for %s: %v", d.mac, typ, err)
		}
		if m["type"] == typ {
			return m
		}
	}
}

// waitClosed reads until the server ends the connection.
func (d *rawDevice) waitClosed(within time.Duration) error {
	deadline := time.Now().Add(within)
	for time.Now().Before(deadline) {
		_, err := d.read(time.Until(deadline))
		if err != nil {
			if errors.Is(err, yamux.ErrTimeout) {
				return fmt.Errorf("still open after %v", within)
			}
			return nil
		}
	}
	return fmt.Errorf("still open after %v", within)
}

func TestGatewayDevicesOnlineOffline(t *testing.T) {
	for _, backend := range testutil.Backends(t) {
		t.Run(backend, func(t *testing.T) {
			t.Parallel()
			e := newGatewayEnv(t, backend, nil, nil, gwFast(time.Second, 0, 0))
			sub := accountCtx(t, e.st, demo.SubdistributorUser)
			macs := subMACs(t, e.st, 3)
			for _, m := range macs {
				if d := detail(t, e, sub, m); d.Online {
					t.Fatalf("%s online before connecting", m)
				}
			}
			f := startFleet(t, e, macs...)
			waitOnline(t, f, 3, 10*time.Second)
			for _, m := range macs {
				var d *model.DeviceDetail
				eventually(t, 5*time.Second, m+" online in the store", func() bool { d = detail(t, e, sub, m); return d.Online })
				if d.IP != f.Device(m).IP() || d.Model != "R29C" || d.Firmware != "29.30.1.12" || d.Connected == nil || d.LastSeen == nil {
					t.Errorf("%s as reported: ip %q model %q firmware %q connected %v seen %v", m, d.IP, d.Model, d.Firmware, d.Connected, d.LastSeen)
				}
			}
			// The device API shows what the device reported.
			tok := e.token(demo.SubdistributorUser)
			r := e.do(nil, "GET", "/api/v1/devices/"+macs[0], nil, bearer(tok))
			if js := r.json(t); r.StatusCode != 200 || js["online"] != true || js["ip"] != f.Device(macs[0]).IP() || js["firmware"] != "29.30.1.12" {
				t.Errorf("GET /api/v1/devices/%s: %d %s", macs[0], r.StatusCode, r.body)
			}
			// Heartbeats keep it online past 3 heartbeats, and refresh last_seen.
			first := detail(t, e, sub, macs[0]).LastSeen
			time.Sleep(3500 * time.Millisecond)
			d := detail(t, e, sub, macs[0])
			if !d.Online || !d.LastSeen.After(*first) {
				t.Errorf("after 3.5 s of heartbeats: online %v, last seen %v (was %v)", d.Online, d.LastSeen, first)
			}
			if got := e.srv.Gateway().Connected(); got != 3 {
				t.Errorf("gateway holds %d connections, want 3", got)
			}
			f.Close()
			for _, m := range macs {
				eventually(t, 5*time.Second, m+" offline after the fleet closed", func() bool { return !detail(t, e, sub, m).Online })
			}
		})
	}
}

func TestGatewaySilentDeviceGoesOffline(t *testing.T) {
	e := newGatewayEnv(t, "sqlite", nil, nil, gwFast(time.Second, 0, 0))
	sub := accountCtx(t, e.st, demo.SubdistributorUser)
	mac := subMACs(t, e.st, 1)[0]
	d := connectRaw(t, e, mac)
	if hb, _ := d.welcome["heartbeat"].(float64); hb != 1 {
		t.Errorf("welcome: %v", d.welcome)
	}
	if u, _ := d.welcome["autop_url"].(string); u != e.url+"/autop/"+mac+".cfg" {
		t.Errorf("autop_url %q", u)
	}
	if ts, _ := d.welcome["server_time"].(string); ts == "" {
		t.Errorf("no server_time: %v", d.welcome)
	}
	det := detail(t, e, sub, mac)
	if !det.Online || det.Model != "RAW1" || det.IP != "192.0.2.1" || det.Uptime != 5 {
		t.Fatalf("after hello: %+v", det)
	}
	// A status is answered with pong; its new IP is recorded at once.
	d.send(t, map[string]any{"type": "status", "ip": "192.0.2.2", "uptime": 6})
	d.expect(t, "pong")
	if det := detail(t, e, sub, mac); det.IP != "192.0.2.2" {
		t.Errorf("status ip: %q", det.IP)
	}
	// Then silence: closed after 3 heartbeats, offline.
	start := time.Now()
	if err := d.waitClosed(6 * time.Second); err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took < 2500*time.Millisecond {
		t.Errorf("closed after %v of silence, before 3 heartbeats", took)
	}
	eventually(t, 3*time.Second, "offline after silence", func() bool { return !detail(t, e, sub, mac).Online })
}

func TestGatewayNoHello(t *testing.T) {
	e := newGatewayEnv(t, "sqlite", nil, nil, gwFast(2*time.Second, 2*time.Second, 0))
	mac := subMACs(t, e.st, 1)[0]
	d, _, err := dialRaw(t, e, mac, rawKey(mac))
	if err != nil {
		t.Fatal(err)
	}
	if err := d.waitClosed(5 * time.Second); err != nil {
		t.Fatalf("a device that never says hello: %v", err)
	}
	if detail(t, e, sysCtx(), mac).Online {
		t.Error("online without hello")
	}
}

func TestGatewayRefusesBadCredentials(t *testing.T) {
	for _, backend := range testutil.Backends(t) {
		t.Run(backend, func(t *testing.T) {
			t.Parallel()
			e := newGatewayEnv(t, backend, nil, nil, gwOptions)
			mac := subMACs(t, e.st, 1)[0]
			upgrade := func(auth string, proto bool) int {
				req, _ := http.NewRequest("GET", e.url+"/device/v1/connect", nil)
				req.Header.Set("Connection", "Upgrade")
				req.Header.Set("Upgrade", "websocket")
				req.Header.Set("Sec-WebSocket-Version", "13")
				req.Header.Set("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==")
				if proto {
					req.Header.Set("Sec-WebSocket-Protocol", gateway.Subprotocol)
				}
				if auth != "" {
					req.Header.Set("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte(auth)))
				}
				res, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				res.Body.Close()
				return res.StatusCode
			}
			good := rawKey(mac)
			for _, c := range []struct {
				name, auth string
				proto      bool
				want       int
			}{
				{"no authorization", "", true, 400},
				{"malformed MAC", "0C11:" + good, true, 400},
				{"short key", mac + ":short", true, 400},
				{"key with bad characters", mac + ":" + strings.Repeat("é", 20), true, 400},
				{"no subprotocol", mac + ":" + good, false, 400},
				{"unregistered MAC", "0C1105FEFEFE:" + good, true, deviceauth.RefusedStatus},
			} {
				if got := upgrade(c.auth, c.proto); got != c.want {
					t.Errorf("%s: %d, want %d", c.name, got, c.want)
				}
			}
			if h, _ := keyHash(t, e.st, mac); h != "" {
				t.Fatalf("refused attempts bound a key")
			}
			// Enrolled, then another key is refused before the upgrade,
			// kept as pending and audited with the remote address.
			d := connectRaw(t, e, mac)
			if got := upgrade(mac+":"+strings.Repeat("B", 40), true); got != deviceauth.RefusedStatus {
				t.Errorf("another key: %d, want 403", got)
			}
			l, err := e.st.ListAudit(sysCtx(), model.AuditFilter{Action: "device.key_pending", ObjectID: mac, Page: model.Page{Page: 1, PerPage: 10}})
			if err != nil || l.Total != 1 || !strings.HasPrefix(fmt.Sprint(l.Items[0].Details["remote_addr"]), "127.0.0.1:") ||
				l.Items[0].Actor != "system" {
				t.Errorf("key_pending audit: %+v %v", l.Items, err)
			}
			// The bound device keeps its connection, and can come back.
			d.send(t, map[string]any{"type": "status"})
			d.expect(t, "pong")
			if h, _ := keyHash(t, e.st, mac); h != store.DeviceKeyHash(good) {
				t.Errorf("binding changed by a refused key")
			}
		})
	}
}

func keyHash(t testing.TB, st *store.Store, mac string) (string, error) {
	var h string
	err := st.DB().QueryRow(`SELECT key_hash FROM devices WHERE mac = '` + mac + `'`).Scan(&h)
	return h, err
}

func TestGatewayNewerConnectionWins(t *testing.T) {
	e := newGatewayEnv(t, "sqlite", nil, nil, gwOptions)
	mac := subMACs(t, e.st, 1)[0]
	old := connectRaw(t, e, mac)
	first := detail(t, e, sysCtx(), mac).Connected
	newer := connectRaw(t, e, mac)
	if err := old.waitClosed(5 * time.Second); err != nil {
		t.Fatalf("the older connection: %v", err)
	}
	var ce websocket.CloseError
	if _, _, err := old.ws.Reader(context.Background()); errors.As(err, &ce) && ce.Code != 4409 {
		t.Errorf("older connection closed with %v", ce)
	}
	// The old connection's end does not take the device offline.
	time.Sleep(300 * time.Millisecond)
	d := detail(t, e, sysCtx(), mac)
	if !d.Online || d.Connected == nil || !d.Connected.After(*first) {
		t.Errorf("after the takeover: online %v connected %v (first %v)", d.Online, d.Connected, first)
	}
	newer.send(t, map[string]any{"type": "status"})
	newer.expect(t, "pong")
	if n := e.srv.Gateway().Connected(); n != 1 {
		t.Errorf("connections held: %d", n)
	}
}

func TestGatewayCommandsQueuedWhileOffline(t *testing.T) {
	for _, backend := range testutil.Backends(t) {
		t.Run(backend, func(t *testing.T) {
			t.Parallel()
			e := newGatewayEnv(t, backend, nil, nil, gwOptions)
			sub := accountCtx(t, e.st, demo.SubdistributorUser)
			mac := subMACs(t, e.st, 1)[0]
			reboot, err := e.st.CreateCommand(sub, mac, model.CommandReboot, "")
			if err != nil {
				t.Fatal(err)
			}
			e.srv.Gateway().Kick(sub, mac)
			time.Sleep(100 * time.Millisecond)
			if c := commandOf(t, e, sub, mac, reboot.ID); c.Status != model.CommandQueued || c.Attempts != 0 {
				t.Fatalf("offline device's command: %+v", c)
			}
			f := startFleet(t, e, mac)
			dev := f.Device(mac)
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if err := dev.WaitBoots(ctx, 2); err != nil {
				t.Fatalf("the queued reboot never ran: boots %d", dev.Boots())
			}
			eventually(t, 5*time.Second, "reboot done", func() bool { return commandOf(t, e, sub, mac, reboot.ID).Status == model.CommandDone })
			c := commandOf(t, e, sub, mac, reboot.ID)
			if c.Attempts < 1 || c.Sent == nil || c.Finished == nil || c.CreatedBy != demo.SubdistributorUser {
				t.Errorf("done reboot: %+v", c)
			}
			if n := dev.Executed(gateway.CommandID(reboot.ID)); n != 1 {
				t.Errorf("executed %d times", n)
			}
			// It comes back after the reboot; a command for an online
			// device goes at once.
			if err := dev.WaitOnline(ctx); err != nil {
				t.Fatal(err)
			}
			eventually(t, 5*time.Second, "online again", func() bool { return detail(t, e, sub, mac).Online })
			second, _ := e.st.CreateCommand(sub, mac, model.CommandReboot, "")
			e.srv.Gateway().Kick(sub, mac)
			if err := dev.WaitBoots(ctx, 3); err != nil {
				t.Fatalf("the second reboot never ran")
			}
			eventually(t, 5*time.Second, "second reboot done", func() bool { return commandOf(t, e, sub, mac, second.ID).Status == model.CommandDone })

			// A lost acknowledgement: the server never recorded the ack
			// (its status goes back to sent), the device reconnects, gets
			// the command again, answers without executing it again.
			if err := dev.WaitOnline(ctx); err != nil {
				t.Fatal(err)
			}
			before := commandOf(t, e, sub, mac, second.ID).Attempts
			if _, err := e.st.DB().Exec(fmt.Sprintf(`UPDATE device_commands SET status = 'sent', finished_at = NULL WHERE id = %d`, second.ID)); err != nil {
				t.Fatal(err)
			}
			boots := dev.Boots()
			dev.Drop()
			eventually(t, 10*time.Second, "resent command done", func() bool { return commandOf(t, e, sub, mac, second.ID).Status == model.CommandDone })
			c = commandOf(t, e, sub, mac, second.ID)
			if c.Attempts <= before {
				t.Errorf("attempts after the resend: %d, before %d", c.Attempts, before)
			}
			if n := dev.Executed(gateway.CommandID(second.ID)); n != 1 {
				t.Errorf("a resent reboot executed %d times", n)
			}
			if dev.Boots() != boots {
				t.Errorf("the resent reboot rebooted the device again: %d → %d boots", boots, dev.Boots())
			}
		})
	}
}

func TestGatewayFactoryResetRebindsKey(t *testing.T) {
	for _, backend := range testutil.Backends(t) {
		t.Run(backend, func(t *testing.T) {
			t.Parallel()
			e := newGatewayEnv(t, backend, nil, nil, gwOptions)
			sub := accountCtx(t, e.st, demo.SubdistributorUser)
			macs := subMACs(t, e.st, 2)
			f := startFleet(t, e, macs...)
			waitOnline(t, f, 2, 10*time.Second)
			ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
			defer cancel()
			for i, mode := range []string{model.ResetFactory, model.ResetConfig} {
				mac := macs[i]
				dev := f.Device(mac)
				oldKey := dev.Key()
				if h, _ := keyHash(t, e.st, mac); h != store.DeviceKeyHash(oldKey) {
					t.Fatalf("%s: not bound to its key", mac)
				}
				c, err := e.st.CreateCommand(sub, mac, model.CommandReset, mode)
				if err != nil {
					t.Fatal(err)
				}
				e.srv.Gateway().Kick(sub, mac)
				if err := dev.WaitBoots(ctx, 2); err != nil {
					t.Fatalf("%s reset never ran", mode)
				}
				if err := dev.WaitOnline(ctx); err != nil {
					t.Fatalf("%s: not back after the reset", mode)
				}
				eventually(t, 5*time.Second, mode+" reset done", func() bool { return commandOf(t, e, sub, mac, c.ID).Status == model.CommandDone })
				newKey := dev.Key()
				if (mode == model.ResetFactory) == (newKey == oldKey) {
					t.Errorf("%s reset: key changed %v", mode, newKey != oldKey)
				}
				eventually(t, 5*time.Second, "bound to the key after the reset", func() bool {
					h, _ := keyHash(t, e.st, mac)
					return h == store.DeviceKeyHash(newKey)
				})
			}
		})
	}
}

func TestGatewayTunnel(t *testing.T) {
	e := newGatewayEnv(t, "sqlite", nil, nil, gwOptions)
	macs := subMACs(t, e.st, 2)
	f := startFleet(t, e, macs[0])
	waitOnline(t, f, 1, 10*time.Second)
	eventually(t, 5*time.Second, "held", func() bool { return e.srv.Gateway().Connected() == 1 })
	rt := e.srv.Gateway().Tunnel(macs[0])
	get := func(path string) (*http.Response, error) {
		req, _ := http.NewRequest("GET", "http://device"+path, nil)
		return rt.RoundTrip(req)
	}
	res, err := get("/login")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != 200 || !strings.Contains(string(body), macs[0]) {
		t.Errorf("tunnel GET /login: %d %s", res.StatusCode, body)
	}
	// A POST with a body: the simulator's login form.
	req, _ := http.NewRequest("POST", "http://device/login", strings.NewReader("user=admin&password=admin"))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	res, err = rt.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusSeeOther && res.StatusCode != http.StatusFound || len(res.Cookies()) == 0 {
		t.Errorf("tunnel POST /login: %d %v", res.StatusCode, res.Header)
	}
	// 16 tunnels at once; the 17th is refused until one closes.
	var open []*http.Response
	for i := 0; i < gateway.MaxTunnels; i++ {
		res, err := get("/login")
		if err != nil {
			t.Fatalf("tunnel %d: %v", i, err)
		}
		open = append(open, res)
	}
	if _, err := get("/login"); !errors.Is(err, gateway.ErrTooManyTunnels) {
		t.Errorf("17th tunnel: %v", err)
	}
	open[0].Body.Close()
	if res, err := get("/login"); err != nil {
		t.Errorf("a tunnel after one closed: %v", err)
	} else {
		res.Body.Close()
	}
	for _, r := range open[1:] {
		r.Body.Close()
	}
	// An offline device.
	if _, err := e.srv.Gateway().Tunnel(macs[1]).RoundTrip(req.Clone(context.Background())); !errors.Is(err, gateway.ErrOffline) {
		t.Errorf("offline device: %v", err)
	}
}

// TestGatewayAutoPCommand: an autop command carries the device's AutoP URL;
// the device fetches its file, applies it and acknowledges the version,
// which the command keeps.
func TestGatewayAutoPCommand(t *testing.T) {
	e := newGatewayEnv(t, "sqlite", nil, nil, gwOptions)
	sub := accountCtx(t, e.st, demo.SubdistributorUser)
	mac := subMACs(t, e.st, 1)[0]
	f := startFleet(t, e, mac)
	waitOnline(t, f, 1, 10*time.Second)
	eventually(t, 5*time.Second, "held", func() bool { return e.srv.Gateway().Connected() == 1 })
	c, err := e.st.CreateCommand(sub, mac, model.CommandAutoP, "")
	if err != nil {
		t.Fatal(err)
	}
	e.srv.Gateway().Kick(sub, mac)
	eventually(t, 10*time.Second, "autop command finished", func() bool {
		s := commandOf(t, e, sub, mac, c.ID).Status
		return s == model.CommandDone || s == model.CommandFailed
	})
	got := commandOf(t, e, sub, mac, c.ID)
	dev := f.Device(mac)
	if got.Status != model.CommandDone || got.Version == "" || got.Version != dev.ConfigVersion() {
		t.Fatalf("autop command: %+v; the device applied %q", got, dev.ConfigVersion())
	}
	if n := dev.Executed(gateway.CommandID(c.ID)); n != 1 {
		t.Errorf("executed %d times", n)
	}
	// The device reports the version it applied; the store shows it.
	eventually(t, 5*time.Second, "config version recorded", func() bool { return detail(t, e, sub, mac).ConfigVersion == got.Version })
}

// TestGatewayDeliveryLatency measures, for 500 online devices, the time
// from one Kick to the last acknowledgement of an autop command each
// (fetch, apply, ack): GATEHOUSE_BENCH_DELIVERY=1 go test -run TestGatewayDeliveryLatency -v ./internal/server/
func TestGatewayDeliveryLatency(t *testing.T) {
	if os.Getenv("GATEHOUSE_BENCH_DELIVERY") == "" {
		t.Skip("set GATEHOUSE_BENCH_DELIVERY=1 to measure")
	}
	const n = 500
	for _, backend := range testutil.Backends(t) {
		t.Run(backend, func(t *testing.T) {
			st := testutil.NewStore(t, backend)
			if _, err := demo.Load(context.Background(), st, demo.Options{Password: demoPassword, Users: 300, Devices: 800, Seed: 5}, io.Discard); err != nil {
				t.Fatal(err)
			}
			e := newGatewayEnv(t, backend, st, nil, gwOptions)
			macs := anyMACs(t, st, n)
			f := startFleet(t, e, macs...)
			waitOnline(t, f, n, 60*time.Second)
			eventually(t, 10*time.Second, "all held", func() bool { return e.srv.Gateway().Connected() == n })
			time.Sleep(2 * time.Second) // the fetches after connecting
			for round := 0; round < 3; round++ {
				ids := make([]int64, n)
				for i, m := range macs {
					c, err := st.CreateCommand(sysCtx(), m, model.CommandAutoP, "")
					if err != nil {
						t.Fatal(err)
					}
					ids[i] = c.ID
				}
				start := time.Now()
				e.srv.Gateway().Kick(sysCtx(), macs...)
				for countCommands(t, st, "kind = 'autop' AND status IN ('queued','sent')") > 0 {
					if time.Since(start) > 30*time.Second {
						t.Fatalf("not done after 30 s")
					}
					time.Sleep(5 * time.Millisecond)
				}
				t.Logf("round %d: %d autop commands, Kick to last ack: %v", round, n, time.Since(start).Round(time.Millisecond))
				if failed := countCommands(t, st, "kind = 'autop' AND status <> 'done'"); failed > 0 {
					t.Errorf("%d not done", failed)
				}
			}
		})
	}
}

// Devices connecting to a node as `gatehouse serve` runs it — through the
// AutoP front door, which hands net/http the connections it does not answer
// — end on the gateway's event loop, not on a goroutine each: the front
// door's wrapper is taken off once its replayed bytes are read. (Before,
// every device connection in production fell back to a reader goroutine.)
func TestGatewayDevicesThroughTheFrontDoorAreOnTheEventLoop(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("the event loop is Linux's (epoll)")
	}
	e := newGatewayEnv(t, "sqlite", nil, nil, gwFast(time.Second, 0, 0))
	macs := subMACs(t, e.st, 3)
	f := startFleet(t, e, macs...)
	waitOnline(t, f, 3, 10*time.Second)
	polled, streamed := e.srv.Gateway().Transports()
	if polled != 3 || streamed != 0 {
		t.Fatalf("3 devices through the front door: %d on the event loop, %d on a goroutine of their own; want 3 and 0", polled, streamed)
	}
	f.Close()
}
