package server_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/auth"
	"github.com/gatehouse-dev/gatehouse/internal/demo"
	"github.com/gatehouse-dev/gatehouse/internal/devicesim"
	"github.com/gatehouse-dev/gatehouse/internal/mail"
	"github.com/gatehouse-dev/gatehouse/internal/mail/mailtest"
	"github.com/gatehouse-dev/gatehouse/internal/model"
	"github.com/gatehouse-dev/gatehouse/internal/server"
	"github.com/gatehouse-dev/gatehouse/internal/store"
	"github.com/gatehouse-dev/gatehouse/internal/testutil"
)

// runningNode is one `gatehouse serve` in process: server.Run on a real
// address, so that the device gateway, the firmware downloads and the
// rollout scheduler all run as in production.
type runningNode struct {
	stop func()
	done chan error
}

func startNode(t *testing.T, st *store.Store, addr, dataDir string) (*runningNode, string) {
	t.Helper()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	mailer, err := mail.NewSMTP(mailtest.Start(t).Config())
	if err != nil {
		t.Fatal(err)
	}
	srv, err := server.New(server.Config{Addr: addr, Gateway: gwOptions, DataDir: dataDir, RolloutEvery: 100 * time.Millisecond},
		st, &auth.Service{Store: st, Config: auth.DefaultConfig, Log: log}, mailer, log)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	n := &runningNode{stop: cancel, done: make(chan error, 1)}
	ready := make(chan string, 1)
	go func() { n.done <- srv.Run(ctx, func(a string) { ready <- a }) }()
	select {
	case a := <-ready:
		t.Cleanup(n.shutdown)
		return n, a
	case err := <-n.done:
		t.Fatalf("the node did not start: %v", err)
	case <-time.After(20 * time.Second):
		t.Fatal("the node did not start within 20 s")
	}
	return nil, ""
}

func (n *runningNode) shutdown() {
	n.stop()
	select {
	case <-n.done:
	case <-time.After(30 * time.Second):
	}
}

// TestFirmwareRolloutEndToEnd is issue 15 through the whole product: the
// admin uploads an image, a sub-distributor rolls it out to simulated
// devices over real sockets in a canary and two waves, the node restarts
// in the middle, and every device ends on the new firmware having run its
// upgrade exactly once. A second rollout whose canary boots back into the
// old firmware pauses before its next wave, which is never sent.
func TestFirmwareRolloutEndToEnd(t *testing.T) {
	for _, backend := range testutil.Backends(t) {
		t.Run(backend, func(t *testing.T) {
			t.Parallel()
			st := testutil.NewStore(t, backend)
			if _, err := demo.Load(context.Background(), st, demo.Options{Password: demoPassword, Users: 100, Devices: 120, Seed: 15}, io.Discard); err != nil {
				t.Fatal(err)
			}
			// Only the simulated devices are online (the demo makes some up).
			if _, err := st.DB().Exec(`UPDATE devices SET online = false, node = ''`); err != nil {
				t.Fatal(err)
			}
			macs := subMACs(t, st, 16)
			good, bad := macs[:12], macs[12:]
			dataDir := t.TempDir()
			node, addr := startNode(t, st, "127.0.0.1:0", dataDir)
			e := &env{t: t, st: st, url: "http://" + addr}

			// The admin stores the image.
			img := firmwareImage(300<<10, 15)
			r := e.upload(e.token(demo.AdminUser), "version=29.30.9.1&model=R29C&change_log=Rollout+test&sha256="+hexSHA(img), bytes.NewReader(img))
			if r.StatusCode != 201 {
				t.Fatalf("upload: %d %s", r.StatusCode, r.body)
			}
			fwID := int64(r.json(t)["id"].(float64))

			sim := func(macs []string, failOld float64) *devicesim.Fleet {
				f, err := devicesim.Start(context.Background(), devicesim.Config{Server: e.url, StateDir: t.TempDir(), MACs: macs,
					Keys: enrolledKeys(t, st, macs), UpgradeFailOldVersion: failOld, UpgradeStepTime: 300 * time.Millisecond})
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { f.Close() })
				waitOnline(t, f, len(macs), 20*time.Second)
				return f
			}
			goodFleet := sim(good, 0)

			sub := e.token(demo.SubdistributorUser)
			online := true
			in := model.RolloutInput{FirmwareID: fwID, Name: "R29C to 29.30.9.1",
				Targets: model.RolloutTargets{Online: &online},
				Plan:    model.RolloutPlan{CanaryCount: 2, WavePercent: 50, FailureThreshold: 10, DeviceTimeout: 300}}
			if p := e.do(nil, "POST", "/api/v1/rollouts/preview", in, bearer(sub)).json(t); p["matching"] != float64(len(good)) {
				t.Fatalf("preview: %v (want %d matching)", p, len(good))
			}
			r = e.do(nil, "POST", "/api/v1/rollouts", in, bearer(sub))
			if r.StatusCode != 201 {
				t.Fatalf("create: %d %s", r.StatusCode, r.body)
			}
			rid := int64(r.json(t)["id"].(float64))
			if r := e.do(nil, "POST", fmt.Sprintf("/api/v1/rollouts/%d/start", rid), nil, bearer(sub)); r.StatusCode != 200 {
				t.Fatalf("start: %d %s", r.StatusCode, r.body)
			}
			subCtx := e.actorCtx(t, demo.SubdistributorUser)
			progress := func() *model.RolloutProgress {
				p, err := st.RolloutProgress(subCtx, rid)
				if err != nil {
					t.Fatal(err)
				}
				return p
			}
			waitFor := func(what string, within time.Duration, cond func(p *model.RolloutProgress) bool) *model.RolloutProgress {
				t.Helper()
				for start := time.Now(); ; time.Sleep(50 * time.Millisecond) {
					if p := progress(); cond(p) {
						return p
					} else if time.Since(start) > within {
						ups, _ := st.ListRolloutDevices(subCtx, rid, model.RolloutDeviceFilter{Page: model.Page{Page: 1, PerPage: 100}})
						var errs []string
						for _, u := range ups.Items {
							if u.Error != "" {
								errs = append(errs, u.MAC+": "+u.Error)
							}
						}
						t.Fatalf("%s: not within %s: %+v %+v; errors: %v", what, within, p.ByState, p.ByWave, errs)
					}
				}
			}
			// The canary first, alone: no device of wave 1 is released before
			// both canaries are done.
			waitFor("the canary done", 60*time.Second, func(p *model.RolloutProgress) bool {
				if w1 := p.ByWave[1].ByState; w1[model.UpgradePending] != p.ByWave[1].Total && p.ByWave[0].ByState[model.UpgradeDone] < 2 {
					t.Fatalf("wave 1 released before the canary ended: %+v", p.ByWave)
				}
				return p.ByWave[0].ByState[model.UpgradeDone] == 2
			})
			// The node restarts while wave 1 is under way.
			waitFor("wave 1 under way", 60*time.Second, func(p *model.RolloutProgress) bool {
				return p.ByWave[1].ByState[model.UpgradePending] < p.ByWave[1].Total
			})
			node.shutdown()
			node, _ = startNode(t, st, addr, dataDir)
			p := waitFor("the rollout done", 120*time.Second, func(p *model.RolloutProgress) bool { return p.Status == model.RolloutDone })
			if p.ByState[model.UpgradeDone] != len(good) {
				t.Fatalf("after the restart: %+v", p.ByState)
			}
			ups, err := st.ListRolloutDevices(subCtx, rid, model.RolloutDeviceFilter{Page: model.Page{Page: 1, PerPage: 100}})
			if err != nil || ups.Total != len(good) {
				t.Fatalf("devices of the rollout: %d %v", ups.Total, err)
			}
			for _, u := range ups.Items {
				dev := goodFleet.Device(u.MAC)
				if n := dev.Executed(model.UpgradeCommandID(u.ID)); n != 1 {
					t.Errorf("%s ran its upgrade %d times", u.MAC, n)
				}
				if dev.Firmware() != "29.30.9.1" || u.State != model.UpgradeDone || u.FromVersion == "29.30.9.1" {
					t.Errorf("%s: runs %s, upgrade %+v", u.MAC, dev.Firmware(), u)
				}
				if d := e.do(nil, "GET", "/api/v1/devices/"+u.MAC, nil, bearer(sub)).json(t); d["firmware"] != "29.30.9.1" {
					t.Errorf("%s as the portal shows it: firmware %v", u.MAC, d["firmware"])
				}
			}

			// Every device of the second rollout boots back into its old
			// firmware: the canary fails, the rollout pauses, wave 1 is never sent.
			badFleet := sim(bad, 1)
			in.Name, in.Plan = "bad image", model.RolloutPlan{CanaryCount: 2, WaveSize: 2, FailureThreshold: 10, DeviceTimeout: 300}
			r = e.do(nil, "POST", "/api/v1/rollouts", in, bearer(sub))
			if r.StatusCode != 201 || r.json(t)["total"] != float64(len(bad)) {
				t.Fatalf("second rollout: %d %s", r.StatusCode, r.body)
			}
			rid = int64(r.json(t)["id"].(float64))
			e.do(nil, "POST", fmt.Sprintf("/api/v1/rollouts/%d/start", rid), nil, bearer(sub))
			p = waitFor("the pause", 60*time.Second, func(p *model.RolloutProgress) bool { return p.Status == model.RolloutPaused })
			if p.ByWave[0].ByState[model.UpgradeFailed] != 2 || p.ByWave[1].ByState[model.UpgradePending] != 2 {
				t.Fatalf("paused with %+v", p.ByWave)
			}
			ro, err := st.GetRollout(subCtx, rid)
			if err != nil || !strings.Contains(ro.PauseReason, "threshold") && !strings.Contains(ro.PauseReason, "%") {
				t.Errorf("pause reason %q %v", ro.PauseReason, err)
			}
			time.Sleep(time.Second) // steps of the scheduler go by: still nothing sent
			ups, _ = st.ListRolloutDevices(subCtx, rid, model.RolloutDeviceFilter{Page: model.Page{Page: 1, PerPage: 100}})
			for _, u := range ups.Items {
				dev := badFleet.Device(u.MAC)
				switch u.Wave {
				case 0:
					if u.State != model.UpgradeFailed || !strings.Contains(u.Error, "29.30.9.1") || dev.Firmware() == "29.30.9.1" {
						t.Errorf("canary %s: %+v, runs %s", u.MAC, u, dev.Firmware())
					}
				default:
					if u.State != model.UpgradePending || dev.Executed(model.UpgradeCommandID(u.ID)) != 0 {
						t.Errorf("wave %d device %s was sent its upgrade while paused: %+v", u.Wave, u.MAC, u)
					}
				}
			}
			_ = node
		})
	}
}

// actorCtx is a context acting as username.
func (e *env) actorCtx(t *testing.T, username string) context.Context {
	t.Helper()
	a, err := e.st.GetAccount(sysCtx(), e.accountID(t, username))
	if err != nil {
		t.Fatal(err)
	}
	return model.WithActor(context.Background(), model.ActorOf(a))
}
