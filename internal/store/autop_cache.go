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
		"subdistributor_id", "credential_epoch"),
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
// Anything it cannot read (a CTE, a tuple assignment, a schema-qualified or
// quoted table, a leading comment) counts as a change when it writes and
// names an input table.
func changesAutoPFile(q string) bool {
	verb, rest := sqlWord(q)
	switch verb {
	case "select", "pragma", "analyze":
		return false
	case "insert":
		w, r := sqlWord(rest)
		if w == "or" { // INSERT OR REPLACE | IGNORE | … INTO
			_, r = sqlWord(r)
			w, r = sqlWord(r)
		}
		if w != "into" {
			return mentionsInput(q)
		}
		table, r, ok := tableWord(r)
		if !ok {
			return mentionsInput(q)
		}
		if _, ok := autopInputs[table]; !ok {
			return false
		}
		return table == "device_autop" || strings.Contains(strings.ToUpper(q), "ON CONFLICT") ||
			strings.HasPrefix(strings.ToUpper(strings.TrimSpace(q)), "INSERT OR")
	case "delete":
		w, r := sqlWord(rest)
		if w != "from" {
			return mentionsInput(q)
		}
		table, _, ok := tableWord(r)
		if !ok {
			return mentionsInput(q)
		}
		_, input := autopInputs[table]
		return input
	case "update":
		table, rest, ok := tableWord(rest)
		if !ok {
			return mentionsInput(q)
		}
		harmless, input := autopInputs[table]
		if !input {
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
	// Any other statement (WITH …, a comment first, …): a change when it
	// may write and names an input.
	return writes(q) && mentionsInput(q)
}

// tableWord reads a table name; ok is false for what it cannot be sure
// of: a quoted or schema-qualified name, ONLY, none.
func tableWord(s string) (table, rest string, ok bool) {
	table, rest = sqlWord(s)
	if table == "" || table == "only" || strings.HasPrefix(rest, ".") {
		return "", rest, false
	}
	return table, rest, true
}

// writes: q holds a word that starts a write.
func writes(q string) bool {
	for rest := q; rest != ""; {
		i := 0
		for i < len(rest) && !identByte(rest[i]) {
			i++
		}
		var w string
		w, rest = sqlWord(rest[i:])
		switch w {
		case "insert", "update", "delete", "replace", "merge", "upsert":
			return true
		case "":
			if rest != "" {
				rest = rest[1:]
			}
		}
	}
	return false
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
// database). Its memory is bounded by maxBytes: a file bigger than a
// 64th of it is not kept, and a full cache starts over rather than track
// what is least used.
type autoPCache struct {
	gen      *atomic.Uint64
	maxAge   time.Duration
	maxBytes int

	mu      sync.RWMutex
	entries map[string]*autoPEntry
	at      uint64 // the generation every entry was read in
	bytes   int    // what the entries cost, about
}

type autoPEntry struct {
	sv   *AutoPServed
	read time.Time
}

// entryCost is about what an entry holds: the file, the MAC, the structs.
func entryCost(mac string, sv *AutoPServed) int {
	return len(sv.File.Body) + len(sv.File.Header) + len(sv.File.Version) + len(sv.KeyHash) + len(mac) + 256
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
	cost := entryCost(mac, sv)
	if cost > c.maxBytes/64 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if now := c.gen.Load(); now != gen {
		return
	}
	if old := c.entries[mac]; old != nil && c.at == gen {
		c.bytes -= entryCost(mac, old.sv)
	}
	if c.entries == nil || c.at != gen || c.bytes+cost > c.maxBytes {
		c.entries, c.at, c.bytes = make(map[string]*autoPEntry, 1024), gen, 0
	}
	c.entries[mac] = &autoPEntry{sv: sv, read: read}
	c.bytes += cost
}
