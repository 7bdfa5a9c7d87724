package server_test

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/gatehouse-dev/gatehouse/internal/demo"
	"github.com/gatehouse-dev/gatehouse/internal/gateway"
	"github.com/gatehouse-dev/gatehouse/internal/model"
	"github.com/gatehouse-dev/gatehouse/internal/store"
	"github.com/gatehouse-dev/gatehouse/internal/testutil"
)

// anyMACs returns n registered MACs, set offline.
func anyMACs(t testing.TB, st *store.Store, n int) []string {
	t.Helper()
	rows, err := st.DB().Query(fmt.Sprintf(`SELECT mac FROM devices ORDER BY id LIMIT %d`, n))
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
		t.Fatalf("%d devices registered, want %d", len(out), n)
	}
	if _, err := st.DB().Exec(`UPDATE devices SET online = false, node = ''`); err != nil {
		t.Fatal(err)
	}
	return out
}

func countCommands(t testing.TB, st *store.Store, where string) int {
	t.Helper()
	var n int
	if err := st.DB().QueryRow(`SELECT count(*) FROM device_commands WHERE ` + where).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// TestGatewayDropsWhileCommandsInFlight: 1,000 commands to 240 devices
// while a random 30% of the connections drop again and again; in the end
// every command is done and every device executed each of its ids once.
func TestGatewayDropsWhileCommandsInFlight(t *testing.T) {
	const devices, commands = 240, 1000
	for _, backend := range testutil.Backends(t) {
		t.Run(backend, func(t *testing.T) {
			t.Parallel()
			st := testutil.NewStore(t, backend)
			if _, err := demo.Load(context.Background(), st, demo.Options{Password: demoPassword, Users: 300, Devices: 400, Seed: 11}, io.Discard); err != nil {
				t.Fatal(err)
			}
			e := newGatewayEnv(t, backend, st, nil, gwFast(5*time.Second, 0, 0))
			macs := anyMACs(t, st, devices)
			f := startFleet(t, e, macs...)
			waitOnline(t, f, devices, 60*time.Second)

			// Drop a random 30% of the connections every 250 ms while the
			// commands are created and delivered.
			stop := make(chan struct{})
			var wg sync.WaitGroup
			wg.Add(1)
			drops := 0
			go func() {
				defer wg.Done()
				for round := 0; ; round++ {
					select {
					case <-stop:
						return
					case <-time.After(250 * time.Millisecond):
					}
					if round >= 12 {
						return
					}
					for _, i := range rand.Perm(devices)[:devices*3/10] {
						f.Device(macs[i]).Drop()
						drops++
					}
				}
			}()

			// 1,000 commands: mostly reboots, some configuration and
			// factory resets (a factory reset brings a new key).
			ctx := sysCtx()
			ids := make([][]int64, devices)
			var mu sync.Mutex
			var cwg sync.WaitGroup
			for w := 0; w < 4; w++ {
				cwg.Add(1)
				go func(w int) {
					defer cwg.Done()
					var kick []string
					for n := w; n < commands; n += 4 {
						i := n % devices
						kind, mode := model.CommandReboot, ""
						switch n % 10 {
						case 3:
							kind, mode = model.CommandReset, model.ResetConfig
						case 7:
							kind, mode = model.CommandReset, model.ResetFactory
						}
						c, err := st.CreateCommand(ctx, macs[i], kind, mode)
						if err != nil {
							t.Error(err)
							return
						}
						mu.Lock()
						ids[i] = append(ids[i], c.ID)
						mu.Unlock()
						if kick = append(kick, macs[i]); len(kick) == 25 {
							e.srv.Gateway().Kick(ctx, kick...)
							kick = nil
						}
					}
					e.srv.Gateway().Kick(ctx, kick...)
				}(w)
			}
			cwg.Wait()
			wg.Wait()
			close(stop)
			t.Logf("%d connections dropped while the commands ran", drops)

			deadline := time.Now().Add(45 * time.Second)
			for countCommands(t, st, "status <> 'done'") > 0 {
				if time.Now().After(deadline) {
					rows, _ := st.DB().Query(`SELECT c.id, d.mac, c.kind, c.mode, c.status, c.attempts FROM device_commands c JOIN devices d ON d.id = c.device_id WHERE c.status <> 'done'`)
					for rows.Next() {
						var id int64
						var m, kind, mode, status string
						var att int
						rows.Scan(&id, &m, &kind, &mode, &status, &att)
						dev := f.Device(m)
						h, _ := keyHash(t, st, m)
						t.Logf("not done: %d %s %s %s %s attempts %d; device online %v, bound to its key %v, executed %v", id, m, kind, mode, status, att,
							dev.Online(), h == store.DeviceKeyHash(dev.Key()), dev.ExecutedIDs())
						dumpDevice(t, st, m, dev.ExecutedIDs())
						t.Logf("  device key fingerprint %s, bound %.12s", store.DeviceKeyHash(dev.Key())[:12], h)
					}
					rows.Close()
					t.Fatalf("%d of %d commands not done (%d failed, %d expired); %d devices online",
						countCommands(t, st, "status <> 'done'"), commands, countCommands(t, st, "status = 'failed'"),
						countCommands(t, st, "status = 'expired'"), f.Online())
				}
				time.Sleep(100 * time.Millisecond)
			}
			if n := countCommands(t, st, "status = 'done'"); n != commands {
				t.Fatalf("%d commands done, want %d", n, commands)
			}
			resent := countCommands(t, st, "attempts > 1")
			t.Logf("%d commands were sent more than once", resent)
			for i, m := range macs {
				dev := f.Device(m)
				got := dev.ExecutedIDs()
				// A device's new key counts as the oldest factory reset sent
				// to it done (protocol §1): with two in flight, the one the
				// device did not execute is done by another it executed.
				resetsRun := 0
				for _, id := range ids[i] {
					if c := commandOf(t, e, ctx, m, id); c.Kind == model.CommandReset && c.Mode == model.ResetFactory {
						resetsRun += got[gateway.CommandID(id)]
					}
				}
				for _, id := range ids[i] {
					if n := got[gateway.CommandID(id)]; n != 1 {
						c := commandOf(t, e, ctx, m, id)
						if n == 0 && c.Kind == model.CommandReset && c.Mode == model.ResetFactory && c.Status == model.CommandDone && resetsRun > 0 {
							t.Logf("%s: factory reset %d done by another reset the device ran (its new key)", m, id)
							delete(got, gateway.CommandID(id))
							continue
						}
						t.Errorf("%s executed command %d (%s %s, %s, %d attempts) %d times", m, id, c.Kind, c.Mode, c.Status, c.Attempts, n)
						dumpDevice(t, st, m, dev.ExecutedIDs())
						h, _ := keyHash(t, st, m)
						t.Logf("  device key fingerprint %s, bound %.12s", store.DeviceKeyHash(dev.Key())[:12], h)
					}
					delete(got, gateway.CommandID(id))
				}
				if len(got) > 0 {
					t.Errorf("%s executed commands that are not its own: %v", m, got)
				}
			}
			ctx2, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			if err := f.WaitOnline(ctx2, devices); err != nil {
				for _, m := range macs {
					if dev := f.Device(m); !dev.Online() {
						h, _ := keyHash(t, st, m)
						t.Errorf("%s offline at the end: bound to its key %v", m, h == store.DeviceKeyHash(dev.Key()))
					}
				}
			}
		})
	}
}

// TestGatewayFaultsCostOneConnection: a malformed control line, a text
// message, an oversize message, an oversize control line and a reader that
// never reads each close their own connection only; the other devices stay
// online and go on receiving commands.
func TestGatewayFaultsCostOneConnection(t *testing.T) {
	const good = 20
	st := testutil.NewStore(t, "sqlite")
	if _, err := demo.Load(context.Background(), st, demo.Options{Password: demoPassword, Users: 300, Devices: 200, Seed: 7}, io.Discard); err != nil {
		t.Fatal(err)
	}
	e := newGatewayEnv(t, "sqlite", st, nil, gwFast(5*time.Second, 0, 2*time.Second))
	macs := anyMACs(t, st, good+5)
	f := startFleet(t, e, macs[:good]...)
	waitOnline(t, f, good, 15*time.Second)
	bad := macs[good:]
	ctx := sysCtx()

	// Between faults a reboot goes to every good device: each is done,
	// executed once, and the devices are back online before the next fault.
	var sent []*model.DeviceCommand
	round := func(after string) {
		t.Helper()
		var these []*model.DeviceCommand
		for _, m := range macs[:good] {
			c, err := st.CreateCommand(ctx, m, model.CommandReboot, "")
			if err != nil {
				t.Fatal(err)
			}
			these = append(these, c)
		}
		e.srv.Gateway().Kick(ctx, macs[:good]...)
		deadline := time.Now().Add(15 * time.Second)
		for _, c := range these {
			for commandOf(t, e, ctx, c.MAC, c.ID).Status != model.CommandDone {
				if time.Now().After(deadline) {
					t.Fatalf("after %s: command %d to %s not done: %+v", after, c.ID, c.MAC, commandOf(t, e, ctx, c.MAC, c.ID))
				}
				time.Sleep(50 * time.Millisecond)
			}
		}
		sent = append(sent, these...)
		waitOnline(t, f, good, 10*time.Second)
		eventually(t, 5*time.Second, "the gateway holds the good devices", func() bool { return e.srv.Gateway().Connected() == good })
	}
	round("the start")

	faults := []struct {
		name  string
		fault func(d *rawDevice)
	}{
		{"malformed control line", func(d *rawDevice) { d.ctrl.Write([]byte("this is not JSON\n")) }},
		{"a JSON array line", func(d *rawDevice) { d.ctrl.Write([]byte("[1,2,3]\n")) }},
		{"text WebSocket message", func(d *rawDevice) {
			d.ws.Write(context.Background(), websocket.MessageText, []byte(`{"type":"status"}`))
		}},
		{"oversize WebSocket message", func(d *rawDevice) {
			d.ws.Write(context.Background(), websocket.MessageBinary, make([]byte, gateway.MaxMessage+1))
		}},
		{"control line over 64 KiB", func(d *rawDevice) {
			d.ctrl.Write([]byte(`{"type":"status","ip":"` + strings.Repeat("1", gateway.MaxLine) + `"}` + "\n"))
		}},
		{"reader that never reads", func(d *rawDevice) {
			// Statuses until the server's pongs fill the stream window:
			// its write times out and it closes this connection.
			go func() {
				line := []byte(`{"type":"status"}` + "\n")
				for i := 0; i < 40000; i++ {
					d.ctrl.SetWriteDeadline(time.Now().Add(5 * time.Second))
					if _, err := d.ctrl.Write(line); err != nil {
						return
					}
				}
			}()
		}},
	}
	for i, c := range faults {
		mac := bad[i%len(bad)]
		d := connectRaw(t, e, mac)
		start := time.Now()
		c.fault(d)
		closed := make(chan error, 1)
		go func() {
			if c.name == "reader that never reads" {
				// It does not read: watch the server's view instead.
				deadline := time.Now().Add(30 * time.Second)
				for time.Now().Before(deadline) {
					if !detail(t, e, ctx, mac).Online {
						closed <- nil
						return
					}
					time.Sleep(50 * time.Millisecond)
				}
				closed <- fmt.Errorf("still online")
				return
			}
			closed <- d.waitClosed(5 * time.Second)
		}()
		if err := <-closed; err != nil {
			t.Errorf("%s: %v", c.name, err)
		} else {
			t.Logf("%s: closed after %v", c.name, time.Since(start).Round(time.Millisecond))
		}
		eventually(t, 5*time.Second, c.name+": offline", func() bool { return !detail(t, e, ctx, mac).Online })
		// The good devices kept their connections through the fault.
		if n := f.Online(); n != good {
			t.Errorf("after %s: %d of %d good devices online", c.name, n, good)
		}
		if n := e.srv.Gateway().Connected(); n != good {
			t.Errorf("after %s: the gateway holds %d connections, want %d", c.name, n, good)
		}
		round(c.name)
	}
	for _, c := range sent {
		if n := f.Device(c.MAC).Executed(gateway.CommandID(c.ID)); n != 1 {
			t.Errorf("%s executed %d %d times", c.MAC, c.ID, n)
		}
	}
}

func dumpDevice(t *testing.T, st *store.Store, mac string, executed map[string]int) {
	l, _ := st.ListAudit(sysCtx(), model.AuditFilter{ObjectType: "device", ObjectID: mac, Page: model.Page{Page: 1, PerPage: 200}})
	for i := len(l.Items) - 1; i >= 0; i-- {
		e := l.Items[i]
		t.Logf("  audit %s %s %v", e.At.Format("15:04:05.000000"), e.Action, e.Details)
	}
	cs, _ := st.ListCommands(sysCtx(), mac, 100)
	for i := len(cs) - 1; i >= 0; i-- {
		c := cs[i]
		var sent, fin string
		if c.Sent != nil {
			sent = c.Sent.Format("15:04:05.000000")
		}
		if c.Finished != nil {
			fin = c.Finished.Format("15:04:05.000000")
		}
		t.Logf("  command %d %s %s %s attempts %d sent %s finished %s executed %d", c.ID, c.Kind, c.Mode, c.Status, c.Attempts, sent, fin, executed[gateway.CommandID(c.ID)])
	}
}
