package fwimage

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/deviceauth"
	"github.com/gatehouse-dev/gatehouse/internal/model"
	"github.com/gatehouse-dev/gatehouse/internal/store"
	"github.com/gatehouse-dev/gatehouse/internal/testutil"
)

// node is one node's download server on a real database.
type node struct {
	st  *store.Store
	srv *Server
	url string
	dir string
}

func newNode(t *testing.T, st *store.Store, maxDownloads int) *node {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "firmware")
	srv := New(st, slog.New(slog.NewTextHandler(io.Discard, nil)), Options{Dir: dir, MaxDownloads: maxDownloads})
	mux := http.NewServeMux()
	mux.Handle("GET "+Route, srv)
	ts := httptest.NewServer(mux)
	t.Cleanup(ts.Close)
	return &node{st: st, srv: srv, url: ts.URL, dir: dir}
}

var admin = model.WithActor(context.Background(), model.System)

func testImage(n int) []byte {
	b := make([]byte, n)
	r := rand.New(rand.NewPCG(uint64(n), 9))
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

func upload(t *testing.T, st *store.Store, version string, img []byte) *model.Firmware {
	t.Helper()
	fw := &model.Firmware{Version: version, Model: "R29"}
	if err := st.CreateFirmwareImage(admin, fw, bytes.NewReader(img), 1<<30); err != nil {
		t.Fatal(err)
	}
	return fw
}

func (n *node) token(deviceID, firmwareID int64, exp time.Time) string {
	return deviceauth.FirmwareToken(n.st.FirmwareTokenKey(), deviceID, firmwareID, exp)
}

func (n *node) get(t *testing.T, method string, id int64, token string, headers ...string) (*http.Response, []byte) {
	t.Helper()
	req, _ := http.NewRequest(method, fmt.Sprintf("%s/device/v1/firmware/%d?token=%s", n.url, id, token), nil)
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return res, b
}

func eachBackend(t *testing.T, fn func(t *testing.T, st *store.Store)) {
	for _, b := range testutil.Backends(t) {
		t.Run(b, func(t *testing.T) { fn(t, testutil.NewStore(t, b)) })
	}
}

func TestDownload(t *testing.T) {
	eachBackend(t, func(t *testing.T, st *store.Store) {
		n := newNode(t, st, 4)
		img := testImage(2*store.FirmwareChunkSize + 12345)
		fw := upload(t, st, "29.30.2.1", img)
		tok := n.token(42, fw.ID, time.Now().Add(time.Hour))
		etag := `"` + fw.Checksum + `"`

		// The whole image.
		res, body := n.get(t, "GET", fw.ID, tok)
		if res.StatusCode != 200 || !bytes.Equal(body, img) || res.Header.Get("ETag") != etag ||
			res.Header.Get("Content-Length") != strconv.Itoa(len(img)) || res.Header.Get("Accept-Ranges") != "bytes" {
			t.Fatalf("GET: %d, %d bytes (identical %v), headers %v", res.StatusCode, len(body), bytes.Equal(body, img), res.Header)
		}
		// HEAD: the size and ETag, no body.
		if res, body := n.get(t, "HEAD", fw.ID, tok); res.StatusCode != 200 || len(body) != 0 ||
			res.ContentLength != int64(len(img)) || res.Header.Get("ETag") != etag {
			t.Errorf("HEAD: %d %d %v", res.StatusCode, res.ContentLength, res.Header)
		}
		// A range, and a resume from where a download broke off (If-Range:
		// only while it is the same image).
		if res, body := n.get(t, "GET", fw.ID, tok, "Range", "bytes=100-199"); res.StatusCode != 206 || !bytes.Equal(body, img[100:200]) ||
			res.Header.Get("Content-Range") != fmt.Sprintf("bytes 100-199/%d", len(img)) {
			t.Errorf("range: %d %d bytes %v", res.StatusCode, len(body), res.Header)
		}
		from := store.FirmwareChunkSize + 7
		res, body = n.get(t, "GET", fw.ID, tok, "Range", fmt.Sprintf("bytes=%d-", from), "If-Range", etag)
		if res.StatusCode != 206 || !bytes.Equal(append(img[:from:from], body...), img) {
			t.Errorf("resume: %d, %d bytes", res.StatusCode, len(body))
		}
		if res, body := n.get(t, "GET", fw.ID, tok, "Range", "bytes=10-", "If-Range", `"another image"`); res.StatusCode != 200 || !bytes.Equal(body, img) {
			t.Errorf("If-Range of another image must send it whole: %d %d", res.StatusCode, len(body))
		}
		if res, _ := n.get(t, "GET", fw.ID, tok, "If-None-Match", etag); res.StatusCode != 304 {
			t.Errorf("If-None-Match: %d", res.StatusCode)
		}
		if res, _ := n.get(t, "GET", fw.ID, tok, "Range", fmt.Sprintf("bytes=%d-", len(img)+5)); res.StatusCode != 416 {
			t.Errorf("range past the end: %d", res.StatusCode)
		}

		// Every bad token gets one answer: 403 and the same body.
		other := upload(t, st, "29.30.2.2", testImage(1000))
		forged := deviceauth.FirmwareToken(deviceauth.FirmwareTokenKey([]byte("another cluster's key")), 42, fw.ID, time.Now().Add(time.Hour))
		bad := map[string]string{
			"missing":     "",
			"malformed":   "not-a-token",
			"forged":      forged,
			"expired":     n.token(42, fw.ID, time.Now().Add(-time.Second)),
			"other image": n.token(42, other.ID, time.Now().Add(time.Hour)),
			"truncated":   tok[:len(tok)-1],
		}
		for name, bt := range bad {
			res, body := n.get(t, "GET", fw.ID, bt)
			if res.StatusCode != 403 || string(body) != refusedToken {
				t.Errorf("%s token: %d %q", name, res.StatusCode, body)
			}
		}
		if res, body := n.get(t, "GET", 0, tok); res.StatusCode != 403 || string(body) != refusedToken {
			t.Errorf("id 0: %d %q", res.StatusCode, body)
		}

		// An external image is not served here, even with a good token.
		ext := &model.Firmware{Version: "1.0", Model: "E16", FileURL: "https://fw.example/e16.rom", Checksum: fw.Checksum}
		if err := st.CreateFirmware(admin, ext); err != nil {
			t.Fatal(err)
		}
		if res, _ := n.get(t, "GET", ext.ID, n.token(42, ext.ID, time.Now().Add(time.Hour))); res.StatusCode != 404 {
			t.Errorf("external image: %d", res.StatusCode)
		}
		if res, _ := n.get(t, "GET", 999999, n.token(42, 999999, time.Now().Add(time.Hour))); res.StatusCode != 404 {
			t.Errorf("no such image: %d", res.StatusCode)
		}
		// One fill from the database served all of that.
		if f := n.srv.Filled(); f != 1 {
			t.Errorf("%d fills of the cache, want 1", f)
		}
	})
}

// Every node serves every image: a node that never saw the upload fills its
// own cache from the database.
func TestDownloadFromAnotherNode(t *testing.T) {
	eachBackend(t, func(t *testing.T, st *store.Store) {
		a, b := newNode(t, st, 4), newNode(t, st, 4)
		img := testImage(store.FirmwareChunkSize + 1)
		fw := upload(t, st, "1.2.3", img)
		for _, n := range []*node{a, b} {
			res, body := n.get(t, "GET", fw.ID, n.token(7, fw.ID, time.Now().Add(time.Minute)))
			if res.StatusCode != 200 || !bytes.Equal(body, img) {
				t.Errorf("node %s: %d, %d bytes", n.dir, res.StatusCode, len(body))
			}
			if _, err := os.Stat(filepath.Join(n.dir, fmt.Sprintf("%d-%s", fw.ID, fw.Checksum))); err != nil {
				t.Errorf("no cache file: %v", err)
			}
		}
	})
}

// The first downloads of an image on a node, all at once, fill its cache
// file once and all get the image.
func TestConcurrentFirstDownloadsFillOnce(t *testing.T) {
	eachBackend(t, func(t *testing.T, st *store.Store) {
		n := newNode(t, st, 64)
		img := testImage(3*store.FirmwareChunkSize + 3)
		fw := upload(t, st, "1.2.3", img)
		var wg sync.WaitGroup
		errs := make(chan string, 16)
		for dev := range int64(16) {
			tok := n.token(dev+1, fw.ID, time.Now().Add(time.Minute)) // 16 devices (one may hold 2 downloads)
			wg.Go(func() {
				res, err := http.Get(fmt.Sprintf("%s/device/v1/firmware/%d?token=%s", n.url, fw.ID, tok))
				if err != nil {
					errs <- err.Error()
					return
				}
				body, _ := io.ReadAll(res.Body)
				res.Body.Close()
				if res.StatusCode != 200 || !bytes.Equal(body, img) {
					errs <- fmt.Sprintf("%d, %d bytes", res.StatusCode, len(body))
				}
			})
		}
		wg.Wait()
		close(errs)
		for e := range errs {
			t.Error(e)
		}
		if f := n.srv.Filled(); f != 1 {
			t.Errorf("%d fills for 16 concurrent first downloads, want 1", f)
		}
	})
}

// Past the bound of downloads under way, a device is told to come back.
func TestDownloadBound(t *testing.T) {
	st := testutil.NewStore(t, "sqlite")
	n := newNode(t, st, 2)
	fw := upload(t, st, "1.0", testImage(1000))
	tok := n.token(7, fw.ID, time.Now().Add(time.Minute))
	// Two downloads under way hold the two places.
	n.srv.slots <- struct{}{}
	n.srv.slots <- struct{}{}
	res, _ := n.get(t, "GET", fw.ID, tok)
	ra, _ := strconv.Atoi(res.Header.Get("Retry-After"))
	if res.StatusCode != 503 || ra < 5 || ra > 15 {
		t.Errorf("over the bound: %d, Retry-After %q", res.StatusCode, res.Header.Get("Retry-After"))
	}
	// A bad token is refused as ever, not counted as a download.
	if res, _ := n.get(t, "GET", fw.ID, "x"); res.StatusCode != 403 {
		t.Errorf("bad token while full: %d", res.StatusCode)
	}
	<-n.srv.slots
	if res, _ := n.get(t, "GET", fw.ID, tok); res.StatusCode != 200 {
		t.Errorf("a place free again: %d", res.StatusCode)
	}
	// The handler gives its place back after the client has the last byte.
	for deadline := time.Now().Add(5 * time.Second); len(n.srv.slots) != 1 && time.Now().Before(deadline); {
		time.Sleep(time.Millisecond)
	}
	if len(n.srv.slots) != 1 {
		t.Errorf("a finished download kept its place: %d held", len(n.srv.slots))
	}
}

// A cache file that no longer matches its sha256 is filled again: changed
// while the node runs, or found corrupt by a node that starts.
func TestCorruptCacheIsRefilled(t *testing.T) {
	st := testutil.NewStore(t, "sqlite")
	n := newNode(t, st, 4)
	img := testImage(store.FirmwareChunkSize + 100)
	fw := upload(t, st, "1.0", img)
	tok := n.token(7, fw.ID, time.Now().Add(time.Minute))
	if res, _ := n.get(t, "GET", fw.ID, tok); res.StatusCode != 200 {
		t.Fatal(res.Status)
	}
	path := filepath.Join(n.dir, fmt.Sprintf("%d-%s", fw.ID, fw.Checksum))
	corrupt := func() {
		t.Helper()
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		b[len(b)/2] ^= 0xff
		if err := os.WriteFile(path, b, 0o600); err != nil {
			t.Fatal(err)
		}
		// A file's time may not move within a few milliseconds: set it
		// apart from the one the node checked.
		old := time.Now().Add(-time.Hour)
		os.Chtimes(path, old, old)
	}
	check := func(what string, srv *node, fills int64) {
		t.Helper()
		res, body := srv.get(t, "GET", fw.ID, tok)
		if res.StatusCode != 200 || !bytes.Equal(body, img) {
			t.Errorf("%s: %d, identical %v", what, res.StatusCode, bytes.Equal(body, img))
		}
		if f := srv.srv.Filled(); f != fills {
			t.Errorf("%s: %d fills, want %d", what, f, fills)
		}
		b, _ := os.ReadFile(path)
		if s := sha256.Sum256(b); hex.EncodeToString(s[:]) != fw.Checksum {
			t.Errorf("%s: the cache file is still corrupt", what)
		}
	}
	corrupt()
	check("changed while running", n, 2)

	// A node starting on a directory with a corrupt file.
	corrupt()
	restarted := New(st, slog.New(slog.NewTextHandler(io.Discard, nil)), Options{Dir: n.dir, MaxDownloads: 4})
	mux := http.NewServeMux()
	mux.Handle("GET "+Route, restarted)
	ts := httptest.NewServer(mux)
	defer ts.Close()
	check("found at start", &node{st: st, srv: restarted, url: ts.URL, dir: n.dir}, 1)

	// A good file left by an earlier run is checked, not filled again.
	again := New(st, slog.New(slog.NewTextHandler(io.Discard, nil)), Options{Dir: n.dir, MaxDownloads: 4})
	mux2 := http.NewServeMux()
	mux2.Handle("GET "+Route, again)
	ts2 := httptest.NewServer(mux2)
	defer ts2.Close()
	check("good at start", &node{st: st, srv: again, url: ts2.URL, dir: n.dir}, 0)
}

// A stored image that does not match its catalogue entry is never served,
// and not read again for every device that asks.
func TestCorruptStoredImageIsNotServed(t *testing.T) {
	eachBackend(t, func(t *testing.T, st *store.Store) {
		n := newNode(t, st, 4)
		img := testImage(store.FirmwareChunkSize + 100)
		fw := upload(t, st, "1.0", img)
		q := `UPDATE firmware_chunks SET data = ? WHERE firmware_id = ? AND seq = 1`
		if st.Dialect() == store.Postgres {
			q = `UPDATE firmware_chunks SET data = $1 WHERE firmware_id = $2 AND seq = 1`
		}
		if _, err := st.DB().Exec(q, bytes.Repeat([]byte{1}, 100), fw.ID); err != nil {
			t.Fatal(err)
		}
		tok := n.token(7, fw.ID, time.Now().Add(time.Minute))
		for i := range 2 {
			if res, body := n.get(t, "GET", fw.ID, tok); res.StatusCode != 500 || bytes.Contains(body, img[:100]) {
				t.Errorf("download %d of a corrupt stored image: %d", i, res.StatusCode)
			}
		}
		if entries, _ := os.ReadDir(n.dir); len(entries) != 0 {
			t.Errorf("files left in the cache: %v", entries)
		}
		if f := n.srv.Filled(); f != 0 {
			t.Errorf("%d fills", f)
		}
	})
}

// withReadFrom reaches the ReadFrom of the writer under the server's
// status-recording wrappers (sendfile), and keeps the status recorded.
func TestWithReadFromReachesTheConnection(t *testing.T) {
	inner := &readFromRecorder{ResponseRecorder: httptest.NewRecorder()}
	outer := &statusRecorder{ResponseWriter: inner}
	w := withReadFrom(outer)
	w.WriteHeader(206)
	rf, ok := w.(io.ReaderFrom)
	if !ok {
		t.Fatal("no ReadFrom")
	}
	rf.ReadFrom(bytes.NewReader([]byte("image")))
	if !inner.readFrom || outer.status != 206 || inner.Body.String() != "image" {
		t.Errorf("ReadFrom reached %v, status recorded %d, body %q", inner.readFrom, outer.status, inner.Body.String())
	}
	if http.NewResponseController(w).SetWriteDeadline(time.Now()) == nil {
		t.Error("the recorder has no deadlines: SetWriteDeadline must fail (reaching it through Unwrap)")
	}
}

type readFromRecorder struct {
	*httptest.ResponseRecorder
	readFrom bool
}

func (r *readFromRecorder) ReadFrom(src io.Reader) (int64, error) {
	r.readFrom = true
	return io.Copy(r.ResponseRecorder, src)
}

type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (s *statusRecorder) WriteHeader(code int)        { s.status = code; s.ResponseWriter.WriteHeader(code) }
func (s *statusRecorder) Unwrap() http.ResponseWriter { return s.ResponseWriter }

// A device that stops reading loses its place within the stall time, not
// at the end of the whole download's time (minutes for a large image):
// review M4. The next device gets the place and the whole image.
func TestStalledDownloadFreesItsPlace(t *testing.T) {
	st := testutil.NewStore(t, "sqlite")
	dir := filepath.Join(t.TempDir(), "firmware")
	srv := New(st, slog.New(slog.NewTextHandler(io.Discard, nil)), Options{Dir: dir, MaxDownloads: 1, Stall: 300 * time.Millisecond})
	mux := http.NewServeMux()
	mux.Handle("GET "+Route, srv)
	ts := httptest.NewServer(mux)
	t.Cleanup(ts.Close)
	n := &node{st: st, srv: srv, url: ts.URL, dir: dir}
	img := testImage(24 << 20) // more than the loopback's socket buffers hold
	fw := upload(t, st, "1.0", img)

	conn, err := net.Dial("tcp", strings.TrimPrefix(ts.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "GET /device/v1/firmware/%d?token=%s HTTP/1.1\r\nHost: x\r\n\r\n", fw.ID, n.token(1, fw.ID, time.Now().Add(time.Hour)))
	head := make([]byte, 64)
	if _, err := io.ReadFull(conn, head); err != nil || !bytes.HasPrefix(head, []byte("HTTP/1.1 200")) {
		t.Fatalf("the stalling device's answer: %q %v", head, err)
	}
	// It reads no more. Its place comes free.
	for deadline := time.Now().Add(20 * time.Second); len(srv.slots) != 0 && time.Now().Before(deadline); {
		time.Sleep(10 * time.Millisecond)
	}
	if len(srv.slots) != 0 {
		t.Fatal("a stalled download kept its place")
	}
	// What it can still read is cut short: the server ended the download.
	conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	if rest, _ := io.Copy(io.Discard, conn); int(rest)+len(head) >= len(img) {
		t.Errorf("the stalled download went on to the end (%d bytes)", rest)
	}
	res, b := n.get(t, "GET", fw.ID, n.token(2, fw.ID, time.Now().Add(time.Hour)))
	if res.StatusCode != 200 || !bytes.Equal(b, img) {
		t.Errorf("the next device: %d, %d bytes (want %d, equal)", res.StatusCode, len(b), len(img))
	}
}

// One device holds at most maxPerDevice downloads at a time; another
// device is served meanwhile.
func TestDownloadsPerDevice(t *testing.T) {
	st := testutil.NewStore(t, "sqlite")
	n := newNode(t, st, 8)
	fw := upload(t, st, "1.0", testImage(1000))
	for range maxPerDevice {
		if !n.srv.takeDevice(7) {
			t.Fatal("a device's first downloads refused")
		}
	}
	res, _ := n.get(t, "GET", fw.ID, n.token(7, fw.ID, time.Now().Add(time.Minute)))
	if res.StatusCode != 429 || res.Header.Get("Retry-After") == "" {
		t.Errorf("a device's download over its bound: %d, Retry-After %q", res.StatusCode, res.Header.Get("Retry-After"))
	}
	if res, _ := n.get(t, "GET", fw.ID, n.token(8, fw.ID, time.Now().Add(time.Minute))); res.StatusCode != 200 {
		t.Errorf("another device meanwhile: %d", res.StatusCode)
	}
	n.srv.freeDevice(7)
	if res, _ := n.get(t, "GET", fw.ID, n.token(7, fw.ID, time.Now().Add(time.Minute))); res.StatusCode != 200 {
		t.Errorf("the device with a place free: %d", res.StatusCode)
	}
	n.srv.freeDevice(7)
	// The handlers give their counts back after the client has the last
	// byte: wait for that.
	count := func() int { n.srv.devMu.Lock(); defer n.srv.devMu.Unlock(); return len(n.srv.devices) }
	for deadline := time.Now().Add(5 * time.Second); count() != 0 && time.Now().Before(deadline); {
		time.Sleep(time.Millisecond)
	}
	if c := count(); c != 0 {
		t.Errorf("%d devices still counted", c)
	}
}

// progressWriter hands the connection pieces of the file itself under one
// LimitedReader (what sendfile needs), and the pieces make the whole range.
func TestProgressWriterKeepsSendfile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "img")
	img := testImage(3*stallChunk + 100)
	if err := os.WriteFile(path, img, 0o600); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	f.Seek(50, io.SeekStart)
	rec := &pieceRecorder{ResponseRecorder: httptest.NewRecorder()}
	pw := &progressWriter{ResponseWriter: rec, rc: http.NewResponseController(rec), rf: rec, stall: time.Minute, end: time.Now().Add(time.Hour)}
	n, err := io.CopyN(pw, f, int64(len(img)-60))
	if err != nil || n != int64(len(img)-60) || !bytes.Equal(rec.Body.Bytes(), img[50:len(img)-10]) {
		t.Fatalf("copied %d %v; body equal: %v", n, err, bytes.Equal(rec.Body.Bytes(), img[50:len(img)-10]))
	}
	if rec.pieces < 4 || rec.notFile > 0 {
		t.Errorf("%d pieces, %d not a LimitedReader of the file", rec.pieces, rec.notFile)
	}
}

type pieceRecorder struct {
	*httptest.ResponseRecorder
	pieces, notFile int
}

func (r *pieceRecorder) ReadFrom(src io.Reader) (int64, error) {
	r.pieces++
	if lr, ok := src.(*io.LimitedReader); !ok || lr.N > stallChunk {
		r.notFile++
	} else if _, ok := lr.R.(*os.File); !ok {
		r.notFile++
	}
	return io.Copy(r.ResponseRecorder, src)
}
