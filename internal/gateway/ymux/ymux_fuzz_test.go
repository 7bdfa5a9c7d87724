package ymux

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"runtime"
	"sync"
	"testing"
	"time"
)

// memConn is a connection to a peer that has sent in, handed out at most
// chunk bytes a read (then io.EOF), and takes whatever is written.
type memConn struct {
	mu     sync.Mutex
	in     []byte
	chunk  int
	out    bytes.Buffer
	closed bool
}

func (c *memConn) Read(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return 0, net.ErrClosed
	}
	if len(c.in) == 0 {
		return 0, io.EOF
	}
	n := copy(p[:min(len(p), c.chunk)], c.in)
	c.in = c.in[n:]
	return n, nil
}

func (c *memConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return 0, net.ErrClosed
	}
	return c.out.Write(p)
}

func (c *memConn) Close() error {
	c.mu.Lock()
	c.closed = true
	c.mu.Unlock()
	return nil
}

func (c *memConn) written() []byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	return bytes.Clone(c.out.Bytes())
}

type memAddr struct{}

func (memAddr) Network() string { return "mem" }
func (memAddr) String() string  { return "mem" }

func (*memConn) LocalAddr() net.Addr              { return memAddr{} }
func (*memConn) RemoteAddr() net.Addr             { return memAddr{} }
func (*memConn) SetDeadline(time.Time) error      { return nil }
func (*memConn) SetReadDeadline(time.Time) error  { return nil }
func (*memConn) SetWriteDeadline(time.Time) error { return nil }

// hdr is one frame header as the wire has it.
type hdr struct {
	version, typ uint8
	flags        uint16
	id, length   uint32
}

func (h hdr) encode() []byte {
	b := make([]byte, headerSize)
	b[0], b[1] = h.version, h.typ
	binary.BigEndian.PutUint16(b[2:], h.flags)
	binary.BigEndian.PutUint32(b[4:], h.id)
	binary.BigEndian.PutUint32(b[8:], h.length)
	return b
}

func decodeHdr(b []byte) hdr {
	return hdr{b[0], b[1], binary.BigEndian.Uint16(b[2:]), binary.BigEndian.Uint32(b[4:]), binary.BigEndian.Uint32(b[8:])}
}

// headers splits what the session wrote into headers: the session under
// fuzzing sends no data of its own, so every frame it writes is a bare
// header.
func headers(t *testing.T, out []byte) []hdr {
	t.Helper()
	if len(out)%headerSize != 0 {
		t.Fatalf("the session wrote %d bytes: not whole headers", len(out))
	}
	var hs []hdr
	for ; len(out) > 0; out = out[headerSize:] {
		h := decodeHdr(out)
		if !bytes.Equal(h.encode(), out[:headerSize]) {
			t.Fatalf("header %x does not re-encode to itself", out[:headerSize])
		}
		hs = append(hs, h)
	}
	return hs
}

// serveAll runs Serve on conn to its end, which must come within 10 s:
// the peer's bytes are finite, so anything longer is a hang.
func serveAll(t *testing.T, s *Session) error {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- s.Serve() }()
	select {
	case err := <-done:
		return err
	case <-time.After(10 * time.Second):
		t.Fatal("Serve did not end on a finite input")
		return nil
	}
}

var errStop = errors.New("control stop")

// FuzzServe: a whole session fed arbitrary bytes by the peer, in pieces
// of any size, with up to three server streams open. Serve ends (no hang)
// with the session closed and one of the documented reasons; it allocates
// in proportion to what the peer sent, whatever lengths the peer declares
// (no frame buffer of a declared length); stream 1's data reaches Control
// in pieces of at most a read chunk; a stream buffers at most its window;
// and every frame the session wrote is a well-formed answer: ping ACKs
// echo a peer's ping, RSTs, stream 1's ACK and window updates, the SYNs
// of the streams opened.
func FuzzServe(f *testing.F) {
	frame := func(typ uint8, flags uint16, id, length uint32, payload ...byte) []byte {
		return append(hdr{0, typ, flags, id, length}.encode(), payload...)
	}
	cat := func(frames ...[]byte) []byte { return bytes.Join(frames, nil) }
	syn := frame(typeWindowUpdate, flagSYN, 1, 0)
	for _, in := range [][]byte{
		nil,
		syn,
		cat(syn, frame(typeData, 0, 1, 5, []byte("hello")...), frame(typePing, flagSYN, 0, 77)),
		cat(frame(typeData, flagSYN, 1, 3, 'a', 'b', 'c'), frame(typeData, flagFIN, 1, 1, '\n')),
		cat(syn, frame(typeWindowUpdate, 0, 1, 1<<31), frame(typeWindowUpdate, 0, 1, 1<<32-1), frame(typeWindowUpdate, 0, 1, 1<<32-1)),
		// Known attacks and regressions (ymux_test.go).
		{1, 0, 0, flagSYN, 0, 0, 0, 1, 0, 0, 0, 0},                   // version 1
		cat(syn, frame(9, 0, 1, 0)),                                  // unknown type
		frame(typeWindowUpdate, flagSYN, 3, 0),                       // stream 3 first
		cat(syn, syn),                                                // stream 1 twice
		cat(syn, frame(typeWindowUpdate, flagRST, 1, 0)),             // stream 1 reset
		cat(syn, frame(typeGoAway, 0, 0, 2)),                         // GoAway
		cat(syn, frame(typeData, 0, 3, 1<<31, 'x', 'x')),             // 2^31 bytes declared (panicked 32-bit builds)
		cat(syn, frame(typeData, 0, 1, 1<<32-1, 'x')),                // 4 GiB on stream 1
		cat(syn, frame(typeData, 0, 1, Window+1)),                    // over the window
		cat(syn, frame(typeData, flagSYN, 3, 4, 'd', 'a', 't', 'a')), // device-opened stream
		cat(syn, frame(typeData, 0, 2, 3, 'a', 'b', 'c')),            // data for a server stream
		cat(syn, frame(typeData, 0, 4, 1000, []byte("{\"typ")...)),   // stalls in the middle of a frame
		cat(syn, frame(typeWindowUpdate, flagACK, 2, 1<<20), frame(typeWindowUpdate, flagFIN, 2, 0), frame(typeData, 0, 2, 1, 'z')),
		cat(syn, frame(typeData, flagRST, 2, 0), frame(typeData, 0, 2, 2, 'h', 'i')), // data after RST
		cat(syn, frame(typeData, 0, 0, 0)), // stream 0
		cat(syn, frame(typePing, flagACK, 0, 1), frame(typePing, 0, 5, 9)),
		cat(syn, bytes.Repeat(frame(typeData, 0, 1, 1, '.'), 300)),
		cat(syn, frame(typeData, 0, 1, Window/2, make([]byte, Window/2)...), frame(typeData, 0, 1, Window/2+1)),
	} {
		f.Add(in, uint8(0), uint8(0))
		f.Add(in, uint8(1), uint8(3))
		f.Add(in, uint8(5), uint8(7))
	}
	f.Fuzz(func(t *testing.T, in []byte, chunk, opts uint8) {
		conn := &memConn{in: in, chunk: int(chunk)}
		if chunk == 0 {
			conn.chunk = len(in) + 1
		}
		var ctrl int
		ctrlCalls := 0
		s := Server(conn, Config{WriteTimeout: time.Second, Control: func(p []byte) error {
			if len(p) == 0 || len(p) > readChunk {
				t.Fatalf("Control given %d bytes", len(p))
			}
			ctrl += len(p)
			// With opts&4, the reader refuses the third piece (a bad line).
			if ctrlCalls++; opts&4 != 0 && ctrlCalls == 3 {
				return errStop
			}
			return nil
		}})
		var streams []*Stream
		for range opts & 3 {
			st, err := s.OpenStream()
			if err != nil {
				t.Fatalf("OpenStream: %v", err)
			}
			streams = append(streams, st)
		}

		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		before := ms.TotalAlloc
		err := serveAll(t, s)
		runtime.ReadMemStats(&ms)
		// Stream buffers double up to the window (at most 4 times what
		// came); the written answers are smaller than what they answer.
		if alloc, limit := ms.TotalAlloc-before, uint64(64<<10+16*len(in)); alloc > limit {
			t.Fatalf("%d bytes from the peer made Serve allocate %d bytes", len(in), alloc)
		}

		if err == nil {
			t.Fatal("Serve returned no error")
		}
		switch {
		case errors.Is(err, ErrProtocol), errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF),
			errors.Is(err, ErrGoAway), errors.Is(err, ErrStreamReset), errors.Is(err, errStop):
		default:
			t.Fatalf("Serve: %v", err)
		}
		if !s.IsClosed() {
			t.Fatal("the session is open after Serve")
		}
		if ctrl > len(in) {
			t.Fatalf("Control got %d bytes of %d", ctrl, len(in))
		}

		// The streams: what is buffered fits the window; reads and writes
		// end at once.
		for _, st := range streams {
			n, rerr := drain(st)
			if n > Window || n > len(in) {
				t.Fatalf("stream %d buffered %d bytes", st.id, n)
			}
			if rerr == nil {
				t.Fatalf("stream %d: read without end", st.id)
			}
			if _, err := st.Write([]byte("x")); err == nil {
				t.Fatalf("stream %d: write on a closed session", st.id)
			}
		}
		if err := s.WriteControl([]byte("x")); !errors.Is(err, ErrSessionClosed) {
			t.Fatalf("WriteControl after Serve: %v", err)
		}

		// What the session wrote.
		frames := len(in) / headerSize
		hs := headers(t, conn.written())
		if len(hs) > 2*frames+len(streams) {
			t.Fatalf("%d frames written for %d read", len(hs), frames)
		}
		for i, h := range hs {
			if h.version != 0 {
				t.Fatalf("frame %d: version %d", i, h.version)
			}
			switch {
			case i < len(streams):
				if h != (hdr{0, typeWindowUpdate, flagSYN, uint32(2 + 2*i), 0}) {
					t.Fatalf("frame %d: %+v, want the SYN of stream %d", i, h, 2+2*i)
				}
			case h.typ == typePing:
				if h.flags != flagACK || h.id != 0 || !bytes.Contains(in, binary.BigEndian.AppendUint32(nil, h.length)) {
					t.Fatalf("frame %d: ping %+v", i, h)
				}
			case h.typ == typeWindowUpdate && h.flags == flagACK:
				if h.id != 1 || h.length != 0 {
					t.Fatalf("frame %d: ACK %+v", i, h)
				}
			case h.typ == typeWindowUpdate && h.flags == flagRST:
				if h.id == 0 || h.id == 1 || h.length != 0 {
					t.Fatalf("frame %d: RST %+v", i, h)
				}
			case h.typ == typeWindowUpdate && h.flags == 0:
				if h.id != 1 || h.length < Window/2 || h.length > Window {
					t.Fatalf("frame %d: window update %+v", i, h)
				}
			default:
				t.Fatalf("frame %d: %+v", i, h)
			}
		}
	})
}

// drain reads a stream to its end; what it read, and how it ended.
func drain(st *Stream) (int, error) {
	st.SetReadDeadline(time.Now().Add(time.Second))
	buf := make([]byte, 4096)
	n := 0
	for {
		k, err := st.Read(buf)
		n += k
		if err != nil {
			return n, err
		}
		if n > 2*Window {
			return n, nil
		}
	}
}

// FuzzFrame: one frame of any header (and up to its payload) after the
// device opened stream 1, against the spec, frame by frame: the answer the
// session writes carries the peer's own id or opaque value, re-encoded
// bit for bit; lengths beyond the window are refused before any byte of
// the payload is read; Serve's reason is the one the frame calls for.
func FuzzFrame(f *testing.F) {
	for _, h := range []hdr{
		{0, typePing, flagSYN, 0, 0xdeadbeef}, {0, typePing, flagACK, 0, 1}, {0, typeGoAway, 0, 0, 2},
		{0, typeData, 0, 1, 5}, {0, typeData, flagFIN, 1, 0}, {0, typeData, 0, 1, Window}, {0, typeData, 0, 1, Window + 1},
		{0, typeData, 0, 1, 1 << 31}, {0, typeData, 0, 3, 1 << 31}, {0, typeData, 0, 2, 1<<32 - 1},
		{0, typeWindowUpdate, flagSYN, 1, 0}, {0, typeWindowUpdate, flagRST, 1, 0}, {0, typeWindowUpdate, 0, 1, 1<<32 - 1},
		{0, typeWindowUpdate, flagSYN, 3, 0}, {0, typeData, flagSYN, 0xfffffffe, 3}, {0, typeData, 0, 0, 0},
		{1, typeData, 0, 1, 0}, {0, 4, 0, 1, 0}, {0, 0xff, 0xffff, 0xffffffff, 0xffffffff},
	} {
		f.Add(h.version, h.typ, h.flags, h.id, h.length, []byte("hello\n"))
	}
	f.Fuzz(func(t *testing.T, version, typ uint8, flags uint16, id, length uint32, payload []byte) {
		h := hdr{version, typ, flags, id, length}
		if typ != typeData {
			payload = nil // a payload only a data frame has
		}
		if uint64(len(payload)) > uint64(length) {
			payload = payload[:length]
		}
		syn := hdr{0, typeWindowUpdate, flagSYN, controlID, 0}.encode()
		in := append(append(syn, h.encode()...), payload...)
		conn := &memConn{in: in, chunk: len(in)}
		var ctrl []byte
		s := Server(conn, Config{WriteTimeout: time.Second, Control: func(p []byte) error {
			ctrl = append(ctrl, p...)
			return nil
		}})
		err := serveAll(t, s)
		out := headers(t, conn.written())
		ack := hdr{0, typeWindowUpdate, flagACK, controlID, 0}
		if len(out) == 0 || out[0] != ack {
			t.Fatalf("stream 1 not acknowledged: %+v", out)
		}
		out = out[1:]
		short := uint64(len(payload)) < uint64(length) // the peer is gone in the middle of the payload

		want := func(target error, answers ...hdr) {
			t.Helper()
			if !errors.Is(err, target) {
				t.Fatalf("%+v: Serve %v, want %v", h, err, target)
			}
			if len(out) != len(answers) {
				t.Fatalf("%+v: answered %+v, want %+v", h, out, answers)
			}
			for i := range answers {
				if out[i] != answers[i] {
					t.Fatalf("%+v: answered %+v, want %+v", h, out, answers)
				}
			}
		}
		eofOr := func() error {
			if short {
				return io.ErrUnexpectedEOF
			}
			return io.EOF
		}
		rst := hdr{0, typeWindowUpdate, flagRST, id, 0}
		switch {
		case version != 0:
			want(ErrProtocol)
		case typ == typePing:
			if flags&flagSYN != 0 {
				want(io.EOF, hdr{0, typePing, flagACK, 0, length}) // its opaque value, echoed
			} else {
				want(io.EOF)
			}
		case typ == typeGoAway:
			want(ErrGoAway)
		case typ > typeGoAway:
			want(ErrProtocol)
		case id == 0:
			want(ErrProtocol)
		case id == controlID:
			switch {
			case flags&flagSYN != 0:
				want(ErrProtocol) // opened twice
			case flags&flagRST != 0:
				want(ErrStreamReset)
			case typ == typeWindowUpdate:
				want(io.EOF)
			case length > Window:
				want(ErrProtocol) // before any of it was read
				if len(ctrl) != 0 {
					t.Fatalf("%d bytes over the window taken", len(ctrl))
				}
			default:
				// Half the window used: it opens again.
				var answers []hdr
				if !short && length >= Window/2 {
					answers = append(answers, hdr{0, typeWindowUpdate, 0, controlID, length})
				}
				want(eofOr(), answers...)
				if !bytes.Equal(ctrl, payload) {
					t.Fatalf("stream 1 carried %q, want %q", ctrl, payload)
				}
			}
		default: // a stream that is not open
			var answers []hdr
			if flags&flagSYN != 0 {
				answers = append(answers, rst) // device-opened: refused
			} else if typ == typeData && length > 0 && id%2 == 0 && flags&flagRST == 0 {
				answers = append(answers, rst) // data on a forgotten server stream
			}
			if typ == typeData {
				want(eofOr(), answers...)
			} else {
				want(io.EOF, answers...)
			}
			if len(ctrl) != 0 {
				t.Fatalf("stream %d's data reached stream 1", id)
			}
		}
	})
}

// FuzzFeed: a session fed the peer's bytes (Feed, in pieces of any size,
// as the gateway's event loop does) does what one reading them (Serve)
// does: the same bytes to Control, the same frames written, the same
// reason to end (a connection that merely ends is io.EOF to End).
func FuzzFeed(f *testing.F) {
	frame := func(typ uint8, flags uint16, id, length uint32, payload ...byte) []byte {
		return append(hdr{0, typ, flags, id, length}.encode(), payload...)
	}
	syn := frame(typeWindowUpdate, flagSYN, 1, 0)
	cat := func(frames ...[]byte) []byte { return bytes.Join(frames, nil) }
	for _, in := range [][]byte{
		syn,
		cat(syn, frame(typeData, 0, 1, 5, []byte("hello")...), frame(typePing, flagSYN, 0, 77)),
		cat(frame(typeData, flagSYN, 1, 3, 'a', 'b', 'c'), frame(typeData, flagFIN, 1, 1, '\n')),
		cat(syn, frame(typeData, 0, 2, 3, 'a', 'b', 'c'), frame(typeWindowUpdate, flagACK, 2, 9)),
		cat(syn, frame(typeData, 0, 1, Window/2, make([]byte, Window/2)...), frame(typeData, 0, 1, 3, 'x', 'y', 'z')),
		cat(syn, frame(typeData, 0, 4, 1000, []byte("{\"typ")...)),
		frame(typeWindowUpdate, flagSYN, 3, 0),
	} {
		f.Add(in, uint8(1), uint8(1))
		f.Add(in, uint8(13), uint8(2))
		f.Add(in, uint8(0), uint8(0))
	}
	f.Fuzz(func(t *testing.T, in []byte, cut, opts uint8) {
		run := func(feed bool) (ctrl []byte, written []byte, err error, streams []int) {
			conn := &memConn{chunk: len(in) + 1}
			if !feed {
				conn.in = in
			}
			s := Server(conn, Config{WriteTimeout: time.Second, Control: func(p []byte) error {
				// With opts&4, the reader refuses a '!' (a bad line): what
				// came with it in the same piece depends on the pieces.
				if i := bytes.IndexByte(p, '!'); opts&4 != 0 && i >= 0 {
					ctrl = append(ctrl, p[:i+1]...)
					return errStop
				}
				ctrl = append(ctrl, p...)
				return nil
			}})
			var sts []*Stream
			for range opts & 3 {
				st, err := s.OpenStream()
				if err != nil {
					t.Fatal(err)
				}
				sts = append(sts, st)
			}
			if feed {
				step := int(cut) + 1
				for p := in; len(p) > 0 && err == nil; p = p[min(step, len(p)):] {
					err = s.Feed(p[:min(step, len(p))])
				}
				if err == nil {
					err = io.EOF
				}
				err = s.End(err)
			} else {
				err = s.Serve()
			}
			for _, st := range sts {
				n, _ := drain(st)
				streams = append(streams, n)
			}
			return ctrl, conn.written(), err, streams
		}
		ctrl1, out1, err1, st1 := run(false)
		ctrl2, out2, err2, st2 := run(true)
		if !bytes.Equal(ctrl1, ctrl2) || !bytes.Equal(out1, out2) {
			t.Fatalf("Serve: %d bytes to Control, %d written; Feed: %d, %d", len(ctrl1), len(out1), len(ctrl2), len(out2))
		}
		for i := range st1 {
			if st1[i] != st2[i] {
				t.Fatalf("stream %d: Serve buffered %d bytes, Feed %d", i, st1[i], st2[i])
			}
		}
		// Serve sees a cut frame as io.ErrUnexpectedEOF; a feeder only
		// knows the bytes ended.
		plain := func(err error) bool { return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) }
		if plain(err1) != plain(err2) || (!plain(err1) && err1.Error() != err2.Error()) {
			t.Fatalf("Serve ended with %v, Feed with %v", err1, err2)
		}
	})
}
