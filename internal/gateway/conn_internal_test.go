package gateway

import (
	"context"
	"encoding/binary"
	"errors"
	"io"
	"log/slog"
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
	for _, in := range []string{"", "c", "1042", "c-1", "c12a", "c99999999999999999999", "c0", "c007", "c+7", "c 7"} {
		if _, ok := parseCommandID(in); ok {
			t.Errorf("parseCommandID(%q) accepted", in)
		}
	}
	for _, in := range []string{"u0", "u077", "u", "c77"} {
		if _, ok := parseUpgradeID(in); ok {
			t.Errorf("parseUpgradeID(%q) accepted", in)
		}
	}
	if id, ok := parseUpgradeID("u77"); !ok || id != 77 {
		t.Errorf("parseUpgradeID(u77) = %d %v", id, ok)
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

// TestWriterOnEndedSessionKeepsCloseCode: when the session ends for a
// reason the device should hear (here a line that is not JSON), a writer
// on the session (the pong writer) returns ErrSessionClosed and leaves the
// connection to close with the code: the writer does not close it first,
// without one.
func TestWriterOnEndedSessionKeepsCloseCode(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	g := &Gateway{log: slog.New(slog.NewTextHandler(io.Discard, nil)), live: map[*conn]struct{}{}, conns: map[string]*conn{},
		opts: Options{WriteTimeout: time.Second, Heartbeat: time.Second, HelloTimeout: 10 * time.Second}}
	policy := &closeError{closePolicy, "a control line is not a JSON object"}
	accepted := make(chan *conn, 1)
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c := acceptTestConn(t, g, w, r, func([]byte) error { return policy })
		accepted <- c
	}))
	defer hs.Close()
	dev, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(hs.URL, "http"), &websocket.DialOptions{Subprotocols: []string{Subprotocol}})
	if err != nil {
		t.Fatal(err)
	}
	defer dev.CloseNow()
	c := <-accepted
	// Stream 1 opened, with a line.
	frame := make([]byte, 12, 12+9)
	binary.BigEndian.PutUint16(frame[2:], 1) // SYN
	binary.BigEndian.PutUint32(frame[4:], 1)
	binary.BigEndian.PutUint32(frame[8:], 9)
	if err := dev.Write(ctx, websocket.MessageBinary, append(frame, "not JSON\n"...)); err != nil {
		t.Fatal(err)
	}
	for !c.closing.Load() {
		time.Sleep(time.Millisecond)
	}
	if err := c.writeLine(pongLine); !errors.Is(err, ymux.ErrSessionClosed) {
		t.Errorf("write after the session ended: %v", err)
	}
	for err == nil { // past the ACK of stream 1
		_, _, err = dev.Read(ctx)
	}
	var wce websocket.CloseError
	if !errors.As(err, &wce) || wce.Code != websocket.StatusPolicyViolation || wce.Reason != policy.reason {
		t.Errorf("the device's connection ended with %v, want 1008 %q", err, policy.reason)
	}
}

// acceptTestConn upgrades r into a connection of g (not registered, no
// hello needed) whose control stream goes to control.
func acceptTestConn(t *testing.T, g *Gateway, w http.ResponseWriter, r *http.Request, control func([]byte) error) *conn {
	if !wsUpgrade(w, r) {
		t.Error("not a WebSocket request")
		return nil
	}
	w.WriteHeader(http.StatusSwitchingProtocols)
	raw, brw, err := http.NewResponseController(w).Hijack()
	if err != nil {
		t.Error(err)
		return nil
	}
	brw.Writer.Flush()
	c := &conn{g: g}
	c.sess = ymux.Server(&wire{c: c}, ymux.Config{Control: control, WriteTimeout: time.Second})
	c.setDeadline(time.Minute)
	g.mu.Lock()
	g.live[c] = struct{}{}
	g.wg.Add(1)
	g.mu.Unlock()
	if p := pollConn(raw); p != nil {
		c.t = p
		go p.start(c, nil)
	} else {
		s := &streamed{raw: raw}
		c.t = s
		go s.run(c, nil)
	}
	return c
}
