package devicesim

import (
	"container/heap"
	"context"
	"sync"
	"time"
)

// scheduler sends every connection's heartbeat status from one timer for the
// whole fleet (not a ticker per device): a heap of due times and a few
// workers that write the status lines.
type scheduler struct {
	mu   sync.Mutex
	h    beatHeap
	wake chan struct{}
	work chan *link
}

type beatEntry struct {
	due int64 // unix nanoseconds
	l   *link
}

type beatHeap []beatEntry

func (h beatHeap) Len() int           { return len(h) }
func (h beatHeap) Less(i, j int) bool { return h[i].due < h[j].due }
func (h beatHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *beatHeap) Push(x any)        { *h = append(*h, x.(beatEntry)) }
func (h *beatHeap) Pop() any {
	old := *h
	e := old[len(old)-1]
	old[len(old)-1] = beatEntry{}
	*h = old[:len(old)-1]
	return e
}

func newScheduler(ctx context.Context, workers int) *scheduler {
	s := &scheduler{wake: make(chan struct{}, 1), work: make(chan *link, 1024)}
	go s.loop(ctx)
	for range workers {
		go s.worker(ctx)
	}
	return s
}

// add schedules l's next heartbeat.
func (s *scheduler) add(l *link, due time.Time) {
	s.mu.Lock()
	heap.Push(&s.h, beatEntry{due.UnixNano(), l})
	first := s.h[0].l == l
	s.mu.Unlock()
	if first {
		select {
		case s.wake <- struct{}{}:
		default:
		}
	}
}

func (s *scheduler) loop(ctx context.Context) {
	t := time.NewTimer(time.Hour)
	defer t.Stop()
	for {
		now := time.Now().UnixNano()
		var due []*link
		next := int64(-1)
		s.mu.Lock()
		for len(s.h) > 0 && len(due) < 4096 {
			if s.h[0].due > now {
				next = s.h[0].due
				break
			}
			e := heap.Pop(&s.h).(beatEntry)
			if !e.l.closed.Load() {
				due = append(due, e.l)
			}
		}
		s.mu.Unlock()
		for _, l := range due {
			select {
			case s.work <- l:
			case <-ctx.Done():
				return
			}
		}
		if len(due) >= 4096 {
			continue
		}
		wait := time.Hour
		if next >= 0 {
			wait = time.Duration(next - now)
		}
		t.Reset(wait)
		select {
		case <-ctx.Done():
			return
		case <-s.wake:
			if !t.Stop() {
				select {
				case <-t.C:
				default:
				}
			}
		case <-t.C:
		}
	}
}

func (s *scheduler) worker(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case l := <-s.work:
			if l.beat() {
				s.add(l, time.Now().Add(l.heartbeat))
			}
		}
	}
}
