package gateway_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/binary"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/bus"
	"github.com/gatehouse-dev/gatehouse/internal/demo"
	"github.com/gatehouse-dev/gatehouse/internal/gateway"
	"github.com/gatehouse-dev/gatehouse/internal/model"
	"github.com/gatehouse-dev/gatehouse/internal/store"
	"github.com/gatehouse-dev/gatehouse/internal/testutil"
)

func gatewayServer(t *testing.T) (*store.Store, *gateway.Gateway, string) {
	t.Helper()
	return gatewayServerOpts(t, gateway.Options{Node: "test"})
}

func gatewayServerOpts(t *testing.T, opts gateway.Options) (*store.Store, *gateway.Gateway, string) {
	t.Helper()
	st := testutil.NewStore(t, "sqlite")
	if _, err := demo.Load(context.Background(), st, demo.Options{Password: "x-password", Users: 50, Devices: 20, Seed: 5}, io.Discard); err != nil {
		t.Fatal(err)
	}
	g := gateway.New(st, bus.NewLocal(), slog.New(slog.NewTextHandler(io.Discard, nil)), opts)
	ts := httptest.NewServer(g)
	t.Cleanup(ts.Close)
	t.Cleanup(func() { g.Close() })
	var mac string
	if err := st.DB().QueryRow(`SELECT mac FROM devices ORDER BY id LIMIT 1`).Scan(&mac); err != nil {
		t.Fatal(err)
	}
	// The tests' device key, accepted in advance.
	if _, err := st.EnrollDeviceKeys(model.WithActor(context.Background(), model.System), map[string]string{mac: strings.Repeat("k", 40)}); err != nil {
		t.Fatal(err)
	}
	return st, g, mac + " " + strings.TrimPrefix(ts.URL, "http://")
}

// wsFrame is a masked binary WebSocket frame, as a client sends it.
func wsFrame(payload []byte) []byte {
	var b bytes.Buffer
	b.WriteByte(0x82)
	switch n := len(payload); {
	case n < 126:
		b.WriteByte(0x80 | byte(n))
	default:
		b.WriteByte(0x80 | 126)
		binary.Write(&b, binary.BigEndian, uint16(n))
	}
	key := [4]byte{1, 2, 3, 4}
	b.Write(key[:])
	for i, c := range payload {
		b.WriteByte(c ^ key[i%4])
	}
	return b.Bytes()
}

// yamuxData is a yamux data frame (protocol version 0).
func yamuxData(stream uint32, flags uint16, data []byte) []byte {
	h := make([]byte, 12)
	h[0], h[1] = 0, 0 // version, type data
	binary.BigEndian.PutUint16(h[2:], flags)
	binary.BigEndian.PutUint32(h[4:], stream)
	binary.BigEndian.PutUint32(h[8:], uint32(len(data)))
	return append(h, data...)
}

// TestFramesRightAfterTheRequest: a device that sends its first frames in
// the same packet as its upgrade request (they are read with the request)
// is understood: it gets its welcome.
func TestFramesRightAfterTheRequest(t *testing.T) { transports(t, framesRightAfterTheRequest) }

// transports runs a test with the event loop's connections and with
// those of a reader goroutine each (as TLS connections are served).
func transports(t *testing.T, test func(t *testing.T, opts gateway.Options)) {
	for _, streamed := range []bool{false, true} {
		name := "event loop"
		if streamed {
			name = "reader goroutine"
		}
		t.Run(name, func(t *testing.T) { test(t, gateway.Options{Node: "test", Streamed: streamed}) })
	}
}

func framesRightAfterTheRequest(t *testing.T, opts gateway.Options) {
	st, _, both := gatewayServerOpts(t, opts)
	mac, addr, _ := strings.Cut(both, " ")
	key := strings.Repeat("k", 40)
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	req := "GET /device/v1/connect HTTP/1.1\r\nHost: " + addr + "\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n" +
		"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Protocol: " + gateway.Subprotocol + "\r\n" +
		"Authorization: Basic " + base64.StdEncoding.EncodeToString([]byte(mac+":"+key)) + "\r\n\r\n"
	hello := []byte(`{"type":"hello","model":"P1","firmware":"1","ip":"10.0.0.9","uptime":1,"config_version":""}` + "\n")
	const synFlag = 1
	packet := append([]byte(req), wsFrame(yamuxData(1, synFlag, hello))...)
	if _, err := conn.Write(packet); err != nil {
		t.Fatal(err)
	}
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	br := bufio.NewReader(conn)
	res, err := http.ReadResponse(br, nil)
	if err != nil || res.StatusCode != http.StatusSwitchingProtocols || res.Header.Get("Sec-WebSocket-Protocol") != gateway.Subprotocol {
		t.Fatalf("upgrade: %v %v", res, err)
	}
	// Read server frames (unmasked) until the welcome shows up.
	var got bytes.Buffer
	for !bytes.Contains(got.Bytes(), []byte(`"type":"welcome"`)) {
		var h [2]byte
		if _, err := io.ReadFull(br, h[:]); err != nil {
			t.Fatalf("no welcome (got %q): %v", got.Bytes(), err)
		}
		if h[0]&0x0f == 0x8 {
			t.Fatalf("the server closed the connection: %q", got.Bytes())
		}
		n := int(h[1] & 0x7f)
		switch n {
		case 126:
			var l uint16
			binary.Read(br, binary.BigEndian, &l)
			n = int(l)
		case 127:
			var l uint64
			binary.Read(br, binary.BigEndian, &l)
			n = int(l)
		}
		p := make([]byte, n)
		if _, err := io.ReadFull(br, p); err != nil {
			t.Fatal(err)
		}
		got.Write(p)
	}
	var ip string
	st.DB().QueryRow(`SELECT ip FROM devices WHERE mac = '` + mac + `'`).Scan(&ip)
	if ip != "10.0.0.9" {
		t.Errorf("hello not recorded: ip %q", ip)
	}
}

func TestCommandID(t *testing.T) {
	if got := gateway.CommandID(1042); got != "c1042" {
		t.Errorf("CommandID: %q", got)
	}
}
