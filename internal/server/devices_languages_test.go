package server_test

import (
	"context"
	"fmt"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/gatehouse-dev/gatehouse/internal/devicesim"
)

// TestDevicePagesInLanguages: the device, AutoP, camera and enrollment
// pages of a sub-distributor who picked another language are written in it
// (their words, notices and confirmations), with no formatting slip, and the
// data the scripts read carries the words too.
func TestDevicePagesInLanguages(t *testing.T) {
	eachBackend(t, func(t *testing.T, e *env) {
		f := newCamFixture(t, e)
		b := e.browserLogin("demo-subdistributor")
		mac := e.devMAC(t, demoSubCond)
		office := e.devMAC(t, `a.subdistributor_id = (SELECT id FROM accounts WHERE username = 'demo-subdistributor') AND p.kind = 'office'`)
		personal := e.devMAC(t, `a.subdistributor_id = (SELECT id FROM accounts WHERE username = 'demo-subdistributor') AND p.kind = 'personal'`)
		// A batch to show, sent in English.
		r := e.form(b.c, "/autop?scope=community", url.Values{"csrf_token": {b.csrf}, "op": {"submit"}, "type": {"regular"},
			"commands": {"Config.Settings.SNTP.NTPServer1 = pool.ntp.org"}, "sel": {mac}})
		batch := r.Header.Get("Location")
		if r.StatusCode != 303 || !strings.HasPrefix(batch, "/autop/batches/") {
			t.Fatalf("batch: %d %s", r.StatusCode, batch)
		}
		batch, _, _ = strings.Cut(batch, "?")
		pages := []string{"/project-devices?kind=community", "/project-devices?kind=office", "/personal-devices",
			"/devices/" + mac, "/devices/" + office, "/devices/" + personal, "/devices/" + mac + "/delete",
			"/autop?scope=community", "/autop?scope=personal", batch,
			"/third-party-devices", "/third-party-devices?scope=personal", fmt.Sprintf("/third-party-devices/%d", f.porch),
			fmt.Sprintf("/third-party-devices/%d/delete", f.lobby), "/pending-devices", "/failed-commands?kind=command"}
		slip := regexp.MustCompile(`%!|%\[|%[0-9.]*[dsvf]\b`)
		for _, c := range []struct {
			lang  string
			words []string // words of the device page
		}{
			{"de", []string{"Fernwartung", "Gerätename", "Neustart", `data-msg-online="Online"`, "Verfügbarkeit"}},
			{"fr", []string{"Maintenance à distance", "Nom de l&#39;appareil", "Redémarrage", `data-msg-online="En ligne"`}},
			{"es", []string{"Mantenimiento remoto", "Nombre del dispositivo", "Reinicio", `data-msg-online="En línea"`}},
			{"ru", []string{"Удалённое обслуживание", "Имя устройства", "Перезагрузка", `data-msg-online="В сети"`}},
			{"zh-CN", []string{"远程维护", "设备名称", "重启", `data-msg-online="在线"`}},
		} {
			if r := e.form(b.c, "/account/language", url.Values{"csrf_token": {b.csrf}, "lang": {c.lang}, "next": {"/"}}); r.StatusCode != 303 {
				t.Fatalf("%s: language: %d %s", c.lang, r.StatusCode, r.body)
			}
			for _, p := range pages {
				r := e.do(b.c, "GET", p, nil)
				body := string(r.body)
				if r.StatusCode != 200 || !strings.Contains(body, `<html lang="`+c.lang+`"`) {
					t.Errorf("%s %s: %d", c.lang, p, r.StatusCode)
					continue
				}
				if m := slip.FindString(body); m != "" {
					i := strings.Index(body, m)
					t.Errorf("%s %s: a formatting slip %q: %s", c.lang, p, m, body[max(0, i-120):min(len(body), i+80)])
				}
			}
			page := string(e.do(b.c, "GET", "/devices/"+mac, nil).body)
			for _, w := range c.words {
				if !strings.Contains(page, w) {
					t.Errorf("%s: the device page lacks %q", c.lang, w)
				}
			}
			for _, en := range []string{">Remote maintenance<", ">Device Name<", "No commands yet.", ">Availability<"} {
				if strings.Contains(page, en) {
					t.Errorf("%s: the device page still says %q", c.lang, en)
				}
			}
			// A notice built by a handler: the command label and the sentence.
			r := e.form(b.c, "/devices/"+mac+"/reboot", url.Values{"csrf_token": {b.csrf}})
			loc, _ := url.Parse(r.Header.Get("Location"))
			if notice := loc.Query().Get("notice"); r.StatusCode != 303 || notice == "" || strings.Contains(notice, "queued as command") {
				t.Errorf("%s: reboot notice %d %q", c.lang, r.StatusCode, notice)
			}
		}
	})
}

// TestBrowserRemoteMaintenanceInGerman: the maintenance panel's script
// writes what it refreshes in the reader's words, time zone and date format:
// a reboot asked for while the page is open appears as "Neustart", its
// status in German, its time as datetime writes it in Berlin.
func TestBrowserRemoteMaintenanceInGerman(t *testing.T) {
	execPath := requireChromium(t)
	e := newGatewayEnv(t, "sqlite", nil, nil, gwOptions)
	if _, err := e.st.DB().Exec(`UPDATE accounts SET language = 'de', time_zone = 'Europe/Berlin' WHERE username = 'demo-subdistributor'`); err != nil {
		t.Fatal(err)
	}
	subID := e.accountID(t, "demo-subdistributor")
	mac := e.devMAC(t, fmt.Sprintf("a.subdistributor_id = %d AND p.kind = 'office' AND NOT d.online", subID))
	startSimConfig(t, e, devicesim.Config{MACs: []string{mac}, RebootDelay: time.Second})

	c := newChrome(t, execPath, e.url, 1280, 900, 60*time.Second)
	c.login("demo-subdistributor")
	if st := c.open("/devices/" + mac); st != 200 {
		t.Fatalf("device page: %d", st)
	}
	if got := c.text("#device-status"); got != "Online" {
		t.Fatalf("status %q, want Online", got)
	}
	// Asked through the API: only the script can show it on this page.
	if r := e.do(nil, "POST", "/api/v1/devices/"+mac+"/reboot", nil, bearer(e.token("demo-subdistributor"))); r.StatusCode != 202 {
		t.Fatalf("reboot: %d %s", r.StatusCode, r.body)
	}
	row := c.waitText("#device-commands tbody tr:first-child", "Neustart", 15*time.Second)
	berlin, _ := time.LoadLocation("Europe/Berlin")
	day := time.Now().In(berlin).Format("02.01.2006")
	if !regexp.MustCompile(regexp.QuoteMeta(day) + `, \d\d:\d\d:\d\d`).MatchString(row) {
		t.Errorf("the command's time is not written as in German, in Berlin (%s): %q", day, row)
	}
	if !regexp.MustCompile(`eingereiht|gesendet|erledigt`).MatchString(row) || regexp.MustCompile(`\b(queued|sent|done)\b`).MatchString(row) {
		t.Errorf("the command's status is not in German: %q", row)
	}
	if seen := c.text("#device-last-seen"); !strings.HasSuffix(seen, " Europe/Berlin") || !strings.HasPrefix(seen, day) {
		t.Errorf("last seen %q, want %s…, Europe/Berlin", seen, day)
	}
}

// TestBrowserBatchAutoPInFrench: the Batch AutoP page counts the selection
// in the reader's words as boxes are ticked, and a batch's page, following
// the devices by itself, names their steps and the end in them too.
func TestBrowserBatchAutoPInFrench(t *testing.T) {
	execPath := requireChromium(t)
	e := newEnv(t, "sqlite")
	if _, err := e.st.DB().Exec(`UPDATE accounts SET language = 'fr' WHERE username = 'demo-subdistributor'`); err != nil {
		t.Fatal(err)
	}
	var mac string
	if err := e.st.DB().QueryRow(`SELECT d.mac FROM devices d WHERE ` + apCond("demo-subdistributor", "community") + ` ORDER BY d.id LIMIT 1`).Scan(&mac); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	fleet, err := devicesim.Start(ctx, devicesim.Config{Server: e.url, MACs: []string{mac}, StateDir: t.TempDir(),
		Keys: enrolledKeys(t, e.st, []string{mac}), ClaimCodes: claimCodes(t, e.st, []string{mac})})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { fleet.Close() })
	if err := fleet.Device(mac).WaitOnline(ctx); err != nil {
		t.Fatalf("simulated %s does not come online: %v", mac, err)
	}

	c := newChrome(t, execPath, e.url, 1400, 1000, 60*time.Second)
	c.login("demo-subdistributor")
	if st := c.open("/autop?scope=community"); st != 200 {
		t.Fatalf("/autop: %d", st)
	}
	if got := c.text("#selected-count"); got != "0 sélectionné(s) (max. 500)" {
		t.Errorf("count before ticking %q", got)
	}
	c.do("tick "+mac, chromedp.Click(chromedp.CSS(fmt.Sprintf(`#autop-devices tr[data-mac="%s"] input[name=sel]`, mac))))
	if got := c.text("#selected-count"); got != "1 sélectionné(s) (max. 500)" {
		t.Errorf("after ticking the count says %q", got)
	}
	c.do("type the commands", chromedp.SendKeys(chromedp.ID("autop-commands"), "Config.Settings.WEB.Title = Lot"))
	if st := c.clickAndLoad("#submit-autop"); st != 200 {
		t.Fatalf("submit: %d (%s)", st, c.text("p.error"))
	}
	if n := c.text(".notice"); !strings.HasPrefix(n, "AutoP envoyé à 1 appareil :") {
		t.Errorf("notice %q", n)
	}
	c.waitText("#ap-state", "Terminé", 30*time.Second)
	if got := c.text("#autop-items td.ap-state"); got != "Appliquée" {
		t.Errorf("the device's step %q", got)
	}
	if got := c.text("#autop-items td.ap-fetched"); got != "Oui" {
		t.Errorf("fetched %q", got)
	}
}
