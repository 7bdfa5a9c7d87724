package gateway

import (
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// streamed is a connection's socket read by a goroutine of its own: TLS
// connections (the server started with --tls-cert), in-memory ones, and
// every one where there is no event loop (not Linux). Its writes block,
// each within its deadline.
type streamed struct {
	raw       net.Conn
	mu        sync.Mutex
	closeSent bool
	dead      atomic.Bool
}

// streamReadBuffer is what the reader goroutine reads at once: it holds it
// while the device is idle.
const streamReadBuffer = 512

func (t *streamed) queues() bool         { return false }
func (t *streamed) remoteAddr() net.Addr { return t.raw.RemoteAddr() }
func (t *streamed) localAddr() net.Addr  { return t.raw.LocalAddr() }

func (t *streamed) stalled(time.Time, time.Duration) bool { return false }

// waitRoom: a streamed socket's write itself waits, by its deadline, for
// the device (and holds up only its own connection).
func (t *streamed) waitRoom(time.Time) error { return nil }

func (t *streamed) write(frame []byte, _ bool, deadline time.Time) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closeSent || t.dead.Load() {
		return errWSClosed
	}
	t.closeSent = frame[0]&0x0f == opClose
	t.raw.SetWriteDeadline(deadline)
	if _, err := t.raw.Write(frame); err != nil {
		t.cut()
		return err
	}
	t.raw.SetWriteDeadline(time.Time{}) // no timer armed while idle
	return nil
}

// cut makes every read and write on the socket fail now (a TLS
// connection's Close would try to write its goodbye first); the reader
// closes it.
func (t *streamed) cut() {
	if t.dead.CompareAndSwap(false, true) {
		t.raw.SetDeadline(time.Unix(1, 0))
	}
}

// run is the reader goroutine: the bytes that came with the upgrade
// request, then the socket's, until it ends.
func (t *streamed) run(c *conn, buffered []byte) {
	if len(buffered) > 0 && c.feed(buffered) {
		onFreshStack(c.handleQueued)
	}
	buf := make([]byte, streamReadBuffer)
	var err error
	for err == nil {
		var n int
		n, err = t.raw.Read(buf)
		// The work on lines (JSON, the database) runs on a goroutine of
		// its own, so that the reader, which waits on the device most of
		// its life, keeps a small stack.
		if n > 0 && c.feed(buf[:n]) {
			onFreshStack(c.handleQueued)
		}
	}
	if !c.closing.Load() {
		c.readEnded(err)
	}
	t.cut()
	t.raw.Close()
	c.ended()
}
