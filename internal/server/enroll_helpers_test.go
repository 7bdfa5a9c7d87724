package server_test

import (
	"crypto/rand"
	"encoding/hex"
	"strings"
	"testing"
	"time"

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

// claimCodes puts a maker's claim code on file for each MAC (in its
// installer's MAC library, as an import would) and answers the codes: a
// simulated device presenting its code is enrolled again after a factory
// reset, as a real one would be.
func claimCodes(t testing.TB, st *store.Store, macs []string) map[string]string {
	t.Helper()
	codes := make(map[string]string, len(macs))
	var rows [][]any
	now := time.Now().UTC()
	for _, m := range macs {
		var b [10]byte
		rand.Read(b[:])
		codes[m] = strings.ToUpper(hex.EncodeToString(b[:]))
		var inst int64
		if err := st.DB().QueryRow(`SELECT installer_id FROM devices WHERE mac = '` + m + `'`).Scan(&inst); err != nil {
			t.Fatalf("claim code for %s: %v", m, err)
		}
		rows = append(rows, []any{inst, m, "", store.ClaimCodeHash(codes[m]), now})
	}
	st.DB().Exec(`DELETE FROM installer_macs WHERE mac IN ('` + strings.Join(macs, "','") + `')`)
	if err := st.BulkInsert(sysCtx(), "installer_macs", []string{"installer_id", "mac", "name", "claim_hash", "created_at"}, rows); err != nil {
		t.Fatal(err)
	}
	return codes
}
