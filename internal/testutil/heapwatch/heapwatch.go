// Package heapwatch samples the Go heap while a test runs, so that a test of
// a memory bound reports the peak it saw, and a test that would otherwise
// exhaust the machine's memory (a decompression bomb on unfixed code) dies
// with a clear message instead of taking the machine down with it.
package heapwatch

import (
	"fmt"
	"os"
	"runtime/metrics"
	"sync"
	"time"
)

const sample = "/memory/classes/heap/objects:bytes"

// Heap returns the bytes held by heap objects (live and not yet swept).
func Heap() uint64 {
	s := []metrics.Sample{{Name: sample}}
	metrics.Read(s)
	return s[0].Value.Uint64()
}

// Watch is a running sampler.
type Watch struct {
	stop  chan struct{}
	done  sync.WaitGroup
	mu    sync.Mutex
	peak  uint64
	Start uint64 // the heap when the watch started
}

// Start samples the heap every 2 ms until Stop. Past limit bytes it prints
// what it saw and exits the test binary: a t.Fatal cannot be called from
// another goroutine, and waiting for the test goroutine would let the
// allocation go on.
func Start(limit uint64) *Watch {
	w := &Watch{stop: make(chan struct{}), Start: Heap()}
	w.peak = w.Start
	w.done.Add(1)
	go func() {
		defer w.done.Done()
		t := time.NewTicker(2 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-w.stop:
				return
			case <-t.C:
			}
			h := Heap()
			w.mu.Lock()
			w.peak = max(w.peak, h)
			w.mu.Unlock()
			if limit > 0 && h > limit {
				fmt.Fprintf(os.Stderr, "heapwatch: the heap reached %d MiB, over the test's bound of %d MiB: FAIL\n", h>>20, limit>>20)
				os.Exit(3)
			}
		}
	}()
	return w
}

// Peak returns the largest heap seen so far.
func (w *Watch) Peak() uint64 {
	h := Heap()
	w.mu.Lock()
	defer w.mu.Unlock()
	w.peak = max(w.peak, h)
	return w.peak
}

// Stop ends the sampling and returns the peak.
func (w *Watch) Stop() uint64 {
	close(w.stop)
	w.done.Wait()
	return w.Peak()
}
