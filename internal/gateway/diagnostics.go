package gateway

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/gateway/ymux"
	"github.com/gatehouse-dev/gatehouse/internal/model"
)

// Diagnostics (docs/device-protocol.md §5.2): the node holding a device
// runs its queued diagnostics — on connect, on a Kick, and in Run's sweep
// — each on a new stream of the device's connection: the request line out,
// the device's header line and its result back, stored when complete.

// DefaultDiagnosticsAtOnce is how many diagnostics a node runs at once
// unless told otherwise (Options.DiagnosticsAtOnce).
const DefaultDiagnosticsAtOnce = 16

// MaxDiagnosticHeader bounds the device's header line, newline included.
const MaxDiagnosticHeader = 4 << 10

// diagnosticTotal bounds a diagnostic from its request to its last byte,
// beyond what its kind takes (a capture's seconds, a ping's count).
const diagnosticTotal = 5 * time.Minute

// Content types a diagnostic's file may be served with; any other the
// device names is served as application/octet-stream.
var diagContentTypes = map[string]bool{
	"text/plain; charset=utf-8":    true,
	"application/vnd.tcpdump.pcap": true,
	"application/octet-stream":     true,
}

// diagnoseLine is the first line of a diagnostic's stream.
type diagnoseLine struct {
	Type string `json:"type"`
	ID   string `json:"id"`
	Kind string `json:"kind"`
	model.DiagnosticParams
	MaxBytes int64 `json:"max_bytes"`
}

// DiagnosticReply is the device's header line on a diagnostic's stream.
type DiagnosticReply struct {
	OK          bool   `json:"ok"`
	Error       string `json:"error,omitempty"`
	ContentType string `json:"content_type,omitempty"`
	Name        string `json:"name,omitempty"`
}

// ParseDiagnosticReply reads the device's header line (without its
// newline): one JSON object. The content type is one of the served ones
// (else application/octet-stream), the name a plain file name of at most
// 100 characters (else one made of the kind), the error storable text.
func ParseDiagnosticReply(line []byte, kind model.DiagnosticKind) (DiagnosticReply, error) {
	var r DiagnosticReply
	dec := json.NewDecoder(bytes.NewReader(line))
	if err := dec.Decode(&r); err != nil {
		return r, fmt.Errorf("the device's answer is not a JSON header line: %v", err)
	}
	if dec.More() {
		return r, errors.New("the device's header line holds more than one JSON object")
	}
	if !r.OK {
		r.Error = model.StorableText(strings.TrimSpace(r.Error), 300)
		if r.Error == "" {
			r.Error = "the device refused without saying why"
		}
		return r, nil
	}
	ct := strings.ToLower(strings.TrimSpace(r.ContentType))
	if ct == "text/plain" || ct == "text/plain;charset=utf-8" {
		ct = "text/plain; charset=utf-8"
	}
	if !diagContentTypes[ct] {
		ct = "application/octet-stream"
	}
	r.ContentType = ct
	r.Name = safeFileName(r.Name, kind, ct)
	return r, nil
}

// safeFileName keeps letters, digits, dash and underscore of the stem of
// a device's file name and gives it the extension of the content type
// served: a device names its file, never what opens it (a "log.html" or
// "setup.exe" would run on the downloader's computer). An empty stem is
// the kind.
func safeFileName(name string, kind model.DiagnosticKind, ct string) string {
	if i := strings.LastIndexAny(name, `/\\`); i >= 0 {
		name = name[i+1:]
	}
	if i := strings.IndexByte(name, '.'); i >= 0 {
		name = name[:i]
	}
	name = strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' {
			return r
		}
		return -1
	}, name)
	if len(name) > 96 {
		name = name[:96]
	}
	if name == "" {
		name = string(kind)
	}
	ext := ".txt"
	switch ct {
	case "application/vnd.tcpdump.pcap":
		ext = ".pcap"
	case "application/octet-stream":
		ext = ".bin"
	}
	return name + ext
}

// diagGate spares a connect the diagnostics lookup while none is queued
// anywhere (as upgradeGate does for upgrades): a device connecting within
// a second of a request is served by the request's Kick or Run's sweep.
type diagGate struct {
	until atomic.Int64
	any   atomic.Bool
	mu    sync.Mutex
}

func (d *diagGate) open(g *Gateway) bool {
	if time.Now().UnixNano() < d.until.Load() {
		return d.any.Load()
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if time.Now().UnixNano() < d.until.Load() {
		return d.any.Load()
	}
	ctx, cancel := g.within(g.ctx, commandsTimeout)
	any, err := g.st.DiagnosticsOpen(ctx)
	cancel()
	if err != nil {
		return true
	}
	d.any.Store(any)
	d.until.Store(time.Now().Add(upgradeGateTTL).UnixNano())
	return any
}

// deliverDiagnostics starts the queued diagnostics of these connections'
// devices; connect: a new connection's (gated).
func (g *Gateway) deliverDiagnostics(conns []*conn, connect bool) {
	if len(conns) == 0 || (connect && !g.diags.open(g)) {
		return
	}
	byID := make(map[int64]*conn, len(conns))
	ids := make([]int64, 0, len(conns))
	for _, c := range conns {
		byID[c.id] = c
		ids = append(ids, c.id)
	}
	ctx, cancel := g.within(g.ctx, commandsTimeout)
	queued, err := g.st.QueuedDiagnostics(ctx, ids...)
	cancel()
	if err != nil {
		g.log.Error("gateway: queued diagnostics", "err", err)
		return
	}
	for _, d := range queued {
		c := byID[d.DeviceID]
		if c == nil || c.closing.Load() {
			continue
		}
		// Each running diagnostic holds its result in memory: past the
		// node's bound the rest stay queued until a slot frees. One
		// account's take a quarter of the slots at most, so that devices of
		// one tenant answering slowly cannot hold them all.
		who := d.RequestedBy
		g.diagMu.Lock()
		taken := g.diagBy[who] < max(1, cap(g.diagSlots)/4)
		if taken {
			select {
			case g.diagSlots <- struct{}{}:
				g.diagBy[who]++
			default:
				taken = false
			}
		}
		if !taken {
			g.diagWaiting[c.mac] = c
		}
		g.diagMu.Unlock()
		if !taken {
			continue
		}
		ctx, cancel := g.within(g.ctx, commandsTimeout)
		ok, err := g.st.StartDiagnostic(ctx, d.ID, g.opts.Node)
		cancel()
		if err != nil || !ok {
			g.releaseDiagnosticSlot(who, false)
			if err != nil {
				g.log.Error("gateway: start a diagnostic", "mac", c.mac, "diagnostic", d.ID, "err", err)
			}
			continue
		}
		g.spawn(func() {
			g.runDiagnostic(c, d)
			g.releaseDiagnosticSlot(who, true)
		})
	}
}

// releaseDiagnosticSlot frees the slot of a diagnostic of who and, when
// it ran, starts what waited for one.
func (g *Gateway) releaseDiagnosticSlot(who string, ran bool) {
	<-g.diagSlots
	g.diagMu.Lock()
	if g.diagBy[who]--; g.diagBy[who] <= 0 {
		delete(g.diagBy, who)
	}
	if !ran {
		g.diagMu.Unlock()
		return
	}
	waiting := make([]*conn, 0, len(g.diagWaiting))
	for _, c := range g.diagWaiting {
		waiting = append(waiting, c)
	}
	clear(g.diagWaiting)
	g.diagMu.Unlock()
	if len(waiting) > 0 {
		g.deliverDiagnostics(waiting, false)
	}
}

// runDiagnostic runs d on the device of c and records its outcome.
func (g *Gateway) runDiagnostic(c *conn, d *model.Diagnostic) {
	rep, data, err := c.diagnose(d)
	errMsg := ""
	if err != nil {
		errMsg = err.Error()
	} else if !rep.OK {
		errMsg = "the device: " + rep.Error
	}
	ctx, cancel := g.within(context.WithoutCancel(g.ctx), reportTimeout)
	defer cancel()
	if err := g.st.FinishDiagnostic(ctx, d.ID, errMsg, rep.Name, rep.ContentType, data); err != nil {
		g.log.Error("gateway: record a diagnostic", "mac", c.mac, "diagnostic", d.ID, "err", err)
		return
	}
	g.log.Info("gateway: diagnostic finished", "mac", c.mac, "diagnostic", d.ID, "kind", d.Kind, "bytes", len(data), "error", errMsg)
}

// Errors a diagnostic fails with.
var (
	errDiagUnsupported = errors.New("the device does not support diagnostics (it closed the stream without answering)")
	errDiagSilent      = errors.New("the device went silent: nothing arrived for too long")
)

// diagnose opens the stream, sends the request and reads the answer: the
// header and, when ok, the whole result (at most d.MaxBytes).
func (c *conn) diagnose(d *model.Diagnostic) (DiagnosticReply, []byte, error) {
	var rep DiagnosticReply
	if c.tunnels.Add(1) > MaxTunnels {
		c.tunnels.Add(-1)
		return rep, nil, errors.New("the device has too many streams open")
	}
	defer c.tunnels.Add(-1)
	st, err := c.sess.OpenStream()
	if err != nil {
		if errors.Is(err, ymux.ErrSessionClosed) {
			return rep, nil, errors.New("the device went offline before the diagnostic started")
		}
		return rep, nil, fmt.Errorf("opening a stream to the device: %v", err)
	}
	defer st.Close()
	idle := c.g.opts.DiagnosticIdle
	// The longest a kind may be silent on its own: a capture whose filter
	// matches nothing says nothing for its seconds.
	quiet := idle
	if d.Kind == model.DiagnosticPcap {
		quiet += time.Duration(d.Params.Seconds) * time.Second
	}
	end := time.Now().Add(diagnosticTotal + quiet)
	st.SetDeadline(time.Now().Add(c.g.opts.WriteTimeout))
	line, _ := json.Marshal(diagnoseLine{Type: "diagnose", ID: model.DiagnosticCommandID(d.ID), Kind: string(d.Kind),
		DiagnosticParams: d.Params, MaxBytes: d.MaxBytes})
	if _, err := st.Write(append(line, '\n')); err != nil {
		return rep, nil, brokeOff("sending the request", err)
	}
	deadline := func(quiet time.Duration) {
		t := time.Now().Add(quiet)
		if t.After(end) {
			t = end
		}
		st.SetReadDeadline(t)
	}
	deadline(quiet)
	br := bufio.NewReaderSize(st, MaxDiagnosticHeader)
	head, err := br.ReadSlice('\n')
	switch {
	case errors.Is(err, bufio.ErrBufferFull):
		return rep, nil, fmt.Errorf("the device's header line is longer than %d bytes", MaxDiagnosticHeader)
	case len(head) == 0 && (err == io.EOF || errors.Is(err, ymux.ErrStreamReset)):
		return rep, nil, errDiagUnsupported
	case err != nil:
		return rep, nil, brokeOff("reading the header", err)
	}
	if rep, err = ParseDiagnosticReply(bytes.TrimRight(head, "\r\n"), d.Kind); err != nil || !rep.OK {
		return rep, nil, err
	}
	// The result grows at most to max_bytes (a bytes.Buffer doubling could
	// hold twice that).
	buf := make([]byte, 0, min(d.MaxBytes, 64<<10))
	chunk := make([]byte, 32<<10)
	for {
		deadline(quiet)
		n, err := br.Read(chunk)
		if int64(len(buf)+n) > d.MaxBytes {
			return rep, nil, fmt.Errorf("the result is larger than %d bytes, the most kept", d.MaxBytes)
		}
		if len(buf)+n > cap(buf) {
			grown := make([]byte, len(buf), min(max(2*cap(buf), len(buf)+n), int(d.MaxBytes)))
			copy(grown, buf)
			buf = grown
		}
		buf = append(buf, chunk[:n]...)
		if err == io.EOF {
			return rep, buf, nil
		}
		if err != nil {
			return rep, nil, brokeOff("reading the result", err)
		}
	}
}

// brokeOff names why a diagnostic's stream ended early.
func brokeOff(step string, err error) error {
	var ne interface{ Timeout() bool }
	if errors.As(err, &ne) && ne.Timeout() || errors.Is(err, ymux.ErrTimeout) {
		return errDiagSilent
	}
	return fmt.Errorf("the connection to the device broke while %s: %v", step, err)
}
