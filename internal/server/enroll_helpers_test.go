package server_test

import (
	"crypto/rand"
	"encoding/hex"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/store"
)

// Devices in tests are enrolled the way a maker's factory enrolls them: a
// key per device registered in advance as accepted (store.EnrollDeviceKeys),
// which the simulated or raw device then presents. The server is not
// weakened for tests: any other key waits as pending.

// enrollKey registers key as the accepted key of mac (when it has none).
func enrollKey(t testing.TB, e *env, mac, key string) {
	t.Helper()
	enrollKeys(t, e.st, map[string]string{mac: key})
}

func enrollKeys(t testing.TB, st *store.Store, keys map[string]string) {
	t.Helper()
	if _, err := st.EnrollDeviceKeys(sysCtx(), keys); err != nil {
		t.Fatal(err)
	}
}

// enrolledKeys makes a random key for each MAC and enrolls it: the keys to
// start a simulated fleet with (devicesim.Config.Keys).
func enrolledKeys(t testing.TB, st *store.Store, macs []string) map[string]string {
	t.Helper()
	keys := make(map[string]string, len(macs))
	for _, m := range macs {
		var b [24]byte
		rand.Read(b[:])
		keys[m] = "factory-" + hex.EncodeToString(b[:])
	}
	enrollKeys(t, st, keys)
	return keys
}
