package devicesim

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"strings"
	"testing"
	"time"
)

// A close handshake is bounded even when a message write is stuck on a
// socket the server no longer reads: it used to wait for the write lock
// forever, and with it a reboot and the fleet's Close.
func TestCloseHandshakeBoundedWhenAWriteIsStuck(t *testing.T) {
	ws, _ := pipeWS(t) // the server end never reads
	go ws.WriteMessage([]byte("stuck"), nil)
	time.Sleep(50 * time.Millisecond)
	done := make(chan struct{})
	go func() { ws.CloseHandshake(closeNormal, "reboot"); close(done) }()
	select {
	case <-done:
	case <-time.After(closeWait + 5*time.Second):
		t.Fatal("CloseHandshake still blocked well after its bound")
	}
}

// After the device's close frame a server ping goes unanswered and the
// device keeps reading until the server's close (RFC 6455 §5.5.1): the
// handshake used to end at the ping, resetting the socket.
func TestPingDuringTheCloseHandshake(t *testing.T) {
	ws, server := pipeWS(t)
	readErr := make(chan error, 1)
	go func() { _, err := io.Copy(io.Discard, ws); readErr <- err }()
	done := make(chan struct{})
	go func() { ws.CloseHandshake(closeNormal, "reboot"); close(done) }()
	if op, _ := readClientFrame(t, server); op != 8 {
		t.Fatalf("opcode %x, want close", op)
	}
	server.Write(frame(true, 9, []byte("p")))
	time.Sleep(100 * time.Millisecond)
	select {
	case <-done:
		t.Fatalf("CloseHandshake returned before the server's close frame (reader: %v)", <-readErr)
	default:
	}
	server.Write(frame(true, 8, binary.BigEndian.AppendUint16(nil, 1000)))
	<-done
	if err := <-readErr; err != nil {
		t.Errorf("reader after a clean close: %v", err)
	}
}

// A close frame must carry a code an endpoint may send (RFC 6455 §7.4) and
// a UTF-8 reason; anything else is the server's protocol error, answered
// 1002 / 1007 — never echoed (1005, 1006 and 1015 must not be sent).
func TestServerCloseFramesAreChecked(t *testing.T) {
	for _, tc := range []struct {
		name    string
		payload []byte
		answer  uint16
	}{
		{"1005 on the wire", binary.BigEndian.AppendUint16(nil, 1005), closeProtocolError},
		{"1006 on the wire", binary.BigEndian.AppendUint16(nil, 1006), closeProtocolError},
		{"1015 on the wire", binary.BigEndian.AppendUint16(nil, 1015), closeProtocolError},
		{"999", binary.BigEndian.AppendUint16(nil, 999), closeProtocolError},
		{"2000", binary.BigEndian.AppendUint16(nil, 2000), closeProtocolError},
		{"reason not UTF-8", append(binary.BigEndian.AppendUint16(nil, 1000), 0xff, 0xfe), closeInvalidPayload},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ws, server := pipeWS(t)
			go server.Write(frame(true, 8, tc.payload))
			readErr := make(chan error, 1)
			go func() { _, err := ws.Read(make([]byte, 1)); readErr <- err }()
			op, p := readClientFrame(t, server)
			if op != 8 || len(p) < 2 || binary.BigEndian.Uint16(p) != tc.answer {
				t.Fatalf("device answered opcode %x % x, want close %d", op, p, tc.answer)
			}
			if err := <-readErr; err == nil || errors.Is(err, io.EOF) {
				t.Errorf("read after a bad close: %v, want a protocol error", err)
			}
		})
	}
	// A private code (4000) is a close like any other: echoed.
	ws, server := pipeWS(t)
	go server.Write(frame(true, 8, append(binary.BigEndian.AppendUint16(nil, 4000), "bye"...)))
	go ws.Read(make([]byte, 1))
	if op, p := readClientFrame(t, server); op != 8 || binary.BigEndian.Uint16(p) != 4000 {
		t.Errorf("private close 4000 answered %x % x, want its echo", op, p)
	}
}

// A control frame in the 64-bit length form is a protocol error (1002),
// not a message too big.
func TestLongControlFrameIsAProtocolError(t *testing.T) {
	ws, server := pipeWS(t)
	go server.Write([]byte{0x89, 127, 0, 0, 0, 0, 0x10, 0, 0, 0})
	go ws.Read(make([]byte, 1))
	if op, p := readClientFrame(t, server); op != 8 || binary.BigEndian.Uint16(p) != closeProtocolError {
		t.Errorf("answered %x % x, want close 1002", op, p)
	}
}

// yamux may send a whole stream window (256 KiB) in one data frame: with
// its 12-byte header that is one message over §3's 256 KiB, which the
// gateway closes with 1009. The header goes in a message of its own then.
func TestFullWindowDataFrameStaysWithinTheMessageLimit(t *testing.T) {
	ws, server := pipeWS(t)
	wc := &wireConn{ws: ws, l: &link{}}
	hdr := []byte{0, 0, 0, 0, 0, 0, 0, 3, 0, 4, 0, 0} // data, stream 3, 256 KiB
	body := bytes.Repeat([]byte{'x'}, maxMessage)
	go func() {
		wc.Write(hdr)
		wc.Write(body)
	}()
	var got []byte
	for len(got) < len(hdr)+len(body) {
		op, p := readClientFrame(t, server)
		if op != 2 {
			t.Fatalf("opcode %x, want binary", op)
		}
		if len(p) > maxMessage {
			t.Fatalf("a message of %d bytes, over the %d limit", len(p), maxMessage)
		}
		got = append(got, p...)
	}
	if !bytes.Equal(got, append(hdr, body...)) {
		t.Error("the stream's bytes changed")
	}
	// A small frame still goes as one message with its header.
	go func() {
		wc.Write([]byte{0, 0, 0, 0, 0, 0, 0, 3, 0, 0, 0, 2})
		wc.Write([]byte("hi"))
	}()
	if _, p := readClientFrame(t, server); len(p) != 14 {
		t.Errorf("small frame sent as %d bytes, want header and body in one message", len(p))
	}
}

// The connect answer's head is bounded: a server that streams headers
// forever is cut at 16 KiB, not buffered.
func TestConnectAnswerHeadIsBounded(t *testing.T) {
	l := &headLimit{r: io.MultiReader(strings.NewReader("HTTP/1.1 101 Switching Protocols\r\nX: "), endless{}), n: maxResponseHead}
	n, err := io.Copy(io.Discard, l)
	if !errors.Is(err, errHeadTooLong) || n != maxResponseHead {
		t.Errorf("read %d bytes, %v; want %d then errHeadTooLong", n, err, maxResponseHead)
	}
	l.n = -1
	if k, _ := l.Read(make([]byte, 10)); k != 10 {
		t.Error("the bound lifted still limits the frames")
	}
}

type endless struct{}

func (endless) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = 'a'
	}
	return len(p), nil
}

// Going away opens the restart window; a connection that came back and
// was then lost otherwise closes it: refusals count again.
func TestRestartWindowEndsWhenBackOnline(t *testing.T) {
	cfg := Config{}
	cfg.defaults()
	now := time.Now()
	var rs retryState
	rs.next(&cfg, outcome{goingAway: true, lasted: time.Hour}, now, 0)
	if w := rs.next(&cfg, outcome{connRefused: true}, now.Add(3*time.Second), 0); w != cfg.Backoff {
		t.Fatalf("refusal while restarting waits %s, want %s", w, cfg.Backoff)
	}
	// Back online for 10 s, then lost without a close.
	rs.next(&cfg, outcome{err: net.ErrClosed, lasted: 10 * time.Second}, now.Add(15*time.Second), 0)
	for n, window := range []time.Duration{2, 4} {
		if w := rs.next(&cfg, outcome{connRefused: true}, now.Add(16*time.Second), 0.999); w < window*time.Second*99/100 || w >= window*time.Second {
			t.Errorf("refusal %d after the node died: wait %s, want just under %s (back-off growing)", n, w, window*time.Second)
		}
	}
}

func TestTriesSummaryWithoutConnections(t *testing.T) {
	if s := (Tries{0, 0, 0}).String(); s != "no connections" {
		t.Errorf("empty summary %q", s)
	}
}
