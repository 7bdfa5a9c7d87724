package model

import (
	"fmt"
	"sort"
	"time"
)

// Availability history (README "Availability"): a device's online /
// offline transitions, and the share of a window it was online.

// AvailabilityWindow is the window of a device's stored availability
// figure (Device.Availability7d) and of its page's strip.
const AvailabilityWindow = 7 * 24 * time.Hour

// Availability retention: how long transitions are kept (serve
// --availability-retention), at least the 7 days the lists sort by.
const (
	DefaultAvailabilityRetention = 35 * 24 * time.Hour
	MinAvailabilityRetention     = 7 * 24 * time.Hour
	// MaxAvailabilityDays bounds the days a device's availability is asked
	// for (GET /api/v1/devices/{mac}/availability?days=).
	MaxAvailabilityDays = 30
	// AvailabilityRecent is how many of the latest transitions a device's
	// availability lists.
	AvailabilityRecent = 10
)

// AvailabilityPoint is one stored transition: from At on, the device was
// Online (or not).
type AvailabilityPoint struct {
	At     time.Time `json:"at"`
	Online bool      `json:"online"`
}

// AvailabilitySpan is a stretch of the window in one state. Known is false
// before the device's history starts (it did not exist yet, or its history
// was not kept yet): such time counts as neither online nor offline.
type AvailabilitySpan struct {
	From   time.Time `json:"from"`
	To     time.Time `json:"to"`
	Known  bool      `json:"known"`
	Online bool      `json:"online"`
}

// Availability is a device's availability over [From, To].
type Availability struct {
	MAC  string    `json:"mac"`
	From time.Time `json:"from"`
	To   time.Time `json:"to"`
	Days int       `json:"days"`
	// BasisPoints is the online share of the known time, in hundredths of
	// a percent (0–10000); Percent is the same as a percentage. With no
	// known time (a device added this instant) it is its current state.
	BasisPoints    int     `json:"basis_points"`
	Percent        float64 `json:"percent"`
	OnlineSeconds  int64   `json:"online_seconds"`
	OfflineSeconds int64   `json:"offline_seconds"`
	KnownSeconds   int64   `json:"known_seconds"`
	// Spans cover the window in order; Recent are the latest transitions
	// within it, newest first (at most AvailabilityRecent).
	Spans  []AvailabilitySpan  `json:"spans"`
	Recent []AvailabilityPoint `json:"recent"`
	// Transitions counts the transitions within the window.
	Transitions int `json:"transitions"`
}

// ComputeAvailability computes the availability over [from, to] of a
// device whose transitions are points (any order; those before from give
// its state at from). Time before its first point is unknown.
func ComputeAvailability(points []AvailabilityPoint, from, to time.Time) Availability {
	pts := append([]AvailabilityPoint(nil), points...)
	sort.SliceStable(pts, func(i, j int) bool { return pts[i].At.Before(pts[j].At) })
	a := Availability{From: from, To: to, Spans: []AvailabilitySpan{}, Recent: []AvailabilityPoint{}}
	if !to.After(from) {
		return a
	}
	known, online := false, false
	var knownD, onlineD time.Duration
	cur := from
	add := func(end time.Time) {
		if !end.After(cur) {
			return
		}
		if known {
			knownD += end.Sub(cur)
			if online {
				onlineD += end.Sub(cur)
			}
		}
		if n := len(a.Spans); n > 0 && a.Spans[n-1].Known == known && a.Spans[n-1].Online == (known && online) {
			a.Spans[n-1].To = end
		} else {
			a.Spans = append(a.Spans, AvailabilitySpan{From: cur, To: end, Known: known, Online: known && online})
		}
		cur = end
	}
	var within []AvailabilityPoint
	for _, p := range pts {
		if p.At.After(to) {
			break
		}
		if p.At.After(from) {
			add(p.At)
			within = append(within, p)
		}
		known, online = true, p.Online
	}
	add(to)
	a.KnownSeconds, a.OnlineSeconds = int64(knownD/time.Second), int64(onlineD/time.Second)
	a.OfflineSeconds = a.KnownSeconds - a.OnlineSeconds
	switch {
	case knownD > 0:
		a.BasisPoints = int(int64(onlineD/time.Millisecond) * 10000 / max(int64(knownD/time.Millisecond), 1))
	case known && online:
		a.BasisPoints = 10000
	}
	a.Percent = float64(a.BasisPoints) / 100
	a.Transitions = len(within)
	for i := len(within) - 1; i >= 0 && len(a.Recent) < AvailabilityRecent; i-- {
		a.Recent = append(a.Recent, within[i])
	}
	return a
}

// AvailabilityPercent is the row's stored 7-day figure as the lists show
// it: "97.25 %".
func (r *DeviceRow) AvailabilityPercent() string {
	return fmt.Sprintf("%.2f %%", float64(r.Availability7d)/100)
}
