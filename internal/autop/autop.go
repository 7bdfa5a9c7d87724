// Package autop holds the rules of AutoP (auto-provisioning), DESIGN.md §4
// and docs/device-protocol.md §7: how a command line is read, checked and
// normalised, how a device's lists are merged, and how the file a device
// fetches is rendered and versioned. It is pure: no SQL, no I/O.
//
// A command is one line `Config.<Module>.<SECTION>.<Item> = value`: a dotted
// key of at least four parts, the first "Config", each part letters, digits
// or "_"; the value is everything after the first "=" (it may be empty).
// Spaces around "=" are optional on input; a command is always written
// "key = value".
//
// Normalising a list (on every save, and when a batch merges into a list):
// each line is trimmed, blank lines are ignored, an exact repeat is dropped,
// and the same key given twice keeps its LAST value at the position of its
// FIRST occurrence — so that changing a value (by a later line, or by a
// batch) does not reorder the list.
package autop

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/gatehouse-dev/gatehouse/internal/model"
)

// Limits of DESIGN.md §4.
const (
	// MaxLineLength is the longest command line accepted, in characters.
	MaxLineLength = 1024
	// MaxCommands is the most commands one device keeps, its regular and
	// one-time lists together.
	MaxCommands = 1000
)

// Command is one AutoP command. Line is the line number it was typed on
// (1-based; 0 for a command read back from storage).
type Command struct {
	Key   string
	Value string
	Line  int
}

// String writes the command as it is stored and served: "key = value".
func (c Command) String() string { return c.Key + " = " + c.Value }

// SplitText splits the text of a form's text area into its lines (\n,
// \r\n or \r), so that line numbers are the ones the user sees.
func SplitText(s string) []string {
	if s == "" {
		return nil
	}
	s = strings.ReplaceAll(s, "\r\n", "\n")
	s = strings.ReplaceAll(s, "\r", "\n")
	return strings.Split(s, "\n")
}

// ParseLine reads one command line. ok=false with a reason when it is not
// a command; blank=true for a blank line (ignored, not an error).
func ParseLine(line string) (c Command, blank bool, reason string) {
	if !utf8.ValidString(line) {
		return c, false, "is not valid UTF-8 text"
	}
	if n := utf8.RuneCountInString(line); n > MaxLineLength {
		return c, false, fmt.Sprintf("is %d characters long; at most %d are allowed", n, MaxLineLength)
	}
	for i, r := range line {
		if unicode.IsControl(r) {
			return c, false, fmt.Sprintf("holds a control character (U+%04X at character %d)", r, utf8.RuneCountInString(line[:i])+1)
		}
	}
	line = strings.TrimSpace(line)
	if line == "" {
		return c, true, ""
	}
	key, value, found := strings.Cut(line, "=")
	key = strings.TrimSpace(key)
	if !found {
		return c, false, fmt.Sprintf("%q is not a command: write Config.<Module>.<SECTION>.<Item> = value", clipText(line))
	}
	if why := checkKey(key); why != "" {
		return c, false, why
	}
	c = Command{Key: key, Value: strings.TrimSpace(value)}
	// The limit holds for the line as stored and shown again too: typed
	// without spaces around "=", "key = value" is two characters longer,
	// and saving the list again as shown would fail.
	if n := utf8.RuneCountInString(c.String()); n > MaxLineLength {
		return Command{}, false, fmt.Sprintf("is %d characters long as written (key = value); at most %d are allowed", n, MaxLineLength)
	}
	return c, false, ""
}

// checkKey explains why key is not of the form Config.<Module>.<SECTION>.<Item>.
func checkKey(key string) string {
	if key == "" {
		return "the key before \"=\" is missing: write Config.<Module>.<SECTION>.<Item> = value"
	}
	parts := strings.Split(key, ".")
	bad := func() string {
		return fmt.Sprintf("the key %q is not of the form Config.<Module>.<SECTION>.<Item> (at least 4 dotted parts of letters, digits or _)", clipText(key))
	}
	if len(parts) < 4 || parts[0] != "Config" {
		return bad()
	}
	for _, p := range parts {
		if p == "" {
			return bad()
		}
		for i := 0; i < len(p); i++ {
			ch := p[i]
			if !(ch >= 'A' && ch <= 'Z' || ch >= 'a' && ch <= 'z' || ch >= '0' && ch <= '9' || ch == '_') {
				return bad()
			}
		}
	}
	return ""
}

func clipText(s string) string {
	if utf8.RuneCountInString(s) > 60 {
		return string([]rune(s)[:60]) + "…"
	}
	return s
}

// Parse reads the lines typed into field ("regular", "once", "commands"),
// checks every one and returns the commands, normalised. The first bad line
// is refused as model.Invalid(field, "line N: …"); so is a list of more than
// MaxCommands commands (naming the line of the first command too many).
func Parse(field string, lines []string) ([]Command, error) {
	cmds := make([]Command, 0, len(lines))
	for i, l := range lines {
		c, blank, why := ParseLine(l)
		if why != "" {
			return nil, model.Invalid(field, "line %d: %s", i+1, why)
		}
		if blank {
			continue
		}
		c.Line = i + 1
		cmds = append(cmds, c)
	}
	typed := cmds
	cmds = Normalize(typed)
	if len(cmds) > MaxCommands {
		// The line where the first key too many came first (Normalize
		// keeps the line of its last value).
		line := cmds[MaxCommands].Line
		for _, c := range typed {
			if c.Key == cmds[MaxCommands].Key {
				line = c.Line
				break
			}
		}
		return nil, model.Invalid(field, "line %d: more than %s commands; a device keeps at most %s", line,
			thousands(MaxCommands), thousands(MaxCommands))
	}
	return cmds, nil
}

// Normalize drops exact repeats and keeps, for a key given more than once,
// its last value at the position of its first occurrence (with the line
// number of that last value).
func Normalize(cmds []Command) []Command {
	out := make([]Command, 0, len(cmds))
	at := make(map[string]int, len(cmds))
	for _, c := range cmds {
		if i, ok := at[c.Key]; ok {
			if out[i].Value != c.Value {
				out[i].Value, out[i].Line = c.Value, c.Line
			}
			continue
		}
		at[c.Key] = len(out)
		out = append(out, c)
	}
	return out
}

// Merge adds cmds to list by the rule of Normalize: a key already in list
// takes the new value in place, a new key goes to the end.
func Merge(list, cmds []Command) []Command {
	all := make([]Command, 0, len(list)+len(cmds))
	all = append(all, list...)
	all = append(all, cmds...)
	return Normalize(all)
}

// Lines writes commands as stored and served, one "key = value" each.
func Lines(cmds []Command) []string {
	out := make([]string, len(cmds))
	for i, c := range cmds {
		out[i] = c.String()
	}
	return out
}

// Join writes commands as stored: one "key = value" a line.
func Join(cmds []Command) string { return strings.Join(Lines(cmds), "\n") }

// Stored reads a list as stored by Join (trusted: it was checked on save).
func Stored(text string) []Command {
	if text == "" {
		return nil
	}
	lines := strings.Split(text, "\n")
	out := make([]Command, 0, len(lines))
	for _, l := range lines {
		k, v, ok := strings.Cut(l, "=")
		if !ok {
			continue
		}
		out = append(out, Command{Key: strings.TrimSpace(k), Value: strings.TrimSpace(v)})
	}
	return out
}

// StoredLines splits a stored list into its lines ([] for none).
func StoredLines(text string) []string {
	if text == "" {
		return []string{}
	}
	return strings.Split(text, "\n")
}

// Count is the number of commands of a stored list.
func Count(text string) int {
	if text == "" {
		return 0
	}
	return strings.Count(text, "\n") + 1
}

func thousands(n int) string {
	s := fmt.Sprint(n)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}
