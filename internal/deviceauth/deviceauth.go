// Package deviceauth holds what the device gateway and the AutoP server share
// when a device authenticates (docs/device-protocol.md §1–2, §7): the one
// refusal every key the cloud did not accept gets, whatever the reason, and
// the rate limits on such attempts per source address and per MAC.
//
// The limits are kept in memory, per node: a device's attempts go to one
// node at a time through the load balancer, and each node bounds what one
// source can make it do. They are deny-by-default: an attempt is let through
// only when both its source's and its MAC's budgets have room, and when the
// limiter's tables are full of active entries, new sources and MACs are
// refused rather than forgotten.
package deviceauth

import (
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"
)

// The refusal of every attempt with a key the cloud did not accept: an
// unknown MAC, a key waiting to be accepted, a rejected, voided or wrong
// key. Same status, headers and body everywhere, so that a stranger learns
// nothing about which MACs are registered.
const (
	RefusedStatus = http.StatusForbidden
	RefusedBody   = "Not enrolled: this MAC and key are not accepted. An unknown MAC, a key waiting to be accepted " +
		"and a wrong key all get this answer. Retry in a minute.\n"
	// RetryRefused is the Retry-After of a refusal, in seconds: a pending key
	// is accepted by a person, and the device should then come soon.
	RetryRefused = 60
	TooManyBody  = "Too many attempts from this address or for this MAC. Retry later.\n"
)

// Refuse answers a refused attempt.
func Refuse(w http.ResponseWriter) {
	h := w.Header()
	h.Set("Content-Type", "text/plain; charset=utf-8")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Retry-After", strconv.Itoa(RetryRefused))
	w.WriteHeader(RefusedStatus)
	w.Write([]byte(RefusedBody))
}

// TooMany answers an attempt over the limits.
func TooMany(w http.ResponseWriter, retry time.Duration) {
	h := w.Header()
	h.Set("Content-Type", "text/plain; charset=utf-8")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Retry-After", strconv.Itoa(max(1, int((retry+time.Second-1)/time.Second))))
	w.WriteHeader(http.StatusTooManyRequests)
	w.Write([]byte(TooManyBody))
}

// Limits are the budgets of attempts with a key that is not the accepted
// one (the accepted key is never limited): each source address and each
// MAC has Burst attempts, refilled one per Every.
type Limits struct {
	SourceBurst int
	SourceEvery time.Duration
	MACBurst    int
	MACEvery    time.Duration
	// MaxEntries bounds each table (sources, MACs).
	MaxEntries int
	// ReportEvery is how often at most a limited source or MAC is
	// reported for the audit log, and ReportMax how many reports a
	// minute at most, all together.
	ReportEvery time.Duration
	ReportMax   int
}

// DefaultLimits: a source may try 60 keys at once and one a second after;
// a MAC 10 at once and one every 6 seconds (a pending device retries once a
// minute).
var DefaultLimits = Limits{SourceBurst: 60, SourceEvery: time.Second, MACBurst: 10, MACEvery: 6 * time.Second,
	MaxEntries: 100_000, ReportEvery: time.Minute, ReportMax: 60}

type bucket struct {
	tokens   float64
	at       time.Time
	reported time.Time
}

// Limiter counts attempts per source address and per MAC.
type Limiter struct {
	lim Limits
	now func() time.Time

	mu          sync.Mutex
	src, mac    map[string]*bucket
	reports     int
	reportsFrom time.Time
}

// NewLimiter returns a limiter; zero fields of lim take DefaultLimits'.
func NewLimiter(lim Limits) *Limiter {
	d := DefaultLimits
	def := func(v *int, x int) {
		if *v <= 0 {
			*v = x
		}
	}
	defD := func(v *time.Duration, x time.Duration) {
		if *v <= 0 {
			*v = x
		}
	}
	def(&lim.SourceBurst, d.SourceBurst)
	defD(&lim.SourceEvery, d.SourceEvery)
	def(&lim.MACBurst, d.MACBurst)
	defD(&lim.MACEvery, d.MACEvery)
	def(&lim.MaxEntries, d.MaxEntries)
	defD(&lim.ReportEvery, d.ReportEvery)
	def(&lim.ReportMax, d.ReportMax)
	return &Limiter{lim: lim, now: time.Now, src: map[string]*bucket{}, mac: map[string]*bucket{}}
}

// SetClock replaces the limiter's clock (tests).
func (l *Limiter) SetClock(now func() time.Time) { l.mu.Lock(); l.now = now; l.mu.Unlock() }

// Source is the key of a remote address ("ip:port") in the limits: the IP,
// or the /64 network of an IPv6 address (one subscriber's).
func Source(remoteAddr string) string {
	host, _, err := net.SplitHostPort(remoteAddr)
	if err != nil {
		host = remoteAddr
	}
	ip := net.ParseIP(host)
	if ip == nil {
		return host
	}
	if ip.To4() == nil {
		return ip.Mask(net.CIDRMask(64, 128)).String() + "/64"
	}
	return ip.String()
}

// Outcome of Take.
type Outcome struct {
	OK         bool
	RetryAfter time.Duration
	// Report is set when a refusal is worth an audit entry: the first for
	// this source or MAC within Limits.ReportEvery, within ReportMax a
	// minute.
	Report bool
	Why    string // "source" or "mac", when refused
}

// Take spends one attempt of the source's and of the MAC's budgets, both or
// neither.
func (l *Limiter) Take(source, mac string) Outcome {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	sb, okS := l.get(l.src, source, l.lim.SourceBurst, l.lim.SourceEvery, now)
	mb, okM := l.get(l.mac, mac, l.lim.MACBurst, l.lim.MACEvery, now)
	if !okS || !okM {
		// A table full of active entries: deny by default.
		return Outcome{RetryAfter: time.Minute, Why: "capacity", Report: l.report(nil, now)}
	}
	if sb.tokens < 1 {
		wait := time.Duration((1 - sb.tokens) * float64(l.lim.SourceEvery))
		return Outcome{RetryAfter: wait, Why: "source", Report: l.report(sb, now)}
	}
	if mb.tokens < 1 {
		wait := time.Duration((1 - mb.tokens) * float64(l.lim.MACEvery))
		return Outcome{RetryAfter: wait, Why: "mac", Report: l.report(mb, now)}
	}
	sb.tokens--
	mb.tokens--
	return Outcome{OK: true}
}

// get finds (or makes) the bucket of key, refilled to now; ok is false when
// the table is full and nothing in it is idle enough to forget.
func (l *Limiter) get(m map[string]*bucket, key string, burst int, every time.Duration, now time.Time) (*bucket, bool) {
	b := m[key]
	if b == nil {
		if len(m) >= l.lim.MaxEntries {
			l.prune(m, burst, every, now)
			if len(m) >= l.lim.MaxEntries {
				return nil, false
			}
		}
		b = &bucket{tokens: float64(burst), at: now}
		m[key] = b
		return b, true
	}
	if el := now.Sub(b.at); el > 0 {
		b.tokens = min(float64(burst), b.tokens+float64(el)/float64(every))
		b.at = now
	}
	return b, true
}

// prune forgets the entries whose budget is full again: they hold nothing
// a new entry would not.
func (l *Limiter) prune(m map[string]*bucket, burst int, every time.Duration, now time.Time) {
	for k, b := range m {
		if b.tokens+float64(now.Sub(b.at))/float64(every) >= float64(burst) && now.Sub(b.reported) >= l.lim.ReportEvery {
			delete(m, k)
		}
	}
}

func (l *Limiter) report(b *bucket, now time.Time) bool {
	if b != nil && now.Sub(b.reported) < l.lim.ReportEvery {
		return false
	}
	if now.Sub(l.reportsFrom) >= time.Minute {
		l.reportsFrom, l.reports = now, 0
	}
	if l.reports >= l.lim.ReportMax {
		return false
	}
	l.reports++
	if b != nil {
		b.reported = now
	}
	return true
}
