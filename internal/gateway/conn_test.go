package gateway_test

import (
	"bufio"
	"context"
	"encoding/base64"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/hashicorp/yamux"

	"github.com/gatehouse-dev/gatehouse/internal/gateway"
)

// dialDevice opens the WebSocket of a device (any key binds on first use).
func dialDevice(t *testing.T, both string) *websocket.Conn {
	t.Helper()
	mac, addr, _ := strings.Cut(both, " ")
	h := http.Header{}
	h.Set("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte(mac+":"+strings.Repeat("k", 40))))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ws, _, err := websocket.Dial(ctx, "ws://"+addr+"/", &websocket.DialOptions{HTTPHeader: h, Subprotocols: []string{gateway.Subprotocol}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ws.CloseNow() })
	return ws
}

// TestPingsAndPartialLinesAreSilence: only complete control lines keep a
// device online. One that answers nothing but yamux keep-alive pings and
// bytes of a line that never ends is closed after 3 heartbeats.
func TestPingsAndPartialLinesAreSilence(t *testing.T) {
	transports(t, func(t *testing.T, opts gateway.Options) {
		opts.Heartbeat = time.Second
		pingsAndPartialLinesAreSilence(t, opts)
	})
}

func pingsAndPartialLinesAreSilence(t *testing.T, opts gateway.Options) {
	_, g, both := gatewayServerOpts(t, opts)
	ws := dialDevice(t, both)
	cfg := yamux.DefaultConfig()
	cfg.LogOutput = io.Discard
	cfg.EnableKeepAlive, cfg.KeepAliveInterval = true, 100*time.Millisecond
	sess, err := yamux.Client(websocket.NetConn(context.Background(), ws, websocket.MessageBinary), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer sess.Close()
	ctrl, err := sess.OpenStream()
	if err != nil {
		t.Fatal(err)
	}
	ctrl.Write([]byte(`{"type":"hello","model":"P1"}` + "\n"))
	ctrl.SetReadDeadline(time.Now().Add(10 * time.Second))
	if line, err := bufio.NewReader(ctrl).ReadString('\n'); !strings.Contains(line, `"welcome"`) {
		t.Fatalf("no welcome: %q %v", line, err)
	}
	go func() {
		for !sess.IsClosed() {
			ctrl.Write([]byte(" ")) // a line that never ends
			time.Sleep(200 * time.Millisecond)
		}
	}()
	select {
	case <-sess.CloseChan():
	case <-time.After(10 * time.Second):
		t.Fatal("a device sending pings and a line without end is still connected after 10 heartbeats")
	}
	for deadline := time.Now().Add(5 * time.Second); g.Connected() != 0; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the gateway still holds the connection")
		}
	}
}

// TestCloseCodes: a device breaking the protocol hears why, in the close
// frame.
func TestCloseCodes(t *testing.T) { transports(t, closeCodes) }

func closeCodes(t *testing.T, opts gateway.Options) {
	const synFlag = 1
	hello := []byte(`{"type":"hello","model":"P1"}` + "\n")
	for _, c := range []struct {
		name   string
		frames [][]byte
		reason string
	}{
		{"first stream not 1", [][]byte{yamuxData(3, synFlag, hello)}, "the control stream must be stream 1"},
		{"first message not hello", [][]byte{yamuxData(1, synFlag, []byte(`{"type":"status"}`+"\n"))}, "the first message must be a hello"},
		{"line not JSON", [][]byte{yamuxData(1, synFlag, hello), yamuxData(1, 0, []byte("not JSON\n"))}, "a control line is not a JSON object"},
		{"line too long", [][]byte{yamuxData(1, synFlag, hello), yamuxData(1, 0, []byte(strings.Repeat("x", gateway.MaxLine)))}, "control line longer than 64 KiB"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, _, both := gatewayServerOpts(t, opts)
			ws := dialDevice(t, both)
			for _, f := range c.frames {
				ws.Write(context.Background(), websocket.MessageBinary, f)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			var err error
			for err == nil { // past the welcome
				_, _, err = ws.Read(ctx)
			}
			var ce websocket.CloseError
			if !errors.As(err, &ce) || ce.Code != websocket.StatusPolicyViolation || ce.Reason != c.reason {
				t.Errorf("closed with %v", err)
			}
		})
	}
}

// TestWebSocketPingAndClose: the server side of WebSocket as devices (and
// the library they may use) know it: a ping is answered with a pong, the
// device's close frame with one of its own, after which the connection
// ends and the device is no longer held.
func TestWebSocketPingAndClose(t *testing.T) { transports(t, webSocketPingAndClose) }

func webSocketPingAndClose(t *testing.T, opts gateway.Options) {
	_, g, both := gatewayServerOpts(t, opts)
	ws := dialDevice(t, both)
	cfg := yamux.DefaultConfig()
	cfg.LogOutput = io.Discard
	sess, err := yamux.Client(websocket.NetConn(context.Background(), ws, websocket.MessageBinary), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer sess.Close()
	ctrl, err := sess.OpenStream()
	if err != nil {
		t.Fatal(err)
	}
	ctrl.Write([]byte(`{"type":"hello","model":"P1"}` + "\n"))
	ctrl.SetReadDeadline(time.Now().Add(10 * time.Second))
	if line, err := bufio.NewReader(ctrl).ReadString('\n'); !strings.Contains(line, `"welcome"`) {
		t.Fatalf("no welcome: %q %v", line, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for range 3 {
		if err := ws.Ping(ctx); err != nil {
			t.Fatalf("ping: %v", err)
		}
	}
	if g.Connected() != 1 {
		t.Fatalf("the gateway holds %d connections", g.Connected())
	}
	// Close waits for the server's close frame: an error means none came.
	if err := ws.Close(websocket.StatusNormalClosure, "bye"); err != nil {
		t.Fatalf("close handshake: %v", err)
	}
	for deadline := time.Now().Add(5 * time.Second); g.Connected() != 0; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the gateway still holds the connection")
		}
	}
}
