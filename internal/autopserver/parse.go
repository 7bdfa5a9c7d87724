package autopserver

import (
	"bytes"
	"encoding/base64"
	"unsafe"
)

// The front door's request parser: it recognizes the one request the
// front door answers and nothing else. It never rejects: whatever it does
// not recognize (verdict pass) goes to net/http, which answers it (a 400
// included) as it always did. So it may be strict — stricter than HTTP
// allows — but never laxer than net/http: a request it accepts must be one
// net/http reads the same way.

// verdict is what the parser made of the bytes read so far.
type verdict int

const (
	needMore verdict = iota // a prefix of a request the front door may answer
	pass                    // not one for the front door: net/http's
	whole                   // a request the front door answers, parsed
)

// leanHeaderMax bounds the header lines of a request the front door reads.
const leanHeaderMax = 64

// leanRequest is a parsed request: slices of the read buffer.
type leanRequest struct {
	head        bool   // HEAD, else GET
	path        []byte // /autop/{MAC}.cfg
	mac         []byte // 12 upper-case hex digits
	host        []byte
	auth        []byte // the Authorization header's value
	ifNoneMatch []byte // nil: none
}

var (
	getPrefix  = []byte("GET /autop/")
	headPrefix = []byte("HEAD /autop/")
	crlf       = []byte("\r\n")
)

// parseRequest reads a request from the start of b: whole with its length,
// needMore, or pass.
func parseRequest(b []byte, r *leanRequest) (int, verdict) {
	// Decide as early as the first bytes allow, so that another request (a
	// device's WebSocket, a page) goes to net/http without waiting for its head.
	var rest []byte
	switch {
	case bytes.HasPrefix(b, getPrefix):
		rest = b[len("GET "):]
	case bytes.HasPrefix(b, headPrefix):
		rest, r.head = b[len("HEAD "):], true
	case bytes.HasPrefix(getPrefix, b) || bytes.HasPrefix(headPrefix, b):
		return 0, needMore
	default:
		return 0, pass
	}
	// The request line: /autop/{MAC}.cfg HTTP/1.1
	const target = len("/autop/XXXXXXXXXXXX.cfg")
	const line = target + len(" HTTP/1.1\r\n")
	if !requestLinePrefix(rest[:min(len(rest), line)]) {
		return 0, pass
	}
	if len(rest) < line {
		return 0, needMore
	}
	r.path = rest[:target]
	r.mac = rest[len("/autop/") : target-len(".cfg")]
	// The header lines, up to the empty one.
	at := len(b) - len(rest) + line
	var hosts, auths, inms int
	for n := 0; ; n++ {
		i := bytes.Index(b[at:], crlf)
		if i < 0 {
			if len(b)-at > 0 && !headerPrefixOK(b[at:]) {
				return 0, pass
			}
			return 0, needMore
		}
		h := b[at : at+i]
		at += i + 2
		if len(h) == 0 {
			break
		}
		if n == leanHeaderMax {
			return 0, pass
		}
		colon := bytes.IndexByte(h, ':')
		if colon <= 0 {
			return 0, pass // no name, or folded (a name would not begin with a space)
		}
		name, value := h[:colon], trimSpace(h[colon+1:])
		for _, c := range name {
			if !tokenChar(c) {
				return 0, pass
			}
		}
		for _, c := range value {
			if c < ' ' && c != '\t' || c == 0x7f {
				return 0, pass
			}
		}
		switch {
		case equalFold(name, "Host"):
			hosts++
			r.host = value
		case equalFold(name, "Authorization"):
			auths++
			r.auth = value
		case equalFold(name, "If-None-Match"):
			inms++
			r.ifNoneMatch = value
		case equalFold(name, "Connection"):
			if !equalFold(value, "keep-alive") {
				return 0, pass
			}
		case equalFold(name, "Content-Length"), equalFold(name, "Transfer-Encoding"), equalFold(name, "Expect"),
			equalFold(name, "Upgrade"), equalFold(name, "Trailer"), equalFold(name, "TE"):
			return 0, pass // a body, or a conversation the front door does not have
		}
	}
	if hosts != 1 || auths != 1 || inms > 1 || !validHost(r.host) {
		return 0, pass
	}
	return at, whole
}

// requestLinePrefix: is b (at most a request line) a prefix of
// "/autop/{12 upper-case hex digits}.cfg HTTP/1.1\r\n"?
func requestLinePrefix(b []byte) bool {
	const tail = ".cfg HTTP/1.1\r\n"
	for i, c := range b {
		switch {
		case i < len("/autop/"):
			if c != "/autop/"[i] {
				return false
			}
		case i < len("/autop/XXXXXXXXXXXX"):
			if !upperHex(c) {
				return false
			}
		default:
			if c != tail[i-len("/autop/XXXXXXXXXXXX")] {
				return false
			}
		}
	}
	return true
}

// headerPrefixOK: can b (a header line not yet ended) still be one the
// parser accepts? Stops a head that cannot be answered early.
func headerPrefixOK(b []byte) bool {
	b = bytes.TrimSuffix(b, []byte("\r")) // the line's end, begun
	colon := bytes.IndexByte(b, ':')
	name := b
	if colon >= 0 {
		name = b[:colon]
	}
	for _, c := range name {
		if !tokenChar(c) {
			return false
		}
	}
	if colon >= 0 {
		for _, c := range b[colon+1:] {
			if c < ' ' && c != '\t' || c == 0x7f {
				return false
			}
		}
	}
	return true
}

func upperHex(c byte) bool { return c >= '0' && c <= '9' || c >= 'A' && c <= 'F' }

// tokenChar: a byte of a header name (RFC 9110 token).
func tokenChar(c byte) bool {
	switch {
	case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		return true
	}
	switch c {
	case '!', '#', '$', '%', '&', '\'', '*', '+', '-', '.', '^', '_', '`', '|', '~':
		return true
	}
	return false
}

// validHost: a host name, IPv4 or bracketed IPv6 address, with a port —
// a strict subset of what net/http accepts.
func validHost(h []byte) bool {
	if len(h) == 0 || len(h) > 255 {
		return false
	}
	for _, c := range h {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '-' || c == ':' || c == '[' || c == ']') {
			return false
		}
	}
	return true
}

func trimSpace(b []byte) []byte {
	for len(b) > 0 && (b[0] == ' ' || b[0] == '\t') {
		b = b[1:]
	}
	for len(b) > 0 && (b[len(b)-1] == ' ' || b[len(b)-1] == '\t') {
		b = b[:len(b)-1]
	}
	return b
}

// equalFold is strings.EqualFold for ASCII, of bytes and a string.
func equalFold(b []byte, s string) bool {
	if len(b) != len(s) {
		return false
	}
	for i := range len(b) {
		x, y := b[i], s[i]
		if x >= 'A' && x <= 'Z' {
			x += 'a' - 'A'
		}
		if y >= 'A' && y <= 'Z' {
			y += 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}

// decodeBasic decodes Basic credentials into buf: user and key are slices
// of it. False for anything but "Basic " and base64 of user:key that fits.
func decodeBasic(auth, buf []byte) (user, key []byte, ok bool) {
	const prefix = "Basic "
	if len(auth) < len(prefix) || !equalFold(auth[:len(prefix)], prefix) {
		return nil, nil, false
	}
	enc := auth[len(prefix):]
	if base64.StdEncoding.DecodedLen(len(enc)) > len(buf) {
		return nil, nil, false
	}
	n, err := base64.StdEncoding.Decode(buf, enc)
	if err != nil {
		return nil, nil, false
	}
	user, key, ok = bytes.Cut(buf[:n], []byte(":"))
	return user, key, ok
}

// bytesString views b as a string without a copy: only for a call that
// neither keeps it nor outlives b's next change (the front door's buffers
// are rewritten by the next read).
func bytesString(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	return unsafe.String(&b[0], len(b))
}
