package gateway

import (
	"crypto/sha1"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"net/http"
	"strings"
)

// The server side of WebSocket (RFC 6455) as devices use it
// (docs/device-protocol.md §3): binary messages, no extensions. The
// frames are parsed push-style, from whatever bytes the socket gave, so
// that an idle connection holds neither a goroutine nor a buffer: only a
// frame cut in the middle of its header (or a control frame cut anywhere)
// keeps a few bytes.

// closeCode is a WebSocket close code.
type closeCode uint16

// Close codes (RFC 6455 §7.4, and the gateway's own 4xxx).
const (
	closeNormal         closeCode = 1000
	closeGoingAway      closeCode = 1001
	closeProtocolError  closeCode = 1002
	closeUnsupported    closeCode = 1003
	closePolicy         closeCode = 1008
	closeTooBig         closeCode = 1009
	closeTryAgainLater  closeCode = 1013
	wsMaxControlPayload           = 125
)

// Opcodes.
const (
	opContinuation = 0x0
	opText         = 0x1
	opBinary       = 0x2
	opClose        = 0x8
	opPing         = 0x9
	opPong         = 0xa
)

// wsError is a breach of the protocol by the device: the connection
// closes with code.
type wsError struct {
	code   closeCode
	reason string
}

func (e *wsError) Error() string { return fmt.Sprintf("websocket: %s (%d)", e.reason, e.code) }

// wsHandler takes what the frames carry.
type wsHandler interface {
	// wsData takes the next bytes of a binary message, unmasked (valid
	// until it returns).
	wsData(p []byte) error
	// wsControl takes a whole ping, pong or close frame's payload.
	wsControl(op byte, payload []byte) error
}

// wsReader parses the frames a client sends: masked, possibly fragmented,
// with control frames between the fragments; messages at most MaxMessage.
type wsReader struct {
	hdr    [14]byte
	hn     uint8 // header bytes so far
	op     uint8 // the frame being read: its opcode
	fin    bool
	mask   [4]byte
	mpos   uint8
	left   uint64 // its payload still to come
	inMsg  bool   // a fragmented binary message is under way
	msgLen uint64 // its payload so far
	ctl    []byte // a control frame's payload, while it comes
}

// headerLen is the length of the header whose first two bytes are b0, b1.
func headerLen(b1 byte) int {
	switch b1 & 0x7f {
	case 126:
		return 2 + 2 + 4
	case 127:
		return 2 + 8 + 4
	}
	return 2 + 4
}

// feed parses p (which it unmasks in place) and hands what it carries to
// h. An error ends the connection: a *wsError for the device's breach,
// else h's.
func (r *wsReader) feed(p []byte, h wsHandler) error {
	for len(p) > 0 {
		if r.left == 0 {
			// A header, byte by byte until its length is known.
			need := 2
			if r.hn >= 2 {
				need = headerLen(r.hdr[1])
			}
			k := copy(r.hdr[r.hn:need], p)
			r.hn += uint8(k)
			p = p[k:]
			if int(r.hn) < need {
				continue
			}
			if need == 2 {
				if r.hdr[1]&0x80 == 0 {
					return &wsError{closeProtocolError, "received unmasked frame from client"}
				}
				if headerLen(r.hdr[1]) > 2 {
					continue
				}
			}
			if err := r.header(); err != nil {
				return err
			}
			if r.left == 0 {
				if err := r.frameEnd(h); err != nil {
					return err
				}
			}
			continue
		}
		k := uint64(len(p))
		if k > r.left {
			k = r.left
		}
		chunk := p[:k]
		p = p[k:]
		for i := range chunk {
			chunk[i] ^= r.mask[r.mpos&3]
			r.mpos++
		}
		r.left -= k
		if r.op >= opClose {
			r.ctl = append(r.ctl, chunk...)
		} else if err := h.wsData(chunk); err != nil {
			return err
		}
		if r.left == 0 {
			if err := r.frameEnd(h); err != nil {
				return err
			}
		}
	}
	return nil
}

// header takes the complete header in hdr.
func (r *wsReader) header() error {
	b0, b1 := r.hdr[0], r.hdr[1]
	n := headerLen(b1)
	r.hn = 0
	r.fin, r.op, r.mpos = b0&0x80 != 0, b0&0x0f, 0
	if b0&0x70 != 0 {
		return &wsError{closeProtocolError, "received header with unexpected rsv bits set"}
	}
	var length uint64
	switch b1 & 0x7f {
	case 126:
		length = uint64(binary.BigEndian.Uint16(r.hdr[2:]))
	case 127:
		length = binary.BigEndian.Uint64(r.hdr[2:])
		if length>>63 != 0 {
			return &wsError{closeProtocolError, "received invalid payload length"}
		}
	default:
		length = uint64(b1 & 0x7f)
	}
	copy(r.mask[:], r.hdr[n-4:n])
	switch r.op {
	case opClose, opPing, opPong:
		if !r.fin {
			return &wsError{closeProtocolError, "received fragmented control frame"}
		}
		if length > wsMaxControlPayload {
			return &wsError{closeProtocolError, "received control frame payload with invalid length"}
		}
	case opContinuation:
		if !r.inMsg {
			return &wsError{closeProtocolError, "received continuation frame without text or binary frame"}
		}
	case opText:
		// The device protocol is binary messages only.
		return &wsError{closeUnsupported, "unexpected frame type read (expected MessageBinary): MessageText"}
	case opBinary:
		if r.inMsg {
			return &wsError{closeProtocolError, "received new data message without finishing the previous message"}
		}
		r.inMsg, r.msgLen = true, 0
	default:
		return &wsError{closeProtocolError, fmt.Sprintf("received unknown opcode %#x", r.op)}
	}
	if r.op < opClose {
		if length > MaxMessage-r.msgLen {
			return &wsError{closeTooBig, fmt.Sprintf("read limited at %d bytes", MaxMessage+1)}
		}
		r.msgLen += length
	}
	r.left = length
	return nil
}

// frameEnd acts on the end of a frame.
func (r *wsReader) frameEnd(h wsHandler) error {
	if r.op >= opClose {
		ctl := r.ctl
		r.ctl = nil
		return h.wsControl(r.op, ctl)
	}
	if r.fin {
		r.inMsg, r.msgLen = false, 0
	}
	return nil
}

// wsFrame is a server frame (unmasked) of op carrying the parts of payload.
func wsFrame(op byte, payload ...[]byte) []byte {
	n := 0
	for _, p := range payload {
		n += len(p)
	}
	b := make([]byte, 0, wsHeaderLen(n)+n)
	b = appendWSHeader(b, op, n)
	for _, p := range payload {
		b = append(b, p...)
	}
	return b
}

// wsHeaderLen is the length of a server frame's header for n bytes.
func wsHeaderLen(n int) int {
	switch {
	case n <= 125:
		return 2
	case n <= 0xffff:
		return 4
	}
	return 10
}

func appendWSHeader(b []byte, op byte, n int) []byte {
	b = append(b, 0x80|op)
	switch {
	case n <= 125:
		return append(b, byte(n))
	case n <= 0xffff:
		return binary.BigEndian.AppendUint16(append(b, 126), uint16(n))
	}
	return binary.BigEndian.AppendUint64(append(b, 127), uint64(n))
}

// wsCloseFrame is a close frame with code and reason (cut to fit).
func wsCloseFrame(code closeCode, reason string) []byte {
	if len(reason) > wsMaxControlPayload-2 {
		reason = reason[:wsMaxControlPayload-2]
	}
	return wsFrame(opClose, binary.BigEndian.AppendUint16(nil, uint16(code)), []byte(reason))
}

// wsAcceptKey is Sec-WebSocket-Accept for the client's key.
func wsAcceptKey(key string) string {
	h := sha1.New()
	h.Write([]byte(key))
	h.Write([]byte("258EAFA5-E914-47DA-95CA-C5AB0DC85B11"))
	return base64.StdEncoding.EncodeToString(h.Sum(nil))
}

// wsUpgrade answers a request that is not a WebSocket handshake as the
// WebSocket library the gateway used before did (and as devices have seen
// since): false when it answered.
func wsUpgrade(w http.ResponseWriter, r *http.Request) bool {
	fail := func(code int, err string) bool {
		http.Error(w, err, code)
		return false
	}
	upgrade := func() {
		w.Header().Set("Connection", "Upgrade")
		w.Header().Set("Upgrade", "websocket")
	}
	if !r.ProtoAtLeast(1, 1) {
		return fail(http.StatusUpgradeRequired, fmt.Sprintf("WebSocket protocol violation: handshake request must be at least HTTP/1.1: %q", r.Proto))
	}
	if !headerHasToken(r.Header, "Connection", "Upgrade") {
		upgrade()
		return fail(http.StatusUpgradeRequired, fmt.Sprintf("WebSocket protocol violation: Connection header %q does not contain Upgrade", r.Header.Get("Connection")))
	}
	if !headerHasToken(r.Header, "Upgrade", "websocket") {
		upgrade()
		return fail(http.StatusUpgradeRequired, fmt.Sprintf("WebSocket protocol violation: Upgrade header %q does not contain websocket", r.Header.Get("Upgrade")))
	}
	if r.Method != "GET" {
		return fail(http.StatusMethodNotAllowed, fmt.Sprintf("WebSocket protocol violation: handshake request method is not GET but %q", r.Method))
	}
	if r.Header.Get("Sec-WebSocket-Version") != "13" {
		w.Header().Set("Sec-WebSocket-Version", "13")
		return fail(http.StatusBadRequest, fmt.Sprintf("unsupported WebSocket protocol version (only 13 is supported): %q", r.Header.Get("Sec-WebSocket-Version")))
	}
	keys := r.Header.Values("Sec-WebSocket-Key")
	if len(keys) == 0 {
		return fail(http.StatusBadRequest, "WebSocket protocol violation: missing Sec-WebSocket-Key")
	}
	if len(keys) > 1 {
		return fail(http.StatusBadRequest, "WebSocket protocol violation: multiple Sec-WebSocket-Key headers")
	}
	key := strings.TrimSpace(keys[0])
	if v, err := base64.StdEncoding.DecodeString(key); err != nil || len(v) != 16 {
		return fail(http.StatusBadRequest, fmt.Sprintf("WebSocket protocol violation: invalid Sec-WebSocket-Key %q, must be a 16 byte base64 encoded string", key))
	}
	if !canHijack(w) {
		return fail(http.StatusNotImplemented, http.StatusText(http.StatusNotImplemented))
	}
	w.Header().Set("Upgrade", "websocket")
	w.Header().Set("Connection", "Upgrade")
	w.Header().Set("Sec-WebSocket-Accept", wsAcceptKey(key))
	w.Header().Set("Sec-WebSocket-Protocol", Subprotocol)
	return true
}

// canHijack reports whether w (or one it wraps) can be hijacked.
func canHijack(w http.ResponseWriter) bool {
	for {
		if _, ok := w.(http.Hijacker); ok {
			return true
		}
		u, ok := w.(interface{ Unwrap() http.ResponseWriter })
		if !ok {
			return false
		}
		w = u.Unwrap()
	}
}

func headerHasToken(h http.Header, key, token string) bool {
	for _, v := range h.Values(key) {
		for _, t := range strings.Split(v, ",") {
			if strings.EqualFold(strings.TrimSpace(t), token) {
				return true
			}
		}
	}
	return false
}

var errWSClosed = errors.New("websocket: the connection is closing")
