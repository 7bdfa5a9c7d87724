package bus_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/bus"
)

const noticeSubject = "gatehouse.test.notices"

func waitFor(t *testing.T, d time.Duration, what string, ok func() bool) {
	t.Helper()
	for end := time.Now().Add(d); !ok(); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(end) {
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

// A notice published on one node has run the listeners of every node when
// Publish returns.
func TestNoticesAcknowledged(t *testing.T) {
	eachBus(t, func(t *testing.T, a, b bus.Bus) {
		na, nb := bus.NoticesOf(a, noticeSubject), bus.NoticesOf(b, noticeSubject)
		var got atomic.Int64
		var last atomic.Value
		stop := nb.Listen(func(d []byte) { last.Store(string(d)); got.Add(1) }, func() {})
		defer stop()
		waitFor(t, 5*time.Second, "both nodes hearing", func() bool { return na.Hearing() && nb.Hearing() })
		ctx := context.Background()
		for i := range 50 {
			msg := "change " + string(rune('A'+i%26))
			if err := na.Publish(ctx, []byte(msg)); err != nil {
				t.Fatalf("publish %d: %v", i, err)
			}
			if n := got.Load(); n != int64(i+1) || last.Load() != msg {
				t.Fatalf("publish %d returned before the other node heard it: %d heard, last %v", i, n, last.Load())
			}
		}
	})
}

// A node that stops hearing the bus says so within Silent, and tells its
// listeners it may have missed notices; a live node that does not answer
// holds a publisher for AckWait, no longer.
func TestNoticesLost(t *testing.T) {
	ns := startNATSServer(t)
	a, err := bus.NewNATS(ns.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	ghost, err := bus.NewNATS(ns.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	defer ghost.Close()
	na := bus.NoticesOf(a, noticeSubject)
	var missed atomic.Int64
	na.Listen(func([]byte) {}, func() { missed.Add(1) })
	waitFor(t, 5*time.Second, "hearing", na.Hearing)

	// A node that announces itself and never acknowledges.
	stopGhost := make(chan struct{})
	go func() {
		for {
			ghost.Publish(noticeSubject, []byte(`{"t":"h","from":"ghost","seq":0}`))
			select {
			case <-stopGhost:
				return
			case <-time.After(100 * time.Millisecond):
			}
		}
	}()
	waitFor(t, 5*time.Second, "the ghost heard", func() bool { return missed.Load() > 1 })
	start := time.Now()
	err = na.Publish(context.Background(), []byte("x"))
	if took := time.Since(start); !errors.Is(err, bus.ErrUnacknowledged) || took < bus.DefaultNoticeTimings.AckWait || took > bus.DefaultNoticeTimings.AckWait+time.Second {
		t.Errorf("a node that never answers: %v after %v", err, took)
	}
	close(stopGhost)

	// An announcement numbering a notice this node never heard: it was
	// lost, and the listeners are told.
	before := missed.Load()
	ghost.Publish(noticeSubject, []byte(`{"t":"h","from":"ghost","seq":3}`))
	waitFor(t, 2*time.Second, "a lost notice noticed", func() bool { return missed.Load() > before })
	if !na.Hearing() {
		t.Fatal("not hearing while the bus is up")
	}

	// The bus goes away: the node knows within Silent.
	ns.Shutdown()
	lost := time.Now()
	waitFor(t, 2*bus.DefaultNoticeTimings.Silent, "not hearing after the bus went away", func() bool { return !na.Hearing() })
	if took := time.Since(lost); took > bus.DefaultNoticeTimings.Silent+200*time.Millisecond {
		t.Errorf("kept hearing for %v after the bus went away", took)
	}
}

// On the in-process bus a notice runs the listeners before Publish returns.
func TestNoticesLocal(t *testing.T) {
	l := bus.NewLocal()
	n := bus.NoticesOf(l, noticeSubject)
	if n != bus.NoticesOf(l, noticeSubject) {
		t.Fatal("two Notices for one bus and subject")
	}
	var got []string
	n.Listen(func(d []byte) { got = append(got, string(d)) }, func() {})
	if !n.Hearing() {
		t.Error("the in-process bus does not hear itself")
	}
	if err := n.Publish(context.Background(), []byte("x")); err != nil || len(got) != 1 || got[0] != "x" {
		t.Errorf("publish: %v, heard %q", err, got)
	}
}
