package model

import (
	"strings"
	"unicode/utf8"
)

// StorableText is text an outsider sent (a device's report or header, a
// browser's User-Agent) made fit to store: no NUL, valid UTF-8 (PostgreSQL
// refuses anything else, failing the whole write), at most max bytes, cut on
// a character boundary.
func StorableText(s string, max int) string {
	if strings.IndexByte(s, 0) >= 0 {
		s = strings.ReplaceAll(s, "\x00", "")
	}
	s = strings.ToValidUTF8(s, "\uFFFD")
	if len(s) > max {
		for max > 0 && !utf8.RuneStart(s[max]) {
			max--
		}
		s = s[:max]
	}
	return s
}
