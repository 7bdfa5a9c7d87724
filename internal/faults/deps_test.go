package faults_test

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"slices"
	"strconv"
	"testing"
	"time"
)

// The messages a refused request carries (model.MsgDatabaseUnavailable,
// model.MsgDiskFull): the suite tests the binary, so it spells them out.
const (
	depsMsgDown = "The database is unavailable right now; please try again in a few seconds."
	depsMsgFull = "The data disk is full; changes are refused until space is freed (reading still works)."
)

// TestDepsPostgresRestart: PostgreSQL stopped under a load of API reads,
// writes, logins and portal pages, then started again. While it is down every
// request is refused with 503, Retry-After and a message saying the
// database is unavailable (never 500, never a dropped connection); once it
// is back requests succeed again without restarting Gatehouse; every write
// that was acknowledged is in the database, once.
func TestDepsPostgresRestart(t *testing.T) {
	if !slices.Contains(engines(t), "postgres") {
		return // engines said why (CI requires PostgreSQL)
	}
	rng := seeded(t)
	t0 := time.Now()
	pg := startDepsPG(t)
	t.Logf("cluster made and started in %s", time.Since(t0).Round(100*time.Millisecond))
	// PostgreSQL as in production: a commit is acknowledged once its WAL is
	// flushed (the test cluster's default is off, which an immediate stop
	// could lose acknowledged commits to).
	d := &database{Engine: "postgres", Data: t.TempDir(), DSN: pg.DSN + "&synchronous_commit=on"}
	d.Seed(t, 20, 30)
	n := startNode(t, d, "a")
	load := startDepsLoad(t, d, n.URL(), "deps-pg", 2, 2)
	t.Logf("seeded, node and load started in %s", time.Since(t0).Round(100*time.Millisecond))
	defer load.Stop()

	outages := size([]string{"fast"}, []string{"immediate", "fast"})
	for i, mode := range outages {
		// Some normal traffic first, at a random length.
		time.Sleep(time.Duration(500+rng.IntN(1500)) * time.Millisecond)
		down := time.Now()
		pg.Stop(mode)
		stopped := time.Now()
		time.Sleep(size(3*time.Second, time.Duration(2+rng.IntN(3))*time.Second))
		pg.Start()
		back := time.Now()
		during := load.Since(stopped)
		// Recovery: from PostgreSQL accepting again (pg-start.sh returned)
		// to the first success of each kind of request.
		first := map[string]time.Duration{}
		eventually(t, 60*time.Second, "every kind of request succeeds after PostgreSQL is back", func() bool {
			for _, r := range load.Since(back) {
				if _, ok := first[r.Kind]; !ok && r.Status/100 == 2 {
					first[r.Kind] = r.End.Sub(back)
				}
			}
			return len(first) == 4
		})
		recovered := max(first["read"], first["write"], first["page"])
		// From half a second after recovery on, everything succeeds.
		settled := time.Now().Add(500 * time.Millisecond)
		time.Sleep(2500 * time.Millisecond)
		for k, r := range load.Since(settled) {
			if r.Status/100 != 2 && k < 5 {
				t.Errorf("outage %d: after recovery: %s %d %.200s %v", i, r.Kind, r.Status, r.Body, r.Err)
			}
		}
		var outage []depsResult
		for _, r := range during {
			if r.Start.Before(back) {
				outage = append(outage, r)
			}
		}
		for _, kind := range []string{"read", "write", "page", "login"} {
			if depsCount(outage, kind, 503) == 0 {
				t.Errorf("outage %d: no %s was refused while PostgreSQL was down: %s", i, kind, depsTally(outage))
			}
		}
		five := 0
		for _, r := range outage {
			if r.Status == 503 {
				five++
			}
		}
		bad := 0
		for _, r := range load.Since(down) {
			if why := depsRefusal(r, depsMsgDown); why != "" {
				bad++
				if bad <= 5 {
					t.Errorf("outage %d (%s): %s", i, mode, why)
				}
			}
		}
		figure(t, "PostgreSQL stopped (-m %s) for %s: %d requests from the stop to its restart (%s), %d answered 503 with Retry-After and the message; wrong answers (500, none, no Retry-After) since the stop: %d; reads, writes and pages succeed again %s after it accepts connections, logins %s; no restart of Gatehouse",
			mode, back.Sub(stopped).Round(100*time.Millisecond), len(outage), depsTally(outage), five, bad, recovered.Round(10*time.Millisecond), first["login"].Round(10*time.Millisecond))
	}
	res := load.Stop()

	acked := depsCheckWrites(t, d, "deps-pg", res)
	figure(t, "%d requests in all (%s); %d acknowledged writes all present once, violations 0", len(res), depsTally(res), acked)
}

// TestDepsDiskFull: SQLite's data disk fills up under a load of API reads,
// writes, logins and portal pages. Writes (and logins, which write a
// session) are refused with 503 and a message saying the disk is full
// (never 500), reads and pages go on; once space is freed
// writes succeed again without a restart; the database is not corrupted
// (integrity_check) and every acknowledged write is there, once.
func TestDepsDiskFull(t *testing.T) {
	dk := newDepsDisk(t, 48)
	d := &database{Engine: "sqlite", Data: dk.Dir, DSN: filepath.Join(dk.Dir, "gatehouse.db")}
	d.Seed(t, 20, 30)
	n := startNode(t, d, "a")
	load := startDepsLoad(t, d, n.URL(), "deps-disk", 2, 2)
	defer load.Stop()
	rounds := 1 // the full run's budget goes to the NATS minute: one fill, held longer
	for i := range rounds {
		time.Sleep(time.Second)
		// The portal's next page comes when the disk is full, a session
		// last seen minutes ago: reading it must not need its last-seen
		// written.
		resume := load.PausePages()
		d.Exec(t, `UPDATE sessions SET last_seen_at = datetime('now', '-2 minutes')`)
		dk.Fill(n)
		full := time.Now()
		refused := eventually(t, 60*time.Second, "a write refused for the full disk", func() bool {
			for _, r := range load.Since(full) {
				if r.Kind == "write" && r.Status == 503 {
					return true
				}
			}
			return false
		})
		resume()
		time.Sleep(size(3*time.Second, 6*time.Second))
		freed := time.Now()
		dk.Free()
		during := load.Since(full)
		var whileFull []depsResult
		for _, r := range during {
			if r.End.Before(freed) {
				whileFull = append(whileFull, r)
			}
		}
		recovered := eventually(t, 60*time.Second, "a write succeeds after space is freed", func() bool {
			for _, r := range load.Since(freed) {
				if r.Kind == "write" && r.Status/100 == 2 {
					return true
				}
			}
			return false
		})
		settled := time.Now().Add(500 * time.Millisecond)
		time.Sleep(2500 * time.Millisecond)
		for k, r := range load.Since(settled) {
			if r.Status/100 != 2 && k < 5 {
				t.Errorf("round %d: after space was freed: %s %d %.200s %v", i, r.Kind, r.Status, r.Body, r.Err)
			}
		}
		bad := 0
		for _, r := range whileFull {
			why := depsRefusal(r, depsMsgFull)
			// A login writes its session: refused like a write.
			if why == "" && r.Kind != "write" && r.Kind != "login" && r.Status/100 != 2 {
				why = fmt.Sprintf("%s refused on a full disk (reads must go on): %d %.200s", r.Kind, r.Status, r.Body)
			}
			if why != "" {
				bad++
				if bad <= 5 {
					t.Errorf("round %d: %s", i, why)
				}
			}
		}
		figure(t, "data disk full (%s): first write refused %s after; while full %d requests (%s), %d wrong (500, reads refused, no message); writes succeed %s after space is freed, no restart",
			dk.How(), refused.Round(100*time.Millisecond), len(whileFull), depsTally(whileFull), bad, recovered.Round(100*time.Millisecond))
	}
	res := load.Stop()
	n.Stop()
	var check string
	if err := d.SQL(t).QueryRow(`PRAGMA integrity_check`).Scan(&check); err != nil || check != "ok" {
		t.Fatalf("integrity_check: %q %v", check, err)
	}
	acked := depsCheckWrites(t, d, "deps-disk", res)
	figure(t, "%d requests in all (%s); integrity_check ok; %d acknowledged writes all present once with their audit entry, violations 0", len(res), depsTally(res), acked)
}

// depsResendEvery is the gateway's sweep of queued commands: serve's
// --resend-every (gateway.DefaultResendEvery, 30 s, unless set). A command
// whose kick was lost (the bus down) is sent by the sweep of the node
// holding the device within this bound, plus the sweep's own time. The
// full run keeps the default; the short run sets 4 s, to stay short.
var depsResendEvery = size(4*time.Second, 30*time.Second)

// TestDepsNATSDown: two nodes on one NATS server, the devices on node B,
// reboots asked through node A — whose kick reaches B over NATS. NATS is
// shut down (a minute in the full run) and started again on its port.
// Commands asked while it is down are still executed, each exactly once,
// within the sweep's bound; in the full run those asked long enough before
// NATS returns are executed while it is still down (the sweep, not the
// bus, delivered them). Once NATS is back, kicks cross nodes again at once.
func TestDepsNATSDown(t *testing.T) {
	es := engines(t)
	engine := es[len(es)-1] // PostgreSQL when there is one: what several nodes share
	d := newDatabase(t, engine)
	outage := size(5*time.Second, 60*time.Second)
	slots := size(2, 6) // moments in the outage a group of reboots is asked
	per := size(2, 3)   // devices per group
	const kicks = 3     // groups asked after NATS returned
	groups := 1 + slots + kicks
	devices := groups * per
	d.Seed(t, 10, devices+5)
	nats := startDepsNATS(t)
	flags := []string{"--nats", nats.URL(), "--resend-every", depsResendEvery.String()}
	a := startNode(t, d, "a", flags...)
	b := startNode(t, d, "b", flags...)
	s := startSim(t, d, b.URL(), devices)
	eventually(t, 60*time.Second, "devices online on b", func() bool {
		return d.Count(t, `SELECT count(*) FROM devices WHERE online AND node = 'b'`) == devices
	})
	j := watchDepsJournal(t, s)
	macs := d.Strings(t, `SELECT mac FROM devices WHERE online AND node = 'b' ORDER BY id`)
	c := newClient(a.URL(), d.Token(t, "demo-admin"))
	type asked struct {
		id, mac string
		at      time.Time
	}
	var all []asked
	reboot := func(group int) []asked {
		var out []asked
		for _, mac := range macs[group*per : (group+1)*per] {
			at := time.Now()
			st, body, err := c.Do("POST", "/api/v1/devices/"+mac+"/reboot", nil)
			if err != nil || st != 202 {
				t.Fatalf("reboot %s through a: %d %s %v", mac, st, body, err)
			}
			var cmd struct{ ID int64 }
			if err := json.Unmarshal(body, &cmd); err != nil || cmd.ID == 0 {
				t.Fatalf("reboot answer %s: %v", body, err)
			}
			out = append(out, asked{"c" + strconv.FormatInt(cmd.ID, 10), mac, at}) // the wire id (gateway.CommandID)
		}
		all = append(all, out...)
		return out
	}
	// delivered waits until the group's commands are executed and returns
	// the longest delay from asking to execution.
	delivered := func(g []asked, within time.Duration, what string) time.Duration {
		var worst time.Duration
		eventually(t, within, what, func() bool {
			for _, x := range g {
				if _, ok := j.Seen(x.id); !ok {
					return false
				}
			}
			return true
		})
		for _, x := range g {
			at, _ := j.Seen(x.id)
			worst = max(worst, at.Sub(x.at))
		}
		return worst
	}
	kick := delivered(reboot(0), 10*time.Second, "reboot through a with NATS up")

	nats.Stop()
	down := time.Now()
	var during [][]asked
	for k := range slots {
		time.Sleep(time.Until(down.Add(outage * time.Duration(k) / time.Duration(slots))))
		during = append(during, reboot(1+k))
	}
	time.Sleep(time.Until(down.Add(outage)))
	nats.Start()
	up := time.Now()
	bound := depsResendEvery + 5*time.Second
	var worst, beforeUp time.Duration
	sweptWhileDown := 0
	for k, g := range during {
		w := delivered(g, time.Until(g[0].at.Add(bound+5*time.Second)), fmt.Sprintf("reboots asked %s into the outage", g[0].at.Sub(down).Round(time.Second)))
		worst = max(worst, w)
		if w > bound {
			t.Errorf("group %d: executed %s after it was asked, past the sweep's bound %s", k, w.Round(100*time.Millisecond), bound)
		}
		for _, x := range g {
			at, _ := j.Seen(x.id)
			if at.Before(up) {
				sweptWhileDown++
				beforeUp = max(beforeUp, at.Sub(x.at))
			} else if up.Sub(x.at) > bound {
				t.Errorf("command %s asked %s before NATS returned, executed only after it did: the sweep did not deliver it", x.id, up.Sub(x.at).Round(time.Second))
			}
		}
	}
	// NATS back: kicks cross nodes again. Three groups, each asked once the
	// one before was executed, each executed within 2 s: the three
	// executions are three deliveries within 7 s, which sweeps at least
	// 4 s apart cannot all be — at least one went a→b over NATS.
	time.Sleep(2 * time.Second) // the nodes reconnect (every second)
	var after time.Duration
	for k := range kicks {
		time.Sleep(500 * time.Millisecond)
		after = max(after, delivered(reboot(1+slots+k), 2*time.Second, fmt.Sprintf("reboot %d through a after NATS returned", k+1)))
	}

	// Exactly once: every command asked executed once, on its device;
	// nothing executed twice (a second execution would come soon after
	// the first: a resend of a command the device already acknowledged).
	time.Sleep(time.Second)
	runs, by := j.Runs()
	for _, x := range all {
		if runs[x.id] != 1 || by[x.id] != x.mac {
			t.Errorf("command %s for %s: executed %d times (by %s)", x.id, x.mac, runs[x.id], by[x.id])
		}
	}
	for id, n := range runs {
		if n != 1 {
			t.Errorf("command %s executed %d times", id, n)
		}
	}
	if n := d.Count(t, `SELECT count(*) FROM device_commands WHERE kind = 'reboot' AND status = 'done'`); n != len(all) {
		t.Errorf("%d reboots done in the database, want %d", n, len(all))
	}
	figure(t, "NATS down %s, 2 nodes, %d devices on b, reboots asked through a: %d asked during the outage all executed once, longest delay %s (sweep bound %s = ResendEvery %s + 5 s); %d executed while NATS was still down (longest %s); kick a→b %s before, ≤ %s after NATS returned; executed twice: 0",
		outage, devices, slots*per, worst.Round(100*time.Millisecond), bound, depsResendEvery, sweptWhileDown, beforeUp.Round(100*time.Millisecond),
		kick.Round(10*time.Millisecond), after.Round(10*time.Millisecond))
}
