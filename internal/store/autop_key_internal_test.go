package store

import (
	"strings"
	"testing"
)

// KeyMatches answers as comparing the stored hash with DeviceKeyHash(key)
// did: only the exact lower-case hex of the key's SHA-256 matches.
func TestAutoPKeyMatches(t *testing.T) {
	key := strings.Repeat("k", 40)
	long := strings.Repeat("L", 200) // longer than a valid key: hashed all the same
	for _, c := range []struct {
		name, hash, key string
		want            bool
	}{
		{"bound", DeviceKeyHash(key), key, true},
		{"long key", DeviceKeyHash(long), long, true},
		{"other key", DeviceKeyHash(key), key + "x", false},
		{"none bound", "", key, false},
		{"none bound, empty key", "", "", false},
		{"upper-case hash", strings.ToUpper(DeviceKeyHash(key)), key, false},
		{"not hex", strings.Repeat("z", 64), key, false},
		{"short", DeviceKeyHash(key)[:62], key, false},
	} {
		sv := &AutoPServed{KeyHash: c.hash}
		sv.setKeySum()
		if got := sv.KeyMatches(c.key); got != c.want {
			t.Errorf("%s: %v, want %v", c.name, got, c.want)
		}
	}
}
