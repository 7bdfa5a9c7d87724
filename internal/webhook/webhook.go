// Package webhook signs, verifies and delivers Gatehouse's webhooks
// (issue 16): the signature header, the HTTP client that refuses internal
// addresses at the moment it dials them, one delivery attempt with a
// bounded read, and the retry schedule. It holds no state: the dispatcher
// (internal/usecase) keeps deliveries in the database.
package webhook

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/model"
)

// SignatureHeader is the header that carries a delivery's signature.
const SignatureHeader = "Gatehouse-Signature"

// NewSecret returns a new endpoint secret: "whsec_" and 32 random bytes.
func NewSecret() string {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		panic(err) // crypto/rand does not fail on supported systems
	}
	return "whsec_" + base64.RawURLEncoding.EncodeToString(b)
}

// Sign returns the signature header value of body sent at t:
// "t=<unix>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>".
func Sign(secret string, t time.Time, body []byte) string {
	ts := strconv.FormatInt(t.Unix(), 10)
	return "t=" + ts + ",v1=" + mac(secret, ts, body)
}

func mac(secret, ts string, body []byte) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(ts))
	m.Write([]byte("."))
	m.Write(body)
	return hex.EncodeToString(m.Sum(nil))
}

// Errors of Verify.
var (
	ErrBadHeader = errors.New("webhook: malformed signature header")
	ErrSignature = errors.New("webhook: no signature matches")
	ErrTooOld    = errors.New("webhook: timestamp outside the tolerance")
)

// Verify checks header (as Sign makes it; several v1 values are accepted,
// as during a secret's rotation) against body and secret, and that its
// timestamp is within tolerance of now (0: not checked). It is what a
// receiver does; the README shows the same in a few lines of stdlib.
func Verify(secret, header string, body []byte, tolerance time.Duration, now time.Time) error {
	var ts string
	var sigs []string
	for _, part := range strings.Split(header, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok {
			return ErrBadHeader
		}
		switch k {
		case "t":
			ts = v
		case "v1":
			sigs = append(sigs, v)
		}
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil || len(sigs) == 0 {
		return ErrBadHeader
	}
	if tolerance > 0 {
		if d := now.Sub(time.Unix(sec, 0)); d > tolerance || d < -tolerance {
			return ErrTooOld
		}
	}
	want := mac(secret, ts, body)
	for _, s := range sigs {
		if hmac.Equal([]byte(s), []byte(want)) {
			return nil
		}
	}
	return ErrSignature
}

// ErrBlockedAddress is the error of a dial to an address webhooks may not
// reach (model.WebhookAddrBlocked).
var ErrBlockedAddress = errors.New("refused: the address is loopback, private or otherwise internal")

// Options configure a Client.
type Options struct {
	// AllowPrivate lets deliveries reach internal addresses (the
	// operator's `serve --webhook-allow-private`).
	AllowPrivate bool
	// Timeout bounds one attempt, connection to last byte read
	// (DefaultTimeout when 0).
	Timeout time.Duration
	// RootCAs replaces the system's roots (tests' receivers).
	RootCAs *x509.CertPool
	// MaxIdleConns bounds the idle connections kept (1,024 when 0): a
	// connection to an endpoint is reused by its next delivery, and a
	// TLS session resumed when it was closed.
	MaxIdleConns int
}

// DefaultTimeout bounds one delivery attempt.
const DefaultTimeout = 10 * time.Second

// control refuses, at the moment of the dial, an address webhooks may not
// reach: whatever a name resolved to (DNS rebinding included), the address
// dialed is the one judged.
func control(allowPrivate bool) func(network, address string, c syscall.RawConn) error {
	return func(network, address string, _ syscall.RawConn) error {
		if allowPrivate {
			return nil
		}
		host, _, err := net.SplitHostPort(address)
		if err != nil {
			return ErrBlockedAddress
		}
		ip, err := netip.ParseAddr(host)
		if err != nil || model.WebhookAddrBlocked(ip) {
			return fmt.Errorf("%w (%s)", ErrBlockedAddress, host)
		}
		return nil
	}
}

// NewClient returns the HTTP client of deliveries: no proxy, no redirects
// followed (a 3xx is an answer, and not a success), the address dialed
// checked, an attempt bounded by the timeout.
func NewClient(o Options) *http.Client {
	if o.Timeout <= 0 {
		o.Timeout = DefaultTimeout
	}
	if o.MaxIdleConns <= 0 {
		o.MaxIdleConns = 1024
	}
	d := &net.Dialer{Timeout: o.Timeout, KeepAlive: 30 * time.Second, Control: control(o.AllowPrivate)}
	tr := &http.Transport{
		Proxy:       nil,
		DialContext: d.DialContext,
		TLSClientConfig: &tls.Config{RootCAs: o.RootCAs, MinVersion: tls.VersionTLS12,
			ClientSessionCache: tls.NewLRUClientSessionCache(o.MaxIdleConns)},
		TLSHandshakeTimeout:    o.Timeout,
		ResponseHeaderTimeout:  o.Timeout,
		MaxIdleConns:           o.MaxIdleConns,
		MaxIdleConnsPerHost:    2,
		IdleConnTimeout:        30 * time.Second,
		MaxResponseHeaderBytes: 16 << 10,
		ForceAttemptHTTP2:      true,
	}
	return &http.Client{
		Transport: tr,
		Timeout:   o.Timeout,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
}

// Result is one attempt's outcome.
type Result struct {
	OK      bool // a 2xx answer
	Status  int  // 0: no answer
	Latency time.Duration
	Excerpt string // at most model.WebhookExcerpt bytes of the answer
	Err     string // why there was no answer, or a 3xx/4xx/5xx in words
}

// Deliver POSTs body to url once, signed with secret at now.
func Deliver(ctx context.Context, c *http.Client, url, secret, eventID string, body []byte, now time.Time) Result {
	start := time.Now()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, strings.NewReader(string(body)))
	if err != nil {
		return Result{Err: "bad URL: " + err.Error()}
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "Gatehouse-Webhooks/1")
	req.Header.Set(SignatureHeader, Sign(secret, now, body))
	req.Header.Set("Gatehouse-Event-Id", eventID)
	res, err := c.Do(req)
	if err != nil {
		r := Result{Latency: time.Since(start), Err: describe(err)}
		return r
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(res.Body, model.WebhookExcerpt))
	r := Result{Status: res.StatusCode, Latency: time.Since(start), Excerpt: string(b), OK: res.StatusCode >= 200 && res.StatusCode < 300}
	if !r.OK {
		r.Err = "answered " + res.Status
		if res.StatusCode >= 300 && res.StatusCode < 400 {
			r.Err += " (redirects are not followed)"
		}
	}
	return r
}

func describe(err error) string {
	switch {
	case errors.Is(err, ErrBlockedAddress):
		var s string
		for e := err; e != nil; e = errors.Unwrap(e) {
			if strings.HasPrefix(e.Error(), ErrBlockedAddress.Error()) {
				s = e.Error()
				break
			}
		}
		if s == "" {
			s = ErrBlockedAddress.Error()
		}
		return s
	case errors.Is(err, context.DeadlineExceeded) || strings.Contains(err.Error(), "Client.Timeout"):
		return "timed out"
	}
	msg := err.Error()
	if len(msg) > 300 {
		msg = msg[:300]
	}
	return msg
}

// Backoff is the wait before the attempt after the n-th failure (n ≥ 1):
// 30 s doubling up to an hour, with jitter (between half of it and all of
// it), so that receivers back from an outage are not hit all at once.
func Backoff(n int) time.Duration {
	if n < 1 {
		n = 1
	}
	d := 30 * time.Second
	for i := 1; i < n && d < time.Hour; i++ {
		d *= 2
	}
	d = min(d, time.Hour)
	return d/2 + time.Duration(mrand.Int64N(int64(d/2)+1))
}
