package faults_test

import (
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"slices"
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
// writes and portal pages, then started again. While it is down every
// request is refused with 503, Retry-After and a message saying the
// database is unavailable (never 500, never a dropped connection); once it
// is back requests succeed again without restarting Gatehouse; every write
// that was acknowledged is in the database, once.
func TestDepsPostgresRestart(t *testing.T) {
	if !slices.Contains(engines(t), "postgres") {
		return // engines said why (CI requires PostgreSQL)
	}
	seed := rand.Uint64()
	rng := rand.New(rand.NewPCG(seed, 18))
	t.Logf("seed %d", seed)
	pg := startDepsPG(t)
	// PostgreSQL as in production: a commit is acknowledged once its WAL is
	// flushed (the test cluster's default is off, which an immediate stop
	// could lose acknowledged commits to).
	d := &database{Engine: "postgres", Data: t.TempDir(), DSN: pg.DSN + "&synchronous_commit=on"}
	d.Seed(t, 20, 30)
	n := startNode(t, d, "a")
	load := startDepsLoad(t, d, n.URL(), "deps-pg", 2, 2)
	defer load.Stop()

	outages := size([]string{"fast"}, []string{"fast", "immediate", "fast"})
	for i, mode := range outages {
		// Some normal traffic first, at a random length.
		time.Sleep(time.Duration(500+rng.IntN(1500)) * time.Millisecond)
		down := time.Now()
		pg.Stop(mode)
		stopped := time.Now()
		time.Sleep(size(3*time.Second, time.Duration(4+rng.IntN(6))*time.Second))
		pg.Start()
		back := time.Now()
		during := load.Since(stopped)
		var recovered time.Duration
		for _, kind := range []string{"read", "write", "page"} {
			took := eventually(t, 60*time.Second, kind+" succeeds after PostgreSQL is back", func() bool {
				for _, r := range load.Since(back) {
					if r.Kind == kind && r.Status/100 == 2 {
						return true
					}
				}
				return false
			})
			recovered = max(recovered, took)
		}
		// Two seconds after recovery: everything succeeds.
		settled := time.Now().Add(time.Second)
		time.Sleep(3 * time.Second)
		for _, r := range load.Since(settled) {
			if r.Status/100 != 2 {
				t.Errorf("outage %d: after recovery: %s %d %.200s %v", i, r.Kind, r.Status, r.Body, r.Err)
			}
		}
		var outage []depsResult
		for _, r := range during {
			if r.Start.Before(back) {
				outage = append(outage, r)
			}
		}
		for _, kind := range []string{"read", "write", "page"} {
			if depsCount(outage, kind, 503) == 0 {
				t.Errorf("outage %d: no %s was refused while PostgreSQL was down: %s", i, kind, depsTally(outage))
			}
		}
		var five, bad int
		for _, r := range load.Since(down) {
			if r.Status == 503 {
				five++
			}
			if why := depsRefusal(r, depsMsgDown); why != "" {
				bad++
				if bad <= 5 {
					t.Errorf("outage %d (%s): %s", i, mode, why)
				}
			}
		}
		figure(t, "PostgreSQL stopped (-m %s) for %s: %d requests while down (%s): %d answered 503 with the message, %d wrong (500, no answer, no Retry-After); all kinds succeed %s after it is back, no restart of Gatehouse",
			mode, back.Sub(stopped).Round(100*time.Millisecond), len(outage), depsTally(outage), five, bad, recovered.Round(100*time.Millisecond))
	}
	res := load.Stop()

	acked := depsCheckWrites(t, d, "deps-pg", res)
	figure(t, "%d requests in all (%s); %d acknowledged writes all present once, violations 0", len(res), depsTally(res), acked)
}

// TestDepsDiskFull: SQLite's data disk fills up under a load of API reads,
// writes and portal pages. Writes are refused with 503 and a message saying
// the disk is full (never 500), reads and pages go on; once space is freed
// writes succeed again without a restart; the database is not corrupted
// (integrity_check) and every acknowledged write is there, once.
func TestDepsDiskFull(t *testing.T) {
	dk := newDepsDisk(t, 48)
	d := &database{Engine: "sqlite", Data: dk.Dir, DSN: filepath.Join(dk.Dir, "gatehouse.db")}
	d.Seed(t, 20, 30)
	n := startNode(t, d, "a")
	load := startDepsLoad(t, d, n.URL(), "deps-disk", 2, 2)
	defer load.Stop()
	for i := range size(1, 2) {
		time.Sleep(time.Second)
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
		time.Sleep(size(3*time.Second, 8*time.Second))
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
		settled := time.Now().Add(time.Second)
		time.Sleep(3 * time.Second)
		for _, r := range load.Since(settled) {
			if r.Status/100 != 2 {
				t.Errorf("round %d: after space was freed: %s %d %.200s %v", i, r.Kind, r.Status, r.Body, r.Err)
			}
		}
		bad := 0
		for _, r := range whileFull {
			why := depsRefusal(r, depsMsgFull)
			if why == "" && r.Kind != "write" && r.Status/100 != 2 {
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
