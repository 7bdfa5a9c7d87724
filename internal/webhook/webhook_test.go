package webhook

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/model"
)

// TestSignatureVerifies: a signed body verifies with its secret, and fails
// on a changed body, another secret, a changed timestamp or an old one.
func TestSignatureVerifies(t *testing.T) {
	secret := NewSecret()
	if !strings.HasPrefix(secret, "whsec_") || len(secret) < 40 || secret == NewSecret() {
		t.Fatalf("secret %q", secret)
	}
	now := time.Unix(1_900_000_000, 0)
	body := []byte(`{"id":"evt_1","type":"device.online","created":"2030-03-17T17:46:40Z","data":{"mac":"0C1105AABBCC"}}`)
	h := Sign(secret, now, body)
	if !strings.HasPrefix(h, "t=1900000000,v1=") || len(h) != len("t=1900000000,v1=")+64 {
		t.Fatalf("header %q", h)
	}
	if err := Verify(secret, h, body, 5*time.Minute, now.Add(time.Minute)); err != nil {
		t.Fatalf("verify: %v", err)
	}
	changed := []byte(strings.Replace(string(body), "AABBCC", "AABBCD", 1))
	if err := Verify(secret, h, changed, 5*time.Minute, now); !errors.Is(err, ErrSignature) {
		t.Errorf("a changed body verifies: %v", err)
	}
	if err := Verify(NewSecret(), h, body, 5*time.Minute, now); !errors.Is(err, ErrSignature) {
		t.Errorf("another secret verifies: %v", err)
	}
	if err := Verify(secret, strings.Replace(h, "t=1900000000", "t=1900000001", 1), body, 5*time.Minute, now); !errors.Is(err, ErrSignature) {
		t.Errorf("a changed timestamp verifies: %v", err)
	}
	if err := Verify(secret, h, body, 5*time.Minute, now.Add(time.Hour)); !errors.Is(err, ErrTooOld) {
		t.Errorf("an old signature verifies: %v", err)
	}
	if err := Verify(secret, "garbage", body, 0, now); !errors.Is(err, ErrBadHeader) {
		t.Errorf("garbage header: %v", err)
	}
	// During a rotation a receiver may list two signatures: one matching is enough.
	two := "t=1900000000,v1=" + strings.Repeat("0", 64) + "," + strings.TrimPrefix(h, "t=1900000000,")
	if err := Verify(secret, two, body, 0, now); err != nil {
		t.Errorf("two signatures: %v", err)
	}
}

// TestBlockedAddresses: every internal range is refused, public addresses
// are not.
func TestBlockedAddresses(t *testing.T) {
	for _, a := range []string{"127.0.0.1", "127.1.2.3", "::1", "10.0.0.1", "172.16.5.4", "172.31.255.255", "192.168.1.1",
		"169.254.169.254", "fe80::1", "0.0.0.0", "::", "224.0.0.1", "239.255.255.250", "ff02::1", "100.64.0.1", "100.127.255.254",
		"fc00::1", "fd12:3456::1", "::ffff:127.0.0.1", "::ffff:10.1.2.3", "255.255.255.255", "198.18.0.1", "192.0.0.8", "0.1.2.3",
		// IPv6 addresses that lead to an internal IPv4 one: NAT64, 6to4, IPv4-compatible.
		"64:ff9b::a00:1", "64:ff9b::a9fe:a9fe", "64:ff9b::7f00:1", "2002:a00:1::1", "2002:7f00:1::", "::7f00:1", "::a00:1"} {
		if !model.WebhookAddrBlocked(netip.MustParseAddr(a)) {
			t.Errorf("%s is not blocked", a)
		}
	}
	for _, a := range []string{"8.8.8.8", "1.1.1.1", "172.32.0.1", "100.128.0.1", "2606:4700:4700::1111", "93.184.216.34",
		"64:ff9b::808:808", "2002:808:808::1"} {
		if model.WebhookAddrBlocked(netip.MustParseAddr(a)) {
			t.Errorf("%s is blocked", a)
		}
	}
}

func tlsReceiver(t *testing.T, h http.HandlerFunc) (*httptest.Server, *http.Client, *http.Client) {
	t.Helper()
	srv := httptest.NewTLSServer(h)
	t.Cleanup(srv.Close)
	pool := srv.Client().Transport.(*http.Transport).TLSClientConfig.RootCAs
	guarded := NewClient(Options{RootCAs: pool, Timeout: 2 * time.Second})
	open := NewClient(Options{RootCAs: pool, Timeout: 2 * time.Second, AllowPrivate: true})
	return srv, guarded, open
}

// TestDialRefusesInternalAddresses: the guard judges the address dialed:
// a loopback receiver is refused by IP and by a name that resolves to it
// (what DNS rebinding would do), and reached when the operator allows it.
func TestDialRefusesInternalAddresses(t *testing.T) {
	hits := 0
	srv, guarded, open := tlsReceiver(t, func(w http.ResponseWriter, r *http.Request) { hits++ })
	body := []byte(`{}`)
	port := srv.URL[strings.LastIndex(srv.URL, ":")+1:]
	for _, u := range []string{srv.URL, "https://localhost:" + port + "/hook"} {
		r := Deliver(context.Background(), guarded, u, "s", "evt_1", body, time.Now())
		if r.OK || r.Status != 0 || !strings.Contains(r.Err, "refused") {
			t.Errorf("%s: %+v", u, r)
		}
	}
	if hits != 0 {
		t.Fatalf("the receiver was reached %d times", hits)
	}
	if r := Deliver(context.Background(), open, srv.URL, "s", "evt_1", body, time.Now()); !r.OK || r.Status != 200 {
		t.Errorf("allowed: %+v", r)
	}
}

// TestDeliverSignsAndBounds: the receiver gets the body, the signature and
// the event id; a 3xx is not followed and is no success; the excerpt is at
// most 1 KiB; a slow receiver times out.
func TestDeliverSignsAndBounds(t *testing.T) {
	var got []byte
	var sig, id string
	redirected := false
	srv, _, open := tlsReceiver(t, func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/redirect":
			http.Redirect(w, r, "/elsewhere", http.StatusFound)
		case "/elsewhere":
			redirected = true
		case "/big":
			w.WriteHeader(500)
			w.Write([]byte(strings.Repeat("y", 10000)))
		case "/slow":
			time.Sleep(3 * time.Second)
		default:
			got, _ = io.ReadAll(r.Body)
			sig, id = r.Header.Get(SignatureHeader), r.Header.Get("Gatehouse-Event-Id")
			w.Write([]byte("thanks"))
		}
	})
	body := []byte(`{"id":"evt_9","type":"webhook.test","created":"2030-01-01T00:00:00Z","data":{}}`)
	now := time.Now()
	r := Deliver(context.Background(), open, srv.URL+"/hook", "whsec_k", "evt_9", body, now)
	if !r.OK || r.Excerpt != "thanks" || string(got) != string(body) || id != "evt_9" {
		t.Fatalf("delivery: %+v body %q id %q", r, got, id)
	}
	if err := Verify("whsec_k", sig, got, time.Minute, time.Now()); err != nil {
		t.Errorf("the receiver's signature does not verify: %v", err)
	}
	if r := Deliver(context.Background(), open, srv.URL+"/redirect", "k", "e", body, now); r.OK || r.Status != 302 || redirected {
		t.Errorf("redirect: %+v followed=%v", r, redirected)
	}
	if r := Deliver(context.Background(), open, srv.URL+"/big", "k", "e", body, now); r.OK || r.Status != 500 || len(r.Excerpt) != model.WebhookExcerpt {
		t.Errorf("big answer: status %d, excerpt %d bytes", r.Status, len(r.Excerpt))
	}
	if r := Deliver(context.Background(), open, srv.URL+"/slow", "k", "e", body, now); r.OK || r.Err != "timed out" {
		t.Errorf("slow: %+v", r)
	}
}

// TestBackoff: doubling from 30 s with jitter, capped at an hour.
func TestBackoff(t *testing.T) {
	for n, want := range map[int]time.Duration{1: 30 * time.Second, 2: time.Minute, 3: 2 * time.Minute, 8: time.Hour, 30: time.Hour} {
		for range 50 {
			if d := Backoff(n); d < want/2 || d > want {
				t.Fatalf("Backoff(%d) = %s, want within [%s, %s]", n, d, want/2, want)
			}
		}
	}
	seen := map[time.Duration]bool{}
	for range 20 {
		seen[Backoff(5)] = true
	}
	if len(seen) < 5 {
		t.Errorf("no jitter: %v", seen)
	}
}
