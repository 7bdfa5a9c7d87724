package gateway

import (
	"bytes"
	"encoding/binary"
	"errors"
	"testing"
)

// clientFrame is a frame as a client sends it: masked with key.
func clientFrame(fin bool, op byte, key [4]byte, payload []byte) []byte {
	b0 := op
	if fin {
		b0 |= 0x80
	}
	b := []byte{b0}
	switch n := len(payload); {
	case n <= 125:
		b = append(b, 0x80|byte(n))
	case n <= 0xffff:
		b = binary.BigEndian.AppendUint16(append(b, 0x80|126), uint16(n))
	default:
		b = binary.BigEndian.AppendUint64(append(b, 0x80|127), uint64(n))
	}
	b = append(b, key[:]...)
	for i, c := range payload {
		b = append(b, c^key[i%4])
	}
	return b
}

// wsRecorder records what a wsReader hands on.
type wsRecorder struct {
	data     []byte
	controls []string // op and payload
}

func (r *wsRecorder) wsData(p []byte) error { r.data = append(r.data, p...); return nil }
func (r *wsRecorder) wsControl(op byte, payload []byte) error {
	r.controls = append(r.controls, string(rune('0'+op))+string(payload))
	return nil
}

// feedPieces feeds in to a fresh reader in pieces of cut bytes.
func feedPieces(in []byte, cut int) (*wsRecorder, error) {
	var r wsReader
	rec := &wsRecorder{}
	in = bytes.Clone(in) // feed unmasks in place
	for len(in) > 0 {
		n := min(cut, len(in))
		if err := r.feed(in[:n], rec); err != nil {
			return rec, err
		}
		in = in[n:]
	}
	return rec, nil
}

// TestWSReader: masked frames of every length encoding, fragmented
// messages with control frames between the fragments, however the bytes
// are cut.
func TestWSReader(t *testing.T) {
	key := [4]byte{0x12, 0x34, 0x56, 0x78}
	mid := bytes.Repeat([]byte("m"), 300)
	big := bytes.Repeat([]byte("b"), 70000)
	var in []byte
	in = append(in, clientFrame(true, opBinary, key, []byte("short"))...)
	in = append(in, clientFrame(true, opBinary, key, nil)...)
	in = append(in, clientFrame(false, opBinary, key, mid)...)
	in = append(in, clientFrame(true, opPing, key, []byte("p1"))...)
	in = append(in, clientFrame(false, opContinuation, key, []byte("-cont-"))...)
	in = append(in, clientFrame(true, opPong, key, nil)...)
	in = append(in, clientFrame(true, opContinuation, key, big)...)
	in = append(in, clientFrame(true, opClose, key, []byte{0x03, 0xe8, 'b', 'y', 'e'})...)
	want := append(append(append([]byte("short"), mid...), "-cont-"...), big...)
	for _, cut := range []int{1, 2, 3, 7, 14, 1000, len(in)} {
		rec, err := feedPieces(in, cut)
		if err != nil {
			t.Fatalf("pieces of %d: %v", cut, err)
		}
		if !bytes.Equal(rec.data, want) {
			t.Fatalf("pieces of %d: %d bytes of data, want %d", cut, len(rec.data), len(want))
		}
		if got := rec.controls; len(got) != 3 || got[0] != "9p1" || got[1] != ":" || got[2] != "8\x03\xe8bye" {
			t.Fatalf("pieces of %d: control frames %q", cut, got)
		}
	}
}

// TestWSReaderBreaches: what the device hears for each breach of the
// protocol, as the library the gateway used before answered.
func TestWSReaderBreaches(t *testing.T) {
	key := [4]byte{1, 2, 3, 4}
	unmasked := clientFrame(true, opBinary, key, []byte("x"))
	unmasked[1] &^= 0x80
	rsv := clientFrame(true, opBinary, key, []byte("x"))
	rsv[0] |= 0x40
	tooBig := clientFrame(true, opBinary, key, nil)[:2]
	tooBig[1] = 0x80 | 127
	tooBig = append(binary.BigEndian.AppendUint64(tooBig, MaxMessage+1), key[:]...)
	for _, c := range []struct {
		name string
		in   []byte
		code closeCode
	}{
		{"unmasked", unmasked, closeProtocolError},
		{"rsv bits", rsv, closeProtocolError},
		{"text", clientFrame(true, opText, key, []byte("{}")), closeUnsupported},
		{"unknown opcode", clientFrame(true, 0x3, key, nil), closeProtocolError},
		{"continuation first", clientFrame(true, opContinuation, key, []byte("x")), closeProtocolError},
		{"new message inside one", append(clientFrame(false, opBinary, key, []byte("a")), clientFrame(true, opBinary, key, []byte("b"))...), closeProtocolError},
		{"fragmented ping", clientFrame(false, opPing, key, nil), closeProtocolError},
		{"long ping", clientFrame(true, opPing, key, make([]byte, 126)), closeProtocolError},
		{"message over MaxMessage", tooBig, closeTooBig},
		{"fragments over MaxMessage", append(clientFrame(false, opBinary, key, make([]byte, MaxMessage)), clientFrame(true, opContinuation, key, []byte("x"))...), closeTooBig},
	} {
		_, err := feedPieces(c.in, 3)
		var we *wsError
		if !errors.As(err, &we) || we.code != c.code {
			t.Errorf("%s: %v, want close %d", c.name, err, c.code)
		}
	}
	// Exactly MaxMessage, in fragments, is a message.
	in := append(clientFrame(false, opBinary, key, make([]byte, MaxMessage-1)), clientFrame(true, opContinuation, key, []byte("x"))...)
	if rec, err := feedPieces(in, 4096); err != nil || len(rec.data) != MaxMessage {
		t.Errorf("a message of MaxMessage: %v, %d bytes", err, len(rec.data))
	}
}

// FuzzWSReader: any bytes, cut anyhow: the reader ends in a breach or
// hands on at most what came, never panics, and hands on the same however
// the bytes are cut; a control frame's payload is at most 125 bytes.
func FuzzWSReader(f *testing.F) {
	key := [4]byte{9, 8, 7, 6}
	f.Add(clientFrame(true, opBinary, key, []byte("hello")), uint8(1))
	f.Add(append(clientFrame(false, opBinary, key, []byte("he")), clientFrame(true, opContinuation, key, []byte("llo"))...), uint8(3))
	f.Add(clientFrame(true, opPing, key, []byte("ping")), uint8(2))
	f.Add(clientFrame(true, opClose, key, []byte{3, 232}), uint8(5))
	f.Add(clientFrame(true, opBinary, key, make([]byte, 300)), uint8(7))
	f.Add([]byte{0x82, 0xff, 0x80, 0, 0, 0, 0, 0, 0, 0, 1, 2, 3, 4}, uint8(0))
	f.Fuzz(func(t *testing.T, in []byte, cut uint8) {
		whole, werr := feedPieces(in, len(in)+1)
		pieces, perr := feedPieces(in, int(cut)+1)
		if (werr == nil) != (perr == nil) {
			t.Fatalf("whole: %v; in pieces of %d: %v", werr, cut+1, perr)
		}
		for _, err := range []error{werr, perr} {
			var we *wsError
			if err != nil && !errors.As(err, &we) {
				t.Fatalf("not a breach: %v", err)
			}
		}
		if werr == nil && (!bytes.Equal(whole.data, pieces.data) || len(whole.controls) != len(pieces.controls)) {
			t.Fatalf("whole and in pieces differ: %d/%d bytes, %d/%d control frames", len(whole.data), len(pieces.data),
				len(whole.controls), len(pieces.controls))
		}
		if len(whole.data) > len(in) {
			t.Fatalf("%d bytes handed on from %d", len(whole.data), len(in))
		}
		for _, c := range append(whole.controls, pieces.controls...) {
			if len(c) > 1+wsMaxControlPayload {
				t.Fatalf("control frame of %d bytes", len(c)-1)
			}
		}
	})
}

// TestWSServerFrames: the frames the server writes, by length.
func TestWSServerFrames(t *testing.T) {
	for _, n := range []int{0, 125, 126, 0xffff, 0x10000} {
		f := wsFrame(opBinary, make([]byte, n))
		if f[0] != 0x80|opBinary || f[1]&0x80 != 0 || len(f) != wsHeaderLen(n)+n {
			t.Errorf("%d bytes: header % x, length %d", n, f[:min(len(f), 10)], len(f))
		}
	}
	if f := wsCloseFrame(closePolicy, string(make([]byte, 200))); len(f) != 2+125 || binary.BigEndian.Uint16(f[2:]) != uint16(closePolicy) {
		t.Errorf("close frame: %d bytes", len(f))
	}
	// RFC 6455 §1.3's example.
	if got := wsAcceptKey("dGhlIHNhbXBsZSBub25jZQ=="); got != "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=" {
		t.Errorf("accept key %q", got)
	}
}
