package bus_test

import (
	"context"
	"errors"
	"testing"
	"time"

	natsserver "github.com/nats-io/nats-server/v2/server"

	"github.com/gatehouse-dev/gatehouse/internal/bus"
)

func startNATS(t *testing.T) string { return startNATSServer(t).ClientURL() }

// startNATSServer runs an embedded NATS server until the test ends.
func startNATSServer(t *testing.T) *natsserver.Server {
	t.Helper()
	ns, err := natsserver.NewServer(&natsserver.Options{Host: "127.0.0.1", Port: -1, NoLog: true, NoSigs: true})
	if err != nil {
		t.Fatal(err)
	}
	go ns.Start()
	if !ns.ReadyForConnections(10 * time.Second) {
		t.Fatal("NATS not ready")
	}
	t.Cleanup(ns.Shutdown)
	return ns
}

// eachBus runs fn with two nodes' buses: two NATS connections, or one Local bus
// (a single node talks to itself).
func eachBus(t *testing.T, fn func(t *testing.T, a, b bus.Bus)) {
	t.Run("nats", func(t *testing.T) {
		url := startNATS(t)
		a, err := bus.NewNATS(url)
		if err != nil {
			t.Fatal(err)
		}
		defer a.Close()
		b, err := bus.NewNATS(url)
		if err != nil {
			t.Fatal(err)
		}
		defer b.Close()
		fn(t, a, b)
	})
	t.Run("local", func(t *testing.T) {
		l := bus.NewLocal()
		fn(t, l, l)
	})
}

func TestPublishSubscribe(t *testing.T) {
	eachBus(t, func(t *testing.T, a, b bus.Bus) {
		got := make(chan string, 4)
		un, err := b.Subscribe("gatehouse.test", func(d []byte) { got <- string(d) })
		if err != nil {
			t.Fatal(err)
		}
		if err := a.Publish("gatehouse.test", []byte("hello")); err != nil {
			t.Fatal(err)
		}
		select {
		case m := <-got:
			if m != "hello" {
				t.Errorf("got %q", m)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("nothing delivered")
		}
		un()
		a.Publish("gatehouse.test", []byte("after"))
		select {
		case m := <-got:
			t.Errorf("delivered after unsubscribe: %q", m)
		case <-time.After(200 * time.Millisecond):
		}
	})
}

func TestRequestRespond(t *testing.T) {
	eachBus(t, func(t *testing.T, a, b bus.Bus) {
		// One responder declines, one answers.
		un1, _ := b.Respond("gatehouse.req", func(d []byte) ([]byte, bool) { return nil, false })
		defer un1()
		un2, _ := b.Respond("gatehouse.req", func(d []byte) ([]byte, bool) { return append([]byte("re: "), d...), true })
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		reply, err := a.Request(ctx, "gatehouse.req", []byte("ping"))
		if err != nil || string(reply) != "re: ping" {
			t.Errorf("request: %q %v", reply, err)
		}
		un2()
		// Only the declining one is left: nobody answers.
		ctx, cancel = context.WithTimeout(context.Background(), 300*time.Millisecond)
		defer cancel()
		if _, err := a.Request(ctx, "gatehouse.req", []byte("ping")); !errors.Is(err, bus.ErrNoResponder) {
			t.Errorf("declined request: %v", err)
		}
		// No responder at all answers at once.
		start := time.Now()
		ctx, cancel = context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if _, err := a.Request(ctx, "gatehouse.nobody", []byte("ping")); !errors.Is(err, bus.ErrNoResponder) || time.Since(start) > 2*time.Second {
			t.Errorf("no responder: %v after %v", err, time.Since(start))
		}
	})
}
