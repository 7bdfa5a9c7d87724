//go:build linux

package gateway

import (
	"io"
	"net"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// The event loop of plain-TCP device connections (Linux): after the HTTP
// upgrade the socket leaves net/http and Go's poller (its descriptor is
// duplicated, the net.Conn closed) for an epoll set of the gateway's own,
// edge-triggered. A loop goroutine reads whichever sockets are readable
// into its one buffer and pushes the bytes through the connection's
// parsers; writes go out at once, or queue while the device's socket is
// full. An idle connection is its descriptor and a few hundred bytes of
// state: no goroutine, no buffer, no timer (the gateway's sweep watches
// silence and stalls).

// Bounds of what waits to be written to a device.
const (
	// sendQueueWait: a writer that may wait (commands, tunnel data) does
	// so while more than this is queued.
	sendQueueWait = 64 << 10
	// sendQueueMax: the answers the loop writes (pongs, window updates)
	// queue beyond sendQueueWait; a device that lets this much pile up
	// does not read, and is cut.
	sendQueueMax = 1 << 20
	// loopReadBuffer is what a loop reads at once.
	loopReadBuffer = 64 << 10
)

// epollET is EPOLLET, which package syscall spells as a negative number
// on some platforms.
const epollET = 1 << 31

// poller is one epoll set and its loop.
type poller struct {
	epfd  int
	file  *os.File // the set in Go's poller
	mu    sync.RWMutex
	conns []*conn // by descriptor
}

var pollers struct {
	once sync.Once
	all  []*poller
	next atomic.Uint32
}

// loops is the number of event loops: one per two CPUs (the work on a
// device's lines runs elsewhere, the loops only parse).
func loops() int { return max(1, runtime.GOMAXPROCS(0)/2) }

func pickPoller() *poller {
	pollers.once.Do(func() {
		for range loops() {
			fd, err := syscall.EpollCreate1(syscall.EPOLL_CLOEXEC)
			if err != nil {
				break
			}
			p := &poller{epfd: fd}
			pollers.all = append(pollers.all, p)
			go p.run()
		}
	})
	if len(pollers.all) == 0 {
		return nil
	}
	return pollers.all[pollers.next.Add(1)%uint32(len(pollers.all))]
}

// parkable makes the epoll set a file of Go's poller; nil when it
// cannot.
func (p *poller) parkable() syscall.RawConn {
	if err := syscall.SetNonblock(p.epfd, true); err != nil {
		return nil
	}
	p.file = os.NewFile(uintptr(p.epfd), "gateway-epoll") // kept: its finalizer would close the set
	rc, err := p.file.SyscallConn()
	if err != nil {
		return nil
	}
	return rc
}

func (p *poller) get(fd int) *conn {
	p.mu.RLock()
	defer p.mu.RUnlock()
	if fd < len(p.conns) {
		return p.conns[fd]
	}
	return nil
}

func (p *poller) add(fd int, c *conn) error {
	p.mu.Lock()
	if fd >= len(p.conns) {
		p.conns = append(p.conns, make([]*conn, fd+1-len(p.conns)+len(p.conns)/2)...)
	}
	p.conns[fd] = c
	p.mu.Unlock()
	ev := syscall.EpollEvent{Events: syscall.EPOLLIN | syscall.EPOLLOUT | syscall.EPOLLRDHUP | epollET, Fd: int32(fd)}
	if err := syscall.EpollCtl(p.epfd, syscall.EPOLL_CTL_ADD, fd, &ev); err != nil {
		p.remove(fd)
		return err
	}
	return nil
}

func (p *poller) remove(fd int) {
	syscall.EpollCtl(p.epfd, syscall.EPOLL_CTL_DEL, fd, nil)
	p.mu.Lock()
	if fd < len(p.conns) {
		p.conns[fd] = nil
	}
	p.mu.Unlock()
}

func (p *poller) run() {
	events := make([]syscall.EpollEvent, 256)
	buf := make([]byte, loopReadBuffer)
	handle := func(n int) {
		for _, ev := range events[:n] {
			c := p.get(int(ev.Fd))
			if c == nil {
				continue
			}
			t := c.t.(*polled)
			if ev.Events&syscall.EPOLLOUT != 0 {
				t.flush()
			}
			if ev.Events&(syscall.EPOLLIN|syscall.EPOLLRDHUP|syscall.EPOLLHUP|syscall.EPOLLERR) != 0 {
				t.readable(c, buf)
			}
		}
	}
	// The epoll set is itself a descriptor Go's poller can wait on: the
	// loop then waits like any network goroutine (parked, woken by the
	// runtime's poller), not in a system call that holds a thread and
	// queues behind busy processors when it returns.
	if rc := p.parkable(); rc != nil {
		var werr error
		rc.Read(func(uintptr) bool {
			for {
				n, err := syscall.EpollWait(p.epfd, events, 0)
				switch {
				case err == syscall.EINTR:
				case err != nil:
					werr = err
					return true
				case n == 0:
					return false // parked until the set has events
				default:
					handle(n)
				}
			}
		})
		if werr != nil {
			panic("gateway: epoll_wait: " + werr.Error())
		}
		// Read returned: not pollable after all; wait in the system call.
	}
	for {
		n, err := syscall.EpollWait(p.epfd, events, -1)
		if err != nil {
			if err == syscall.EINTR {
				continue
			}
			panic("gateway: epoll_wait: " + err.Error())
		}
		handle(n)
	}
}

// polled is a connection's socket in an event loop.
type polled struct {
	p *poller

	mu        sync.Mutex
	fd        int    // -1 once closed
	out       []byte // written, not taken by the socket yet
	progress  time.Time
	room      chan struct{} // closed when out shrinks below sendQueueWait
	closeSent bool
	dead      bool // cut or closed: nothing more is written
	// cutFlushed: cut once out is written (the echo of a device's close
	// frame queued behind data).
	cutFlushed bool
}

// pollConn takes raw, a plain TCP connection just upgraded, off net/http
// into an event loop; nil when it cannot (TLS, not TCP, no epoll).
func pollConn(raw net.Conn) pollTransport {
	// The node's AutoP front door hands net/http its connections wrapped,
	// with the bytes it read first; once net/http has read them all (they
	// are then in the upgrade's buffer) the socket underneath is the one.
	if w, ok := raw.(handedOver); ok && w.Pending() == 0 {
		raw = w.NetConn()
	}
	tc, ok := raw.(*net.TCPConn)
	if !ok {
		return nil
	}
	p := pickPoller()
	if p == nil {
		return nil
	}
	sc, err := tc.SyscallConn()
	if err != nil {
		return nil
	}
	fd := -1
	cerr := sc.Control(func(f uintptr) {
		var e syscall.Errno
		r, _, e0 := syscall.Syscall(syscall.SYS_FCNTL, f, syscall.F_DUPFD_CLOEXEC, 0)
		if e = e0; e == 0 {
			fd = int(r)
		}
	})
	if cerr != nil || fd < 0 {
		return nil
	}
	t := &polled{p: p, fd: fd}
	raw.Close() // the duplicate keeps the socket: Go's poller lets go of it
	return t
}

func (t *polled) queues() bool { return true }

// The addresses are asked of the socket when wanted (rarely): an idle
// connection does not keep them.
func (t *polled) remoteAddr() net.Addr { return t.addr(syscall.Getpeername) }
func (t *polled) localAddr() net.Addr  { return t.addr(syscall.Getsockname) }

func (t *polled) addr(get func(int) (syscall.Sockaddr, error)) net.Addr {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.fd < 0 {
		return &net.TCPAddr{}
	}
	switch sa, _ := get(t.fd); sa := sa.(type) {
	case *syscall.SockaddrInet4:
		return &net.TCPAddr{IP: net.IP(sa.Addr[:]).To16(), Port: sa.Port}
	case *syscall.SockaddrInet6:
		return &net.TCPAddr{IP: net.IP(sa.Addr[:]), Port: sa.Port}
	}
	return &net.TCPAddr{}
}

// start hands the connection to its loop, after the bytes that came with
// the upgrade request.
func (t *polled) start(c *conn, buffered []byte) {
	c.reading = true
	if len(buffered) > 0 && c.feed(buffered) {
		c.handleQueued()
	}
	if err := t.p.add(t.fd, c); err != nil {
		c.g.log.Warn("gateway: event loop", "err", err)
		t.cut()
		t.finish(c, err)
		return
	}
	// What came meanwhile is this goroutine's to read: the loop saw it
	// reading.
	bp := handlerBufs.Get().(*[]byte)
	t.readTurn(c, *bp)
	handlerBufs.Put(bp)
}

func (t *polled) discard() {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.fd >= 0 {
		syscall.Close(t.fd)
		t.fd, t.dead = -1, true
	}
}

// readable is the loop's: the socket has something.
func (t *polled) readable(c *conn, buf []byte) {
	c.own.Lock()
	if c.reading {
		c.more = true
		c.own.Unlock()
		return
	}
	c.reading = true
	c.own.Unlock()
	t.readTurn(c, buf)
}

// readTurn reads the socket until it is empty, feeding the connection;
// lines to handle go to a goroutine of their own, which reads on after
// them. The reader's turn ends when the socket is empty and nothing came
// meanwhile.
func (t *polled) readTurn(c *conn, buf []byte) {
	for {
		queued, err := t.readPass(c, buf)
		if err != nil {
			t.finish(c, err)
			return // reading stays true: nothing reads this connection again
		}
		if queued {
			go t.handle(c)
			return
		}
		c.own.Lock()
		if !c.more {
			c.reading = false
			c.own.Unlock()
			return
		}
		c.more = false
		c.own.Unlock()
	}
}

// handle is the line handler's goroutine: the lines, then the socket.
func (t *polled) handle(c *conn) {
	c.handleQueued()
	bp := handlerBufs.Get().(*[]byte)
	t.readTurn(c, *bp)
	handlerBufs.Put(bp)
}

var handlerBufs = sync.Pool{New: func() any { b := make([]byte, 16<<10); return &b }}

// readPass reads until the socket is empty (false, nil), lines wait
// (true, nil) or the socket ended (its error, io.EOF for the device's).
func (t *polled) readPass(c *conn, buf []byte) (queued bool, err error) {
	for {
		n, err := syscall.Read(t.fd, buf)
		switch {
		case n > 0:
			if c.feed(buf[:n]) {
				return true, nil
			}
		case n == 0 && err == nil:
			return false, io.EOF
		case err == syscall.EINTR:
		case err == syscall.EAGAIN:
			return false, nil
		default:
			return false, err
		}
	}
}

// finish closes the socket and ends the connection (its reader's last act).
func (t *polled) finish(c *conn, err error) {
	if !c.closing.Load() {
		c.readEnded(err)
	}
	t.mu.Lock()
	fd := t.fd
	t.fd, t.dead, t.out = -1, true, nil
	if t.room != nil {
		close(t.room)
		t.room = nil
	}
	t.mu.Unlock()
	if fd >= 0 {
		t.p.remove(fd)
		syscall.Close(fd)
	}
	go c.ended() // the store's call must not hold the loop
}

// write sends frame now, or queues what the socket does not take.
func (t *polled) write(frame []byte, wait bool, deadline time.Time) error {
	if wait {
		if err := t.waitRoom(deadline); err != nil {
			return err
		}
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.dead || t.closeSent {
		return errWSClosed
	}
	t.closeSent = frame[0]&0x0f == opClose
	if len(t.out) == 0 {
		n, err := writeAll(t.fd, frame)
		if err != nil {
			t.cutLocked()
			return err
		}
		if frame = frame[n:]; len(frame) == 0 {
			return nil
		}
		t.progress = time.Now()
	}
	if len(t.out)+len(frame) > sendQueueMax {
		t.cutLocked()
		return timeoutError{}
	}
	t.out = append(t.out, frame...)
	return nil
}

// waitRoom waits until the queue is below sendQueueWait, the connection
// ends, or deadline passes (then it is cut).
func (t *polled) waitRoom(deadline time.Time) error {
	t.mu.Lock()
	var timer *time.Timer
	for len(t.out) > sendQueueWait && !t.dead {
		if t.room == nil {
			t.room = make(chan struct{})
		}
		room := t.room
		t.mu.Unlock()
		if timer == nil {
			timer = time.NewTimer(time.Until(deadline))
			defer timer.Stop()
		}
		select {
		case <-room:
		case <-timer.C:
			t.cut()
			return timeoutError{}
		}
		t.mu.Lock()
	}
	t.mu.Unlock()
	return nil
}

// writeAll writes b to the non-blocking fd until it would block.
func writeAll(fd int, b []byte) (int, error) {
	done := 0
	for done < len(b) {
		n, err := syscall.Write(fd, b[done:])
		if n > 0 {
			done += n
		}
		switch {
		case err == syscall.EINTR:
		case err == syscall.EAGAIN:
			return done, nil
		case err != nil:
			return done, err
		}
	}
	return done, nil
}

// flush is the loop's: the socket takes more.
func (t *polled) flush() {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.dead || len(t.out) == 0 {
		return
	}
	n, err := writeAll(t.fd, t.out)
	if err != nil {
		t.cutLocked()
		return
	}
	if n > 0 {
		t.progress = time.Now()
	}
	if t.out = t.out[n:]; len(t.out) == 0 {
		t.out = nil // an idle connection keeps no buffer
		if t.cutFlushed {
			t.cutLocked()
			return
		}
	}
	if len(t.out) <= sendQueueWait && t.room != nil {
		close(t.room)
		t.room = nil
	}
}

func (t *polled) stalled(now time.Time, d time.Duration) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.out) > 0 && now.Sub(t.progress) > d
}

// cut shuts the socket down: its reader sees the end and closes it (the
// descriptor stays until then, so that no new connection takes its number
// while the loop may still use it).
func (t *polled) cut() {
	t.mu.Lock()
	t.cutLocked()
	t.mu.Unlock()
}

// cutWhenFlushed cuts the socket once what is queued is written: the echo
// of a device's close frame must not be dropped because data was ahead of
// it (the sweep cuts at the close's deadline a device that does not read).
func (t *polled) cutWhenFlushed() {
	t.mu.Lock()
	defer t.mu.Unlock()
	if len(t.out) == 0 {
		t.cutLocked()
		return
	}
	t.cutFlushed = true
}

func (t *polled) cutLocked() {
	if t.dead {
		return
	}
	t.dead, t.out = true, nil
	if t.room != nil {
		close(t.room)
		t.room = nil
	}
	syscall.Shutdown(t.fd, syscall.SHUT_RDWR)
}
