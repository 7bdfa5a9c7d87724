package main

import (
	"context"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

func TestDevicesimHelpAndBadFlags(t *testing.T) {
	out, err := runCmd(t, env(nil), "devicesim", "-h")
	if err == nil || !strings.Contains(err.Error(), "help") {
		t.Fatalf("devicesim -h: %v", err)
	}
	for _, s := range []string{"-server", "-count", "-macs", "-data", "-db", "-state", "-web", "-source-addrs", "auto",
		"-model", "-firmware", "-dial-concurrency", "-insecure", "-log-level", "-report", "-cpuprofile", "ulimit",
		"-upgrade-fail-checksum", "-upgrade-fail-timeout", "-upgrade-fail-old-version", "-upgrade-step-time", "-download-rate", "-download-concurrency"} {
		if !strings.Contains(out, s) {
			t.Errorf("devicesim -h does not mention %s:\n%s", s, out)
		}
	}
	dir := t.TempDir()
	macs := filepath.Join(dir, "macs.txt")
	os.WriteFile(macs, []byte("# two devices\n0c:11:05:00:00:01\n\n0C1105000002 # lobby\n"), 0o600)
	bad := filepath.Join(dir, "bad.txt")
	os.WriteFile(bad, []byte("0C1105000001\n0C11050000\n"), 0o600)
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--macs", macs}, "--server"},
		{[]string{"--server", "ftp://x", "--macs", macs}, "--server"},
		{[]string{"--server", "http://127.0.0.1:1", "--macs", bad}, "line 2"},
		{[]string{"--server", "http://127.0.0.1:1", "--macs", macs, "--count", "3"}, "has 2 MACs"},
		{[]string{"--server", "http://127.0.0.1:1", "--macs", filepath.Join(dir, "none.txt")}, "--macs"},
		{[]string{"--server", "http://127.0.0.1:1", "--data", filepath.Join(dir, "empty")}, "no database"},
		{[]string{"--server", "http://127.0.0.1:1", "--macs", macs, "--source-addrs", "127.0.0.2,nope"}, "--source-addrs"},
		{[]string{"--server", "http://127.0.0.1:1", "--macs", macs, "--count", "-1"}, "--count"},
		{[]string{"--server", "http://127.0.0.1:1", "--macs", macs, "--upgrade-fail-checksum", "1.5"}, "--upgrade-fail-checksum"},
		{[]string{"--server", "http://127.0.0.1:1", "--macs", macs, "--upgrade-fail-timeout", "0.6", "--upgrade-fail-old-version", "0.6"}, "add up"},
	} {
		_, err := runCmd(t, env(nil), append([]string{"devicesim"}, c.args...)...)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("devicesim %v: %v, want an error about %s", c.args, err, c.want)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "empty", "gatehouse.db")); err == nil {
		t.Error("devicesim created an empty database")
	}
}

func TestDevicesimSourceAddrs(t *testing.T) {
	local, _ := url.Parse("http://127.0.0.1:8080")
	remote, _ := url.Parse("https://gatehouse.example.com")
	got, _ := sourceAddrs("auto", local, 100000)
	if len(got) != 20 || got[0] != "127.0.0.2" || got[19] != "127.0.0.21" {
		t.Errorf("auto for 100,000 devices: %v", got)
	}
	if got, _ := sourceAddrs("auto", local, 10); strings.Join(got, ",") != "127.0.0.2" {
		t.Errorf("auto for 10 devices: %v", got)
	}
	if got, _ := sourceAddrs("auto", remote, 100000); got != nil {
		t.Errorf("auto for a remote server: %v", got)
	}
	if got, _ := sourceAddrs("auto", local, 1_500_000); got[len(got)-1] != "127.0.1.45" {
		t.Errorf("auto past 255 addresses ends at %v", got[len(got)-1])
	}
	if got, err := sourceAddrs(" 127.0.0.2, 127.0.0.3 ", local, 1); err != nil || len(got) != 2 {
		t.Errorf("list: %v %v", got, err)
	}
}

// TestDevicesimAllOnlineLine: after devices went offline, "all online
// again" counts from when the first went offline, not from the start.
func TestDevicesimAllOnlineLine(t *testing.T) {
	t0 := time.Date(2026, 12, 4, 10, 0, 0, 0, time.UTC)
	a := allOnline{n: 500, start: t0}
	for i, c := range []struct {
		after time.Duration
		on    int
		want  string
	}{
		{time.Second, 100, ""},
		{2300 * time.Millisecond, 500, "all 500 devices online after 2.3s (since the simulator started"},
		{time.Minute, 500, ""},
		{39 * time.Minute, 499, ""}, // a reboot
		{39*time.Minute + time.Second, 480, ""},
		{39*time.Minute + 2*time.Second, 490, ""},
		{39*time.Minute + 14*time.Second, 500, "all 500 devices online again, 14s after the first of them went offline (as few as 480 were online; the simulator has run 39m14s"},
		{40 * time.Minute, 500, ""},
	} {
		if got := a.observe(t0.Add(c.after), c.on); got != c.want {
			t.Errorf("%d: %d online after %s: %q, want %q", i, c.on, c.after, got, c.want)
		}
	}
}

var onlineRE = regexp.MustCompile(`online (\d+)/(\d+)`)

// TestDevicesimAgainstServe runs demo, serve and devicesim as a user would:
// the first devices of the database connect, the web page lists them, and
// Ctrl-C stops the simulator cleanly.
func TestDevicesimAgainstServe(t *testing.T) {
	data := t.TempDir()
	vars := env(map[string]string{"GATEHOUSE_DATA": data, "GATEHOUSE_ADDR": "127.0.0.1:0"})
	if out, err := runCmd(t, vars, "demo", "--password", "demo-password", "--users", "50", "--devices", "20"); err != nil {
		t.Fatalf("demo: %v\n%s", err, out)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var out syncBuffer
	served := make(chan error, 1)
	go func() { served <- run(ctx, []string{"serve"}, vars, &out, io.Discard) }()
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

	simCtx, stopSim := context.WithCancel(ctx)
	var simOut syncBuffer
	simDone := make(chan error, 1)
	state := t.TempDir()
	go func() {
		simDone <- run(simCtx, []string{"devicesim", "--server", base, "--count", "5", "--state", state,
			"--report", "100ms", "--web", "127.0.0.1:0", "--source-addrs", "auto"}, vars, &simOut, io.Discard)
	}()
	deadline := time.Now().Add(20 * time.Second)
	for !strings.Contains(simOut.String(), "online 5/5") {
		if time.Now().After(deadline) {
			t.Fatalf("devices not online:\n%s", simOut.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	if !strings.Contains(simOut.String(), "all 5 devices online after") {
		t.Errorf("no all-online line:\n%s", simOut.String())
	}
	m := regexp.MustCompile(`web page at (http://[0-9.:]+)/`).FindStringSubmatch(simOut.String())
	if m == nil {
		t.Fatalf("no web page line:\n%s", simOut.String())
	}
	res, err := http.Get(m[1] + "/")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if !strings.Contains(string(b), `<span id="online-count">5</span> of 5`) {
		t.Errorf("web page: %s", b)
	}
	entries, _ := os.ReadDir(state)
	if len(entries) != 5 {
		t.Errorf("%d state files, want 5", len(entries))
	}
	stopSim()
	select {
	case err := <-simDone:
		if err != nil {
			t.Errorf("devicesim on Ctrl-C: %v", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("devicesim did not stop")
	}
	if !strings.Contains(simOut.String(), "stopped") {
		t.Errorf("no stop line:\n%s", simOut.String())
	}

	// The same devices from a --macs file come back with their keys.
	var macs []string
	for _, e := range entries {
		macs = append(macs, strings.TrimSuffix(e.Name(), ".json"))
	}
	file := filepath.Join(t.TempDir(), "macs.txt")
	os.WriteFile(file, []byte("# from the state\n"+strings.Join(macs[:3], "\n")+"\n"), 0o600)
	simCtx, stopSim = context.WithCancel(ctx)
	var simOut2 syncBuffer
	go func() {
		simDone <- run(simCtx, []string{"devicesim", "--server", base, "--macs", file, "--state", state, "--report", "100ms"}, vars, &simOut2, io.Discard)
	}()
	deadline = time.Now().Add(20 * time.Second)
	for !strings.Contains(simOut2.String(), "online 3/3") {
		if time.Now().After(deadline) {
			t.Fatalf("devices from --macs not online (a changed key would be refused):\n%s", simOut2.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	stopSim()
	<-simDone
	cancel()
	<-served
}
