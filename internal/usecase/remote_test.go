package usecase

import (
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/model"
)

func TestRemoteControlOpensOnTheSeparateOriginOrThePortal(t *testing.T) {
	forEachBackend(t, func(t *testing.T, backend string) {
		tc := newTestCases(t, backend)
		tr := newDeviceTree(t, tc.store)
		ctx := deviceAs(tr.own.sub)
		mac := tr.own.device.MAC

		if _, err := tc.OpenRemoteControl(ctx, mac); model.ErrorCode(err) != model.ECONFLICT {
			t.Fatalf("offline device: %v, want conflict", err)
		}
		for _, d := range []*deviceBranch{&tr.own, &tr.other} {
			if err := tc.store.DeviceConnected(deviceSys, d.device.MAC, "node-1", time.Now(), model.DeviceHello{}); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := tc.OpenRemoteControl(ctx, tr.other.device.MAC); model.ErrorCode(err) != model.ENOTFOUND {
			t.Fatalf("foreign device: %v, want not found", err)
		}

		// On the portal's host: a path for the browser already there, the
		// absolute link for an API client; no handoff code in either.
		rc, err := tc.OpenRemoteControl(ctx, mac)
		if err != nil {
			t.Fatal(err)
		}
		token, ok := strings.CutPrefix(rc.Path, "/remote/")
		token, _ = strings.CutSuffix(token, "/")
		if !ok || len(token) < 20 || rc.RemoteHost != "" || rc.Session.URL != "https://portal.example"+rc.Path || rc.Session.MAC != mac {
			t.Fatalf("on the portal: path %q url %q host %q", rc.Path, rc.Session.URL, rc.RemoteHost)
		}
		if got, err := tc.store.RemoteSessionDevice(ctx, token); err != nil || got != mac {
			t.Errorf("the path's token opens %q (%v), want %s", got, err, mac)
		}

		// Without a public URL, the link is the path.
		local := New(Deps{Store: tc.store})
		if rc, err := local.OpenRemoteControl(ctx, mac); err != nil || rc.Session.URL != rc.Path {
			t.Errorf("no public URL: url %q path %q (%v)", rc.Session.URL, rc.Path, err)
		}

		// On a separate origin: no portal path, the link carries the
		// handoff code that claims this session there.
		remote := New(Deps{Store: tc.store, PublicURL: "https://portal.example", RemoteURL: "https://remote.example:8443"})
		rc, err = remote.OpenRemoteControl(ctx, mac)
		if err != nil {
			t.Fatal(err)
		}
		u, err := url.Parse(rc.Session.URL)
		if err != nil || u.Scheme != "https" || u.Host != "remote.example:8443" || rc.RemoteHost != "remote.example:8443" || rc.Path != "" {
			t.Fatalf("separate origin: url %q host %q path %q", rc.Session.URL, rc.RemoteHost, rc.Path)
		}
		token, _ = strings.CutPrefix(u.Path, "/remote/")
		token, _ = strings.CutSuffix(token, "/")
		got, secret, err := tc.ClaimRemoteControl(deviceSys, token, u.Query().Get("handoff"))
		if err != nil || got != mac || secret == "" {
			t.Errorf("claim with the link's code: %q %v", got, err)
		}
		if _, _, err := tc.ClaimRemoteControl(deviceSys, token, u.Query().Get("handoff")); model.ErrorCode(err) != model.EFORBIDDEN {
			t.Errorf("the link's code used twice: %v, want forbidden", err)
		}
	})
}
