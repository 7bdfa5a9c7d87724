package gateway

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/bus"
	"github.com/gatehouse-dev/gatehouse/internal/gateway/ymux"
	"github.com/gatehouse-dev/gatehouse/internal/model"
)

// Tunnel is a RoundTripper to the web UI of the device mac, through a
// tunnel stream on whichever node holds its connection; ErrOffline when none.
// On this node the request and response stream through; across nodes both
// travel on the bus, at most 1 MiB each.
func (g *Gateway) Tunnel(mac string) http.RoundTripper {
	m, ok := model.NormalizeMAC(mac)
	return roundTripFunc(func(req *http.Request) (*http.Response, error) {
		if !ok {
			return nil, ErrOffline
		}
		return g.roundTrip(m, req)
	})
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

func (g *Gateway) roundTrip(mac string, req *http.Request) (*http.Response, error) {
	if c := g.local(mac); c != nil && !c.closing.Load() {
		return c.roundTrip(req)
	}
	ctx, cancel := g.within(req.Context(), lookupTimeout)
	node, online, err := g.st.DeviceNode(ctx, mac)
	cancel()
	if model.ErrorCode(err) == model.ENOTFOUND || (err == nil && (!online || node == "" || node == g.opts.Node)) {
		closeBody(req)
		return nil, ErrOffline
	} else if err != nil {
		closeBody(req)
		return nil, err
	}
	return g.remoteRoundTrip(node, mac, req)
}

func closeBody(req *http.Request) {
	if req.Body != nil {
		req.Body.Close()
	}
}

// roundTrip carries one HTTP request to the device over a new tunnel
// stream (docs/device-protocol.md §6). The response body streams from the
// device; closing it closes the stream.
func (c *conn) roundTrip(req *http.Request) (*http.Response, error) {
	if c.tunnels.Add(1) > MaxTunnels {
		c.tunnels.Add(-1)
		closeBody(req)
		return nil, ErrTooManyTunnels
	}
	release := sync.OnceFunc(func() { c.tunnels.Add(-1) })
	st, err := c.sess.OpenStream()
	if err != nil {
		release()
		closeBody(req)
		if errors.Is(err, ymux.ErrSessionClosed) {
			return nil, ErrOffline
		}
		return nil, fmt.Errorf("gateway: open a tunnel: %w", err)
	}
	timeout := c.g.opts.TunnelTimeout
	st.SetDeadline(time.Now().Add(timeout))
	stop := context.AfterFunc(req.Context(), func() { st.SetDeadline(time.Now()); st.Close() })
	fail := func(err error) (*http.Response, error) {
		stop()
		st.Close()
		release()
		closeBody(req)
		return nil, err
	}
	hdr := fmt.Sprintf(`{"type":"tunnel","id":"t%x","service":"http"}`+"\n", c.g.seq.Add(1))
	if _, err := io.WriteString(st, hdr); err != nil {
		return fail(fmt.Errorf("gateway: tunnel to %s: %w", c.mac, err))
	}
	out := *req
	if out.Host == "" && out.URL != nil {
		out.Host = out.URL.Host
	}
	if out.Host == "" {
		out.Host = "device"
	}
	out.Close = true // one request per stream: the device closes after its answer
	if err := out.Write(st); err != nil {
		return fail(fmt.Errorf("gateway: tunnel to %s: send the request: %w", c.mac, err))
	}
	// A device's response header is bounded (its body streams): a huge
	// one must not cost the server its memory.
	hl := &headerLimit{r: st, left: maxTunnelHeader}
	resp, err := http.ReadResponse(bufio.NewReader(hl), req)
	hl.lift()
	if err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			err = errors.New("the device closed the tunnel without answering")
		}
		return fail(fmt.Errorf("gateway: tunnel to %s: %w", c.mac, err))
	}
	// The body may take longer than the header did: from here on the
	// timeout is for silence.
	st.SetDeadline(time.Time{})
	resp.Body = &tunnelBody{rc: resp.Body, st: st, idle: timeout, done: sync.OnceFunc(func() { stop(); st.Close(); release() })}
	return resp, nil
}

// maxTunnelHeader bounds the status line and header of a device's answer.
const maxTunnelHeader = 1 << 20

// headerLimit fails reads past left bytes until lifted (once the header is
// parsed); the bufio.Reader above it may read a little of the body early.
type headerLimit struct {
	r      io.Reader
	left   int64
	lifted atomic.Bool
}

func (h *headerLimit) Read(p []byte) (int, error) {
	if h.lifted.Load() {
		return h.r.Read(p)
	}
	if h.left <= 0 {
		return 0, errors.New("the device's response header is larger than 1 MiB")
	}
	if int64(len(p)) > h.left {
		p = p[:h.left]
	}
	n, err := h.r.Read(p)
	h.left -= int64(n)
	return n, err
}

func (h *headerLimit) lift() { h.lifted.Store(true) }

type tunnelBody struct {
	rc   io.ReadCloser
	st   *ymux.Stream
	idle time.Duration
	done func()
}

func (b *tunnelBody) Read(p []byte) (int, error) {
	b.st.SetReadDeadline(time.Now().Add(b.idle))
	n, err := b.rc.Read(p)
	if err != nil {
		b.done()
	}
	return n, err
}

func (b *tunnelBody) Close() error {
	err := b.rc.Close()
	b.done()
	return err
}

// tunnelRequest is a Remote Control request carried on the bus: this JSON
// on one line, then the body.
type tunnelRequest struct {
	MAC    string      `json:"mac"`
	Method string      `json:"method"`
	URI    string      `json:"uri"`
	Host   string      `json:"host"`
	Header http.Header `json:"header"`
}

// tunnelReply is the holding node's answer: this JSON on one line, then the
// body.
type tunnelReply struct {
	Offline bool        `json:"offline,omitempty"`
	Status  int         `json:"status"`
	Header  http.Header `json:"header"`
}

func frame(head any, body []byte) []byte {
	js, _ := json.Marshal(head)
	out := make([]byte, 0, len(js)+1+len(body))
	out = append(append(append(out, js...), '\n'), body...)
	return out
}

func unframe(data []byte, head any) ([]byte, error) {
	js, body, ok := bytes.Cut(data, []byte{'\n'})
	if !ok {
		return nil, errors.New("gateway: malformed bus message")
	}
	return body, json.Unmarshal(js, head)
}

// textResponse is an answer made up by the gateway itself.
func textResponse(req *http.Request, status int, msg string) *http.Response {
	return &http.Response{StatusCode: status, Status: fmt.Sprintf("%d %s", status, http.StatusText(status)),
		Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1, Request: req, ContentLength: int64(len(msg)),
		Header: http.Header{"Content-Type": {"text/plain; charset=utf-8"}}, Body: io.NopCloser(strings.NewReader(msg))}
}

// remoteRoundTrip asks the node holding the device to carry req.
func (g *Gateway) remoteRoundTrip(node, mac string, req *http.Request) (*http.Response, error) {
	var body []byte
	if req.Body != nil {
		var err error
		body, err = io.ReadAll(io.LimitReader(req.Body, MaxBusBody+1))
		req.Body.Close()
		if err != nil {
			return nil, err
		}
		if len(body) > MaxBusBody {
			return textResponse(req, http.StatusRequestEntityTooLarge,
				"Remote Control carries request bodies of at most 1 MiB to a device connected to another node.\n"), nil
		}
	}
	host := req.Host
	if host == "" && req.URL != nil {
		host = req.URL.Host
	}
	data := frame(tunnelRequest{MAC: mac, Method: req.Method, URI: req.URL.RequestURI(), Host: host, Header: req.Header}, body)
	ctx, cancel := context.WithTimeout(req.Context(), g.opts.TunnelTimeout)
	defer cancel()
	reply, err := g.bus.Request(ctx, subjectTunnel+subjectToken(node), data)
	if errors.Is(err, bus.ErrNoResponder) {
		return nil, ErrOffline
	} else if err != nil {
		return nil, fmt.Errorf("gateway: tunnel through node %s: %w", node, err)
	}
	var head tunnelReply
	rbody, err := unframe(reply, &head)
	if err != nil {
		return nil, err
	}
	if head.Offline {
		return nil, ErrOffline
	}
	if head.Header == nil {
		head.Header = http.Header{}
	}
	return &http.Response{StatusCode: head.Status, Status: fmt.Sprintf("%d %s", head.Status, http.StatusText(head.Status)),
		Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1, Request: req, Header: head.Header,
		ContentLength: int64(len(rbody)), Body: io.NopCloser(bytes.NewReader(rbody))}, nil
}

// payloadLimiter is a bus that carries messages up to a size (NATS).
type payloadLimiter interface{ MaxPayload() int64 }

// onTunnel answers another node's Remote Control request for a device
// connected here.
func (g *Gateway) onTunnel(data []byte) ([]byte, bool) {
	var tr tunnelRequest
	body, err := unframe(data, &tr)
	if err != nil {
		return nil, false
	}
	c := g.local(tr.MAC)
	if c == nil || c.closing.Load() {
		return frame(tunnelReply{Offline: true}, nil), true
	}
	errReply := func(status int, msg string) ([]byte, bool) {
		return frame(tunnelReply{Status: status, Header: http.Header{"Content-Type": {"text/plain; charset=utf-8"}}}, []byte(msg+"\n")), true
	}
	ctx, cancel := context.WithTimeout(g.ctx, g.opts.TunnelTimeout)
	defer cancel()
	host := tr.Host
	if host == "" {
		host = "device"
	}
	req, err := http.NewRequestWithContext(ctx, tr.Method, "http://"+host+tr.URI, bytes.NewReader(body))
	if err != nil {
		return errReply(http.StatusBadRequest, "Bad request: "+err.Error())
	}
	req.Header = tr.Header
	if req.Header == nil {
		req.Header = http.Header{}
	}
	if len(body) == 0 {
		req.Body, req.ContentLength = nil, 0
	}
	resp, err := c.roundTrip(req)
	switch {
	case errors.Is(err, ErrOffline):
		return frame(tunnelReply{Offline: true}, nil), true
	case errors.Is(err, ErrTooManyTunnels):
		return errReply(http.StatusServiceUnavailable, "The device has too many Remote Control requests open; try again.")
	case err != nil:
		return errReply(http.StatusBadGateway, "The device did not answer: "+err.Error())
	}
	defer resp.Body.Close()
	rbody, err := io.ReadAll(io.LimitReader(resp.Body, MaxBusBody+1))
	if err != nil {
		return errReply(http.StatusBadGateway, "The device's answer broke off: "+err.Error())
	}
	if len(rbody) > MaxBusBody {
		return errReply(http.StatusBadGateway, "The device's answer is larger than 1 MiB, the most Remote Control carries from a device connected to another node.")
	}
	out := frame(tunnelReply{Status: resp.StatusCode, Header: resp.Header}, rbody)
	if pl, ok := g.bus.(payloadLimiter); ok && int64(len(out)) > pl.MaxPayload() {
		return errReply(http.StatusBadGateway, fmt.Sprintf("The device's answer (%d bytes) is larger than the bus between nodes carries (%d bytes; raise max_payload of the NATS server).",
			len(out), pl.MaxPayload()))
	}
	return out, true
}
