package devicesim_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/bus"
	"github.com/gatehouse-dev/gatehouse/internal/demo"
	"github.com/gatehouse-dev/gatehouse/internal/deviceauth"
	"github.com/gatehouse-dev/gatehouse/internal/devicesim"
	"github.com/gatehouse-dev/gatehouse/internal/gateway"
	"github.com/gatehouse-dev/gatehouse/internal/model"
	"github.com/gatehouse-dev/gatehouse/internal/store"
	"github.com/gatehouse-dev/gatehouse/internal/testutil"
)

// Firmware upgrades end to end over real sockets: a gateway, a download
// endpoint that checks the per-device token and serves Range requests (the
// stand-in for internal/fwimage's), and simulated devices doing what
// docs/device-protocol.md §5.1 says.

const (
	oldFirmware = "29.30.1.12"
	newFirmware = "29.30.2.1"
)

type fwServer struct {
	t     *testing.T
	st    *store.Store
	gw    *gateway.Gateway
	url   string
	image []byte
	fwID  int64
	admin int64

	mu        sync.Mutex
	ranges    []string // the Range header of every download ("" for none)
	devices   []int64  // the device each token was made for
	hold      chan struct{}
	held      chan struct{} // closed when a download is held halfway
	cutFirst  bool          // the first download breaks halfway
	busyFirst bool          // the first download is answered 503, Retry-After 1
}

func newFWServer(t *testing.T) *fwServer {
	t.Helper()
	return newFWServerOpts(t, gateway.Options{Node: "test", Heartbeat: 2 * time.Second})
}

func newFWServerOpts(t *testing.T, opts gateway.Options) *fwServer {
	t.Helper()
	st := testutil.NewStore(t, "sqlite")
	if _, err := demo.Load(context.Background(), st, demo.Options{Password: "x-password", Users: 30, Devices: 12, Seed: 5}, io.Discard); err != nil {
		t.Fatal(err)
	}
	var logBuf lockedBuf
	log := slog.New(slog.NewTextHandler(&logBuf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("server log:\n%s", logBuf.String())
		}
	})
	g := gateway.New(st, bus.NewLocal(), log, opts)
	fs := &fwServer{t: t, st: st, gw: g, image: make([]byte, 300<<10)}
	for i := range fs.image {
		fs.image[i] = byte(i * 7)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /device/v1/connect", g)
	mux.HandleFunc("GET /device/v1/firmware/{id}", fs.serveImage)
	ts := httptest.NewServer(mux)
	t.Cleanup(func() {
		g.Close()
		ts.Close()
	})
	fs.url = ts.URL
	sum := sha256.Sum256(fs.image)
	if err := st.DB().QueryRow(`INSERT INTO firmware (version, model, file_url, checksum, size, stored, created_at)
		VALUES (?, 'R29C', '', ?, ?, true, ?) RETURNING id`, newFirmware, hex.EncodeToString(sum[:]), len(fs.image), time.Now().UTC()).Scan(&fs.fwID); err != nil {
		t.Fatal(err)
	}
	if err := st.DB().QueryRow(`SELECT id FROM accounts WHERE role = 'admin' LIMIT 1`).Scan(&fs.admin); err != nil {
		t.Fatal(err)
	}
	return fs
}

// serveImage is the download endpoint's stand-in: the token must be for
// this image and unexpired; Range requests are served (http.ServeContent).
func (fs *fwServer) serveImage(w http.ResponseWriter, r *http.Request) {
	id, _ := strconv.ParseInt(r.PathValue("id"), 10, 64)
	dev, err := deviceauth.CheckFirmwareToken(fs.st.FirmwareTokenKey(), r.URL.Query().Get("token"), id, time.Now())
	if err != nil || id != fs.fwID {
		http.NotFound(w, r)
		return
	}
	fs.mu.Lock()
	fs.ranges = append(fs.ranges, r.Header.Get("Range"))
	fs.devices = append(fs.devices, dev)
	first := len(fs.ranges) == 1
	hold, held, cut := fs.hold, fs.held, fs.cutFirst && first
	fs.mu.Unlock()
	if first && fs.busyFirst {
		w.Header().Set("Retry-After", "1")
		http.Error(w, "busy", http.StatusServiceUnavailable)
		return
	}
	var out io.Writer = w
	if first && (hold != nil || cut) {
		out = &halfway{w: w, after: len(fs.image) / 2, hold: hold, held: held, cut: cut, ctx: r.Context()}
	}
	http.ServeContent(rw{out, w}, r, "image.bin", time.Time{}, bytes.NewReader(fs.image))
}

// rw is a ResponseWriter whose body goes to w.
type rw struct {
	w io.Writer
	http.ResponseWriter
}

func (r rw) Write(p []byte) (int, error) { return r.w.Write(p) }

// halfway passes the first after bytes, then holds the rest until hold is
// closed (or the request ends), or breaks the transfer (cut).
type halfway struct {
	w          http.ResponseWriter
	after      int
	n          int
	hold, held chan struct{}
	cut        bool
	ctx        context.Context
}

func (h *halfway) Write(p []byte) (int, error) {
	if h.n+len(p) <= h.after || h.n > h.after {
		h.n += len(p)
		return h.w.Write(p)
	}
	k := h.after - h.n
	h.w.Write(p[:k])
	h.n += k
	h.w.(http.Flusher).Flush()
	if h.cut {
		panic(http.ErrAbortHandler) // the connection breaks
	}
	close(h.held)
	select {
	case <-h.hold:
	case <-h.ctx.Done():
		return k, h.ctx.Err()
	}
	n, err := h.w.Write(p[k:])
	h.n += n + 1 // past the middle (+1: also for an empty rest)
	return k + n, err
}

// demoDevices returns the first n demo devices: ids and MACs.
func (fs *fwServer) demoDevices(n int) ([]int64, []string) {
	fs.t.Helper()
	rows, err := fs.st.DB().Query(`SELECT id, mac FROM devices ORDER BY id LIMIT ?`, n)
	if err != nil {
		fs.t.Fatal(err)
	}
	defer rows.Close()
	var ids []int64
	var macs []string
	for rows.Next() {
		var id int64
		var mac string
		rows.Scan(&id, &mac)
		ids, macs = append(ids, id), append(macs, mac)
	}
	return ids, macs
}

// fleet starts simulated devices of the first n demo devices, keys accepted.
func (fs *fwServer) fleet(n int, cfg devicesim.Config) (*devicesim.Fleet, []string, []int64) {
	fs.t.Helper()
	ids, macs := fs.demoDevices(n)
	cfg.Keys = map[string]string{}
	for i, m := range macs {
		cfg.Keys[m] = fmt.Sprintf("sim-key-%s-%d-0123456789abcdefghij", m, i)
	}
	if _, err := fs.st.EnrollDeviceKeys(model.WithActor(context.Background(), model.System), cfg.Keys); err != nil {
		fs.t.Fatal(err)
	}
	cfg.Server, cfg.MACs = fs.url, macs
	if cfg.Firmware == "" {
		cfg.Firmware = oldFirmware
	}
	if cfg.StateDir == "" {
		cfg.StateDir = fs.t.TempDir()
	}
	cfg.Backoff, cfg.BackoffMax, cfg.RebootDelay, cfg.UpgradeStepTime = 50*time.Millisecond, 200*time.Millisecond, 50*time.Millisecond, 20*time.Millisecond
	f, err := devicesim.Start(fs.t.Context(), cfg)
	if err != nil {
		fs.t.Fatal(err)
	}
	fs.t.Cleanup(func() { f.Close() })
	return f, macs, ids
}

// queue adds a queued upgrade of the device to the image, as a rollout
// releasing it would.
func (fs *fwServer) queue(deviceID int64) int64 {
	fs.t.Helper()
	now := time.Now().UTC()
	var rollout, id int64
	if err := fs.st.DB().QueryRow(`INSERT INTO rollouts (firmware_id, account_id, status, created_at, updated_at)
		VALUES (?, ?, 'running', ?, ?) RETURNING id`, fs.fwID, fs.admin, now, now).Scan(&rollout); err != nil {
		fs.t.Fatal(err)
	}
	if err := fs.st.DB().QueryRow(`INSERT INTO firmware_upgrades (rollout_id, device_id, firmware_id, wave, state, from_version,
		to_version, queued_at, deadline_at) VALUES (?, ?, ?, 0, 'queued', ?, ?, ?, ?) RETURNING id`, rollout, deviceID, fs.fwID,
		oldFirmware, newFirmware, now, now.Add(time.Hour)).Scan(&id); err != nil {
		fs.t.Fatal(err)
	}
	return id
}

type upgradeRow struct {
	state    model.UpgradeState
	percent  int
	attempts int
	err      string
}

func (fs *fwServer) row(id int64) upgradeRow {
	fs.t.Helper()
	var r upgradeRow
	if err := fs.st.DB().QueryRow(`SELECT state, percent, attempts, error FROM firmware_upgrades WHERE id = ?`, id).
		Scan(&r.state, &r.percent, &r.attempts, &r.err); err != nil {
		fs.t.Fatal(err)
	}
	return r
}

// waitRow waits until the upgrade's row satisfies cond.
func (fs *fwServer) waitRow(id int64, what string, cond func(upgradeRow) bool) upgradeRow {
	fs.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		r := fs.row(id)
		if cond(r) {
			return r
		}
		if time.Now().After(deadline) {
			fs.t.Fatalf("upgrade %d: %s: still %+v", id, what, r)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// waitExecuted waits until the device acknowledged upgrade id (after its
// reboot it does so once welcomed back, after the hello that ended it).
func waitExecuted(t *testing.T, d *devicesim.Device, id int64) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for d.Executed(model.UpgradeCommandID(id)) == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("the device never acknowledged upgrade %d", id)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func ended(r upgradeRow) bool { return !r.state.Open() }

func TestFirmwareUpgradeEndToEnd(t *testing.T) {
	fs := newFWServer(t)
	fs.hold, fs.held = make(chan struct{}), make(chan struct{})
	f, macs, ids := fs.fleet(1, devicesim.Config{})
	d := f.Device(macs[0])
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	if err := d.WaitOnline(ctx); err != nil {
		t.Fatal(err)
	}
	id := fs.queue(ids[0])
	fs.gw.Kick(ctx, macs[0]) // the rollout releasing the device tells the gateway
	select {
	case <-fs.held:
	case <-ctx.Done():
		t.Fatal("the device never downloaded its image")
	}
	// Halfway through the download, the device's progress is recorded.
	fs.waitRow(id, "downloading", func(r upgradeRow) bool { return r.state == model.UpgradeDownloading })
	close(fs.hold)
	r := fs.waitRow(id, "done", ended)
	// (Sent once, or twice when the kick came while the device's connect
	// was sending what it had: delivery is at least once.)
	if r.state != model.UpgradeDone || r.percent != 100 || r.err != "" || r.attempts < 1 {
		t.Errorf("upgrade ended %+v", r)
	}
	waitExecuted(t, d, id)
	if d.Firmware() != newFirmware || d.Boots() != 2 || d.Executed(model.UpgradeCommandID(id)) != 1 {
		t.Errorf("device: firmware %s, boots %d, executed %d", d.Firmware(), d.Boots(), d.Executed(model.UpgradeCommandID(id)))
	}
	if err := d.WaitOnline(ctx); err != nil {
		t.Fatal(err)
	}
	var fw string
	fs.st.DB().QueryRow(`SELECT firmware FROM devices WHERE id = ?`, ids[0]).Scan(&fw)
	if fw != newFirmware {
		t.Errorf("the device's recorded firmware is %q", fw)
	}
	if len(fs.devices) != 1 || fs.devices[0] != ids[0] {
		t.Errorf("download tokens made for devices %v, want [%d]", fs.devices, ids[0])
	}
	for f.Stats().Upgraded == 0 && ctx.Err() == nil { // its ack follows the hello
		time.Sleep(5 * time.Millisecond)
	}
	if s := f.Stats(); s.Upgraded != 1 || s.UpgradeFailed != 0 {
		t.Errorf("stats %+v", s)
	}
}

// Each failure the simulator can be told to have ends the upgrade failed
// with its reason (the timeout's is the deadline sweep's: the device stays
// silent, even when the upgrade is sent again).
func TestFirmwareUpgradeFailures(t *testing.T) {
	cases := []struct {
		name string
		cfg  devicesim.Config
		want string
	}{
		{"checksum", devicesim.Config{UpgradeFailChecksum: 1}, "checksum mismatch"},
		{"old version", devicesim.Config{UpgradeFailOldVersion: 1}, "came back with firmware " + oldFirmware + ", expected " + newFirmware},
		{"timeout", devicesim.Config{UpgradeFailTimeout: 1}, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			fs := newFWServer(t)
			ids, _ := fs.demoDevices(1)
			id := fs.queue(ids[0]) // before it connects: sent at its hello
			f, macs, _ := fs.fleet(1, c.cfg)
			d := f.Device(macs[0])
			if c.want == "" {
				fs.waitRow(id, "downloaded", func(r upgradeRow) bool { return r.percent == 100 })
				d.Drop() // sent again on the next connection
				fs.waitRow(id, "sent again", func(r upgradeRow) bool { return r.attempts == 2 })
				time.Sleep(100 * time.Millisecond) // (five install times: the device is silent, not slow)
				if r := fs.row(id); r.state != model.UpgradeDownloading || d.Firmware() != oldFirmware {
					t.Errorf("silent device: %+v, firmware %s", r, d.Firmware())
				}
				return
			}
			r := fs.waitRow(id, "failed", ended)
			if r.state != model.UpgradeFailed || r.err != c.want {
				t.Errorf("ended %+v, want failed %q", r, c.want)
			}
			if d.Firmware() != oldFirmware {
				t.Errorf("firmware %s", d.Firmware())
			}
		})
	}
}

// A connection lost in the middle of the download: the upgrade is sent
// again on the next connection, the device resumes where it stopped (Range)
// and installs once.
func TestFirmwareUpgradeResumesAfterReconnect(t *testing.T) {
	fs := newFWServer(t)
	fs.hold, fs.held = make(chan struct{}), make(chan struct{})
	ids, _ := fs.demoDevices(1)
	id := fs.queue(ids[0])
	f, macs, _ := fs.fleet(1, devicesim.Config{})
	d := f.Device(macs[0])
	select {
	case <-fs.held:
	case <-time.After(20 * time.Second):
		t.Fatal("no download")
	}
	for d.Downloaded() < int64(len(fs.image)/2) { // what was sent has arrived
		time.Sleep(5 * time.Millisecond)
	}
	d.Drop()
	close(fs.hold)
	r := fs.waitRow(id, "done", ended)
	if r.state != model.UpgradeDone || r.attempts != 2 {
		t.Errorf("ended %+v", r)
	}
	fs.mu.Lock()
	ranges := append([]string(nil), fs.ranges...)
	fs.mu.Unlock()
	if len(ranges) != 2 || ranges[0] != "" || ranges[1] != fmt.Sprintf("bytes=%d-", len(fs.image)/2) {
		t.Errorf("downloads with Range %q", ranges)
	}
	if got := d.Downloaded(); got != int64(len(fs.image)) {
		t.Errorf("downloaded %d bytes of a %d-byte image", got, len(fs.image))
	}
	waitExecuted(t, d, id)
	if d.Executed(model.UpgradeCommandID(id)) != 1 || d.Boots() != 2 {
		t.Errorf("executed %d, boots %d", d.Executed(model.UpgradeCommandID(id)), d.Boots())
	}
}

// A transfer broken on the same connection is resumed with Range too.
func TestFirmwareUpgradeResumesABrokenTransfer(t *testing.T) {
	fs := newFWServer(t)
	fs.cutFirst = true
	ids, _ := fs.demoDevices(1)
	id := fs.queue(ids[0])
	f, macs, _ := fs.fleet(1, devicesim.Config{})
	if r := fs.waitRow(id, "done", ended); r.state != model.UpgradeDone || r.attempts != 1 {
		t.Errorf("ended %+v", r)
	}
	fs.mu.Lock()
	defer fs.mu.Unlock()
	if len(fs.ranges) != 2 || fs.ranges[1] != fmt.Sprintf("bytes=%d-", len(fs.image)/2) {
		t.Errorf("downloads with Range %q", fs.ranges)
	}
	if got := f.Device(macs[0]).Downloaded(); got != int64(len(fs.image)) {
		t.Errorf("downloaded %d bytes of %d", got, len(fs.image))
	}
}

// A device running the target already: done at once, nothing downloaded —
// told at its hello, or told while connected (it acknowledges at once).
func TestFirmwareUpgradeAlreadyOnTheVersion(t *testing.T) {
	fs := newFWServer(t)
	ids, _ := fs.demoDevices(2)
	atHello := fs.queue(ids[0])
	f2, macs, _ := fs.fleet(2, devicesim.Config{Firmware: newFirmware})
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	if err := f2.WaitOnline(ctx, 2); err != nil {
		t.Fatal(err)
	}
	if r := fs.waitRow(atHello, "done", ended); r.state != model.UpgradeDone {
		t.Errorf("at hello: %+v", r)
	}
	connected := fs.queue(ids[1])
	fs.gw.Kick(ctx, macs[1])
	if r := fs.waitRow(connected, "done", ended); r.state != model.UpgradeDone || r.attempts != 1 {
		t.Errorf("told while connected: %+v", r)
	}
	if fs.ranges != nil {
		t.Errorf("downloads: %q", fs.ranges)
	}
	waitExecuted(t, f2.Device(macs[1]), connected)
	if d := f2.Device(macs[1]); d.Executed(model.UpgradeCommandID(connected)) != 1 || d.Boots() != 1 {
		t.Errorf("device: executed %d, boots %d", d.Executed(model.UpgradeCommandID(connected)), d.Boots())
	}
}

// The firmware a device upgraded to is kept in its state file: a
// simulator restarted comes back with it.
func TestFirmwareKeptAcrossSimulatorRestart(t *testing.T) {
	fs := newFWServer(t)
	dir := t.TempDir()
	ids, _ := fs.demoDevices(1)
	id := fs.queue(ids[0])
	f, macs, _ := fs.fleet(1, devicesim.Config{StateDir: dir})
	fs.waitRow(id, "done", ended)
	f.Close()
	cfg := devicesim.Config{Server: fs.url, MACs: macs, Firmware: oldFirmware, StateDir: dir}
	f2, err := devicesim.Start(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer f2.Close()
	if got := f2.Device(macs[0]).Firmware(); got != newFirmware {
		t.Errorf("after a restart the device runs %s", got)
	}
}

// What the cloud sends wrong fails the upgrade with the device's reason: an
// image whose SHA-256 is not the one announced, a download refused.
func TestFirmwareUpgradeBadImageOrURL(t *testing.T) {
	cases := []struct {
		name, sql, want string
	}{
		{"sha256 differs", `UPDATE firmware SET checksum = '` + strings.Repeat("0", 64) + `'`, "checksum mismatch"},
		{"download refused", `UPDATE firmware SET stored = false, file_url = '%s/device/v1/firmware/999999?token=x'`, "download failed: HTTP 404"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			fs := newFWServer(t)
			q := c.sql
			if strings.Contains(q, "%s") {
				q = fmt.Sprintf(q, fs.url)
			}
			if _, err := fs.st.DB().Exec(q); err != nil {
				t.Fatal(err)
			}
			ids, _ := fs.demoDevices(1)
			id := fs.queue(ids[0])
			f, macs, _ := fs.fleet(1, devicesim.Config{})
			if r := fs.waitRow(id, "failed", ended); r.state != model.UpgradeFailed || r.err != c.want {
				t.Errorf("ended %+v, want failed %q", r, c.want)
			}
			if d := f.Device(macs[0]); d.Firmware() != oldFirmware || d.Boots() != 1 {
				t.Errorf("device: firmware %s, boots %d", d.Firmware(), d.Boots())
			}
		})
	}
}

// An upgrade released without a Kick (the message lost) reaches a device
// connected before: the gateway's periodic sweep sends it.
func TestFirmwareUpgradeWithoutKick(t *testing.T) {
	fs := newFWServerOpts(t, gateway.Options{Node: "test", Heartbeat: 2 * time.Second, ResendEvery: 100 * time.Millisecond})
	go fs.gw.Run(t.Context())
	f, macs, ids := fs.fleet(1, devicesim.Config{})
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	if err := f.Device(macs[0]).WaitOnline(ctx); err != nil {
		t.Fatal(err)
	}
	id := fs.queue(ids[0])
	if r := fs.waitRow(id, "done", ended); r.state != model.UpgradeDone {
		t.Errorf("ended %+v", r)
	}
}

// A device downloading at its own pace (Config.DownloadRate) reports the
// percent on the way, about once a second.
func TestFirmwareUpgradeReportsPercent(t *testing.T) {
	fs := newFWServer(t)
	ids, _ := fs.demoDevices(1)
	id := fs.queue(ids[0])
	fs.fleet(1, devicesim.Config{DownloadRate: int64(len(fs.image)) * 2 / 3}) // 1.5 s
	r := fs.waitRow(id, "partly downloaded", func(r upgradeRow) bool { return r.percent > 0 && r.percent < 100 || ended(r) })
	if r.state != model.UpgradeDownloading {
		t.Errorf("no percent on the way: %+v", r)
	}
	if r := fs.waitRow(id, "done", ended); r.state != model.UpgradeDone {
		t.Errorf("ended %+v", r)
	}
}

// A download endpoint at its bound answers 503 with Retry-After: the device
// waits as told and downloads then; it is not a failure.
func TestFirmwareUpgradeWaitsForABusyServer(t *testing.T) {
	fs := newFWServer(t)
	fs.busyFirst = true
	ids, _ := fs.demoDevices(1)
	id := fs.queue(ids[0])
	fs.fleet(1, devicesim.Config{})
	if r := fs.waitRow(id, "done", ended); r.state != model.UpgradeDone {
		t.Errorf("ended %+v", r)
	}
	fs.mu.Lock()
	defer fs.mu.Unlock()
	if len(fs.ranges) != 2 {
		t.Errorf("%d requests, want 2 (the busy one, then the download)", len(fs.ranges))
	}
}
