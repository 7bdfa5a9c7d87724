package gateway

import (
	"math"
	"math/rand/v2"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// Admission of connects (docs/device-protocol.md §2, §8): a node bounds the
// connects in progress — from the request to the end of the device's hello
// (authentication, upgrade, the hello's write, the pending commands) — and
// answers a connect over the bound at once with 503 and a Retry-After,
// before spending anything on it. When a node restarts and all its devices
// come back together, it serves as many as it can at full speed and tells
// the rest when to come back, instead of accepting them all and timing out
// on most.
//
// The Retry-After spreads the shed devices over the time the node needs to
// serve them (retryAfter): in the first second of a storm every shed device
// is told 1; in the next, the devices shed are spread over as many seconds
// as the node needs to serve them all; as the storm passes it shrinks back
// to 1.

// DefaultMaxConnecting is Options.MaxConnecting's default: enough connects
// in flight to keep both the database's group commit and the CPUs busy,
// few enough that each finishes well within the hello's timeouts.
const DefaultMaxConnecting = 1024

// maxRetryAfter caps the Retry-After of a shed connect (seconds): the
// protocol's longest back-off.
const maxRetryAfter = 60

type admission struct {
	max  int64
	now  atomic.Int64 // connects in progress
	shed atomic.Int64

	mu     sync.Mutex
	window time.Time     // start of the current one-second window
	sheds  int64         // in the current window
	served int64         // connects done (places freed) in the current window
	spread int           // Retry-After spread (seconds), from the last full window
	hold   time.Duration // how long a connect holds its place, moving average
}

// slot is one admitted connect's place; nil-safe.
type slot struct {
	a     *admission
	at    time.Time
	state atomic.Int32 // 0 held by ServeHTTP, 1 handed to the connection, 2 released
}

// admit takes a place for a connect, or answers 503 with a Retry-After and
// returns nil.
func (g *Gateway) admit(w http.ResponseWriter) *slot {
	a := &g.admission
	if n := a.now.Add(1); n > a.max {
		a.now.Add(-1)
		a.shed.Add(1)
		w.Header().Set("Retry-After", strconv.Itoa(a.retryAfter()))
		http.Error(w, "The node is busy; connect again after Retry-After seconds.", http.StatusServiceUnavailable)
		return nil
	}
	return &slot{a: a, at: time.Now()}
}

// retryAfter counts a shed connect and tells it when to come back: a
// uniform random whole number of seconds from 1 to the spread. The spread
// is how many seconds the node needs to serve the devices it shed in the
// last second, at its pace: the connects it served in that second, or,
// when fewer came (the shed ones wait at least a second), max places each
// held for hold (Little's law).
func (a *admission) retryAfter() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	if t := time.Now(); t.Sub(a.window) >= time.Second {
		a.spread = 1
		if t.Sub(a.window) < 2*time.Second && a.sheds > 0 {
			perSecond := max(float64(a.served), float64(a.max)/max(a.hold.Seconds(), 1e-3), 1)
			a.spread = int(min(math.Ceil(float64(a.sheds)/perSecond), maxRetryAfter))
		}
		a.window, a.sheds, a.served = t, 0, 0
	}
	a.sheds++
	return 1 + rand.N(max(a.spread, 1))
}

// done frees a place held since at.
func (a *admission) done(at time.Time) {
	a.now.Add(-1)
	d := time.Since(at)
	a.mu.Lock()
	a.hold += (d - a.hold) / 64
	a.served++
	a.mu.Unlock()
}

// handOff gives the place to the connection: held until its hello is done
// (release), not when ServeHTTP returns.
func (s *slot) handOff() *slot {
	if s != nil {
		s.state.CompareAndSwap(0, 1)
	}
	return s
}

// abandon frees the place unless it was handed to a connection
// (ServeHTTP's deferred call).
func (s *slot) abandon() {
	if s != nil && s.state.CompareAndSwap(0, 2) {
		s.a.done(s.at)
	}
}

// release frees the place once: the connection's hello is done, or the
// connection ended before one.
func (s *slot) release() {
	if s != nil && s.state.Swap(2) != 2 {
		s.a.done(s.at)
	}
}

// Shed counts the connects this node answered 503 because too many were
// in progress.
func (g *Gateway) Shed() int64 { return g.admission.shed.Load() }
