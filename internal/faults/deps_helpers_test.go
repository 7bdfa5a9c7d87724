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
	"testing"
	"time"
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
	var c *exec.Cmd
	if os.Getuid() == 0 {
		c = exec.Command("su", "postgres", "-s", "/bin/sh", "-c", cmd)
	} else {
		c = exec.Command("sh", "-c", cmd)
	}
	if out, err := c.CombinedOutput(); err != nil {
		p.t.Fatalf("pg_ctl stop -m %s: %v\n%s", mode, err, out)
	}
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
	for i := range readers {
		l.loop(func(n int) depsResult {
			path := "/api/v1/projects"
			if (i+n)%2 == 1 {
				path = "/api/v1/installer/devices"
			}
			return l.api(l.reader, "read", "GET", path, nil, "")
		})
	}
	for i := range writers {
		l.loop(func(n int) depsResult {
			name := fmt.Sprintf("%s-w%d-%d", prefix, i, n)
			return l.api(l.writer, "write", "POST", "/api/v1/projects", map[string]string{"kind": "community", "name": name}, name)
		})
	}
	l.loop(func(n int) depsResult {
		r := depsResult{Kind: "page", Start: time.Now()}
		resp, err := l.portal.Get(base + "/installer/projects")
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

func (l *depsLoad) loop(one func(n int) depsResult) {
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
			time.Sleep(25 * time.Millisecond)
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
	req.Header.Set("Authorization", "Bearer "+c.Token)
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
	for _, k := range []string{"read", "write", "page"} {
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
