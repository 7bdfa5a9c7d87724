package gateway_test

import (
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/gatehouse-dev/gatehouse/internal/gateway"
	"github.com/gatehouse-dev/gatehouse/internal/model"
)

// FuzzDiagnosticReply: whatever header line a device sends, the parser
// returns an error or a reply that is safe to store and to serve: a
// content type of the allowed ones, a plain file name, a bounded error.
func FuzzDiagnosticReply(f *testing.F) {
	for _, s := range []string{
		`{"ok":true,"content_type":"application/vnd.tcpdump.pcap","name":"capture.pcap"}`,
		`{"ok":true,"content_type":"text/html","name":"../../etc/passwd"}`,
		`{"ok":false,"error":"unsupported filter: \"vlan\""}`,
		`{"ok":true}{"ok":false}`, `{"ok":true,"name":"\u0000..\\x.txt"}`, `[]`, `{"ok":false}`, ``,
	} {
		f.Add([]byte(s))
	}
	allowed := map[string]bool{"text/plain; charset=utf-8": true, "application/vnd.tcpdump.pcap": true, "application/octet-stream": true}
	f.Fuzz(func(t *testing.T, line []byte) {
		r, err := gateway.ParseDiagnosticReply(line, model.DiagnosticLog)
		if err != nil {
			return
		}
		if !r.OK {
			if r.Error == "" || len(r.Error) > 300 || !utf8.ValidString(r.Error) {
				t.Fatalf("error %q", r.Error)
			}
			return
		}
		if !allowed[r.ContentType] {
			t.Fatalf("content type %q", r.ContentType)
		}
		if r.Name == "" || len(r.Name) > 100 || strings.HasPrefix(r.Name, ".") || strings.ContainsAny(r.Name, "/\\\"; \r\n\x00") {
			t.Fatalf("file name %q", r.Name)
		}
		if ext := map[string]string{"text/plain; charset=utf-8": ".txt", "application/vnd.tcpdump.pcap": ".pcap",
			"application/octet-stream": ".bin"}[r.ContentType]; !strings.HasSuffix(r.Name, ext) || strings.Count(r.Name, ".") != 1 {
			t.Fatalf("file name %q served as %s", r.Name, r.ContentType)
		}
	})
}

func TestDiagnosticReply(t *testing.T) {
	r, err := gateway.ParseDiagnosticReply([]byte(`{"ok":true,"content_type":"text/html","name":"../x.html"}`), model.DiagnosticPcap)
	if err != nil || r.ContentType != "application/octet-stream" || r.Name != "x.bin" {
		t.Fatalf("%+v %v", r, err)
	}
	// The device names its file, never what opens it: the extension is the
	// served content type's.
	for _, c := range []struct{ line, want string }{
		{`{"ok":true,"content_type":"text/plain","name":"syslog.html"}`, "syslog.txt"},
		{`{"ok":true,"content_type":"application/vnd.tcpdump.pcap","name":"setup.exe"}`, "setup.pcap"},
		{`{"ok":true,"content_type":"application/octet-stream","name":"a.svg"}`, "a.bin"},
		{`{"ok":true,"content_type":"text/plain","name":"run.js.txt"}`, "run.txt"},
		{`{"ok":true,"content_type":"application/vnd.tcpdump.pcap","name":"capture.pcap"}`, "capture.pcap"},
		{`{"ok":true,"content_type":"text/plain","name":".hta"}`, "log.txt"},
	} {
		if r, err := gateway.ParseDiagnosticReply([]byte(c.line), model.DiagnosticLog); err != nil || r.Name != c.want {
			t.Errorf("%s: name %q (%v), want %q", c.line, r.Name, err, c.want)
		}
	}
	r, err = gateway.ParseDiagnosticReply([]byte(`{"ok":true,"content_type":"Text/Plain"}`), model.DiagnosticPing)
	if err != nil || r.ContentType != "text/plain; charset=utf-8" || r.Name != "ping.txt" {
		t.Fatalf("%+v %v", r, err)
	}
	if _, err := gateway.ParseDiagnosticReply([]byte(`{"ok":true} {"ok":true}`), model.DiagnosticLog); err == nil {
		t.Fatal("two objects accepted")
	}
	if r, err := gateway.ParseDiagnosticReply([]byte(`{"ok":false}`), model.DiagnosticLog); err != nil || r.Error == "" {
		t.Fatalf("%+v %v", r, err)
	}
}
