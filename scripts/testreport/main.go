// Command testreport reads `go test -json` on stdin and prints what a person
// wants from `make test`: one line per package (as `go test` prints them),
// every failing test in full, and at the end a summary that names each test
// skipped — and each test that ran only its SQLite half — grouped by the
// suite it belongs to and with the reason it gave.
//
// With -strict (scripts/test.sh passes it when CI=true) a skip is a failure:
// CI must run every suite. The only skips allowed are the opt-in tools listed
// in optIn: measurements and screenshot takers that are Tests only so that
// `go test -run` starts them, and that run when their variable is set.
//
//	go test -json ./... 2>&1 | go run ./scripts/testreport [-strict] [-trim MODULE/]
//
// The exit status is 1 when a test or a package failed, when nothing was
// tested, or (with -strict) when something was skipped.
package main

import (
	"bufio"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"regexp"
	"slices"
	"sort"
	"strings"
	"time"
)

// optIn lists the tests that skip by design unless a variable asks for them:
// tools, not suites. A test here counts as "not run" only when its skip
// reason names its variable; any other skip of it is reported like any other.
var optIn = []struct {
	Pkg, Test string // package path relative to the module, test name
	Var       string // the variable that runs it; its skip reason names it
	What      string
}{
	{"internal/server", "TestScreenshots", "GATEHOUSE_SCREENSHOTS", "takes the README screenshots (GATEHOUSE_SCREENSHOTS=DIR)"},
	{"internal/server", "TestScreenshotRollout", "GATEHOUSE_SCREENSHOTS", "takes the README's rollout screenshot (GATEHOUSE_SCREENSHOTS=DIR)"},
	{"internal/store", "TestRolloutLoad", "GATEHOUSE_ROLLOUT_DB", "times rollout previews and drafts on a 1M database (GATEHOUSE_ROLLOUT_DB=…)"},
	{"internal/server", "TestGatewayDeliveryLatency", "GATEHOUSE_BENCH_DELIVERY", "measures command delivery (GATEHOUSE_BENCH_DELIVERY=1)"},
	{"internal/server", "TestBatchAutoPLatency", "GATEHOUSE_BENCH_BATCH", "measures Batch AutoP (GATEHOUSE_BENCH_BATCH=1)"},
	{"internal/server", "TestLoginLoadLatency", "GATEHOUSE_BENCH_LOGINS", "measures the device list while 20 logins run (GATEHOUSE_BENCH_LOGINS=1)"},
	{"internal/server", "TestCamerasSpeed", "GATEHOUSE_SPEED_CAMERAS_DB", "times the camera lists on a big database (GATEHOUSE_SPEED_CAMERAS_DB=…)"},
	{"internal/gateway", "TestConnectionsMemory", "GATEHOUSE_BENCH_CONNS", "memory per device connection (GATEHOUSE_BENCH_CONNS=N)"},
	{"internal/gateway", "TestConnectionsMemoryServer", "child of TestConnectionsMemory", "the server process of TestConnectionsMemory"},
	{"internal/gateway", "TestConnectionsInMemory", "GATEHOUSE_BENCH_MEMCONNS", "100,000 in-memory connections (GATEHOUSE_BENCH_MEMCONNS=N)"},
	{"internal/gateway", "TestConnectCPUInMemory", "GATEHOUSE_BENCH_CONNECTCPU", "the server's CPU per connect apart from the simulator's (GATEHOUSE_BENCH_CONNECTCPU=N)"},
}

// halfSkipped marks a test that ran on SQLite only: testutil.Backends logs
// it when GATEHOUSE_TEST_POSTGRES is not set.
const halfSkipped = "PostgreSQL half skipped"

// suites sorts skip reasons into the suites they belong to, with what brings
// the suite back.
var suites = []struct {
	Name, Fix string
	Match     *regexp.Regexp
}{
	{"PostgreSQL", "install PostgreSQL 15 (/usr/lib/postgresql/15/bin, or PG_BIN=…) for scripts/test.sh to start, or set GATEHOUSE_TEST_POSTGRES=postgres://…",
		regexp.MustCompile(`(?i)postgres`)},
	{"Browser (headless Chromium)", "install chromium (apt-get install chromium) so that chromium is on PATH",
		regexp.MustCompile(`(?i)chromium|chrome|browser`)},
	{"PDF invoices (poppler-utils)", "install poppler-utils (pdftotext, pdftoppm)",
		regexp.MustCompile(`(?i)poppler|pdftotext|pdftoppm`)},
	{"Stripe (stripe-mock)", "go install github.com/stripe/stripe-mock@latest",
		regexp.MustCompile(`(?i)stripe`)},
	{"Other", "", regexp.MustCompile(``)},
}

// event is one line of `go test -json` (cmd/test2json).
type event struct {
	Time        time.Time
	Action      string
	Package     string
	Test        string
	Elapsed     float64
	Output      string
	ImportPath  string // build-output, build-fail
	FailedBuild string
}

type testState struct {
	output []string
	done   bool
	half   bool // logged halfSkipped
}

type pkgState struct {
	tests  map[string]*testState
	order  []string
	output []string // package-level lines other than the ok / FAIL / ? line
}

// skip is one reported skip.
type skip struct {
	Suite, Pkg, Test, Reason string
}

type report struct {
	out     io.Writer
	trim    string
	pkgs    map[string]*pkgState
	skips   []skip
	optedIn []string // opt-in tools not run
	passed  int
	failed  []string // "pkg TestX"
	pkgFail []string
	pkgOK   int
	events  int
}

func newReport(out io.Writer, trim string) *report {
	return &report{out: out, trim: trim, pkgs: map[string]*pkgState{}}
}

func (r *report) short(pkg string) string {
	if r.trim != "" {
		if s, ok := strings.CutPrefix(pkg, r.trim); ok && s != "" {
			return s
		}
	}
	return pkg
}

func (r *report) pkg(name string) *pkgState {
	p := r.pkgs[name]
	if p == nil {
		p = &pkgState{tests: map[string]*testState{}}
		r.pkgs[name] = p
	}
	return p
}

func (p *pkgState) test(name string) *testState {
	t := p.tests[name]
	if t == nil {
		t = &testState{}
		p.tests[name] = t
		p.order = append(p.order, name)
	}
	return t
}

// line handles one line of input: an event, or anything else (go's own
// messages on stderr), printed as it is.
func (r *report) line(s string) {
	var e event
	if !strings.HasPrefix(s, "{") || json.Unmarshal([]byte(s), &e) != nil || e.Action == "" {
		fmt.Fprintln(r.out, s)
		return
	}
	r.events++
	switch e.Action {
	case "build-output":
		fmt.Fprint(r.out, e.Output)
		return
	case "build-fail":
		return // the package's fail event follows
	}
	p := r.pkg(e.Package)
	if e.Test == "" {
		r.packageEvent(e, p)
		return
	}
	t := p.test(e.Test)
	switch e.Action {
	case "output":
		t.output = append(t.output, e.Output)
		if strings.Contains(e.Output, halfSkipped) {
			t.half = true
		}
	case "pass":
		t.done = true
		r.passed++
		if t.half {
			why := reasonOf(t.output, halfSkipped)
			if _, after, ok := strings.Cut(why, halfSkipped+": "); ok {
				why = after
			}
			r.skips = append(r.skips, skip{"PostgreSQL", r.short(e.Package), e.Test, "ran on SQLite only: " + why})
		}
		t.output = nil
	case "fail":
		t.done = true
		r.failed = append(r.failed, r.short(e.Package)+" "+e.Test)
		for _, o := range t.output {
			if !isFraming(o) {
				fmt.Fprint(r.out, o)
			}
		}
		t.output = nil
	case "skip":
		t.done = true
		reason := reasonOf(t.output, "")
		t.output = nil
		if o := r.optIn(e.Package, e.Test, reason); o != "" {
			r.optedIn = append(r.optedIn, e.Test+": "+o)
			return
		}
		r.skips = append(r.skips, skip{suiteOf(reason), r.short(e.Package), e.Test, reason})
	}
}

func (r *report) packageEvent(e event, p *pkgState) {
	switch e.Action {
	case "output":
		o := e.Output
		switch {
		case strings.HasPrefix(o, "ok  "), strings.HasPrefix(o, "?   "), strings.HasPrefix(o, "FAIL\t"):
			fmt.Fprint(r.out, o)
		case o == "PASS\n", o == "FAIL\n", isFraming(o):
		default:
			p.output = append(p.output, o)
		}
	case "pass":
		r.pkgOK++
		delete(r.pkgs, e.Package)
	case "fail":
		r.pkgFail = append(r.pkgFail, r.short(e.Package))
		// A panic, a timeout or a TestMain failure: what the package said
		// outside its tests, and the tests that never finished.
		for _, o := range p.output {
			fmt.Fprint(r.out, o)
		}
		for _, name := range p.order {
			t := p.tests[name]
			if t.done {
				continue
			}
			fmt.Fprintf(r.out, "--- %s did not finish:\n", name)
			for _, o := range t.output {
				if !isFraming(o) {
					fmt.Fprint(r.out, o)
				}
			}
		}
		delete(r.pkgs, e.Package)
	case "skip": // no test files
		delete(r.pkgs, e.Package)
	}
}

func (r *report) optIn(pkg, test, reason string) string {
	for _, o := range optIn {
		if o.Test == test && (r.short(pkg) == o.Pkg || strings.HasSuffix(pkg, "/"+o.Pkg)) && strings.Contains(reason, o.Var) {
			return o.What
		}
	}
	return ""
}

var framing = regexp.MustCompile(`^\s*(=== (RUN|PAUSE|CONT|NAME)|--- (PASS|SKIP))\b`)

func isFraming(s string) bool { return framing.MatchString(s) }

// logLine is a t.Log line as the testing package prints it.
var logLine = regexp.MustCompile(`^\s+\S+\.go:\d+: (.*)$`)

// reasonOf is the skip reason: the last t.Log / t.Skip line of the test's
// output (containing want, if given), else its last line that is not framing.
func reasonOf(output []string, want string) string {
	last := ""
	for i := len(output) - 1; i >= 0; i-- {
		s := strings.TrimRight(output[i], "\n")
		if isFraming(s) || strings.TrimSpace(s) == "" {
			continue
		}
		if want != "" && !strings.Contains(s, want) {
			continue
		}
		if m := logLine.FindStringSubmatch(s); m != nil {
			return strings.TrimSpace(m[1])
		}
		if last == "" {
			last = strings.TrimSpace(s)
		}
	}
	if last == "" {
		return "no reason given"
	}
	return last
}

func suiteOf(reason string) string {
	for _, s := range suites {
		if s.Match.MatchString(reason) {
			return s.Name
		}
	}
	return "Other"
}

// maxPerLine: beyond this many tests of one package skipped for one reason,
// they share a line.
const maxPerLine = 3

// summary prints the end summary and returns whether the run passed.
func (r *report) summary(strict bool) bool {
	w := r.out
	fmt.Fprintln(w)
	ok := true
	if r.events == 0 {
		fmt.Fprintln(w, "FAIL: go test reported nothing (see above)")
		return false
	}
	if len(r.skips) > 0 {
		fmt.Fprintln(w, "Skipped — these suites did not (fully) run:")
		for _, s := range suites {
			var in []skip
			for _, k := range r.skips {
				if k.Suite == s.Name {
					in = append(in, k)
				}
			}
			if len(in) == 0 {
				continue
			}
			fmt.Fprintf(w, "\n%s: %s skipped or run in part", s.Name, plural(len(in), "test"))
			if s.Fix != "" {
				fmt.Fprintf(w, "; to run them: %s", s.Fix)
			}
			fmt.Fprintln(w)
			// Group by package and reason, keeping the order of appearance.
			type key struct{ pkg, reason string }
			groups := map[key][]string{}
			var keys []key
			for _, k := range in {
				g := key{k.Pkg, k.Reason}
				if _, seen := groups[g]; !seen {
					keys = append(keys, g)
				}
				groups[g] = append(groups[g], k.Test)
			}
			sort.SliceStable(keys, func(i, j int) bool { return keys[i].pkg < keys[j].pkg })
			for _, g := range keys {
				tests := groups[g]
				if len(tests) <= maxPerLine {
					for _, t := range tests {
						fmt.Fprintf(w, "SKIPPED: %s %s: %s\n", g.pkg, t, g.reason)
					}
					continue
				}
				fmt.Fprintf(w, "SKIPPED: %s %d tests (%s, …): %s\n", g.pkg, len(tests), strings.Join(tests[:maxPerLine], ", "), g.reason)
			}
		}
		fmt.Fprintln(w)
	}
	if len(r.optedIn) > 0 {
		slices.Sort(r.optedIn)
		fmt.Fprintf(w, "Not run, opt-in tools (not suites): %s\n", strings.Join(r.optedIn, "; "))
	}
	fmt.Fprintf(w, "%s ok, %d failed; %s passed, %d failed, %d skipped or run in part\n",
		plural(r.pkgOK, "package"), len(r.pkgFail), plural(r.passed, "test"), len(r.failed), len(r.skips))
	if len(r.failed) > 0 {
		fmt.Fprintf(w, "FAILED: %s\n", strings.Join(leaves(r.failed), ", "))
		ok = false
	}
	if len(r.pkgFail) > 0 {
		fmt.Fprintf(w, "FAILED packages: %s\n", strings.Join(r.pkgFail, ", "))
		ok = false
	}
	if strict && len(r.skips) > 0 {
		fmt.Fprintf(w, "FAIL: CI=true and %d tests skipped or ran only partly: CI runs every suite (see the list above)\n", len(r.skips))
		ok = false
	}
	return ok
}

func plural(n int, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return fmt.Sprintf("%d %ss", n, what)
}

// leaves drops the parents of failed subtests: "p TestX" when "p TestX/sub"
// failed too.
func leaves(failed []string) []string {
	var out []string
	for _, f := range failed {
		parent := false
		for _, g := range failed {
			if strings.HasPrefix(g, f+"/") {
				parent = true
				break
			}
		}
		if !parent {
			out = append(out, f)
		}
	}
	return out
}

func main() {
	strict := flag.Bool("strict", false, "fail when a test was skipped (CI)")
	trim := flag.String("trim", "", "prefix to drop from package paths (the module path and a slash)")
	flag.Parse()
	r := newReport(os.Stdout, *trim)
	sc := bufio.NewScanner(os.Stdin)
	sc.Buffer(make([]byte, 1024*1024), 64*1024*1024)
	for sc.Scan() {
		r.line(sc.Text())
	}
	if err := sc.Err(); err != nil {
		fmt.Fprintln(os.Stdout, "testreport: reading go test output:", err)
		os.Exit(1)
	}
	if !r.summary(*strict) {
		os.Exit(1)
	}
}
