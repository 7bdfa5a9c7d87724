package bus

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
)

// NATS is the bus of several nodes sharing a NATS server. Delivery is at
// most once, as for Local: a node that is disconnected from NATS misses
// what was published meanwhile (the gateway recovers from that: commands
// live in the database and are resent).
type NATS struct {
	nc          *nats.Conn
	log         *slog.Logger
	notes       noticesSet
	reconnected atomic.Uint64 // reconnections so far (see notices)
	// back is signalled (without blocking) on every reconnection, after the
	// client has sent its subscriptions again: see Reconnected.
	back chan struct{}
}

// NewNATS connects to the NATS server at url (nats://host:4222, several
// separated by commas), reconnecting forever; disconnects are logged.
func NewNATS(url string) (Bus, error) { return NewNATSWithLog(url, slog.Default()) }

// NewNATSWithLog is NewNATS logging to log.
func NewNATSWithLog(url string, log *slog.Logger) (*NATS, error) {
	if log == nil {
		log = slog.Default()
	}
	n := &NATS{log: log, back: make(chan struct{}, 1)}
	nc, err := nats.Connect(url,
		nats.Name("gatehouse"),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(time.Second),
		nats.RetryOnFailedConnect(false),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			if err != nil {
				log.Warn("bus: disconnected from NATS", "err", err)
			} else {
				log.Debug("bus: disconnected from NATS")
			}
		}),
		nats.ReconnectHandler(func(c *nats.Conn) {
			n.reconnected.Add(1)
			log.Info("bus: reconnected to NATS", "server", c.ConnectedUrlRedacted())
			select {
			case n.back <- struct{}{}:
			default: // one signal pending is enough
			}
		}),
		nats.ErrorHandler(func(_ *nats.Conn, s *nats.Subscription, err error) {
			subj := ""
			if s != nil {
				subj = s.Subject
			}
			log.Warn("bus: NATS error", "subject", subj, "err", err)
		}),
	)
	if err != nil {
		return nil, fmt.Errorf("connect to NATS at %s: %w", url, err)
	}
	n.nc = nc
	return n, nil
}

// Reconnected receives a value after each reconnection to NATS. What was
// published while this node or another was away (a kick for a command
// written meanwhile) may never have arrived: a listener looks again at what
// the database holds.
func (n *NATS) Reconnected() <-chan struct{} { return n.back }

// MaxPayload is the largest message the NATS server accepts.
func (n *NATS) MaxPayload() int64 { return n.nc.MaxPayload() }

func (n *NATS) Publish(subject string, data []byte) error { return n.nc.Publish(subject, data) }

func (n *NATS) Subscribe(subject string, fn func([]byte)) (func(), error) {
	sub, err := n.nc.Subscribe(subject, func(m *nats.Msg) { fn(m.Data) })
	if err != nil {
		return nil, err
	}
	// Make sure the server knows the subscription before this returns.
	n.nc.FlushTimeout(5 * time.Second)
	return func() { sub.Unsubscribe() }, nil
}

func (n *NATS) Request(ctx context.Context, subject string, data []byte) ([]byte, error) {
	m, err := n.nc.RequestWithContext(ctx, subject, data)
	if err != nil {
		if errors.Is(err, nats.ErrNoResponders) || errors.Is(err, nats.ErrTimeout) || errors.Is(err, context.DeadlineExceeded) {
			return nil, fmt.Errorf("%w (%v)", ErrNoResponder, err)
		}
		return nil, err
	}
	return m.Data, nil
}

// Respond answers each request in its own goroutine, so that one slow
// answer does not hold up the others; fn returning ok=false stays silent.
func (n *NATS) Respond(subject string, fn func([]byte) ([]byte, bool)) (func(), error) {
	sub, err := n.nc.Subscribe(subject, func(m *nats.Msg) {
		go func() {
			reply, ok := fn(m.Data)
			if !ok || m.Reply == "" {
				return
			}
			if err := m.Respond(reply); err != nil {
				n.log.Warn("bus: answer a request", "subject", subject, "bytes", len(reply), "err", err)
			}
		}()
	})
	if err != nil {
		return nil, err
	}
	n.nc.FlushTimeout(5 * time.Second)
	return func() { sub.Unsubscribe() }, nil
}

// notices over NATS know when the connection is down, and count
// reconnections: the messages published in between never arrive. (The
// count moves in NATS's callback, shortly after the reconnection: a
// publisher still waits AckWait for this node then, and once a node was
// down longer than Silent, its own silence already stops it hearing.)
func (n *NATS) notices(subject string) *Notices {
	return n.notes.get(subject, func() *Notices {
		conn := func() (bool, uint64) { return n.nc.IsConnected(), n.reconnected.Load() }
		return newNotices(n, subject, false, conn, n.log, DefaultNoticeTimings)
	})
}

func (n *NATS) Close() error {
	n.notes.close()
	n.nc.Drain()
	return nil
}
