package server_test

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/auth"
	"github.com/gatehouse-dev/gatehouse/internal/demo"
	"github.com/gatehouse-dev/gatehouse/internal/devicesim"
	"github.com/gatehouse-dev/gatehouse/internal/gateway"
	"github.com/gatehouse-dev/gatehouse/internal/mail"
	"github.com/gatehouse-dev/gatehouse/internal/mail/mailtest"
	"github.com/gatehouse-dev/gatehouse/internal/model"
	"github.com/gatehouse-dev/gatehouse/internal/server"
	"github.com/gatehouse-dev/gatehouse/internal/testutil"
)

// TestUnacknowledgedCommandSentAgain: a command recorded as sent whose
// acknowledgement never got recorded (the fault suite's overloaded node:
// "gateway: record ack … context deadline exceeded", or a write to a
// connection that was ending) is sent again to the device's connection by
// the gateway's sweep, and ends done, executed once — it used to stay
// "sent" for as long as the device stayed connected.
func TestUnacknowledgedCommandSentAgain(t *testing.T) {
	st := testutil.NewStore(t, "sqlite")
	if _, err := demo.Load(context.Background(), st, demo.Options{Password: demoPassword, Users: 20, Devices: 20, Seed: 18}, io.Discard); err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	mailer, err := mail.NewSMTP(mailtest.Start(t).Config())
	if err != nil {
		t.Fatal(err)
	}
	srv, err := server.New(server.Config{Addr: "127.0.0.1:0", DataDir: t.TempDir(),
		Gateway: gateway.Options{Node: "n1", Heartbeat: 2 * time.Second, ResendEvery: 200 * time.Millisecond}},
		st, &auth.Service{Store: st, Config: auth.DefaultConfig, Log: log}, mailer, log)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done, ready := make(chan error, 1), make(chan string, 1)
	go func() { done <- srv.Run(ctx, func(a string) { ready <- a }) }()
	t.Cleanup(func() { cancel(); <-done })
	var addr string
	select {
	case addr = <-ready:
	case err := <-done:
		t.Fatalf("the node did not start: %v", err)
	}
	macs := subMACs(t, st, 1)
	f, err := devicesim.Start(context.Background(), devicesim.Config{Server: "http://" + addr, StateDir: t.TempDir(), MACs: macs,
		Keys: enrolledKeys(t, st, macs)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	waitOnline(t, f, 1, 20*time.Second)
	eventually(t, 10*time.Second, "the device recorded online on n1", func() bool {
		node, online, err := st.DeviceNode(sysCtx(), macs[0])
		return err == nil && online && node == "n1"
	})

	// An AutoP fetch (no reboot: the device stays connected), recorded as
	// sent and never written to the device, as if its ack were lost.
	sys := sysCtx()
	c, err := st.CreateCommand(sys, macs[0], model.CommandAutoP, "")
	if err != nil {
		t.Fatal(err)
	}
	if err := st.MarkCommandsSent(sys, c.ID); err != nil {
		t.Fatal(err)
	}
	eventually(t, 20*time.Second, "the command done", func() bool {
		cs, err := st.ListCommands(sys, macs[0], 10)
		return err == nil && len(cs) > 0 && cs[0].ID == c.ID && cs[0].Status == model.CommandDone
	})
	if n := f.Device(macs[0]).Executed(gateway.CommandID(c.ID)); n != 1 {
		t.Errorf("executed %d times", n)
	}
}
