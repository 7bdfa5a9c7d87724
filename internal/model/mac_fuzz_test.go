package model

import (
	"regexp"
	"strings"
	"testing"
)

// macNotations are the notations NormalizeMAC documents, in either case,
// and nothing else.
var macNotations = regexp.MustCompile(`^(?i:` +
	`[0-9a-f]{12}` +
	`|[0-9a-f]{2}(:[0-9a-f]{2}){5}` +
	`|[0-9a-f]{2}(-[0-9a-f]{2}){5}` +
	`|[0-9a-f]{4}(\.[0-9a-f]{4}){2}` +
	`|[0-9a-f]{6}-[0-9a-f]{6}` +
	`)$`)

var (
	macForm     = regexp.MustCompile(`^[0-9A-F]{12}$`)
	partialForm = regexp.MustCompile(`^[0-9A-F]{1,12}$`)
)

// FuzzNormalizeMAC: NormalizeMAC takes exactly the documented notations
// (around white space), gives 12 upper-case hex digits that read back the
// same, and every notation of that MAC gives the same; PartialMAC (the
// search filter) agrees with it on whole MACs.
func FuzzNormalizeMAC(f *testing.F) {
	for _, s := range []string{
		"0C:11:05:AA:bb:cc", "0c-11-05-aa-bb-cc", "0c1105aabbcc", " 0C11.05AA.BBCC ", "0c1105-aabbcc", "\t0C1105AABBCC\n",
		"0C:11:05:AA:BB", "0C:11:05:AA:BB:CG", "0C1105AABBCC00", "", "   ",
		// Mixed or misplaced separators, once accepted.
		"0C:11-05:AA-BB:CC", "0C1:105:AAB:BCC", "::0C1105AABBCC", "0C11:05AA:BBCC", "0C-1105-AABBCC", "0C1105.AABBCC", "0C11.05AABBCC", "0C1105:AABBCC", "0C1105.00AA.02",
		"0C.11.05.AA.BB.CC", "0C 11 05 AA BB CC", "0C:11:05:AA:BB:CC:", "0-C-1-1-0-5-A-A-B-B-C-C",
		// Look-alikes: full-width digits, a Unicode hyphen, a NUL.
		"０C1105AABBCC", "0C‐11‐05‐AA‐BB‐CC", "0C1105AABB\x00C", "0C:11:05:AA:BB:CC\x00",
		"\xff\xfe0C1105AABBCC",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		m, ok := NormalizeMAC(s)
		if want := macNotations.MatchString(strings.TrimSpace(s)); ok != want {
			t.Fatalf("NormalizeMAC(%q) = %q, %v; want ok=%v", s, m, ok, want)
		}
		p, pok := PartialMAC(s)
		if pok && !partialForm.MatchString(p) {
			t.Fatalf("PartialMAC(%q) = %q", s, p)
		}
		if !ok {
			if m != "" {
				t.Fatalf("NormalizeMAC(%q) refused it but returned %q", s, m)
			}
			return
		}
		if !macForm.MatchString(m) {
			t.Fatalf("NormalizeMAC(%q) = %q", s, m)
		}
		// Its hex digits, in order, upper-cased.
		digits := strings.ToUpper(strings.Map(func(r rune) rune {
			if strings.ContainsRune("0123456789abcdefABCDEF", r) {
				return r
			}
			return -1
		}, s))
		if digits != m {
			t.Fatalf("NormalizeMAC(%q) = %q, not its digits %q", s, m, digits)
		}
		if p != m || !pok {
			t.Fatalf("PartialMAC(%q) = %q, %v; NormalizeMAC gives %q", s, p, pok, m)
		}
		pairs := []string{m[0:2], m[2:4], m[4:6], m[6:8], m[8:10], m[10:12]}
		for _, n := range []string{
			m, strings.ToLower(m),
			strings.Join(pairs, ":"), strings.ToLower(strings.Join(pairs, "-")),
			m[0:4] + "." + m[4:8] + "." + m[8:12], strings.ToLower(m[0:6] + "-" + m[6:12]),
			" " + strings.Join(pairs, "-") + "\r\n",
		} {
			if got, ok := NormalizeMAC(n); !ok || got != m {
				t.Fatalf("NormalizeMAC(%q) = %q, %v; want %q like %q", n, got, ok, m, s)
			}
		}
	})
}
