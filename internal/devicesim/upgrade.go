package devicesim

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/http"
	"sync"
	"time"
)

// upgradeTransport carries a device's connect request (the WebSocket
// upgrade): it dials, writes the request on the new connection and reads
// the answer — the bytes net/http's Transport would send (Request.Write
// is what it uses), without what the Transport keeps per connection for
// reuse: a reader and a writer goroutine, their channels and buffers. An
// upgraded connection never goes back to a pool, so none of it is needed.
type upgradeTransport struct {
	dial func(ctx context.Context, network, addr string) (net.Conn, error)
	tls  *tls.Config
}

// longAgo is a deadline in the past: it makes pending reads and writes fail
// at once.
var longAgo = time.Unix(1, 0)

// connectTimeout bounds a connect request, from the dial to its answer.
const connectTimeout = 30 * time.Second

var upgradeWriters = sync.Pool{New: func() any { return bufio.NewWriterSize(nil, 1024) }}

func (t *upgradeTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	ctx := req.Context()
	addr := req.URL.Host
	if req.URL.Port() == "" {
		port := "80"
		if req.URL.Scheme == "https" {
			port = "443"
		}
		addr = net.JoinHostPort(req.URL.Hostname(), port)
	}
	conn, err := t.dial(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	conn.SetDeadline(time.Now().Add(connectTimeout))
	// The fleet closing (ctx) ends a request under way.
	stop := context.AfterFunc(ctx, func() { conn.SetDeadline(longAgo) })
	fail := func(err error) (*http.Response, error) {
		stop()
		conn.Close()
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, err
	}
	if req.URL.Scheme == "https" {
		cfg := t.tls.Clone()
		if cfg == nil {
			cfg = &tls.Config{}
		}
		if cfg.ServerName == "" {
			cfg.ServerName = req.URL.Hostname()
		}
		tc := tls.Client(conn, cfg)
		if err := tc.HandshakeContext(ctx); err != nil {
			return fail(err)
		}
		conn = tc
	}
	bw := upgradeWriters.Get().(*bufio.Writer)
	bw.Reset(conn)
	err = req.Write(bw)
	if err == nil {
		err = bw.Flush()
	}
	bw.Reset(nil)
	upgradeWriters.Put(bw)
	if err != nil {
		return fail(err)
	}
	// The buffer stays with the connection for its life (bytes the server
	// sent after its answer are in it): small, as the answer is.
	br := bufio.NewReaderSize(conn, 512)
	resp, err := http.ReadResponse(br, req)
	if err != nil {
		return fail(err)
	}
	if !stop() {
		return fail(ctx.Err())
	}
	if resp.StatusCode == http.StatusSwitchingProtocols {
		conn.SetDeadline(time.Time{})
		resp.Body = &upgradedConn{br: br, Conn: conn}
	} else {
		resp.Body = &answerBody{ReadCloser: resp.Body, conn: conn}
	}
	return resp, nil
}

// upgradedConn is the connection after a 101: reads start with what the
// answer's reader already holds, then go to the connection (the WebSocket
// has a reader of its own; one reader at a time).
type upgradedConn struct {
	br *bufio.Reader
	net.Conn
}

func (c *upgradedConn) Read(p []byte) (int, error) {
	if c.br != nil {
		if c.br.Buffered() > 0 {
			return c.br.Read(p)
		}
		c.br = nil
	}
	return c.Conn.Read(p)
}

// answerBody is the body of a refusal; closing it closes the connection.
type answerBody struct {
	io.ReadCloser
	conn net.Conn
}

func (b *answerBody) Close() error {
	return errors.Join(b.ReadCloser.Close(), b.conn.Close())
}
