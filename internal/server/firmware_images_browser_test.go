package server_test

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/gatehouse-dev/gatehouse/internal/demo"
	"github.com/gatehouse-dev/gatehouse/internal/deviceauth"
)

// The admin uploads an image with the portal's form in a real browser: the
// browser sends the CSRF token first and the file last (the order the
// server reads them in), the image is stored byte for byte.
func TestBrowserAdminUploadsFirmware(t *testing.T) {
	execPath := requireChromium(t)
	e := newFirmwareEnv(t, "sqlite")
	c := newChrome(t, execPath, e.url, 1280, 900, chromeTimeout)
	c.login(demo.AdminUser)

	img := firmwareImage(1<<20+99, 6)
	file := filepath.Join(t.TempDir(), "r29-29.30.4.0.rom")
	if err := os.WriteFile(file, img, 0o600); err != nil {
		t.Fatal(err)
	}
	if st := c.open("/firmware"); st != 200 {
		t.Fatalf("firmware list: %d", st)
	}
	if st := c.clickAndLoad("#upload-firmware"); st != 200 || c.path() != "/firmware/upload" {
		t.Fatalf("upload page: %d %s", st, c.path())
	}
	c.do("fill the upload form",
		chromedp.SendKeys(chromedp.ID("upload-version"), "29.30.4.0"),
		chromedp.SendKeys(chromedp.ID("upload-model"), "R29"),
		chromedp.SendKeys(chromedp.ID("upload-sha256"), hexSHA(img)),
		chromedp.SendKeys(chromedp.ID("upload-change-log"), "Uploaded in a browser"),
		chromedp.SetUploadFiles(chromedp.ID("upload-file"), []string{file}),
	)
	if st := c.clickAndLoad("#upload"); st != 200 {
		t.Fatalf("upload: %d (%s)", st, c.text(".error"))
	}
	var id int64
	if _, err := fmt.Sscanf(c.path(), "/firmware/%d", &id); err != nil {
		t.Fatalf("after the upload the browser is at %s", c.path())
	}
	if n := c.text(".notice"); !strings.Contains(n, "29.30.4.0") {
		t.Errorf("notice %q", n)
	}
	tok := deviceauth.FirmwareToken(e.st.FirmwareTokenKey(), 1, id, time.Now().Add(time.Hour))
	if d := e.download(id, tok); d.StatusCode != 200 || !bytes.Equal(d.body, img) {
		t.Errorf("download of the browser's upload: %d, identical %v", d.StatusCode, bytes.Equal(d.body, img))
	}

	// A wrong sha256: the form again, naming the field, nothing stored.
	before := e.firmwareRows()
	c.open("/firmware/upload")
	c.do("fill the upload form",
		chromedp.SendKeys(chromedp.ID("upload-version"), "29.30.4.1"),
		chromedp.SendKeys(chromedp.ID("upload-model"), "R29"),
		chromedp.SendKeys(chromedp.ID("upload-sha256"), strings.Repeat("0", 64)),
		chromedp.SetUploadFiles(chromedp.ID("upload-file"), []string{file}),
	)
	if st := c.clickAndLoad("#upload"); st != 400 || !strings.Contains(c.text("#firmware-upload"), "does not match") {
		t.Errorf("wrong sha256: %d", st)
	}
	if v := chromeEval[string](c, `document.getElementById("upload-version").value`); v != "29.30.4.1" {
		t.Errorf("the form lost the version: %q", v)
	}
	if after := e.firmwareRows(); after != before {
		t.Errorf("a refused upload wrote rows: %v → %v", before, after)
	}
}
