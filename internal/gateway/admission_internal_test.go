package gateway

import (
	"testing"
	"time"
)

// The devices shed are told to come back at the node's pace: each coming
// second is promised to at most as many devices as the node served in the
// last one, in order; beyond maxRetryAfter seconds, a random second.
func TestRetryAfterSchedulesAtTheNodesPace(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	a := &admission{max: 1024, hold: 10 * time.Second, served: 1000, servedSec: now.Unix() - 1} // Little: 102/s
	told := map[int]int{}
	for range 5000 {
		told[a.retryAfter(now)]++
	}
	for s := 1; s <= 5; s++ {
		if told[s] != 1000 {
			t.Errorf("%d devices told %d s, want 1000 (the pace): %v", told[s], s, told)
		}
	}
	if len(told) != 5 {
		t.Errorf("told %v, want 1000 each for 1..5 s", told)
	}
	// A second later, the seconds promised stay promised.
	if got := a.retryAfter(now.Add(time.Second)); got != 5 {
		t.Errorf("a second later the first free second is %d s away, want 5", got)
	}
	// Everything promised: a random second up to the cap.
	a = &admission{max: 1, hold: time.Hour}
	seen := map[int]bool{}
	for range (maxRetryAfter + 50) * 2 {
		s := a.retryAfter(now)
		if s < 1 || s > maxRetryAfter {
			t.Fatalf("told %d s", s)
		}
		seen[s] = true
	}
	if len(seen) < maxRetryAfter/2 {
		t.Errorf("with every second promised, only %d different waits", len(seen))
	}
}
