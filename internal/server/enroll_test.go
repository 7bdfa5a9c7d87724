package server_test

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/demo"
	"github.com/gatehouse-dev/gatehouse/internal/deviceauth"
	"github.com/gatehouse-dev/gatehouse/internal/devicesim"
	"github.com/gatehouse-dev/gatehouse/internal/model"
	"github.com/gatehouse-dev/gatehouse/internal/store"
)

// macWhere returns one MAC of a device matching cond (d: devices, a: its
// installer), marked offline.
func macWhere(t *testing.T, e *env, cond string) string {
	t.Helper()
	var mac string
	if err := e.st.DB().QueryRow(`SELECT d.mac FROM devices d JOIN accounts a ON a.id = d.installer_id WHERE ` + cond +
		` AND d.key_hash = '' ORDER BY d.id LIMIT 1`).Scan(&mac); err != nil {
		t.Fatalf("no device where %s: %v", cond, err)
	}
	e.st.DB().Exec(`UPDATE devices SET online = false, node = '' WHERE mac = '` + mac + `'`)
	return mac
}

func pendingKeys(t *testing.T, e *env, tok, mac string) []any {
	t.Helper()
	r := e.do(nil, "GET", "/api/v1/pending-keys?mac="+url.QueryEscape(mac), nil, bearer(tok))
	if r.StatusCode != 200 {
		t.Fatalf("pending keys: %d %s", r.StatusCode, r.body)
	}
	return r.json(t)["items"].([]any)
}

// TestEnrollmentAPI: a device's key waits, shown to its installer and
// sub-distributor only, with what the device reported; accepted, the device
// connects; a window accepts the next key; other subtrees get 404.
func TestEnrollmentAPI(t *testing.T) {
	e := newGatewayEnv(t, "sqlite", nil, nil, gwOptions)
	inst, sub := e.token(demo.InstallerUser), e.token(demo.SubdistributorUser)
	mac := macWhere(t, e, fmt.Sprintf("a.username = '%s'", demo.InstallerUser))
	other := macWhere(t, e, fmt.Sprintf("a.subdistributor_id <> (SELECT id FROM accounts WHERE username = '%s')", demo.SubdistributorUser))
	otherSub := e.token(accountOf(t, e, other))

	key := strangerKey("real")
	if st, _ := upgradeAttempt(t, e, mac, key, "X-Gatehouse-Model", "R29C", "X-Gatehouse-Firmware", "29.30.1.12"); st != deviceauth.RefusedStatus {
		t.Fatalf("a new key: %d", st)
	}
	items := pendingKeys(t, e, inst, mac)
	if len(items) != 1 {
		t.Fatalf("pending for the installer: %v", items)
	}
	k := items[0].(map[string]any)
	if k["mac"] != mac || k["model"] != "R29C" || k["firmware"] != "29.30.1.12" || k["fingerprint"] != store.Fingerprint(store.DeviceKeyHash(key)) ||
		!strings.HasPrefix(fmt.Sprint(k["remote_addr"]), "127.0.0.1:") || k["first_attempt_at"] == nil || k["last_attempt_at"] == nil {
		t.Errorf("pending key: %v", k)
	}
	if len(pendingKeys(t, e, sub, mac)) != 1 || len(pendingKeys(t, e, otherSub, mac)) != 0 {
		t.Errorf("the pending key is not scoped to the device's subtree")
	}
	id := fmt.Sprint(k["id"])
	// Another subtree cannot decide it, nor see the device's enrollment.
	for _, p := range []string{"/api/v1/pending-keys/" + id + "/accept", "/api/v1/pending-keys/" + id + "/reject"} {
		if r := e.do(nil, "POST", p, nil, bearer(otherSub)); r.StatusCode != 404 {
			t.Errorf("%s by another sub-distributor: %d", p, r.StatusCode)
		}
	}
	if r := e.do(nil, "GET", "/api/v1/devices/"+mac+"/enrollment", nil, bearer(otherSub)); r.StatusCode != 404 {
		t.Errorf("enrollment by another sub-distributor: %d", r.StatusCode)
	}
	if r := e.do(nil, "POST", "/api/v1/enrollment-windows", map[string]any{"mac": mac}, bearer(otherSub)); r.StatusCode != 404 {
		t.Errorf("a window by another sub-distributor: %d", r.StatusCode)
	}
	for _, body := range []map[string]any{{}, {"mac": mac, "project_id": 1}, {"mac": mac, "minutes": 61}, {"mac": mac, "minutes": -1}} {
		if r := e.do(nil, "POST", "/api/v1/enrollment-windows", body, bearer(inst)); r.StatusCode != 400 || r.errorField(t, "mac")+r.errorField(t, "minutes") == "" {
			t.Errorf("window %v: %d %s", body, r.StatusCode, r.body)
		}
	}
	if r := e.do(nil, "POST", "/api/v1/pending-keys/x/accept", nil, bearer(inst)); r.StatusCode != 404 && r.StatusCode != 400 {
		t.Errorf("a malformed id: %d", r.StatusCode)
	}
	// Accepted by its installer: the device connects.
	if r := e.do(nil, "POST", "/api/v1/pending-keys/"+id+"/accept", nil, bearer(inst)); r.StatusCode != 200 || r.json(t)["status"] != "accepted" {
		t.Fatalf("accept: %d %s", r.StatusCode, r.body)
	}
	if st, _ := upgradeAttempt(t, e, mac, key); st != http.StatusSwitchingProtocols {
		t.Errorf("the accepted key: %d", st)
	}
	en := e.do(nil, "GET", "/api/v1/devices/"+mac+"/enrollment", nil, bearer(sub)).json(t)
	if en["accepted"] != true || en["fingerprint"] != k["fingerprint"] {
		t.Errorf("enrollment: %v", en)
	}
	// A window the installer opens at the device accepts its next key.
	r := e.do(nil, "POST", "/api/v1/enrollment-windows", map[string]any{"mac": mac, "minutes": 5}, bearer(inst))
	if r.StatusCode != 201 || r.json(t)["mac"] != mac {
		t.Fatalf("open window: %d %s", r.StatusCode, r.body)
	}
	if l := e.do(nil, "GET", "/api/v1/enrollment-windows", nil, bearer(sub)).json(t); l["total"] != float64(1) {
		t.Errorf("open windows for the sub-distributor: %v", l)
	}
	next := strangerKey("after-reset")
	if st, _ := upgradeAttempt(t, e, mac, next); st != http.StatusSwitchingProtocols {
		t.Errorf("the next key in the window: %d", st)
	}
	if st, _ := upgradeAttempt(t, e, mac, key); st != deviceauth.RefusedStatus {
		t.Errorf("the replaced key: %d", st)
	}
	// The decisions are in the installer's audit log.
	al, _ := e.st.ListAudit(accountCtx(t, e.st, demo.InstallerUser), model.AuditFilter{ObjectID: mac, Page: model.Page{Page: 1, PerPage: 50}})
	var actions []string
	for _, it := range al.Items {
		actions = append(actions, it.Action)
	}
	if s := strings.Join(actions, " "); !strings.Contains(s, "device.key_accepted") || !strings.Contains(s, "device.enroll_window_opened") {
		t.Errorf("installer's audit: %s", s)
	}
}

func accountOf(t *testing.T, e *env, mac string) string {
	t.Helper()
	var name string
	if err := e.st.DB().QueryRow(`SELECT s.username FROM devices d JOIN accounts s ON s.id = d.subdistributor_id WHERE d.mac = '` + mac + `'`).Scan(&name); err != nil {
		t.Fatal(err)
	}
	return name
}

// TestEnrollmentClaimCodeAndReset: a simulated device presenting its MAC's
// claim code is enrolled at once; a factory reset from the cloud clears the
// binding and the claim code enrolls its new key; without a claim code the
// new key waits, and the device comes online once it is accepted.
func TestEnrollmentClaimCodeAndReset(t *testing.T) {
	e := newGatewayEnv(t, "sqlite", nil, nil, gwOptions)
	ictx := accountCtx(t, e.st, demo.InstallerUser)
	a, _, err := e.st.AccountForLogin(context.Background(), demo.InstallerUser)
	if err != nil {
		t.Fatal(err)
	}
	var pid int64
	if err := e.st.DB().QueryRow(fmt.Sprintf(`SELECT project_id FROM devices WHERE installer_id = %d ORDER BY id LIMIT 1`, a.ID)).Scan(&pid); err != nil {
		t.Fatal(err)
	}
	claimed, plain := "0C1107000001", "0C1107000002"
	res, err := e.st.ImportMACs(ictx, a.ID, []model.MACRow{{Row: 1, MAC: claimed, Claim: "ABCD-EFGH-JKLM-NPQR"}, {Row: 2, MAC: plain}})
	if err != nil || res.Imported != 2 {
		t.Fatalf("import: %+v %v", res, err)
	}
	for _, m := range []string{claimed, plain} {
		if err := e.st.CreateDevice(ictx, &model.Device{MAC: m, ProjectID: pid, Type: model.DoorPhone}); err != nil {
			t.Fatal(err)
		}
	}
	f, err := devicesim.Start(context.Background(), devicesim.Config{Server: e.url, MACs: []string{claimed, plain},
		ClaimCodes: map[string]string{claimed: "abcd efgh jklm npqr"}, Backoff: 50 * time.Millisecond, BackoffMax: 500 * time.Millisecond,
		RebootDelay: 50 * time.Millisecond, RefusedRetry: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	wait := func(mac string) {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := f.Device(mac).WaitOnline(ctx); err != nil {
			t.Fatalf("%s never online: %v", mac, err)
		}
	}
	wait(claimed)
	time.Sleep(500 * time.Millisecond)
	if f.Device(plain).Online() {
		t.Fatalf("a device without claim code or accepted key is online")
	}
	l, err := e.st.ListPendingKeys(ictx, model.PendingKeyFilter{MAC: plain, Page: model.Page{Page: 1, PerPage: 5}})
	if err != nil || len(l.Items) != 1 || l.Items[0].Model != "R29C" || l.Items[0].Attempts < 2 {
		t.Fatalf("pending: %+v %v", l.Items, err)
	}
	if _, err := e.st.AcceptDeviceKey(ictx, l.Items[0].ID); err != nil {
		t.Fatal(err)
	}
	wait(plain)

	// A factory reset from the cloud: the claim code enrolls the new key at
	// once; the other device's new key waits.
	for _, m := range []string{claimed, plain} {
		old := f.Device(m).Key()
		if _, err := e.st.CreateCommand(ictx, m, model.CommandReset, model.ResetFactory); err != nil {
			t.Fatal(err)
		}
		e.srv.Gateway().Kick(ictx, m)
		eventually(t, 10*time.Second, m+" made a new key", func() bool { return f.Device(m).Key() != old })
	}
	wait(claimed)
	eventually(t, 10*time.Second, "the new key pending", func() bool {
		l, _ := e.st.ListPendingKeys(ictx, model.PendingKeyFilter{MAC: plain, Page: model.Page{Page: 1, PerPage: 5}})
		return len(l.Items) == 1 && l.Items[0].Fingerprint == store.Fingerprint(store.DeviceKeyHash(f.Device(plain).Key()))
	})
	if f.Device(plain).Online() {
		t.Errorf("after a factory reset, the new key connected without being accepted")
	}
}

// TestEnrollmentLimits: refused attempts are limited per MAC and per source
// address, alike for unknown and registered MACs, audited boundedly; the
// accepted key is never limited.
func TestEnrollmentLimits(t *testing.T) {
	lim := deviceauth.NewLimiter(deviceauth.Limits{MACBurst: 3, MACEvery: time.Hour, SourceBurst: 8, SourceEvery: time.Hour})
	opts := gwOptions
	opts.Limiter = lim
	e := newGatewayEnv(t, "sqlite", nil, nil, opts)
	macs := subMACs(t, e.st, 2)
	enrollKey(t, e, macs[0], strangerKey("real"))
	for _, mac := range []string{macs[0], "0C1105FEFEFE"} {
		for i := 0; i < 3; i++ {
			if st, _ := upgradeAttempt(t, e, mac, strangerKey(fmt.Sprint(i))); st != deviceauth.RefusedStatus {
				t.Errorf("%s attempt %d: %d", mac, i, st)
			}
		}
		if st, body := upgradeAttempt(t, e, mac, strangerKey("4")); st != http.StatusTooManyRequests || body != deviceauth.TooManyBody {
			t.Errorf("%s over the limit: %d %q", mac, st, body)
		}
		if st, _ := autopAttempt(t, e, mac, strangerKey("5")); st != http.StatusTooManyRequests {
			t.Errorf("%s over the limit on the AutoP server: %d", mac, st)
		}
	}
	// The real device still connects, and fetches its file.
	if st, _ := upgradeAttempt(t, e, macs[0], strangerKey("real")); st != http.StatusSwitchingProtocols {
		t.Errorf("the accepted key of a limited MAC: %d", st)
	}
	if st, _ := autopAttempt(t, e, macs[0], strangerKey("real")); st != http.StatusOK {
		t.Errorf("the accepted key's AutoP fetch: %d", st)
	}
	// The source's budget (8) is spent: another MAC is limited too.
	for i := 0; i < 3; i++ {
		upgradeAttempt(t, e, macs[1], strangerKey("s"+fmt.Sprint(i)))
	}
	if st, _ := upgradeAttempt(t, e, macs[1], strangerKey("s9")); st != http.StatusTooManyRequests {
		t.Errorf("a source over its budget: %d", st)
	}
	l, _ := e.st.ListAudit(sysCtx(), model.AuditFilter{Action: "device.auth_limited", Page: model.Page{Page: 1, PerPage: 50}})
	if l.Total == 0 || l.Total > 4 {
		t.Errorf("auth_limited audited %d times", l.Total)
	}
}

// TestPendingDevicesPage: the portal's Pending devices page lists the
// installer's waiting keys, is in its navigation, and a decision on
// another subtree's key answers 404 and changes nothing.
func TestPendingDevicesPage(t *testing.T) {
	e := newGatewayEnv(t, "sqlite", nil, nil, gwOptions)
	mac := macWhere(t, e, fmt.Sprintf("a.username = '%s'", demo.InstallerUser))
	other := macWhere(t, e, fmt.Sprintf("a.subdistributor_id <> (SELECT id FROM accounts WHERE username = '%s')", demo.SubdistributorUser))
	upgradeAttempt(t, e, mac, strangerKey("page"), "X-Gatehouse-Model", "PAGE-MODEL")
	upgradeAttempt(t, e, other, strangerKey("foreign"))
	b := e.browserLogin(demo.InstallerUser)
	r := e.do(b.c, "GET", "/pending-devices", nil)
	page := string(r.body)
	if r.StatusCode != 200 || !strings.Contains(page, `href="/pending-devices"`) || !strings.Contains(page, mac) ||
		!strings.Contains(page, "PAGE-MODEL") || strings.Contains(page, other) {
		t.Fatalf("pending devices page: %d\n%s", r.StatusCode, page)
	}
	l, _ := e.st.ListPendingKeys(sysCtx(), model.PendingKeyFilter{MAC: other, Page: model.Page{Page: 1, PerPage: 5}})
	if len(l.Items) != 1 {
		t.Fatalf("foreign pending key: %+v", l.Items)
	}
	foreign := fmt.Sprint(l.Items[0].ID)
	if r := e.form(b.c, "/pending-devices/"+foreign+"/accept", url.Values{"csrf_token": {b.csrf}}); r.StatusCode != 404 {
		t.Errorf("accept another subtree's key: %d", r.StatusCode)
	}
	if h, _ := keyHash(t, e.st, other); h != "" {
		t.Errorf("a foreign accept bound a key")
	}
	// The device's page has the panel; a window opened there shows its expiry.
	if r := e.form(b.c, "/enrollment-windows", url.Values{"csrf_token": {b.csrf}, "mac": {mac}, "minutes": {"5"},
		"back": {"/installer/devices/" + mac}}); r.StatusCode != http.StatusSeeOther || !strings.HasPrefix(r.Header.Get("Location"), "/installer/devices/"+mac) {
		t.Fatalf("open a window: %d %v", r.StatusCode, r.Header)
	}
	dev := string(e.do(b.c, "GET", "/installer/devices/"+mac, nil).body)
	if !strings.Contains(dev, `id="enrollment"`) || !strings.Contains(dev, `id="device-window"`) || !strings.Contains(dev, "Close the window") {
		t.Errorf("device page's enrollment panel:\n%s", dev)
	}
	if r := e.form(b.c, "/enrollment-windows", url.Values{"csrf_token": {b.csrf}, "mac": {mac}, "minutes": {"500"}}); r.StatusCode != 400 {
		t.Errorf("a window of 500 minutes: %d", r.StatusCode)
	}
}
