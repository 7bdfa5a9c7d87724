package server_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	natsserver "github.com/nats-io/nats-server/v2/server"

	"github.com/gatehouse-dev/gatehouse/internal/bus"
	"github.com/gatehouse-dev/gatehouse/internal/demo"
	"github.com/gatehouse-dev/gatehouse/internal/gateway"
	"github.com/gatehouse-dev/gatehouse/internal/model"
	"github.com/gatehouse-dev/gatehouse/internal/store"
	"github.com/gatehouse-dev/gatehouse/internal/testutil"
)

// startNATS runs an embedded NATS server on a random port.
func startNATS(t testing.TB) string {
	t.Helper()
	ns, err := natsserver.NewServer(&natsserver.Options{Host: "127.0.0.1", Port: -1, NoLog: true, NoSigs: true, MaxPayload: 4 << 20})
	if err != nil {
		t.Fatal(err)
	}
	go ns.Start()
	if !ns.ReadyForConnections(10 * time.Second) {
		t.Fatal("NATS server not ready")
	}
	t.Cleanup(ns.Shutdown)
	return ns.ClientURL()
}

func natsBus(t testing.TB, url string) bus.Bus {
	t.Helper()
	b, err := bus.NewNATS(url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}

// twoNodes starts two nodes on one PostgreSQL database (each with its own
// connection pool, as two processes have) and one NATS server.
func twoNodes(t *testing.T) (a, b *env) {
	return twoNodesVia(t, func(url string) string { return url })
}

// twoNodesVia is twoNodes with node B reaching NATS at via(its URL).
func twoNodesVia(t *testing.T, via func(natsURL string) string) (a, b *env) {
	t.Helper()
	return twoNodesOn(t, "", via, gwOptions)
}

// twoNodesOn is twoNodesVia on the NATS server at url ("": one started for
// the test) with the nodes' gateways set by opts.
func twoNodesOn(t *testing.T, url string, via func(natsURL string) string, opts gateway.Options) (a, b *env) {
	t.Helper()
	if os.Getenv(testutil.PostgresEnv) == "" {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s is not set: CI must run the multi-node tests", testutil.PostgresEnv)
		}
		fmt.Fprintf(os.Stderr, "\n*** Multi-node tests SKIPPED: they need PostgreSQL; set %s=postgres://… (CI does). ***\n\n", testutil.PostgresEnv)
		t.Skipf("%s not set", testutil.PostgresEnv)
	}
	dsn := testutil.PostgresDSN(t)
	open := func() *store.Store {
		st, err := store.Open(context.Background(), dsn)
		if err != nil {
			t.Fatal(err)
		}
		if err := st.SetSecretKey([]byte(strings.Repeat("k", 32))); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		return st
	}
	stA, stB := open(), open()
	if _, err := demo.Load(context.Background(), stA, demo.Options{Password: demoPassword, Users: 300, Devices: 200, Seed: 7}, io.Discard); err != nil {
		t.Fatal(err)
	}
	if url == "" {
		url = startNATS(t)
	}
	optsA, optsB := opts, opts
	optsA.Node, optsB.Node = "node-a", "node-b"
	a = newGatewayEnv(t, "postgres", stA, natsBus(t, url), optsA)
	b = newGatewayEnv(t, "postgres", stB, natsBus(t, via(url)), optsB)
	return a, b
}

func TestMultiNode(t *testing.T) {
	a, b := twoNodes(t)
	sub := accountCtx(t, a.st, demo.SubdistributorUser)
	macs := subMACs(t, a.st, 3)
	mac := macs[0]

	// A device connected to node B.
	f := startFleet(t, b, mac)
	waitOnline(t, f, 1, 10*time.Second)
	dev := f.Device(mac)
	eventually(t, 5*time.Second, "held by node B", func() bool { return b.srv.Gateway().Connected() == 1 })
	if d := detail(t, a, sub, mac); !d.Online {
		t.Fatalf("node A does not see the device online: %+v", d)
	}

	// A reboot asked of node A reaches it.
	tok := a.token(demo.SubdistributorUser)
	r := a.do(nil, "POST", "/api/v1/devices/"+mac+"/reboot", nil, bearer(tok))
	var id int64
	if r.StatusCode == http.StatusAccepted {
		id = int64(r.json(t)["id"].(float64))
	} else {
		// The maintenance API is not there: the store and the gateway do
		// what it does.
		t.Logf("POST reboot on node A: %d %s; using the store and Kick", r.StatusCode, r.body)
		c, err := a.st.CreateCommand(sub, mac, model.CommandReboot, "")
		if err != nil {
			t.Fatal(err)
		}
		a.srv.Gateway().Kick(sub, mac)
		id = c.ID
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	if err := dev.WaitBoots(ctx, 2); err != nil {
		t.Fatalf("the reboot from node A never reached the device on node B")
	}
	eventually(t, 5*time.Second, "reboot done", func() bool { return commandOf(t, a, sub, mac, id).Status == model.CommandDone })
	if n := dev.Executed(gateway.CommandID(id)); n != 1 {
		t.Errorf("executed %d times", n)
	}
	if err := dev.WaitOnline(ctx); err != nil {
		t.Fatal(err)
	}

	// Remote Control from node A: the device's web UI on node B.
	eventually(t, 5*time.Second, "back on node B", func() bool { return b.srv.Gateway().Connected() == 1 })
	rt := a.srv.Gateway().Tunnel(mac)
	req, _ := http.NewRequest("GET", "http://device/login?x=1", nil)
	res, err := rt.RoundTrip(req)
	if err != nil {
		t.Fatalf("tunnel from node A: %v", err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != 200 || !strings.Contains(string(body), mac) || !strings.HasPrefix(res.Header.Get("Content-Type"), "text/html") {
		t.Errorf("tunnel from node A: %d %s %.200s", res.StatusCode, res.Header, body)
	}
	req, _ = http.NewRequest("POST", "http://device/login", strings.NewReader("user=admin&password=admin"))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	res, err = rt.RoundTrip(req)
	if err != nil {
		t.Fatalf("tunnel POST from node A: %v", err)
	}
	res.Body.Close()
	if len(res.Cookies()) == 0 || res.StatusCode >= 400 {
		t.Errorf("login through node A: %d %v", res.StatusCode, res.Header)
	}
	// A body above 1 MiB does not cross nodes.
	req, _ = http.NewRequest("POST", "http://device/login", strings.NewReader(strings.Repeat("x", gateway.MaxBusBody+1)))
	if res, err := rt.RoundTrip(req); err != nil || res.StatusCode != http.StatusRequestEntityTooLarge {
		t.Errorf("oversize body across nodes: %v %v", res, err)
	}
	// An offline device answers at once.
	start := time.Now()
	if _, err := a.srv.Gateway().Tunnel(macs[1]).RoundTrip(req.Clone(context.Background())); !errors.Is(err, gateway.ErrOffline) || time.Since(start) > 2*time.Second {
		t.Errorf("offline device: %v after %v", err, time.Since(start))
	}

	// The same device connecting to node A closes its connection on node B;
	// B's late close does not take it offline.
	raw := macs[2]
	old := connectRaw(t, b, raw)
	newer := connectRaw(t, a, raw)
	if err := old.waitClosed(5 * time.Second); err != nil {
		t.Fatalf("the connection on node B: %v", err)
	}
	time.Sleep(300 * time.Millisecond)
	var node string
	var online bool
	a.st.DB().QueryRow(`SELECT node, online FROM devices WHERE mac = '`+raw+`'`).Scan(&node, &online)
	if node != "node-a" || !online {
		t.Errorf("after moving to node A: node %q online %v", node, online)
	}
	// Kicked from node B, the command reaches it on node A.
	c, err := b.st.CreateCommand(sub, raw, model.CommandReboot, "")
	if err != nil {
		t.Fatal(err)
	}
	b.srv.Gateway().Kick(sub, raw)
	m := newer.expect(t, "reboot")
	if m["id"] != gateway.CommandID(c.ID) {
		t.Errorf("command on node A: %v", m)
	}
	newer.send(t, map[string]any{"type": "ack", "id": m["id"], "ok": true})
	eventually(t, 5*time.Second, "raw reboot done", func() bool { return commandOf(t, a, sub, raw, c.ID).Status == model.CommandDone })
}

// Nodes sharing a database serve each other's AutoP writes at once: a file
// node B served before is not kept by B after node A changed it.
func TestMultiNodeAutoPFetch(t *testing.T) {
	a, b := twoNodes(t)
	mac := subMACs(t, a.st, 1)[0]
	key := devKey(mac)
	enrollKey(t, a, mac, key)
	path := "/autop/" + mac + ".cfg"
	before := b.fetchCfg(t, path, mac, key)
	if before.StatusCode != http.StatusOK {
		t.Fatalf("first fetch on node B: %d %s", before.StatusCode, before.body)
	}
	tok := a.token(demo.SubdistributorUser)
	for i := range 3 {
		line := fmt.Sprintf("Config.DoorSetting.RELAY.HoldDelayA = %d", 10+i)
		if r := a.do(nil, "PUT", "/api/v1/devices/"+mac+"/autop", map[string]any{"regular": []string{line}}, bearer(tok)); r.StatusCode != http.StatusOK {
			t.Fatalf("PUT on node A: %d %s", r.StatusCode, r.body)
		}
		got := b.fetchCfg(t, path, mac, key)
		if got.StatusCode != http.StatusOK || !strings.Contains(string(got.body), line+"\n") {
			t.Fatalf("node B after node A's write %d: %d\n%s", i, got.StatusCode, got.body)
		}
	}
}
