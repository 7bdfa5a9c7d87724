package server_test

import (
	"encoding/base64"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/gateway"
	"github.com/gatehouse-dev/gatehouse/internal/testutil"
)

// Attacks on device enrollment (issue 11, point 2). Each failed on bare
// trust on first use: a stranger who knew a registered MAC bound a key of
// his own and took the device; MACs could be enumerated by status.

// upgradeAttempt makes a WebSocket upgrade request to the gateway as a
// device would and answers the status and body (the connection is closed
// at once when it succeeds).
func upgradeAttempt(t *testing.T, e *env, mac, key string, extra ...string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest("GET", e.url+"/device/v1/connect", nil)
	req.Header.Set("Connection", "Upgrade")
	req.Header.Set("Upgrade", "websocket")
	req.Header.Set("Sec-WebSocket-Version", "13")
	req.Header.Set("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==")
	req.Header.Set("Sec-WebSocket-Protocol", gateway.Subprotocol)
	req.Header.Set("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte(mac+":"+key)))
	for i := 0; i+1 < len(extra); i += 2 {
		req.Header.Set(extra[i], extra[i+1])
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if res.StatusCode == http.StatusSwitchingProtocols {
		return res.StatusCode, ""
	}
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b)
}

// autopAttempt fetches a device's AutoP file with MAC and key.
func autopAttempt(t *testing.T, e *env, mac, key string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest("GET", e.url+"/autop/"+mac+".cfg", nil)
	req.SetBasicAuth(mac, key)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b)
}

func strangerKey(n string) string { return "stranger-" + n + "-" + strings.Repeat("k", 40) }

// TestEnrollStrangerCannotTakeDevice: a stranger who knows a registered MAC
// that never connected gets nothing with a key of his own — no connection,
// no AutoP file — and binds nothing.
func TestEnrollStrangerCannotTakeDevice(t *testing.T) {
	for _, backend := range testutil.Backends(t) {
		t.Run(backend, func(t *testing.T) {
			t.Parallel()
			e := newGatewayEnv(t, backend, nil, nil, gwOptions)
			macs := subMACs(t, e.st, 2)
			// The gateway: refused before the upgrade.
			if st, _ := upgradeAttempt(t, e, macs[0], strangerKey("a")); st == http.StatusSwitchingProtocols {
				t.Errorf("a stranger's key connected as registered device %s", macs[0])
			}
			if h, _ := keyHash(t, e.st, macs[0]); h != "" {
				t.Errorf("a stranger's connection attempt bound a key to %s", macs[0])
			}
			// The AutoP server: no file.
			if st, body := autopAttempt(t, e, macs[1], strangerKey("b")); st == http.StatusOK {
				t.Errorf("a stranger's key fetched the AutoP file of %s: %.80q", macs[1], body)
			}
			if h, _ := keyHash(t, e.st, macs[1]); h != "" {
				t.Errorf("the AutoP server bound a stranger's key to %s", macs[1])
			}
			// And having tried first wins nothing later either.
			if st, _ := autopAttempt(t, e, macs[1], strangerKey("b")); st == http.StatusOK {
				t.Errorf("a stranger's key fetched the AutoP file of %s on its second try", macs[1])
			}
		})
	}
}

// TestEnrollAnswersAreIdentical: an unknown MAC, a key waiting to be
// accepted and a wrong key answer the same status and body, on the gateway
// and on the AutoP server, so that registered MACs cannot be told apart.
func TestEnrollAnswersAreIdentical(t *testing.T) {
	e := newGatewayEnv(t, "sqlite", nil, nil, gwOptions)
	macs := subMACs(t, e.st, 3)
	unknown := "0C1105FEFEFE"
	// macs[1]: a key waiting (whatever the server made of it before);
	// macs[2]: a device with another key accepted.
	upgradeAttempt(t, e, macs[1], strangerKey("pending"))
	enrollKey(t, e, macs[2], strangerKey("real"))
	type answer struct {
		status int
		body   string
	}
	for _, where := range []string{"gateway", "autop"} {
		try := func(mac, key string) answer {
			if where == "gateway" {
				s, b := upgradeAttempt(t, e, mac, key)
				return answer{s, b}
			}
			s, b := autopAttempt(t, e, mac, key)
			return answer{s, b}
		}
		got := map[string]answer{
			"unknown MAC": try(unknown, strangerKey("x")),
			"pending key": try(macs[1], strangerKey("pending")),
			"wrong key":   try(macs[2], strangerKey("wrong")),
		}
		want := got["unknown MAC"]
		if want.status < 400 {
			t.Errorf("%s: an unknown MAC answered %d", where, want.status)
		}
		for name, a := range got {
			if a != want {
				t.Errorf("%s: %s answers %d %q; an unknown MAC %d %q", where, name, a.status, a.body, want.status, want.body)
			}
		}
	}
}

// TestEnrollAutoPServerNeverBinds: a fetch of the AutoP file with a key,
// for a device without an accepted one, records nothing: only the gateway
// records keys.
func TestEnrollAutoPServerNeverBinds(t *testing.T) {
	e := newGatewayEnv(t, "sqlite", nil, nil, gwOptions)
	mac := subMACs(t, e.st, 1)[0]
	key := strangerKey("autop")
	autopAttempt(t, e, mac, key)
	if h, _ := keyHash(t, e.st, mac); h != "" {
		t.Fatalf("the AutoP server bound a key")
	}
	// Nor does it let the key in later: the gateway has not accepted it.
	if st, _ := upgradeAttempt(t, e, mac, key); st == http.StatusSwitchingProtocols {
		t.Errorf("a key seen only by the AutoP server connected")
	}
}
