package main

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/testutil"
)

func env(kv map[string]string) func(string) string {
	return func(k string) string { return kv[k] }
}

func runCmd(t *testing.T, getenv func(string) string, args ...string) (string, error) {
	t.Helper()
	var out, errOut bytes.Buffer
	err := run(context.Background(), args, getenv, &out, &errOut)
	return out.String() + errOut.String(), err
}

func TestServeHelpListsEveryFlagAndVariable(t *testing.T) {
	out, err := runCmd(t, env(nil), "serve", "-h")
	if err == nil || !strings.Contains(err.Error(), "help") {
		t.Fatalf("serve -h: %v", err)
	}
	for _, s := range []string{"-data", "GATEHOUSE_DATA", "-addr", "GATEHOUSE_ADDR", "127.0.0.1:8080", "-db", "GATEHOUSE_DB",
		"./data", "postgres://", "-log-level", "-public-url", "GATEHOUSE_SMTP_HOST", "-session-idle", "-session-max", "-trust-proxy", "-tls-cert", "-cpuprofile", "GATEHOUSE_CPUPROFILE"} {
		if !strings.Contains(out, s) {
			t.Errorf("serve -h does not mention %s:\n%s", s, out)
		}
	}
	if _, err := runCmd(t, env(nil), "bogus"); err == nil {
		t.Error("unknown command accepted")
	}
	if _, err := runCmd(t, env(nil), "serve", "--data", t.TempDir(), "--public-url", "gatehouse.example"); err == nil || !strings.Contains(err.Error(), "--public-url") {
		t.Errorf("bad public URL: %v", err)
	}
	if _, err := runCmd(t, env(map[string]string{"GATEHOUSE_SESSION_IDLE": "soon"}), "serve", "--data", t.TempDir()); err == nil || !strings.Contains(err.Error(), "GATEHOUSE_SESSION_IDLE") {
		t.Errorf("bad duration in the environment: %v", err)
	}
}

// TestServeNamesATakenPort: a taken port stops serve at once with a message
// saying how to choose another address.
func TestServeNamesATakenPort(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	_, err = runCmd(t, env(map[string]string{"GATEHOUSE_ADDR": ln.Addr().String()}), "serve", "--data", t.TempDir())
	if err == nil || !strings.Contains(err.Error(), "another program listens on "+ln.Addr().String()) || !strings.Contains(err.Error(), "GATEHOUSE_ADDR") {
		t.Errorf("serve on a taken port: %v", err)
	}
}

// syncBuffer is a writer the server goroutine and the test share.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}
func (s *syncBuffer) String() string { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

var urlRE = regexp.MustCompile(`serving at (http://[0-9.:]+)/`)

// TestServeFromEnvironmentAndShutdown starts the real server configured by
// GATEHOUSE_* variables, uses it, and stops it as SIGTERM would.
func TestServeFromEnvironmentAndShutdown(t *testing.T) {
	data := t.TempDir()
	profile := filepath.Join(t.TempDir(), "serve.prof")
	vars := env(map[string]string{"GATEHOUSE_DATA": data, "GATEHOUSE_ADDR": "127.0.0.1:0", "GATEHOUSE_CPUPROFILE": profile})
	if out, err := runCmd(t, vars, "demo", "--password", "demo-password", "--users", "50", "--devices", "20"); err != nil {
		t.Fatalf("demo: %v\n%s", err, out)
	}
	if _, err := os.Stat(filepath.Join(data, "gatehouse.db")); err != nil {
		t.Fatalf("GATEHOUSE_DATA not used: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var out syncBuffer
	done := make(chan error, 1)
	go func() { done <- run(ctx, []string{"serve"}, vars, &out, io.Discard) }()
	var base string
	for i := 0; i < 200 && base == ""; i++ {
		if m := urlRE.FindStringSubmatch(out.String()); m != nil {
			base = m[1]
		}
		time.Sleep(25 * time.Millisecond)
	}
	if base == "" {
		t.Fatalf("server did not start: %s", out.String())
	}
	res, err := http.Post(base+"/api/v1/auth/login", "application/json", strings.NewReader(`{"username":"demo-subdistributor","password":"demo-password"}`))
	if err != nil || res.StatusCode != 200 {
		t.Fatalf("login against the real server: %v %v", res, err)
	}
	res.Body.Close()
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("shutdown: %v", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("server did not shut down")
	}
	// The CPU profile of the run, written at shutdown (gzip, as pprof writes it).
	if b, err := os.ReadFile(profile); err != nil || len(b) < 2 || b[0] != 0x1f || b[1] != 0x8b {
		t.Errorf("GATEHOUSE_CPUPROFILE: no profile written (%d bytes, %v)", len(b), err)
	}
}

func TestDemoRefusesNonEmptyDatabase(t *testing.T) {
	data := t.TempDir()
	out, err := runCmd(t, env(nil), "demo", "--data", data, "--password", "demo-password", "--users", "30", "--devices", "10")
	if err != nil {
		t.Fatal(err)
	}
	for _, login := range []string{"demo-admin", "demo-distributor", "demo-subdistributor", "demo-installer"} {
		if !strings.Contains(out, login) {
			t.Errorf("demo output lacks %s:\n%s", login, out)
		}
	}
	_, err = runCmd(t, env(nil), "demo", "--data", data, "--password", "demo-password")
	if err == nil || !strings.Contains(err.Error(), "empty database") {
		t.Errorf("second demo: %v", err)
	}
	if out, err := runCmd(t, env(nil), "demo", "--data", data, "--password", "demo-password", "--if-empty"); err != nil || !strings.Contains(out, "not loaded") {
		t.Errorf("--if-empty: %v %s", err, out)
	}
	if _, err := runCmd(t, env(nil), "demo", "--data", t.TempDir(), "--password", "short"); err == nil || !strings.Contains(err.Error(), "--password") {
		t.Errorf("short demo password: %v", err)
	}
}

func TestAdminTasks(t *testing.T) {
	backends := map[string][]string{"sqlite": {"--data", t.TempDir()}}
	if os.Getenv(testutil.PostgresEnv) != "" {
		// --data too: the secret key lives in the data directory, and the
		// default ./data is the package's source directory.
		backends["postgres"] = []string{"--db", testutil.PostgresDSN(t), "--data", t.TempDir()}
	} else {
		testutil.Backends(t) // says loudly that PostgreSQL was skipped
	}
	for name, db := range backends {
		t.Run(name, func(t *testing.T) {
			admin := func(args ...string) (string, error) {
				return runCmd(t, env(nil), append(append([]string{"admin"}, args...), db...)...)
			}
			steps := [][]string{
				{"create-account", "--role", "admin", "--username", "root", "--password", "root-password"},
				{"create-account", "--role", "distributor", "--username", "dist", "--parent", "root", "--password", "dist-password"},
				{"create-account", "--role", "subdistributor", "--username", "sub", "--parent", "dist", "--payment", "--password", "sub-password"},
				{"create-account", "--role", "installer", "--username", "inst", "--parent", "sub", "--time-zone", "Europe/Berlin", "--language", "de"},
				{"add-firmware", "--version", "29.30.1.1", "--model", "R29", "--file-url", "https://fw.example/r29.rom", "--checksum", strings.Repeat("a", 64)},
				{"reset-password", "--username", "sub", "--password", "new-sub-password"},
				{"migrate"},
			}
			for _, s := range steps {
				if out, err := admin(s...); err != nil {
					t.Fatalf("%v: %v\n%s", s, err, out)
				}
			}
			out, err := admin("create-account", "--role", "installer", "--username", "inst2", "--parent", "sub")
			if err != nil || !regexp.MustCompile(`password: \S{20}`).MatchString(out) {
				t.Errorf("generated password not printed: %v %s", err, out)
			}
			out, _ = admin("list-accounts")
			for _, u := range []string{"root", "dist", "sub", "inst", "inst2"} {
				if !regexp.MustCompile(`\s` + u + `\s`).MatchString(out) {
					t.Errorf("list-accounts lacks %s:\n%s", u, out)
				}
			}
			tok, err := admin("create-token", "--username", "sub", "--name", "ci")
			if err != nil || !strings.HasPrefix(tok, "gha_") {
				t.Errorf("create-token: %v %s", err, tok)
			}
			// Bad input names the flag and changes nothing.
			bad := map[string][]string{
				"--parent":    {"create-account", "--role", "installer", "--username", "x1", "--parent", "nobody"},
				"--role":      {"create-account", "--role", "king", "--username", "x2", "--parent", "sub"},
				"--time-zone": {"create-account", "--role", "installer", "--username", "x3", "--parent", "sub", "--time-zone", "Mars/Base"},
				"--checksum":  {"add-firmware", "--version", "1", "--model", "R29", "--file-url", "https://fw.example/x", "--checksum", "zz"},
				"--password":  {"reset-password", "--username", "sub", "--password", "short"},
				"--username":  {"create-account", "--role", "installer", "--username", "INST", "--parent", "sub", "--password", "longenough"},
			}
			for flag, args := range bad {
				if _, err := admin(args...); err == nil || !strings.Contains(err.Error(), flag) {
					t.Errorf("%v: want an error naming %s, got %v", args, flag, err)
				}
			}
			out, _ = admin("list-accounts", "--role", "installer")
			if strings.Contains(out, "x1") || strings.Contains(out, "x3") || strings.Count(out, "\n") != 3 {
				t.Errorf("refused tasks created accounts:\n%s", out)
			}
		})
	}
}
