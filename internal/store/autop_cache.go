package store

import (
	"sync"
	"sync/atomic"
	"time"
)

// The AutoP server's cache of rendered files (AutoPReader.EnableCache).
//
// A served file is made of a few tables' rows (autoPFrom): the device
// (MAC, installer, project, key binding, connect type), its installer's
// settings, its project's time zone and its AutoP lists. The write methods
// that change one of them declare it on their transaction (Tx.changed,
// model.AutoPChange); after COMMIT the store moves its AutoP generation on
// and hands the change to the application layer, which tells every node's
// cache over the bus (internal/usecase/events.go): each drops what it
// keeps (DropAutoPCache). A cached file is good only for the generation it
// was read in, only while the node is sure it hears the bus (CacheAutoPWhile),
// and at most maxAge.

// DropAutoPCache makes every file the AutoP readers of this store keep
// stale: another node (or this one) committed an AutoP change, or this node
// may have missed one.
func (s *Store) DropAutoPCache() { s.autopGen.Add(1) }

// CacheAutoPWhile lets the AutoP readers of this store serve from their
// caches only while hearing reports that this node hears every change the
// other nodes sharing its database announce (bus.Notices.Hearing); else
// every fetch reads. Without it a cache trusts this store's own changes
// alone: one node by itself on its database.
func (s *Store) CacheAutoPWhile(hearing func() bool) { s.autopHearing.Store(&hearing) }

// AutoPCacheHits counts the fetches this store's AutoP readers served from
// their caches (for tests and figures).
func (s *Store) AutoPCacheHits() uint64 { return s.autopHits.Load() }

// autoPHearing: may a cached file be served now.
func (s *Store) autoPHearing() bool {
	h := s.autopHearing.Load()
	return h == nil || (*h)()
}

// autoPCache keeps the files the AutoP server read, by MAC, each good for
// the store's AutoP generation it was read in, while hearing says the node
// hears every change, and for at most maxAge (the bound for a change this
// node missed without noticing, or made by a process that tells nobody,
// such as `gatehouse admin`). Its memory is bounded by maxBytes: a file bigger than a
// 64th of it is not kept, and a full cache starts over rather than track
// what is least used.
type autoPCache struct {
	gen      *atomic.Uint64
	maxAge   time.Duration
	maxBytes int
	hearing  func() bool // the store's autoPHearing
	hits     *atomic.Uint64

	mu      sync.RWMutex
	entries map[string]*autoPEntry
	at      uint64 // the generation every entry was read in
	bytes   int    // what the entries cost, about
}

type autoPEntry struct {
	sv   *AutoPServed
	read time.Time
}

// entryCost is about what an entry holds: the file, the MAC, the structs,
// and the AutoP server's prepared answer (AutoPServed.Prepared: the header
// line's bytes, the ETag and the header values, once made).
func entryCost(mac string, sv *AutoPServed) int {
	return len(sv.File.Body) + 2*len(sv.File.Header) + 3*len(sv.File.Version) + len(sv.KeyHash) + len(mac) + 384
}

func (c *autoPCache) get(mac string) *AutoPServed {
	if !c.hearing() {
		return nil
	}
	gen := c.gen.Load()
	c.mu.RLock()
	e, at := c.entries[mac], c.at
	c.mu.RUnlock()
	if e == nil || at != gen || time.Since(e.read) >= c.maxAge {
		return nil
	}
	if c.hits != nil {
		c.hits.Add(1)
	}
	return e.sv
}

// put keeps sv, read in generation gen (loaded before the read began): a
// write that landed since makes it stale at once, and it is not kept.
func (c *autoPCache) put(mac string, sv *AutoPServed, gen uint64, read time.Time) {
	cost := entryCost(mac, sv)
	if cost > c.maxBytes/64 || !c.hearing() {
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
