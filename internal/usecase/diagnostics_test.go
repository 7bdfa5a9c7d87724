package usecase

import (
	"sync"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/model"
)

// A node serves DiagnosticDownloadsAtOnce diagnostic files at once (each
// is in memory while it is written): one more is answered "too many"
// (429) at once, and a place frees when a download ends.
func TestDiagnosticDownloadsBounded(t *testing.T) {
	tc := newTestCases(t, "sqlite")
	tr := newDeviceTree(t, tc.store)
	g, err := tc.store.CreateDiagnostic(deviceAs(tr.own.sub), tr.own.device.MAC,
		model.DiagnosticRequest{Kind: model.DiagnosticLog, DiagnosticParams: model.DiagnosticParams{Lines: 10}}, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	if ok, err := tc.store.StartDiagnostic(deviceSys, g.ID, "n1"); err != nil || !ok {
		t.Fatal(ok, err)
	}
	if err := tc.store.FinishDiagnostic(deviceSys, g.ID, "", "log.txt", "text/plain; charset=utf-8", []byte("boot\n")); err != nil {
		t.Fatal(err)
	}
	ctx := deviceAs(tr.own.sub)
	release := make(chan struct{})
	var writing, done sync.WaitGroup
	writing.Add(DiagnosticDownloadsAtOnce)
	for range DiagnosticDownloadsAtOnce {
		done.Add(1)
		go func() {
			defer done.Done()
			if err := tc.DownloadDiagnostic(ctx, g.ID, func(*model.Diagnostic, []byte) { writing.Done(); <-release }); err != nil {
				t.Error(err)
			}
		}()
	}
	writing.Wait()
	err = tc.DownloadDiagnostic(ctx, g.ID, func(*model.Diagnostic, []byte) { t.Error("a download past the bound was served") })
	if model.ErrorCode(err) != model.ETOOMANY {
		t.Errorf("download %d at once: %v", DiagnosticDownloadsAtOnce+1, err)
	}
	close(release)
	done.Wait()
	var got string
	if err := tc.DownloadDiagnostic(ctx, g.ID, func(_ *model.Diagnostic, data []byte) { got = string(data) }); err != nil || got != "boot\n" {
		t.Errorf("after the others ended: %q %v", got, err)
	}
	// Another sub-distributor's download is not found, and takes no place.
	if err := tc.DownloadDiagnostic(deviceAs(tr.other.sub), g.ID, func(*model.Diagnostic, []byte) {}); model.ErrorCode(err) != model.ENOTFOUND {
		t.Errorf("foreign: %v", err)
	}
}
