package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"runtime"
	"strings"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/devicesim"
	"github.com/gatehouse-dev/gatehouse/internal/model"
	"github.com/gatehouse-dev/gatehouse/internal/store"
)

const devicesimHelp = `devicesim --server URL [--count N] [--macs FILE | --data DIR | --db DSN] [flags]

Runs simulated intercom devices in this process, speaking the device protocol
(docs/device-protocol.md) to a Gatehouse server: each connects, reports,
obeys reboot, factory / config reset and AutoP, and serves a small web UI
(login admin / admin) through Remote Control.

MACs come from --macs FILE (one a line, any notation; blank lines and
# comments skipped) or, without --macs, from N devices of the database at
--data / --db, spread over every installer's community, office and personal
devices. Every device keeps its key, its applied
config and the ids of the commands it executed in --state DIR, so a restart
comes back as the same devices.

Enrollment: with the database (--data / --db) the simulator plays the
devices' maker and registers their keys as accepted for the devices that
have none yet (--enroll=false leaves that to the portal: their keys then
wait as pending). With --macs, --claims FILE gives the maker's claim codes
(one "MAC,code" a line), which the devices present when they connect.

Firmware upgrades (docs/device-protocol.md §5.1): every device downloads the
image it is sent (resuming with Range), checks its size and SHA-256, reports
its progress, reboots into it and comes back with the new version (kept in
--state). --upgrade-fail-checksum, --upgrade-fail-timeout and
--upgrade-fail-old-version make a share of the devices (0 to 1, chosen by
MAC: the same devices every run) fail each way: a checksum mismatch, silence
after the download (the upgrade's deadline fails it), or a reboot back into
the old firmware.

Many devices (tens of thousands) need more local ports than one address has:
--source-addrs auto dials from 127.0.0.2, 127.0.0.3 … (one per 5,000
devices) when the server is on this machine, and 'ulimit -n' must exceed the
number of devices.

Flags:`

func runDevicesim(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := newFlagSet("devicesim", stderr, devicesimHelp)
	var d dbFlags
	d.register(fs, getenv)
	server := fs.String("server", envOr(getenv, "GATEHOUSE_DEVICESIM_SERVER", ""), "Gatehouse base URL, http(s)://host:port (required) (env GATEHOUSE_DEVICESIM_SERVER)")
	count := fs.Int("count", 0, "number of devices; 0 = every MAC of --macs, or every device of the database")
	macsFile := fs.String("macs", "", "file of MACs, one a line (instead of the database)")
	stateDir := fs.String("state", "devicesim-state", "directory keeping each device's key, config and executed command ids")
	web := fs.String("web", "", "serve the simulator's web page (device list, each device's web UI) on HOST:PORT")
	sources := fs.String("source-addrs", "", "local addresses to dial from, comma separated (127.0.0.2,127.0.0.3), or auto")
	claimsFile := fs.String("claims", "", "file of the maker's claim codes, one \"MAC,code\" a line, presented by the devices")
	enroll := fs.Bool("enroll", true, "with the database: register the devices' keys as accepted where none is (as their maker would)")
	model := fs.String("model", "R29C", "model the devices report")
	firmware := fs.String("firmware", "29.30.1.12", "firmware version the devices report")
	dials := fs.Int("dial-concurrency", 200, "connection attempts in flight at once")
	insecure := fs.Bool("insecure", false, "accept any TLS certificate of an https:// server (test setups)")
	logLevel := fs.String("log-level", "warn", "debug, info, warn or error")
	interval := fs.Duration("report", time.Second, "print the online / connecting counts this often")
	failChecksum := fs.Float64("upgrade-fail-checksum", 0, "share of the devices (0-1, by MAC) whose firmware download fails its checksum")
	failTimeout := fs.Float64("upgrade-fail-timeout", 0, "share of the devices (0-1, by MAC) that go silent after downloading firmware")
	failOld := fs.Float64("upgrade-fail-old-version", 0, "share of the devices (0-1, by MAC) that reboot back into their old firmware")
	installTime := fs.Duration("upgrade-step-time", 200*time.Millisecond, "how long verifying and installing firmware take each")
	downloadRate := fs.Int64("download-rate", 0, "bytes a second each device downloads firmware at (0: as fast as served)")
	downloads := fs.Int("download-concurrency", 128, "firmware downloads of the simulator at once")
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile of the simulator to this file (go tool pprof)")
	journal := fs.String("journal", "", "append a line \"MAC id\" to this file for every command a device executes (a repeated id is answered, not executed, and not written): the fault suite checks exactly-once execution from it")
	backoffMax := fs.Duration("backoff-max", 60*time.Second, "longest reconnect back-off window (protocol §2: 60 s); shorter makes devices that come back at once after every drop, as a misbehaving device would")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	u, err := url.Parse(*server)
	if *server == "" || err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("--server must be the http(s):// URL of a Gatehouse server, e.g. http://127.0.0.1:8080")
	}
	if *count < 0 {
		return fmt.Errorf("--count must be 0 or more")
	}
	if *dials < 1 {
		return fmt.Errorf("--dial-concurrency must be at least 1")
	}
	if *interval <= 0 {
		return fmt.Errorf("--report must be positive")
	}
	for _, f := range []struct {
		name  string
		share float64
	}{{"upgrade-fail-checksum", *failChecksum}, {"upgrade-fail-timeout", *failTimeout}, {"upgrade-fail-old-version", *failOld}} {
		if !(f.share >= 0 && f.share <= 1) {
			return fmt.Errorf("--%s must be a share from 0 to 1", f.name)
		}
	}
	if *failChecksum+*failTimeout+*failOld > 1 {
		return fmt.Errorf("--upgrade-fail-checksum, --upgrade-fail-timeout and --upgrade-fail-old-version add up to more than 1")
	}
	if *backoffMax <= 0 {
		return fmt.Errorf("--backoff-max must be positive")
	}
	if *installTime <= 0 {
		return fmt.Errorf("--upgrade-step-time must be positive")
	}
	if *downloadRate < 0 {
		return fmt.Errorf("--download-rate must be 0 or more")
	}
	if *downloads < 1 {
		return fmt.Errorf("--download-concurrency must be at least 1")
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(*logLevel)); err != nil {
		return fmt.Errorf("--log-level: %w", err)
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))

	var macs []string
	if *macsFile != "" {
		macs, err = readMACFile(*macsFile)
		if err != nil {
			return err
		}
		if *count > len(macs) {
			return fmt.Errorf("--count %d, but %s has %d MACs", *count, *macsFile, len(macs))
		}
		if *count > 0 {
			macs = macs[:*count]
		}
	} else {
		macs, err = registeredMACs(ctx, d, *count)
		if err != nil {
			return err
		}
		if *count > len(macs) {
			return fmt.Errorf("--count %d, but the database has %d devices", *count, len(macs))
		}
	}
	if len(macs) == 0 {
		return errors.New("no devices to simulate")
	}
	addrs, err := sourceAddrs(*sources, u, len(macs))
	if err != nil {
		return err
	}
	cfg := devicesim.Config{Server: *server, MACs: macs, StateDir: *stateDir, Model: *model, Firmware: *firmware,
		SourceAddrs: addrs, Log: log, DialConcurrency: *dials, UpgradeFailChecksum: *failChecksum, UpgradeFailTimeout: *failTimeout,
		UpgradeFailOldVersion: *failOld, UpgradeStepTime: *installTime, DownloadRate: *downloadRate, DownloadConcurrency: *downloads, BackoffMax: *backoffMax}
	if *claimsFile != "" {
		if cfg.ClaimCodes, err = readClaimsFile(*claimsFile); err != nil {
			return err
		}
	}
	if *macsFile == "" && *enroll {
		keys, err := devicesim.Keys(*stateDir, macs)
		if err != nil {
			return err
		}
		n, err := enrollKeys(ctx, d, keys)
		if err != nil {
			return err
		}
		if n > 0 {
			fmt.Fprintf(stdout, "devicesim: enrolled the keys of %d devices that had none accepted\n", n)
		}
	}
	if *insecure {
		cfg.TLS = &tls.Config{InsecureSkipVerify: true}
	}
	if *journal != "" {
		jf, err := os.OpenFile(*journal, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
		if err != nil {
			return fmt.Errorf("--journal: %w", err)
		}
		defer jf.Close()
		cfg.Journal = jf
	}
	stopProfile, err := startCPUProfile(*cpuProfile)
	if err != nil {
		return err
	}
	defer stopProfile()
	fleet, err := devicesim.Start(ctx, cfg)
	if err != nil {
		return err
	}
	defer fleet.Close()
	fmt.Fprintf(stdout, "devicesim: %d devices connecting to %s (state in %s", len(macs), *server, *stateDir)
	if len(addrs) > 0 {
		fmt.Fprintf(stdout, ", from %s", strings.Join(addrs, ","))
	}
	fmt.Fprintln(stdout, ")")
	if *web != "" {
		ln, err := net.Listen("tcp", *web)
		if err != nil {
			return fmt.Errorf("--web: %w", err)
		}
		srv := &http.Server{Handler: fleet, ReadHeaderTimeout: 10 * time.Second}
		go srv.Serve(ln)
		defer srv.Close()
		fmt.Fprintf(stdout, "devicesim: web page at http://%s/\n", ln.Addr())
	}
	// Check often, so "all online after" is precise; report every --report.
	start := time.Now()
	poll := time.NewTicker(min(*interval, 50*time.Millisecond))
	defer poll.Stop()
	nextReport := start.Add(*interval)
	all := allOnline{n: len(macs), start: start}
	var tries devicesim.Tries // at the last time all were online
	for {
		select {
		case <-ctx.Done():
			fmt.Fprintf(stdout, "devicesim: stopping %d devices\n", len(macs))
			fleet.Close()
			fmt.Fprintln(stdout, "devicesim: stopped")
			return nil
		case now := <-poll.C:
			on := fleet.Online()
			if msg := all.observe(now, on); msg != "" {
				var ms runtime.MemStats
				runtime.ReadMemStats(&ms)
				sofar := fleet.Tries()
				fmt.Fprintf(stdout, "devicesim: %s; simulator: heap in use %d MiB, stacks %d MiB, %d goroutines; %v)\n",
					msg, ms.HeapInuse>>20, ms.StackInuse>>20, runtime.NumGoroutine(), sofar.Since(tries))
				tries = sofar
			}
			if !now.Before(nextReport) {
				nextReport = nextReport.Add(*interval)
				if nextReport.Before(now) {
					nextReport = now.Add(*interval)
				}
				st := fleet.Stats()
				fmt.Fprintf(stdout, "%s online %d/%d connecting %d (attempts %d, failed %d, busy %d, lost %d)",
					now.Format("15:04:05"), on, len(macs), st.Connecting, st.Attempts, st.Failed, st.Busy, st.Lost)
				if st.Upgraded+st.UpgradeFailed > 0 {
					fmt.Fprintf(stdout, " upgrades ok %d, failed %d", st.Upgraded, st.UpgradeFailed)
				}
				fmt.Fprintln(stdout)
			}
		}
	}
}

// allOnline follows the online count and says when every device is online:
// the first time, counted from the simulator's start; after devices went
// offline (a reboot, a reset, a server restart), counted from the moment the
// first of them did — not from the start, which would read as a long delay.
type allOnline struct {
	n      int
	start  time.Time
	ever   bool      // all were online once
	all    bool      // all are online now
	downAt time.Time // when the count last fell below n, after all were online
	lowest int       // the lowest count since then
}

// observe takes the online count at now and returns the line to print when
// all devices have just come online, without its closing parenthesis.
func (a *allOnline) observe(now time.Time, on int) string {
	switch {
	case on >= a.n && !a.all:
		a.all = true
		if !a.ever {
			a.ever = true
			return fmt.Sprintf("all %d devices online after %s (since the simulator started", a.n, now.Sub(a.start).Round(time.Millisecond))
		}
		return fmt.Sprintf("all %d devices online again, %s after the first of them went offline (as few as %d were online; the simulator has run %s",
			a.n, now.Sub(a.downAt).Round(time.Millisecond), a.lowest, now.Sub(a.start).Round(time.Second))
	case on < a.n && a.all:
		a.all = false
		a.downAt, a.lowest = now, on
	case on < a.n && on < a.lowest:
		a.lowest = on
	}
	return ""
}

// readMACFile reads --macs.
func readMACFile(path string) ([]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("--macs: %w", err)
	}
	defer f.Close()
	macs, err := devicesim.ParseMACList(f)
	if err != nil {
		return nil, fmt.Errorf("--macs %s: %w", path, err)
	}
	return macs, nil
}

// readClaimsFile reads --claims: "MAC,code" a line; blank lines and #
// comments skipped.
func readClaimsFile(path string) (map[string]string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("--claims: %w", err)
	}
	out := map[string]string{}
	for n, line := range strings.Split(string(b), "\n") {
		if i := strings.IndexByte(line, '#'); i >= 0 {
			line = line[:i]
		}
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		mac, code, ok := strings.Cut(line, ",")
		m, err := devicesim.ParseMAC(strings.TrimSpace(mac))
		if !ok || err != nil || strings.TrimSpace(code) == "" {
			return nil, fmt.Errorf("--claims %s: line %d: want MAC,code", path, n+1)
		}
		out[m] = strings.TrimSpace(code)
	}
	return out, nil
}

// enrollKeys registers the simulated devices' keys as accepted for the
// devices of the database that have none (as the system: the simulator with
// the database at hand stands for the devices' maker).
func enrollKeys(ctx context.Context, d dbFlags, keys map[string]string) (int, error) {
	st, err := openStore(ctx, d)
	if err != nil {
		return 0, err
	}
	defer st.Close()
	n, err := st.EnrollDeviceKeys(model.WithActor(ctx, model.System), keys)
	if err != nil {
		return 0, fmt.Errorf("enrolling the devices' keys: %w", err)
	}
	return n, nil
}

// registeredMACs lists n devices of the database (all when n is 0), spread
// over every installer's community, office and personal devices, as the
// system: a plain read, no actor involved.
func registeredMACs(ctx context.Context, d dbFlags, n int) ([]string, error) {
	if d.db == "" {
		// Do not create an empty database where none is.
		if _, err := os.Stat(store.DefaultDSN(d.data)); errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("no database at %s: give --macs FILE, or --data / --db of a Gatehouse database", store.DefaultDSN(d.data))
		}
	}
	st, err := openStore(ctx, d)
	if err != nil {
		return nil, err
	}
	defer st.Close()
	return devicesim.SpreadMACs(ctx, st.DB(), n)
}

// devicesPerSource is how many connections one local address carries in
// --source-addrs auto: the ephemeral port range has about 28,000 ports, and
// the kernel finds a free one faster when few are taken.
const devicesPerSource = 5000

// sourceAddrs reads --source-addrs: a list, or auto (127.0.0.2 … when the
// server is a loopback address and there are more devices than one address
// has ports for comfortably).
func sourceAddrs(flag string, server *url.URL, n int) ([]string, error) {
	flag = strings.TrimSpace(flag)
	switch flag {
	case "":
		return nil, nil
	case "auto":
		host := server.Hostname()
		loopback := host == "localhost"
		if ip := net.ParseIP(host); ip != nil && ip.IsLoopback() && ip.To4() != nil {
			loopback = true
		}
		if !loopback {
			return nil, nil // the kernel picks the one address that reaches the server
		}
		k := (n + devicesPerSource - 1) / devicesPerSource
		addrs := make([]string, 0, k)
		for i := range k {
			addrs = append(addrs, fmt.Sprintf("127.0.%d.%d", (i+2)/256, (i+2)%256))
		}
		return addrs, nil
	}
	var addrs []string
	for _, s := range strings.Split(flag, ",") {
		s = strings.TrimSpace(s)
		if s == "" {
			continue
		}
		if net.ParseIP(s) == nil {
			return nil, fmt.Errorf("--source-addrs: %q is not an IP address (or use auto)", s)
		}
		addrs = append(addrs, s)
	}
	return addrs, nil
}
