package gateway

import (
	"context"
	"encoding/binary"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/gatehouse-dev/gatehouse/internal/gateway/ymux"
)

func TestParse(t *testing.T) {
	for _, bad := range []string{"", "not json", "[1,2]", "null", `"hello"`, `{"type":"status"`, "{} {}"} {
		if _, ok := parse([]byte(bad)); ok {
			t.Errorf("%q parsed as a control message", bad)
		}
	}
	m, ok := parse([]byte(`{"type":"hello","model":"R29C","uptime":12,"config_version":"v1","extra":{"a":1}}`))
	if !ok || m.Type != "hello" || *m.Model != "R29C" || *m.Uptime != 12 || *m.ConfigVersion != "v1" || m.IP != nil {
		t.Errorf("hello: %+v", m)
	}
	// Fields of an unexpected type are ignored, not fatal.
	m, ok = parse([]byte(`{"type":"ack","id":7,"ok":true,"uptime":"long"}`))
	if !ok || m.Type != "ack" || m.ID != "7" || !m.OK || m.Uptime != nil {
		t.Errorf("odd types: %+v %v", m, ok)
	}
	if _, ok := parseCommandID(m.ID); ok {
		t.Errorf("a numeric id taken for one of ours")
	}
	for in, want := range map[string]int64{"c1": 1, "c1042": 1042} {
		if id, ok := parseCommandID(in); !ok || id != want {
			t.Errorf("parseCommandID(%q) = %d %v", in, id, ok)
		}
	}
	for _, in := range []string{"", "c", "1042", "c-1", "c12a", "c99999999999999999999"} {
		if _, ok := parseCommandID(in); ok {
			t.Errorf("parseCommandID(%q) accepted", in)
		}
	}
}

// TestLines: the control stream's lines come out whole however the
// stream is cut, and one longer than MaxLine with its newline is refused.
func TestLines(t *testing.T) {
	long := strings.Repeat("x", 5000)
	exact := strings.Repeat("z", MaxLine-1) // with its newline: MaxLine, the most
	stream := "short\n" + long + "\n" + exact + "\n\nlast\n"
	want := []string{"short", long, exact, "", "last"}
	for _, cut := range []int{1, 7, 256, 4096, len(stream)} {
		var l lines
		var got []string
		for p := []byte(stream); len(p) > 0; {
			n := min(cut, len(p))
			if err := l.feed(p[:n], func(line []byte) error { got = append(got, string(line)); return nil }); err != nil {
				t.Fatalf("pieces of %d: %v", cut, err)
			}
			p = p[n:]
		}
		if len(got) != len(want) {
			t.Fatalf("pieces of %d: %d lines, want %d", cut, len(got), len(want))
		}
		for i := range want {
			if got[i] != want[i] {
				t.Errorf("pieces of %d: line %d is %d bytes, want %d", cut, i, len(got[i]), len(want[i]))
			}
		}
	}
	// MaxLine bytes and the newline: one too many, whether the newline
	// comes with the line's end or it is still missing.
	for _, cut := range []int{1, 1000, MaxLine + 1} {
		var l lines
		calls := 0
		var err error
		for p := []byte("ok\n" + strings.Repeat("y", MaxLine) + "\n"); len(p) > 0 && err == nil; {
			n := min(cut, len(p))
			err = l.feed(p[:n], func([]byte) error { calls++; return nil })
			p = p[n:]
		}
		if !errors.Is(err, errLineTooLong) || calls != 1 {
			t.Errorf("pieces of %d: line over 64 KiB: %v after %d lines", cut, err, calls)
		}
	}
	// A handler's error stops the feed.
	var l lines
	stop := errors.New("stop")
	calls := 0
	if err := l.feed([]byte("a\nb\n"), func([]byte) error { calls++; return stop }); err != stop || calls != 1 {
		t.Errorf("handler error: %v after %d lines", err, calls)
	}
}

// TestWriterOnEndedSessionKeepsCloseCode: when Serve ends for a reason the
// device should hear (here a line that is not JSON), a writer waiting on
// the session (the pong writer, for window) returns ErrSessionClosed and
// leaves the connection to run, which closes it with the code: the writer
// does not close it first, without one. (The order here is the one that
// lost the code, which a real connection shows only now and then.)
func TestWriterOnEndedSessionKeepsCloseCode(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	accepted := make(chan *websocket.Conn, 1)
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if ws, err := websocket.Accept(w, r, nil); err == nil {
			accepted <- ws
		}
	}))
	defer hs.Close()
	dev, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(hs.URL, "http"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer dev.CloseNow()
	ws := <-accepted
	c := &conn{g: &Gateway{}, ws: ws, nc: websocket.NetConn(context.Background(), ws, websocket.MessageBinary)}
	c.sess = ymux.Server(c.nc, ymux.Config{Control: func([]byte) error {
		return &closeError{websocket.StatusPolicyViolation, "a control line is not a JSON object"}
	}})
	served := make(chan error, 1)
	go func() { served <- c.sess.Serve() }()
	// Stream 1 opened, with a line.
	frame := make([]byte, 12, 12+9)
	binary.BigEndian.PutUint16(frame[2:], 1) // SYN
	binary.BigEndian.PutUint32(frame[4:], 1)
	binary.BigEndian.PutUint32(frame[8:], 9)
	if err := dev.Write(ctx, websocket.MessageBinary, append(frame, "not JSON\n"...)); err != nil {
		t.Fatal(err)
	}
	var ce *closeError
	if err := <-served; !errors.As(err, &ce) {
		t.Fatalf("Serve: %v", err)
	}
	// The waiting writer wakes first, then run closes the connection.
	if err := c.writeLine(pongLine); !errors.Is(err, ymux.ErrSessionClosed) {
		t.Errorf("write after Serve ended: %v", err)
	}
	c.close(ce.code, ce.reason)
	for err == nil { // past the ACK of stream 1
		_, _, err = dev.Read(ctx)
	}
	var wce websocket.CloseError
	if !errors.As(err, &wce) || wce.Code != websocket.StatusPolicyViolation || wce.Reason != ce.reason {
		t.Errorf("the device's connection ended with %v, want 1008 %q", err, ce.reason)
	}
}
