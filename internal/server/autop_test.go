package server_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/auth"
	"github.com/gatehouse-dev/gatehouse/internal/demo"
	"github.com/gatehouse-dev/gatehouse/internal/model"
	"github.com/gatehouse-dev/gatehouse/internal/server"
	"github.com/gatehouse-dev/gatehouse/internal/testutil"
)

// apCond selects the devices of a sub-distributor's list (d: devices).
func apCond(sub, kind string) string {
	return fmt.Sprintf("d.subdistributor_id = (SELECT id FROM accounts WHERE username = '%s') AND d.project_kind = '%s'", sub, kind)
}

// apDevices adds n devices, in bulk, to the project of the device mac
// (same installer, same list): a sub-distributor's 500 devices.
func apDevices(t *testing.T, e *env, like string, n int) []string {
	t.Helper()
	var inst, proj, dist, sub int64
	var kind string
	if err := e.st.DB().QueryRow(`SELECT installer_id, project_id, distributor_id, subdistributor_id, project_kind FROM devices WHERE mac = '`+like+`'`).
		Scan(&inst, &proj, &dist, &sub, &kind); err != nil {
		t.Fatal(err)
	}
	id, err := e.st.MaxID(sysCtx(), "devices")
	if err != nil {
		t.Fatal(err)
	}
	var rows [][]any
	var macs []string
	now := time.Now().UTC()
	for i := 0; i < n; i++ {
		id++
		mac := fmt.Sprintf("0CAB%08X", id)
		macs = append(macs, mac)
		rows = append(rows, []any{id, mac, inst, proj, string(model.IndoorMonitor), fmt.Sprintf("Batch %d", i), now, kind, dist, sub})
	}
	if err := e.st.BulkInsert(sysCtx(), "devices", []string{"id", "mac", "installer_id", "project_id", "type", "name", "created_at",
		"project_kind", "distributor_id", "subdistributor_id"}, rows); err != nil {
		t.Fatal(err)
	}
	return macs
}

// apForeign returns a device of the list kind that is not demo-subdistributor's,
// and the user name of its sub-distributor.
func (e *env) apForeign(t *testing.T, kind string) (mac, sub string) {
	t.Helper()
	if err := e.st.DB().QueryRow(`SELECT d.mac, s.username FROM devices d JOIN accounts s ON s.id = d.subdistributor_id
		WHERE s.username <> 'demo-subdistributor' AND d.project_kind = '`+kind+`' ORDER BY d.id LIMIT 1`).Scan(&mac, &sub); err != nil {
		t.Fatal(err)
	}
	return mac, sub
}

// clearDemoAutoP removes the AutoP commands the demo gives some devices, so
// that a test starts from devices without any.
func (e *env) clearDemoAutoP(t *testing.T) {
	t.Helper()
	if _, err := e.st.DB().Exec(`DELETE FROM device_autop`); err != nil {
		t.Fatal(err)
	}
}

type apLists struct {
	MAC     string   `json:"mac"`
	Regular []string `json:"regular"`
	Once    []string `json:"once"`
}

func (e *env) apGet(t *testing.T, tok, mac string) apLists {
	t.Helper()
	r := e.do(nil, "GET", "/api/v1/devices/"+mac+"/autop", nil, bearer(tok))
	if r.StatusCode != 200 {
		t.Fatalf("GET autop of %s: %d %s", mac, r.StatusCode, r.body)
	}
	var l apLists
	if err := json.Unmarshal(r.body, &l); err != nil {
		t.Fatal(err)
	}
	return l
}

func TestAutoPDeviceAPI(t *testing.T) {
	eachBackend(t, func(t *testing.T, e *env) {
		e.clearDemoAutoP(t)
		tok := e.token("demo-subdistributor")
		mac := e.devMAC(t, apCond("demo-subdistributor", "community"))
		foreign, foreignSub := e.apForeign(t, "community")
		// The demo gives some devices commands: what is there now must stay.
		before := e.apGet(t, tok, mac)
		foreignBefore := e.apGet(t, e.token(foreignSub), foreign)

		// Bad lines: 400 naming the field and the line; nothing changes.
		r := e.do(nil, "PUT", "/api/v1/devices/"+colons(mac)+"/autop", map[string]any{
			"regular": []string{"Config.DoorSetting.RELAY.HoldDelayA = 5", "Config.DoorSetting.HoldDelayA = 5"},
			"once":    []string{"Config.Settings.WEB.Title = a\tb"}}, bearer(tok))
		if r.StatusCode != 400 || !strings.HasPrefix(r.errorField(t, "regular"), "line 2: ") || !strings.HasPrefix(r.errorField(t, "once"), "line 1: ") {
			t.Errorf("bad lines: %d %s", r.StatusCode, r.body)
		}
		if l := e.apGet(t, tok, mac); !slices.Equal(l.Regular, before.Regular) || !slices.Equal(l.Once, before.Once) {
			t.Errorf("a refused PUT changed the lists: %+v, was %+v", l, before)
		}
		long := make([]string, 1001)
		for i := range long {
			long[i] = fmt.Sprintf("Config.Test.ITEMS.Item%d = 1", i)
		}
		r = e.do(nil, "PUT", "/api/v1/devices/"+mac+"/autop", map[string]any{"regular": long}, bearer(tok))
		if r.StatusCode != 400 || !strings.HasPrefix(r.errorField(t, "regular"), "line 1001: ") {
			t.Errorf("1,001 commands: %d %s", r.StatusCode, r.body)
		}
		r = e.do(nil, "PUT", "/api/v1/devices/"+mac+"/autop", map[string]any{"regular": []string{"Config.A.B.C = 1"}, "extra": 1}, bearer(tok))
		if r.StatusCode != 400 || r.errorField(t, "extra") == "" {
			t.Errorf("unknown field: %d %s", r.StatusCode, r.body)
		}

		// Saved normalised: duplicates are not retained.
		r = e.do(nil, "PUT", "/api/v1/devices/"+strings.ToLower(mac)+"/autop", map[string]any{
			"regular": []string{"Config.DoorSetting.RELAY.HoldDelayA=5", "", "Config.DoorSetting.RELAY.HoldDelayA = 5", "Config.Settings.WEB.Title = Lobby"},
			"once":    []string{"Config.Settings.LOGLEVEL.Level = 7", "Config.Settings.LOGLEVEL.Level = 7"}}, bearer(tok))
		if r.StatusCode != 200 {
			t.Fatalf("PUT: %d %s", r.StatusCode, r.body)
		}
		var saved apLists
		json.Unmarshal(r.body, &saved)
		want := apLists{MAC: mac, Regular: []string{"Config.DoorSetting.RELAY.HoldDelayA = 5", "Config.Settings.WEB.Title = Lobby"},
			Once: []string{"Config.Settings.LOGLEVEL.Level = 7"}}
		if saved.MAC != want.MAC || !slices.Equal(saved.Regular, want.Regular) || !slices.Equal(saved.Once, want.Once) {
			t.Errorf("PUT answer: %+v", saved)
		}
		if l := e.apGet(t, tok, mac); !slices.Equal(l.Regular, want.Regular) || !slices.Equal(l.Once, want.Once) {
			t.Errorf("GET: %+v", l)
		}
		// A list left out is kept.
		r = e.do(nil, "PUT", "/api/v1/devices/"+mac+"/autop", map[string]any{"once": []string{}}, bearer(tok))
		if l := e.apGet(t, tok, mac); r.StatusCode != 200 || !slices.Equal(l.Regular, want.Regular) || len(l.Once) != 0 {
			t.Errorf("clear once: %d %+v", r.StatusCode, l)
		}
		// The device was told to fetch: an autop command is queued.
		r = e.do(nil, "GET", "/api/v1/devices/"+mac+"/commands", nil, bearer(tok))
		if r.StatusCode == 200 && !strings.Contains(string(r.body), `"autop"`) {
			t.Errorf("no autop command queued: %s", r.body)
		}

		// The preview: the exact file, with its ETag; 304 when unchanged.
		r = e.do(nil, "GET", "/api/v1/devices/"+mac+"/autop/preview", nil, bearer(tok))
		etag := r.Header.Get("ETag")
		v := r.Header.Get("X-Gatehouse-Config-Version")
		if r.StatusCode != 200 || !strings.HasPrefix(r.Header.Get("Content-Type"), "text/plain") || etag != `"`+v+`"` || len(v) != 16 ||
			!strings.HasPrefix(string(r.body), "# Gatehouse AutoP "+mac+" version "+v+"\n") ||
			!strings.HasSuffix(string(r.body), "Config.DoorSetting.RELAY.HoldDelayA = 5\nConfig.Settings.WEB.Title = Lobby\n") {
			t.Errorf("preview: %d %v\n%s", r.StatusCode, r.Header, r.body)
		}
		if r := e.do(nil, "GET", "/api/v1/devices/"+mac+"/autop/preview", nil, bearer(tok), "If-None-Match: "+etag); r.StatusCode != 304 {
			t.Errorf("preview with its ETag: %d", r.StatusCode)
		}

		// Another sub-distributor's device is not found, and unchanged.
		for _, c := range []struct{ method, path string }{{"GET", "/autop"}, {"PUT", "/autop"}, {"GET", "/autop/preview"}} {
			r := e.do(nil, c.method, "/api/v1/devices/"+foreign+c.path, map[string]any{"regular": []string{"Config.A.B.C = 1"}}, bearer(tok))
			if r.StatusCode != 404 {
				t.Errorf("%s foreign %s: %d %s", c.method, c.path, r.StatusCode, r.body)
			}
		}
		if l := e.apGet(t, e.token(foreignSub), foreign); !slices.Equal(l.Regular, foreignBefore.Regular) || !slices.Equal(l.Once, foreignBefore.Once) {
			t.Errorf("a foreign PUT changed the device: %+v, was %+v", l, foreignBefore)
		}
		// The installer works on its own devices through the same API.
		instMAC := e.devMAC(t, "a.username = 'demo-installer' AND d.mac <> '"+mac+"'")
		r = e.do(nil, "PUT", "/api/v1/devices/"+instMAC+"/autop", map[string]any{"regular": []string{"Config.A.B.C = 1"}}, bearer(e.token("demo-installer")))
		if r.StatusCode != 200 {
			t.Errorf("installer PUT: %d %s", r.StatusCode, r.body)
		}
		// Audited.
		al, _ := e.st.ListAudit(sysCtx(), model.AuditFilter{Action: "autop.update", ObjectID: mac, Page: model.Page{Page: 1, PerPage: 10}})
		if al.Total != 2 || al.Items[0].Actor != "demo-subdistributor" {
			t.Errorf("audit: %d %+v", al.Total, al.Items)
		}
	})
}

func TestAutoPBatchAPI(t *testing.T) {
	eachBackend(t, func(t *testing.T, e *env) {
		e.clearDemoAutoP(t)
		tok := e.token("demo-subdistributor")
		like := e.devMAC(t, apCond("demo-subdistributor", "community"))
		macs := apDevices(t, e, like, 501)
		office := e.devMAC(t, apCond("demo-subdistributor", "office"))
		foreign, foreignSub := e.apForeign(t, "community")
		cmds := []string{"Config.DoorSetting.RELAY.HoldDelayA = 9", "Config.DoorSetting.RELAY.HoldDelayA = 9"}
		body := func(list []string) map[string]any {
			return map[string]any{"scope": "community", "type": "regular", "commands": cmds, "macs": list}
		}
		untouched := func(what string) {
			t.Helper()
			for _, m := range []string{macs[0], macs[499]} {
				if l := e.apGet(t, tok, m); len(l.Regular) != 0 {
					t.Errorf("%s changed %s: %+v", what, m, l)
				}
			}
			var n int
			e.st.DB().QueryRow(`SELECT count(*) FROM autop_batches`).Scan(&n)
			if n != 0 {
				t.Errorf("%s stored a batch", what)
			}
		}

		// 501: refused whole, saying the limit.
		r := e.do(nil, "POST", "/api/v1/autop/batch", body(macs), bearer(tok))
		if r.StatusCode != 400 || !strings.Contains(r.errorField(t, "macs"), "at most 500") {
			t.Errorf("501 devices: %d %s", r.StatusCode, r.body)
		}
		untouched("501 devices")
		// A MAC outside the caller's subtree: 404 naming it.
		r = e.do(nil, "POST", "/api/v1/autop/batch", body(append(slices.Clone(macs[:499]), foreign)), bearer(tok))
		if r.StatusCode != 404 || !strings.Contains(string(r.body), foreign) {
			t.Errorf("foreign MAC: %d %s", r.StatusCode, r.body)
		}
		untouched("a foreign MAC")
		// A device of another list: 400 naming it.
		r = e.do(nil, "POST", "/api/v1/autop/batch", body(append(slices.Clone(macs[:499]), office)), bearer(tok))
		if r.StatusCode != 400 || !strings.Contains(r.errorField(t, "macs"), office) {
			t.Errorf("office device: %d %s", r.StatusCode, r.body)
		}
		untouched("an office device")
		r = e.do(nil, "POST", "/api/v1/autop/batch", map[string]any{"scope": "community", "type": "regular",
			"commands": []string{"Config.A.B.C = 1", "Config.A.B = 1"}, "macs": macs[:2]}, bearer(tok))
		if r.StatusCode != 400 || !strings.HasPrefix(r.errorField(t, "commands"), "line 2: ") {
			t.Errorf("bad command: %d %s", r.StatusCode, r.body)
		}
		untouched("a bad command")

		// 500 (MACs in any notation): one transaction, 201 with the batch.
		list := slices.Clone(macs[:500])
		list[0] = colons(list[0])
		start := time.Now()
		r = e.do(nil, "POST", "/api/v1/autop/batch", body(list), bearer(tok))
		if r.StatusCode != 201 {
			t.Fatalf("500 devices: %d %s", r.StatusCode, r.body)
		}
		t.Logf("batch of 500 over HTTP: %s", time.Since(start))
		var b model.AutoPBatch
		json.Unmarshal(r.body, &b)
		if b.ID == 0 || b.Devices != 500 || b.Queued != 500 || b.Type != "regular" || !slices.Equal(b.Commands, cmds[:1]) ||
			r.Header.Get("Location") != fmt.Sprintf("/api/v1/autop/batch/%d", b.ID) {
			t.Errorf("batch: %s", r.body)
		}
		for _, m := range []string{macs[0], macs[499]} {
			if l := e.apGet(t, tok, m); !slices.Equal(l.Regular, cmds[:1]) {
				t.Errorf("%s: %+v", m, l)
			}
		}
		if l := e.apGet(t, tok, macs[500]); len(l.Regular) != 0 {
			t.Errorf("a device outside the batch: %+v", l)
		}
		// Progress: the devices are offline, each command waits for its device.
		r = e.do(nil, "GET", fmt.Sprintf("/api/v1/autop/batch/%d", b.ID), nil, bearer(tok))
		var p model.AutoPBatch
		json.Unmarshal(r.body, &p)
		if r.StatusCode != 200 || p.Devices != 500 || len(p.Items) != 500 || p.Queued+p.Sent != 500 || p.Items[0].Status == "" {
			t.Errorf("progress: %d queued %d sent %d, %d items", r.StatusCode, p.Queued, p.Sent, len(p.Items))
		}
		// Read by the sender's subtree only.
		if r := e.do(nil, "GET", fmt.Sprintf("/api/v1/autop/batch/%d", b.ID), nil, bearer(e.token(foreignSub))); r.StatusCode != 404 {
			t.Errorf("another sub-distributor reads the batch: %d", r.StatusCode)
		}
		if r := e.do(nil, "GET", fmt.Sprintf("/api/v1/autop/batch/%d", b.ID), nil, bearer(e.token("demo-distributor"))); r.StatusCode != 200 {
			t.Errorf("its distributor reads the batch: %d", r.StatusCode)
		}
		if r := e.do(nil, "GET", "/api/v1/autop/batch/x", nil, bearer(tok)); r.StatusCode != 404 {
			t.Errorf("batch x: %d", r.StatusCode)
		}
		al, _ := e.st.ListAudit(sysCtx(), model.AuditFilter{Action: "autop.batch", Page: model.Page{Page: 1, PerPage: 10}})
		if al.Total != 1 || al.Items[0].Actor != "demo-subdistributor" {
			t.Errorf("audit: %+v", al.Items)
		}
	})
}

// devKey is a device key of the protocol's form.
func devKey(seed string) string {
	sum := sha256.Sum256([]byte(seed))
	return hex.EncodeToString(sum[:])
}

func (e *env) fetchCfg(t *testing.T, path, user, key string, headers ...string) *resp {
	t.Helper()
	req, _ := http.NewRequest("GET", e.url+path, nil)
	if user != "" || key != "" {
		req.SetBasicAuth(user, key)
	}
	for _, h := range headers {
		k, v, _ := strings.Cut(h, ": ")
		req.Header.Set(k, v)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return &resp{Response: res, body: b}
}

func TestAutoPServer(t *testing.T) {
	eachBackend(t, func(t *testing.T, e *env) {
		e.clearDemoAutoP(t)
		tok := e.token("demo-subdistributor")
		mac := e.devMAC(t, apCond("demo-subdistributor", "community")+" AND d.key_hash = ''")
		key := devKey(mac)
		path := "/autop/" + mac + ".cfg"

		// Missing or wrong credentials: 401 with a challenge; unregistered: 404.
		for name, r := range map[string]*resp{
			"no credentials":   e.fetchCfg(t, path, "", ""),
			"another MAC":      e.fetchCfg(t, path, "0C1105FFFFFE", key),
			"a malformed key":  e.fetchCfg(t, path, mac, "short"),
			"a malformed user": e.fetchCfg(t, path, "nobody", key),
		} {
			if r.StatusCode != 401 || !strings.HasPrefix(r.Header.Get("WWW-Authenticate"), "Basic ") {
				t.Errorf("%s: %d %v", name, r.StatusCode, r.Header)
			}
		}
		// An unregistered MAC, and a key the gateway has not accepted: the
		// one refusal (TestEnrollAnswersAreIdentical).
		if r := e.fetchCfg(t, "/autop/0C1105FFFFFE.cfg", "0C1105FFFFFE", key); r.StatusCode != 403 {
			t.Errorf("unregistered MAC: %d", r.StatusCode)
		}
		if r := e.fetchCfg(t, path, mac, key); r.StatusCode != 403 {
			t.Errorf("a key not accepted: %d", r.StatusCode)
		}
		for _, p := range []string{"/autop/" + mac, "/autop/" + mac + ".txt", "/autop/zz.cfg"} {
			if r := e.fetchCfg(t, p, mac, key); r.StatusCode != 404 {
				t.Errorf("%s: %d", p, r.StatusCode)
			}
		}

		// With its key accepted: 200, the preview's exact bytes, versioned.
		enrollKey(t, e, mac, key)
		r := e.do(nil, "PUT", "/api/v1/devices/"+mac+"/autop", map[string]any{"regular": []string{"Config.DoorSetting.RELAY.HoldDelayA = 4"},
			"once": []string{"Config.Settings.LOGLEVEL.Level = 7"}}, bearer(tok))
		if r.StatusCode != 200 {
			t.Fatal(r.StatusCode, string(r.body))
		}
		pre := e.do(nil, "GET", "/api/v1/devices/"+mac+"/autop/preview", nil, bearer(tok))
		lowerDashed := strings.ToLower(strings.ReplaceAll(colons(mac), ":", "-"))
		got := e.fetchCfg(t, "/autop/"+lowerDashed+".cfg", lowerDashed, key)
		v := got.Header.Get("X-Gatehouse-Config-Version")
		if got.StatusCode != 200 || string(got.body) != string(pre.body) || got.Header.Get("ETag") != `"`+v+`"` ||
			!strings.HasPrefix(got.Header.Get("Content-Type"), "text/plain") || !strings.Contains(string(got.body), "Config.Settings.LOGLEVEL.Level = 7\n") {
			t.Fatalf("fetch: %d %v\n%s", got.StatusCode, got.Header, got.body)
		}
		// Another key is refused.
		if r := e.fetchCfg(t, path, mac, devKey("other"+mac)); r.StatusCode != 403 {
			t.Errorf("another key after binding: %d", r.StatusCode)
		}
		// 304 with the current version.
		if r := e.fetchCfg(t, path, mac, key, `If-None-Match: "`+v+`"`); r.StatusCode != 304 || len(r.body) != 0 {
			t.Errorf("If-None-Match: %d %q", r.StatusCode, r.body)
		}
		if r := e.fetchCfg(t, path, mac, key, `If-None-Match: "0000000000000000"`); r.StatusCode != 200 {
			t.Errorf("If-None-Match another version: %d", r.StatusCode)
		}
		// The fetch is recorded (shortly, in the background).
		waitFor(t, "autop_fetched_at", func() bool {
			sv, err := e.st.AutoPServe(sysCtx(), mac)
			return err == nil && sv.Fetched != nil
		})
		// No audit entry per fetch.
		al, _ := e.st.ListAudit(sysCtx(), model.AuditFilter{ObjectID: mac, Page: model.Page{Page: 1, PerPage: 50}})
		for _, it := range al.Items {
			if strings.Contains(it.Action, "fetch") {
				t.Errorf("a fetch was audited: %+v", it)
			}
		}

		// The device acknowledges the version: the one-time commands are gone.
		if err := e.st.AutoPApplied(sysCtx(), mac, v); err != nil {
			t.Fatal(err)
		}
		after := e.fetchCfg(t, path, mac, key, `If-None-Match: "`+v+`"`)
		v2 := after.Header.Get("X-Gatehouse-Config-Version")
		if after.StatusCode != 200 || v2 == v || strings.Contains(string(after.body), "LOGLEVEL") || !strings.Contains(string(after.body), "HoldDelayA = 4") {
			t.Errorf("after the ack: %d %s\n%s", after.StatusCode, v2, after.body)
		}
		if l := e.apGet(t, tok, mac); len(l.Once) != 0 || len(l.Regular) != 1 {
			t.Errorf("lists after the ack: %+v", l)
		}

		// A reset voids pending one-time commands (the gateway records the
		// reset's acknowledgement).
		r = e.do(nil, "PUT", "/api/v1/devices/"+mac+"/autop", map[string]any{"once": []string{"Config.Settings.LOGLEVEL.Level = 5"}}, bearer(tok))
		if r.StatusCode != 200 {
			t.Fatal(r.StatusCode)
		}
		c, err := e.st.CreateCommand(mustCtx(t, e, "demo-subdistributor"), mac, model.CommandReset, model.ResetConfig)
		if err != nil {
			t.Fatal(err)
		}
		dev, _ := e.st.AuthenticateDevice(sysCtx(), model.DeviceAttempt{MAC: mac, Key: key, RemoteAddr: "test"})
		if err := e.st.MarkCommandsSent(sysCtx(), c.ID); err != nil {
			t.Fatal(err)
		}
		if _, done, err := e.st.AckCommand(sysCtx(), dev.ID, c.ID, true, "", ""); err != nil || !done {
			t.Fatalf("reset ack: %v %v", done, err)
		}
		if l := e.apGet(t, tok, mac); len(l.Once) != 0 || len(l.Regular) != 1 {
			t.Errorf("lists after a reset: %+v", l)
		}
	})
}

func mustCtx(t *testing.T, e *env, username string) context.Context {
	t.Helper()
	return model.WithActor(sysCtx(), mustActor(t, e, username))
}

func waitFor(t *testing.T, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

var batchLinkRE = regexp.MustCompile(`/autop/batches/(\d+)`)

func TestAutoPPages(t *testing.T) {
	eachBackend(t, func(t *testing.T, e *env) {
		e.clearDemoAutoP(t)
		b := e.browserLogin("demo-subdistributor")
		tok := e.token("demo-subdistributor")
		mac := e.devMAC(t, apCond("demo-subdistributor", "community"))

		// The device page's panel: both lists, the note, the preview.
		page := e.do(b.c, "GET", "/devices/"+mac, nil)
		for _, want := range []string{`id="device-autop"`, "Regular AutoP", "One-Time AutoP", "Duplicate commands will not be retained",
			"Preview of the file the device receives", "# Gatehouse AutoP " + mac} {
			if !strings.Contains(string(page.body), want) {
				t.Errorf("device page lacks %q", want)
			}
		}
		if p := e.do(b.c, "GET", "/devices/"+mac+"?back="+url.QueryEscape("https://evil.example/"), nil); strings.Contains(string(p.body), "evil.example") {
			t.Error("the AutoP forms carry a way back to another site")
		}
		// A bad line: the page again, 400, the line number at the field and
		// the text as typed.
		typed := "Config.DoorSetting.RELAY.HoldDelayA = 5\nConfig.Oops = 1"
		r := e.form(b.c, "/devices/"+mac+"/autop", url.Values{"csrf_token": {b.csrf}, "regular": {typed}})
		if r.StatusCode != 400 || !strings.Contains(string(r.body), `id="autop-regular-error">line 2: `) ||
			!strings.Contains(string(r.body), "Config.Oops = 1</textarea>") {
			t.Errorf("bad line: %d %s", r.StatusCode, grep(string(r.body), "autop-regular"))
		}
		// Submit: saved, back to the device page with a notice.
		r = e.form(b.c, "/devices/"+mac+"/autop", url.Values{"csrf_token": {b.csrf}, "regular": {"Config.DoorSetting.RELAY.HoldDelayA = 5\r\nConfig.DoorSetting.RELAY.HoldDelayA = 5\r\n"}})
		if r.StatusCode != 303 || !strings.HasPrefix(r.Header.Get("Location"), "/devices/"+mac+"?") {
			t.Fatalf("save regular: %d %v", r.StatusCode, r.Header.Get("Location"))
		}
		r = e.form(b.c, "/devices/"+mac+"/autop", url.Values{"csrf_token": {b.csrf}, "once": {"Config.Settings.LOGLEVEL.Level = 7"}})
		if r.StatusCode != 303 {
			t.Fatalf("save once: %d %s", r.StatusCode, r.body)
		}
		if l := e.apGet(t, tok, mac); !slices.Equal(l.Regular, []string{"Config.DoorSetting.RELAY.HoldDelayA = 5"}) ||
			!slices.Equal(l.Once, []string{"Config.Settings.LOGLEVEL.Level = 7"}) {
			t.Errorf("saved from the page: %+v", l)
		}
		page = e.do(b.c, "GET", "/devices/"+mac, nil)
		if !strings.Contains(string(page.body), "Config.Settings.LOGLEVEL.Level = 7\n</pre>") {
			t.Errorf("preview after saving: %s", grep(string(page.body), "autop-preview-text"))
		}
		// Without the CSRF token: refused.
		if r := e.form(b.c, "/devices/"+mac+"/autop", url.Values{"regular": {""}}); r.StatusCode != 403 {
			t.Errorf("no CSRF: %d", r.StatusCode)
		}

		// Batch AutoP: the list's AutoP button carries its ticked devices.
		list := e.do(b.c, "GET", "/project-devices?kind=community", nil)
		if !strings.Contains(string(list.body), `formaction="/autop?scope=community"`) {
			t.Errorf("no AutoP button on the community list")
		}
		macs := apDevices(t, e, mac, 60)
		r = e.form(b.c, "/autop?scope=community", url.Values{"csrf_token": {b.csrf}, "mac": {macs[0], macs[1]}, "back": {"/project-devices"}})
		if r.StatusCode != 200 || !strings.Contains(string(r.body), "2 selected (max 500)") {
			t.Errorf("from the list: %d %s", r.StatusCode, grep(string(r.body), "selected-count"))
		}
		// A search keeps the selection (carried as hidden fields) and the
		// commands typed.
		r = e.form(b.c, "/autop?scope=community", url.Values{"csrf_token": {b.csrf}, "op": {"search"}, "mac": {"FFFFFFFFFFFF"},
			"sel": {macs[0], macs[1]}, "commands": {"Config.A.B.C = 1"}, "type": {"once"}})
		body := string(r.body)
		if r.StatusCode != 200 || !strings.Contains(body, "No devices match") || strings.Count(body, `class="ap-carried"`) != 2 ||
			!strings.Contains(body, "Config.A.B.C = 1</textarea>") || !strings.Contains(body, `value="once" id="type-once" checked`) {
			t.Errorf("search keeps the selection: %d %s", r.StatusCode, grep(body, "ap-carried"))
		}
		// Select all on this page (without script): the page's devices join.
		r = e.form(b.c, "/autop?scope=community", url.Values{"csrf_token": {b.csrf}, "op": {"select-page"}, "sel": {macs[0]}})
		if n := strings.Count(string(r.body), `" checked aria-label="Select`); r.StatusCode != 200 || n != 50 {
			t.Errorf("select all on this page: %d, %d ticked", r.StatusCode, n)
		}
		// Submit with a bad command: the page again with the error.
		r = e.form(b.c, "/autop?scope=community", url.Values{"csrf_token": {b.csrf}, "op": {"submit"}, "type": {"regular"},
			"commands": {"Config.A.B.C = 1\nnope"}, "sel": {macs[0], macs[1]}})
		if r.StatusCode != 400 || !strings.Contains(string(r.body), `id="commands-error">line 2: `) {
			t.Errorf("bad batch: %d %s", r.StatusCode, grep(string(r.body), "commands-error"))
		}
		// Submit: the batch's page.
		r = e.form(b.c, "/autop?scope=community", url.Values{"csrf_token": {b.csrf}, "op": {"submit"}, "type": {"once"},
			"commands": {"Config.A.B.C = 1"}, "sel": {macs[0], macs[1], macs[2]}})
		m := batchLinkRE.FindStringSubmatch(r.Header.Get("Location"))
		if r.StatusCode != 303 || m == nil {
			t.Fatalf("submit: %d %v %s", r.StatusCode, r.Header, r.body)
		}
		if l := e.apGet(t, tok, macs[2]); !slices.Equal(l.Once, []string{"Config.A.B.C = 1"}) {
			t.Errorf("batch from the page: %+v", l)
		}
		r = e.do(b.c, "GET", "/autop/batches/"+m[1], nil)
		if r.StatusCode != 200 || !strings.Contains(string(r.body), macs[2]) || !strings.Contains(string(r.body), "Waiting for device") ||
			!strings.Contains(string(r.body), "One-Time AutoP") {
			t.Errorf("batch page: %d", r.StatusCode)
		}
		// Another sub-distributor does not see it; the office and personal
		// pages exist.
		other := e.browserLogin("subdistributor-1-2")
		if r := e.do(other.c, "GET", "/autop/batches/"+m[1], nil); r.StatusCode != 404 {
			t.Errorf("foreign batch page: %d", r.StatusCode)
		}
		for _, p := range []string{"/autop?scope=office", "/autop?scope=personal", "/autop"} {
			if r := e.do(b.c, "GET", p, nil); r.StatusCode != 200 || !strings.Contains(string(r.body), `id="autop-batch-form"`) {
				t.Errorf("%s: %d", p, r.StatusCode)
			}
		}
		if r := e.do(b.c, "GET", "/autop?scope=villa", nil); r.StatusCode != 400 {
			t.Errorf("scope villa: %d", r.StatusCode)
		}
	})
}

// TestAutoPDemo: the demo loader gives devices AutoP commands that follow
// the rules.
func TestAutoPDemo(t *testing.T) {
	for _, backend := range testutil.Backends(t) {
		t.Run(backend, func(t *testing.T) {
			e := newEnv(t, backend)
			if err := demo.LoadAutoP(sysCtx(), e.st, io.Discard); err != nil {
				t.Fatal(err)
			}
			var n, once int
			e.st.DB().QueryRow(`SELECT count(*), sum(CASE WHEN once <> '' THEN 1 ELSE 0 END) FROM device_autop`).Scan(&n, &once)
			if n < 5 || once < 1 {
				t.Errorf("demo AutoP: %d devices, %d with one-time commands", n, once)
			}
			f, err := e.st.AutoPPreview(sysCtx(), "0C1105000001")
			if err != nil || !strings.Contains(string(f.Body), "Config.") || !strings.Contains(string(f.Body), "Config.Settings.LOGLEVEL.Level") {
				t.Errorf("device 1: %v\n%s", err, f.Body)
			}
		})
	}
}

// BenchmarkAutoPServe measures the AutoP server's handler on a device with
// its key bound: auth, inputs, render, write (SQLite).
func BenchmarkAutoPServe(b *testing.B) {
	st := testutil.NewStore(b, "sqlite")
	if _, err := demo.Load(sysCtx(), st, demo.Options{Password: demoPassword, Users: 300, Devices: 2000, Seed: 7}, io.Discard); err != nil {
		b.Fatal(err)
	}
	if err := demo.LoadAutoP(sysCtx(), st, io.Discard); err != nil {
		b.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	srv, err := server.New(server.Config{}, st, &auth.Service{Store: st, Config: auth.DefaultConfig, Log: log}, nil, log)
	if err != nil {
		b.Fatal(err)
	}
	h := srv.Handler()
	var reqs []*http.Request
	for i := 1; i <= 1000; i += 10 {
		mac := fmt.Sprintf("0C1105%06X", i)
		key := devKey(mac)
		enrollKeys(b, st, map[string]string{mac: key})
		req := httptest.NewRequest("GET", "/autop/"+mac+".cfg", nil)
		req.SetBasicAuth(mac, key)
		reqs = append(reqs, req)
	}
	b.ReportAllocs()
	b.SetParallelism(16) // many devices at once, as over the network
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			w := httptest.NewRecorder()
			h.ServeHTTP(w, reqs[i%len(reqs)])
			if w.Code != 200 {
				b.Fatalf("status %d: %s", w.Code, w.Body)
			}
			i++
		}
	})
}
