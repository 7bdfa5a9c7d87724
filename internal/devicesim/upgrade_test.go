package devicesim

import (
	"bufio"
	"context"
	"net"
	"net/http"
	"regexp"
	"testing"
	"time"
)

// The connect request written by upgradeTransport is byte for byte what
// net/http's Transport sends for it: the server cannot tell them apart.
func TestUpgradeRequestIsWhatNetHTTPSends(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	got := make(chan string, 2)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			br := bufio.NewReader(c)
			var req []byte
			for {
				line, err := br.ReadString('\n')
				req = append(req, line...)
				if err != nil || line == "\r\n" {
					break
				}
			}
			got <- string(req)
			c.Write([]byte("HTTP/1.1 503 Service Unavailable\r\nRetry-After: 3\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"))
			c.Close()
		}
	}()
	newReq := func() *http.Request {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		t.Cleanup(cancel)
		req, _ := http.NewRequestWithContext(ctx, "GET", "http://"+ln.Addr().String()+"/device/v1/connect", nil)
		req.Header.Set("Authorization", "Basic MEMxMTA1QUFCQkNDOmtleQ==")
		req.Header.Set("X-Gatehouse-Claim", "7KQ2-M9XD-4TPA-R8WC")
		req.Header.Set("X-Gatehouse-Model", "R29C")
		req.Header.Set("Connection", "Upgrade")
		req.Header.Set("Upgrade", "websocket")
		req.Header.Set("Sec-WebSocket-Version", "13")
		req.Header.Set("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==")
		req.Header.Set("Sec-WebSocket-Protocol", subprotocol)
		return req
	}
	var d net.Dialer
	lean := &http.Client{Transport: &upgradeTransport{dial: d.DialContext}}
	std := &http.Client{Transport: &http.Transport{DialContext: d.DialContext, DisableKeepAlives: true, DisableCompression: true}}
	var reqs []string
	for _, c := range []*http.Client{lean, std} {
		resp, err := c.Do(newReq())
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 503 || resp.Header.Get("Retry-After") != "3" {
			t.Errorf("answer %d Retry-After %q", resp.StatusCode, resp.Header.Get("Retry-After"))
		}
		reqs = append(reqs, <-got)
	}
	if reqs[0] != reqs[1] {
		t.Errorf("upgradeTransport wrote\n%q\nnet/http writes\n%q", reqs[0], reqs[1])
	}
	if !regexp.MustCompile(`^GET /device/v1/connect HTTP/1.1\r\nHost: 127.0.0.1:\d+\r\n`).MatchString(reqs[0]) {
		t.Errorf("request %q", reqs[0])
	}
}
