package server

import (
	"bufio"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/store"
)

// What crosses the Remote Control proxy is allow-listed both ways: a device
// page shown on the portal's origin must not act on that origin through
// headers (Clear-Site-Data logging the user out, Refresh, a credential
// prompt, HSTS, service workers…), and the device must not see the portal's
// credentials.

// remoteRequestHeaders are the browser's request headers a device gets
// (besides its own cookies, Origin and Referer, rewritten below).
var remoteRequestHeaders = []string{
	"Accept", "Accept-Language", "Content-Type", "User-Agent", "X-Requested-With",
	"Range", "If-Range", "If-Match", "If-None-Match", "If-Modified-Since", "If-Unmodified-Since",
	"Cache-Control", "Pragma",
}

// remoteRequestHeader is the header sent to device mac for in, a request of
// the session whose path is prefix ("/remote/{token}"): the allow-list, the
// device's cookies (never the portal's), and Origin and Referer as if the
// device's page were on the device itself.
func remoteRequestHeader(in *http.Request, prefix, mac string) http.Header {
	h := http.Header{}
	for _, k := range remoteRequestHeaders {
		if v := in.Header.Values(k); len(v) > 0 {
			h[k] = v
		}
	}
	// Bodies are rewritten on the way back; a device that compresses
	// anyway is decoded (gzip) or refused.
	h.Set("Accept-Encoding", "identity")
	var cookies []string
	for _, c := range in.Cookies() {
		if !portalCookie(c.Name) {
			cookies = append(cookies, (&http.Cookie{Name: c.Name, Value: c.Value}).String())
		}
	}
	if len(cookies) > 0 {
		h.Set("Cookie", strings.Join(cookies, "; "))
	}
	device := "http://" + mac
	if ref, err := url.Parse(in.Header.Get("Referer")); err == nil && ref.Host == in.Host {
		if rest, ok := strings.CutPrefix(ref.EscapedPath(), prefix+"/"); ok {
			ref.Scheme, ref.Host, ref.Fragment = "http", mac, ""
			ref.Path, ref.RawPath = "", ""
			h.Set("Referer", device+"/"+rest+queryOf(ref))
		}
	}
	// A sandboxed page says "null"; the device sees its own origin, as it
	// would from its own page.
	if o := in.Header.Get("Origin"); o == "null" || (o != "" && strings.TrimPrefix(strings.TrimPrefix(o, "https://"), "http://") == in.Host) {
		h.Set("Origin", device)
	}
	return h
}

func queryOf(u *url.URL) string {
	if u.RawQuery == "" {
		return ""
	}
	return "?" + u.RawQuery
}

func portalCookie(name string) bool {
	return name == SessionCookie || name == ActingCookie || name == RemoteCookie
}

// remotePassedHeaders are the device's response headers passed as they are.
// Cache-Control is ours (no-store), Content-Type and Content-Disposition
// are re-written from what they parse to, Location and Set-Cookie are
// kept inside the session; everything else is dropped.
var remotePassedHeaders = []string{
	"Content-Length", "Content-Encoding", "Content-Language", "Content-Range", "Accept-Ranges",
	"ETag", "Last-Modified",
}

// remoteView is how one response of a session is shown.
type remoteView struct {
	prefix  string // "/remote/{token}", the session's path
	reqPath string // the browser's path, where relative redirects start
	secure  bool   // the browser reached us over TLS
	sandbox bool   // shown on the portal's origin: no scripts, no meta http-equiv
	origin  string // scheme://host of the portal as the browser sees it ("" if unsure)
	now     time.Time
}

// filterResponse replaces the device's response header by the allow-listed
// one, and its HTML body by one whose meta http-equiv cannot act on the
// portal's origin.
func (v remoteView) filterResponse(resp *http.Response) error {
	// An informational answer would pass its header (Early Hints' Link)
	// for a final one that never comes.
	if resp.StatusCode < 200 {
		return fmt.Errorf("it answered %d, not a final status", resp.StatusCode)
	}
	in := resp.Header
	out := http.Header{}
	resp.Trailer = nil // trailers are not passed (nor announced)
	for _, k := range remotePassedHeaders {
		if s := in.Get(k); s != "" {
			out.Set(k, s)
		}
	}
	if loc := in.Get("Location"); loc != "" {
		out.Set("Location", remoteLocation(v.prefix, v.reqPath, loc))
	}
	if cd := in.Get("Content-Disposition"); cd != "" {
		if d, ok := contentDisposition(cd); ok {
			out.Set("Content-Disposition", d)
		}
	}
	for _, c := range resp.Cookies() {
		if c = v.deviceCookie(c); c != nil {
			out.Add("Set-Cookie", c.String())
		}
	}
	// A device's 401 keeps its status and page but raises no credential
	// prompt (WWW-Authenticate is not passed): that prompt would ask for a
	// password in the portal's name.

	bodyless := resp.Request != nil && resp.Request.Method == http.MethodHead ||
		resp.StatusCode == http.StatusNoContent || resp.StatusCode == http.StatusNotModified || resp.Body == nil || resp.Body == http.NoBody
	mt, params, err := mime.ParseMediaType(in.Get("Content-Type"))
	switch {
	case err == nil:
	case errors.Is(err, mime.ErrInvalidMediaParameter) && mt != "":
		params = nil // a sloppy charset: the page's meta may say it
	case in.Get("Content-Type") != "":
		mt, params = "application/octet-stream", nil
	case bodyless:
		mt = ""
	default:
		// Untyped: decide here what it is, so the browser does not sniff
		// it into HTML the rewrite below did not look at. The media type
		// only: its charset is the page's to say.
		br := bufio.NewReaderSize(resp.Body, 512)
		head, _ := br.Peek(512)
		mt, _, _ = mime.ParseMediaType(http.DetectContentType(head))
		resp.Body = struct {
			io.Reader
			io.Closer
		}{br, resp.Body}
	}
	if mt != "" {
		ct := mime.FormatMediaType(mt, params)
		if ct == "" {
			mt, ct = "application/octet-stream", "application/octet-stream"
		}
		out.Set("Content-Type", ct)
	}

	if v.sandbox && !bodyless && !binaryType(mt) {
		switch ce := strings.ToLower(strings.TrimSpace(out.Get("Content-Encoding"))); ce {
		case "", "identity":
		case "gzip", "x-gzip":
			zr, err := gzip.NewReader(resp.Body)
			if err != nil {
				return fmt.Errorf("its gzip-encoded page does not decode: %w", err)
			}
			resp.Body = struct {
				io.Reader
				io.Closer
			}{zr, resp.Body}
			out.Del("Content-Encoding")
			out.Del("Content-Length")
			out.Del("Content-Range")
			resp.ContentLength = -1
		default:
			return fmt.Errorf("its page is encoded with %q, which Remote Control cannot check", ce)
		}
		// Same length out as in: Content-Length and Content-Range hold.
		resp.Body = newEquivRewriter(resp.Body)
	}
	if resp.Body != nil {
		resp.Body = &trailerDropper{ReadCloser: resp.Body, resp: resp}
	}
	resp.Header = out
	v.setSecurityHeaders(out)
	return nil
}

// trailerDropper forgets the trailer a chunked body ends with, which the
// reverse proxy would pass on as it is.
type trailerDropper struct {
	io.ReadCloser
	resp *http.Response
}

func (t *trailerDropper) Read(p []byte) (int, error) {
	n, err := t.ReadCloser.Read(p)
	if err != nil {
		t.resp.Trailer = nil
	}
	return n, err
}

// setSecurityHeaders adds our own headers to a device's response.
func (v remoteView) setSecurityHeaders(h http.Header) {
	// On the portal's origin a script of the device's could act with the
	// portal session: its pages are sandboxed without scripts (forms, links
	// and the device's own cookies keep working), and its forms post only
	// into the session.
	if v.sandbox {
		formAction := "'self'"
		if v.origin != "" {
			formAction = v.origin + v.prefix + "/"
		}
		h.Set("Content-Security-Policy", "sandbox allow-forms allow-same-origin allow-popups allow-downloads; "+
			"script-src 'none'; object-src 'none'; base-uri 'none'; form-action "+formAction+"; frame-ancestors 'self'")
	}
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "same-origin")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Frame-Options", "SAMEORIGIN")
}

// deviceCookie is the device's cookie c as the browser may keep it: in the
// session's path only, for the portal's host only, no longer than a session
// lasts; nil when it cannot be kept so.
func (v remoteView) deviceCookie(c *http.Cookie) *http.Cookie {
	name := strings.ToLower(c.Name)
	// __Host- cookies need Path=/, which would reach the portal; the
	// portal's own names are not the device's to set.
	if portalCookie(c.Name) || strings.HasPrefix(name, "__host-") || (strings.HasPrefix(name, "__secure-") && !v.secure) {
		return nil
	}
	out := &http.Cookie{Name: c.Name, Value: c.Value, Quoted: c.Quoted, Path: v.prefix + "/",
		HttpOnly: c.HttpOnly, Secure: v.secure, SameSite: http.SameSiteLaxMode, MaxAge: c.MaxAge, Expires: c.Expires}
	if c.SameSite == http.SameSiteStrictMode {
		out.SameSite = http.SameSiteStrictMode
	}
	ttl := store.RemoteSessionTTL
	if out.MaxAge > int(ttl/time.Second) {
		out.MaxAge = int(ttl / time.Second)
	}
	if !out.Expires.IsZero() && out.Expires.After(v.now.Add(ttl)) {
		out.Expires = v.now.Add(ttl)
	}
	return out
}

// contentDisposition re-writes a device's Content-Disposition from what it
// parses to, with a file name and nothing else.
func contentDisposition(cd string) (string, bool) {
	typ, params, err := mime.ParseMediaType(cd)
	if err != nil || (typ != "inline" && typ != "attachment") {
		return "", false
	}
	name := params["filename"]
	if i := strings.LastIndexAny(name, `/\`); i >= 0 {
		name = name[i+1:]
	}
	name = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return -1
		}
		return r
	}, name)
	if name == "" || name == "." || name == ".." {
		return typ, true
	}
	return mime.FormatMediaType(typ, map[string]string{"filename": name}), true
}

// binaryType reports media types no browser parses into a document with
// markup: left as they are. Everything else — HTML, XHTML, SVG, XML, text
// and whatever else a browser might render — gets the meta rewrite.
func binaryType(mt string) bool {
	major, _, _ := strings.Cut(mt, "/")
	switch {
	case mt == "image/svg+xml":
		return false
	case major == "image" || major == "audio" || major == "video" || major == "font":
		return true
	}
	switch mt {
	case "application/octet-stream", "application/pdf", "application/zip", "application/gzip", "application/x-gzip",
		"application/x-tar", "application/wasm",
		// MJPEG camera streams; browsers show such a stream of documents
		// no more.
		"multipart/x-mixed-replace":
		return true
	}
	return false
}

// remoteLocation maps a redirect of the device's web interface into the
// session's path prefix ("/remote/{token}"): "/status" and
// "http://192.168.1.20/status" both become "/remote/{token}/status", a
// relative one is resolved against the browser's path reqPath; one that
// would leave the session goes to its start page.
func remoteLocation(prefix, reqPath, loc string) string {
	start := prefix + "/"
	u, err := url.Parse(loc)
	// Backslashes, spaces and control characters are read by browsers as
	// slashes or dropped: such a redirect could leave the session's path.
	if err != nil || strings.ContainsAny(loc, "\\ \x00\t\r\n") || (u.Scheme != "" && u.Scheme != "http" && u.Scheme != "https") || u.Opaque != "" {
		return start
	}
	if u.IsAbs() || u.Host != "" || strings.HasPrefix(u.Path, "/") {
		// The device's own absolute paths are under the session here.
		u.Scheme, u.Host, u.User = "", "", nil
		u, err = url.Parse(start + strings.TrimLeft(u.RequestURI(), "/") + fragmentOf(u))
		if err != nil {
			return start
		}
	}
	// Browsers read %2e as a dot: dot segments are resolved as they would be.
	u.RawPath = strings.NewReplacer("%2e", ".", "%2E", ".").Replace(u.EscapedPath())
	u.Path, err = url.PathUnescape(u.RawPath)
	if err != nil {
		return start
	}
	base, err := url.Parse(reqPath)
	if err != nil || !strings.HasPrefix(base.EscapedPath(), start) {
		base = &url.URL{Path: start}
	}
	res := base.ResolveReference(u)
	if !strings.HasPrefix(res.EscapedPath(), start) {
		return start
	}
	return res.String()
}

func fragmentOf(u *url.URL) string {
	if u.Fragment == "" {
		return ""
	}
	return "#" + u.EscapedFragment()
}

// validHost reports a Host header that may go into a policy as it is.
func validHost(h string) bool {
	if h == "" {
		return false
	}
	for _, c := range h {
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.ContainsRune(".-:[]", c)) {
			return false
		}
	}
	return true
}
