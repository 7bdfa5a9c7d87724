package autop_test

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/autop"
	"github.com/gatehouse-dev/gatehouse/internal/model"
)

// refused asserts err is a 400 naming field with a message starting "line N:".
func refused(t *testing.T, err error, field string, line int, about string) {
	t.Helper()
	if model.ErrorCode(err) != model.EINVALID {
		t.Fatalf("want invalid, got %v", err)
	}
	msg := model.ErrorFields(err)[field]
	prefix := fmt.Sprintf("line %d: ", line)
	if !strings.HasPrefix(msg, prefix) {
		t.Errorf("field %q: want %q…, got %q (all: %v)", field, prefix, msg, model.ErrorFields(err))
	}
	if !strings.Contains(msg, about) {
		t.Errorf("field %q: message %q does not say %q", field, msg, about)
	}
}

func TestParseAcceptsTheLineForm(t *testing.T) {
	cmds, err := autop.Parse("regular", []string{
		"Config.DoorSetting.RELAY.HoldDelayA=7",
		"  Config.Settings.SNTP.TimeZone   =   +01:00  ",
		"",
		"   ",
		"Config.Account1.SIP.Server = sip.example.com:5060",
		"Config.Settings.WEB.Banner =",                   // an empty value
		"Config.Settings.WEB.Motto = a = b",              // "=" inside the value
		"Config.A_1.B2.C_3.D4 = deep",                    // more than 4 parts
		"Config.Settings.WEB.Title = Häuser – Überblick", // any text in the value
	})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"Config.DoorSetting.RELAY.HoldDelayA = 7",
		"Config.Settings.SNTP.TimeZone = +01:00",
		"Config.Account1.SIP.Server = sip.example.com:5060",
		"Config.Settings.WEB.Banner = ",
		"Config.Settings.WEB.Motto = a = b",
		"Config.A_1.B2.C_3.D4 = deep",
		"Config.Settings.WEB.Title = Häuser – Überblick",
	}
	if got := autop.Lines(cmds); !slices.Equal(got, want) {
		t.Errorf("normalised lines:\n got %q\nwant %q", got, want)
	}
	// Line numbers are the typed ones: blank lines count.
	if cmds[2].Line != 5 {
		t.Errorf("line of the SIP server: %d, want 5", cmds[2].Line)
	}
}

func TestParseRefusesBadLinesByNumber(t *testing.T) {
	ok := "Config.DoorSetting.RELAY.HoldDelayA = 7"
	cases := []struct {
		name  string
		line  string
		about string
	}{
		{"no equals sign", "Config.DoorSetting.RELAY.HoldDelayA 7", "not a command"},
		{"three parts", "Config.DoorSetting.HoldDelayA = 7", "not of the form"},
		{"not Config", "Setting.DoorSetting.RELAY.HoldDelayA = 7", "not of the form"},
		{"lower-case config", "config.DoorSetting.RELAY.HoldDelayA = 7", "not of the form"},
		{"empty part", "Config.DoorSetting..HoldDelayA = 7", "not of the form"},
		{"space in key", "Config.Door Setting.RELAY.HoldDelayA = 7", "not of the form"},
		{"hyphen in key", "Config.Door-Setting.RELAY.HoldDelayA = 7", "not of the form"},
		{"no key", "= 7", "key before"},
		{"comment", "# a comment", "not a command"},
		{"tab", "Config.DoorSetting.RELAY.HoldDelayA =\t7", "control character"},
		{"escape", "Config.DoorSetting.RELAY.HoldDelayA = 7\x1b[0m", "control character"},
		{"newline inside an API line", "Config.DoorSetting.RELAY.HoldDelayA = 7\nConfig.X.Y.Z = 1", "control character"},
		{"DEL", "Config.DoorSetting.RELAY.HoldDelayA = 7\x7f", "control character"},
		{"C1 control", "Config.DoorSetting.RELAY.HoldDelayA = 7\u0085", "control character"},
		{"invalid UTF-8", "Config.DoorSetting.RELAY.HoldDelayA = \xff", "UTF-8"},
		{"1,025 characters", "Config.Settings.WEB.Note = " + strings.Repeat("x", 1025-len("Config.Settings.WEB.Note = ")), "1025 characters"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := autop.Parse("once", []string{ok, "", c.line, ok})
			refused(t, err, "once", 3, c.about)
		})
	}
	// Exactly 1,024 characters (not bytes) is fine.
	long := "Config.Settings.WEB.Note = " + strings.Repeat("ü", 1024-len("Config.Settings.WEB.Note = "))
	if _, err := autop.Parse("regular", []string{long}); err != nil {
		t.Errorf("a line of 1,024 characters: %v", err)
	}
}

func TestParseLimitsCommands(t *testing.T) {
	var lines []string
	for i := 0; i < autop.MaxCommands; i++ {
		lines = append(lines, fmt.Sprintf("Config.Test.ITEMS.Item%d = %d", i, i))
	}
	// Repeats do not count: they are not kept.
	lines = append(lines, lines[0], "", lines[1])
	if cmds, err := autop.Parse("regular", lines); err != nil || len(cmds) != autop.MaxCommands {
		t.Fatalf("1,000 commands with repeats: %d %v", len(cmds), err)
	}
	lines = append(lines, "Config.Test.ITEMS.OneTooMany = 1")
	_, err := autop.Parse("regular", lines)
	refused(t, err, "regular", len(lines), "more than 1,000 commands")
}

func TestNormalizeKeepsLastValueAtFirstPosition(t *testing.T) {
	cmds, err := autop.Parse("regular", []string{
		"Config.A.B.C = 1",
		"Config.X.Y.Z = first",
		"Config.A.B.C = 1", // exact repeat: dropped
		"Config.A.B.C=2",   // same key: last value wins, stays first
		"Config.M.N.O = 3",
		"Config.X.Y.Z = last",
	})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"Config.A.B.C = 2", "Config.X.Y.Z = last", "Config.M.N.O = 3"}
	if got := autop.Lines(cmds); !slices.Equal(got, want) {
		t.Errorf("got %q, want %q", got, want)
	}
	if cmds[0].Line != 4 || cmds[1].Line != 6 {
		t.Errorf("a kept value carries the line it came from: %+v", cmds)
	}
	// Keys are case-sensitive, as the device reads them.
	cmds, _ = autop.Parse("regular", []string{"Config.A.B.C = 1", "Config.a.b.c = 1"})
	if len(cmds) != 2 {
		t.Errorf("keys differing in case are different keys: %v", autop.Lines(cmds))
	}
}

func TestMerge(t *testing.T) {
	list := autop.Stored(autop.Join([]autop.Command{{Key: "Config.A.B.C", Value: "1"}, {Key: "Config.D.E.F", Value: "2"}}))
	add, _ := autop.Parse("commands", []string{"Config.G.H.I = 3", "Config.A.B.C = 9", "Config.D.E.F = 2"})
	got := autop.Lines(autop.Merge(list, add))
	want := []string{"Config.A.B.C = 9", "Config.D.E.F = 2", "Config.G.H.I = 3"}
	if !slices.Equal(got, want) {
		t.Errorf("merge: got %q, want %q", got, want)
	}
	// Stored round trip, and the empty list.
	if autop.Stored("") != nil || autop.Count("") != 0 || len(autop.StoredLines("")) != 0 {
		t.Error("the empty list")
	}
	if j := autop.Join(add); autop.Count(j) != 3 || !slices.Equal(autop.Lines(autop.Stored(j)), autop.Lines(add)) {
		t.Errorf("round trip of %q", j)
	}
}

func TestSplitText(t *testing.T) {
	got := autop.SplitText("a\r\nb\rc\n\nd")
	if !slices.Equal(got, []string{"a", "b", "c", "", "d"}) {
		t.Errorf("split: %q", got)
	}
	if autop.SplitText("") != nil {
		t.Error("empty text has no lines")
	}
}

func TestRenderOrderAndDefaults(t *testing.T) {
	in := autop.Input{
		MAC:               "0C1105AABBCC",
		InstallerTimeZone: "Europe/Berlin",
		ConnectType:       "tcp",
		RTPConfusion:      true,
		Regular:           "Config.DoorSetting.RELAY.HoldDelayA = 5\nConfig.Account1.SIP.TransType = 2\nConfig.Settings.WEB.Title = regular",
		Once:              "Config.Settings.WEB.Title = once\nConfig.Settings.REBOOT.Now = 1",
	}
	f := autop.Render(in)
	body := string(f.Body)
	want := "Config.Settings.SNTP.TimeZone = Europe/Berlin\n" +
		"Config.Account1.SIP.TransType = 2\n" + // regular beats Connect Type, in the place it first had
		"Config.Account1.SIP.RtpConfusion = 1\n" +
		"Config.DoorSetting.RELAY.HoldDelayA = 5\n" +
		"Config.Settings.WEB.Title = once\n" + // one-time beats regular
		"Config.Settings.REBOOT.Now = 1\n"
	if body != want {
		t.Errorf("body:\n%s\nwant:\n%s", body, want)
	}
	// With one-time commands pending, the version also covers when they
	// were queued (Saved: 0 here).
	sum := sha256.Sum256([]byte(want + "\x00one-time commands queued at 0"))
	if f.Version != hex.EncodeToString(sum[:])[:16] {
		t.Errorf("version %s is not the first 16 hex of the SHA-256 of the body and the queue time", f.Version)
	}
	regularOnly := in
	regularOnly.Once = ""
	r := autop.Render(regularOnly)
	if rs := sha256.Sum256(r.Body); r.Version != hex.EncodeToString(rs[:])[:16] {
		t.Errorf("version %s is not the first 16 hex of the body's SHA-256", r.Version)
	}
	whole := string(f.Bytes())
	if !strings.HasPrefix(whole, "# Gatehouse AutoP 0C1105AABBCC version "+f.Version+"\n") || !strings.HasSuffix(whole, want) {
		t.Errorf("file:\n%s", whole)
	}
	if f.ETag() != `"`+f.Version+`"` {
		t.Errorf("etag %s", f.ETag())
	}

	// The project's time zone beats the installer's.
	in2 := in
	in2.ProjectTimeZone = "Asia/Tokyo"
	if b := string(autop.Render(in2).Body); !strings.HasPrefix(b, "Config.Settings.SNTP.TimeZone = Asia/Tokyo\n") {
		t.Errorf("project time zone: %s", b)
	}
	// ... and a regular command beats both.
	in2.Regular = "Config.Settings.SNTP.TimeZone = UTC"
	in2.Once = ""
	if b := string(autop.Render(in2).Body); strings.Count(b, "TimeZone") != 1 || !strings.Contains(b, "TimeZone = UTC\n") {
		t.Errorf("regular time zone: %s", b)
	}
}

func TestRenderConnectType(t *testing.T) {
	for ct, want := range map[string]string{"udp": "0", "tcp": "1", "tls": "2", "default": "", "": ""} {
		b := string(autop.Render(autop.Input{MAC: "0C1105000001", ConnectType: ct}).Body)
		if want == "" {
			if strings.Contains(b, autop.KeyTransType) {
				t.Errorf("connect type %q writes the transport: %s", ct, b)
			}
			continue
		}
		if !strings.Contains(b, autop.KeyTransType+" = "+want+"\n") {
			t.Errorf("connect type %q: %s", ct, b)
		}
	}
	b := string(autop.Render(autop.Input{MAC: "0C1105000001"}).Body)
	if b != autop.KeyRTPConfusion+" = 0\n" {
		t.Errorf("no settings at all: %q", b)
	}
}

func TestVersionIsStable(t *testing.T) {
	in := autop.Input{MAC: "0C1105AABBCC", InstallerTimeZone: "UTC", ConnectType: "udp", Regular: "Config.A.B.C = 1"}
	a, b := autop.Render(in), autop.Render(in)
	if a.Version != b.Version || string(a.Bytes()) != string(b.Bytes()) {
		t.Error("the same inputs must give the same file and version")
	}
	// The version is over the body: another device with the same config
	// has the same version.
	other := in
	other.MAC = "0C1105000002"
	if autop.Render(other).Version != a.Version {
		t.Error("version depends on the MAC")
	}
	// Every change of what the device ends with changes the version.
	for name, mod := range map[string]func(*autop.Input){
		"value":        func(i *autop.Input) { i.Regular = "Config.A.B.C = 2" },
		"one-time":     func(i *autop.Input) { i.Once = "Config.D.E.F = 1" },
		"time zone":    func(i *autop.Input) { i.ProjectTimeZone = "Europe/Paris" },
		"connect type": func(i *autop.Input) { i.ConnectType = "tls" },
		"rtp":          func(i *autop.Input) { i.RTPConfusion = true },
	} {
		c := in
		mod(&c)
		if autop.Render(c).Version == a.Version {
			t.Errorf("changing the %s keeps the version", name)
		}
	}
	// The lists' save time counts only while one-time commands are pending.
	later := in
	later.Saved = 42
	if autop.Render(later).Version != a.Version {
		t.Error("saving the regular list again, unchanged, changed the version")
	}
	// One-time commands are delivered even when they repeat what the file
	// says, and again when the same ones are queued again: a device that
	// applied them before must fetch them, not get 304.
	same := in
	same.Once = "Config.A.B.C = 1"
	same.Saved = 1
	first := autop.Render(same)
	if first.Version == a.Version || string(first.Body) != string(a.Body) {
		t.Errorf("a pending one-time command equal to the regular one: version %s (without: %s)", first.Version, a.Version)
	}
	same.Saved = 2
	if again := autop.Render(same); again.Version == first.Version {
		t.Error("the same one-time commands queued again keep the version of the first time")
	}
}

func TestRenderManyCommands(t *testing.T) {
	var cmds []autop.Command
	for i := 0; i < autop.MaxCommands; i++ {
		cmds = append(cmds, autop.Command{Key: fmt.Sprintf("Config.Test.ITEMS.Item%d", i%600), Value: fmt.Sprint(i)})
	}
	regular := autop.Join(autop.Normalize(cmds))
	f := autop.Render(autop.Input{MAC: "0C1105AABBCC", Regular: regular, Once: "Config.Test.ITEMS.Item5 = once"})
	b := string(f.Body)
	if n := strings.Count(b, "\n"); n != 601 {
		t.Errorf("%d lines, want 600 commands + RTP confusion", n)
	}
	if !strings.Contains(b, "Config.Test.ITEMS.Item5 = once\n") || !strings.Contains(b, "Config.Test.ITEMS.Item6 = 606\n") {
		t.Error("the winning values")
	}
}

func BenchmarkRender(b *testing.B) {
	in := autop.Input{MAC: "0C1105AABBCC", InstallerTimeZone: "Europe/Berlin", ConnectType: "tcp",
		Regular: "Config.DoorSetting.RELAY.HoldDelayA = 5\nConfig.Settings.WEB.Title = x"}
	b.ReportAllocs()
	for b.Loop() {
		autop.Render(in)
	}
}

// The device's own data transmission type wins over the installer's
// Connect Type, and loses to a command that sets the key.
func TestRenderDeviceConnectType(t *testing.T) {
	in := autop.Input{MAC: "0C1105000001", ConnectType: "tls", DeviceConnectType: "udp"}
	if b := string(autop.Render(in).Body); !strings.Contains(b, autop.KeyTransType+" = 0\n") || strings.Count(b, autop.KeyTransType) != 1 {
		t.Errorf("device udp over installer tls:\n%s", b)
	}
	in.DeviceConnectType = ""
	if b := string(autop.Render(in).Body); !strings.Contains(b, autop.KeyTransType+" = 2\n") {
		t.Errorf("installer's tls:\n%s", b)
	}
	in.DeviceConnectType, in.Regular = "tcp", autop.KeyTransType+" = 0"
	if b := string(autop.Render(in).Body); !strings.Contains(b, autop.KeyTransType+" = 0\n") {
		t.Errorf("a regular command wins:\n%s", b)
	}
}
