// Package fwimage serves firmware images to devices: GET and HEAD
// /device/v1/firmware/{id}?token=… (docs/device-protocol.md, "upgrade").
//
// The token is the credential: made for one device and one image by the
// node that sent the upgrade command, valid until the upgrade's deadline
// (deviceauth.FirmwareToken). Images live in the database (firmware_chunks),
// so every node can serve every image: a node copies an image into its own
// cache file, <dir>/<id>-<sha256>, on its first download of it, checked
// against the sha256, and serves the file with http.ServeContent (Range
// for resumed downloads, the sha256 as ETag; sendfile on plain HTTP).
// Downloads under way on a node are bounded; past the bound a device is
// told to come back later (503 and Retry-After).
package fwimage

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/deviceauth"
	"github.com/gatehouse-dev/gatehouse/internal/model"
	"github.com/gatehouse-dev/gatehouse/internal/store"
)

// Route is the download's pattern on the node's mux.
const Route = "/device/v1/firmware/{id}"

// DefaultMaxDownloads bounds the downloads one node serves at a time unless
// told otherwise (serve --firmware-downloads).
const DefaultMaxDownloads = 64

// Options tune a node's firmware downloads.
type Options struct {
	// Dir holds the node's cache files (<data>/firmware). Empty: a
	// directory of the user's in the system's temporary directory.
	Dir string
	// MaxDownloads bounds the downloads served at a time (0:
	// DefaultMaxDownloads).
	MaxDownloads int
	// Stall ends a download that moves no stallChunk within it (0:
	// DefaultStall).
	Stall time.Duration
}

// DefaultStall is how long a download may go without moving stallChunk
// bytes before it is ended (its place goes to another device).
const DefaultStall = 30 * time.Second

// stallChunk is the unit of progress: a download must move this many bytes
// within each Stall (≈ 8.5 KiB/s at the default), besides its whole
// deadline (the image at minRate, plus writeGrace).
const stallChunk = 256 << 10

// maxPerDevice bounds one device's downloads at a time: a device resuming
// over a new connection while its old one has not yet noticed it is dead
// needs two; more is a device (or a leaked token) taking the places of
// others.
const maxPerDevice = 2

// Server answers the downloads of one node. It is safe for concurrent use.
type Server struct {
	st    *store.Store
	log   *slog.Logger
	slots chan struct{} // one per download under way
	stall time.Duration

	devMu   sync.Mutex
	devices map[int64]int // downloads under way per device

	dirOnce sync.Once
	dir     string
	dirErr  error

	mu     sync.Mutex
	fills  map[string]*fill     // cache files being filled or checked, by path
	good   map[string]fileStamp // cache files checked against their sha256 since start
	failed map[string]failure   // fillings that failed lately: not tried again at once

	filled atomic.Int64 // cache files written from the database
}

// Filled counts the cache files this node wrote from the database.
func (s *Server) Filled() int64 { return s.filled.Load() }

// fill is one filling (or checking) of a cache file; the requests that
// need the same file meanwhile wait for it.
type fill struct {
	done chan struct{}
	err  error
}

// failure is a failed filling, remembered for fillRetry: a stored image
// that does not match its catalogue entry must not be read from the
// database again for every device that asks for it.
type failure struct {
	err error
	at  time.Time
}

// fillRetry is how long a failed filling answers for the next ones.
const fillRetry = 30 * time.Second

// fileStamp is what a checked cache file looked like: a file changed since
// (its size or time) is checked again before it is served.
type fileStamp struct {
	size int64
	mod  time.Time
}

// New returns the download server of a node.
func New(st *store.Store, log *slog.Logger, opts Options) *Server {
	if opts.MaxDownloads <= 0 {
		opts.MaxDownloads = DefaultMaxDownloads
	}
	if opts.Stall <= 0 {
		opts.Stall = DefaultStall
	}
	s := &Server{st: st, log: log, slots: make(chan struct{}, opts.MaxDownloads), stall: opts.Stall, devices: map[int64]int{},
		dir: opts.Dir, fills: map[string]*fill{}, good: map[string]fileStamp{}, failed: map[string]failure{}}
	if opts.Dir != "" {
		s.removeStale()
	}
	return s
}

// Refusals. Every token that is not good — malformed, forged, another
// image's, expired — gets the same answer, so a guesser learns nothing.
const (
	refusedToken = "Forbidden: the download token is not valid (ask the cloud for a new upgrade command).\n"
	notStored    = "Not found: the cloud keeps no image of this firmware.\n"
	tooBusy      = "Service unavailable: too many downloads on this server; retry after the time in Retry-After.\n"
	tooMany      = "Too many requests: this device is downloading already; finish or drop that download first.\n"
	failed       = "Internal error: the image could not be read; retry later.\n"
)

// minRate is the slowest download a node waits for: a device reading more
// slowly than this holds its place for no more than the image's size at
// this rate, plus writeGrace.
const (
	minRate    = 16 << 10 // bytes per second
	writeGrace = 2 * time.Minute
)

func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	var device int64
	if err == nil {
		device, err = deviceauth.CheckFirmwareToken(s.st.FirmwareTokenKey(), r.URL.Query().Get("token"), id, s.st.Now())
	}
	if err != nil {
		plain(w, http.StatusForbidden, refusedToken)
		return
	}
	if !s.takeDevice(device) {
		w.Header().Set("Retry-After", "10")
		plain(w, http.StatusTooManyRequests, tooMany)
		return
	}
	defer s.freeDevice(device)
	select {
	case s.slots <- struct{}{}:
		defer func() { <-s.slots }()
	default:
		// Spread the retries of a crowd over 5–15 s.
		w.Header().Set("Retry-After", strconv.Itoa(5+rand.IntN(11)))
		plain(w, http.StatusServiceUnavailable, tooBusy)
		return
	}
	f, err := s.st.FirmwareImage(r.Context(), id)
	if model.ErrorCode(err) == model.ENOTFOUND || (err == nil && !f.Stored) {
		plain(w, http.StatusNotFound, notStored)
		return
	} else if err != nil {
		s.log.Error("firmware download: reading the catalogue failed", "firmware", id, "err", err)
		plain(w, http.StatusInternalServerError, failed)
		return
	}
	file, err := s.open(r.Context(), f)
	if err != nil {
		if r.Context().Err() == nil {
			s.log.Error("firmware download: the image could not be cached", "firmware", id, "err", err)
			plain(w, http.StatusInternalServerError, failed)
		}
		return
	}
	defer file.Close()
	h := w.Header()
	h.Set("Content-Type", "application/octet-stream")
	h.Set("ETag", `"`+f.SHA256()+`"`)
	h.Set("Cache-Control", "private, no-store") // the token is in the URL: nobody between may keep it
	h.Set("X-Content-Type-Options", "nosniff")
	// The node's server has no write timeout (long downloads); these end
	// a download that stalls (no stallChunk within s.stall) or crawls (the
	// whole image slower than minRate).
	pw := &progressWriter{ResponseWriter: withReadFrom(w), rc: http.NewResponseController(w), stall: s.stall,
		end: time.Now().Add(writeGrace + time.Duration(f.Size/minRate)*time.Second)}
	pw.rf, _ = pw.ResponseWriter.(io.ReaderFrom)
	pw.moved()
	// The time is the catalogue entry's, the same on every node, so that
	// If-Range with a date works wherever the resume lands.
	http.ServeContent(pw, r, "", f.Created, file)
}

// takeDevice counts a download of device, unless it has maxPerDevice under
// way already.
func (s *Server) takeDevice(device int64) bool {
	s.devMu.Lock()
	defer s.devMu.Unlock()
	if s.devices[device] >= maxPerDevice {
		return false
	}
	s.devices[device]++
	return true
}

func (s *Server) freeDevice(device int64) {
	s.devMu.Lock()
	defer s.devMu.Unlock()
	if s.devices[device]--; s.devices[device] <= 0 {
		delete(s.devices, device)
	}
}

// progressWriter writes a download in pieces of at most stallChunk, each
// with a write deadline of its own (stall from its start, never past end):
// a device that stops reading loses its place within stall, not at the
// end of the whole download's time. ReadFrom keeps the file under the
// limit so that the connection's ReadFrom still sends it with sendfile.
type progressWriter struct {
	http.ResponseWriter
	rc    *http.ResponseController
	rf    io.ReaderFrom // the connection's, when it has one
	stall time.Duration
	end   time.Time
}

// moved sets the deadline of the next piece.
func (w *progressWriter) moved() {
	d := time.Now().Add(w.stall)
	if d.After(w.end) {
		d = w.end
	}
	w.rc.SetWriteDeadline(d) // fails only where no deadline can be set (tests' recorders)
}

func (w *progressWriter) Write(p []byte) (int, error) {
	var n int
	for len(p) > 0 {
		k, err := w.ResponseWriter.Write(p[:min(len(p), stallChunk)])
		n += k
		if err != nil {
			return n, err
		}
		p = p[k:]
		w.moved()
	}
	return n, nil
}

func (w *progressWriter) ReadFrom(src io.Reader) (int64, error) {
	if w.rf == nil {
		return io.CopyBuffer(writerOnly{w}, src, make([]byte, 32<<10))
	}
	// http.ServeContent hands over the file under a LimitedReader: a
	// piece is a LimitedReader of the file itself (one level, as sendfile
	// wants), taken from the outer limit.
	outer, limited := src.(*io.LimitedReader)
	inner := src
	if limited {
		inner = outer.R
	}
	var total int64
	for {
		piece := &io.LimitedReader{R: inner, N: stallChunk}
		if limited {
			piece.N = min(piece.N, outer.N)
			if piece.N <= 0 {
				return total, nil
			}
		}
		n, err := w.rf.ReadFrom(piece)
		total += n
		if limited {
			outer.N -= n
		}
		if err != nil || n == 0 {
			return total, err
		}
		w.moved()
	}
}

// writerOnly hides ReadFrom, so that io.Copy uses Write.
type writerOnly struct{ io.Writer }

func (w *progressWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func plain(w http.ResponseWriter, status int, msg string) {
	h := w.Header()
	h.Set("Content-Type", "text/plain; charset=utf-8")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	io.WriteString(w, msg)
}

// open returns the node's cache file of f, checked against its sha256:
// filled from the database first when it is missing, changed or corrupt.
func (s *Server) open(ctx context.Context, f *model.Firmware) (*os.File, error) {
	dir, err := s.cacheDir()
	if err != nil {
		return nil, err
	}
	path := filepath.Join(dir, strconv.FormatInt(f.ID, 10)+"-"+f.SHA256())
	for range 2 {
		if file, err := os.Open(path); err == nil {
			fi, err := file.Stat()
			s.mu.Lock()
			stamp, checked := s.good[path]
			s.mu.Unlock()
			if err == nil && checked && stamp == (fileStamp{fi.Size(), fi.ModTime()}) {
				return file, nil
			}
			file.Close()
		}
		if err := s.ensure(ctx, path, f); err != nil {
			return nil, err
		}
	}
	return nil, fmt.Errorf("cache file %s changed while it was being served", path)
}

// ensure makes path a good copy of f's image, once at a time per file: the
// requests that need it meanwhile wait for that one filling.
func (s *Server) ensure(ctx context.Context, path string, f *model.Firmware) error {
	s.mu.Lock()
	if fl, ok := s.fills[path]; ok {
		s.mu.Unlock()
		select {
		case <-fl.done:
			return fl.err
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	if f, ok := s.failed[path]; ok && time.Since(f.at) < fillRetry {
		s.mu.Unlock()
		return f.err
	}
	fl := &fill{done: make(chan struct{})}
	s.fills[path] = fl
	delete(s.good, path)
	s.mu.Unlock()

	// The filling serves every waiting request: it does not end with the
	// request that started it.
	fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), fillTimeout)
	stamp, err := s.fill(fctx, path, f)
	cancel()

	s.mu.Lock()
	if err == nil {
		s.good[path] = stamp
		delete(s.failed, path)
	} else {
		s.failed[path] = failure{err: err, at: time.Now()}
	}
	delete(s.fills, path)
	s.mu.Unlock()
	fl.err = err
	close(fl.done)
	return err
}

// fillTimeout bounds one filling of a cache file from the database.
const fillTimeout = 10 * time.Minute

// fill checks the file at path against f (a file left by an earlier run) and
// when it is not a good copy, writes a new one from the database beside it
// and renames it into place. It returns the good file's stamp.
func (s *Server) fill(ctx context.Context, path string, f *model.Firmware) (fileStamp, error) {
	if stamp, ok := s.check(path, f); ok {
		return stamp, nil
	}
	if err := os.Remove(path); err == nil {
		s.log.Warn("firmware cache: a file did not match its sha256; filling it again", "file", path)
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), filepath.Base(path)+".*.tmp")
	if err != nil {
		return fileStamp{}, err
	}
	defer os.Remove(tmp.Name()) // after the rename: nothing left to remove
	h := sha256.New()
	n, err := s.st.CopyFirmwareImage(ctx, f.ID, io.MultiWriter(tmp, h))
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fileStamp{}, err
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != f.SHA256() || n != f.Size {
		return fileStamp{}, fmt.Errorf("the stored image of firmware %d is %d bytes with sha256 %s, the catalogue says %d bytes %s",
			f.ID, n, got, f.Size, f.SHA256())
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fileStamp{}, err
	}
	s.filled.Add(1)
	fi, err := os.Stat(path)
	if err != nil {
		return fileStamp{}, err
	}
	return fileStamp{fi.Size(), fi.ModTime()}, nil
}

// check reads the file at path, if there is one, and reports whether it is
// f's image.
func (s *Server) check(path string, f *model.Firmware) (fileStamp, bool) {
	file, err := os.Open(path)
	if err != nil {
		return fileStamp{}, false
	}
	defer file.Close()
	fi, err := file.Stat()
	if err != nil || fi.Size() != f.Size {
		return fileStamp{}, false
	}
	h := sha256.New()
	if _, err := io.Copy(h, file); err != nil || hex.EncodeToString(h.Sum(nil)) != f.SHA256() {
		return fileStamp{}, false
	}
	return fileStamp{fi.Size(), fi.ModTime()}, true
}

func (s *Server) cacheDir() (string, error) {
	s.dirOnce.Do(func() {
		if s.dir == "" {
			// One directory for every such server of the user (tests): its
			// files are named by id and sha256 and checked before use, so
			// sharing is safe, and nothing piles up run after run.
			s.dir = filepath.Join(os.TempDir(), "gatehouse-firmware-"+strconv.Itoa(os.Getuid()))
		}
		s.dirErr = os.MkdirAll(s.dir, 0o700)
	})
	return s.dir, s.dirErr
}

// staleAge is how old a temporary file of the cache directory (a filling or
// an upload that a crash left) must be before New removes it.
const staleAge = 24 * time.Hour

// removeStale removes the temporary files earlier runs left behind.
func (s *Server) removeStale() {
	entries, err := os.ReadDir(s.dir)
	if err != nil {
		if !errors.Is(err, fs.ErrNotExist) {
			s.log.Warn("firmware cache: cannot read its directory", "dir", s.dir, "err", err)
		}
		return
	}
	for _, e := range entries {
		if !strings.HasSuffix(e.Name(), ".tmp") && !strings.HasPrefix(e.Name(), ".upload-") {
			continue
		}
		if fi, err := e.Info(); err == nil && time.Since(fi.ModTime()) > staleAge {
			os.Remove(filepath.Join(s.dir, e.Name()))
		}
	}
}

// withReadFrom lets http.ServeContent's copy reach net/http's own ReadFrom
// (sendfile on a plain TCP connection) through the wrappers of the node's
// server that record the status: they have Unwrap but no ReadFrom, and
// io.Copy would copy through a buffer instead.
func withReadFrom(w http.ResponseWriter) http.ResponseWriter {
	if _, ok := w.(io.ReaderFrom); ok {
		return w
	}
	for inner := w; ; {
		u, ok := inner.(interface{ Unwrap() http.ResponseWriter })
		if !ok {
			return w
		}
		inner = u.Unwrap()
		if rf, ok := inner.(io.ReaderFrom); ok {
			return readFromWriter{ResponseWriter: w, rf: rf}
		}
	}
}

// readFromWriter writes headers and status through the outer writer (which
// records them) and the body through the inner one's ReadFrom.
type readFromWriter struct {
	http.ResponseWriter
	rf io.ReaderFrom
}

func (w readFromWriter) ReadFrom(r io.Reader) (int64, error) { return w.rf.ReadFrom(r) }
func (w readFromWriter) Unwrap() http.ResponseWriter         { return w.ResponseWriter }
