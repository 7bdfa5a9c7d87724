package devicesim

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// The connect request the device writes is byte for byte what a WebSocket
// library's client sends over net/http (coder/websocket, which the
// simulator used before), but for the random Sec-WebSocket-Key: the server
// cannot tell them apart.
func TestConnectRequestIsWhatAWebSocketLibrarySends(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	got := make(chan string, 2)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			br := bufio.NewReader(c)
			var req []byte
			for {
				line, err := br.ReadString('\n')
				req = append(req, line...)
				if err != nil || line == "\r\n" {
					break
				}
			}
			got <- string(req)
			c.Write([]byte("HTTP/1.1 503 Service Unavailable\r\nRetry-After: 3\r\nContent-Length: 5\r\nConnection: close\r\n\r\nbusy\n"))
			c.Close()
		}
	}()
	header := func() http.Header {
		h := http.Header{}
		h.Set("Authorization", "Basic MEMxMTA1QUFCQkNDOmtleQ==")
		h.Set("X-Gatehouse-Claim", "7KQ2-M9XD-4TPA-R8WC")
		h.Set("X-Gatehouse-Model", "R29C")
		h.Set("X-Gatehouse-Firmware", "29.30.1.12")
		return h
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var d net.Dialer
	u, _ := url.Parse("http://" + ln.Addr().String() + "/device/v1/connect")
	f := &Fleet{connectURL: u, connectAddr: u.Host, dialContext: d.DialContext}
	_, err = f.upgrade(ctx, header())
	var ref *refusal
	if !errors.As(err, &ref) || ref.status != 503 || ref.retryAfter != "3" {
		t.Errorf("upgrade: %v (%+v), want the 503 with Retry-After 3", err, ref)
	}
	ours := <-got
	_, resp, err := websocket.Dial(ctx, "ws://"+ln.Addr().String()+"/device/v1/connect", &websocket.DialOptions{
		HTTPClient:      &http.Client{Transport: &http.Transport{DialContext: d.DialContext, DisableKeepAlives: true, DisableCompression: true}},
		HTTPHeader:      header(),
		Subprotocols:    []string{subprotocol},
		CompressionMode: websocket.CompressionDisabled,
	})
	if err == nil || resp == nil || resp.StatusCode != 503 {
		t.Fatalf("library dial: %v", err)
	}
	theirs := <-got
	key := regexp.MustCompile(`Sec-Websocket-Key: [A-Za-z0-9+/=]{24}\r\n`)
	if len(key.FindAllString(ours, -1)) != 1 {
		t.Fatalf("no Sec-WebSocket-Key of 16 bytes in %q", ours)
	}
	if a, b := key.ReplaceAllString(ours, "KEY"), key.ReplaceAllString(theirs, "KEY"); a != b {
		t.Errorf("the device wrote\n%q\na WebSocket library writes\n%q", a, b)
	}
}

// frame is a server frame (unmasked).
func frame(fin bool, op byte, payload []byte) []byte {
	b := []byte{op, 0}
	if fin {
		b[0] |= 0x80
	}
	switch n := len(payload); {
	case n < 126:
		b[1] = byte(n)
	case n <= 0xffff:
		b[1] = 126
		b = binary.BigEndian.AppendUint16(b, uint16(n))
	default:
		b[1] = 127
		b = binary.BigEndian.AppendUint64(b, uint64(n))
	}
	return append(b, payload...)
}

// readClientFrame reads one masked frame of the device and unmasks it.
func readClientFrame(t *testing.T, r io.Reader) (op byte, payload []byte) {
	t.Helper()
	var h [14]byte
	if _, err := io.ReadFull(r, h[:2]); err != nil {
		t.Fatal(err)
	}
	if h[1]&0x80 == 0 || h[0]&0x80 == 0 || h[0]&0x70 != 0 {
		t.Fatalf("frame header % x: want FIN, no RSV, masked", h[:2])
	}
	op = h[0] & 0x0f
	n := int(h[1] & 0x7f)
	switch n {
	case 126:
		io.ReadFull(r, h[2:4])
		n = int(binary.BigEndian.Uint16(h[2:4]))
	case 127:
		io.ReadFull(r, h[2:10])
		n = int(binary.BigEndian.Uint64(h[2:10]))
	}
	var mask [4]byte
	io.ReadFull(r, mask[:])
	payload = make([]byte, n)
	if _, err := io.ReadFull(r, payload); err != nil {
		t.Fatal(err)
	}
	for i := range payload {
		payload[i] ^= mask[i%4]
	}
	return op, payload
}

func pipeWS(t *testing.T) (*wsConn, net.Conn) {
	client, server := net.Pipe()
	t.Cleanup(func() { client.Close(); server.Close() })
	return &wsConn{conn: client, br: bufio.NewReaderSize(client, 1024), peerClosed: make(chan struct{})}, server
}

// RFC 6455 as protocol §3 uses it: binary messages as one byte stream,
// fragments with a ping between them (answered with its payload), masked
// frames from the device of every length form, and a going-away close
// answered and reported.
func TestWebSocketFraming(t *testing.T) {
	ws, server := pipeWS(t)
	big := bytes.Repeat([]byte("0123456789abcdef"), 5000) // 80,000 bytes: the 64-bit length form
	go func() {
		server.Write(frame(true, 2, []byte("hello ")))
		server.Write(frame(false, 2, []byte("frag")))
		server.Write(frame(true, 9, []byte("p1")))
		server.Write(frame(true, 0, []byte("mented ")))
		server.Write(frame(true, 2, big))
		server.Write(frame(true, 8, append(binary.BigEndian.AppendUint16(nil, 1001), "restarting"...)))
	}()
	want := append([]byte("hello fragmented "), big...)
	got := make([]byte, len(want))
	readDone := make(chan error, 1)
	go func() {
		_, err := io.ReadFull(ws, got)
		if err == nil {
			_, err = ws.Read(make([]byte, 1))
			if err != io.EOF {
				err = errors.New("after the close: " + err.Error())
			} else {
				err = nil
			}
		}
		readDone <- err
	}()
	// The ping's pong, then the close's echo.
	if op, p := readClientFrame(t, server); op != 0xA || string(p) != "p1" {
		t.Errorf("answer to a ping: opcode %x %q", op, p)
	}
	if op, p := readClientFrame(t, server); op != 0x8 || binary.BigEndian.Uint16(p) != 1001 {
		t.Errorf("answer to a close 1001: opcode %x % x", op, p)
	}
	if err := <-readDone; err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Error("the byte stream differs from the messages' payloads")
	}
	if ws.CloseCode() != closeGoingAway {
		t.Errorf("close code %d, want 1001", ws.CloseCode())
	}

	// Writes: each of the three length forms, masked, one message.
	ws2, server2 := pipeWS(t)
	for _, n := range []int{5, 300, 70000} {
		body := bytes.Repeat([]byte{byte(n)}, n)
		go ws2.WriteMessage(body[:3], body[3:])
		if op, p := readClientFrame(t, server2); op != 2 || !bytes.Equal(p, body) {
			t.Errorf("message of %d bytes: opcode %d, %d bytes back", n, op, len(p))
		}
	}
}

// A text message closes with 1003, a message over 256 KiB with 1009, and
// a masked frame from the server with 1002.
func TestWebSocketRefusesWhatProtocolForbids(t *testing.T) {
	for _, c := range []struct {
		name  string
		frame []byte
		code  uint16
	}{
		{"text", frame(true, 1, []byte("{}")), 1003},
		{"too big", append(frame(false, 2, make([]byte, 200<<10)), frame(true, 0, make([]byte, 100<<10))...), 1009},
		{"masked", []byte{0x82, 0x81, 1, 2, 3, 4, 'x'}, 1002},
		{"rsv", []byte{0xC2, 0x01, 'x'}, 1002},
	} {
		ws, server := pipeWS(t)
		go server.Write(c.frame)
		errc := make(chan error, 1)
		go func() { _, err := io.Copy(io.Discard, ws); errc <- err }()
		if op, p := readClientFrame(t, server); op != 8 || binary.BigEndian.Uint16(p) != c.code {
			t.Errorf("%s: opcode %x % x, want close %d", c.name, op, p, c.code)
		}
		if err := <-errc; err == nil {
			t.Errorf("%s: reading ended without an error", c.name)
		}
	}
}
