package autop_test

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"

	"github.com/gatehouse-dev/gatehouse/internal/autop"
	"github.com/gatehouse-dev/gatehouse/internal/model"
)

// keyForm is the documented key: Config and at least three more dotted
// parts of letters, digits or "_".
var keyForm = regexp.MustCompile(`^Config(\.[A-Za-z0-9_]+){3,}$`)

// lineNumber reads the "line N: " an error message starts with.
var lineNumber = regexp.MustCompile(`^line ([0-9]+): `)

// FuzzParse: the text a user types into an AutoP text area. Whatever it
// is, Parse either refuses it naming a line that exists (the first bad
// one), or accepts commands that obey every documented rule and that
// survive the way back: stored, shown in the text area again and saved
// again, and rendered into the device's file, they read the same.
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"",
		"Config.DoorSetting.RELAY.HoldDelayA=7",
		"  Config.Settings.SNTP.TimeZone   =   +01:00  \r\n\r\nConfig.Account1.SIP.Server = sip.example.com:5060",
		"Config.Settings.WEB.Banner =\nConfig.Settings.WEB.Motto = a = b\nConfig.A_1.B2.C_3.D4 = deep",
		"Config.X.Y.Z = 1\nConfig.X.Y.Z = 2\nConfig.X.Y.W = 3\nConfig.X.Y.Z = 1",
		"Config.X.Y.Z = 1\rConfig.X.Y.Z = 1\r\n",
		"Config.DoorSetting.HoldDelayA = 7",
		"config.DoorSetting.RELAY.HoldDelayA = 7",
		"Config.DoorSetting..HoldDelayA = 7",
		"Config.Door Setting.RELAY.HoldDelayA = 7",
		"= 7",
		"# a comment",
		"Config.A.B.C =\t7",
		"Config.A.B.C = 7\x1b[0m",
		"Config.A.B.C = 7\x7f",
		"Config.A.B.C = 7\u0085",
		"Config.A.B.C = \xff",
		"Config.A.B.C = \u2028\u00a0x\u00a0",
		"Config.A.B.C\u00a0= 1",
		// 1,024 characters typed without spaces around "=": written as
		// "key = value" it is 1,026 (a crasher of this target).
		"Config.Settings.WEB.Note=" + strings.Repeat("x", 1024-len("Config.Settings.WEB.Note=")),
		"Config.Settings.WEB.Note = " + strings.Repeat("ü", 1024-len("Config.Settings.WEB.Note = ")),
		"Config.Settings.WEB.Note = " + strings.Repeat("x", 1025-len("Config.Settings.WEB.Note = ")),
		manyCommands(autop.MaxCommands + 1),
		// The key too many given again later, with another value: the
		// refusal names where it first came.
		manyCommands(autop.MaxCommands+1) + "Config.Test.ITEMS.Item0 = x\nConfig.Test.ITEMS.Item1000 = again",
		manyCommands(autop.MaxCommands) + "\n" + manyCommands(3),
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, text string) {
		lines := autop.SplitText(text)
		cmds, err := autop.Parse("regular", lines)
		if err != nil {
			checkRefusal(t, lines, err)
			return
		}
		checkCommands(t, cmds, lines)

		// Stored and read back: the same commands.
		stored := autop.Join(cmds)
		back := autop.Stored(stored)
		if !sameCommands(back, cmds) {
			t.Fatalf("stored %q read back differently", clip(stored))
		}
		if autop.Count(stored) != len(cmds) {
			t.Fatalf("Count(%q) = %d, want %d", clip(stored), autop.Count(stored), len(cmds))
		}
		// Shown in the text area and saved again: accepted, unchanged.
		again, err := autop.Parse("regular", autop.SplitText(stored))
		if err != nil {
			t.Fatalf("saved list %q refused when saved again: %v", clip(stored), err)
		}
		if !sameCommands(again, cmds) {
			t.Fatalf("saved again %q: another list", clip(stored))
		}
		for i, c := range again {
			if c.Line != i+1 {
				t.Fatalf("saved again: command %d on line %d", i+1, c.Line)
			}
		}
		// Merging a list into itself changes nothing (Normalize is idempotent).
		if m := autop.Merge(cmds, cmds); !sameCommands(m, cmds) {
			t.Fatalf("%q merged with itself: another list", clip(stored))
		}

		// Rendered, as regular and as one-time commands: the platform's
		// RTP Confusion first (unless a command sets it), then every
		// command in order, each a line the parser accepts.
		for _, in := range []autop.Input{{MAC: "0C1105AABBCC", Regular: stored}, {MAC: "0C1105AABBCC", Once: stored, Saved: 1}} {
			file := autop.Render(in)
			body := string(file.Bytes())
			if !strings.HasPrefix(body, "# Gatehouse AutoP 0C1105AABBCC version "+file.Version+"\n") {
				t.Fatalf("file header: %q", clip(body))
			}
			// Line by line: the platform's own line may make the file
			// one longer than MaxCommands.
			var got []autop.Command
			for _, l := range autop.SplitText(strings.TrimSuffix(string(file.Body), "\n")) {
				c, blank, why := autop.ParseLine(l)
				if blank || why != "" {
					t.Fatalf("rendered line %q does not parse: %s", clip(l), why)
				}
				got = append(got, c)
			}
			want := autop.Merge([]autop.Command{{Key: autop.KeyRTPConfusion, Value: "0"}}, cmds)
			if !sameCommands(got, want) {
				t.Fatalf("%q rendered as another list", clip(stored))
			}
			if autop.Render(in).Version != file.Version {
				t.Fatal("the same input rendered with another version")
			}
		}
	})
}

// checkRefusal: a refusal is a 400 on the field, naming a line that
// exists: the first the parser refuses, or the first command too many.
// Its message is bounded whatever the line's length.
func checkRefusal(t *testing.T, lines []string, err error) {
	t.Helper()
	if model.ErrorCode(err) != model.EINVALID {
		t.Fatalf("refusal is not EINVALID: %v", err)
	}
	msg, ok := model.ErrorFields(err)["regular"]
	if !ok {
		t.Fatalf("refusal does not name the field: %v", model.ErrorFields(err))
	}
	if n := utf8.RuneCountInString(msg); n > 300 {
		t.Fatalf("message of %d characters: %q", n, clip(msg))
	}
	m := lineNumber.FindStringSubmatch(msg)
	if m == nil {
		t.Fatalf("message names no line: %q", clip(msg))
	}
	n, _ := strconv.Atoi(m[1])
	if n < 1 || n > len(lines) {
		t.Fatalf("message names line %d of %d: %q", n, len(lines), clip(msg))
	}
	// Every line before it was a command or blank.
	for i := 0; i < n-1; i++ {
		if _, _, why := autop.ParseLine(lines[i]); why != "" {
			t.Fatalf("line %d refused (%q) but line %d was bad already: %s", n, clip(msg), i+1, why)
		}
	}
	if strings.Contains(msg, "more than 1,000 commands") {
		// Line n is where the first key too many first appears.
		seen, at := map[string]bool{}, 0
		for i, l := range lines {
			c, blank, _ := autop.ParseLine(l)
			if !blank && !seen[c.Key] {
				if seen[c.Key] = true; len(seen) == autop.MaxCommands+1 {
					at = i + 1
					break
				}
			}
		}
		if at != n {
			t.Fatalf("%q names line %d; the first command too many is on line %d", clip(msg), n, at)
		}
		return
	}
	if _, _, why := autop.ParseLine(lines[n-1]); why == "" {
		// The line reads, but not within the limits as written.
		if c, _, _ := autop.ParseLine(lines[n-1]); utf8.RuneCountInString(c.String()) <= autop.MaxLineLength {
			t.Fatalf("line %d refused (%q) but ParseLine takes it", n, clip(msg))
		}
	}
}

// checkCommands: accepted commands obey DESIGN.md §4.
func checkCommands(t *testing.T, cmds []autop.Command, lines []string) {
	t.Helper()
	if len(cmds) > autop.MaxCommands {
		t.Fatalf("%d commands accepted", len(cmds))
	}
	seen := map[string]bool{}
	for _, c := range cmds {
		if !keyForm.MatchString(c.Key) {
			t.Fatalf("key %q accepted", clip(c.Key))
		}
		if seen[c.Key] {
			t.Fatalf("key %q kept twice", clip(c.Key))
		}
		seen[c.Key] = true
		s := c.String()
		if !utf8.ValidString(s) {
			t.Fatalf("command %q is not UTF-8", clip(s))
		}
		if n := utf8.RuneCountInString(s); n > autop.MaxLineLength {
			t.Fatalf("command %q is %d characters as written", clip(s), n)
		}
		for _, r := range s {
			if unicode.IsControl(r) {
				t.Fatalf("command %q holds U+%04X", clip(s), r)
			}
		}
		if c.Value != strings.TrimSpace(c.Value) {
			t.Fatalf("value %q is not trimmed", clip(c.Value))
		}
		// Its line number is that of the line that gave the value.
		if c.Line < 1 || c.Line > len(lines) {
			t.Fatalf("command %q on line %d of %d", clip(c.String()), c.Line, len(lines))
		}
		if lc, _, why := autop.ParseLine(lines[c.Line-1]); why != "" || lc.Key != c.Key || lc.Value != c.Value {
			t.Fatalf("command %q does not come from its line %q", clip(c.String()), clip(lines[c.Line-1]))
		}
	}
}

func sameCommands(a, b []autop.Command) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].Key != b[i].Key || a[i].Value != b[i].Value {
			return false
		}
	}
	return true
}

// clip keeps failure messages readable.
func clip(s string) string {
	if len(s) > 200 {
		return s[:200] + "…"
	}
	return s
}

func manyCommands(n int) string {
	var b strings.Builder
	for i := range n {
		fmt.Fprintf(&b, "Config.Test.ITEMS.Item%d = %d\n", i, i)
	}
	return b.String()
}
