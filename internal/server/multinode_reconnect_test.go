package server_test

import (
	"context"
	"net"
	"testing"
	"time"

	natsserver "github.com/nats-io/nats-server/v2/server"

	"github.com/gatehouse-dev/gatehouse/internal/demo"
	"github.com/gatehouse-dev/gatehouse/internal/gateway"
	"github.com/gatehouse-dev/gatehouse/internal/model"
)

// TestMultiNodeSweepsWhenNATSReturns: a reboot asked on node A while NATS
// is down, its kick lost, reaches the device on node B as soon as B is back
// on NATS, not at B's next resend sweep (an hour here).
func TestMultiNodeSweepsWhenNATSReturns(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	var ns *natsserver.Server
	startAt := func() {
		t.Helper()
		var err error
		ns, err = natsserver.NewServer(&natsserver.Options{Host: "127.0.0.1", Port: port, NoLog: true, NoSigs: true, MaxPayload: 4 << 20})
		if err != nil {
			t.Fatal(err)
		}
		go ns.Start()
		if !ns.ReadyForConnections(10 * time.Second) {
			t.Fatal("NATS server not ready")
		}
	}
	startAt()
	t.Cleanup(func() { ns.Shutdown() })
	opts := gwOptions
	opts.ResendEvery = time.Hour
	a, b := twoNodesOn(t, ns.ClientURL(), func(u string) string { return u }, opts)
	// The gateways' sweeps, as serve runs them (test nodes do not).
	for _, n := range []*env{a, b} {
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { defer close(done); n.srv.Gateway().Run(ctx) }()
		t.Cleanup(func() { cancel(); <-done })
	}

	mac := subMACs(t, a.st, 1)[0]
	f := startFleet(t, b, mac)
	waitOnline(t, f, 1, 10*time.Second)
	dev := f.Device(mac)
	eventually(t, 5*time.Second, "held by node B", func() bool { return b.srv.Gateway().Connected() == 1 })

	ns.Shutdown()
	ns.WaitForShutdown()
	// The command is written while NATS is down, and its kick is lost: what
	// happens when the asking node's buffered publish reaches NATS before the
	// holding node has subscribed again (with no kick at all here, so that
	// only the holding node's own look at the database can deliver it).
	c, err := a.st.CreateCommand(accountCtx(t, a.st, demo.SubdistributorUser), mac, model.CommandReboot, "")
	if err != nil {
		t.Fatal(err)
	}
	id := c.ID
	time.Sleep(time.Second)
	if n := dev.Executed(gateway.CommandID(id)); n != 0 {
		t.Fatalf("executed %d times while NATS was down and no sweep was due", n)
	}
	startAt()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	if err := dev.WaitBoots(ctx, 2); err != nil {
		t.Fatalf("the reboot asked while NATS was down did not reach the device within 15 s of NATS returning (the next sweep is an hour away)")
	}
	if n := dev.Executed(gateway.CommandID(id)); n != 1 {
		t.Errorf("executed %d times, want 1", n)
	}
}
