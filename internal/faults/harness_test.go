package faults_test

import (
	"bufio"
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib"
	_ "modernc.org/sqlite"

	"github.com/gatehouse-dev/gatehouse/internal/testutil"
)

// gatehouseBin is the binary every scenario runs, built once by TestMain.
var gatehouseBin string

// full is true under `make faults` (GATEHOUSE_FAULTS=full): every scenario
// at its full size and length; else the short subset `make test` runs.
var full = os.Getenv("GATEHOUSE_FAULTS") == "full"

// size picks a scenario's figure for the short or the full run.
func size[T any](short, long T) T {
	if full {
		return long
	}
	return short
}

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "gatehouse-faults-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	gatehouseBin = filepath.Join(dir, "gatehouse")
	goCmd := os.Getenv("GO")
	if goCmd == "" {
		goCmd = filepath.Join(runtime.GOROOT(), "bin", "go")
		if _, err := os.Stat(goCmd); err != nil {
			goCmd = "go"
		}
	}
	build := exec.Command(goCmd, "build", "-o", gatehouseBin, "../../cmd/gatehouse")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build gatehouse:", err)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// freeAddr returns a loopback address no one listens on now.
func freeAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// database is one scenario's data: a fresh SQLite file or PostgreSQL schema.
type database struct {
	Engine string // "sqlite" or "postgres"
	Data   string // the nodes' --data directory
	DSN    string // their --db
	db     *sql.DB
}

// engines lists the back ends a scenario runs on (PostgreSQL required in CI).
func engines(t *testing.T) []string { return testutil.Backends(t) }

// newDatabase makes an empty database on engine, migrated by a first
// `gatehouse demo` (users, devices: its size) unless demo is nil.
func newDatabase(t *testing.T, engine string) *database {
	t.Helper()
	d := &database{Engine: engine, Data: t.TempDir()}
	switch engine {
	case "sqlite":
		d.DSN = filepath.Join(d.Data, "gatehouse.db")
	case "postgres":
		d.DSN = testutil.PostgresDSN(t)
	default:
		t.Fatalf("engine %q", engine)
	}
	return d
}

// SQL opens (once) a connection of the test to the scenario's database, to
// check invariants after the fact.
func (d *database) SQL(t testing.TB) *sql.DB {
	t.Helper()
	if d.db != nil {
		return d.db
	}
	driver, dsn := "pgx", d.DSN
	if d.Engine == "sqlite" {
		driver, dsn = "sqlite", "file:"+d.DSN+"?_pragma=busy_timeout(10000)"
	}
	db, err := sql.Open(driver, dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	d.db = db
	return db
}

// Count runs a SELECT count(*) … (query with ? placeholders, rewritten for
// PostgreSQL) and returns the count.
func (d *database) Count(t testing.TB, query string, args ...any) int {
	t.Helper()
	var n int
	if err := d.SQL(t).QueryRow(d.rebind(query), args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	return n
}

// Strings runs a query of one text column (? placeholders) and returns its
// values in order.
func (d *database) Strings(t testing.TB, query string, args ...any) []string {
	t.Helper()
	return column[string](t, d, query, args...)
}

// column runs a query of one column of T (? placeholders) and returns its
// values in order.
func column[T any](t testing.TB, d *database, query string, args ...any) []T {
	t.Helper()
	rows, err := d.SQL(t).Query(d.rebind(query), args...)
	if err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	defer rows.Close()
	var out []T
	for rows.Next() {
		var v T
		if err := rows.Scan(&v); err != nil {
			t.Fatal(err)
		}
		out = append(out, v)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// Exec runs a statement (? placeholders).
func (d *database) Exec(t testing.TB, query string, args ...any) {
	t.Helper()
	if _, err := d.SQL(t).Exec(d.rebind(query), args...); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
}

func (d *database) rebind(q string) string {
	if d.Engine != "postgres" {
		return q
	}
	var b strings.Builder
	n := 0
	for _, r := range q {
		if r == '?' {
			n++
			b.WriteString("$" + strconv.Itoa(n))
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

// dbArgs are the flags that point a gatehouse subcommand at the database.
func (d *database) dbArgs() []string { return []string{"--data", d.Data, "--db", d.DSN} }

// gatehouse runs a one-shot subcommand (demo, admin …) to its end and
// returns its standard output.
func gatehouse(t testing.TB, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, gatehouseBin, args...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		t.Fatalf("gatehouse %s: %v\n%s%s", strings.Join(args, " "), err, out.String(), errb.String())
	}
	return out.String()
}

// DemoPassword is the password of every demo account.
const DemoPassword = "fault-suite-password"

// Seed loads the demo's accounts, users and devices (about users end users
// and devices devices).
func (d *database) Seed(t testing.TB, users, devices int) {
	t.Helper()
	gatehouse(t, append([]string{"demo", "--password", DemoPassword, "--users", strconv.Itoa(users), "--devices", strconv.Itoa(devices)}, d.dbArgs()...)...)
}

// Token creates an API token acting as username.
func (d *database) Token(t testing.TB, username string) string {
	t.Helper()
	return strings.TrimSpace(gatehouse(t, append([]string{"admin", "create-token", "--username", username}, d.dbArgs()...)...))
}

// node is one `gatehouse serve` process. Restart after Kill reuses its
// address, as a supervisor restarting it would.
type node struct {
	t    testing.TB
	Name string
	Addr string
	args []string
	env  []string
	log  *os.File

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{}
}

// startNode starts `gatehouse serve` for the database; extra are more serve
// flags (--nats …). It returns once /healthz answers.
func startNode(t testing.TB, d *database, name string, extra ...string) *node {
	t.Helper()
	n := &node{t: t, Name: name, Addr: freeAddr(t)}
	n.args = append([]string{"serve", "--addr", n.Addr, "--node", name, "--log-level", "warn"}, d.dbArgs()...)
	n.args = append(n.args, extra...)
	logPath := filepath.Join(t.TempDir(), name+".log")
	f, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	n.log = f
	t.Cleanup(func() {
		n.Stop()
		f.Close()
		if t.Failed() {
			b, _ := os.ReadFile(logPath)
			if len(b) > 8000 {
				b = b[len(b)-8000:]
			}
			t.Logf("node %s log (tail):\n%s", name, b)
		}
	})
	n.Start()
	return n
}

// URL is the node's base URL.
func (n *node) URL() string { return "http://" + n.Addr }

// Env sets environment variables (KEY=value) for the next Start.
func (n *node) Env(kv ...string) { n.env = append(n.env, kv...) }

// Start starts the process (again) and waits until it serves.
func (n *node) Start() {
	n.t.Helper()
	n.mu.Lock()
	cmd := exec.Command(gatehouseBin, n.args...)
	cmd.Env = append(os.Environ(), n.env...)
	fmt.Fprintf(n.log, "--- start %s\n", time.Now().Format(time.RFC3339Nano))
	cmd.Stdout, cmd.Stderr = n.log, n.log
	if err := cmd.Start(); err != nil {
		n.mu.Unlock()
		n.t.Fatalf("start node %s: %v", n.Name, err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	n.cmd, n.done = cmd, done
	n.mu.Unlock()
	n.WaitReady(60 * time.Second)
}

// WaitReady waits until /healthz answers 200.
func (n *node) WaitReady(within time.Duration) {
	n.t.Helper()
	deadline := time.Now().Add(within)
	for {
		resp, err := http.Get(n.URL() + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return
			}
		}
		select {
		case <-n.done:
			n.t.Fatalf("node %s exited while starting (see its log)", n.Name)
		default:
		}
		if time.Now().After(deadline) {
			n.t.Fatalf("node %s not ready within %s: %v", n.Name, within, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Kill sends SIGKILL — no shutdown, no flush — and waits for the process to go.
func (n *node) Kill() {
	n.mu.Lock()
	cmd, done := n.cmd, n.done
	n.mu.Unlock()
	if cmd == nil {
		return
	}
	cmd.Process.Signal(syscall.SIGKILL)
	<-done
	fmt.Fprintf(n.log, "--- killed (SIGKILL) %s\n", time.Now().Format(time.RFC3339Nano))
}

// Stop ends the process gracefully (SIGTERM), then SIGKILL after 20 s.
func (n *node) Stop() {
	n.mu.Lock()
	cmd, done := n.cmd, n.done
	n.mu.Unlock()
	if cmd == nil {
		return
	}
	select {
	case <-done:
		return
	default:
	}
	cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		cmd.Process.Signal(syscall.SIGKILL)
		<-done
	}
}

// Memory reads the process's resident set now and at its peak, in KiB
// (/proc/PID/status VmRSS, VmHWM).
func (n *node) Memory() (rssKiB, peakKiB int) {
	n.mu.Lock()
	pid := n.cmd.Process.Pid
	n.mu.Unlock()
	return procMemory(pid)
}

func procMemory(pid int) (rssKiB, peakKiB int) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		v, _ := strconv.Atoi(f[1])
		switch f[0] {
		case "VmRSS:":
			rssKiB = v
		case "VmHWM:":
			peakKiB = v
		}
	}
	return
}

// client calls a node's API with a bearer token.
type client struct {
	Base  string
	Token string
	HTTP  *http.Client
}

func newClient(base, token string) *client {
	return &client{Base: base, Token: token, HTTP: &http.Client{Timeout: 60 * time.Second}}
}

// Do sends method path with body (JSON-encoded unless []byte or io.Reader
// with contentType) and returns status and body; err is a transport error
// (the node is down, the connection was cut).
func (c *client) Do(method, path string, body any) (int, []byte, error) {
	return c.DoType(method, path, "application/json", body)
}

func (c *client) DoType(method, path, contentType string, body any) (int, []byte, error) {
	var r io.Reader
	switch b := body.(type) {
	case nil:
	case []byte:
		r = bytes.NewReader(b)
	case io.Reader:
		r = b
	default:
		j, err := json.Marshal(b)
		if err != nil {
			return 0, nil, err
		}
		r = bytes.NewReader(j)
	}
	req, err := http.NewRequest(method, c.Base+path, r)
	if err != nil {
		return 0, nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", contentType)
	}
	req.Header.Set("Authorization", "Bearer "+c.Token)
	resp, err := c.HTTP.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, b, err
}

// sim is one `gatehouse devicesim` process with its execution journal.
type sim struct {
	t       testing.TB
	args    []string
	Journal string
	log     *os.File
	cmd     *exec.Cmd
	done    chan struct{}
}

// startSim connects the database's first count devices (by id; 0: every
// device) to server — their keys enrolled as their maker would — and
// journals every command they execute. extra are more devicesim flags.
func startSim(t testing.TB, d *database, server string, count int, extra ...string) *sim {
	t.Helper()
	dir := t.TempDir()
	s := &sim{t: t, Journal: filepath.Join(dir, "journal")}
	s.args = []string{"devicesim", "--server", server, "--state", filepath.Join(dir, "state"), "--journal", s.Journal,
		"--report", "1h", "--count", strconv.Itoa(count)}
	s.args = append(s.args, d.dbArgs()...)
	s.args = append(s.args, extra...)
	f, err := os.Create(filepath.Join(dir, "sim.log"))
	if err != nil {
		t.Fatal(err)
	}
	s.log = f
	s.cmd = exec.Command(gatehouseBin, s.args...)
	s.cmd.Stdout, s.cmd.Stderr = f, f
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	s.done = make(chan struct{})
	go func() { s.cmd.Wait(); close(s.done) }()
	t.Cleanup(func() {
		s.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-s.done:
		case <-time.After(10 * time.Second):
			s.cmd.Process.Kill()
			<-s.done
		}
		f.Close()
		if t.Failed() {
			b, _ := os.ReadFile(f.Name())
			if len(b) > 4000 {
				b = b[len(b)-4000:]
			}
			t.Logf("simulator log (tail):\n%s", b)
		}
	})
	return s
}

// Executions reads the journal: MAC → command id → times executed.
func (s *sim) Executions() map[string]map[string]int {
	s.t.Helper()
	out := map[string]map[string]int{}
	f, err := os.Open(s.Journal)
	if os.IsNotExist(err) {
		return out
	}
	if err != nil {
		s.t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		mac, id, ok := strings.Cut(sc.Text(), " ")
		if !ok {
			s.t.Fatalf("journal line %q", sc.Text())
		}
		if out[mac] == nil {
			out[mac] = map[string]int{}
		}
		out[mac][id]++
	}
	return out
}

// eventually polls cond every 100 ms until it holds or within passes, and
// returns how long it took.
func eventually(t testing.TB, within time.Duration, what string, cond func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	for !cond() {
		if time.Since(start) > within {
			t.Fatalf("%s: not within %s", what, within)
		}
		time.Sleep(100 * time.Millisecond)
	}
	return time.Since(start)
}

// seeded is a scenario's source of random kill points and faults: its seed
// is logged, and GATEHOUSE_FAULTS_SEED=N replays a failed run.
func seeded(t testing.TB) *rand.Rand {
	t.Helper()
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv("GATEHOUSE_FAULTS_SEED"); s != "" {
		v, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			t.Fatalf("GATEHOUSE_FAULTS_SEED=%q: %v", s, err)
		}
		seed = v
	}
	t.Logf("seed %d (replay: GATEHOUSE_FAULTS_SEED=%d)", seed, seed)
	return rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
}

// figure records a measured figure for the README's "What survives what"
// table: it is logged, and appended to $GATEHOUSE_FAULTS_REPORT when set.
func figure(t testing.TB, format string, args ...any) {
	t.Helper()
	line := t.Name() + ": " + fmt.Sprintf(format, args...)
	t.Log(line)
	if p := os.Getenv("GATEHOUSE_FAULTS_REPORT"); p != "" {
		if f, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644); err == nil {
			fmt.Fprintln(f, line)
			f.Close()
		}
	}
}
