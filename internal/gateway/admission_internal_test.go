package gateway

import (
	"testing"
	"time"
)

// The Retry-After of a shed connect spreads the devices shed in the last
// second over the seconds the node needs to serve them at its pace (places ÷
// time a connect holds one), uniformly, never beyond 60 s.
func TestRetryAfterSpreadsOverTheNodesPace(t *testing.T) {
	for _, c := range []struct {
		max, shedLastSecond int64
		hold                time.Duration
		want                int // spread, seconds
	}{
		{512, 0, 100 * time.Millisecond, 1},        // first second of a storm
		{512, 10_000, 100 * time.Millisecond, 2},   // 5,120/s
		{512, 50_000, 200 * time.Millisecond, 20},  // 2,560/s
		{512, 100_000, 200 * time.Millisecond, 40}, // 2,560/s
		{4, 100_000, time.Second, 60},              // capped
	} {
		a := &admission{max: c.max, hold: c.hold, window: time.Now().Add(-1500 * time.Millisecond), sheds: c.shedLastSecond}
		seen := map[int]int{}
		for range 20_000 {
			seen[a.retryAfter()]++
		}
		for s := 1; s <= c.want; s++ {
			if n := seen[s]; n < 20_000/c.want*7/10 || n > 20_000/c.want*13/10 {
				t.Errorf("%+v: %d of 20000 told %d s, want about %d: %v", c, n, s, 20_000/c.want, seen)
			}
		}
		if len(seen) != c.want {
			t.Errorf("%+v: told %d different waits, want 1..%d: %v", c, len(seen), c.want, seen)
		}
	}
}
