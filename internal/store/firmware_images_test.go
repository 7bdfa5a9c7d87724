package store_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/model"
	"github.com/gatehouse-dev/gatehouse/internal/store"
)

func init() {
	coveredElsewhere["CreateFirmwareImage"] = "TestFirmwareImages (the admin only)"
	coveredElsewhere["FirmwareImage"] = "system side: the download endpoint, whose credential is the device's token"
	coveredElsewhere["CopyFirmwareImage"] = "system side: a node filling its firmware cache"
	coveredElsewhere["FirmwareTokenKey"] = "system side: the key of firmware download tokens"
}

// image returns n bytes that are not a repetition of one chunk.
func image(n int, seed uint64) []byte {
	b := make([]byte, n)
	r := rand.New(rand.NewPCG(seed, seed))
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

func sha(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

func countRows(t *testing.T, st *store.Store, table string) int {
	t.Helper()
	var n int
	if err := st.DB().QueryRow(`SELECT count(*) FROM ` + table).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// oneByteReader hands out one byte per Read, the way a slow network does.
type oneByteReader struct{ r io.Reader }

func (o oneByteReader) Read(p []byte) (int, error) {
	if len(p) > 1 {
		p = p[:1]
	}
	return o.r.Read(p)
}

func TestFirmwareImages(t *testing.T) {
	eachBackend(t, func(t *testing.T, st *store.Store) {
		tr := mustTree(t, st)
		ctx := as(tr.admin)
		// Two and a half chunks: the last one short.
		img := image(2*store.FirmwareChunkSize+store.FirmwareChunkSize/2, 1)
		fw := &model.Firmware{Version: "29.30.2.1", Model: "R29", ChangeLog: "OTA", Checksum: "sha256:" + strings.ToUpper(sha(img))}
		if err := st.CreateFirmwareImage(as(tr.subA1), fw, bytes.NewReader(img), 1<<30); model.ErrorCode(err) != model.EFORBIDDEN {
			t.Errorf("a sub-distributor uploads firmware: %v", err)
		}
		if err := st.CreateFirmwareImage(ctx, fw, bytes.NewReader(img), 1<<30); err != nil {
			t.Fatal(err)
		}
		if !fw.Stored || fw.Size != int64(len(img)) || fw.Checksum != sha(img) || fw.FileURL != "" {
			t.Errorf("stored entry: %+v", fw)
		}
		if n := countRows(t, st, "firmware_chunks"); n != 3 {
			t.Errorf("%d chunks, want 3", n)
		}
		got, err := st.GetFirmware(as(tr.a1.installer), fw.ID)
		if err != nil || !got.Stored || got.Size != fw.Size || got.Checksum != fw.Checksum {
			t.Errorf("read back: %+v %v", got, err)
		}
		var out bytes.Buffer
		if n, err := st.CopyFirmwareImage(sys, fw.ID, &out); err != nil || n != int64(len(img)) || !bytes.Equal(out.Bytes(), img) {
			t.Errorf("copy: %d bytes, %v, identical %v", n, err, bytes.Equal(out.Bytes(), img))
		}
		// The audit log has it.
		l, err := st.ListAudit(ctx, model.AuditFilter{ObjectType: "firmware", Page: model.Page{Page: 1, PerPage: 10}})
		if err != nil || l.Total != 1 || l.Items[0].Action != "firmware.upload" {
			t.Errorf("audit: %+v %v", l.Items, err)
		}

		firmwareRows, chunks := countRows(t, st, "firmware"), countRows(t, st, "firmware_chunks")
		nothingWritten := func(what string) {
			t.Helper()
			if f, c := countRows(t, st, "firmware"), countRows(t, st, "firmware_chunks"); f != firmwareRows || c != chunks {
				t.Errorf("%s: firmware rows %d → %d, chunks %d → %d", what, firmwareRows, f, chunks, c)
			}
		}
		// A sha256 that does not match: 400 naming sha256, nothing kept.
		bad := &model.Firmware{Version: "29.30.2.2", Model: "R29", Checksum: sha([]byte("another image"))}
		err = st.CreateFirmwareImage(ctx, bad, bytes.NewReader(img), 1<<30)
		if model.ErrorCode(err) != model.EINVALID || model.ErrorFields(err)["sha256"] == "" {
			t.Errorf("wrong sha256: %v", err)
		}
		nothingWritten("wrong sha256")
		// Over the limit, found while reading (a slow reader: chunks were
		// written before the limit was passed): 413 naming the limit.
		big := &model.Firmware{Version: "29.30.2.3", Model: "R29"}
		err = st.CreateFirmwareImage(ctx, big, io.LimitReader(oneByteReader{bytes.NewReader(img)}, int64(len(img))), 2*store.FirmwareChunkSize)
		if model.ErrorCode(err) != model.ETOOLARGE || !strings.Contains(model.ErrorFields(err)["file"], "2 MiB") {
			t.Errorf("over the limit: %v %v", err, model.ErrorFields(err))
		}
		nothingWritten("over the limit")
		// An upload that broke off.
		err = st.CreateFirmwareImage(ctx, &model.Firmware{Version: "29.30.2.4", Model: "R29"},
			io.MultiReader(bytes.NewReader(img[:store.FirmwareChunkSize+5]), errReader{}), 1<<30)
		if model.ErrorCode(err) != model.EINVALID || model.ErrorFields(err)["file"] == "" {
			t.Errorf("broken upload: %v", err)
		}
		nothingWritten("broken upload")
		// Same version and model: 409, found before the image is read.
		dup := &model.Firmware{Version: "29.30.2.1", Model: "R29"}
		if err := st.CreateFirmwareImage(ctx, dup, errReader{}, 1<<30); model.ErrorCode(err) != model.ECONFLICT {
			t.Errorf("duplicate: %v", err)
		}
		// Bad metadata names the field; an empty image is refused.
		err = st.CreateFirmwareImage(ctx, &model.Firmware{Version: "", Model: "R29", Checksum: "xyz"}, bytes.NewReader(img), 1<<30)
		if f := model.ErrorFields(err); f["version"] == "" || f["sha256"] == "" {
			t.Errorf("bad metadata: %v", err)
		}
		if err := st.CreateFirmwareImage(ctx, &model.Firmware{Version: "1", Model: "R29"}, bytes.NewReader(nil), 1<<30); model.ErrorFields(err)["file"] == "" {
			t.Errorf("empty image: %v", err)
		}
		nothingWritten("refused metadata")

		// An external image has no chunks; its size is kept.
		ext := &model.Firmware{Version: "1.0", Model: "E16", FileURL: "https://fw.example/e16.rom", Checksum: sha(img), Size: 1234}
		if err := st.CreateFirmware(ctx, ext); err != nil {
			t.Fatal(err)
		}
		if got, _ := st.FirmwareImage(context.Background(), ext.ID); got == nil || got.Stored || got.Size != 1234 {
			t.Errorf("external entry: %+v", got)
		}
		if _, err := st.CopyFirmwareImage(sys, ext.ID, io.Discard); model.ErrorCode(err) != model.ENOTFOUND {
			t.Errorf("copy of an external image: %v", err)
		}
		if err := st.CreateFirmware(ctx, &model.Firmware{Version: "1.1", Model: "E16", FileURL: "https://x.example/a", Checksum: sha(img), Size: -1}); model.ErrorFields(err)["size"] == "" {
			t.Errorf("negative size: %v", err)
		}
	})
}

type errReader struct{}

func (errReader) Read([]byte) (int, error) { return 0, errors.New("connection reset by peer") }
