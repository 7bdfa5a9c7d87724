package main

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
)

const mod = "github.com/gatehouse-dev/gatehouse/"

// stream builds `go test -json` lines.
type stream []string

func (s *stream) ev(action, pkg, test, output string) {
	b, _ := json.Marshal(event{Action: action, Package: mod + pkg, Test: test, Output: output})
	*s = append(*s, string(b))
}

// test adds a whole test: its log lines, then its end.
func (s *stream) test(pkg, name, end string, logs ...string) {
	s.ev("run", pkg, name, "")
	s.ev("output", pkg, name, "=== RUN   "+name+"\n")
	for _, l := range logs {
		s.ev("output", pkg, name, "    x_test.go:12: "+l+"\n")
	}
	s.ev("output", pkg, name, fmt.Sprintf("--- %s: %s (0.00s)\n", strings.ToUpper(end), name))
	s.ev(end, pkg, name, "")
}

func run(t *testing.T, strict bool, lines stream) (string, bool) {
	t.Helper()
	var out strings.Builder
	r := newReport(&out, mod)
	for _, l := range lines {
		r.line(l)
	}
	ok := r.summary(strict)
	return out.String(), ok
}

func TestCleanRunPassesAndPrintsOnlyPackageLines(t *testing.T) {
	var s stream
	s.test("internal/store", "TestA", "pass", "chatter")
	s.test("internal/server", "TestScreenshots", "skip", "set GATEHOUSE_SCREENSHOTS=DIR to take the README screenshots")
	s.ev("output", "internal/store", "", "PASS\n")
	s.ev("output", "internal/store", "", "ok  \t"+mod+"internal/store\t1.2s\n")
	s.ev("pass", "internal/store", "", "")
	s.ev("output", "internal/model", "", "?   \t"+mod+"internal/model\t[no test files]\n")
	s.ev("skip", "internal/model", "", "")
	for _, strict := range []bool{false, true} {
		out, ok := run(t, strict, s)
		if !ok {
			t.Errorf("strict=%v: a clean run failed:\n%s", strict, out)
		}
		if strings.Contains(out, "chatter") || strings.Contains(out, "SKIPPED") {
			t.Errorf("passing output or an opt-in tool reported:\n%s", out)
		}
		for _, want := range []string{"ok  \t" + mod + "internal/store", "[no test files]", "Not run, opt-in tools (not suites): TestScreenshots", "1 package ok, 0 failed; 1 test passed"} {
			if !strings.Contains(out, want) {
				t.Errorf("output lacks %q:\n%s", want, out)
			}
		}
	}
}

func TestSkipsAreNamedBySuiteAndFailInCI(t *testing.T) {
	var s stream
	for i := range 5 {
		s.test("internal/store", fmt.Sprintf("TestStore%d", i), "pass", "PostgreSQL half skipped: GATEHOUSE_TEST_POSTGRES is not set")
	}
	s.test("internal/server", "TestBrowserLogin", "skip", "chromium not found")
	s.test("internal/server", "TestInvoicePDF", "skip", "poppler-utils (pdftotext, pdftoppm) not installed")
	s.test("internal/billing/stripe", "TestCheckout", "skip", "SKIPPING STRIPE TESTS: stripe-mock not found on PATH")
	s.test("internal/server", "TestMultiNode", "skip", "GATEHOUSE_TEST_POSTGRES not set")
	// An opt-in tool skipped for another reason than its variable is a skip.
	s.test("internal/server", "TestScreenshots", "skip", "chromium not found")
	s.test("internal/demo", "TestBig", "skip", "loads 50,000 users")

	out, ok := run(t, false, s)
	if !ok {
		t.Errorf("skips failed a run outside CI:\n%s", out)
	}
	for _, want := range []string{
		"PostgreSQL: 6 tests skipped or run in part",
		"SKIPPED: internal/store 5 tests (TestStore0, TestStore1, TestStore2, …): ran on SQLite only: GATEHOUSE_TEST_POSTGRES is not set",
		"SKIPPED: internal/server TestMultiNode: GATEHOUSE_TEST_POSTGRES not set",
		"Browser (headless Chromium): 2 tests",
		"SKIPPED: internal/server TestBrowserLogin: chromium not found",
		"SKIPPED: internal/server TestScreenshots: chromium not found",
		"PDF invoices (poppler-utils): 1 test",
		"SKIPPED: internal/server TestInvoicePDF: poppler-utils (pdftotext, pdftoppm) not installed",
		"Stripe (stripe-mock): 1 test",
		"SKIPPED: internal/billing/stripe TestCheckout: SKIPPING STRIPE TESTS: stripe-mock not found on PATH",
		"Other: 1 test",
		"SKIPPED: internal/demo TestBig: loads 50,000 users",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	out, ok = run(t, true, s)
	if ok || !strings.Contains(out, "FAIL: CI=true and 11 tests skipped") {
		t.Errorf("CI: skips did not fail the run:\n%s", out)
	}
}

func TestFailuresInFull(t *testing.T) {
	var s stream
	s.test("internal/api", "TestGood", "pass", "quiet")
	s.ev("run", "internal/api", "TestX", "")
	s.ev("output", "internal/api", "TestX", "=== RUN   TestX\n")
	s.test("internal/api", "TestX/sub", "fail", "boom", "        second line")
	s.ev("output", "internal/api", "TestX", "--- FAIL: TestX (0.00s)\n")
	s.ev("fail", "internal/api", "TestX", "")
	s.ev("output", "internal/api", "", "FAIL\n")
	s.ev("output", "internal/api", "", "FAIL\t"+mod+"internal/api\t0.1s\n")
	s.ev("fail", "internal/api", "", "")
	// A package whose test hangs until the timeout.
	s.ev("run", "internal/gateway", "TestHang", "")
	s.ev("output", "internal/gateway", "TestHang", "    x_test.go:5: waiting\n")
	s.ev("output", "internal/gateway", "", "panic: test timed out after 20m0s\n")
	s.ev("fail", "internal/gateway", "", "")
	s = append(s, "# "+mod+"internal/web", "not json: go's own words")
	b, _ := json.Marshal(event{Action: "build-output", ImportPath: mod + "internal/web", Output: "web.go:3:1: syntax error\n"})
	s = append(s, string(b))

	out, ok := run(t, false, s)
	if ok {
		t.Errorf("failures passed:\n%s", out)
	}
	for _, want := range []string{"x_test.go:12: boom", "second line", "--- FAIL: TestX/sub", "FAIL\t" + mod + "internal/api",
		"panic: test timed out", "--- TestHang did not finish:", "x_test.go:5: waiting", "not json: go's own words", "web.go:3:1: syntax error",
		"FAILED: internal/api TestX/sub\n", "FAILED packages: internal/api, internal/gateway"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "quiet") || strings.Contains(out, "=== RUN") {
		t.Errorf("passing output or framing printed:\n%s", out)
	}
}

func TestNothingTestedFails(t *testing.T) {
	if out, ok := run(t, false, stream{"go: cannot find main module"}); ok {
		t.Errorf("no events passed:\n%s", out)
	}
}
