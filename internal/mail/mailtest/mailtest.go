// Package mailtest runs a real SMTP server in process (emersion/go-smtp) for
// tests of any package: point a mail.SMTP sender at it and read back what
// arrived, parsed and decoded.
package mailtest

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net"
	netmail "net/mail"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
	"github.com/gatehouse-dev/gatehouse/internal/mail"
)

// Received is one message as the server got it.
type Received struct {
	MailFrom string   // envelope sender (MAIL FROM)
	Rcpt     []string // envelope recipients (RCPT TO)
	From     string   // From header, decoded
	To       []string // addresses of the To header
	ReplyTo  string   // address of the Reply-To header, or ""
	Subject  string   // decoded (RFC 2047)
	Text     string   // the text/plain body, decoded, with \n line ends
	Header   netmail.Header
	Raw      []byte
}

// Server is an SMTP server on 127.0.0.1 that keeps what it receives.
type Server struct {
	Addr string // host:port

	srv        *smtp.Server
	username   string
	password   string
	mu         sync.Mutex
	msgs       []Received
	errs       []error
	rejectWith error
	changed    chan struct{}
}

// Option configures Start.
type Option func(*Server)

// WithAuth makes the server require AUTH PLAIN with these credentials.
func WithAuth(username, password string) Option {
	return func(s *Server) { s.username, s.password = username, password }
}

// Start runs a server on 127.0.0.1:0 until the test ends.
func Start(t testing.TB, opts ...Option) *Server {
	t.Helper()
	s := &Server{changed: make(chan struct{})}
	for _, o := range opts {
		o(s)
	}
	s.srv = smtp.NewServer(smtp.BackendFunc(func(c *smtp.Conn) (smtp.Session, error) {
		return &session{s: s}, nil
	}))
	s.srv.Domain = "localhost"
	s.srv.ReadTimeout = 10 * time.Second
	s.srv.WriteTimeout = 10 * time.Second
	s.srv.MaxMessageBytes = 10 << 20
	s.srv.MaxRecipients = 50
	s.srv.AllowInsecureAuth = true
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("mailtest: listen: %v", err)
	}
	s.Addr = ln.Addr().String()
	go s.srv.Serve(ln)
	t.Cleanup(func() { s.srv.Close() })
	return s
}

// Config is a mail.SMTPConfig that sends to this server (no TLS).
func (s *Server) Config() mail.SMTPConfig {
	host, port, _ := net.SplitHostPort(s.Addr)
	var p int
	fmt.Sscan(port, &p)
	return mail.SMTPConfig{Host: host, Port: p, Username: s.username, Password: s.password,
		From: "Gatehouse <noreply@gatehouse.test>", TLS: mail.TLSNone}
}

// Reject makes the server refuse every message (554) while on: for tests
// of delivery failures.
func (s *Server) Reject(on bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.rejectWith = nil
	if on {
		s.rejectWith = &smtp.SMTPError{Code: 554, EnhancedCode: smtp.EnhancedCode{5, 7, 1}, Message: "mailtest rejects this message"}
	}
}

// Messages returns what has arrived so far.
func (s *Server) Messages() []Received {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Received(nil), s.msgs...)
}

// Wait waits until at least n messages have arrived, failing the test when
// they have not within timeout (or when one could not be parsed).
func (s *Server) Wait(t testing.TB, n int, timeout time.Duration) []Received {
	t.Helper()
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		s.mu.Lock()
		msgs, errs, ch := append([]Received(nil), s.msgs...), s.errs, s.changed
		s.mu.Unlock()
		if len(errs) > 0 {
			t.Fatalf("mailtest: unparsable message: %v", errors.Join(errs...))
		}
		if len(msgs) >= n {
			return msgs
		}
		select {
		case <-ch:
		case <-deadline.C:
			t.Fatalf("mailtest: %d message(s) arrived within %s, want %d", len(msgs), timeout, n)
			return nil
		}
	}
}

func (s *Server) add(r Received, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err != nil {
		s.errs = append(s.errs, err)
	} else {
		s.msgs = append(s.msgs, r)
	}
	close(s.changed)
	s.changed = make(chan struct{})
}

type session struct {
	s      *Server
	authed bool
	from   string
	rcpt   []string
}

func (se *session) AuthMechanisms() []string {
	if se.s.username == "" {
		return nil
	}
	return []string{sasl.Plain}
}

func (se *session) Auth(mech string) (sasl.Server, error) {
	return sasl.NewPlainServer(func(identity, username, password string) error {
		if username != se.s.username || password != se.s.password {
			return smtp.ErrAuthFailed
		}
		se.authed = true
		return nil
	}), nil
}

func (se *session) Mail(from string, _ *smtp.MailOptions) error {
	if se.s.username != "" && !se.authed {
		return smtp.ErrAuthRequired
	}
	se.from = from
	return nil
}

func (se *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	se.rcpt = append(se.rcpt, to)
	return nil
}

func (se *session) Data(r io.Reader) error {
	raw, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	se.s.mu.Lock()
	reject := se.s.rejectWith
	se.s.mu.Unlock()
	if reject != nil {
		return reject
	}
	msg, err := Parse(raw)
	msg.MailFrom, msg.Rcpt = se.from, append([]string(nil), se.rcpt...)
	se.s.add(msg, err)
	return nil
}

func (se *session) Reset()        { se.from, se.rcpt = "", nil }
func (se *session) Logout() error { return nil }

// Parse reads an RFC 5322 message: headers decoded, and the text/plain
// body (the first text/plain part of a multipart message) decoded.
func Parse(raw []byte) (Received, error) {
	r := Received{Raw: raw}
	m, err := netmail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		return r, err
	}
	r.Header = m.Header
	dec := new(mime.WordDecoder)
	if r.Subject, err = dec.DecodeHeader(m.Header.Get("Subject")); err != nil {
		return r, fmt.Errorf("subject: %w", err)
	}
	if r.From, err = dec.DecodeHeader(m.Header.Get("From")); err != nil {
		return r, fmt.Errorf("from: %w", err)
	}
	if to, err := m.Header.AddressList("To"); err == nil {
		for _, a := range to {
			r.To = append(r.To, a.Address)
		}
	} else {
		return r, fmt.Errorf("to: %w", err)
	}
	if m.Header.Get("Reply-To") != "" {
		rt, err := m.Header.AddressList("Reply-To")
		if err != nil || len(rt) == 0 {
			return r, fmt.Errorf("reply-to: %v", err)
		}
		r.ReplyTo = rt[0].Address
	}
	text, err := textBody(m.Header.Get("Content-Type"), m.Header.Get("Content-Transfer-Encoding"), m.Body)
	if err != nil {
		return r, err
	}
	r.Text = strings.ReplaceAll(text, "\r\n", "\n")
	return r, nil
}

func textBody(contentType, cte string, body io.Reader) (string, error) {
	mt, params, err := mime.ParseMediaType(contentType)
	if contentType == "" {
		mt, err = "text/plain", nil
	}
	if err != nil {
		return "", fmt.Errorf("content-type %q: %w", contentType, err)
	}
	if strings.HasPrefix(mt, "multipart/") {
		mr := multipart.NewReader(body, params["boundary"])
		for {
			p, err := mr.NextRawPart()
			if err == io.EOF {
				return "", errors.New("no text/plain part")
			} else if err != nil {
				return "", err
			}
			if t, err := textBody(p.Header.Get("Content-Type"), p.Header.Get("Content-Transfer-Encoding"), p); err == nil {
				return t, nil
			}
		}
	}
	if mt != "text/plain" {
		return "", fmt.Errorf("content-type %s is not text/plain", mt)
	}
	if cs := strings.ToLower(params["charset"]); cs != "" && cs != "utf-8" && cs != "us-ascii" {
		return "", fmt.Errorf("charset %s is not UTF-8", cs)
	}
	var rd io.Reader = body
	switch strings.ToLower(strings.TrimSpace(cte)) {
	case "quoted-printable":
		rd = quotedprintable.NewReader(body)
	case "base64":
		rd = base64.NewDecoder(base64.StdEncoding, newlineStripper{body})
	}
	b, err := io.ReadAll(rd)
	return string(b), err
}

// newlineStripper drops the line breaks of a base64 body.
type newlineStripper struct{ r io.Reader }

func (n newlineStripper) Read(p []byte) (int, error) {
	k, err := n.r.Read(p)
	j := 0
	for _, c := range p[:k] {
		if c != '\r' && c != '\n' {
			p[j] = c
			j++
		}
	}
	return j, err
}
