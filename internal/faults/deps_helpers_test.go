package faults_test

// Helpers of the dependency scenarios (deps_test.go): a throw-away
// PostgreSQL cluster stopped and started at will, a load of API reads,
// writes and portal pages that records every answer, and the check of what
// a refused request must look like.

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
	"unsafe"

	natsserver "github.com/nats-io/nats-server/v2/server"
)

// depsPGBin is where the PostgreSQL binaries are (what CI has).
func depsPGBin() string {
	if b := os.Getenv("PG_BIN"); b != "" {
		return b
	}
	return "/usr/lib/postgresql/15/bin"
}

// depsPG is one scenario's own PostgreSQL cluster (scripts/pg-start.sh),
// which the scenario stops and starts.
type depsPG struct {
	t    testing.TB
	dir  string // the cluster's data directory
	port string
	DSN  string
}

// startDepsPG makes and starts a cluster on a free port; it is stopped and
// removed when the test ends.
func startDepsPG(t testing.TB) *depsPG {
	t.Helper()
	if _, err := os.Stat(filepath.Join(depsPGBin(), "initdb")); err != nil {
		t.Fatalf("PostgreSQL 15 binaries not found at %s (set PG_BIN): %v", depsPGBin(), err)
	}
	// Not t.TempDir: its parents are closed to the postgres user the
	// cluster runs as when the tests run as root.
	root, err := os.MkdirTemp("", "gatehouse-deps-pg-")
	if err != nil {
		t.Fatal(err)
	}
	os.Chmod(root, 0o755)
	p := &depsPG{t: t, dir: filepath.Join(root, "data")}
	_, p.port, _ = strings.Cut(freeAddr(t), ":")
	// initdb here, without its final fsync of every file (seconds on a
	// busy disk); pg-start.sh then finds the cluster made.
	if err := os.Mkdir(p.dir, 0o700); err != nil {
		t.Fatal(err)
	}
	initdb := fmt.Sprintf("%s/initdb -D '%s' --auth=trust -U postgres -E UTF8 --no-sync >/dev/null", depsPGBin(), p.dir)
	if out, err := depsAsPostgres(p.dir, initdb).CombinedOutput(); err != nil {
		t.Fatalf("initdb: %v\n%s", err, out)
	}
	t.Cleanup(func() {
		exec.Command("../../scripts/pg-stop.sh", p.dir).Run()
		if t.Failed() {
			if b, err := os.ReadFile(filepath.Join(p.dir, "server.log")); err == nil {
				if len(b) > 3000 {
					b = b[len(b)-3000:]
				}
				t.Logf("PostgreSQL log (tail):\n%s", b)
			}
		}
		os.RemoveAll(root)
	})
	p.DSN = p.Start()
	return p
}

// Start starts the cluster (again) and returns its DSN.
func (p *depsPG) Start() string {
	p.t.Helper()
	out, err := exec.Command("../../scripts/pg-start.sh", p.dir, p.port).Output()
	if err != nil {
		var stderr []byte
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = ee.Stderr
		}
		p.t.Fatalf("pg-start.sh: %v\n%s", err, stderr)
	}
	return strings.TrimSpace(string(out))
}

// Stop stops the cluster: mode "fast" (clients disconnected, a shutdown
// checkpoint) or "immediate" (every process ended at once; recovery from
// the WAL at the next start, as after a crash).
func (p *depsPG) Stop(mode string) {
	p.t.Helper()
	cmd := fmt.Sprintf("%s/pg_ctl -D '%s' -m %s -w stop", depsPGBin(), p.dir, mode)
	if out, err := depsAsPostgres("", cmd).CombinedOutput(); err != nil {
		p.t.Fatalf("pg_ctl stop -m %s: %v\n%s", mode, err, out)
	}
}

// depsAsPostgres runs a shell command as the cluster's owner: the postgres
// user when the tests run as root (PostgreSQL refuses root), which is given
// dir first.
func depsAsPostgres(dir, cmd string) *exec.Cmd {
	if os.Getuid() != 0 {
		return exec.Command("sh", "-c", cmd)
	}
	if dir != "" {
		exec.Command("chown", "postgres", dir).Run()
	}
	return exec.Command("su", "postgres", "-s", "/bin/sh", "-c", cmd)
}

// depsResult is one request of the load and its answer.
type depsResult struct {
	Kind       string // read, write, page
	Start, End time.Time
	Status     int // 0: no answer (err)
	Err        error
	Body       string
	RetryAfter string
	Name       string // the project a write created
}

// depsLoad sends API reads and writes and portal pages from goroutines
// until Stop, recording every answer.
type depsLoad struct {
	t      testing.TB
	base   string
	reader *client // an installer's token: its projects, devices
	writer *client
	portal *http.Client // an installer's session cookie
	prefix string

	pageMu   sync.Mutex // held by the page goroutine while it asks; PausePages holds it
	stop     chan struct{}
	stopOnce sync.Once
	wg       sync.WaitGroup
	mu       sync.Mutex
	res      []depsResult
}

// startDepsLoad starts readers and writers API goroutines and one portal
// goroutine against base; writes create projects named prefix-….
func startDepsLoad(t testing.TB, d *database, base, prefix string, readers, writers int) *depsLoad {
	t.Helper()
	tok := d.Token(t, "demo-installer")
	l := &depsLoad{t: t, base: base, reader: newClient(base, tok), writer: newClient(base, tok), prefix: prefix, stop: make(chan struct{})}
	l.reader.HTTP.Timeout, l.writer.HTTP.Timeout = 20*time.Second, 20*time.Second
	jar, _ := cookiejar.New(nil)
	l.portal = &http.Client{Jar: jar, Timeout: 20 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	body, _ := json.Marshal(map[string]string{"username": "demo-installer", "password": DemoPassword})
	resp, err := l.portal.Post(base+"/api/v1/auth/login", "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("portal login: %d %s", resp.StatusCode, b)
	}
	reads := []string{"/api/v1/projects", "/api/v1/installer/devices", "/api/v1/me", "/api/v1/end-users?kind=community&per_page=5"}
	for i := range readers {
		l.loop(25*time.Millisecond, func(n int) depsResult {
			return l.api(l.reader, "read", "GET", reads[(i+n)%len(reads)], nil, "")
		})
	}
	for i := range writers {
		l.loop(25*time.Millisecond, func(n int) depsResult {
			name := fmt.Sprintf("%s-w%d-%d", prefix, i, n)
			return l.api(l.writer, "write", "POST", "/api/v1/projects", map[string]string{"kind": "community", "name": name}, name)
		})
	}
	// A login now and then: it checks a password (costly) and writes a
	// session.
	anon := newClient(base, "")
	l.loop(time.Second, func(int) depsResult {
		return l.api(anon, "login", "POST", "/api/v1/auth/login", map[string]string{"username": "demo-installer", "password": DemoPassword}, "")
	})
	pages := []string{"/installer/projects", "/installer/devices", "/installer/users", "/"}
	l.loop(25*time.Millisecond, func(n int) depsResult {
		l.pageMu.Lock()
		defer l.pageMu.Unlock()
		r := depsResult{Kind: "page", Start: time.Now()}
		resp, err := l.portal.Get(base + pages[n%len(pages)])
		r.End = time.Now()
		if err != nil {
			r.Err = err
			return r
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		r.Status, r.Body, r.RetryAfter = resp.StatusCode, string(b), resp.Header.Get("Retry-After")
		return r
	})
	return l
}

// PausePages holds the portal goroutine between two pages until the
// returned function is called.
func (l *depsLoad) PausePages() (resume func()) {
	l.pageMu.Lock()
	return l.pageMu.Unlock
}

func (l *depsLoad) loop(pause time.Duration, one func(n int) depsResult) {
	l.wg.Add(1)
	go func() {
		defer l.wg.Done()
		for n := 0; ; n++ {
			select {
			case <-l.stop:
				return
			default:
			}
			r := one(n)
			l.mu.Lock()
			l.res = append(l.res, r)
			l.mu.Unlock()
			time.Sleep(pause)
		}
	}()
}

func (l *depsLoad) api(c *client, kind, method, path string, body any, name string) depsResult {
	r := depsResult{Kind: kind, Start: time.Now(), Name: name}
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, c.Base+path, rd)
	if c.Token != "" {
		req.Header.Set("Authorization", "Bearer "+c.Token)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.HTTP.Do(req)
	r.End = time.Now()
	if err != nil {
		r.Err = err
		return r
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	r.Status, r.Body, r.RetryAfter = resp.StatusCode, string(b), resp.Header.Get("Retry-After")
	return r
}

// Stop ends the load and returns every result.
func (l *depsLoad) Stop() []depsResult {
	l.stopOnce.Do(func() { close(l.stop) })
	l.wg.Wait()
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.res
}

// Since returns the results of requests started at or after t.
func (l *depsLoad) Since(t time.Time) []depsResult {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []depsResult
	for _, r := range l.res {
		if !r.Start.Before(t) {
			out = append(out, r)
		}
	}
	return out
}

// depsRefusal says what is wrong with a non-2xx answer, "" when it is the
// refusal a database that cannot serve must give: 503 with Retry-After and
// message (the JSON error shape with code "unavailable" for the API, an
// error page saying it for the portal).
func depsRefusal(r depsResult, message string) string {
	switch {
	case r.Err != nil:
		return fmt.Sprintf("%s: no answer: %v", r.Kind, r.Err)
	case r.Status/100 == 2:
		return ""
	case r.Status != http.StatusServiceUnavailable:
		return fmt.Sprintf("%s: status %d (want 2xx or 503): %.300s", r.Kind, r.Status, r.Body)
	case r.RetryAfter == "":
		return fmt.Sprintf("%s: 503 without Retry-After", r.Kind)
	}
	if r.Kind == "page" {
		if !strings.Contains(r.Body, message) {
			return fmt.Sprintf("page: 503 whose page does not say %q: %.300s", message, r.Body)
		}
		return ""
	}
	var e struct {
		Error struct{ Code, Message string } `json:"error"`
	}
	if err := json.Unmarshal([]byte(r.Body), &e); err != nil || e.Error.Code != "unavailable" || e.Error.Message != message {
		return fmt.Sprintf("%s: 503 body %.300s, want code unavailable and message %q", r.Kind, r.Body, message)
	}
	return ""
}

// depsTally counts results by kind and status ("err" for no answer), as
// "read 200×12 503×3, …".
func depsTally(rs []depsResult) string {
	counts := map[string]map[string]int{}
	for _, r := range rs {
		if counts[r.Kind] == nil {
			counts[r.Kind] = map[string]int{}
		}
		s := strconv.Itoa(r.Status)
		if r.Err != nil {
			s = "err"
		}
		counts[r.Kind][s]++
	}
	var parts []string
	for _, k := range []string{"read", "write", "page", "login"} {
		var ss []string
		for s, n := range counts[k] {
			ss = append(ss, fmt.Sprintf("%s×%d", s, n))
		}
		sort.Strings(ss)
		if len(ss) > 0 {
			parts = append(parts, k+" "+strings.Join(ss, " "))
		}
	}
	return strings.Join(parts, ", ")
}

// depsCount counts results of kind with status (0: any).
func depsCount(rs []depsResult, kind string, status int) int {
	n := 0
	for _, r := range rs {
		if r.Kind == kind && (status == 0 || r.Status == status) {
			n++
		}
	}
	return n
}

// depsCheckWrites checks the load's writes against the database: every
// acknowledged project is there once, with its one audit entry; nothing the
// load did not send is there, nothing twice. It returns how many writes
// were acknowledged.
func depsCheckWrites(t testing.TB, d *database, prefix string, res []depsResult) int {
	t.Helper()
	rows, err := d.SQL(t).Query(d.rebind(`SELECT p.name, (SELECT count(*) FROM audit_log a WHERE a.action = 'project.create'
		AND a.object_type = 'project' AND a.object_id = CAST(p.id AS TEXT)) FROM projects p WHERE p.name LIKE ?`), prefix+"-%")
	if err != nil {
		t.Fatal(err)
	}
	have, audits := map[string]int{}, map[string]int{}
	for rows.Next() {
		var name string
		var audit int
		if err := rows.Scan(&name, &audit); err != nil {
			t.Fatal(err)
		}
		have[name]++
		audits[name] += audit
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	rows.Close()
	sent := map[string]bool{}
	acked := 0
	for _, r := range res {
		if r.Kind != "write" {
			continue
		}
		sent[r.Name] = true
		if r.Status/100 == 2 {
			acked++
			if have[r.Name] != 1 {
				t.Errorf("acknowledged write %s: %d rows", r.Name, have[r.Name])
			}
		}
	}
	for name, c := range have {
		if c != 1 || !sent[name] {
			t.Errorf("project %s: %d rows (sent: %v)", name, c, sent[name])
		}
		if audits[name] != 1 {
			t.Errorf("project %s: %d audit entries, want 1", name, audits[name])
		}
	}
	if acked == 0 {
		t.Fatal("no write acknowledged")
	}
	return acked
}

// depsDisk is a small data disk that a scenario fills and frees: a tmpfs of
// its own, or — where mounting is not allowed — a file size limit
// (RLIMIT_FSIZE) set on the node's process, which refuses its files'
// growth as a full disk would.
type depsDisk struct {
	t      testing.TB
	Dir    string
	tmpfs  bool
	filler string
	pid    int // the node whose limit is set (no tmpfs)
}

// newDepsDisk mounts a tmpfs of sizeMiB on a new directory (unmounted when
// the test ends), or falls back to the file size limit.
func newDepsDisk(t testing.TB, sizeMiB int) *depsDisk {
	t.Helper()
	dk := &depsDisk{t: t, Dir: t.TempDir()}
	dk.filler = filepath.Join(dk.Dir, "filler")
	if os.Getenv("GATEHOUSE_FAULTS_NO_MOUNT") == "" {
		out, err := exec.Command("mount", "-t", "tmpfs", "-o", fmt.Sprintf("size=%dm", sizeMiB), "tmpfs", dk.Dir).CombinedOutput()
		if err == nil {
			dk.tmpfs = true
			t.Cleanup(func() {
				if out, err := exec.Command("umount", dk.Dir).CombinedOutput(); err != nil {
					t.Errorf("umount %s: %v %s", dk.Dir, err, out)
				}
			})
		} else {
			t.Logf("mount tmpfs: %v %s: the disk fills by a file size limit on the node instead", err, bytes.TrimSpace(out))
		}
	}
	return dk
}

// How says how the disk is filled.
func (dk *depsDisk) How() string {
	if dk.tmpfs {
		return "a tmpfs filled by a filler file"
	}
	return "a file size limit (RLIMIT_FSIZE) on the node"
}

// Fill leaves no space for the node's files to grow: a filler file takes
// every free block of the tmpfs, or the node may grow no file past the
// largest it has.
func (dk *depsDisk) Fill(n *node) {
	dk.t.Helper()
	if !dk.tmpfs {
		n.mu.Lock()
		dk.pid = n.cmd.Process.Pid
		n.mu.Unlock()
		var largest int64
		entries, _ := os.ReadDir(dk.Dir)
		for _, e := range entries {
			if fi, err := e.Info(); err == nil {
				largest = max(largest, fi.Size())
			}
		}
		depsSetFsize(dk.t, dk.pid, uint64(largest))
		return
	}
	f, err := os.Create(dk.filler)
	if err != nil {
		dk.t.Fatal(err)
	}
	defer f.Close()
	buf := make([]byte, 1<<20)
	for chunk := len(buf); chunk >= 512; chunk /= 4 {
		for {
			if _, err := f.Write(buf[:chunk]); err != nil {
				break
			}
		}
	}
}

// Free gives the space back.
func (dk *depsDisk) Free() {
	dk.t.Helper()
	if !dk.tmpfs {
		depsSetFsize(dk.t, dk.pid, depsRlimInfinity)
		return
	}
	if err := os.Remove(dk.filler); err != nil {
		dk.t.Fatal(err)
	}
}

const depsRlimInfinity = ^uint64(0)

// depsSetFsize sets the soft RLIMIT_FSIZE of process pid (prlimit(2)); the
// hard limit stays unlimited, so raising it back needs no privilege.
func depsSetFsize(t testing.TB, pid int, cur uint64) {
	t.Helper()
	lim := struct{ Cur, Max uint64 }{cur, depsRlimInfinity}
	const rlimitFsize = 1
	if _, _, e := syscall.RawSyscall6(syscall.SYS_PRLIMIT64, uintptr(pid), rlimitFsize, uintptr(unsafe.Pointer(&lim)), 0, 0, 0); e != 0 {
		t.Fatalf("prlimit(%d, RLIMIT_FSIZE, %d): %v", pid, cur, e)
	}
}

// depsNATS is an in-process NATS server on a fixed port, shut down and
// started again on the same port (as a restarted NATS would be).
type depsNATS struct {
	t    testing.TB
	port int
	ns   *natsserver.Server
}

func startDepsNATS(t testing.TB) *depsNATS {
	t.Helper()
	_, port, _ := strings.Cut(freeAddr(t), ":")
	p, _ := strconv.Atoi(port)
	n := &depsNATS{t: t, port: p}
	n.Start()
	t.Cleanup(n.Stop)
	return n
}

// URL is the nats:// URL the nodes connect to.
func (n *depsNATS) URL() string { return fmt.Sprintf("nats://127.0.0.1:%d", n.port) }

// Start starts the server (again) on its port.
func (n *depsNATS) Start() {
	n.t.Helper()
	ns, err := natsserver.NewServer(&natsserver.Options{Host: "127.0.0.1", Port: n.port, NoLog: true, NoSigs: true, MaxPayload: 4 << 20})
	if err != nil {
		n.t.Fatal(err)
	}
	go ns.Start()
	if !ns.ReadyForConnections(10 * time.Second) {
		n.t.Fatal("NATS server not ready")
	}
	n.ns = ns
}

// Stop shuts the server down: every client is disconnected.
func (n *depsNATS) Stop() {
	if n.ns != nil {
		n.ns.Shutdown()
		n.ns.WaitForShutdown()
		n.ns = nil
	}
}

// depsJournal watches a simulator's journal and records when each command
// was first seen executed.
type depsJournal struct {
	path string
	stop chan struct{}
	done chan struct{}
	mu   sync.Mutex
	seen map[string]time.Time // command id → first seen
	runs map[string]int       // command id → times executed
	macs map[string]string    // command id → the MAC that executed it
}

func watchDepsJournal(t testing.TB, s *sim) *depsJournal {
	j := &depsJournal{path: s.Journal, stop: make(chan struct{}), done: make(chan struct{}),
		seen: map[string]time.Time{}, runs: map[string]int{}, macs: map[string]string{}}
	go func() {
		defer close(j.done)
		for {
			j.read()
			select {
			case <-j.stop:
				return
			case <-time.After(50 * time.Millisecond):
			}
		}
	}()
	t.Cleanup(j.Stop)
	return j
}

func (j *depsJournal) read() {
	b, err := os.ReadFile(j.path)
	if err != nil {
		return
	}
	now := time.Now()
	runs := map[string]int{}
	macs := map[string]string{}
	lines := strings.Split(string(b), "\n")
	for _, line := range lines[:len(lines)-1] { // the last, unterminated, may be being written
		mac, id, ok := strings.Cut(line, " ")
		if !ok {
			continue
		}
		runs[id]++
		macs[id] = mac
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	for id := range runs {
		if _, ok := j.seen[id]; !ok {
			j.seen[id] = now
		}
	}
	j.runs, j.macs = runs, macs
}

// Seen returns when command id was first seen executed (ok false: not yet).
func (j *depsJournal) Seen(id string) (time.Time, bool) {
	j.mu.Lock()
	defer j.mu.Unlock()
	at, ok := j.seen[id]
	return at, ok
}

// Runs returns command id → times executed, id → MAC.
func (j *depsJournal) Runs() (map[string]int, map[string]string) {
	j.read()
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.runs, j.macs
}

// Stop ends the watching.
func (j *depsJournal) Stop() {
	select {
	case <-j.stop:
	default:
		close(j.stop)
	}
	<-j.done
}
