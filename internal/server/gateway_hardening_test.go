package server_test

import (
	"bufio"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/yamux"
)

// Found by review and kept as regressions: a device's huge response header,
// streams a device opens itself, and the AutoP fetch that completes a
// factory reset.

// TestTunnelRefusesHugeResponseHeader: a device answering Remote Control
// with a header of more than 1 MiB gets an error, not the server's memory.
func TestTunnelRefusesHugeResponseHeader(t *testing.T) {
	e := newGatewayEnv(t, "sqlite", nil, nil, gwOptions)
	mac := subMACs(t, e.st, 1)[0]
	d := connectRaw(t, e, mac)
	go func() {
		st, err := d.sess.AcceptStream()
		if err != nil {
			return
		}
		br := bufio.NewReader(st)
		br.ReadString('\n')
		http.ReadRequest(br)
		st.Write([]byte("HTTP/1.1 200 OK\r\nX-Big: "))
		chunk := []byte(strings.Repeat("a", 64<<10))
		for range 64 { // 4 MiB
			if _, err := st.Write(chunk); err != nil {
				return
			}
		}
		st.Write([]byte("\r\nContent-Length: 0\r\n\r\n"))
	}()
	eventually(t, 5*time.Second, "held", func() bool { return e.srv.Gateway().Connected() == 1 })
	req, _ := http.NewRequest("GET", "http://device/", nil)
	res, err := e.srv.Gateway().Tunnel(mac).RoundTrip(req)
	if err == nil {
		res.Body.Close()
		t.Fatalf("a 4 MiB response header was accepted (%d bytes)", len(res.Header.Get("X-Big")))
	}
	if !strings.Contains(err.Error(), "larger than 1 MiB") {
		t.Errorf("error: %v", err)
	}
}

// TestDeviceOpenedStreamsAreClosed: only the server opens streams beyond
// the control stream; one a device opens is refused (reset) at once instead
// of holding its receive window for the life of the connection.
func TestDeviceOpenedStreamsAreClosed(t *testing.T) {
	e := newGatewayEnv(t, "sqlite", nil, nil, gwOptions)
	mac := subMACs(t, e.st, 1)[0]
	d := connectRaw(t, e, mac)
	eventually(t, 5*time.Second, "held", func() bool { return e.srv.Gateway().Connected() == 1 })
	st, err := d.sess.OpenStream()
	if err != nil {
		t.Fatal(err)
	}
	st.Write([]byte("hello"))
	st.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := st.Read(make([]byte, 1)); err != yamux.ErrConnectionReset {
		t.Errorf("a device-opened stream stays open: read %v", err)
	}
	if e.srv.Gateway().Connected() != 1 {
		t.Error("the device's connection went with the stream")
	}
}

// TestAutoPFetchCompletingAResetServesNoOneTime: after a factory reset, the
// device's new key gets nothing from the AutoP server (which never records
// or accepts a key) until the gateway accepted it; the connection that
// accepts it completes the reset, which voids the one-time commands: the
// first file served already lacks them.
func TestAutoPFetchCompletingAResetServesNoOneTime(t *testing.T) {
	e := newGatewayEnv(t, "sqlite", nil, nil, gwOptions)
	e.clearDemoAutoP(t)
	mac := subMACs(t, e.st, 1)[0]
	sub := e.token("demo-subdistributor")
	d := connectRaw(t, e, mac)
	if r := e.do(nil, "PUT", "/api/v1/devices/"+mac+"/autop", map[string]any{"once": []string{"Config.Test.ONCE.Secret = 1"}}, bearer(sub)); r.StatusCode != 200 {
		t.Fatalf("put autop: %d %s", r.StatusCode, r.body)
	}
	if r := e.do(nil, "POST", "/api/v1/devices/"+mac+"/reset", map[string]any{"mode": "factory"}, bearer(sub)); r.StatusCode != 202 {
		t.Fatalf("reset: %d %s", r.StatusCode, r.body)
	}
	d.expect(t, "reset") // sent; the device resets itself before acknowledging
	const newKey = "brand-new-key-after-factory-reset-0123456789"
	resetStatus := func() string {
		var status string
		e.st.DB().QueryRow(`SELECT c.status FROM device_commands c JOIN devices d ON d.id = c.device_id WHERE d.mac = ? AND c.kind = 'reset'`, mac).Scan(&status)
		return status
	}
	if st, _ := autopAttempt(t, e, mac, newKey); st != 403 || resetStatus() != "sent" {
		t.Fatalf("AutoP fetch with the new key: %d, reset %q", st, resetStatus())
	}
	// The installer at the device opens a window; the device connects.
	if r := e.do(nil, "POST", "/api/v1/enrollment-windows", map[string]any{"mac": mac}, bearer(sub)); r.StatusCode != 201 {
		t.Fatalf("window: %d %s", r.StatusCode, r.body)
	}
	if st, _ := upgradeAttempt(t, e, mac, newKey); st != http.StatusSwitchingProtocols || resetStatus() != "done" {
		t.Fatalf("connect with the new key: %d, reset %q", st, resetStatus())
	}
	st, body := autopAttempt(t, e, mac, newKey)
	if st != 200 {
		t.Fatalf("fetch with the accepted new key: %d", st)
	}
	if strings.Contains(body, "ONCE.Secret") {
		t.Errorf("the first file after the reset carries voided one-time commands:\n%s", body)
	}
}
