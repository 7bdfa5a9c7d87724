package server_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/server"
)

// A node's devices' AutoP fetches are answered at its front door, counted
// in the node's metrics as net/http's answers were; a refusal on the same
// connection hands it to net/http, which answers what follows.
func TestAutoPFrontDoor(t *testing.T) {
	eachBackend(t, func(t *testing.T, e *env) {
		mac := e.devMAC(t, apCond("demo-subdistributor", "community")+" AND d.key_hash = ''")
		key := devKey(mac)
		enrollKey(t, e, mac, key)
		c := &http.Client{Transport: &http.Transport{}} // a connection of its own
		fetch := func(key string) int {
			t.Helper()
			req, _ := http.NewRequest("GET", e.url+"/autop/"+mac+".cfg", nil)
			req.SetBasicAuth(mac, key)
			res, err := c.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(res.Body)
			res.Body.Close()
			if res.StatusCode == 200 && !strings.HasPrefix(string(b), "# Gatehouse AutoP "+mac) {
				t.Errorf("file: %q", b)
			}
			return res.StatusCode
		}
		metric := func() int {
			r := e.do(nil, "GET", "/metrics", nil)
			m := regexp.MustCompile(`gatehouse_http_requests_total\{code="200",route="GET /autop/\{file\}"\} (\d+)`).FindSubmatch(r.body)
			if m == nil {
				return 0
			}
			n, _ := strconv.Atoi(string(m[1]))
			return n
		}
		before, counted := e.front.Answered(), metric()
		for range 3 {
			if code := fetch(key); code != 200 {
				t.Fatalf("fetch: %d", code)
			}
		}
		if n := e.front.Answered() - before; n != 3 {
			t.Errorf("the front door answered %d of 3 fetches", n)
		}
		if n := metric() - counted; n != 3 {
			t.Errorf("metrics counted %d of 3 fetches", n)
		}
		// A wrong key: net/http's refusal, and the connection stays there.
		if code := fetch(devKey("another " + mac)); code != 403 {
			t.Errorf("wrong key: %d", code)
		}
		before = e.front.Answered()
		if code := fetch(key); code != 200 {
			t.Errorf("fetch after a refusal: %d", code)
		}
		if n := e.front.Answered() - before; n != 0 {
			t.Errorf("the front door answered on a connection it handed over")
		}
	})
}

// With TLS, the front door answers inside the TLS connection; what it
// hands over keeps its TLS state (a session cookie is Secure), and HTTP/2
// goes to net/http.
func TestAutoPFrontDoorTLS(t *testing.T) {
	e := newEnv(t, "sqlite")
	mac := e.devMAC(t, apCond("demo-subdistributor", "community")+" AND d.key_hash = ''")
	key := devKey(mac)
	enrollKey(t, e, mac, key)
	cert, keyFile := selfSigned(t)
	srv, err := server.New(server.Config{Addr: "127.0.0.1:0", TLSCert: cert, TLSKey: keyFile}, e.st, e.auth, e.mail,
		slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	ctx, stop := context.WithCancel(context.Background())
	addr := make(chan string, 1)
	ran := make(chan error, 1)
	go func() { ran <- srv.Run(ctx, func(a string) { addr <- a }) }()
	defer func() {
		stop()
		if err := <-ran; err != nil {
			t.Errorf("Run: %v", err)
		}
	}()
	var base string
	select {
	case a := <-addr:
		base = "https://" + a
	case err := <-ran:
		t.Fatal(err)
	}
	h1 := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true},
		TLSNextProto: map[string]func(string, *tls.Conn) http.RoundTripper{}}}
	h2 := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}, ForceAttemptHTTP2: true}}

	req, _ := http.NewRequest("GET", base+"/autop/"+mac+".cfg", nil)
	req.SetBasicAuth(mac, key)
	res, err := h1.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != 200 || res.TLS == nil || !strings.HasPrefix(string(b), "# Gatehouse AutoP "+mac) {
		t.Fatalf("fetch over TLS: %d %q", res.StatusCode, b)
	}
	for name, c := range map[string]*http.Client{"HTTP/1.1": h1, "HTTP/2": h2} {
		res, err := c.Post(base+"/api/v1/auth/login", "application/json",
			strings.NewReader(`{"username":"demo-admin","password":"`+demoPassword+`"}`))
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if cs := res.Cookies(); res.StatusCode != 200 || len(cs) != 1 || !cs[0].Secure {
			t.Errorf("%s login: %d %+v", name, res.StatusCode, cs)
		}
		if want := map[string]int{"HTTP/1.1": 1, "HTTP/2": 2}[name]; res.ProtoMajor != want {
			t.Errorf("%s login answered over HTTP/%d", name, res.ProtoMajor)
		}
	}
}

// selfSigned writes a certificate for 127.0.0.1 and its key.
func selfSigned(t *testing.T) (certFile, keyFile string) {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "gatehouse test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
	if err != nil {
		t.Fatal(err)
	}
	kd, err := x509.MarshalECPrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600)
	os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kd}), 0o600)
	return certFile, keyFile
}
