package faults_test

import (
	"bufio"
	"os"
	"strings"
	"testing"
	"time"

	natsserver "github.com/nats-io/nats-server/v2/server"
)

// Helpers of the command and rollout scenarios (commands_test.go).

// cmdsNATS runs an in-process NATS server for nodes that share a bus.
func cmdsNATS(t testing.TB) string {
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

// cmdsCluster is a scenario's nodes: a (the devices' node, the one killed)
// and, on PostgreSQL, b sharing a NATS bus with it, whose API stays up
// while a is down.
type cmdsCluster struct {
	a, b  *node
	nodes []*node
}

func cmdsStart(t *testing.T, d *database, extra ...string) *cmdsCluster {
	t.Helper()
	c := &cmdsCluster{}
	if d.Engine == "postgres" {
		url := cmdsNATS(t)
		extra = append(extra, "--nats", url)
		c.a = startNode(t, d, "a", extra...)
		c.b = startNode(t, d, "b", extra...)
		c.nodes = []*node{c.a, c.b}
	} else {
		c.a = startNode(t, d, "a", extra...)
		c.nodes = []*node{c.a}
	}
	return c
}

// cmdsLogErrors returns the ERROR lines of a node's log (all its runs).
func cmdsLogErrors(t testing.TB, n *node) []string {
	t.Helper()
	f, err := os.Open(n.log.Name())
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		if strings.Contains(sc.Text(), "level=ERROR") {
			out = append(out, sc.Text())
		}
	}
	return out
}

// cmdsMACs returns the MACs of the database's first count devices by id:
// those startSim connects.
func cmdsMACs(t testing.TB, d *database, count int) []string {
	t.Helper()
	macs := d.Strings(t, `SELECT mac FROM devices ORDER BY id LIMIT ?`, count)
	if len(macs) != count {
		t.Fatalf("%d devices in the database, %d wanted", len(macs), count)
	}
	return macs
}

// cmdsQuery runs a query (? placeholders) and calls scan for every row.
func cmdsQuery(t testing.TB, d *database, query string, scan func(scan func(...any) error) error, args ...any) {
	t.Helper()
	rows, err := d.SQL(t).Query(d.rebind(query), args...)
	if err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	defer rows.Close()
	for rows.Next() {
		if err := scan(rows.Scan); err != nil {
			t.Fatalf("%s: %v", query, err)
		}
	}
	if err := rows.Err(); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
}

// cmdsPeakMiB is the node's resident set at its peak, in MiB.
func cmdsPeakMiB(n *node) float64 {
	_, peak := n.Memory()
	return float64(peak) / 1024
}

// cmdsCheckLogs reports every ERROR line of the nodes' logs as a violation
// — a deadlock above all (SQLSTATE 40P01) — but for a write that timed out
// ("context deadline exceeded", a connection to the database not made
// in time: "i/o timeout"): on a machine this loaded it happens, the
// gateway sends such a command again (the invariants check that it ended
// done, executed once); it returns how many of those there were.
func cmdsCheckLogs(t testing.TB, c *cmdsCluster, violation func(string, ...any)) (timeouts int) {
	t.Helper()
	for _, n := range c.nodes {
		for _, line := range cmdsLogErrors(t, n) {
			if (strings.Contains(line, "context deadline exceeded") || strings.Contains(line, "i/o timeout")) && !strings.Contains(line, "40P01") {
				timeouts++
				continue
			}
			violation("node %s logged: %s", n.Name, line)
		}
	}
	return timeouts
}
