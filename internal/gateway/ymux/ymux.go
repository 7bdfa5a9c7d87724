// Package ymux is the server side of the yamux protocol
// (github.com/hashicorp/yamux, spec.md, version 0) as the device gateway
// uses it: the device is the client and opens stream 1, the control
// stream; the server opens every further stream (even ids).
//
// A session costs one goroutine, the caller's, running Serve: hashicorp's
// server needs a receive and a send goroutine per session, its own 4 KiB
// read buffer and a send queue, which is most of what an idle device
// connection costs. Here writes happen on the writer's goroutine, one frame
// at a time under a mutex, each within Config.WriteTimeout: a write that
// times out closes the session, so a peer that stops reading costs only
// its own connection. Stream 1's data goes straight to Config.Control on
// Serve's goroutine, unbuffered. Instead of Serve, an event loop may push
// the bytes it reads with Feed: then a session holds no goroutine at all.
package ymux

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"time"
)

// Wire constants (spec.md).
const (
	typeData         = 0
	typeWindowUpdate = 1
	typePing         = 2
	typeGoAway       = 3

	flagSYN = 1
	flagACK = 2
	flagFIN = 4
	flagRST = 8

	headerSize = 12
	// Window is every stream's receive window, in both directions: the
	// protocol's initial one, which this side never raises.
	Window = 256 << 10
	// maxPayload bounds one data frame this side writes: a frame goes out
	// as one WebSocket message (header and payload together) and devices
	// take messages of at most 256 KiB.
	maxPayload = 32 << 10
	// readChunk is what Serve reads of a frame's payload at a time: a peer
	// that stops in the middle of a frame pins no more than this.
	readChunk = 4 << 10
	// maxSendWindow bounds what a peer's window updates add up to: they
	// may come without end, the sum must not overflow.
	maxSendWindow = 1<<32 - 1
	// controlID is the device's control stream.
	controlID = 1
)

// Errors. A timeout is ErrTimeout (a net.Error whose Timeout is true).
// Whatever waits on a session or is called after it closed gets
// ErrSessionClosed, except the write whose own failure closed it; Serve
// returns why it closed.
var (
	ErrSessionClosed = fmt.Errorf("ymux: session closed: %w", net.ErrClosed)
	ErrStreamClosed  = fmt.Errorf("ymux: stream closed: %w", net.ErrClosed)
	ErrStreamReset   = errors.New("ymux: stream reset by the peer")
	// ErrTooManyStreams: MaxStreams are open, or the session has used up
	// its stream ids (2^31 streams).
	ErrTooManyStreams = errors.New("ymux: too many streams open")
	// ErrProtocol is wrapped by every violation of the protocol by the peer.
	ErrProtocol = errors.New("ymux: protocol error")
	// ErrNotControlStream: the peer's first stream was not stream 1.
	ErrNotControlStream = fmt.Errorf("%w: the first stream must be stream 1", ErrProtocol)
	// ErrNoControlStream is wrapped by Serve's error when the connection
	// ended before the peer opened stream 1.
	ErrNoControlStream = errors.New("ymux: no control stream")
	// ErrGoAway: the peer ended the session.
	ErrGoAway = errors.New("ymux: the peer sent GoAway")
	// ErrTimeout is a deadline that passed.
	ErrTimeout error = timeoutError{}
)

type timeoutError struct{}

func (timeoutError) Error() string        { return "ymux: i/o timeout" }
func (timeoutError) Timeout() bool        { return true }
func (timeoutError) Temporary() bool      { return true }
func (timeoutError) Is(target error) bool { return target == os.ErrDeadlineExceeded }

// Config tunes a session.
type Config struct {
	// Control is called on Serve's goroutine with stream 1's data, in
	// order, in pieces of any size (a frame may come in several, several
	// frames never in one); p is valid until it returns. An error ends the
	// session and is Serve's.
	Control func(p []byte) error
	// WriteTimeout bounds every write to the connection, and WriteControl
	// as a whole; one that takes longer closes the session (default 10s).
	WriteTimeout time.Duration
	// MaxStreams bounds the streams OpenStream has open at once (default 16).
	MaxStreams int
}

// RoomWaiter is a connection whose writes queue rather than block (an event
// loop's): WaitRoom waits, by deadline, until its queue has room for a
// frame with a payload. The session calls it before taking its write lock.
type RoomWaiter interface {
	WaitRoom(deadline time.Time) error
}

// Session is the server side of one yamux connection.
type Session struct {
	conn net.Conn
	cfg  Config
	done chan struct{}

	wmu  sync.Mutex // one frame at a time on conn
	whdr [headerSize]byte

	cmu sync.Mutex // one WriteControl at a time: its frames stay together

	mu         sync.Mutex
	closed     bool
	err        error // why the session closed
	connClosed bool
	streams    map[uint32]*Stream // open server streams; made on first use
	nextID     uint32
	ctrlOpen   bool
	ctrlSend   int64         // what the peer lets us send on stream 1
	ctrlWake   chan struct{} // made for the first WriteControl that waits

	// The reader's own (Serve's, or Feed's caller's): the frame being read.
	rhdr     [headerSize]byte
	rn       uint8   // header bytes in rhdr so far
	left     uint32  // payload bytes of the frame still to come
	sink     uint8   // where they go
	rflags   uint16  // the frame's flags, acted on after its payload
	rstream  *Stream // sinkStream's stream
	ctrlRecv uint32  // what the peer may still send on stream 1
}

// Server starts the server side of a session on conn, a byte stream
// (frames may be split or merged anyhow). Serve must run for it to work.
func Server(conn net.Conn, cfg Config) *Session {
	if cfg.WriteTimeout <= 0 {
		cfg.WriteTimeout = 10 * time.Second
	}
	if cfg.MaxStreams <= 0 {
		cfg.MaxStreams = 16
	}
	return &Session{conn: conn, cfg: cfg, done: make(chan struct{}), nextID: 2, ctrlSend: Window, ctrlRecv: Window}
}

// IsClosed reports whether the session is closed.
func (s *Session) IsClosed() bool {
	select {
	case <-s.done:
		return true
	default:
		return false
	}
}

// CloseChan is closed when the session closes.
func (s *Session) CloseChan() <-chan struct{} { return s.done }

// Close ends the session and closes its connection (also after Serve
// returned); everything blocked on it returns an error.
func (s *Session) Close() error {
	s.end(ErrSessionClosed, true)
	return nil
}

// fail ends the session for err and closes its connection.
func (s *Session) fail(err error) { s.end(err, true) }

// end ends the session for err (the first reason sticks) and, with
// closeConn, closes its connection.
func (s *Session) end(err error, closeConn bool) {
	s.mu.Lock()
	if !s.closed {
		s.closed, s.err = true, err
		close(s.done)
	}
	closeConn = closeConn && !s.connClosed
	s.connClosed = s.connClosed || closeConn
	s.mu.Unlock()
	if closeConn {
		s.conn.Close()
	}
}

func (s *Session) closeErr() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err
}

// writePool holds the buffers a frame is written from, header and payload
// together; readPool those a payload is read into, a chunk at a time.
var (
	writePool = sync.Pool{New: func() any { b := make([]byte, headerSize+maxPayload); return &b }}
	readPool  = sync.Pool{New: func() any { b := make([]byte, readChunk); return &b }}
)

// writeFrame writes one frame, by the deadline (zero: WriteTimeout from
// now). A stream's data, FIN and RST go through st, so that no data
// follows its FIN or RST.
func (s *Session) writeFrame(typ uint8, flags uint16, id, length uint32, payload []byte, st *Stream, deadline time.Time) error {
	var bp *[]byte
	if deadline.IsZero() {
		deadline = time.Now().Add(s.cfg.WriteTimeout)
	}
	if r, ok := s.conn.(RoomWaiter); ok && len(payload) > 0 {
		// Wait for room before taking the write lock: the answers the
		// session writes while it is fed (window updates, pings, resets)
		// take it too, and must never wait behind a device that does not
		// read.
		if err := r.WaitRoom(deadline); err != nil {
			s.fail(ErrTimeout)
			if s.closeErr() != ErrTimeout {
				return ErrSessionClosed
			}
			return ErrTimeout
		}
	}
	s.wmu.Lock()
	defer s.wmu.Unlock()
	frame := s.whdr[:]
	if len(payload) > 0 {
		bp = writePool.Get().(*[]byte)
		defer writePool.Put(bp)
		frame = (*bp)[:headerSize+copy((*bp)[headerSize:], payload)]
	}
	frame[0], frame[1] = 0, typ
	binary.BigEndian.PutUint16(frame[2:], flags)
	binary.BigEndian.PutUint32(frame[4:], id)
	binary.BigEndian.PutUint32(frame[8:], length)
	if s.IsClosed() {
		return ErrSessionClosed
	}
	if st != nil {
		if st.closeSent {
			return ErrStreamClosed
		}
		st.closeSent = flags&(flagFIN|flagRST) != 0
	}
	if deadline.IsZero() {
		deadline = time.Now().Add(s.cfg.WriteTimeout)
	}
	s.conn.SetWriteDeadline(deadline)
	if _, err := s.conn.Write(frame); err != nil {
		var ne net.Error
		if (errors.As(err, &ne) && ne.Timeout()) || !time.Now().Before(deadline) {
			err = ErrTimeout
		}
		s.fail(err)
		if s.closeErr() != err {
			return ErrSessionClosed // closed meanwhile, for another reason
		}
		return err
	}
	// Disarmed once written: coder/websocket's NetConn marks itself expired
	// when an armed deadline fires while no write runs, and such a firing
	// racing the next write's SetWriteDeadline could fail that write.
	s.conn.SetWriteDeadline(time.Time{})
	return nil
}

func (s *Session) writeHeader(typ uint8, flags uint16, id, length uint32) error {
	return s.writeFrame(typ, flags, id, length, nil, nil, time.Time{})
}

// Serve reads the session until it ends, and returns why: the
// connection's read error (deadlines on conn are the caller's), a
// protocol error, Control's error, or the reason it was closed (Close,
// a failed write). The session is closed when it returns; when Serve
// ended it, the connection is left open for the caller to say goodbye on
// (a WebSocket close code) and close, or Close.
//
// Serve is the pull side of Feed: a caller with its own reader (an event
// loop) feeds the bytes instead, and calls End when they end.
func (s *Session) Serve() error { return s.End(s.serve()) }

// End ends the session for err (why its bytes stopped: the connection's
// read error, Feed's error, or a reason of the caller's) without closing
// the connection, and returns the session's reason, as Serve does: the
// first reason it closed for, else err (wrapping ErrNoControlStream when
// the peer never opened stream 1).
func (s *Session) End(err error) error {
	s.mu.Lock()
	if s.closed {
		err = s.err
	} else if !s.ctrlOpen && !errors.Is(err, ErrProtocol) {
		err = fmt.Errorf("%w: %w", ErrNoControlStream, err)
	}
	s.mu.Unlock()
	s.end(err, false)
	return err
}

// Feed takes the next bytes the peer sent, in pieces of any size, and
// acts on them; p is not kept. An error (a protocol error, Control's
// error, a failed write) ends the reading: the caller passes it to End.
// Only one goroutine at a time feeds a session, and never while Serve
// runs. The frames' replies (window updates, ping answers, resets) are
// headers written from Feed's goroutine: conn should take them without
// waiting.
func (s *Session) Feed(p []byte) error {
	if s.IsClosed() {
		return s.closeErr()
	}
	for len(p) > 0 {
		if s.left == 0 {
			k := copy(s.rhdr[s.rn:], p)
			s.rn += uint8(k)
			p = p[k:]
			if int(s.rn) < headerSize {
				return nil
			}
			if err := s.header(); err != nil {
				return err
			}
			continue
		}
		k := min(uint32(len(p)), s.left)
		if err := s.body(p[:k]); err != nil {
			return err
		}
		p = p[k:]
	}
	return nil
}

func (s *Session) serve() error {
	var bp *[]byte // the payload's buffer, borrowed for the frame
	defer func() {
		if bp != nil {
			readPool.Put(bp)
		}
	}()
	for {
		if s.left == 0 {
			if bp != nil {
				readPool.Put(bp)
				bp = nil
			}
			// A header is read straight into rhdr: an idle session holds
			// no buffer.
			if _, err := io.ReadFull(s.conn, s.rhdr[:]); err != nil {
				return err
			}
			s.rn = headerSize
			if err := s.header(); err != nil {
				return err
			}
			continue
		}
		// The payload, at most readChunk at a time: a peer stalled in the
		// middle of a frame pins no more. left is the peer's, up to
		// 4 GiB: never made an int (negative on 32-bit platforms).
		if bp == nil {
			bp = readPool.Get().(*[]byte)
		}
		k, err := s.conn.Read((*bp)[:min(s.left, uint32(len(*bp)))])
		if k > 0 {
			if err := s.body((*bp)[:k]); err != nil {
				return err
			}
		}
		if err != nil {
			if err == io.EOF && s.left > 0 {
				err = io.ErrUnexpectedEOF
			}
			if s.left > 0 || err != io.EOF {
				return err
			}
		}
	}
}

// Where the payload of the frame being read goes.
const (
	sinkDrop    = iota // a stream not open: dropped
	sinkControl        // stream 1: Config.Control
	sinkStream         // a server stream: its buffer
)

// header acts on the frame header in rhdr, complete: frames without
// payload at once, the others once their payload is through (body).
func (s *Session) header() error {
	s.rn = 0
	h := s.rhdr[:]
	typ, flags := h[1], binary.BigEndian.Uint16(h[2:])
	id, length := binary.BigEndian.Uint32(h[4:]), binary.BigEndian.Uint32(h[8:])
	if h[0] != 0 {
		return fmt.Errorf("%w: version %d", ErrProtocol, h[0])
	}
	switch typ {
	case typeData, typeWindowUpdate:
		return s.onStream(typ, flags, id, length)
	case typePing:
		if flags&flagSYN != 0 {
			return s.writeHeader(typePing, flagACK, 0, length)
		}
		// An ACK answers a ping of ours: this side sends none.
		return nil
	case typeGoAway:
		return fmt.Errorf("%w (code %d)", ErrGoAway, length)
	default:
		return fmt.Errorf("%w: frame type %d", ErrProtocol, typ)
	}
}

// payload starts the payload of a data frame: length bytes go to sink.
func (s *Session) payload(length uint32, sink uint8, st *Stream, flags uint16) error {
	s.left, s.sink, s.rstream, s.rflags = length, sink, st, flags
	if length == 0 {
		return s.frameEnd()
	}
	return nil
}

// body takes the next bytes of the current frame's payload (at most what
// is left of it).
func (s *Session) body(p []byte) error {
	s.left -= uint32(len(p))
	var err error
	switch s.sink {
	case sinkControl:
		if s.cfg.Control != nil {
			err = s.cfg.Control(p)
		}
	case sinkStream:
		err = s.rstream.take(p)
	}
	if err != nil {
		return err
	}
	if s.left == 0 {
		return s.frameEnd()
	}
	return nil
}

// frameEnd acts on a data frame whose payload is all through.
func (s *Session) frameEnd() error {
	st, flags := s.rstream, s.rflags
	s.rstream = nil
	switch s.sink {
	case sinkControl:
		// All of it is consumed: the window opens again once half is
		// used, as hashicorp's client does it, so a chatty device never
		// waits and a quiet one costs no updates.
		if used := Window - s.ctrlRecv; used >= Window/2 {
			s.ctrlRecv = Window
			if err := s.writeHeader(typeWindowUpdate, 0, controlID, used); err != nil {
				return err
			}
		}
		if flags&flagFIN != 0 {
			return io.EOF // the device closed its control stream: it is leaving
		}
	case sinkStream:
		st.mu.Lock()
		st.flags(flags)
		st.mu.Unlock()
		notify(st.readWake)
	}
	return nil
}

// onStream takes the header of a data or window update frame.
func (s *Session) onStream(typ uint8, flags uint16, id, length uint32) error {
	if id == 0 {
		return fmt.Errorf("%w: stream frame on stream 0", ErrProtocol)
	}
	if id == controlID {
		return s.onControl(typ, flags, length)
	}
	s.mu.Lock()
	st := s.streams[id]
	ctrlOpen := s.ctrlOpen
	s.mu.Unlock()
	if flags&flagSYN != 0 {
		if !ctrlOpen {
			return ErrNotControlStream
		}
		if st != nil {
			return fmt.Errorf("%w: stream %d opened twice", ErrProtocol, id)
		}
		// Only the server opens further streams: refused at once, so none
		// holds a receive window or anything else.
		if err := s.writeHeader(typeWindowUpdate, flagRST, id, 0); err != nil {
			return err
		}
	}
	if st == nil {
		// Refused, closed here or reset: what it still carries is dropped.
		// Data on a server stream that is not open (closed here, most
		// likely while the peer was still writing) is answered with RST,
		// or the peer's writer may wait for window forever. One RST per
		// frame of the peer's: what the session writes stays bounded by
		// what it reads, as with pings.
		if typ == typeData && length > 0 && id%2 == 0 && flags&(flagSYN|flagRST) == 0 {
			if err := s.writeHeader(typeWindowUpdate, flagRST, id, 0); err != nil {
				return err
			}
		}
		if typ == typeData {
			return s.payload(length, sinkDrop, nil, 0)
		}
		return nil
	}
	if typ == typeWindowUpdate {
		st.onWindowUpdate(flags, length)
		return nil
	}
	st.mu.Lock()
	if length > st.recvWindow {
		st.mu.Unlock()
		return fmt.Errorf("%w: %d bytes on stream %d with a window of %d", ErrProtocol, length, st.id, st.recvWindow)
	}
	st.recvWindow -= length
	st.mu.Unlock()
	return s.payload(length, sinkStream, st, flags)
}

// onControl takes the header of a frame of stream 1.
func (s *Session) onControl(typ uint8, flags uint16, length uint32) error {
	if flags&flagSYN != 0 {
		s.mu.Lock()
		dup := s.ctrlOpen
		s.ctrlOpen = true
		s.mu.Unlock()
		if dup {
			return fmt.Errorf("%w: stream 1 opened twice", ErrProtocol)
		}
		if err := s.writeHeader(typeWindowUpdate, flagACK, controlID, 0); err != nil {
			return err
		}
	} else if !s.controlOpen() {
		if typ == typeData {
			return s.payload(length, sinkDrop, nil, 0) // as for any stream not open
		}
		return nil
	}
	if flags&flagRST != 0 {
		return fmt.Errorf("%w: stream 1", ErrStreamReset)
	}
	if typ == typeWindowUpdate {
		s.mu.Lock()
		s.ctrlSend = min(s.ctrlSend+int64(length), maxSendWindow)
		if s.ctrlWake != nil {
			notify(s.ctrlWake)
		}
		s.mu.Unlock()
		if flags&flagFIN != 0 {
			return io.EOF
		}
		return nil
	}
	if length > s.ctrlRecv {
		return fmt.Errorf("%w: %d bytes on stream 1 with a window of %d", ErrProtocol, length, s.ctrlRecv)
	}
	s.ctrlRecv -= length
	return s.payload(length, sinkControl, nil, flags)
}

func (s *Session) controlOpen() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.ctrlOpen
}

// WriteControl writes p on stream 1 within the device's window, waiting
// for its window updates: all of it within WriteTimeout, or the session
// closes.
func (s *Session) WriteControl(p []byte) error {
	deadline := time.Now().Add(s.cfg.WriteTimeout)
	s.cmu.Lock()
	defer s.cmu.Unlock()
	var timer *time.Timer
	defer func() {
		if timer != nil {
			timer.Stop()
		}
	}()
	for {
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			return ErrSessionClosed
		}
		if !s.ctrlOpen {
			s.mu.Unlock()
			return ErrNoControlStream
		}
		if len(p) == 0 {
			s.mu.Unlock()
			return nil
		}
		n := int(min(s.ctrlSend, int64(len(p)), maxPayload))
		if n == 0 {
			if s.ctrlWake == nil {
				s.ctrlWake = make(chan struct{}, 1)
			}
			wake := s.ctrlWake
			s.mu.Unlock()
			if timer == nil {
				timer = time.NewTimer(time.Until(deadline))
			}
			select {
			case <-wake:
				continue
			case <-s.done:
				return ErrSessionClosed
			case <-timer.C:
				s.fail(ErrTimeout)
				return ErrTimeout
			}
		}
		s.ctrlSend -= int64(n)
		s.mu.Unlock()
		if err := s.writeFrame(typeData, 0, controlID, uint32(n), p[:n], nil, deadline); err != nil {
			return err
		}
		p = p[n:]
	}
}

// OpenStream opens a server stream (the next even id). Its SYN is sent
// before it returns; it may be written to at once.
func (s *Session) OpenStream() (*Stream, error) {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil, ErrSessionClosed
	}
	// nextID wraps to 0 once the last even id is used: ids are never
	// used twice (nor is 0, the session's).
	if len(s.streams) >= s.cfg.MaxStreams || s.nextID == 0 {
		s.mu.Unlock()
		return nil, ErrTooManyStreams
	}
	if s.streams == nil {
		s.streams = map[uint32]*Stream{}
	}
	st := &Stream{s: s, id: s.nextID, recvWindow: Window, sendWindow: Window,
		readWake: make(chan struct{}, 1), writeWake: make(chan struct{}, 1)}
	s.nextID += 2
	s.streams[st.id] = st
	s.mu.Unlock()
	if err := s.writeHeader(typeWindowUpdate, flagSYN, st.id, 0); err != nil {
		s.forget(st)
		return nil, err
	}
	return st, nil
}

// forget drops a stream from the session: its further frames are dropped.
func (s *Session) forget(st *Stream) {
	s.mu.Lock()
	if s.streams[st.id] == st {
		delete(s.streams, st.id)
	}
	s.mu.Unlock()
}

// notify wakes the waiter on c, if any, without blocking.
func notify(c chan struct{}) {
	select {
	case c <- struct{}{}:
	default:
	}
}

// Stream is a stream the server opened: a net.Conn. Close ends it for
// this side: it sends FIN after the peer's FIN, RST before it (the peer
// may be writing, waiting for window this side will never open); what the
// peer still sends is dropped. After the peer's FIN, Read returns io.EOF
// once the data is read and Write still works, as with hashicorp's
// streams.
type Stream struct {
	s  *Session
	id uint32

	mu          sync.Mutex
	buf         []byte // received, not read yet: buf[off:]
	off         int
	recvWindow  uint32 // what the peer may still send
	consumed    uint32 // read since the last window update
	sendWindow  int64  // what the peer lets us send
	remoteFIN   bool
	reset       bool
	localClosed bool
	rdeadline   time.Time
	wdeadline   time.Time
	readWake    chan struct{}
	writeWake   chan struct{}

	closeSent bool       // FIN or RST; under s.wmu
	wl        sync.Mutex // one Write at a time: its frames stay in order
}

var _ net.Conn = (*Stream)(nil)

// StreamID is the stream's id.
func (st *Stream) StreamID() uint32 { return st.id }

func (st *Stream) LocalAddr() net.Addr  { return st.s.conn.LocalAddr() }
func (st *Stream) RemoteAddr() net.Addr { return st.s.conn.RemoteAddr() }

// onWindowUpdate is the reader's: the peer's ACK, FIN, RST or more window.
func (st *Stream) onWindowUpdate(flags uint16, length uint32) {
	st.mu.Lock()
	st.sendWindow = min(st.sendWindow+int64(length), maxSendWindow)
	st.flags(flags)
	st.mu.Unlock()
	notify(st.writeWake)
}

// take appends received data to the buffer, which grows with it but
// never beyond the window (the window bounds what is unread).
func (st *Stream) take(p []byte) error {
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.localClosed || st.reset {
		return nil
	}
	if len(st.buf)+len(p) > cap(st.buf) {
		unread := len(st.buf) - st.off
		need := unread + len(p)
		if need <= cap(st.buf) {
			copy(st.buf, st.buf[st.off:])
		} else {
			nb := make([]byte, unread, min(max(need, 2*cap(st.buf), 4<<10), Window))
			copy(nb, st.buf[st.off:])
			st.buf = nb
		}
		st.buf, st.off = st.buf[:unread], 0
	}
	st.buf = append(st.buf, p...)
	notify(st.readWake)
	return nil
}

// flags acts on the peer's FIN and RST (its ACK needs nothing); st.mu held.
func (st *Stream) flags(flags uint16) {
	if flags&flagFIN != 0 {
		st.remoteFIN = true
	}
	if flags&flagRST != 0 && !st.reset {
		st.reset = true
		st.buf, st.off = nil, 0
		st.s.forget(st)
	}
	if flags&(flagFIN|flagRST) != 0 {
		notify(st.readWake)
		notify(st.writeWake)
	}
}

// Read reads what the peer sent; io.EOF after its FIN.
func (st *Stream) Read(p []byte) (int, error) {
	var timer *time.Timer
	defer func() {
		if timer != nil {
			timer.Stop()
		}
	}()
	for {
		st.mu.Lock()
		switch {
		case st.localClosed:
			st.mu.Unlock()
			return 0, ErrStreamClosed
		case st.reset:
			st.mu.Unlock()
			return 0, ErrStreamReset
		case len(st.buf) > st.off:
			n := copy(p, st.buf[st.off:])
			st.off += n
			if st.off == len(st.buf) {
				st.buf, st.off = st.buf[:0], 0
				if cap(st.buf) > 4<<10 {
					st.buf = nil // an idle stream keeps no big buffer
				}
			}
			// The window opens again once half of it was read. (What was
			// read, not what is buffered: a frame is taken in pieces,
			// and its rest is on the way.)
			var delta uint32
			if st.consumed += uint32(n); st.consumed >= Window/2 && !st.remoteFIN {
				delta, st.consumed = st.consumed, 0
				st.recvWindow += delta
			}
			st.mu.Unlock()
			if delta > 0 {
				if err := st.s.writeHeader(typeWindowUpdate, 0, st.id, delta); err != nil && !errors.Is(err, ErrSessionClosed) {
					return n, err
				}
			}
			return n, nil
		case st.remoteFIN:
			st.mu.Unlock()
			return 0, io.EOF
		case st.s.IsClosed():
			st.mu.Unlock()
			return 0, ErrSessionClosed
		}
		deadline := st.rdeadline
		st.mu.Unlock()
		var err error
		if timer, err = wait(st.readWake, st.s.done, deadline, timer); err != nil {
			return 0, err
		}
	}
}

// wait blocks until wake, done or the deadline; timer is reused between
// calls of one Read or Write.
func wait(wake, done chan struct{}, deadline time.Time, timer *time.Timer) (*time.Timer, error) {
	var expired <-chan time.Time
	if !deadline.IsZero() {
		d := time.Until(deadline)
		if d <= 0 {
			return timer, ErrTimeout
		}
		if timer == nil {
			timer = time.NewTimer(d)
		} else {
			timer.Reset(d)
		}
		expired = timer.C
	}
	select {
	case <-wake:
	case <-done:
	case <-expired:
		return timer, ErrTimeout
	}
	return timer, nil
}

// Write writes p, within the peer's window: it waits for window updates
// until the write deadline.
func (st *Stream) Write(p []byte) (int, error) {
	st.wl.Lock()
	defer st.wl.Unlock()
	var timer *time.Timer
	defer func() {
		if timer != nil {
			timer.Stop()
		}
	}()
	total := 0
	for len(p) > 0 {
		st.mu.Lock()
		var err error
		switch {
		case st.localClosed:
			err = ErrStreamClosed
		case st.reset:
			err = ErrStreamReset
		case st.s.IsClosed():
			err = ErrSessionClosed
		}
		if err != nil {
			st.mu.Unlock()
			return total, err
		}
		n := int(min(st.sendWindow, int64(len(p)), maxPayload))
		if n == 0 {
			deadline := st.wdeadline
			st.mu.Unlock()
			if timer, err = wait(st.writeWake, st.s.done, deadline, timer); err != nil {
				return total, err
			}
			continue
		}
		st.sendWindow -= int64(n)
		st.mu.Unlock()
		if err := st.s.writeFrame(typeData, 0, st.id, uint32(n), p[:n], st, time.Time{}); err != nil {
			return total, err
		}
		total += n
		p = p[n:]
	}
	return total, nil
}

// Close ends the stream for this side, with FIN after the peer's FIN and
// RST before it; blocked reads and writes return.
func (st *Stream) Close() error {
	st.mu.Lock()
	if st.localClosed {
		st.mu.Unlock()
		return nil
	}
	st.localClosed = true
	reset := st.reset
	// A peer that has not sent FIN may still be writing: RST tells it the
	// stream is gone (a FIN would not: its writer would wait for window
	// that this side never opens again).
	flag := uint16(flagRST)
	if st.remoteFIN {
		flag = flagFIN
	}
	st.buf, st.off = nil, 0
	st.mu.Unlock()
	notify(st.readWake)
	notify(st.writeWake)
	st.s.forget(st)
	if reset || st.s.IsClosed() {
		return nil
	}
	if err := st.s.writeFrame(typeWindowUpdate, flag, st.id, 0, nil, st, time.Time{}); err != nil && !errors.Is(err, ErrStreamClosed) {
		return err
	}
	return nil
}

// SetDeadline sets both deadlines.
func (st *Stream) SetDeadline(t time.Time) error {
	st.SetReadDeadline(t)
	return st.SetWriteDeadline(t)
}

// SetReadDeadline bounds blocked and future Reads.
func (st *Stream) SetReadDeadline(t time.Time) error {
	st.mu.Lock()
	st.rdeadline = t
	st.mu.Unlock()
	notify(st.readWake)
	return nil
}

// SetWriteDeadline bounds the waits of blocked and future Writes for the
// peer's window (each frame's write is bounded by Config.WriteTimeout).
func (st *Stream) SetWriteDeadline(t time.Time) error {
	st.mu.Lock()
	st.wdeadline = t
	st.mu.Unlock()
	notify(st.writeWake)
	return nil
}
