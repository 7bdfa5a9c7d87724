package server_test

import (
	"context"
	"io"
	"log/slog"
	"strings"
	"sync/atomic"
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

// TestServerRunsTheNotifier: Server.Run (gatehouse serve) runs the
// notification scheduler: a rollout its owner paused is mailed to it, and
// the lease is freed at shutdown.
func TestServerRunsTheNotifier(t *testing.T) {
	st := testutil.NewStore(t, "sqlite")
	if _, err := demo.Load(context.Background(), st, demo.Options{Password: demoPassword, Users: 50, Devices: 20, Seed: 3}, io.Discard); err != nil {
		t.Fatal(err)
	}
	if _, err := st.DB().Exec(`UPDATE devices SET model = 'R29', firmware = '1.0', online = true, last_seen = ?`, time.Now().UTC()); err != nil {
		t.Fatal(err)
	}
	if _, err := st.DB().Exec(`UPDATE accounts SET email = 'ops@sub.example', language = 'fr' WHERE username = 'demo-subdistributor'`); err != nil {
		t.Fatal(err)
	}
	fw := &model.Firmware{Version: "78.0", Model: "R29", FileURL: "https://fw.example/78.rom", Checksum: strings.Repeat("8", 64), Size: 4 << 20}
	if err := st.CreateFirmware(sysCtx(), fw); err != nil {
		t.Fatal(err)
	}
	sub, _, err := st.AccountForLogin(context.Background(), "demo-subdistributor")
	if err != nil {
		t.Fatal(err)
	}
	sctx := model.WithActor(context.Background(), model.ActorOf(sub))
	ro, err := st.CreateRollout(sctx, model.RolloutInput{Name: "Night R29", FirmwareID: fw.ID, Plan: model.RolloutPlan{CanaryCount: 1}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.SetRolloutStatus(sctx, ro.ID, model.RolloutStart); err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	smtpd := mailtest.Start(t)
	mailer, err := mail.NewSMTP(smtpd.Config())
	if err != nil {
		t.Fatal(err)
	}
	srv, err := server.New(server.Config{Addr: "127.0.0.1:0", NotifyEvery: 20 * time.Millisecond}, st,
		&auth.Service{Store: st, Config: auth.DefaultConfig, Log: log}, mailer, log)
	if err != nil {
		t.Fatal(err)
	}
	var skew atomic.Int64
	st.SetClock(func() time.Time { return time.Now().UTC().Add(time.Duration(skew.Load())) })
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	ran := make(chan error, 1)
	go func() { ran <- srv.Run(ctx, nil) }()
	// Once the first run started the cursors, the owner pauses the rollout;
	// the store's clock then moves past the 30 s the scan stays behind.
	for start := time.Now(); ; time.Sleep(10 * time.Millisecond) {
		var n int
		if err := st.DB().QueryRow(`SELECT count(*) FROM notification_cursors WHERE name = 'rollouts'`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n == 1 {
			break
		}
		if time.Since(start) > 20*time.Second {
			t.Fatal("the notifier did not run")
		}
	}
	if _, err := st.SetRolloutStatus(sctx, ro.ID, model.RolloutPause); err != nil {
		t.Fatal(err)
	}
	skew.Store(int64(time.Minute))
	msgs := smtpd.Wait(t, 1, 20*time.Second)
	stop()
	if err := <-ran; err != nil {
		t.Fatalf("Run: %v", err)
	}
	if len(msgs) != 1 || msgs[0].To[0] != "ops@sub.example" || !strings.Contains(msgs[0].Subject, "en pause") ||
		!strings.Contains(msgs[0].Text, "Night R29") || !strings.Contains(msgs[0].Text, "Paused by demo-subdistributor") {
		t.Fatalf("mails: %+v", msgs)
	}
	var node string
	if err := st.DB().QueryRow(`SELECT node FROM notification_leases WHERE name = 'notifications'`).Scan(&node); err != nil || node != "" {
		t.Errorf("lease after shutdown: %q %v", node, err)
	}
}
