package gateway

import (
	"bufio"
	"errors"
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	for _, bad := range []string{"", "not json", "[1,2]", "null", `"hello"`, `{"type":"status"`, "{} {}"} {
		if _, ok := parse([]byte(bad)); ok {
			t.Errorf("%q parsed as a control message", bad)
		}
	}
	m, ok := parse([]byte(`{"type":"hello","model":"R29C","uptime":12,"config_version":"v1","extra":{"a":1}}`))
	if !ok || m.Type != "hello" || *m.Model != "R29C" || *m.Uptime != 12 || *m.ConfigVersion != "v1" || m.IP != nil {
		t.Errorf("hello: %+v", m)
	}
	// Fields of an unexpected type are ignored, not fatal.
	m, ok = parse([]byte(`{"type":"ack","id":7,"ok":true,"uptime":"long"}`))
	if !ok || m.Type != "ack" || m.ID != "7" || !m.OK || m.Uptime != nil {
		t.Errorf("odd types: %+v %v", m, ok)
	}
	if _, ok := parseCommandID(m.ID); ok {
		t.Errorf("a numeric id taken for one of ours")
	}
	for in, want := range map[string]int64{"c1": 1, "c1042": 1042} {
		if id, ok := parseCommandID(in); !ok || id != want {
			t.Errorf("parseCommandID(%q) = %d %v", in, id, ok)
		}
	}
	for _, in := range []string{"", "c", "1042", "c-1", "c12a", "c99999999999999999999"} {
		if _, ok := parseCommandID(in); ok {
			t.Errorf("parseCommandID(%q) accepted", in)
		}
	}
}

func TestReadLine(t *testing.T) {
	long := strings.Repeat("x", 5000)
	br := bufio.NewReaderSize(strings.NewReader("short\n"+long+"\n"+strings.Repeat("y", MaxLine)+"\n"), 256)
	var scratch []byte
	if l, err := readLine(br, &scratch); err != nil || string(l) != "short" {
		t.Errorf("short line: %q %v", l, err)
	}
	if l, err := readLine(br, &scratch); err != nil || string(l) != long {
		t.Errorf("long line: %d bytes, %v", len(l), err)
	}
	// MaxLine bytes and the newline: one too many.
	if _, err := readLine(br, &scratch); !errors.Is(err, errLineTooLong) {
		t.Errorf("line over 64 KiB: %v", err)
	}
}
