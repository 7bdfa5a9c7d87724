package bus

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// Notices are messages every node must hear before the sender goes on: a
// node publishes a notice and waits (at most AckWait) until every live node
// has run its listeners and acknowledged it. Plain publishing is at most
// once and asynchronous, so a listener keeps what it derives from notices
// (a cache) only while Hearing says it hears every notice.
//
// Over NATS, every node announces itself on the notices' subject every
// Beat; the nodes heard within Forget are the live ones a publisher waits
// for. A node hears while it is connected, has heard itself and every live
// node within Silent, and has been announced for Warmup (so that the others
// know it). Whenever it may have missed a notice — a node silent for more
// than Silent, a node heard of for the first time, a notice or announcement
// showing a skipped number, a reconnection — its listeners' missed runs:
// they drop everything derived from notices. AckWait > Silent: a node that
// did not acknowledge a notice it missed has stopped trusting what it keeps
// before the publisher gives up waiting for it.
//
// On the in-process bus (Local) delivery is synchronous and certain:
// Publish returns after every listener ran, and Hearing is always true.
type Notices struct {
	b       Bus
	subject string
	id      string // this node's, for this process's life
	local   bool
	conn    func() (up bool, reconnects uint64) // nil: always up
	log     *slog.Logger
	t       NoticeTimings
	epoch   time.Time // times below are monotonic, since epoch

	seq          atomic.Uint64 // the last notice published
	trustedUntil atomic.Int64  // Hearing is true before it
	reconnects   atomic.Uint64 // last seen (conn)

	mu        sync.Mutex
	members   map[string]*noticeMember
	listeners map[int]noticeListener
	nextID    int
	waiting   map[uint64]*noticeWaiter
	unsub     []func()
	stop      chan struct{}
	done      chan struct{}
	closed    bool
}

// NoticeTimings are the periods of the protocol (see Notices).
type NoticeTimings struct {
	Beat    time.Duration // every node announces itself this often
	Silent  time.Duration // a node not heard for this long may have missed notices
	Forget  time.Duration // a node not heard for this long is gone: nobody waits for it
	AckWait time.Duration // the longest Publish waits for acknowledgements
	Warmup  time.Duration // a new node hears only after being announced this long
}

// DefaultNoticeTimings: a node that loses the bus stops trusting within a
// second, and a publisher waits at most two for a node that does not answer.
var DefaultNoticeTimings = NoticeTimings{Beat: 200 * time.Millisecond, Silent: time.Second, Forget: 5 * time.Second,
	AckWait: 2 * time.Second, Warmup: 600 * time.Millisecond}

// ErrUnacknowledged: a notice was published but some live node did not
// acknowledge it within AckWait.
var ErrUnacknowledged = errors.New("bus: a node did not acknowledge a notice")

type noticeMember struct {
	first, last time.Duration
	seq         uint64
}

type noticeListener struct {
	notice func(data []byte)
	missed func()
}

type noticeWaiter struct {
	need map[string]bool
	done chan struct{}
}

type noticeMsg struct {
	Type string `json:"t"` // n: a notice, h: an announcement, b: leaving
	From string `json:"from"`
	Seq  uint64 `json:"seq"` // of the notice; in an announcement, the last one published
	Data []byte `json:"data,omitempty"`
}

// noticesHolder is a bus that keeps one Notices per subject.
type noticesHolder interface {
	notices(subject string) *Notices
}

// NoticesOf returns the notices on subject of this node's bus b — one per
// bus and subject, started on first use and stopped when b is closed — or
// nil for a bus that cannot carry them (nil Notices never hear).
func NoticesOf(b Bus, subject string) *Notices {
	if h, ok := b.(noticesHolder); ok {
		return h.notices(subject)
	}
	return nil
}

// noticesSet is the Notices of one bus, by subject.
type noticesSet struct {
	mu  sync.Mutex
	all map[string]*Notices
}

func (s *noticesSet) get(subject string, start func() *Notices) *Notices {
	s.mu.Lock()
	defer s.mu.Unlock()
	if n := s.all[subject]; n != nil {
		return n
	}
	if s.all == nil {
		s.all = map[string]*Notices{}
	}
	n := start()
	s.all[subject] = n
	return n
}

func (s *noticesSet) close() {
	s.mu.Lock()
	all := s.all
	s.all = nil
	s.mu.Unlock()
	for _, n := range all {
		n.Close()
	}
}

func newNotices(b Bus, subject string, local bool, conn func() (bool, uint64), log *slog.Logger, t NoticeTimings) *Notices {
	if log == nil {
		log = slog.Default()
	}
	n := &Notices{b: b, subject: subject, local: local, conn: conn, log: log, t: t, epoch: time.Now(),
		id:      strconv.FormatUint(rand.Uint64(), 36),
		members: map[string]*noticeMember{}, listeners: map[int]noticeListener{}, waiting: map[uint64]*noticeWaiter{},
		stop: make(chan struct{}), done: make(chan struct{})}
	if conn != nil {
		_, rc := conn()
		n.reconnects.Store(rc)
	}
	un, err := b.Subscribe(subject, n.receive)
	if err != nil {
		log.Warn("bus: subscribe to notices", "subject", subject, "err", err)
	} else {
		n.unsub = append(n.unsub, un)
	}
	if local {
		close(n.done)
		return n
	}
	if un, err := b.Subscribe(n.ackSubject(n.id), n.acked); err != nil {
		log.Warn("bus: subscribe to acknowledgements", "subject", subject, "err", err)
	} else {
		n.unsub = append(n.unsub, un)
	}
	go n.run()
	return n
}

func (n *Notices) ackSubject(node string) string { return n.subject + ".ack." + node }

func (n *Notices) now() time.Duration { return time.Since(n.epoch) }

// Listen runs notice for every notice any node publishes (this one too),
// before it is acknowledged, and missed whenever this node may have missed
// one. Both run on the bus's delivery goroutine under the Notices' lock:
// they must be quick and must not call back into n.
func (n *Notices) Listen(notice func(data []byte), missed func()) (stop func()) {
	if n == nil {
		return func() {}
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	n.nextID++
	id := n.nextID
	n.listeners[id] = noticeListener{notice: notice, missed: missed}
	return func() { n.mu.Lock(); delete(n.listeners, id); n.mu.Unlock() }
}

// Hearing reports whether this node is sure it hears every notice now.
func (n *Notices) Hearing() bool {
	if n == nil {
		return false
	}
	if n.local {
		return true
	}
	if n.conn != nil {
		up, rc := n.conn()
		if !up {
			return false
		}
		if rc != n.reconnects.Load() {
			// Reconnected: what was published meanwhile never came.
			n.mu.Lock()
			if rc != n.reconnects.Load() {
				n.reconnects.Store(rc)
				n.missedLocked()
			}
			n.mu.Unlock()
		}
	}
	return n.now() < time.Duration(n.trustedUntil.Load())
}

// Publish sends data to every node's listeners and waits until every live
// node acknowledged it (at most AckWait, or until ctx ends):
// ErrUnacknowledged names how many did not.
func (n *Notices) Publish(ctx context.Context, data []byte) error {
	if n == nil {
		return nil
	}
	if n.local {
		msg, _ := json.Marshal(noticeMsg{Type: "n", From: n.id, Seq: n.seq.Add(1), Data: data})
		return n.b.Publish(n.subject, msg)
	}
	// A node just started does not know the others yet.
	if d := n.t.Warmup - n.now(); d > 0 {
		select {
		case <-time.After(d):
		case <-ctx.Done():
		}
	}
	n.mu.Lock()
	seq := n.seq.Add(1)
	now := n.now()
	w := &noticeWaiter{need: map[string]bool{}, done: make(chan struct{})}
	for id, m := range n.members {
		if now-m.last < n.t.Forget {
			w.need[id] = true
		}
	}
	if len(w.need) == 0 {
		close(w.done)
	} else {
		n.waiting[seq] = w
	}
	msg, _ := json.Marshal(noticeMsg{Type: "n", From: n.id, Seq: seq, Data: data})
	err := n.b.Publish(n.subject, msg) // under the lock: notices leave in their numbers' order
	n.mu.Unlock()
	if err == nil {
		timer := time.NewTimer(n.t.AckWait)
		select {
		case <-w.done:
		case <-timer.C:
		case <-ctx.Done():
		}
		timer.Stop()
	}
	n.mu.Lock()
	delete(n.waiting, seq)
	missing := len(w.need)
	n.mu.Unlock()
	if err != nil {
		return fmt.Errorf("bus: publish a notice: %w", err)
	}
	if missing > 0 {
		return fmt.Errorf("%w: %d of the live nodes did not answer", ErrUnacknowledged, missing)
	}
	return nil
}

func (n *Notices) receive(data []byte) {
	var m noticeMsg
	if err := json.Unmarshal(data, &m); err != nil || m.From == "" {
		return
	}
	if n.local {
		n.mu.Lock()
		for _, l := range n.listeners {
			l.notice(m.Data)
		}
		n.mu.Unlock()
		return
	}
	n.mu.Lock()
	now := n.now()
	if m.Type == "b" {
		// A node leaving: nobody waits for it any longer.
		delete(n.members, m.From)
		for _, w := range n.waiting {
			w.ackedLocked(m.From)
		}
		n.recomputeLocked(now)
		n.mu.Unlock()
		return
	}
	mem := n.members[m.From]
	missed := false
	switch {
	case mem == nil:
		// A node not heard of before may have published before this one
		// knew it (or it is back after being forgotten).
		mem = &noticeMember{first: now, seq: m.Seq}
		if m.Type == "n" {
			mem.seq = m.Seq - 1
		}
		n.members[m.From] = mem
		missed = true
	case now-mem.last > n.t.Silent:
		missed = true
	}
	switch m.Type {
	case "h":
		missed = missed || m.Seq > mem.seq
	case "n":
		missed = missed || m.Seq != mem.seq+1
	}
	mem.seq = max(mem.seq, m.Seq)
	mem.last = now
	if missed {
		n.missedLocked()
	}
	if m.Type == "n" {
		for _, l := range n.listeners {
			l.notice(m.Data)
		}
	}
	n.recomputeLocked(now)
	n.mu.Unlock()
	if m.Type == "n" {
		ack, _ := json.Marshal(noticeMsg{Type: "a", From: n.id, Seq: m.Seq})
		if err := n.b.Publish(n.ackSubject(m.From), ack); err != nil {
			n.log.Warn("bus: acknowledge a notice", "subject", n.subject, "err", err)
		}
	}
}

func (n *Notices) acked(data []byte) {
	var m noticeMsg
	if err := json.Unmarshal(data, &m); err != nil {
		return
	}
	n.mu.Lock()
	if w := n.waiting[m.Seq]; w != nil {
		w.ackedLocked(m.From)
	}
	n.mu.Unlock()
}

func (w *noticeWaiter) ackedLocked(node string) {
	if w.need[node] {
		delete(w.need, node)
		if len(w.need) == 0 {
			close(w.done)
		}
	}
}

// missedLocked tells the listeners to drop what they derived from notices.
func (n *Notices) missedLocked() {
	for _, l := range n.listeners {
		l.missed()
	}
}

// recomputeLocked sets until when this node hears, from what it heard last
// of every live node, itself included.
func (n *Notices) recomputeLocked(now time.Duration) {
	self := n.members[n.id]
	if n.closed || self == nil || now-self.first < n.t.Warmup {
		n.trustedUntil.Store(0)
		return
	}
	until := self.last + n.t.Silent
	for _, m := range n.members {
		if now-m.last < n.t.Forget {
			until = min(until, m.last+n.t.Silent)
		}
	}
	n.trustedUntil.Store(int64(until))
}

// run announces this node every Beat and forgets the nodes gone.
func (n *Notices) run() {
	defer close(n.done)
	tick := time.NewTicker(n.t.Beat)
	defer tick.Stop()
	for {
		n.mu.Lock()
		// Under the lock, as Publish: an announcement never leaves before
		// a notice whose number it carries.
		msg, _ := json.Marshal(noticeMsg{Type: "h", From: n.id, Seq: n.seq.Load()})
		if err := n.b.Publish(n.subject, msg); err != nil {
			n.log.Debug("bus: announce this node", "subject", n.subject, "err", err)
		}
		now := n.now()
		for id, m := range n.members {
			if now-m.last >= n.t.Forget {
				delete(n.members, id)
			}
		}
		n.recomputeLocked(now)
		n.mu.Unlock()
		select {
		case <-n.stop:
			return
		case <-tick.C:
		}
	}
}

// Close says goodbye (the others stop waiting for this node at once) and
// stops announcing it.
func (n *Notices) Close() {
	if n == nil {
		return
	}
	n.mu.Lock()
	if n.closed {
		n.mu.Unlock()
		return
	}
	n.closed = true
	unsub := n.unsub
	n.trustedUntil.Store(0)
	n.mu.Unlock()
	if !n.local {
		close(n.stop)
		<-n.done
		msg, _ := json.Marshal(noticeMsg{Type: "b", From: n.id})
		n.b.Publish(n.subject, msg)
	}
	for _, un := range unsub {
		un()
	}
}
