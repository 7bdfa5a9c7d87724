package gateway

import (
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"
)

// A node shutting down that still has connections to close tells a device
// that reaches it to come back once what is left of the shutdown is done
// (at the pace its connections closed so far), plus the 2 to 6 s of a
// restart: told 2 to 6 s while the shutdown needs longer, the devices came
// back to it again and again.
func TestClosingNodeSaysComeBackAfterTheShutdown(t *testing.T) {
	g := New(nil, nil, nil, Options{Node: "closing"})
	g.mu.Lock()
	g.closing = true
	// 100 connections closed in the second since the shutdown began, 900
	// still open: about 9 s left.
	g.closingSince, g.closingFrom = time.Now().Add(-time.Second), 1000
	for range 900 {
		g.live[&conn{}] = struct{}{}
	}
	g.mu.Unlock()
	seen := map[int]bool{}
	for range 200 {
		req := httptest.NewRequest("GET", "/device/v1/connect", nil)
		rec := httptest.NewRecorder()
		g.ServeHTTP(rec, req)
		if rec.Code != http.StatusServiceUnavailable {
			t.Fatalf("a closing node answered %d, want 503", rec.Code)
		}
		n, err := strconv.Atoi(rec.Header().Get("Retry-After"))
		if err != nil || n < 9+2 || n > 10+6 {
			t.Fatalf("Retry-After %q with 900 of 1,000 connections left to close after 1 s, want 11 to 16 s", rec.Header().Get("Retry-After"))
		}
		seen[n] = true
	}
	if len(seen) < 3 {
		t.Errorf("200 devices turned away were all told one of %v: not spread", seen)
	}
}
