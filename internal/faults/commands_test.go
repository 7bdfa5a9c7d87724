package faults_test

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// The command and rollout scenarios of the fault suite: the devices' node
// killed with SIGKILL at random points while commands are delivered to
// many devices and while a firmware rollout's wave is under way, then
// started again; afterwards every acknowledged command exists and ended
// done, every device executed each of its commands exactly once, the audit
// matches the commands, and the rollout finished with every device
// upgraded once. On PostgreSQL a second node shares the database and a
// NATS bus: its API stays up while the devices' node is down.

// TestCommandsSurviveKills: a reboot to every device through the API while
// the devices' node is killed and restarted.
func TestCommandsSurviveKills(t *testing.T) {
	for _, engine := range engines(t) {
		t.Run(engine, func(t *testing.T) {
			rng := seeded(t)
			devices, perDevice, kills := size(100, 1000), 1, size(1, 3)
			d := newDatabase(t, engine)
			d.Seed(t, 10, devices)
			// Only the simulated devices are online (the demo makes some up).
			d.Exec(t, `UPDATE devices SET online = false, node = ''`)
			c := cmdsStart(t, d)
			s := startSim(t, d, c.a.URL(), devices)
			eventually(t, 120*time.Second, "devices online", func() bool {
				return d.Count(t, `SELECT count(*) FROM devices WHERE online AND node = 'a'`) == devices
			})
			token := d.Token(t, "demo-admin")
			macs := cmdsMACs(t, d, devices)
			work := make([]string, 0, devices*perDevice)
			for range perDevice {
				work = append(work, macs...)
			}
			rng.Shuffle(len(work), func(i, j int) { work[i], work[j] = work[j], work[i] })
			points := make([]int, kills)
			for i := range points {
				points[i] = len(work)/10 + rng.IntN(len(work)*8/10)
			}
			slices.Sort(points)
			t.Logf("%d commands to %d devices, the node killed after %v of them were acknowledged", len(work), devices, points)

			// The API clients: 8 at once; a command not acknowledged (the
			// node is down, a 5xx) is asked again, as a person would.
			var (
				mu       sync.Mutex
				acked    = map[int64]string{} // command id → MAC
				unacked  int                  // requests not answered 2xx
				bad      []string             // answers no retry explains
				next     atomic.Int64
				ackCount atomic.Int64
				wg       sync.WaitGroup
			)
			clients := make([]*client, len(c.nodes))
			for i, n := range c.nodes {
				clients[i] = newClient(n.URL(), token)
			}
			stop := make(chan struct{})
			for w := range 8 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for {
						i := int(next.Add(1)) - 1
						if i >= len(work) {
							return
						}
						mac := work[i]
						for attempt := 0; ; attempt++ {
							select {
							case <-stop:
								return
							default:
							}
							cl := clients[(w+i+attempt)%len(clients)]
							st, body, err := cl.Do("POST", "/api/v1/devices/"+mac+"/reboot", nil)
							if err == nil && st == 202 {
								var cmd struct {
									ID  int64  `json:"id"`
									MAC string `json:"mac"`
								}
								if err := json.Unmarshal(body, &cmd); err != nil || cmd.ID == 0 || cmd.MAC != mac {
									mu.Lock()
									bad = append(bad, fmt.Sprintf("%s: 202 %s", mac, body))
									mu.Unlock()
								}
								mu.Lock()
								acked[cmd.ID] = mac
								mu.Unlock()
								ackCount.Add(1)
								break
							}
							mu.Lock()
							unacked++
							if err == nil && st < 500 {
								bad = append(bad, fmt.Sprintf("%s: %d %s", mac, st, body))
							}
							mu.Unlock()
							if err == nil && st < 500 {
								break
							}
							time.Sleep(50 * time.Millisecond)
						}
					}
				}()
			}
			finished := make(chan struct{})
			go func() { wg.Wait(); close(finished) }()
			defer func() {
				select {
				case <-finished:
				default:
					close(stop)
					<-finished
				}
			}()

			restarted := time.Now()
			for _, p := range points {
				deadline := time.Now().Add(120 * time.Second)
				for ackCount.Load() < int64(p) {
					if time.Now().After(deadline) {
						t.Fatalf("%d of %d commands acknowledged within 2 min", ackCount.Load(), len(work))
					}
					time.Sleep(time.Millisecond)
				}
				time.Sleep(time.Duration(rng.IntN(200)) * time.Millisecond)
				c.a.Kill()
				time.Sleep(time.Duration(rng.IntN(1000)) * time.Millisecond)
				restarted = time.Now()
				c.a.Start()
			}
			select {
			case <-finished:
			case <-time.After(3 * time.Minute):
				t.Fatalf("%d of %d commands acknowledged within 3 min", ackCount.Load(), len(work))
			}
			eventually(t, 3*time.Minute, "every command done", func() bool {
				return d.Count(t, `SELECT count(*) FROM device_commands WHERE status <> 'done'`) == 0 &&
					d.Count(t, `SELECT count(*) FROM device_commands`) >= len(acked)
			})
			recovery := time.Since(restarted) // from the last restart to all done
			eventually(t, 60*time.Second, "the devices back online", func() bool {
				return d.Count(t, `SELECT count(*) FROM devices WHERE online AND node = 'a'`) == devices
			})

			violations := 0
			violation := func(format string, args ...any) {
				t.Helper()
				violations++
				if violations <= 20 {
					t.Errorf(format, args...)
				}
			}
			for _, b := range bad {
				violation("an answer neither 202 nor a node down: %s", b)
			}
			// Every command the database holds, with its device.
			type command struct {
				mac, kind, status string
			}
			stored := map[int64]command{}
			cmdsQuery(t, d, `SELECT c.id, d.mac, c.kind, c.status FROM device_commands c JOIN devices d ON d.id = c.device_id`,
				func(scan func(...any) error) error {
					var id int64
					var c command
					if err := scan(&id, &c.mac, &c.kind, &c.status); err != nil {
						return err
					}
					stored[id] = c
					return nil
				})
			for id, mac := range acked {
				if c, ok := stored[id]; !ok || c.mac != mac || c.kind != "reboot" {
					violation("acknowledged command %d to %s: stored as %+v (%v)", id, mac, c, ok)
				}
			}
			if extra := len(stored) - len(acked); extra < 0 || extra > unacked {
				violation("%d commands stored, %d acknowledged, %d requests not acknowledged", len(stored), len(acked), unacked)
			}
			// Each device executed each of its commands exactly once, and
			// nothing else.
			ran := s.Executions()
			for id, c := range stored {
				if c.status != "done" {
					violation("command %d to %s: %s", id, c.mac, c.status)
				}
				if n := ran[c.mac]["c"+strconv.FormatInt(id, 10)]; n != 1 {
					violation("command %d executed %d times by %s", id, n, c.mac)
				}
			}
			executions := 0
			for mac, ids := range ran {
				for cid, n := range ids {
					executions += n
					id, err := strconv.ParseInt(cid[1:], 10, 64)
					if c, ok := stored[id]; err != nil || cid[0] != 'c' || !ok || c.mac != mac {
						violation("%s executed %s, a command it was never given", mac, cid)
					}
				}
			}
			// One audit entry per command, naming its device.
			audited := map[int64]int{}
			cmdsQuery(t, d, `SELECT object_id, details FROM audit_log WHERE action = 'device.reboot'`, func(scan func(...any) error) error {
				var mac, details string
				if err := scan(&mac, &details); err != nil {
					return err
				}
				var det struct {
					CommandID int64 `json:"command_id"`
				}
				if err := json.Unmarshal([]byte(details), &det); err != nil {
					return err
				}
				audited[det.CommandID]++
				if c, ok := stored[det.CommandID]; !ok || c.mac != mac {
					violation("audit entry of command %d for %s: no such command", det.CommandID, mac)
				}
				return nil
			})
			for id := range stored {
				if audited[id] != 1 {
					violation("command %d audited %d times", id, audited[id])
				}
			}
			// No device is held online by a connection older than the last
			// restart: the restarted node cleared what its dead run left.
			if n := d.Count(t, `SELECT count(*) FROM devices WHERE online AND node = 'a' AND connected_at < ?`, restarted.UTC()); n != 0 {
				violation("%d devices still online from the node's run before the restart", n)
			}

			_, peak := c.a.Memory()
			// A graceful stop while the devices are connected (and keep
			// trying to come back): the node leaves none of them online.
			c.a.Stop()
			if n := d.Count(t, `SELECT count(*) FROM devices WHERE online AND node = 'a'`); n != 0 {
				violation("%d devices left online by the stopped node", n)
			}
			timeouts := cmdsCheckLogs(t, c, violation)
			figure(t, "%d commands to %d devices checked (%d acknowledged, %d requests refused while the node was down), %d executions, "+
				"%d kills (SIGKILL) of the devices' node, %d violations; all done %s after the last restart; node peak RSS %.0f MiB; %d writes timed out under load",
				len(stored), devices, len(acked), unacked, executions, kills, violations, recovery.Round(100*time.Millisecond), float64(peak)/1024, timeouts)
		})
	}
}

// TestRolloutSurvivesKills: a firmware rollout whose devices' node is
// killed and restarted in the middle of its waves.
func TestRolloutSurvivesKills(t *testing.T) {
	for _, engine := range engines(t) {
		t.Run(engine, func(t *testing.T) {
			rng := seeded(t)
			devices, kills := size(24, 200), size(1, 3)
			d := newDatabase(t, engine)
			d.Seed(t, 10, devices)
			d.Exec(t, `UPDATE devices SET online = false, node = ''`)
			c := cmdsStart(t, d, "--rollout-every", "200ms")
			s := startSim(t, d, c.a.URL(), devices, "--upgrade-step-time", "100ms")
			eventually(t, 120*time.Second, "devices online", func() bool {
				return d.Count(t, `SELECT count(*) FROM devices WHERE online AND node = 'a'`) == devices
			})
			api := c.nodes[len(c.nodes)-1] // b on PostgreSQL: up while a is down
			admin := newClient(api.URL(), d.Token(t, "demo-admin"))

			const version = "29.40.0.7"
			img := make([]byte, 96<<10)
			for i := range img {
				img[i] = byte(rng.Uint32())
			}
			sum := sha256.Sum256(img)
			q := url.Values{"version": {version}, "model": {"R29C"}, "change_log": {"fault suite"}, "sha256": {hex.EncodeToString(sum[:])}}
			st, body, err := admin.DoType("POST", "/api/v1/firmware/upload?"+q.Encode(), "application/octet-stream", img)
			if err != nil || st != 201 {
				t.Fatalf("upload: %d %s %v", st, body, err)
			}
			var fw struct {
				ID int64 `json:"id"`
			}
			json.Unmarshal(body, &fw)
			in := map[string]any{"firmware_id": fw.ID, "name": "fault suite", "targets": map[string]any{"online": true},
				"plan": map[string]any{"canary_count": 5, "wave_percent": 25, "failure_threshold": 10, "device_timeout": 300}}
			st, body, err = admin.Do("POST", "/api/v1/rollouts", in)
			if err != nil || st != 201 {
				t.Fatalf("create: %d %s %v", st, body, err)
			}
			var ro struct {
				ID    int64 `json:"id"`
				Total int   `json:"total"`
			}
			json.Unmarshal(body, &ro)
			if ro.Total != devices {
				t.Fatalf("the rollout takes %d devices, %d are online", ro.Total, devices)
			}
			if st, body, err := admin.Do("POST", fmt.Sprintf("/api/v1/rollouts/%d/start", ro.ID), nil); err != nil || st != 200 {
				t.Fatalf("start: %d %s %v", st, body, err)
			}
			started := time.Now()

			// Kill the devices' node while upgrades are under way, after a
			// random share of them ended.
			points := make([]int, kills)
			for i := range points {
				points[i] = rng.IntN(devices * 9 / 10)
			}
			slices.Sort(points)
			t.Logf("%d devices; the node killed during a wave after %v upgrades were done", devices, points)
			restarted := started
			for _, p := range points {
				eventually(t, 3*time.Minute, fmt.Sprintf("%d upgrades done and some under way", p), func() bool {
					return d.Count(t, `SELECT count(*) FROM firmware_upgrades WHERE rollout_id = ? AND state = 'done'`, ro.ID) >= p &&
						d.Count(t, `SELECT count(*) FROM firmware_upgrades WHERE rollout_id = ? AND state IN
							('queued','sent','downloading','verifying','installing','rebooting')`, ro.ID) > 0
				})
				time.Sleep(time.Duration(rng.IntN(300)) * time.Millisecond)
				c.a.Kill()
				time.Sleep(time.Duration(rng.IntN(1000)) * time.Millisecond)
				restarted = time.Now()
				c.a.Start()
			}
			eventually(t, 4*time.Minute, "the rollout done", func() bool {
				return d.Count(t, `SELECT count(*) FROM rollouts WHERE id = ? AND status = 'done'`, ro.ID) == 1
			})
			recovery, total := time.Since(restarted), time.Since(started)

			violations := 0
			violation := func(format string, args ...any) {
				t.Helper()
				violations++
				if violations <= 20 {
					t.Errorf(format, args...)
				}
			}
			type upgrade struct {
				mac, state, toVersion, firmware, err string
				wave, attempts                       int
			}
			ups := map[int64]upgrade{}
			resends := 0
			cmdsQuery(t, d, `SELECT u.id, dv.mac, u.state, u.to_version, dv.firmware, u.error, u.wave, u.attempts
				FROM firmware_upgrades u JOIN devices dv ON dv.id = u.device_id WHERE u.rollout_id = ?`, func(scan func(...any) error) error {
				var id int64
				var u upgrade
				if err := scan(&id, &u.mac, &u.state, &u.toVersion, &u.firmware, &u.err, &u.wave, &u.attempts); err != nil {
					return err
				}
				ups[id] = u
				resends += u.attempts - 1
				return nil
			}, ro.ID)
			if len(ups) != devices {
				violation("%d upgrades in the rollout, %d devices", len(ups), devices)
			}
			ran := s.Executions()
			perWave := map[int]int{}
			for id, u := range ups {
				perWave[u.wave]++
				if u.state != "done" || u.toVersion != version || u.firmware != version || u.attempts < 1 {
					violation("upgrade %d of %s: %+v", id, u.mac, u)
				}
				if n := ran[u.mac]["u"+strconv.FormatInt(id, 10)]; n != 1 {
					violation("%s executed its upgrade %d %d times", u.mac, id, n)
				}
			}
			upgraded := 0
			for mac, ids := range ran {
				for cid, n := range ids {
					upgraded += n
					id, err := strconv.ParseInt(cid[1:], 10, 64)
					if u, ok := ups[id]; err != nil || cid[0] != 'u' || !ok || u.mac != mac {
						violation("%s executed %s, a command it was never given", mac, cid)
					}
				}
			}
			if n := d.Count(t, `SELECT count(*) FROM devices WHERE firmware = ?`, version); n != devices {
				violation("%d devices on %s, %d upgraded", n, version, devices)
			}
			// The rollout's counters, as its API shows them, match the rows
			// and the devices.
			st, body, err = admin.Do("GET", fmt.Sprintf("/api/v1/rollouts/%d/progress", ro.ID), nil)
			if err != nil || st != 200 {
				t.Fatalf("progress: %d %s %v", st, body, err)
			}
			var p struct {
				Status  string         `json:"status"`
				Total   int            `json:"total"`
				Ended   int            `json:"ended"`
				Percent int            `json:"percent"`
				ByState map[string]int `json:"by_state"`
				ByWave  []struct {
					Wave    int            `json:"wave"`
					Total   int            `json:"total"`
					ByState map[string]int `json:"by_state"`
				} `json:"by_wave"`
			}
			if err := json.Unmarshal(body, &p); err != nil {
				t.Fatal(err)
			}
			if p.Status != "done" || p.Total != devices || p.Ended != devices || p.Percent != 100 || p.ByState["done"] != devices {
				violation("progress %s", body)
			}
			waves := 0
			for _, w := range p.ByWave {
				waves++
				if w.Total != perWave[w.Wave] || w.ByState["done"] != w.Total {
					violation("wave %d: %+v, %d upgrades in the rows", w.Wave, w, perWave[w.Wave])
				}
			}
			if waves != len(perWave) {
				violation("%d waves in the progress, %d in the rows", waves, len(perWave))
			}
			for _, action := range []string{"rollout.create", "rollout.start", "rollout.done"} {
				if n := d.Count(t, `SELECT count(*) FROM audit_log WHERE action = ? AND object_id = ?`, action, strconv.FormatInt(ro.ID, 10)); n != 1 {
					violation("%s audited %d times", action, n)
				}
			}
			if n := d.Count(t, `SELECT count(*) FROM audit_log WHERE action = 'rollout.pause'`); n != 0 {
				violation("the rollout paused %d times", n)
			}

			_, peak := c.a.Memory()
			c.a.Stop()
			if n := d.Count(t, `SELECT count(*) FROM devices WHERE online AND node = 'a'`); n != 0 {
				violation("%d devices left online by the stopped node", n)
			}
			timeouts := cmdsCheckLogs(t, c, violation)
			figure(t, "rollout to %d devices in %d waves, %d kills (SIGKILL) of the devices' node during waves: %d upgrades executed, %d resends, "+
				"%d violations; done %s after the last restart (%s from start); node peak RSS %.0f MiB; %d writes timed out under load",
				devices, waves, kills, upgraded, resends, violations, recovery.Round(100*time.Millisecond), total.Round(100*time.Millisecond), float64(peak)/1024, timeouts)
		})
	}
}
