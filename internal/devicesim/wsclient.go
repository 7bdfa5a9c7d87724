package devicesim

import (
	"bufio"
	"context"
	"crypto/sha1"
	"crypto/tls"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"
)

// The device's side of the WebSocket (RFC 6455), as protocol §2 and §3 use
// it: the upgrade request written on the dialed connection, binary
// messages, masked frames, pings answered, the close handshake. It is what
// a WebSocket library's client sends, without what a general one keeps per
// connection (an HTTP client and transport per dial with their goroutines,
// a URL parsed per dial, 4 KiB read and write buffers, a context per
// read): a fleet of 100,000 dials it on the same CPUs as the server it
// measures.

// connectTimeout bounds a connect request, from the dial to its answer.
const connectTimeout = 30 * time.Second

// maxResponseHead bounds the connect answer's status line and headers.
const maxResponseHead = 16 << 10

// closeWait bounds a close handshake: writing the close frame (behind a
// message the server is not reading) and waiting for the server's.
const closeWait = 5 * time.Second

// errCloseSent: nothing is written after the device's close frame.
var errCloseSent = fmt.Errorf("websocket: close frame sent: %w", net.ErrClosed)

// Close codes of RFC 6455 the device uses.
const (
	closeNormal          = 1000
	closeGoingAway       = 1001
	closeProtocolError   = 1002
	closeUnsupportedData = 1003
	closeNoStatus        = 1005
	closeInvalidPayload  = 1007
	closeMessageTooBig   = 1009
)

// longAgo is a deadline in the past: pending reads and writes fail at once.
var longAgo = time.Unix(1, 0)

// websocketGUID is RFC 6455's, for Sec-WebSocket-Accept.
const websocketGUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

var upgradeWriters = sync.Pool{New: func() any { return bufio.NewWriterSize(nil, 1024) }}

// refusal is an answer to the connect request other than 101.
type refusal struct {
	status     int
	retryAfter string
}

func (r *refusal) Error() string { return fmt.Sprintf("connect: HTTP %d", r.status) }

// upgrade dials the server and makes the connect request with hdr (the
// device's own headers); ctx carries the *rawConnHolder. A refusal is a
// *refusal error.
func (f *Fleet) upgrade(ctx context.Context, hdr http.Header) (*wsConn, error) {
	conn, err := f.dialContext(ctx, "tcp", f.connectAddr)
	if err != nil {
		return nil, err
	}
	conn.SetDeadline(time.Now().Add(connectTimeout))
	// The fleet closing (ctx) ends a request under way.
	stop := context.AfterFunc(ctx, func() { conn.SetDeadline(longAgo) })
	fail := func(err error) (*wsConn, error) {
		stop()
		conn.Close()
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, err
	}
	if f.connectURL.Scheme == "https" {
		cfg := f.cfg.TLS.Clone()
		if cfg == nil {
			cfg = &tls.Config{}
		}
		if cfg.ServerName == "" {
			cfg.ServerName = f.connectURL.Hostname()
		}
		tc := tls.Client(conn, cfg)
		if err := tc.HandshakeContext(ctx); err != nil {
			return fail(err)
		}
		conn = tc
	}
	var nonce [16]byte
	binary.LittleEndian.PutUint64(nonce[:8], rand.Uint64())
	binary.LittleEndian.PutUint64(nonce[8:], rand.Uint64())
	key := base64.StdEncoding.EncodeToString(nonce[:])
	hdr.Set("Connection", "Upgrade")
	hdr.Set("Upgrade", "websocket")
	hdr.Set("Sec-WebSocket-Version", "13")
	hdr.Set("Sec-WebSocket-Key", key)
	hdr.Set("Sec-WebSocket-Protocol", subprotocol)
	req := &http.Request{Method: http.MethodGet, URL: f.connectURL, Host: f.connectURL.Host, Proto: "HTTP/1.1",
		ProtoMajor: 1, ProtoMinor: 1, Header: hdr}
	bw := upgradeWriters.Get().(*bufio.Writer)
	bw.Reset(conn)
	err = req.Write(bw) // the bytes net/http's client writes for it
	if err == nil {
		err = bw.Flush()
	}
	bw.Reset(nil)
	upgradeWriters.Put(bw)
	if err != nil {
		return fail(err)
	}
	// The reader stays with the connection for its life: small, as the
	// answer is (and device traffic is: control lines, web pages).
	head := &headLimit{r: conn, n: maxResponseHead}
	br := bufio.NewReaderSize(head, 1024)
	resp, err := http.ReadResponse(br, req)
	if err != nil {
		return fail(err)
	}
	head.n = -1 // the head is read: frames follow, bounded by §3
	if resp.StatusCode != http.StatusSwitchingProtocols {
		io.Copy(io.Discard, io.LimitReader(resp.Body, 1024))
		resp.Body.Close()
		_, _ = fail(nil)
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, &refusal{status: resp.StatusCode, retryAfter: resp.Header.Get("Retry-After")}
	}
	switch {
	case !headerHasToken(resp.Header, "Connection", "upgrade"), !headerHasToken(resp.Header, "Upgrade", "websocket"):
		return fail(errors.New("connect: 101 without Connection: Upgrade and Upgrade: websocket"))
	case resp.Header.Get("Sec-WebSocket-Accept") != acceptKey(key):
		return fail(errors.New("connect: wrong Sec-WebSocket-Accept"))
	case resp.Header.Get("Sec-WebSocket-Protocol") != subprotocol:
		return fail(fmt.Errorf("connect: server chose subprotocol %q", resp.Header.Get("Sec-WebSocket-Protocol")))
	case resp.Header.Get("Sec-WebSocket-Extensions") != "":
		return fail(fmt.Errorf("connect: server chose extensions %q", resp.Header.Get("Sec-WebSocket-Extensions")))
	}
	if !stop() {
		return fail(ctx.Err())
	}
	conn.SetDeadline(time.Time{})
	return &wsConn{conn: conn, br: br, peerClosed: make(chan struct{})}, nil
}

// headLimit reads at most n bytes from r while n >= 0, then fails; n < 0
// lifts the bound.
type headLimit struct {
	r io.Reader
	n int64
}

var errHeadTooLong = errors.New("connect: answer's head over 16 KiB")

func (l *headLimit) Read(p []byte) (int, error) {
	if l.n < 0 {
		return l.r.Read(p)
	}
	if l.n == 0 {
		return 0, errHeadTooLong
	}
	if int64(len(p)) > l.n {
		p = p[:l.n]
	}
	n, err := l.r.Read(p)
	l.n -= int64(n)
	return n, err
}

func acceptKey(key string) string {
	h := sha1.Sum([]byte(key + websocketGUID))
	return base64.StdEncoding.EncodeToString(h[:])
}

// headerHasToken reports a comma-separated header listing token (case
// insensitive).
func headerHasToken(h http.Header, name, token string) bool {
	for _, v := range h.Values(name) {
		for t := range strings.SplitSeq(v, ",") {
			if strings.EqualFold(strings.TrimSpace(t), token) {
				return true
			}
		}
	}
	return false
}

// wsConn is the device's WebSocket after the upgrade. One goroutine reads
// (yamux's receive loop); writes are serialized.
type wsConn struct {
	conn net.Conn
	br   *bufio.Reader

	// The reader's state.
	remain int64 // payload bytes left in the current data frame
	msgLen int64 // bytes of the current message so far
	inMsg  bool  // a fragmented message is open
	eof    bool

	wmu       sync.Mutex
	wbuf      []byte
	closeSent bool

	code       atomic.Int32  // the close code the server sent, 0 for none
	peerClosed chan struct{} // closed when the server's close arrived or reading ended
	peerOnce   sync.Once
}

// Read reads the payload of the binary messages, as one byte stream.
func (c *wsConn) Read(p []byte) (int, error) {
	for {
		if c.eof {
			return 0, io.EOF
		}
		if c.remain > 0 {
			if int64(len(p)) > c.remain {
				p = p[:c.remain]
			}
			n, err := c.br.Read(p)
			c.remain -= int64(n)
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			if err != nil {
				c.peerGone()
			}
			return n, err
		}
		if err := c.nextFrame(); err != nil {
			c.peerGone()
			return 0, err
		}
	}
}

// nextFrame reads a frame header, and a control frame whole.
func (c *wsConn) nextFrame() error {
	var h [8]byte
	if _, err := io.ReadFull(c.br, h[:2]); err != nil {
		return err
	}
	fin, op := h[0]&0x80 != 0, h[0]&0x0f
	if h[0]&0x70 != 0 || h[1]&0x80 != 0 {
		return c.fail(closeProtocolError, "RSV bits or a masked frame from the server")
	}
	n := int64(h[1] & 0x7f)
	switch n {
	case 126:
		if _, err := io.ReadFull(c.br, h[:2]); err != nil {
			return err
		}
		n = int64(binary.BigEndian.Uint16(h[:2]))
	case 127:
		if _, err := io.ReadFull(c.br, h[:8]); err != nil {
			return err
		}
		u := binary.BigEndian.Uint64(h[:8])
		if op >= 8 {
			return c.fail(closeProtocolError, "fragmented or long control frame")
		}
		if u > maxMessage {
			return c.fail(closeMessageTooBig, "message too big")
		}
		n = int64(u)
	}
	if op >= 8 { // control frame
		if !fin || n > 125 {
			return c.fail(closeProtocolError, "fragmented or long control frame")
		}
		var buf [125]byte
		payload := buf[:n]
		if _, err := io.ReadFull(c.br, payload); err != nil {
			return err
		}
		switch op {
		case 8: // close
			code := closeNoStatus
			if n == 1 {
				return c.fail(closeProtocolError, "close payload of one byte")
			}
			if n >= 2 {
				code = int(binary.BigEndian.Uint16(payload))
				if !closeCodeOnTheWire(code) {
					return c.fail(closeProtocolError, fmt.Sprintf("close code %d is not sent on the wire", code))
				}
				if !utf8.Valid(payload[2:]) {
					return c.fail(closeInvalidPayload, "close reason not UTF-8")
				}
			}
			c.code.Store(int32(code))
			c.peerGone()
			echo := code
			if code == closeNoStatus {
				echo = closeNormal
			}
			c.writeClose(echo, "")
			c.conn.Close()
			if code == closeNormal || code == closeGoingAway || code == closeNoStatus {
				c.eof = true
				return nil
			}
			return fmt.Errorf("websocket closed by the server: %d %q", code, payload[2:])
		case 9: // ping
			// After the device's close frame a ping goes unanswered, and
			// the device keeps reading for the server's close (§5.5.1).
			if err := c.writeFrame(0xA, payload, nil); err != nil && !errors.Is(err, errCloseSent) {
				return err
			}
			return nil
		case 10: // pong
			return nil
		}
		return c.fail(closeProtocolError, "unknown opcode")
	}
	switch op {
	case 0: // continuation
		if !c.inMsg {
			return c.fail(closeProtocolError, "continuation outside a message")
		}
	case 2: // binary
		if c.inMsg {
			return c.fail(closeProtocolError, "new message inside a fragmented one")
		}
		c.msgLen = 0
	case 1:
		return c.fail(closeUnsupportedData, "text message")
	default:
		return c.fail(closeProtocolError, "unknown opcode")
	}
	c.inMsg = !fin
	c.msgLen += n
	if c.msgLen > maxMessage {
		return c.fail(closeMessageTooBig, "message too big")
	}
	c.remain = n
	return nil
}

// closeCodeOnTheWire reports a close code RFC 6455 §7.4 lets an endpoint
// send: 1000–1003, 1007–1011, and 3000–4999 (registered and private);
// 1004–1006 and 1015 are reserved or only reported locally.
func closeCodeOnTheWire(code int) bool {
	switch {
	case code >= 1000 && code <= 1003, code >= 1007 && code <= 1011:
		return true
	case code >= 3000 && code <= 4999:
		return true
	}
	return false
}

// fail closes the connection for a protocol error of the server.
func (c *wsConn) fail(code int, reason string) error {
	c.writeClose(code, reason)
	c.conn.Close()
	return fmt.Errorf("websocket: %s", reason)
}

func (c *wsConn) peerGone() { c.peerOnce.Do(func() { close(c.peerClosed) }) }

// CloseCode is the close code the server sent, 0 for none.
func (c *wsConn) CloseCode() int { return int(c.code.Load()) }

// writeClose sends a close frame, once.
func (c *wsConn) writeClose(code int, reason string) error {
	var p [125]byte
	binary.BigEndian.PutUint16(p[:2], uint16(code))
	n := 2 + copy(p[2:], reason)
	return c.writeFrame(0x8, p[:n], nil)
}

// writeFrame sends one frame (FIN set) with payload a then b, masked.
// Nothing is sent after a close frame.
func (c *wsConn) writeFrame(op byte, a, b []byte) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if c.closeSent {
		return errCloseSent
	}
	if op == 0x8 {
		c.closeSent = true
	}
	n := len(a) + len(b)
	buf := c.wbuf[:0]
	buf = append(buf, 0x80|op)
	switch {
	case n < 126:
		buf = append(buf, 0x80|byte(n))
	case n <= 0xffff:
		buf = append(buf, 0x80|126, byte(n>>8), byte(n))
	default:
		buf = append(buf, 0x80|127)
		buf = binary.BigEndian.AppendUint64(buf, uint64(n))
	}
	mask := rand.Uint32()
	buf = binary.LittleEndian.AppendUint32(buf, mask)
	start := len(buf)
	buf = append(append(buf, a...), b...)
	maskBytes(buf[start:], mask)
	_, err := c.conn.Write(buf)
	if cap(buf) <= 64<<10 {
		c.wbuf = buf[:0]
	} else {
		c.wbuf = nil
	}
	return err
}

// maskBytes XORs b with the masking key (its bytes in wire order are the
// little-endian bytes of mask).
func maskBytes(b []byte, mask uint32) {
	m64 := uint64(mask) | uint64(mask)<<32
	for len(b) >= 8 {
		binary.LittleEndian.PutUint64(b, binary.LittleEndian.Uint64(b)^m64)
		b = b[8:]
	}
	for i := range b {
		b[i] ^= byte(mask >> (8 * (i % 4)))
	}
}

// WriteMessage sends a and b as one binary message.
func (c *wsConn) WriteMessage(a, b []byte) error { return c.writeFrame(0x2, a, b) }

// CloseHandshake closes with code: a close frame, then the server's close
// frame awaited (read by the reader) for up to 5 s, then the connection.
// Closing the socket with unread data would reset it, and the server could
// lose what was just written.
func (c *wsConn) CloseHandshake(code int, reason string) {
	// A message write stuck on a full socket (the server not reading)
	// holds the write lock: the deadline ends it, and bounds the close
	// frame's own write.
	c.conn.SetWriteDeadline(time.Now().Add(closeWait))
	if c.writeClose(code, reason) == nil {
		t := time.NewTimer(closeWait)
		select {
		case <-c.peerClosed:
		case <-t.C:
		}
		t.Stop()
	}
	c.conn.Close()
}

// CloseNow closes the connection without a close handshake.
func (c *wsConn) CloseNow() error { return c.conn.Close() }
