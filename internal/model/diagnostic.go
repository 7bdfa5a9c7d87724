package model

import (
	"net/netip"
	"strconv"
	"strings"
	"time"
)

// Diagnostics (docs/device-protocol.md §5.2): a system log, a ping, a
// traceroute or a packet capture run by a device on request, its result
// streamed back through a stream of the device's connection and kept as a
// file for a while.

// DiagnosticKind is what the device is asked to run.
type DiagnosticKind string

const (
	DiagnosticLog        DiagnosticKind = "log"
	DiagnosticPing       DiagnosticKind = "ping"
	DiagnosticTraceroute DiagnosticKind = "traceroute"
	DiagnosticPcap       DiagnosticKind = "pcap"
)

// DiagnosticState follows queued → running → done | failed | expired.
type DiagnosticState string

const (
	DiagnosticQueued  DiagnosticState = "queued"
	DiagnosticRunning DiagnosticState = "running"
	DiagnosticDone    DiagnosticState = "done"
	DiagnosticFailed  DiagnosticState = "failed"
	DiagnosticExpired DiagnosticState = "expired"
)

// Open is a state that may still change.
func (s DiagnosticState) Open() bool { return s == DiagnosticQueued || s == DiagnosticRunning }

// Bounds of a diagnostic's parameters.
const (
	DiagLogMaxLines    = 10000
	DiagPingMaxCount   = 20
	DiagTraceMaxHops   = 64
	DiagPcapMaxSecs    = 60
	DiagFilterMaxLen   = 200
	DiagHostMaxLen     = 253
	DiagnosticsOpenMax = 2 // queued or running per device
	// DiagnosticsAccountOpenMax bounds the open diagnostics of one account.
	DiagnosticsAccountOpenMax = 20
	// DiagnosticsDeviceHourMax and DiagnosticsAccountHourMax bound the
	// diagnostics asked in an hour, finished ones too: each may store a
	// file of up to the size cap, kept for days, so the open bounds alone
	// would let a loop of requests fill the database's disk.
	DiagnosticsDeviceHourMax  = 30
	DiagnosticsAccountHourMax = 200
)

// DiagnosticParams are a diagnostic's parameters: those of its kind only.
type DiagnosticParams struct {
	Lines   int        `json:"lines,omitempty"`    // log: the last N lines
	Since   *time.Time `json:"since,omitempty"`    // log: lines since then
	Host    string     `json:"host,omitempty"`     // ping, traceroute
	Count   int        `json:"count,omitempty"`    // ping
	MaxHops int        `json:"max_hops,omitempty"` // traceroute
	Seconds int        `json:"seconds,omitempty"`  // pcap
	Filter  string     `json:"filter,omitempty"`   // pcap
}

// DiagnosticRequest is what a person asks for.
type DiagnosticRequest struct {
	Kind DiagnosticKind `json:"kind"`
	DiagnosticParams
}

// Normalize validates the request and keeps only its kind's parameters,
// with defaults filled in: field-named EINVALID errors.
func (r DiagnosticRequest) Normalize() (DiagnosticRequest, error) {
	var v Validator
	out := DiagnosticRequest{Kind: r.Kind}
	p := &out.DiagnosticParams
	switch r.Kind {
	case DiagnosticLog:
		switch {
		case r.Since != nil && r.Lines != 0:
			v.Add("since", "give either lines or since, not both")
		case r.Since != nil:
			t := r.Since.UTC().Truncate(time.Second)
			p.Since = &t
		default:
			p.Lines = r.Lines
			if p.Lines == 0 {
				p.Lines = 200
			}
			v.Check(p.Lines >= 1 && p.Lines <= DiagLogMaxLines, "lines", "must be 1 to %d", DiagLogMaxLines)
		}
	case DiagnosticPing:
		p.Host, p.Count = strings.TrimSpace(r.Host), r.Count
		if p.Count == 0 {
			p.Count = 4
		}
		checkDiagHost(&v, p.Host)
		v.Check(p.Count >= 1 && p.Count <= DiagPingMaxCount, "count", "must be 1 to %d", DiagPingMaxCount)
	case DiagnosticTraceroute:
		p.Host, p.MaxHops = strings.TrimSpace(r.Host), r.MaxHops
		if p.MaxHops == 0 {
			p.MaxHops = 30
		}
		checkDiagHost(&v, p.Host)
		v.Check(p.MaxHops >= 1 && p.MaxHops <= DiagTraceMaxHops, "max_hops", "must be 1 to %d", DiagTraceMaxHops)
	case DiagnosticPcap:
		p.Seconds, p.Filter = r.Seconds, strings.Join(strings.Fields(r.Filter), " ")
		if p.Seconds == 0 {
			p.Seconds = 10
		}
		v.Check(p.Seconds >= 1 && p.Seconds <= DiagPcapMaxSecs, "seconds", "must be 1 to %d", DiagPcapMaxSecs)
		if len(r.Filter) > DiagFilterMaxLen {
			v.Add("filter", "must be at most %d characters", DiagFilterMaxLen)
		} else if i := strings.IndexFunc(p.Filter, func(c rune) bool { return !filterChar(c) }); i >= 0 {
			v.Add("filter", "may hold letters, digits, spaces and . : / - _ ( ) ! = < > & | only, not %q", p.Filter[i:i+1])
		}
	default:
		v.Add("kind", "must be log, ping, traceroute or pcap")
	}
	return out, v.Err()
}

func filterChar(c rune) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.ContainsRune(" .:/-_()!=<>&|", c)
}

// checkDiagHost accepts an IP literal or a host name (letters, digits,
// hyphens and dots, labels of 1 to 63 characters), at most 253 characters.
func checkDiagHost(v *Validator, h string) {
	switch {
	case h == "":
		v.Add("host", "is required")
	case len(h) > DiagHostMaxLen:
		v.Add("host", "must be at most %d characters", DiagHostMaxLen)
	case ValidDiagHost(h):
	default:
		v.Add("host", "must be a host name or an IP address")
	}
}

// ValidDiagHost reports whether h is an IP literal or a host name.
func ValidDiagHost(h string) bool {
	if len(h) == 0 || len(h) > DiagHostMaxLen {
		return false
	}
	if _, err := netip.ParseAddr(h); err == nil {
		return !strings.Contains(h, "%") // no zone: it names a local interface
	}
	for _, label := range strings.Split(strings.TrimSuffix(h, "."), ".") {
		if len(label) == 0 || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for _, c := range label {
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
				return false
			}
		}
	}
	return true
}

// Describe is the parameters as one short line ("8.8.8.8, 4 packets").
func (r DiagnosticRequest) Describe() string {
	p := r.DiagnosticParams
	switch r.Kind {
	case DiagnosticLog:
		if p.Since != nil {
			return "since " + p.Since.UTC().Format("2006-01-02 15:04:05") + " UTC"
		}
		return "last " + strconv.Itoa(p.Lines) + " lines"
	case DiagnosticPing:
		return p.Host + ", " + strconv.Itoa(p.Count) + " packets"
	case DiagnosticTraceroute:
		return p.Host + ", at most " + strconv.Itoa(p.MaxHops) + " hops"
	case DiagnosticPcap:
		s := strconv.Itoa(p.Seconds) + " s"
		if p.Filter != "" {
			s += ", " + p.Filter
		}
		return s
	}
	return ""
}

// Diagnostic is one diagnostic of one device: its metadata (the file is
// apart: store.DiagnosticFile).
type Diagnostic struct {
	ID          int64            `json:"id"`
	MAC         string           `json:"mac"`
	Kind        DiagnosticKind   `json:"kind"`
	Params      DiagnosticParams `json:"params"`
	State       DiagnosticState  `json:"state"`
	Error       string           `json:"error,omitempty"`
	RequestedBy string           `json:"requested_by,omitempty"`
	Created     time.Time        `json:"created_at"`
	Started     *time.Time       `json:"started_at"`
	Finished    *time.Time       `json:"finished_at"`
	Expires     time.Time        `json:"expires_at"`
	MaxBytes    int64            `json:"max_bytes"`
	FileName    string           `json:"file_name,omitempty"`
	ContentType string           `json:"content_type,omitempty"`
	Size        int64            `json:"size"`
	SHA256      string           `json:"sha256,omitempty"`
	Node        string           `json:"-"`
	DeviceID    int64            `json:"-"`
}

// Request is the diagnostic's kind and parameters.
func (d *Diagnostic) Request() DiagnosticRequest {
	return DiagnosticRequest{Kind: d.Kind, DiagnosticParams: d.Params}
}

// DiagnosticCommandID is the id a device is sent for diagnostic id: "d"
// and the number.
func DiagnosticCommandID(id int64) string { return "d" + strconv.FormatInt(id, 10) }
