// Package bus carries the events that cross Gatehouse nodes: "these devices
// have new commands" and Remote Control requests for a device connected to
// another node. One node uses the in-process Local bus; several nodes share a
// NATS server (NewNATS).
package bus

import (
	"context"
	"errors"
	"sync"
)

// ErrNoResponder answers a Request nobody answered.
var ErrNoResponder = errors.New("bus: no node answered")

// Bus is publish/subscribe plus request/reply, at most once, between nodes.
type Bus interface {
	// Publish sends data to every subscriber of subject, on every node.
	Publish(subject string, data []byte) error
	// Subscribe calls fn for every message on subject until the returned
	// function is called.
	Subscribe(subject string, fn func(data []byte)) (unsubscribe func(), err error)
	// Request sends data to the responders of subject and returns the first
	// answer; ErrNoResponder when none answered before ctx ended.
	Request(ctx context.Context, subject string, data []byte) ([]byte, error)
	// Respond answers requests on subject; fn returns ok=false to leave a
	// request to another node (the device is not connected here).
	Respond(subject string, fn func(data []byte) (reply []byte, ok bool)) (unsubscribe func(), err error)
	Close() error
}

// Local is the bus of a single node, in process.
type Local struct {
	mu    sync.RWMutex
	next  int
	subs  map[string]map[int]func([]byte)
	resps map[string]map[int]func([]byte) ([]byte, bool)
	notes noticesSet
}

// NewLocal returns an in-process bus.
func NewLocal() *Local {
	return &Local{subs: map[string]map[int]func([]byte){}, resps: map[string]map[int]func([]byte) ([]byte, bool){}}
}

func (l *Local) Publish(subject string, data []byte) error {
	l.mu.RLock()
	fns := make([]func([]byte), 0, len(l.subs[subject]))
	for _, fn := range l.subs[subject] {
		fns = append(fns, fn)
	}
	l.mu.RUnlock()
	for _, fn := range fns {
		fn(data)
	}
	return nil
}

func (l *Local) Subscribe(subject string, fn func([]byte)) (func(), error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.next++
	id := l.next
	if l.subs[subject] == nil {
		l.subs[subject] = map[int]func([]byte){}
	}
	l.subs[subject][id] = fn
	return func() { l.mu.Lock(); delete(l.subs[subject], id); l.mu.Unlock() }, nil
}

func (l *Local) Request(ctx context.Context, subject string, data []byte) ([]byte, error) {
	l.mu.RLock()
	fns := make([]func([]byte) ([]byte, bool), 0, len(l.resps[subject]))
	for _, fn := range l.resps[subject] {
		fns = append(fns, fn)
	}
	l.mu.RUnlock()
	for _, fn := range fns {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		if reply, ok := fn(data); ok {
			return reply, nil
		}
	}
	return nil, ErrNoResponder
}

func (l *Local) Respond(subject string, fn func([]byte) ([]byte, bool)) (func(), error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.next++
	id := l.next
	if l.resps[subject] == nil {
		l.resps[subject] = map[int]func([]byte) ([]byte, bool){}
	}
	l.resps[subject][id] = fn
	return func() { l.mu.Lock(); delete(l.resps[subject], id); l.mu.Unlock() }, nil
}

func (l *Local) notices(subject string) *Notices {
	return l.notes.get(subject, func() *Notices { return newNotices(l, subject, true, nil, nil, DefaultNoticeTimings) })
}

func (l *Local) Close() error { return nil }
