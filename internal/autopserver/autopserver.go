// Package autopserver is the AutoP server: GET /autop/{MAC}.cfg, where
// devices fetch their configuration files (docs/device-protocol.md §7,
// DESIGN.md §4). Like the gateway it is a transport for devices, not for
// people: it authenticates the device by MAC and key, reads the file through
// the store (or the store's cache of rendered files, kept current by the
// change events of internal/usecase/events.go) and records fetches. People's
// AutoP settings and Batch AutoP are use cases (internal/usecase/autop.go)
// behind internal/api/autop_settings.go and internal/web/autop.go.
package autopserver

import (
	"context"
	"encoding/base64"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/autop"
	"github.com/gatehouse-dev/gatehouse/internal/deviceauth"
	"github.com/gatehouse-dev/gatehouse/internal/model"
	"github.com/gatehouse-dev/gatehouse/internal/store"
)

// WriteFile answers with a file: 304 when If-None-Match names its
// version, else 200 with the file.
func WriteFile(w http.ResponseWriter, r *http.Request, f autop.File) {
	prepare(f).write(w, r)
}

// answer is what every response with one file repeats, made once per file
// (and kept with a cached one: store.AutoPServed.Prepared), so that a fetch
// formats and allocates nothing of its own. The header values are shared
// between responses: each slice has no room to grow, so a Header.Add
// copies it rather than write into it.
type answer struct {
	etag    string
	etags   []string // the Etag header
	version []string // X-Gatehouse-Config-Version
	length  []string // Content-Length
	head    []byte   // the file's header line
	body    []byte

	// The front door's answers up to the Date header: net/http's status
	// line and header lines for this file, byte for byte.
	raw200, raw304 []byte
}

// These header values are the same for every file.
var (
	noCache   = []string{"no-cache"}
	plainText = []string{"text/plain; charset=utf-8"}
)

func prepare(f autop.File) *answer {
	etag := f.ETag()
	length := strconv.Itoa(len(f.Header) + len(f.Body))
	// net/http writes the handler's header lines sorted by name, then Date;
	// a 304 without Content-Type and Content-Length (write, below).
	return &answer{
		etag:    etag,
		etags:   []string{etag},
		version: []string{f.Version},
		length:  []string{length},
		head:    []byte(f.Header),
		body:    f.Body,
		raw200: []byte("HTTP/1.1 200 OK\r\nCache-Control: no-cache\r\nContent-Length: " + length +
			"\r\nContent-Type: text/plain; charset=utf-8\r\nEtag: " + etag + "\r\nX-Gatehouse-Config-Version: " + f.Version + "\r\n"),
		raw304: []byte("HTTP/1.1 304 Not Modified\r\nCache-Control: no-cache\r\nEtag: " + etag +
			"\r\nX-Gatehouse-Config-Version: " + f.Version + "\r\n"),
	}
}

func prepareServed(sv *store.AutoPServed) any { return prepare(sv.File) }

func (a *answer) write(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h["Etag"] = a.etags
	h["X-Gatehouse-Config-Version"] = a.version
	h["Cache-Control"] = noCache
	if etagMatches(r.Header.Get("If-None-Match"), a.etag) {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	h["Content-Type"] = plainText
	h["Content-Length"] = a.length
	w.WriteHeader(http.StatusOK)
	if r.Method == http.MethodHead {
		return
	}
	w.Write(a.head)
	w.Write(a.body)
}

// etagMatches reads an If-None-Match header: "*", or a list of (weak or
// strong) entity tags (cut one by one rather than split into a slice).
func etagMatches(header, etag string) bool {
	for header != "" {
		t, rest, _ := strings.Cut(header, ",")
		header = rest
		t = strings.TrimSpace(t)
		if t == "*" || strings.TrimPrefix(t, "W/") == etag {
			return true
		}
	}
	return false
}

// Server is GET /autop/{MAC}.cfg (docs/device-protocol.md §7): a
// device fetches its file with HTTP Basic MAC:key. 401 for missing or
// malformed credentials; deviceauth's one refusal for an unregistered MAC
// and for any key but the accepted one (the AutoP server never records or
// accepts a key: only the gateway does); 429 over the attempt limits it
// shares with the gateway; 304 when If-None-Match names the current
// version. A fetch is one indexed read (the device's key binding and
// everything its file is made of) and no write: when a fetch is worth
// recording (devices.autop_fetched_at: the first, the first since a change,
// or once a minute), it is written in the background with others.
type Server struct {
	st  *store.Store
	log *slog.Logger
	rec *fetchRecorder
	lim *deviceauth.Limiter

	cache   bool // keep rendered files between the changes told (store.AutoPReader.EnableCache)
	prepare sync.Once
	reader  *store.AutoPReader // nil: read through AutoPServe
}

// read is the one read of a fetch (as the system), through the prepared
// query when it could be prepared.
func (s *Server) read(ctx context.Context, mac string) (*store.AutoPServed, error) {
	s.prepare.Do(func() {
		pctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		r, err := s.st.PrepareAutoP(pctx, 0)
		if err != nil {
			s.log.Warn("autop: prepare the read", "err", err)
			return
		}
		if s.cache {
			r.EnableCache(autoPCacheAge, autoPCacheBytes)
		}
		s.reader = r
	})
	if s.reader != nil {
		return s.reader.Serve(ctx, mac) // system side: no actor needed
	}
	return s.st.AutoPServe(model.WithActor(ctx, model.System), mac)
}

// The cache's bounds: a file is read again after autoPCacheAge even when no
// change was told (one a node missed without noticing, or made by a process
// off the bus, such as `gatehouse admin`), and the files kept take about
// autoPCacheBytes (≈ 100,000 files of a few commands).
const (
	autoPCacheAge   = 30 * time.Second
	autoPCacheBytes = 64 << 20
)

// New returns the AutoP server of a node. With cache, rendered
// files are kept between the changes the store is told of (store.AutoPReader.
// EnableCache), while its node hears the others (usecase events). lim is the node's limiter of refused attempts, shared with
// its gateway (nil: one of its own).
func New(st *store.Store, log *slog.Logger, cache bool, lim *deviceauth.Limiter) *Server {
	if lim == nil {
		lim = deviceauth.NewLimiter(deviceauth.Limits{})
	}
	return &Server{st: st, log: log, cache: cache, lim: lim,
		rec: &fetchRecorder{st: st, log: log, pending: map[int64]struct{}{}, delay: 100 * time.Millisecond}}
}

const autoPRealm = `Basic realm="Gatehouse AutoP", charset="UTF-8"`

func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	name, ok := strings.CutSuffix(r.PathValue("file"), ".cfg")
	mac, okMAC := normalizeMAC(name)
	if !ok || !okMAC {
		http.Error(w, "Not found: the file is /autop/<MAC>.cfg.", http.StatusNotFound)
		return
	}
	user, key, ok := basicAuth(r)
	if !ok || !sameMAC(user, mac) || !store.ValidDeviceKey(key) {
		s.unauthorized(w)
		return
	}
	sv, err := s.read(r.Context(), mac)
	if err != nil && model.ErrorCode(err) != model.ENOTFOUND {
		s.fail(w, r, err)
		return
	}
	// Only the accepted key gets the file. Everything else — an unknown MAC,
	// a pending or wrong key — gets the same refusal, after the same limits.
	if err != nil || !sv.KeyMatches(key) {
		ctx := model.WithActor(r.Context(), model.System)
		o := s.lim.Take(deviceauth.Source(r.RemoteAddr), mac)
		if !o.OK {
			if o.Report {
				s.audit(ctx, "device.auth_limited", mac, map[string]any{"mac": mac, "remote_addr": r.RemoteAddr, "limit": o.Why, "via": "autop"})
			}
			deviceauth.TooMany(w, o.RetryAfter)
			return
		}
		if err == nil {
			if err := s.st.DeviceKeyRefused(ctx, mac, key, r.RemoteAddr, "autop fetch"); err != nil {
				s.log.WarnContext(ctx, "autop: audit a refused key", "mac", mac, "err", err)
			}
		}
		deviceauth.Refuse(w)
		return
	}
	if sv.NeedsFetchRecord(s.st.Now()) {
		s.rec.add(sv.DeviceID)
	}
	sv.Prepared(prepareServed).(*answer).write(w, r)
}

// basicAuth is r.BasicAuth with one allocation instead of two: the
// credentials are decoded on the stack, then copied once.
func basicAuth(r *http.Request) (user, key string, ok bool) {
	auth := r.Header.Get("Authorization")
	const prefix = "Basic "
	if len(auth) < len(prefix) || !strings.EqualFold(auth[:len(prefix)], prefix) {
		return "", "", false
	}
	enc := auth[len(prefix):]
	var buf [256]byte
	if base64.StdEncoding.DecodedLen(len(enc)) > len(buf) {
		return r.BasicAuth()
	}
	n, err := base64.StdEncoding.Decode(buf[:], []byte(enc))
	if err != nil {
		return "", "", false
	}
	if user, key, ok = strings.Cut(string(buf[:n]), ":"); !ok {
		return "", "", false
	}
	return user, key, true
}

// normalizeMAC is model.NormalizeMAC without its copy for a MAC already
// in the form it returns (12 upper-case hex digits), as devices send it.
func normalizeMAC(s string) (string, bool) {
	if isNormalMAC(s) {
		return s, true
	}
	return model.NormalizeMAC(s)
}

func isNormalMAC(s string) bool {
	if len(s) != 12 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !(c >= '0' && c <= '9' || c >= 'A' && c <= 'F') {
			return false
		}
	}
	return true
}

// sameMAC: does user (the Basic user name) name mac (normalized).
func sameMAC(user, mac string) bool {
	if user == mac {
		return true
	}
	um, ok := model.NormalizeMAC(user)
	return ok && um == mac
}

func (s *Server) audit(ctx context.Context, action, mac string, details map[string]any) {
	if err := s.st.Audit(ctx, action, "device", mac, details); err != nil {
		s.log.WarnContext(ctx, "autop: audit", "action", action, "err", err)
	}
}

func (s *Server) unauthorized(w http.ResponseWriter) {
	w.Header().Set("WWW-Authenticate", autoPRealm)
	http.Error(w, "Unauthorized: authenticate with HTTP Basic, the device's MAC (12 hex digits, as in the path) and key.", http.StatusUnauthorized)
}

func (s *Server) fail(w http.ResponseWriter, r *http.Request, err error) {
	s.log.ErrorContext(r.Context(), "autop fetch failed", "path", r.URL.Path, "err", err)
	http.Error(w, "Internal error.", http.StatusInternalServerError)
}

// Flush writes the fetches not yet recorded, after a write under way
// (for tests), within ctx.
func (s *Server) Flush(ctx context.Context) error { return s.rec.flush(ctx) }

// Close is for shutdown, once the server takes no more requests: the
// scheduled write is cancelled and the fetches not yet recorded are
// written now, within ctx, after a write under way. Fetches served since
// are not recorded.
func (s *Server) Close(ctx context.Context) error {
	s.rec.mu.Lock()
	s.rec.closed = true
	s.rec.mu.Unlock()
	return s.rec.flush(ctx)
}

// fetchRecordTimeout bounds one write of fetch records.
const fetchRecordTimeout = 30 * time.Second

// fetchRecorder gathers the fetches worth recording and writes them
// together, one statement for many devices, shortly after the first (on
// a timer's goroutine).
type fetchRecorder struct {
	st      *store.Store
	log     *slog.Logger
	delay   time.Duration
	writing sync.Mutex // one write at a time: a flush waits for the timer's
	mu      sync.Mutex
	pending map[int64]struct{}
	timer   *time.Timer // the scheduled write; nil when none
	closed  bool        // no more scheduled writes
}

func (f *fetchRecorder) add(id int64) {
	f.mu.Lock()
	f.pending[id] = struct{}{}
	if f.timer == nil && !f.closed {
		f.timer = time.AfterFunc(f.delay, func() { f.flush(context.Background()) })
	}
	f.mu.Unlock()
}

// flush writes the pending fetches, within ctx and fetchRecordTimeout,
// and cancels the scheduled write.
func (f *fetchRecorder) flush(ctx context.Context) error {
	f.writing.Lock()
	defer f.writing.Unlock()
	f.mu.Lock()
	ids := make([]int64, 0, len(f.pending))
	for id := range f.pending {
		ids = append(ids, id)
	}
	clear(f.pending)
	if f.timer != nil {
		f.timer.Stop() // a timer that fired already waits for writing, then finds nothing
		f.timer = nil
	}
	f.mu.Unlock()
	if len(ids) == 0 {
		return nil
	}
	ctx, cancel := context.WithTimeout(model.WithActor(ctx, model.System), fetchRecordTimeout)
	defer cancel()
	err := f.st.AutoPFetched(ctx, f.st.Now(), ids...)
	if err != nil {
		f.log.Warn("record autop fetches", "devices", len(ids), "err", err)
	}
	return err
}
