package faults_test

import (
	"testing"
	"time"
)

// TestNodeKilledDevicesReturn: a node killed with SIGKILL and started again
// gets its devices back, and a reboot asked after it is executed once.
func TestNodeKilledDevicesReturn(t *testing.T) {
	for _, engine := range engines(t) {
		t.Run(engine, func(t *testing.T) {
			d := newDatabase(t, engine)
			d.Seed(t, 20, 30)
			n := startNode(t, d, "a")
			const devices = 20
			s := startSim(t, d, n.URL(), devices)
			eventually(t, 60*time.Second, "devices online", func() bool { return d.Count(t, `SELECT count(*) FROM devices WHERE online AND node = 'a'`) == devices })
			n.Kill()
			restarted := time.Now().UTC()
			n.Start()
			took := eventually(t, 60*time.Second, "devices online again", func() bool {
				return d.Count(t, `SELECT count(*) FROM devices WHERE online AND node = 'a' AND connected_at > ?`, restarted) == devices
			})
			figure(t, "%d devices back online %s after the node's restart", devices, took.Round(100*time.Millisecond))
			var mac string
			if err := d.SQL(t).QueryRow(`SELECT mac FROM devices WHERE online AND node = 'a' ORDER BY id LIMIT 1`).Scan(&mac); err != nil {
				t.Fatal(err)
			}
			c := newClient(n.URL(), d.Token(t, "demo-subdistributor"))
			st, body, err := c.Do("POST", "/api/v1/devices/"+mac+"/reboot", nil)
			if err != nil || st/100 != 2 {
				t.Fatalf("reboot: %d %s %v", st, body, err)
			}
			eventually(t, 30*time.Second, "reboot executed", func() bool { return len(s.Executions()[mac]) == 1 })
		})
	}
}
