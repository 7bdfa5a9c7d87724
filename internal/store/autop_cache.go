package store

import (
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// The AutoP server's cache of rendered files (AutoPReader.EnableCache).
//
// A served file is made of a few tables' rows (autoPFrom): the device
// (MAC, installer, project, key binding), its installer's settings, its
// project's time zone and its AutoP lists. Rather than trusting every write
// path to invalidate what it touches, the store looks at every statement it
// runs: any write that may change one of those rows moves the store's AutoP
// generation on, after it commits, and a cached file is good only for the
// generation it was read in. A write nobody classified yet counts as a
// change (slower, never stale); only the gateway's frequent status columns
// are known not to matter.

// autopInputs are the tables a file is read from, with the columns a write
// may set without changing any file.
var autopInputs = map[string]map[string]bool{
	"devices": set("online", "ip", "model", "firmware", "uptime", "config_version", "node", "connected_at",
		"last_seen", "autop_fetched_at", "name", "location", "sip", "type", "owner_id", "building_id",
		"apartment_id", "department_id", "retired_keys"),
	"accounts": set("name", "business", "company", "email", "phone", "language", "charge_mode", "password_hash",
		"updated_at", "payment_enabled", "pay_by_distributor", "access_without_password", "distributor_id",
		"subdistributor_id"),
	"projects":     set("name", "manager", "address"),
	"device_autop": {},
}

func set(names ...string) map[string]bool {
	m := make(map[string]bool, len(names))
	for _, n := range names {
		m[n] = true
	}
	return m
}

// changesAutoPFile reports whether the statement q may change a file the
// AutoP server serves. Reads never do; a write does when it deletes from,
// upserts into or sets a column (other than the harmless ones) of one of
// autopInputs; a plain INSERT adds rows no cached file was read from.
// Anything it cannot read (a CTE, a tuple assignment) counts as a change.
func changesAutoPFile(q string) bool {
	verb, rest := sqlWord(q)
	switch verb {
	case "select", "pragma", "analyze", "":
		return false
	case "insert":
		_, rest = sqlWord(rest) // INTO, or OR (INSERT OR REPLACE)
		if w, _ := sqlWord(rest); w == "replace" {
			return mentionsInput(q)
		}
		table, _ := sqlWord(rest)
		if _, ok := autopInputs[table]; !ok {
			return false
		}
		return table == "device_autop" || strings.Contains(strings.ToUpper(q), "ON CONFLICT")
	case "delete":
		_, rest = sqlWord(rest) // FROM
		table, _ := sqlWord(rest)
		_, ok := autopInputs[table]
		return ok
	case "update":
		table, rest := sqlWord(rest)
		harmless, ok := autopInputs[table]
		if !ok {
			return false
		}
		if w, r := sqlWord(rest); w == "set" {
			rest = r
		} else {
			return true
		}
		for _, a := range assignments(rest) {
			// "col = …"; a tuple "(a, b) = …" has no first word: a change.
			if col, _ := sqlWord(a); !harmless[col] {
				return true
			}
		}
		return false
	}
	return mentionsInput(q)
}

// mentionsInput: an input table's name appears in q (conservative).
func mentionsInput(q string) bool {
	lower := strings.ToLower(q)
	for table := range autopInputs {
		for i := 0; ; {
			j := strings.Index(lower[i:], table)
			if j < 0 {
				break
			}
			j += i
			end := j + len(table)
			if (j == 0 || !identByte(lower[j-1])) && (end == len(lower) || !identByte(lower[end])) {
				return true
			}
			i = end
		}
	}
	return false
}

func identByte(c byte) bool {
	return c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}

// sqlWord returns the first word of s (lower case; letters, digits and _)
// and what follows it. A word that does not start s (after spaces) is "".
func sqlWord(s string) (word, rest string) {
	s = strings.TrimLeft(s, " \t\r\n")
	i := 0
	for i < len(s) && identByte(s[i]) {
		i++
	}
	return strings.ToLower(s[:i]), s[i:]
}

// assignments splits the SET list of an UPDATE (what follows SET) into its
// assignments, up to the WHERE, FROM or RETURNING at the outer level.
func assignments(s string) []string {
	var out []string
	depth, start := 0, 0
	inQuote := false
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case inQuote:
			if c == '\'' {
				inQuote = false
			}
		case c == '\'':
			inQuote = true
		case c == '(':
			depth++
		case c == ')':
			depth--
		case depth == 0 && c == ',':
			out = append(out, s[start:i])
			start = i + 1
		case depth == 0 && (i == 0 || !identByte(s[i-1])) && identByte(c):
			w, _ := sqlWord(s[i:])
			if w == "where" || w == "from" || w == "returning" {
				return append(out, s[start:i])
			}
		}
	}
	return append(out, s[start:])
}

// autoPCache keeps the files the AutoP server read, by MAC, each good for
// the store's AutoP generation it was read in and for at most maxAge (a
// bound for writes this process cannot see: another process on the same
// database). Full, it starts over rather than track what is least used.
type autoPCache struct {
	gen    *atomic.Uint64
	maxAge time.Duration
	max    int

	mu      sync.RWMutex
	entries map[string]*autoPEntry
	at      uint64 // the generation every entry was read in
}

type autoPEntry struct {
	sv   *AutoPServed
	read time.Time
}

func (c *autoPCache) get(mac string) *AutoPServed {
	gen := c.gen.Load()
	c.mu.RLock()
	e, at := c.entries[mac], c.at
	c.mu.RUnlock()
	if e == nil || at != gen || time.Since(e.read) >= c.maxAge {
		return nil
	}
	return e.sv
}

// put keeps sv, read in generation gen (loaded before the read began): a
// write that landed since makes it stale at once, and it is not kept.
func (c *autoPCache) put(mac string, sv *AutoPServed, gen uint64, read time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if now := c.gen.Load(); now != gen {
		return
	}
	if c.entries == nil || c.at != gen || len(c.entries) >= c.max {
		c.entries, c.at = make(map[string]*autoPEntry, min(c.max, 1024)), gen
	}
	c.entries[mac] = &autoPEntry{sv: sv, read: read}
}
