package gateway

import (
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
// The Retry-After schedules the shed devices (retryAfter): each is told the
// first coming second not yet promised to as many devices as the node
// serves in a second, so that they come back at the pace the node can
// serve them, spread over as many seconds as it needs.

// DefaultMaxConnecting is Options.MaxConnecting's default: enough connects
// in flight to keep both the database's group commit and the CPUs busy,
// few enough that each finishes well within the hello's timeouts.
const DefaultMaxConnecting = 1024

// maxRetryAfter caps the Retry-After of a shed connect (seconds).
const maxRetryAfter = 180

type admission struct {
	max  int64
	now  atomic.Int64 // connects in progress
	shed atomic.Int64

	mu sync.Mutex
	// promised counts the shed devices told to come back in each of the
	// next seconds: slot (t mod len) for the Unix second t, from sec on.
	promised [maxRetryAfter + 1]int64
	sec      int64
	// served counts the connects done in the Unix second servedSec; paced
	// is the count of the second before: the node's pace.
	served, paced, servedSec int64
	hold                     time.Duration // how long a connect holds its place, moving average
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
		w.Header().Set("Retry-After", strconv.Itoa(a.retryAfter(time.Now())))
		http.Error(w, "The node is busy; connect again after Retry-After seconds.", http.StatusServiceUnavailable)
		return nil
	}
	return &slot{a: a, at: time.Now()}
}

// retryAfter tells a shed connect when to come back: the first of the next
// seconds not yet promised to as many devices as the node serves in a
// second, so that the devices it turns away return at the pace it can
// serve them, none sooner. The pace is the connects served in the last
// second, or, when fewer came, max places each held for hold (Little's
// law). With every second up to maxRetryAfter promised, a random one.
func (a *admission) retryAfter(now time.Time) int {
	a.mu.Lock()
	defer a.mu.Unlock()
	t := now.Unix()
	if t > a.sec { // forget the seconds past
		for s := a.sec; s < t && s < a.sec+int64(len(a.promised)); s++ {
			a.promised[s%int64(len(a.promised))] = 0
		}
		a.sec = t
	}
	pace := float64(a.max) / max(a.hold.Seconds(), 1e-3)
	if a.servedSec == t-1 {
		pace = max(pace, float64(a.served))
	} else if a.servedSec == t {
		pace = max(pace, float64(a.paced))
	}
	perSecond := max(int64(pace), 1)
	for i := int64(1); i <= maxRetryAfter; i++ {
		if p := &a.promised[(t+i)%int64(len(a.promised))]; *p < perSecond {
			*p++
			return int(i)
		}
	}
	return 1 + rand.N(maxRetryAfter)
}

// done frees a place held since at.
func (a *admission) done(at time.Time) {
	a.now.Add(-1)
	now := time.Now()
	a.mu.Lock()
	a.hold += (now.Sub(at) - a.hold) / 64
	if t := now.Unix(); t != a.servedSec {
		a.paced = 0
		if t == a.servedSec+1 {
			a.paced = a.served
		}
		a.served, a.servedSec = 0, t
	}
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
