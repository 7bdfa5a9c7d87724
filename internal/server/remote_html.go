package server

import (
	"bytes"
	"html"
	"io"
	"slices"
)

// A device page on the portal's origin must not refresh the tab to another
// site, set cookies or a policy through <meta http-equiv>: CSP cannot forbid
// that element (Chromium's sandbox happens to block meta refresh, not every
// browser is known to). equivRewriter neutralises it in the bytes as they
// stream, without parsing HTML: every "http-equiv" anywhere becomes
// "data-equiv" unless it reads http-equiv="content-type" (the legacy
// charset declaration, harmless and needed). Browsers find markup only in
// literal ASCII bytes once NUL and ESC are gone (no UTF-16, no ISO-2022-JP
// escapes), so a scan that ignores context cannot miss a tag a browser
// sees; at worst it renames an attribute in a comment or a script. XML
// entity declarations (which could spell markup with character references)
// and XSLT processing instructions are broken the same way. The output has
// the input's length, so Content-Length and Content-Range hold.

// equivPatterns are what the rewriter looks for, ASCII case-insensitively,
// and what each becomes.
var equivPatterns = []struct{ find, repl string }{
	{"http-equiv", "data-equiv"},
	{"<!entity", "<!entitX"},
	{"xml-stylesheet", "xml-stylesheeX"},
}

const (
	equivLongest = len("xml-stylesheet")
	// equivWindow bounds how far after "http-equiv" its value must end for
	// it to be kept: the bytes held back at once are this many at most.
	equivWindow = 128
	equivChunk  = 4096
)

type equivRewriter struct {
	src  io.ReadCloser
	buf  []byte // read and sanitised, buf[:done] final
	done int
	err  error // src's, once it ended
}

func newEquivRewriter(src io.ReadCloser) io.ReadCloser {
	return &equivRewriter{src: src}
}

func (w *equivRewriter) Read(p []byte) (int, error) {
	for w.done == 0 {
		if w.err != nil {
			if len(w.buf) == 0 {
				return 0, w.err
			}
			w.done = neutraliseEquiv(w.buf, true)
			break
		}
		n := len(w.buf)
		w.buf = slices.Grow(w.buf, equivChunk)
		m, err := w.src.Read(w.buf[n : n+equivChunk])
		w.buf = w.buf[:n+m]
		sanitiseBytes(w.buf[n:])
		w.err = err
		w.done = neutraliseEquiv(w.buf, err != nil)
	}
	n := copy(p, w.buf[:w.done])
	w.buf = append(w.buf[:0], w.buf[n:]...)
	w.done -= n
	return n, nil
}

func (w *equivRewriter) Close() error { return w.src.Close() }

// sanitiseBytes blanks NUL and ESC: without them no encoding a browser
// knows decodes ASCII from anything but the same ASCII bytes.
func sanitiseBytes(b []byte) {
	for i, c := range b {
		if c == 0 || c == 0x1b {
			b[i] = ' '
		}
	}
}

// neutraliseEquiv rewrites b in place and returns how much of it is final:
// all of it at the end of the page, else up to where a pattern may start
// whose fate depends on bytes not read yet. The result does not depend on
// how the page was split into reads.
func neutraliseEquiv(b []byte, final bool) int {
	for i := 0; i < len(b); i++ {
		for _, p := range equivPatterns {
			if len(b)-i < len(p.find) || !hasFoldPrefix(b[i:], p.find) {
				continue
			}
			if p.find == "http-equiv" {
				keep, decided := keptEquiv(b[i+len(p.find):], final)
				if !decided {
					return i
				}
				if keep {
					break
				}
			}
			copy(b[i:], p.repl)
			break
		}
	}
	if final {
		return len(b)
	}
	// A pattern may begin in the last bytes.
	return max(0, len(b)-(equivLongest-1))
}

// keptEquiv says whether the http-equiv attribute whose name is followed by
// rest reads http-equiv="content-type": whitespace, "=", whitespace, then a
// quoted or unquoted value that decodes to it, all within equivWindow
// bytes. Undecided when rest ends before that and more may come.
func keptEquiv(rest []byte, final bool) (keep, decided bool) {
	limit := min(len(rest), equivWindow)
	// Out of bytes: a verdict if no more will come (or none would count).
	short := func() (bool, bool) { return false, final || limit == equivWindow }
	j := skipSpace(rest[:limit], 0)
	if j == limit {
		return short()
	}
	if rest[j] != '=' {
		return false, true
	}
	j = skipSpace(rest[:limit], j+1)
	if j == limit {
		return short()
	}
	var val []byte
	if q := rest[j]; q == '"' || q == '\'' {
		k := bytes.IndexByte(rest[j+1:limit], q)
		if k < 0 {
			return short()
		}
		val = rest[j+1 : j+1+k]
	} else {
		k := j
		for k < limit && !isSpace(rest[k]) && rest[k] != '>' {
			k++
		}
		if k == limit {
			return short()
		}
		val = rest[j:k]
	}
	v := []byte(html.UnescapeString(string(val)))
	return len(v) == len("content-type") && hasFoldPrefix(v, "content-type"), true
}

func skipSpace(b []byte, i int) int {
	for i < len(b) && isSpace(b[i]) {
		i++
	}
	return i
}

// isSpace is HTML's and XML's white space between attribute parts.
func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' }

// hasFoldPrefix reports whether b starts with the lower-case ASCII s,
// ignoring ASCII case only (as browsers match names).
func hasFoldPrefix(b []byte, s string) bool {
	if len(b) < len(s) {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := b[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != s[i] {
			return false
		}
	}
	return true
}
