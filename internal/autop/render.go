package autop

import (
	"crypto/sha256"
	"encoding/hex"
	"strconv"
	"strings"
)

// Keys the platform writes from the installer's and the project's settings.
const (
	KeyTimeZone     = "Config.Settings.SNTP.TimeZone"
	KeyTransType    = "Config.Account1.SIP.TransType"
	KeyRTPConfusion = "Config.Account1.SIP.RtpConfusion"
)

// Input is everything a device's file is made of.
type Input struct {
	MAC string // 12 upper-case hex digits
	// Platform and installer defaults: the installer's Time Zone, Connect
	// Type (default | udp | tcp | tls) and RTP Confusion.
	InstallerTimeZone string
	ConnectType       string
	RTPConfusion      bool
	// Project settings: the project's own time zone, when it has one.
	ProjectTimeZone string
	// The device's own data transmission type (remote maintenance): udp,
	// tcp or tls over the installer's Connect Type; "" follows it.
	DeviceConnectType string
	// The device's stored lists (as written by Join).
	Regular string
	Once    string
	// When the one-time list last changed (UnixMicro). With one-time
	// commands pending it is part of the version: the same commands queued
	// again after they were applied are a new version, which a device that
	// applied them before fetches (and applies) again instead of being
	// answered 304. Saves that leave the one-time list as it was keep it.
	Saved int64
}

// File is a rendered configuration file.
type File struct {
	Version string // first 16 hex digits of the SHA-256 of Body
	Body    []byte // the commands, one "key = value\n" each
	Header  string // "# Gatehouse AutoP <MAC> version <Version>\n"
}

// Bytes is the whole file as served: the header line, then the body.
func (f File) Bytes() []byte {
	out := make([]byte, 0, len(f.Header)+len(f.Body))
	out = append(out, f.Header...)
	return append(out, f.Body...)
}

// ETag is the file's HTTP entity tag: its version, quoted.
func (f File) ETag() string { return `"` + f.Version + `"` }

// TransType is the SIP transport of a Connect Type: udp 0, tcp 1, tls 2;
// ok=false for "default" (nothing is written: the device keeps its own).
func TransType(connectType string) (string, bool) {
	switch connectType {
	case "udp":
		return "0", true
	case "tcp":
		return "1", true
	case "tls":
		return "2", true
	}
	return "", false
}

// Render writes the file a device receives. Sections, later winning for the
// same key: platform and installer defaults (time zone, SIP transport, RTP
// confusion), project settings (its time zone), the device's own data
// transmission type (SIP transport), regular commands, then
// one-time commands. Each key is written once, with the value that wins, at
// the position where it first appeared — so that the file says exactly what
// the device ends with. The version is the first 16 hex digits of the
// SHA-256 of the body — and, while one-time commands are pending, of when
// they were queued (Input.Saved); the same inputs always give the same
// version.
func Render(in Input) File {
	var r renderer
	r.init(4 + Count(in.Regular) + Count(in.Once))
	if in.InstallerTimeZone != "" {
		r.set(KeyTimeZone, in.InstallerTimeZone)
	}
	if v, ok := TransType(in.ConnectType); ok {
		r.set(KeyTransType, v)
	}
	if in.RTPConfusion {
		r.set(KeyRTPConfusion, "1")
	} else {
		r.set(KeyRTPConfusion, "0")
	}
	if in.ProjectTimeZone != "" {
		r.set(KeyTimeZone, in.ProjectTimeZone)
	}
	if v, ok := TransType(in.DeviceConnectType); ok {
		r.set(KeyTransType, v)
	}
	r.stored(in.Regular)
	r.stored(in.Once)

	n := 0
	for _, e := range r.entries {
		n += len(e.key) + len(e.value) + 4
	}
	body := make([]byte, 0, n)
	for _, e := range r.entries {
		body = append(body, e.key...)
		body = append(body, " = "...)
		body = append(body, e.value...)
		body = append(body, '\n')
	}
	h := sha256.New()
	h.Write(body)
	if in.Once != "" {
		h.Write([]byte("\x00one-time commands queued at " + strconv.FormatInt(in.Saved, 10)))
	}
	var sum [sha256.Size]byte
	v := hex.EncodeToString(h.Sum(sum[:0])[:8])
	return File{Version: v, Body: body, Header: "# Gatehouse AutoP " + in.MAC + " version " + v + "\n"}
}

type entry struct{ key, value string }

// renderer collects the entries of a file, each key once. Small files (the
// usual case) look keys up by a scan; bigger ones through a map.
type renderer struct {
	entries []entry
	index   map[string]int
}

func (r *renderer) init(n int) {
	r.entries = make([]entry, 0, n)
	if n > 16 {
		r.index = make(map[string]int, n)
	}
}

func (r *renderer) set(key, value string) {
	if r.index != nil {
		if i, ok := r.index[key]; ok {
			r.entries[i].value = value
			return
		}
		r.index[key] = len(r.entries)
	} else {
		for i := range r.entries {
			if r.entries[i].key == key {
				r.entries[i].value = value
				return
			}
		}
	}
	r.entries = append(r.entries, entry{key, value})
}

// stored adds a list as written by Join.
func (r *renderer) stored(text string) {
	for text != "" {
		line := text
		if i := strings.IndexByte(text, '\n'); i >= 0 {
			line, text = text[:i], text[i+1:]
		} else {
			text = ""
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			continue
		}
		r.set(strings.TrimSpace(k), strings.TrimSpace(v))
	}
}
