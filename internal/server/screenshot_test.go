package server_test

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// TestScreenshots takes the README's screenshots of the portal over the demo
// data. It runs only when asked:
//
//	GATEHOUSE_SCREENSHOTS=docs/screenshots go test -run TestScreenshots -count=1 ./internal/server/
func TestScreenshots(t *testing.T) {
	dir := os.Getenv("GATEHOUSE_SCREENSHOTS")
	if dir == "" {
		t.Skip("set GATEHOUSE_SCREENSHOTS=DIR to take the README screenshots")
	}
	dir, err := filepath.Abs(dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	execPath := findChromium()
	if execPath == "" {
		t.Fatal("screenshots: chromium not found on PATH (tried chromium, chromium-browser, google-chrome)")
	}
	e := newEnv(t, "sqlite")
	const width, height = 1280, 800
	c := newChrome(t, execPath, e.url, width, height, 2*time.Minute)

	pngMagic := []byte("\x89PNG\r\n\x1a\n")
	shot := func(name string) {
		t.Helper()
		// Let the fonts settle before the capture.
		c.do("wait for fonts", chromedp.Evaluate[chromedp.Void](`document.fonts.ready.then(() => undefined)`, chromedp.EvalAwaitPromise))
		buf, err := chromedp.Run(c.ctx, chromedp.FullScreenshot(100))
		if err != nil {
			t.Fatalf("screenshot %s: %v", name, err)
		}
		if !bytes.HasPrefix(buf, pngMagic) {
			t.Fatalf("screenshot %s is not a PNG", name)
		}
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, buf, 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("wrote %s (%d bytes)", p, len(buf))
	}
	open := func(path string) {
		t.Helper()
		if st := c.open(path); st != 200 {
			t.Fatalf("GET %s: status %d", path, st)
		}
	}

	open("/login")
	shot("login.png")

	c.login("demo-subdistributor")
	open("/")
	shot("home.png")
	open("/firmware?per_page=10")
	c.do("wait for the firmware list", chromedp.WaitVisible(chromedp.ID("firmware-list")))
	shot("firmware.png")

	c.do("narrow viewport", chromedp.EmulateViewport(390, 844))
	open("/firmware?model=R2&per_page=8")
	shot("firmware-narrow.png")
	c.do("wide viewport", chromedp.EmulateViewport(width, height))
	open("/users/installers?per_page=10")
	shot("installers.png")
	open("/users/community?per_page=12")
	shot("community-users.png")
	open("/settings")
	shot("settings.png")
	open("/project-devices?per_page=12")
	shot("project-devices.png")
	open("/payments?per_page=12")
	shot("payments.png")

	if st := c.clickAndLoad("#logout"); st != 200 {
		t.Fatalf("log out: status %d", st)
	}
	c.login("demo-installer")
	open("/installer/projects")
	shot("installer-projects.png")
	open("/pending-devices")
	shot("pending-devices.png")

	if st := c.clickAndLoad("#logout"); st != 200 {
		t.Fatalf("log out: status %d", st)
	}
	c.login("demo-distributor")
	open("/subdistributors")
	c.do("wait for the sub-distributors", chromedp.WaitVisible(chromedp.ID("accounts-list")))
	shot("subdistributors.png")
}
