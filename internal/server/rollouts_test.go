package server_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/auth"
	"github.com/gatehouse-dev/gatehouse/internal/demo"
	"github.com/gatehouse-dev/gatehouse/internal/mail"
	"github.com/gatehouse-dev/gatehouse/internal/mail/mailtest"
	"github.com/gatehouse-dev/gatehouse/internal/model"
	"github.com/gatehouse-dev/gatehouse/internal/server"
	"github.com/gatehouse-dev/gatehouse/internal/testutil"
)

// The rollouts' API: preview, create, read, the device table as CSV, the
// status actions (409 on a wrong one), and 404 for another tenant's rollout
// at every route.
func TestRolloutsAPI(t *testing.T) {
	eachBackend(t, func(t *testing.T, e *env) {
		var deviceModel, mac string
		err := e.st.DB().QueryRow(`SELECT d.model, d.mac FROM devices d JOIN accounts a ON a.id = d.installer_id
			WHERE a.username = 'demo-installer' AND d.model <> '' ORDER BY d.id LIMIT 1`).Scan(&deviceModel, &mac)
		if err != nil {
			t.Fatal(err)
		}
		admin := e.token("demo-admin")
		fw := map[string]any{"version": "99.0.1", "model": deviceModel, "file_url": "https://fw.example/99.rom", "checksum": strings.Repeat("1", 64), "size": 4 << 20}
		r := e.do(nil, "POST", "/api/v1/firmware", fw, bearer(admin))
		if r.StatusCode != 201 {
			t.Fatalf("firmware: %d %s", r.StatusCode, r.body)
		}
		fwID := int64(r.json(t)["id"].(float64))
		inst := e.token("demo-installer")
		body := map[string]any{"firmware_id": fwID, "name": "night", "plan": map[string]any{"canary_count": 1, "wave_percent": 50,
			"window_start": "01:00", "window_end": "05:00", "failure_threshold": 20}}

		// Bad input names the field and creates nothing.
		bad := map[string]any{"firmware_id": fwID, "plan": map[string]any{"window_start": "25:00", "canary_percent": 120}}
		if r := e.do(nil, "POST", "/api/v1/rollouts", bad, bearer(inst)); r.StatusCode != 400 ||
			r.errorField(t, "plan.window_start") == "" || r.errorField(t, "plan.canary_percent") == "" {
			t.Errorf("bad plan: %d %s", r.StatusCode, r.body)
		}
		if r := e.do(nil, "POST", "/api/v1/rollouts/preview", map[string]any{"firmware_id": 999999}, bearer(inst)); r.StatusCode != 400 || r.errorField(t, "firmware_id") == "" {
			t.Errorf("unknown firmware: %d %s", r.StatusCode, r.body)
		}

		r = e.do(nil, "POST", "/api/v1/rollouts/preview", body, bearer(inst))
		var count model.RolloutTargetCount
		if json.Unmarshal(r.body, &count); r.StatusCode != 200 || count.Matching == 0 || len(count.Waves) == 0 || count.Waves[0] != 1 {
			t.Fatalf("preview: %d %s", r.StatusCode, r.body)
		}
		r = e.do(nil, "POST", "/api/v1/rollouts", body, bearer(inst))
		var ro model.Rollout
		if json.Unmarshal(r.body, &ro); r.StatusCode != 201 || ro.Total != count.Matching || ro.Status != model.RolloutDraft {
			t.Fatalf("create: %d %s", r.StatusCode, r.body)
		}
		base := fmt.Sprintf("/api/v1/rollouts/%d", ro.ID)

		// Another tenant: 404 at every route; the creator's ancestors see it.
		for _, who := range []string{"subdistributor-1-2", "distributor-2", "installer-1-1-02"} {
			tok := e.token(who)
			for _, rt := range []struct{ method, path string }{
				{"GET", base}, {"GET", base + "/progress"}, {"GET", base + "/devices"}, {"GET", base + "/devices?format=csv"},
				{"POST", base + "/start"}, {"POST", base + "/pause"}, {"POST", base + "/resume"}, {"POST", base + "/cancel"},
				{"GET", "/api/v1/devices/" + mac + "/firmware-upgrades"},
			} {
				if r := e.do(nil, rt.method, rt.path, nil, bearer(tok)); r.StatusCode != 404 {
					t.Errorf("%s %s by %s: %d %s", rt.method, rt.path, who, r.StatusCode, r.body)
				}
			}
			if r := e.do(nil, "GET", "/api/v1/rollouts", nil, bearer(tok)); strings.Contains(string(r.body), `"name": "night"`) {
				t.Errorf("%s lists the rollout", who)
			}
		}
		for _, who := range []string{"demo-subdistributor", "demo-distributor", "demo-admin", "demo-installer"} {
			tok := e.token(who)
			r := e.do(nil, "GET", base, nil, bearer(tok))
			var got struct {
				model.Rollout
				Progress model.RolloutProgress `json:"progress"`
			}
			if json.Unmarshal(r.body, &got); r.StatusCode != 200 || got.ID != ro.ID || got.Progress.Total != ro.Total ||
				got.Progress.ByState[model.UpgradeDraft] != ro.Total || len(got.Progress.ByWave) != ro.Waves {
				t.Errorf("GET by %s: %d %s", who, r.StatusCode, r.body)
			}
			if r := e.do(nil, "GET", "/api/v1/rollouts?status=draft", nil, bearer(tok)); !strings.Contains(string(r.body), `"name": "night"`) {
				t.Errorf("%s does not list the rollout: %s", who, r.body)
			}
		}

		// The device table, searched, and as CSV (all rows).
		r = e.do(nil, "GET", base+"/devices?per_page=1&state=draft", nil, bearer(inst))
		if r.StatusCode != 200 || int(r.json(t)["total"].(float64)) != ro.Total {
			t.Errorf("devices: %d %s", r.StatusCode, r.body)
		}
		if r := e.do(nil, "GET", base+"/devices?state=lost", nil, bearer(inst)); r.StatusCode != 400 || r.errorField(t, "state") == "" {
			t.Errorf("bad state: %d %s", r.StatusCode, r.body)
		}
		r = e.do(nil, "GET", base+"/devices?format=csv&per_page=1", nil, bearer(inst))
		lines := strings.Split(strings.TrimSpace(string(r.body)), "\n")
		if r.StatusCode != 200 || !strings.HasPrefix(r.Header.Get("Content-Type"), "text/csv") || !strings.HasPrefix(lines[0], "mac,device_name,wave,state") ||
			len(lines) != ro.Total+1 {
			t.Errorf("csv: %d, %d lines for %d devices: %s", r.StatusCode, len(lines), ro.Total, r.body)
		}
		if r := e.do(nil, "GET", "/api/v1/devices/"+mac+"/firmware-upgrades", nil, bearer(inst)); r.StatusCode != 200 || !strings.Contains(string(r.body), `"to_version": "99.0.1"`) {
			t.Errorf("history: %d %s", r.StatusCode, r.body)
		}

		// Status actions: the valid transitions, 409 for the others.
		for _, step := range []struct {
			action string
			status int
			want   model.RolloutStatus
		}{
			{"pause", 409, ""}, {"resume", 409, ""}, {"start", 200, model.RolloutRunning}, {"start", 409, ""},
			{"pause", 200, model.RolloutPaused}, {"pause", 409, ""}, {"resume", 200, model.RolloutRunning},
			{"cancel", 200, model.RolloutCanceled}, {"cancel", 409, ""}, {"start", 409, ""},
		} {
			r := e.do(nil, "POST", base+"/"+step.action, nil, bearer(inst))
			if r.StatusCode != step.status {
				t.Errorf("%s: %d %s", step.action, r.StatusCode, r.body)
				continue
			}
			if step.status == http.StatusOK && r.json(t)["status"] != string(step.want) {
				t.Errorf("%s: %s", step.action, r.body)
			}
			if step.status == http.StatusConflict && r.errorCode(t) != "conflict" {
				t.Errorf("%s: %s", step.action, r.body)
			}
		}
		if r := e.do(nil, "GET", base+"/progress", nil, bearer(inst)); r.StatusCode != 200 || !strings.Contains(string(r.body), `"canceled": `+fmt.Sprint(ro.Total)) {
			t.Errorf("progress after cancel: %d %s", r.StatusCode, r.body)
		}
	})
}

// Server.Run runs the rollout scheduler: a started rollout's devices are
// released without anyone stepping it, and at shutdown the node frees its
// lease for the other nodes.
func TestServerRunsTheRolloutScheduler(t *testing.T) {
	st := testutil.NewStore(t, "sqlite")
	if _, err := demo.Load(context.Background(), st, demo.Options{Password: demoPassword, Users: 50, Devices: 20, Seed: 3}, io.Discard); err != nil {
		t.Fatal(err)
	}
	// Seen just now: the server's sweep of stale devices must not take
	// them offline under the scheduler (it did, now and then, under load).
	if _, err := st.DB().Exec(`UPDATE devices SET model = 'R29', firmware = '1.0', online = true, last_seen = ?`, time.Now().UTC()); err != nil {
		t.Fatal(err)
	}
	fw := &model.Firmware{Version: "77.0", Model: "R29", FileURL: "https://fw.example/77.rom", Checksum: strings.Repeat("7", 64), Size: 4 << 20}
	if err := st.CreateFirmware(sysCtx(), fw); err != nil {
		t.Fatal(err)
	}
	var adminID int64
	if err := st.DB().QueryRow(`SELECT id FROM accounts WHERE username = 'demo-admin'`).Scan(&adminID); err != nil {
		t.Fatal(err)
	}
	admin, _ := st.GetAccount(sysCtx(), adminID)
	actx := model.WithActor(context.Background(), model.ActorOf(admin))
	ro, err := st.CreateRollout(actx, model.RolloutInput{FirmwareID: fw.ID, Plan: model.RolloutPlan{CanaryCount: 2}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.SetRolloutStatus(actx, ro.ID, model.RolloutStart); err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	mailer, err := mail.NewSMTP(mailtest.Start(t).Config())
	if err != nil {
		t.Fatal(err)
	}
	srv, err := server.New(server.Config{Addr: "127.0.0.1:0", RolloutEvery: 10 * time.Millisecond}, st,
		&auth.Service{Store: st, Config: auth.DefaultConfig, Log: log}, mailer, log)
	if err != nil {
		t.Fatal(err)
	}
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	ran := make(chan error, 1)
	go func() { ran <- srv.Run(ctx, nil) }()
	for start := time.Now(); ; time.Sleep(10 * time.Millisecond) {
		p, err := st.RolloutProgress(actx, ro.ID)
		if err != nil {
			t.Fatal(err)
		}
		if p.ByState[model.UpgradeQueued] == 2 {
			break
		}
		if time.Since(start) > 20*time.Second {
			t.Fatalf("the canary was not released: %+v", p.ByState)
		}
	}
	stop()
	if err := <-ran; err != nil {
		t.Fatalf("Run: %v", err)
	}
	var node string
	if err := st.DB().QueryRow(`SELECT lease_node FROM rollouts WHERE id = ?`, ro.ID).Scan(&node); err != nil || node != "" {
		t.Errorf("lease after shutdown: %q %v", node, err)
	}
}
