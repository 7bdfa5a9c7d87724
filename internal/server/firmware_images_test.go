package server_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"mime/multipart"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/auth"
	"github.com/gatehouse-dev/gatehouse/internal/demo"
	"github.com/gatehouse-dev/gatehouse/internal/deviceauth"
	"github.com/gatehouse-dev/gatehouse/internal/mail"
	"github.com/gatehouse-dev/gatehouse/internal/mail/mailtest"
	"github.com/gatehouse-dev/gatehouse/internal/server"
	"github.com/gatehouse-dev/gatehouse/internal/store"
	"github.com/gatehouse-dev/gatehouse/internal/testutil"
)

// firmwareLimit is the image size limit of the firmware tests' nodes.
const firmwareLimit = 4 << 20

// newFirmwareEnv is newEnv with a data directory and a small image limit.
func newFirmwareEnv(t *testing.T, backend string) *env {
	t.Helper()
	st := testutil.NewStore(t, backend)
	if _, err := demo.Load(context.Background(), st, demo.Options{Password: demoPassword, Users: 20, Devices: 20, Seed: 7}, io.Discard); err != nil {
		t.Fatal(err)
	}
	var logBuf bytes.Buffer
	log := slog.New(slog.NewTextHandler(&logBuf, nil))
	au := &auth.Service{Store: st, Config: auth.DefaultConfig, Log: log}
	smtpd := mailtest.Start(t)
	mailer, err := mail.NewSMTP(smtpd.Config())
	if err != nil {
		t.Fatal(err)
	}
	srv, err := server.New(server.Config{DataDir: t.TempDir(), Firmware: server.FirmwareOptions{MaxBytes: firmwareLimit, MaxDownloads: 8}}, st, au, mailer, log)
	if err != nil {
		t.Fatal(err)
	}
	ts, front := serveNode(t, srv)
	return &env{t: t, st: st, auth: au, srv: srv, ts: ts, front: front, url: ts.URL, log: &logBuf, mail: mailer, smtpd: smtpd}
}

func eachFirmwareBackend(t *testing.T, fn func(t *testing.T, e *env)) {
	for _, b := range testutil.Backends(t) {
		t.Run(b, func(t *testing.T) {
			t.Parallel()
			fn(t, newFirmwareEnv(t, b))
		})
	}
}

func firmwareImage(n int, seed uint64) []byte {
	b := make([]byte, n)
	r := rand.New(rand.NewPCG(seed, 1))
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

func hexSHA(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// rowCounts counts the firmware rows and the stored chunks.
func (e *env) firmwareRows() [2]int {
	e.t.Helper()
	var n [2]int
	for i, table := range []string{"firmware", "firmware_chunks"} {
		if err := e.st.DB().QueryRow(`SELECT count(*) FROM ` + table).Scan(&n[i]); err != nil {
			e.t.Fatal(err)
		}
	}
	return n
}

// streamed is a body the client sends in pieces as it goes (no length
// known up front: chunked), as a large upload is.
func streamed(b []byte) io.Reader {
	pr, pw := io.Pipe()
	go func() {
		for len(b) > 0 {
			n := min(len(b), 64<<10)
			if _, err := pw.Write(b[:n]); err != nil {
				return
			}
			b = b[n:]
		}
		pw.Close()
	}()
	return pr
}

func (e *env) upload(tok, query string, body io.Reader) *resp {
	e.t.Helper()
	req, _ := http.NewRequest("POST", e.url+"/api/v1/firmware/upload?"+query, body)
	req.Header.Set("Content-Type", "application/octet-stream")
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return &resp{Response: res, body: b}
}

// download fetches an image as a device does, through the node's front door.
func (e *env) download(id int64, token string, headers ...string) *resp {
	e.t.Helper()
	return e.do(nil, "GET", fmt.Sprintf("/device/v1/firmware/%d?token=%s", id, token), nil, headers...)
}

func TestFirmwareUploadAPI(t *testing.T) {
	eachFirmwareBackend(t, func(t *testing.T, e *env) {
		admin := e.token(demo.AdminUser)
		// 3 MiB and a bit, streamed: several chunks, the last one short.
		img := firmwareImage(3<<20+777, 1)
		before := e.firmwareRows()

		// Only the admin uploads (and nothing is read or kept otherwise).
		for _, who := range []string{demo.SubdistributorUser, demo.InstallerUser} {
			if r := e.upload(e.token(who), "version=9.1&model=R29", bytes.NewReader(img)); r.StatusCode != 403 {
				t.Errorf("%s uploads: %d %s", who, r.StatusCode, r.body)
			}
		}
		if r := e.upload("", "version=9.1&model=R29", bytes.NewReader(img)); r.StatusCode != 401 {
			t.Errorf("anonymous upload: %d", r.StatusCode)
		}
		// A sha256 that does not match: 400 naming it, nothing kept.
		r := e.upload(admin, "version=9.1&model=R29&sha256="+hexSHA([]byte("other")), streamed(img))
		if r.StatusCode != 400 || r.errorField(t, "sha256") == "" {
			t.Errorf("wrong sha256: %d %s", r.StatusCode, r.body)
		}
		// Over the limit: 413 naming it, nothing kept.
		r = e.upload(admin, "version=9.2&model=R29", streamed(firmwareImage(firmwareLimit+1, 2)))
		if r.StatusCode != 413 || !strings.Contains(r.errorField(t, "file"), "4 MiB") {
			t.Errorf("over the limit: %d %s", r.StatusCode, r.body)
		}
		// A length over the limit given up front is refused at once.
		r = e.upload(admin, "version=9.2&model=R29", bytes.NewReader(firmwareImage(firmwareLimit+1, 2)))
		if r.StatusCode != 413 || r.errorField(t, "file") == "" {
			t.Errorf("over the limit, with Content-Length: %d %s", r.StatusCode, r.body)
		}
		// Bad metadata is refused before the image is read.
		r = e.upload(admin, "version=&model=R29&sha256=xyz", streamed(img))
		if r.StatusCode != 400 || r.errorField(t, "version") == "" || r.errorField(t, "sha256") == "" {
			t.Errorf("bad metadata: %d %s", r.StatusCode, r.body)
		}
		if r := e.upload(admin, "version=9.3&model=R29&file_url=x", streamed(img)); r.StatusCode != 400 || r.errorField(t, "file_url") == "" {
			t.Errorf("unknown parameter: %d %s", r.StatusCode, r.body)
		}
		if after := e.firmwareRows(); after != before {
			t.Errorf("refused uploads wrote rows: %v → %v", before, after)
		}

		// The admin's upload, streamed, with its sha256.
		r = e.upload(admin, "version=29.30.2.1&model=R29&change_log=Fixes&sha256="+hexSHA(img), streamed(img))
		if r.StatusCode != 201 {
			t.Fatalf("upload: %d %s", r.StatusCode, r.body)
		}
		fw := r.json(t)
		id := int64(fw["id"].(float64))
		if fw["stored"] != true || fw["size"] != float64(len(img)) || fw["checksum"] != hexSHA(img) || fw["file_url"] != "" {
			t.Errorf("entry: %v", fw)
		}
		if r := e.upload(admin, "version=29.30.2.1&model=R29", streamed(img)); r.StatusCode != 409 {
			t.Errorf("same version and model: %d %s", r.StatusCode, r.body)
		}
		if got := e.do(nil, "GET", fmt.Sprintf("/api/v1/firmware/%d", id), nil, bearer(e.token(demo.InstallerUser))).json(t); got["stored"] != true {
			t.Errorf("read by an installer: %v", got)
		}

		// A device downloads it, byte for byte, through the node's front
		// door: no session, the token is the credential.
		tok := deviceauth.FirmwareToken(e.st.FirmwareTokenKey(), 1, id, time.Now().Add(time.Hour))
		if d := e.download(id, tok); d.StatusCode != 200 || !bytes.Equal(d.body, img) {
			t.Errorf("download: %d, %d bytes, identical %v", d.StatusCode, len(d.body), bytes.Equal(d.body, img))
		}
		if d := e.download(id, tok, "Range: bytes=1048570-1048579"); d.StatusCode != 206 || !bytes.Equal(d.body, img[1048570:1048580]) {
			t.Errorf("range: %d %q", d.StatusCode, d.body)
		}
		if d := e.download(id, tok[:10]); d.StatusCode != 403 {
			t.Errorf("bad token: %d", d.StatusCode)
		}

		// An external image is registered with its size.
		ext := map[string]any{"version": "1.0", "model": "E16", "file_url": "https://fw.example/e16.rom", "checksum": hexSHA(img), "size": 4096}
		if r := e.do(nil, "POST", "/api/v1/firmware", ext, bearer(admin)); r.StatusCode != 201 || r.json(t)["size"] != float64(4096) || r.json(t)["stored"] != false {
			t.Errorf("register external: %d %s", r.StatusCode, r.body)
		}
	})
}

// multipartUpload is the portal's form as a browser sends it: the fields in
// page order, the CSRF token first and the file last.
func multipartUpload(csrf string, fields [][2]string, img []byte) (io.Reader, string) {
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	if csrf != "" {
		mw.WriteField("csrf_token", csrf)
	}
	for _, f := range fields {
		mw.WriteField(f[0], f[1])
	}
	fw, _ := mw.CreateFormFile("file", "r29.rom")
	fw.Write(img)
	mw.Close()
	return &buf, mw.FormDataContentType()
}

func TestFirmwareUploadPortal(t *testing.T) {
	eachFirmwareBackend(t, func(t *testing.T, e *env) {
		b := e.browserLogin(demo.AdminUser)
		if r := e.do(b.c, "GET", "/firmware/upload", nil); r.StatusCode != 200 || !strings.Contains(string(r.body), `id="firmware-upload"`) ||
			!strings.Contains(string(r.body), "4 MiB") {
			t.Fatalf("upload page: %d", r.StatusCode)
		}
		if r := e.do(b.c, "GET", "/firmware", nil); !strings.Contains(string(r.body), `id="upload-firmware"`) {
			t.Error("the firmware list has no upload button for the admin")
		}
		sub := e.browserLogin(demo.SubdistributorUser)
		if r := e.do(sub.c, "GET", "/firmware/upload", nil); r.StatusCode != 403 {
			t.Errorf("sub-distributor's upload page: %d", r.StatusCode)
		}
		if r := e.do(sub.c, "GET", "/firmware", nil); strings.Contains(string(r.body), `id="upload-firmware"`) {
			t.Error("a sub-distributor is offered the upload")
		}
		img := firmwareImage(2<<20+3, 3)
		fields := [][2]string{{"version", "29.30.3.0"}, {"model", "R29"}, {"sha256", hexSHA(img)}, {"change_log", "Portal upload"}}
		post := func(c *http.Client, csrf string, fields [][2]string, img []byte) *resp {
			body, ctype := multipartUpload(csrf, fields, img)
			req, _ := http.NewRequest("POST", e.url+"/firmware/upload", body)
			req.Header.Set("Content-Type", ctype)
			res, err := c.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer res.Body.Close()
			b, _ := io.ReadAll(res.Body)
			return &resp{Response: res, body: b}
		}
		before := e.firmwareRows()
		// Refused: no or a wrong CSRF token, a sub-distributor, a wrong
		// sha256, an image over the limit — nothing kept.
		if r := post(b.c, "", fields, img); r.StatusCode != 403 {
			t.Errorf("no CSRF token: %d", r.StatusCode)
		}
		if r := post(b.c, "wrong", fields, img); r.StatusCode != 403 {
			t.Errorf("wrong CSRF token: %d", r.StatusCode)
		}
		if r := post(sub.c, sub.csrf, fields, img); r.StatusCode != 403 {
			t.Errorf("sub-distributor uploads: %d", r.StatusCode)
		}
		wrong := [][2]string{{"version", "29.30.3.0"}, {"model", "R29"}, {"sha256", hexSHA(nil)}}
		if r := post(b.c, b.csrf, wrong, img); r.StatusCode != 400 || !strings.Contains(string(r.body), "does not match") {
			t.Errorf("wrong sha256: %d", r.StatusCode)
		}
		if r := post(b.c, b.csrf, fields[:2], firmwareImage(firmwareLimit+10, 4)); r.StatusCode != 413 || !strings.Contains(string(r.body), "4 MiB") {
			t.Errorf("over the limit: %d", r.StatusCode)
		}
		// A CSRF token after a long preamble: not searched for.
		body, ctype := multipartUpload(b.csrf, fields, img)
		padded := io.MultiReader(strings.NewReader(strings.Repeat("a preamble line\r\n", 2500)), body)
		req, _ := http.NewRequest("POST", e.url+"/firmware/upload", padded)
		req.Header.Set("Content-Type", ctype)
		if res, err := b.c.Do(req); err != nil || res.StatusCode != 403 {
			t.Errorf("CSRF token after 42 KB of preamble: %v %v", res, err)
		} else {
			res.Body.Close()
		}
		if after := e.firmwareRows(); after != before {
			t.Errorf("refused uploads wrote rows: %v → %v", before, after)
		}
		// Without a session the answer comes before the body is sent: a
		// stranger's upload is not read (the server would otherwise wait
		// for the first part).
		conn, err := net.Dial("tcp", strings.TrimPrefix(e.url, "http://"))
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		fmt.Fprintf(conn, "POST /firmware/upload HTTP/1.1\r\nHost: x\r\nContent-Type: %s\r\nContent-Length: 100000000\r\n\r\n", ctype)
		conn.SetReadDeadline(time.Now().Add(20 * time.Second))
		status, err := bufio.NewReader(conn).ReadString('\n')
		if err != nil || !(strings.HasPrefix(status, "HTTP/1.1 303") || strings.HasPrefix(status, "HTTP/1.1 401")) {
			t.Errorf("an upload without a session, body not sent: %q %v", status, err)
		}
		r := post(b.c, b.csrf, fields, img)
		loc := r.Header.Get("Location")
		if r.StatusCode != 303 || !strings.HasPrefix(loc, "/firmware/") {
			t.Fatalf("upload: %d %s", r.StatusCode, r.body)
		}
		var id int64
		fmt.Sscanf(loc, "/firmware/%d", &id)
		tok := deviceauth.FirmwareToken(e.st.FirmwareTokenKey(), 1, id, time.Now().Add(time.Hour))
		if d := e.download(id, tok); d.StatusCode != 200 || !bytes.Equal(d.body, img) {
			t.Errorf("download of the portal's upload: %d, identical %v", d.StatusCode, bytes.Equal(d.body, img))
		}
	})
}

// Every node serves every image: uploaded through node A, downloaded from
// node B, a node of its own (its own store connections and data directory)
// on the same database, which fills its cache from the database.
func TestFirmwareImageOnEveryNode(t *testing.T) {
	for _, backend := range testutil.Backends(t) {
		t.Run(backend, func(t *testing.T) {
			dsn := filepath.Join(t.TempDir(), "gatehouse.db")
			if backend == "postgres" {
				dsn = testutil.PostgresDSN(t)
			}
			node := func(load bool) *env {
				st, err := store.Open(context.Background(), dsn)
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { st.Close() })
				if err := st.SetSecretKey(bytes.Repeat([]byte{7}, 32)); err != nil {
					t.Fatal(err)
				}
				if load {
					if _, err := demo.Load(context.Background(), st, demo.Options{Password: demoPassword, Users: 10, Devices: 10, Seed: 7}, io.Discard); err != nil {
						t.Fatal(err)
					}
				}
				log := slog.New(slog.NewTextHandler(io.Discard, nil))
				au := &auth.Service{Store: st, Config: auth.DefaultConfig, Log: log}
				srv, err := server.New(server.Config{DataDir: t.TempDir()}, st, au, nil, log)
				if err != nil {
					t.Fatal(err)
				}
				ts, front := serveNode(t, srv)
				return &env{t: t, st: st, auth: au, srv: srv, ts: ts, front: front, url: ts.URL}
			}
			a, b := node(true), node(false)
			img := firmwareImage(2<<20+1, 5)
			r := a.upload(a.token(demo.AdminUser), "version=7.0&model=R29", streamed(img))
			if r.StatusCode != 201 {
				t.Fatalf("upload on node A: %d %s", r.StatusCode, r.body)
			}
			id := int64(r.json(t)["id"].(float64))
			tok := deviceauth.FirmwareToken(b.st.FirmwareTokenKey(), 3, id, time.Now().Add(time.Hour))
			if d := b.download(id, tok); d.StatusCode != 200 || !bytes.Equal(d.body, img) {
				t.Errorf("download from node B: %d, identical %v", d.StatusCode, bytes.Equal(d.body, img))
			}
			if d := b.download(id, tok, "Range: bytes=2097152-"); d.StatusCode != 206 || !bytes.Equal(d.body, img[2<<20:]) {
				t.Errorf("resume on node B: %d %d", d.StatusCode, len(d.body))
			}
		})
	}
}
