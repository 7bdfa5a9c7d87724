package model

import (
	"testing"
	"time"
)

func TestComputeAvailability(t *testing.T) {
	to := time.Date(2031, 1, 8, 0, 0, 0, 0, time.UTC)
	from := to.Add(-7 * 24 * time.Hour)
	h := time.Hour
	p := func(at time.Time, online bool) AvailabilityPoint { return AvailabilityPoint{At: at, Online: online} }
	for _, c := range []struct {
		name   string
		pts    []AvailabilityPoint
		bp     int
		known  int64
		spans  int
		within int
	}{
		{"no history", nil, 0, 0, 1, 0},
		{"online since before the window", []AvailabilityPoint{p(from.Add(-30*24*h), false), p(from.Add(-h), true)}, 10000, 7 * 24 * 3600, 1, 0},
		{"offline all week", []AvailabilityPoint{p(from.Add(-h), false)}, 0, 7 * 24 * 3600, 1, 0},
		// Added 2 days ago, online the last day: half of the known time.
		{"added 2 days ago", []AvailabilityPoint{p(to.Add(-24*h), true), p(to.Add(-48*h), false)}, 5000, 2 * 24 * 3600, 3, 2},
		// A point after the window's end (a clock ahead) is not counted.
		{"future point", []AvailabilityPoint{p(from.Add(-h), true), p(to.Add(h), false)}, 10000, 7 * 24 * 3600, 1, 0},
		// Repeated states merge into one span.
		{"same state twice", []AvailabilityPoint{p(from.Add(-h), true), p(from.Add(h), true)}, 10000, 7 * 24 * 3600, 1, 1},
		// Added this instant online: its state.
		{"added now online", []AvailabilityPoint{p(to, true)}, 10000, 0, 1, 1},
	} {
		a := ComputeAvailability(c.pts, from, to)
		if a.BasisPoints != c.bp || a.KnownSeconds != c.known || len(a.Spans) != c.spans || a.Transitions != c.within {
			t.Errorf("%s: bp %d known %d spans %d transitions %d; want %d %d %d %d (%+v)", c.name, a.BasisPoints, a.KnownSeconds,
				len(a.Spans), a.Transitions, c.bp, c.known, c.spans, c.within, a.Spans)
		}
		var sum time.Duration
		for _, s := range a.Spans {
			sum += s.To.Sub(s.From)
		}
		if sum != to.Sub(from) && len(a.Spans) > 0 {
			t.Errorf("%s: the spans cover %s of the window", c.name, sum)
		}
	}
}
