package server

import (
	"io"
	"mime/multipart"
	"net/http"
	"path/filepath"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/api"
	"github.com/gatehouse-dev/gatehouse/internal/fwimage"
	"github.com/gatehouse-dev/gatehouse/internal/model"
)

// FirmwareOptions bound a node's firmware images (serve's flags).
type FirmwareOptions struct {
	// MaxBytes bounds an uploaded image (0: usecase.DefaultFirmwareMaxBytes).
	MaxBytes int64
	// MaxDownloads bounds the downloads served at a time by this node (0:
	// fwimage.DefaultMaxDownloads); past it devices get 503 and Retry-After.
	MaxDownloads int
}

// firmwareDir is where the node caches firmware images and spools uploads:
// <data>/firmware, or "" (a temporary directory) without a data directory.
func (s *Server) firmwareDir() string {
	if s.cfg.DataDir == "" {
		return ""
	}
	return filepath.Join(s.cfg.DataDir, "firmware")
}

// routesFirmwareImages registers the upload of firmware images (API and
// portal, the admin's) and their download by devices.
func (s *Server) routesFirmwareImages() {
	// Devices download with a token of their own (docs/device-protocol.md,
	// "upgrade"): neither a page nor the JSON API, so none of their
	// sessions, CSRF or body bounds. Every node serves every image: images
	// live in the database and each node caches the ones it serves.
	images := fwimage.New(s.store, s.log, fwimage.Options{Dir: s.firmwareDir(), MaxDownloads: s.cfg.Firmware.MaxDownloads})
	s.mux.Handle("GET "+fwimage.Route, images) // HEAD too

	s.handleAPI("POST /api/v1/firmware/upload", s.apiUpload(s.api.UploadFirmware, admins...))
	s.handlePage("GET /firmware/upload", s.page(s.web.FirmwareUploadPage, admins...))
	s.handlePage("POST /firmware/upload", s.pageUpload(s.web.UploadFirmware, admins...))
}

// uploadIdle ends an upload that sends nothing for this long. The node's
// server bounds a whole request's reading (readTimeout), far too short for
// an image; an upload instead has its read deadline moved on as it reads.
const uploadIdle = readTimeout

// apiUpload is apiAuth for a request whose body is a firmware image: not
// bounded to maxRequestBody (the use case bounds the image), and read with
// an idle deadline instead of the server's whole-request one.
func (s *Server) apiUpload(h api.Handler, roles ...model.Role) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body := r.Body
		r2, err := s.authorize(w, r, true, roles) // bounds r.Body, which the image is not read through
		if err == nil {
			r2.Body = io.NopCloser(idleReader{rc: http.NewResponseController(w), r: body})
			err = h(w, r2)
		}
		if err != nil {
			s.writeAPIError(w, r, err)
		}
	})
}

// maxCSRFField bounds the form's first field, the CSRF token.
const maxCSRFField = 256

// pageUpload is page for the portal's upload form, a multipart body with
// the CSRF token as its first field. Who asks is checked before a byte of
// the body is read (a stranger's upload is refused unread); then the token
// is read from the first part, within maxCSRFPreamble bytes, so that
// nothing parses (and spools) the whole form before the handler streams
// the file from the same reader.
func (s *Server) pageUpload(h func(http.ResponseWriter, *http.Request, *multipart.Reader) error, roles ...model.Role) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		setPageHeaders(w)
		r2, id, err := s.authenticate(r, false, roles)
		var mr *multipart.Reader
		if err == nil {
			head := &headLimit{r: idleReader{rc: http.NewResponseController(w), r: r.Body}, left: maxCSRFPreamble}
			r2.Body = io.NopCloser(head)
			mr, err = r2.MultipartReader()
			if err != nil {
				err = model.Invalid("body", "must be a form upload (multipart/form-data)")
			}
			tok := ""
			if err == nil {
				if part, perr := mr.NextPart(); perr == nil && part.FormName() == "csrf_token" {
					if b, rerr := io.ReadAll(io.LimitReader(part, maxCSRFField)); rerr == nil {
						tok = string(b)
					}
				}
				err = checkCSRF(id, tok)
			}
			head.left = -1 // the token is read: the image is bounded by the use case
		}
		if err == nil {
			err = h(w, r2, mr)
		}
		if err != nil {
			if r2 != nil {
				r = r2
			}
			s.writePageError(w, r, err)
		}
	})
}

// maxCSRFPreamble bounds what is read of an upload before its CSRF token
// is checked: the multipart preamble, the first part's headers and value.
const maxCSRFPreamble = 16 << 10

// headLimit fails a read past left bytes, until left is set to -1.
type headLimit struct {
	r    io.Reader
	left int64
}

func (h *headLimit) Read(p []byte) (int, error) {
	if h.left < 0 {
		return h.r.Read(p)
	}
	if h.left == 0 {
		return 0, model.TooLarge("csrf_token", "must be the form's first field")
	}
	if int64(len(p)) > h.left {
		p = p[:h.left]
	}
	n, err := h.r.Read(p)
	h.left -= int64(n)
	return n, err
}

// idleReader moves the connection's read deadline on before every read.
type idleReader struct {
	rc *http.ResponseController
	r  io.Reader
}

func (d idleReader) Read(p []byte) (int, error) {
	d.rc.SetReadDeadline(time.Now().Add(uploadIdle))
	return d.r.Read(p)
}
