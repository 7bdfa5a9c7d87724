package server_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/tabular/tabulartest"
	"github.com/gatehouse-dev/gatehouse/internal/testutil/heapwatch"
)

// Decompression bombs uploaded to both imports (the MAC library's and the
// end users') over HTTP: each is refused with 413 naming the bound, quickly,
// without the heap growing, and without writing anything.
func TestImportDecompressionBombs(t *testing.T) {
	e := newEnv(t, "sqlite")
	sub, inst := e.token("demo-subdistributor"), e.token("demo-installer")
	macs := fmt.Sprintf("/api/v1/installers/%d/macs/import", installerID(t, e, "demo-installer"))
	pid := ipNum(e.ipCreate(inst, "/api/v1/projects", map[string]any{"kind": "community", "name": "Bomb Court"}), "id")
	users := fmt.Sprintf("/api/v1/projects/%d/end-users/import", pid)

	bombs := []struct {
		name string
		data []byte
		want string
	}{
		// 512 MiB of "A" in one cell, about 500 KiB deflated.
		{"honest sizes", tabulartest.Bomb(512<<20, tabulartest.Honest), "inflates past 64 MiB"},
		// The same, its directory claiming the sheet holds 1 KiB.
		{"sizes understated", tabulartest.Bomb(512<<20, tabulartest.Under), "inflates past"},
		// A tiny file whose directory claims its styles hold 3 GiB.
		{"sizes overstated", tabulartest.Bomb(1<<10, tabulartest.Over), "inflates past 64 MiB"},
	}
	for _, b := range bombs {
		for _, route := range []struct{ path, token string }{{macs, sub}, {users, inst}} {
			t.Run(b.name+" "+route.path, func(t *testing.T) {
				before := e.ipCount("SELECT count(*) FROM installer_macs") + e.ipCount("SELECT count(*) FROM end_users")
				ct, body := multipartFile(t, "bomb.xlsx", b.data)
				// Before the fix this grew the heap by gigabytes: past
				// 512 MiB the watch ends the test binary.
				w := heapwatch.Start(512 << 20)
				start := time.Now()
				r := e.do(nil, "POST", route.path, string(body), bearer(route.token), "Content-Type: "+ct)
				took, peak := time.Since(start), w.Stop()
				t.Logf("%d KiB upload: %d in %v, heap %d -> peak %d MiB", len(b.data)>>10, r.StatusCode, took.Round(time.Millisecond), w.Start>>20, peak>>20)
				if r.StatusCode != 413 || !strings.Contains(r.errorField(t, "file"), b.want) {
					t.Errorf("%d %s, want 413 naming %q", r.StatusCode, r.body, b.want)
				}
				if took > 5*time.Second {
					t.Errorf("refusing it took %v", took)
				}
				if grew := int64(peak) - int64(w.Start); grew > 64<<20 {
					t.Errorf("the heap grew by %d MiB", grew>>20)
				}
				if after := e.ipCount("SELECT count(*) FROM installer_macs") + e.ipCount("SELECT count(*) FROM end_users"); after != before {
					t.Errorf("the refused import wrote %d rows", after-before)
				}
			})
		}
	}
}
