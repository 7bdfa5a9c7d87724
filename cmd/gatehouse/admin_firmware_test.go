package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/model"
	"github.com/gatehouse-dev/gatehouse/internal/store"
)

// `gatehouse admin add-firmware --file` stores the image in the database
// with its sha256 and size; a --checksum that does not match names the flag
// and stores nothing.
func TestAdminAddFirmwareFile(t *testing.T) {
	data := t.TempDir()
	img := bytes.Repeat([]byte("firmware image "), 100000) // 1.5 MB: two chunks
	path := filepath.Join(t.TempDir(), "r29.rom")
	if err := os.WriteFile(path, img, 0o600); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(img)
	sha := hex.EncodeToString(sum[:])
	admin := func(args ...string) (string, error) {
		return runCmd(t, env(nil), append(append([]string{"admin", "add-firmware"}, args...), "--data", data)...)
	}
	if _, err := admin("--version", "1.0", "--model", "R29", "--file", path, "--checksum", strings.Repeat("0", 64)); err == nil || !strings.Contains(err.Error(), "--checksum") {
		t.Errorf("wrong checksum: %v", err)
	}
	if _, err := admin("--version", "1.0", "--model", "R29", "--file", path, "--max-bytes", "1000"); err == nil || !strings.Contains(err.Error(), "--file") {
		t.Errorf("over --max-bytes: %v", err)
	}
	if _, err := admin("--version", "1.0", "--model", "R29", "--file", path, "--file-url", "https://x.example/a"); err == nil {
		t.Error("--file and --file-url together were accepted")
	}
	out, err := admin("--version", "1.0", "--model", "R29", "--file", path, "--checksum", sha)
	if err != nil || !strings.Contains(out, sha) {
		t.Fatalf("add-firmware --file: %v %s", err, out)
	}

	st, err := openStore(context.Background(), dbFlags{data: data})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ctx := model.WithActor(context.Background(), model.System)
	l, err := st.ListFirmware(ctx, model.FirmwareFilter{Page: model.Page{Page: 1, PerPage: 10}})
	if err != nil || l.Total != 1 {
		t.Fatalf("refused tasks stored firmware, or the upload is missing: %v %+v", err, l.Items)
	}
	fw := l.Items[0]
	if !fw.Stored || fw.Size != int64(len(img)) || fw.Checksum != sha {
		t.Errorf("stored entry: %+v", fw)
	}
	var got bytes.Buffer
	if _, err := st.CopyFirmwareImage(ctx, fw.ID, &got); err != nil || !bytes.Equal(got.Bytes(), img) {
		t.Errorf("stored image differs: %v", err)
	}
	var chunks int
	st.DB().QueryRow(`SELECT count(*) FROM firmware_chunks`).Scan(&chunks)
	if chunks != (len(img)+store.FirmwareChunkSize-1)/store.FirmwareChunkSize {
		t.Errorf("%d chunks", chunks)
	}
}
