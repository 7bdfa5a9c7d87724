package server_test

import (
	"bytes"
	"fmt"
	"mime/multipart"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/store"
	"github.com/gatehouse-dev/gatehouse/internal/tabular"
	"github.com/gatehouse-dev/gatehouse/internal/tabular/tabulartest"
	"github.com/gatehouse-dev/gatehouse/internal/testutil/heapwatch"
	"github.com/gatehouse-dev/gatehouse/internal/usecase"
)

// Decompression bombs uploaded to both imports (the MAC library's and the
// end users'), through the API and the portal's forms: each is refused with
// 413 naming the bound, quickly, without the heap growing, and without
// writing anything.
func TestImportDecompressionBombs(t *testing.T) {
	e := newEnv(t, "sqlite")
	sub, inst := e.token("demo-subdistributor"), e.token("demo-installer")
	instID := installerID(t, e, "demo-installer")
	pid := ipNum(e.ipCreate(inst, "/api/v1/projects", map[string]any{"kind": "community", "name": "Bomb Court"}), "id")
	subB, instB := e.browserLogin("demo-subdistributor"), e.browserLogin("demo-installer")
	api := func(path, token string) func(string, []byte) *resp {
		return func(name string, data []byte) *resp {
			ct, body := multipartFile(t, name, data)
			return e.do(nil, "POST", path, string(body), bearer(token), "Content-Type: "+ct)
		}
	}
	page := func(path string, b *browser) func(string, []byte) *resp {
		return func(name string, data []byte) *resp {
			var buf bytes.Buffer
			mw := multipart.NewWriter(&buf)
			mw.WriteField("csrf_token", b.csrf)
			fw, _ := mw.CreateFormFile("file", name)
			fw.Write(data)
			mw.Close()
			return e.do(b.c, "POST", path, buf.String(), "Content-Type: "+mw.FormDataContentType())
		}
	}
	routes := []struct {
		name   string
		upload func(string, []byte) *resp
	}{
		{"MAC API", api(fmt.Sprintf("/api/v1/installers/%d/macs/import", instID), sub)},
		{"end-user API", api(fmt.Sprintf("/api/v1/projects/%d/end-users/import", pid), inst)},
		{"MAC page", page(fmt.Sprintf("/users/installers/%d/macs/import", instID), subB)},
		{"end-user page", page(fmt.Sprintf("/installer/projects/%d/import", pid), instB)},
	}
	bombs := []struct {
		name string
		data []byte
		want string
	}{
		// 512 MiB of "A" in one cell, about 500 KiB deflated.
		{"honest sizes", tabulartest.Bomb(512<<20, tabulartest.Honest), "inflates past 64 MiB"},
		// The same, its directory claiming the sheet holds 1 KiB.
		{"sizes understated", tabulartest.Bomb(512<<20, tabulartest.Under), "sheet1.xml inflates past its declared size"},
		// A tiny file whose directory claims its styles hold 3 GiB.
		{"sizes overstated", tabulartest.Bomb(1<<10, tabulartest.Over), "inflates past 64 MiB"},
	}
	for _, b := range bombs {
		for _, route := range routes {
			t.Run(b.name+", "+route.name, func(t *testing.T) {
				before := e.ipCount("SELECT count(*) FROM installer_macs") + e.ipCount("SELECT count(*) FROM end_users")
				// Before the fix this grew the heap by gigabytes: past
				// 512 MiB the watch ends the test binary.
				w := heapwatch.Start(512 << 20)
				start := time.Now()
				r := route.upload("bomb.xlsx", b.data)
				took, peak := time.Since(start), w.Stop()
				t.Logf("%d KiB upload: %d in %v, heap %d -> peak %d MiB", len(b.data)>>10, r.StatusCode, took.Round(time.Millisecond), w.Start>>20, peak>>20)
				if r.StatusCode != 413 || !strings.Contains(string(r.body), b.want) {
					t.Errorf("%d %.300s, want 413 naming %q", r.StatusCode, r.body, b.want)
				}
				if strings.HasPrefix(r.Header.Get("Content-Type"), "application/json") && !strings.Contains(r.errorField(t, "file"), b.want) {
					t.Errorf("the error does not name the file: %s", r.body)
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

// The largest imports accepted, over HTTP: the heap's peak while the server
// reads, checks and stores them (the test's client shares the process).
// README quotes these figures.
func TestImportLargestAccepted(t *testing.T) {
	if testing.Short() {
		t.Skip("imports 60,000 rows")
	}
	e := newEnv(t, "sqlite")
	sub, inst := e.token("demo-subdistributor"), e.token("demo-installer")
	macs := fmt.Sprintf("/api/v1/installers/%d/macs/import", installerID(t, e, "demo-installer"))
	pid := ipNum(e.ipCreate(inst, "/api/v1/projects", map[string]any{"kind": "community", "name": "Big Court"}), "id")
	users := fmt.Sprintf("/api/v1/projects/%d/end-users/import", pid)

	mac := func(i int) string { return fmt.Sprintf("0C:12:05:%02X:%02X:%02X", i>>16, i>>8&0xff, i&0xff) }
	named := make([][]string, store.MaxMACImport)
	long := make([][]string, store.MaxMACImport)
	for i := range named {
		named[i] = []string{mac(i), fmt.Sprintf("Villa %05d %s", i, strings.Repeat("n", 52))} // 64 characters, the most
		// As long as a 16 MiB file allows: the row is refused, the file read.
		long[i] = []string{mac(i), strings.Repeat("x", tabular.MaxBytes/store.MaxMACImport-20)}
	}
	xlsx, err := tabular.XLSX("MACs", []string{"MAC", "Name"}, named)
	if err != nil {
		t.Fatal(err)
	}
	people := make([][]string, store.MaxEndUserImport)
	for i := range people {
		people[i] = []string{"Property Manager", fmt.Sprintf("Manager %05d", i), "", "", "", "", fmt.Sprintf("m%05d@example.com", i),
			"", "", fmt.Sprintf("%d Harbour Road, Building %d", i, i%40), "yes", "", "", ""}
	}
	usersXLSX, err := tabular.XLSX("Users", usecase.EndUserImportColumns, people)
	if err != nil {
		t.Fatal(err)
	}
	bigCSV := tabular.CSV([]string{"MAC", "Name"}, long)
	for _, c := range []struct {
		name, path, token, file string
		data                    []byte
		status                  int
	}{
		{"50,000 MACs (XLSX)", macs, sub, "macs.xlsx", xlsx, 200},
		{"10,000 end users (XLSX)", users, inst, "users.xlsx", usersXLSX, 200},
		{"16 MiB CSV (50,000 MACs, long names)", macs, sub, "macs.csv", bigCSV, 422},
	} {
		ct, body := multipartFile(t, c.file, c.data)
		runtime.GC()
		w := heapwatch.Start(1 << 30)
		start := time.Now()
		r := e.do(nil, "POST", c.path, string(body), bearer(c.token), "Content-Type: "+ct)
		took, peak := time.Since(start), w.Stop()
		t.Logf("%-36s %5.1f MiB: %d in %v, heap %d -> peak %d MiB", c.name, float64(len(c.data))/(1<<20), r.StatusCode, took.Round(time.Millisecond), w.Start>>20, peak>>20)
		if r.StatusCode != c.status {
			t.Errorf("%s: %d %.300s", c.name, r.StatusCode, r.body)
		}
		if peak-w.Start > 256<<20 {
			t.Errorf("%s: the heap grew by %d MiB", c.name, (peak-w.Start)>>20)
		}
	}
}
