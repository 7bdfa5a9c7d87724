package gateway

import (
	"bytes"
	"encoding/json"
	"errors"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"
)

// FuzzControlLines: the control stream a device sends on stream 1, cut
// into pieces as the transport pleases, through the reader's own code:
// lines.feed splits it, parse decodes each line, merge keeps the facts.
// As docs/device-protocol.md §2 says: lines come out whole and in order
// however the stream is cut; the first line must be a hello, and a line
// that is not a JSON object, or one longer than 64 KiB, ends the
// connection — nothing after it is acted on. What parse gives is what
// encoding/json reads, fit to store (valid UTF-8, no NUL, within the
// store's bounds), and command ids read back as written.
func FuzzControlLines(f *testing.F) {
	for _, s := range []string{
		`{"type":"hello","model":"R29C","firmware":"29.30.1.12","ip":"10.0.0.9","uptime":12,"config_version":"v1"}` + "\n" +
			`{"type":"status","uptime":13}` + "\n" + `{"type":"ack","id":"c42","ok":true,"version":"abc"}` + "\n",
		`{"type":"hello"}` + "\n" + `{"type":"ack","id":"c7","ok":false,"error":"busy"}` + "\n" + `{"type":"whatever","x":[1,{}]}` + "\n",
		`{"type":"hello"}` + "\r\n" + `  {"type":"status"}  ` + "\n\n",
		`{"type":"status"}` + "\n" + `{"type":"hello"}` + "\n", // hello must come first
		`{"type":"hello"}` + "\nnot json\n" + `{"type":"status"}` + "\n",
		`{"type":"hello"}` + "\n[1,2]\nnull\n\"hello\"\n{} {}\n",
		`{"type":"hello"}` + "\n" + `{"type":"status"`, // no newline yet
		`{"type":"hello","uptime":"long","id":7,"ok":"yes","model":1}` + "\n",
		`{"type":"hello","TYPE":"status","Model":"m","model":"n"}` + "\n",
		`{"type":"hello","model":"` + strings.Repeat("é", 40) + `"}` + "\n", // 64 bytes cut in a character
		`{"type":"hello","model":"a\u0000b","firmware":"\u0000"}` + "\n",
		`{"type":"hello","ip":"\ud800","config_version":"` + "\xff\xfe" + `"}` + "\n",
		`{"type":"hello"}` + "\n" + `{"type":"ack","id":"c0012","ok":true}` + "\n" + `{"type":"ack","id":"c99999999999999999999"}` + "\n",
		`{"type":"hello"}` + "\n" + `{"type":"ack","id":"c1","error":"` + strings.Repeat("ü", 300) + `"}` + "\n",
		`{"type":"hello"}` + "\n" + strings.Repeat("x", MaxLine) + "\n" + `{"type":"status"}` + "\n",
		`{"type":"hello"}` + "\n" + `{"type":"status","pad":"` + strings.Repeat("y", MaxLine-30) + `"}` + "\n",
		strings.Repeat("z", MaxLine+10),
		"\n",
		`{"a":` + strings.Repeat("[", 20000),
	} {
		f.Add([]byte(s), uint16(0))
		f.Add([]byte(s), uint16(1))
		f.Add([]byte(s), uint16(7))
	}
	f.Fuzz(func(t *testing.T, stream []byte, cut uint16) {
		// The lines the stream holds, up to the first one too long.
		var want [][]byte
		tooLong := false
		for rest := stream; ; {
			i := bytes.IndexByte(rest, '\n')
			if i < 0 {
				tooLong = len(rest) >= MaxLine
				break
			}
			if i+1 > MaxLine {
				tooLong = true
				break
			}
			want = append(want, rest[:i])
			rest = rest[i+1:]
		}

		c := &conn{}
		errClosed := errors.New("closed with 1008")
		var got [][]byte
		each := func(line []byte) error {
			got = append(got, bytes.Clone(line))
			m, ok := parse(line)
			checkParse(t, line, m, ok)
			if len(got) == 1 && (!ok || m.Type != "hello") || !ok {
				return errClosed
			}
			c.merge(m)
			checkState(t, c)
			if m.Type == "ack" {
				if id, ok := parseCommandID(m.ID); ok {
					if id < 1 || CommandID(id) != m.ID {
						t.Fatalf("command id %q read as %d", m.ID, id)
					}
				}
			}
			return nil
		}
		var l lines
		var err error
		n := int(cut)
		if n == 0 {
			n = len(stream)
		}
		for p := stream; len(p) > 0 && err == nil; {
			k := min(n, len(p))
			err = l.feed(p[:k], each)
			p = p[k:]
		}

		// The lines acted on: all of them, or up to the one that closes.
		closedAt := -1
		for i, line := range want {
			m, ok := parse(line)
			if !ok || i == 0 && m.Type != "hello" {
				closedAt = i
				break
			}
		}
		switch {
		case closedAt >= 0:
			want = want[:closedAt+1]
			if err != errClosed {
				t.Fatalf("line %d ends the connection, the feed says %v", closedAt+1, err)
			}
		case tooLong:
			if !errors.Is(err, errLineTooLong) {
				t.Fatalf("a line over %d bytes: %v", MaxLine, err)
			}
		case err != nil:
			t.Fatalf("feed: %v", err)
		}
		if len(got) != len(want) {
			t.Fatalf("%d lines acted on, want %d", len(got), len(want))
		}
		for i := range want {
			if !bytes.Equal(got[i], want[i]) {
				t.Fatalf("line %d came out as %q, want %q", i+1, clipb(got[i]), clipb(want[i]))
			}
		}
		if len(l.partial) >= MaxLine {
			t.Fatalf("%d bytes held for a line", len(l.partial))
		}
	})
}

// checkParse: a line is taken exactly when it is a JSON object, and
// then as encoding/json reads it, with the device's text fit to store.
func checkParse(t *testing.T, line []byte, m *message, ok bool) {
	t.Helper()
	trimmed := bytes.TrimSpace(line)
	isObject := len(trimmed) > 0 && trimmed[0] == '{' && json.Valid(trimmed)
	if ok != isObject {
		t.Fatalf("parse(%q) ok=%v, but a JSON object: %v", clipb(line), ok, isObject)
	}
	if !ok {
		return
	}
	for _, s := range []struct {
		v   *string
		max int
	}{{&m.Error, maxErrorText}, {&m.Version, maxDeviceText}, {m.Model, maxDeviceText}, {m.Firmware, maxDeviceText},
		{m.IP, maxDeviceText}, {m.ConfigVersion, maxDeviceText}} {
		if s.v != nil && !storableText(*s.v, s.max) {
			t.Fatalf("parse(%q): %q is not fit to store", clipb(line), clipb([]byte(*s.v)))
		}
	}
	// Where encoding/json reads the line into a message, parse gives the
	// same (the device's text made fit to store).
	var std message
	if json.Unmarshal(trimmed, &std) == nil {
		std.Error, std.Version = storable(std.Error, maxErrorText), storable(std.Version, maxDeviceText)
		for _, p := range []**string{&std.Model, &std.Firmware, &std.IP, &std.ConfigVersion} {
			if *p != nil {
				s := storable(**p, maxDeviceText)
				*p = &s
			}
		}
		if !reflect.DeepEqual(*m, std) {
			t.Fatalf("parse(%q) = %+v, encoding/json reads %+v", clipb(line), *m, std)
		}
	}
}

// checkState: what merge keeps, the store keeps.
func checkState(t *testing.T, c *conn) {
	t.Helper()
	for _, s := range []string{c.state.Model, c.state.Firmware, c.state.IP, c.state.ConfigVersion} {
		if !storableText(s, maxDeviceText) {
			t.Fatalf("state %q is not fit to store", clipb([]byte(s)))
		}
	}
	if c.state.Uptime < 0 {
		t.Fatalf("uptime %d", c.state.Uptime)
	}
}

func storableText(s string, max int) bool {
	return len(s) <= max && utf8.ValidString(s) && !strings.Contains(s, "\x00")
}

func clipb(b []byte) string {
	if len(b) > 200 {
		return strconv.Quote(string(b[:200])) + "…"
	}
	return string(b)
}
