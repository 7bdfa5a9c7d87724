package store

import (
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/autop"
)

func TestAutoPCacheBounds(t *testing.T) {
	var gen atomic.Uint64
	c := &autoPCache{gen: &gen, maxAge: time.Hour, maxBytes: 64 << 10, hearing: func() bool { return true }}
	file := func(n int) *AutoPServed {
		return &AutoPServed{File: autop.File{Version: "v", Body: []byte(strings.Repeat("x", n))}}
	}
	for i := range 1000 {
		mac := fmt.Sprintf("0C1105%06X", i)
		c.put(mac, file(300), 0, time.Now())
		if c.bytes > c.maxBytes {
			t.Fatalf("after %d files the cache holds %d bytes, more than its %d", i+1, c.bytes, c.maxBytes)
		}
		if c.get(mac) == nil {
			t.Fatalf("file %d not kept", i)
		}
		total := 0
		for m, e := range c.entries {
			total += entryCost(m, e.sv)
		}
		if total != c.bytes {
			t.Fatalf("the cache counts %d bytes, its entries cost %d", c.bytes, total)
		}
	}
	// The same MAC again replaces, not adds.
	c.put("0C11050003E7", file(300), 0, time.Now())
	c.put("0C11050003E7", file(300), 0, time.Now())
	total := 0
	for m, e := range c.entries {
		total += entryCost(m, e.sv)
	}
	if total != c.bytes {
		t.Errorf("after replacing: counts %d, entries cost %d", c.bytes, total)
	}
	// A file bigger than a 64th of the cache is not kept.
	c.put("0C1105FFFFFF", file(2<<10), 0, time.Now())
	if c.get("0C1105FFFFFF") != nil {
		t.Error("a 2 KiB file kept in a 64 KiB cache")
	}
	// Nor one past its age, nor one of an older generation.
	c.put("0C1105AAAAAA", file(10), 0, time.Now().Add(-2*time.Hour))
	if c.get("0C1105AAAAAA") != nil {
		t.Error("an expired file served")
	}
	c.put("0C1105BBBBBB", file(10), 0, time.Now())
	gen.Add(1)
	if c.get("0C1105BBBBBB") != nil {
		t.Error("a file of an older generation served")
	}
	c.put("0C1105CCCCCC", file(10), 0, time.Now()) // read before the write: not kept
	if c.get("0C1105CCCCCC") != nil {
		t.Error("a file read before a write kept")
	}
}
