package faults_test

import (
	"bytes"
	"io"
	"math/rand/v2"
	"net/http"
	"sort"
	"strconv"
	"sync"
	"testing"
	"time"
)

// opsAnswer is what a client got for a request the node may have been
// killed in the middle of: a status and body, or a transport error.
type opsAnswer struct {
	Status int
	Body   []byte
	Err    error
}

// OK is true when the node acknowledged the request (2xx) before it died.
func (a opsAnswer) OK() bool { return a.Err == nil && a.Status/100 == 2 }

// Known is true when the client got an answer at all.
func (a opsAnswer) Known() bool { return a.Err == nil && a.Status != 0 }

func (a opsAnswer) String() string {
	if a.Err != nil {
		return "no answer (" + a.Err.Error() + ")"
	}
	b := a.Body
	if len(b) > 300 {
		b = b[:300]
	}
	return strconv.Itoa(a.Status) + " " + string(b)
}

// opsStats counts a scenario's operations, kills and violations, and the
// node's time to be ready again after each restart.
type opsStats struct {
	mu         sync.Mutex
	ops        int // requests whose outcome was checked
	checked    int // checks of the database after them
	kills      int
	violations int
	ready      []time.Duration
}

// violation reports a broken invariant (the test fails) and counts it.
func (s *opsStats) violation(t testing.TB, format string, args ...any) {
	t.Helper()
	s.mu.Lock()
	s.violations++
	s.mu.Unlock()
	t.Errorf("VIOLATION: "+format, args...)
}

func (s *opsStats) check() {
	s.mu.Lock()
	s.checked++
	s.mu.Unlock()
}

// op counts n requests whose outcome the checks cover.
func (s *opsStats) op(n int) {
	s.mu.Lock()
	s.ops += n
	s.mu.Unlock()
}

// report logs the figures for the README's table.
func (s *opsStats) report(t testing.TB, what string) {
	t.Helper()
	r := append([]time.Duration(nil), s.ready...)
	sort.Slice(r, func(i, j int) bool { return r[i] < r[j] })
	var worst, median time.Duration
	if len(r) > 0 {
		worst, median = r[len(r)-1], r[len(r)/2]
	}
	figure(t, "%s: %d operations checked (%d checks of the database), %d kills (SIGKILL), %d violations; node ready again after restart: median %s, max %s",
		what, s.ops, s.checked, s.kills, s.violations, median.Round(time.Millisecond), worst.Round(time.Millisecond))
}

// opsKillDuring starts op (a request to n) in the background, sleeps a
// random delay within span, kills n with SIGKILL, waits for op's answer,
// then starts n again and records how long it took to be ready.
func opsKillDuring(t testing.TB, n *node, rng *rand.Rand, span time.Duration, st *opsStats, op func() opsAnswer) (opsAnswer, time.Duration) {
	t.Helper()
	delay := time.Duration(rng.Int64N(int64(span) + 1))
	answer := make(chan opsAnswer, 1)
	go func() { answer <- op() }()
	time.Sleep(delay)
	n.Kill()
	a := <-answer
	start := time.Now()
	n.Start()
	ready := time.Since(start)
	st.mu.Lock()
	st.kills++
	st.ready = append(st.ready, ready)
	st.mu.Unlock()
	t.Logf("killed %s after %s of %s; the client got %s; ready again in %s", n.Name, delay.Round(time.Microsecond), span.Round(time.Microsecond),
		a, ready.Round(time.Millisecond))
	return a, delay
}

// opsDo wraps a client call as an op for opsKillDuring.
func opsDo(c *client, method, path, contentType string, body any) func() opsAnswer {
	return func() opsAnswer {
		st, b, err := c.DoType(method, path, contentType, body)
		return opsAnswer{st, b, err}
	}
}

// opsInts reads one column of int64 (query with ? placeholders).
func (d *database) opsInts(t testing.TB, query string, args ...any) []int64 {
	t.Helper()
	return column[int64](t, d, query, args...)
}

// opsString reads one string (query with ? placeholders).
func (d *database) opsString(t testing.TB, query string, args ...any) string {
	t.Helper()
	var s string
	if err := d.SQL(t).QueryRow(d.rebind(query), args...).Scan(&s); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	return s
}

// newWebhookRequest is a Stripe delivery of body to base's /webhooks/stripe.
func newWebhookRequest(base string, body []byte, signature string) (*http.Request, error) {
	r, err := http.NewRequest("POST", base+"/webhooks/stripe", bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	r.Header.Set("Content-Type", "application/json; charset=utf-8")
	r.Header.Set("Stripe-Signature", signature)
	return r, nil
}

func readAll(r io.Reader) ([]byte, error) { return io.ReadAll(r) }
