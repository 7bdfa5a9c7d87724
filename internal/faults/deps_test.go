package faults_test

import (
	"math/rand/v2"
	"slices"
	"strings"
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

	// Every acknowledged write is there, once; no unacknowledged name is
	// there twice either.
	rows, err := d.SQL(t).Query(`SELECT name FROM projects WHERE name LIKE 'deps-pg-%'`)
	if err != nil {
		t.Fatal(err)
	}
	have := map[string]int{}
	for rows.Next() {
		var name string
		rows.Scan(&name)
		have[name]++
	}
	rows.Close()
	acked := 0
	for _, r := range res {
		if r.Kind != "write" {
			continue
		}
		if r.Status/100 == 2 {
			acked++
			if have[r.Name] != 1 {
				t.Errorf("acknowledged write %s: %d rows", r.Name, have[r.Name])
			}
		}
	}
	for name, c := range have {
		if c != 1 || !strings.HasPrefix(name, "deps-pg-w") {
			t.Errorf("project %s: %d rows", name, c)
		}
	}
	if acked == 0 {
		t.Fatal("no write acknowledged")
	}
	figure(t, "%d requests in all (%s); %d acknowledged writes all present once, violations 0", len(res), depsTally(res), acked)
}
