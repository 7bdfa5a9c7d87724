package server_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/auth"
	"github.com/gatehouse-dev/gatehouse/internal/demo"
	"github.com/gatehouse-dev/gatehouse/internal/gateway"
	"github.com/gatehouse-dev/gatehouse/internal/mail"
	"github.com/gatehouse-dev/gatehouse/internal/mail/mailtest"
	"github.com/gatehouse-dev/gatehouse/internal/model"
	"github.com/gatehouse-dev/gatehouse/internal/server"
	"github.com/gatehouse-dev/gatehouse/internal/store"
	"github.com/gatehouse-dev/gatehouse/internal/testutil"
	"github.com/gatehouse-dev/gatehouse/internal/usecase"
	hooks "github.com/gatehouse-dev/gatehouse/internal/webhook"
)

// receiver is an in-process HTTPS receiver of webhooks: every path is an
// endpoint; a path's answers can be scripted.
type receiver struct {
	srv    *httptest.Server
	client *http.Client // the deliveries' client, trusting srv
	mu     sync.Mutex
	got    map[string][]hookReq
	script map[string][]int // statuses to answer, in turn (then 200)
}

type hookReq struct {
	body []byte
	sig  string
}

func newReceiver(t testing.TB) *receiver {
	rc := &receiver{got: map[string][]hookReq{}, script: map[string][]int{}}
	rc.srv = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		rc.mu.Lock()
		rc.got[r.URL.Path] = append(rc.got[r.URL.Path], hookReq{b, r.Header.Get(hooks.SignatureHeader)})
		status := 200
		if s := rc.script[r.URL.Path]; len(s) > 0 {
			status, rc.script[r.URL.Path] = s[0], s[1:]
		}
		rc.mu.Unlock()
		w.WriteHeader(status)
		fmt.Fprintf(w, "status %d from %s", status, r.URL.Path)
	}))
	t.Cleanup(rc.srv.Close)
	pool := rc.srv.Client().Transport.(*http.Transport).TLSClientConfig.RootCAs
	rc.client = hooks.NewClient(hooks.Options{AllowPrivate: true, RootCAs: pool, Timeout: 5 * time.Second})
	return rc
}

func (rc *receiver) requests(path string) []hookReq {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]hookReq(nil), rc.got[path]...)
}

func (rc *receiver) answer(path string, statuses ...int) {
	rc.mu.Lock()
	rc.script[path] = statuses
	rc.mu.Unlock()
}

// newHookEnv is newEnv whose server delivers webhooks to rc (private
// addresses allowed: the receiver is on loopback), on a clock the test
// moves.
func newHookEnv(t *testing.T, backend string, rc *receiver) (*env, *atomic.Int64) {
	t.Helper()
	st := testutil.NewStore(t, backend)
	if _, err := demo.Load(context.Background(), st, demo.Options{Password: demoPassword, Users: 50, Devices: 40, Seed: 7}, io.Discard); err != nil {
		t.Fatal(err)
	}
	var shift atomic.Int64
	st.SetClock(func() time.Time { return time.Now().UTC().Add(time.Duration(shift.Load())).Truncate(time.Microsecond) })
	var logBuf strings.Builder
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	au := &auth.Service{Store: st, Config: auth.DefaultConfig, Log: log}
	smtpd := mailtest.Start(t)
	mailer, err := mail.NewSMTP(smtpd.Config())
	if err != nil {
		t.Fatal(err)
	}
	srv, err := server.New(server.Config{Gateway: gateway.Options{Node: "node-1"},
		Webhooks: usecase.WebhookOptions{AllowPrivate: true, Client: rc.client, Concurrency: 8}}, st, au, mailer, log)
	if err != nil {
		t.Fatal(err)
	}
	_ = logBuf
	ts, front := serveNode(t, srv)
	return &env{t: t, st: st, auth: au, srv: srv, ts: ts, front: front, url: ts.URL, mail: mailer, smtpd: smtpd}, &shift
}

// deviceOf returns a MAC of the installer's devices.
func deviceOf(t *testing.T, st *store.Store, installer string) string {
	t.Helper()
	var mac string
	q := `SELECT d.mac FROM devices d JOIN accounts a ON a.id = d.installer_id WHERE a.username = '` + installer + `' ORDER BY d.id LIMIT 1`
	if err := st.DB().QueryRow(q).Scan(&mac); err != nil {
		t.Fatalf("a device of %s: %v", installer, err)
	}
	return mac
}

func (e *env) createHook(tok, url string, events ...string) (id int64, secret string) {
	e.t.Helper()
	r := e.do(nil, "POST", "/api/v1/webhooks", map[string]any{"url": url, "events": events}, bearer(tok))
	if r.StatusCode != http.StatusCreated {
		e.t.Fatalf("create endpoint %s: %d %s", url, r.StatusCode, r.body)
	}
	m := r.json(e.t)
	return int64(m["id"].(float64)), m["secret"].(string)
}

func step(t *testing.T, d *usecase.WebhookDispatcher) int {
	t.Helper()
	n, err := d.Step(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return n
}

type eventBody struct {
	ID      string         `json:"id"`
	Type    string         `json:"type"`
	Created time.Time      `json:"created"`
	Data    map[string]any `json:"data"`
}

// TestWebhooksDeliverSignedEventsOfTheTree: a device of demo-installer
// going online reaches its sub-distributor's endpoint, signed with the
// endpoint's secret, and never distributor-2's (another tree); a flaky
// endpoint is retried with growing waits until it answers 2xx; an endpoint
// down for a day is turned off and its account mailed; a delivery is
// redelivered with the same event id.
func TestWebhooksDeliverSignedEventsOfTheTree(t *testing.T) {
	for _, b := range testutil.Backends(t) {
		t.Run(b, func(t *testing.T) {
			t.Parallel()
			rc := newReceiver(t)
			e, shift := newHookEnv(t, b, rc)
			sub, other, inst := e.token("demo-subdistributor"), e.token("distributor-2"), e.token("demo-installer")
			_, secret := e.createHook(sub, rc.srv.URL+"/sub", "device.*")
			e.createHook(other, rc.srv.URL+"/other", "*")
			flaky, _ := e.createHook(inst, rc.srv.URL+"/flaky", "device.offline")
			d := e.srv.WebhookDispatcher()

			mac := deviceOf(t, e.st, "demo-installer")
			at := time.Now().UTC()
			if err := e.st.DeviceConnected(context.Background(), mac, "node-1", at, model.DeviceHello{IP: "198.51.100.7", Firmware: "1.2.3"}); err != nil {
				t.Fatal(err)
			}
			rc.answer("/flaky", 500, 502)
			if err := e.st.DeviceDisconnected(context.Background(), mac, "node-1", at, at.Add(time.Second)); err != nil {
				t.Fatal(err)
			}
			if n := step(t, d); n != 3 {
				t.Fatalf("first pass attempted %d deliveries, want 3 (sub: online, offline; flaky: offline)", n)
			}
			got := rc.requests("/sub")
			if len(got) != 2 {
				t.Fatalf("/sub got %d requests", len(got))
			}
			for _, g := range got {
				if err := hooks.Verify(secret, g.sig, g.body, 5*time.Minute, time.Now()); err != nil {
					t.Errorf("signature: %v (%s)", err, g.sig)
				}
				if err := hooks.Verify(secret, g.sig, append(g.body[:len(g.body)-1:len(g.body)-1], ' ', '}'), 5*time.Minute, time.Now()); err == nil {
					t.Errorf("a changed body verifies")
				}
			}
			var ev eventBody
			if err := json.Unmarshal(got[0].body, &ev); err != nil || !strings.HasPrefix(ev.ID, "evt_") || ev.Data["mac"] != mac ||
				ev.Created.IsZero() || (ev.Type != "device.online" && ev.Type != "device.offline") {
				t.Errorf("body %s (%v)", got[0].body, err)
			}
			if n := len(rc.requests("/other")); n != 0 {
				t.Errorf("distributor-2's endpoint got %d events of another tree", n)
			}

			// Retries: 500, 502, then 200, each after its backoff.
			var waits []time.Duration
			for try := 2; try <= 3; try++ {
				l := e.do(nil, "GET", "/api/v1/webhooks/"+strconv.FormatInt(flaky, 10)+"/deliveries", nil, bearer(inst)).json(t)
				it := l["items"].([]any)[0].(map[string]any)
				if it["state"] != "pending" || it["next_attempt"] == nil {
					t.Fatalf("after a failure: %v", it)
				}
				next, _ := time.Parse(time.RFC3339Nano, it["next_attempt"].(string))
				last, _ := time.Parse(time.RFC3339Nano, it["last_attempt"].(string))
				waits = append(waits, next.Sub(last))
				if n := step(t, d); n != 0 {
					t.Fatalf("attempted %d before the backoff ended", n)
				}
				shift.Add(int64(next.Sub(last) + time.Second))
				if n := step(t, d); n != 1 {
					t.Fatalf("try %d: attempted %d", try, n)
				}
			}
			// The wait runs from the attempt's start; last_attempt is read
			// when it ended, up to a moment later: a second of slack below.
			if waits[0] < 14*time.Second || waits[0] > 30*time.Second || waits[1] < 29*time.Second || waits[1] > time.Minute {
				t.Errorf("backoff waits %v, want 15–30 s then 30–60 s", waits)
			}
			inst = e.token("demo-installer")
			l := e.do(nil, "GET", "/api/v1/webhooks/"+strconv.FormatInt(flaky, 10)+"/deliveries", nil, bearer(inst)).json(t)
			it := l["items"].([]any)[0].(map[string]any)
			if it["state"] != "succeeded" || it["attempts"].(float64) != 3 || it["http_status"].(float64) != 200 ||
				it["response_excerpt"] != "status 200 from /flaky" || len(rc.requests("/flaky")) != 3 {
				t.Fatalf("after the retries: %v", it)
			}
			// The same event each time.
			var ids []string
			for _, g := range rc.requests("/flaky") {
				var ev eventBody
				json.Unmarshal(g.body, &ev)
				ids = append(ids, ev.ID)
			}
			if ids[0] != ids[1] || ids[1] != ids[2] {
				t.Errorf("retries carry event ids %v", ids)
			}

			// Redeliver: once more, same event id.
			delivery := int64(it["id"].(float64))
			r := e.do(nil, "POST", "/api/v1/webhook-deliveries/"+strconv.FormatInt(delivery, 10)+"/redeliver", nil, bearer(inst))
			if r.StatusCode != http.StatusAccepted {
				t.Fatalf("redeliver: %d %s", r.StatusCode, r.body)
			}
			if n := step(t, d); n != 1 {
				t.Fatalf("redelivery attempted %d", n)
			}
			if rs := rc.requests("/flaky"); len(rs) != 4 || !strings.Contains(string(rs[3].body), ids[0]) {
				t.Errorf("redelivery: %d requests", len(rs))
			}

			// Down for a day: turned off, with a mail to the account.
			down, _ := e.createHook(sub, rc.srv.URL+"/down", "device.online")
			rc.answer("/down", 503, 503, 503, 503, 503, 503, 503, 503, 503, 503, 503, 503, 503, 503, 503, 503, 503, 503, 503, 503, 503, 503, 503, 503, 503, 503, 503, 503, 503, 503)
			at = at.Add(time.Minute)
			if err := e.st.DeviceConnected(context.Background(), mac, "node-1", at, model.DeviceHello{}); err != nil {
				t.Fatal(err)
			}
			for range 30 {
				step(t, d)
				shift.Add(int64(time.Hour + time.Minute))
				sub = e.token("demo-subdistributor")
				ep := e.do(nil, "GET", "/api/v1/webhooks/"+strconv.FormatInt(down, 10), nil, bearer(sub)).json(t)
				if ep["enabled"] == false {
					break
				}
			}
			ep := e.do(nil, "GET", "/api/v1/webhooks/"+strconv.FormatInt(down, 10), nil, bearer(sub)).json(t)
			if ep["enabled"] != false || !strings.Contains(ep["disabled_reason"].(string), "failed since") {
				t.Fatalf("after a day of failures: %v", ep)
			}
			if n := len(rc.requests("/down")); n < 20 || n > 30 {
				t.Errorf("%d attempts in the day", n)
			}
			msgs := e.smtpd.Wait(t, 1, 10*time.Second)
			if !strings.Contains(msgs[0].Subject, "demo-subdistributor") || !strings.Contains(msgs[0].Text, rc.srv.URL+"/down") ||
				len(msgs[0].To) != 1 || !strings.Contains(msgs[0].Text, "/webhooks") {
				t.Errorf("mail: %q to %v: %s", msgs[0].Subject, msgs[0].To, msgs[0].Text)
			}
			// The other endpoints go on.
			if ep := e.do(nil, "GET", "/api/v1/webhooks/"+strconv.FormatInt(flaky, 10), nil, bearer(e.token("demo-installer"))).json(t); ep["enabled"] != true {
				t.Errorf("another endpoint turned off: %v", ep)
			}
		})
	}
}

// TestTwoDispatchersDeliverEachEventOnce: two nodes' dispatchers working
// the same queue at once send every event once.
func TestTwoDispatchersDeliverEachEventOnce(t *testing.T) {
	for _, b := range testutil.Backends(t) {
		t.Run(b, func(t *testing.T) {
			t.Parallel()
			rc := newReceiver(t)
			e, _ := newHookEnv(t, b, rc)
			log := slog.New(slog.NewTextHandler(io.Discard, nil))
			srv2, err := server.New(server.Config{Gateway: gateway.Options{Node: "node-2"},
				Webhooks: usecase.WebhookOptions{AllowPrivate: true, Client: rc.client, Concurrency: 8}}, e.st, e.auth, e.mail, log)
			if err != nil {
				t.Fatal(err)
			}
			tok := e.token("demo-installer")
			for i := range 4 {
				e.createHook(tok, rc.srv.URL+"/ep"+strconv.Itoa(i), "device.online")
			}
			mac := deviceOf(t, e.st, "demo-installer")
			base := time.Now().UTC()
			for i := range 15 {
				if err := e.st.DeviceConnected(context.Background(), mac, "node-1", base.Add(time.Duration(i)*time.Second), model.DeviceHello{}); err != nil {
					t.Fatal(err)
				}
			}
			var wg sync.WaitGroup
			for _, d := range []*usecase.WebhookDispatcher{e.srv.WebhookDispatcher(), srv2.WebhookDispatcher()} {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for range 40 {
						if _, err := d.Step(context.Background()); err != nil {
							t.Error(err)
							return
						}
					}
				}()
			}
			wg.Wait()
			for i := range 4 {
				seen := map[string]int{}
				for _, g := range rc.requests("/ep" + strconv.Itoa(i)) {
					var ev eventBody
					json.Unmarshal(g.body, &ev)
					seen[ev.ID]++
				}
				if len(seen) != 15 {
					t.Errorf("/ep%d got %d distinct events, want 15", i, len(seen))
				}
				for id, n := range seen {
					if n != 1 {
						t.Errorf("/ep%d got %s %d times", i, id, n)
					}
				}
			}
		})
	}
}

// TestWebhooksAPIRefusesBadInputAndForeignIDs: bad input is 400 naming the
// field with nothing made; another account's endpoint or delivery is 404
// for every operation; an internal address is refused at registration
// and, when a name points there later, at the dial (nothing reaches it).
func TestWebhooksAPIRefusesBadInputAndForeignIDs(t *testing.T) {
	eachBackend(t, func(t *testing.T, e *env) {
		rc := newReceiver(t)
		tok := e.token("demo-installer")
		for _, c := range []struct {
			body  any
			field string
		}{
			{map[string]any{"url": "http://hooks.example.com/x", "events": []string{"device.online"}}, "url"},
			{map[string]any{"url": "https://127.0.0.1:8443/x", "events": []string{"device.online"}}, "url"},
			{map[string]any{"url": "https://10.0.0.5/x", "events": []string{"device.online"}}, "url"},
			{map[string]any{"url": "https://[::1]/x", "events": []string{"device.online"}}, "url"},
			{map[string]any{"url": "https://localhost/x", "events": []string{"device.online"}}, "url"},
			{map[string]any{"url": "https://169.254.169.254/x", "events": []string{"device.online"}}, "url"},
			{map[string]any{"url": "https://hooks.example.com/x", "events": []string{"door.opened"}}, "events"},
			{map[string]any{"url": "https://hooks.example.com/x", "events": []string{}}, "events"},
			{map[string]any{"url": "https://hooks.example.com/x", "events": []string{"*"}, "description": strings.Repeat("d", 300)}, "description"},
			{map[string]any{"url": 5, "events": []string{"*"}}, "url"},
		} {
			r := e.do(nil, "POST", "/api/v1/webhooks", c.body, bearer(tok))
			if r.StatusCode != http.StatusBadRequest || r.errorField(t, c.field) == "" {
				t.Errorf("%v: %d %s", c.body, r.StatusCode, r.body)
			}
		}
		if r := e.do(nil, "POST", "/api/v1/webhooks", `{"url":"https://hooks.example.com/x","events":["*"],"secret":"mine"}`, bearer(tok)); r.StatusCode != http.StatusBadRequest {
			t.Errorf("an unknown field: %d %s", r.StatusCode, r.body)
		}
		if l := e.do(nil, "GET", "/api/v1/webhooks", nil, bearer(tok)).json(t); len(l["items"].([]any)) != 0 {
			t.Fatalf("bad input made endpoints: %v", l)
		}
		id, _ := e.createHook(tok, "https://hooks.example.com/ok", "rollout.*", "command.done")
		if r := e.do(nil, "PATCH", fmt.Sprintf("/api/v1/webhooks/%d", id), map[string]any{"url": "https://192.168.1.1/x"}, bearer(tok)); r.StatusCode != 400 || r.errorField(t, "url") == "" {
			t.Errorf("patch to a private address: %d %s", r.StatusCode, r.body)
		}
		test := e.do(nil, "POST", fmt.Sprintf("/api/v1/webhooks/%d/test", id), nil, bearer(tok))
		if test.StatusCode != http.StatusAccepted {
			t.Fatalf("test: %d %s", test.StatusCode, test.body)
		}
		delivery := int64(test.json(t)["id"].(float64))
		for _, who := range []string{"demo-subdistributor", "demo-distributor", "demo-admin", "distributor-2", "installer-1-2-01"} {
			ot := e.token(who)
			for _, req := range []struct{ method, path string }{
				{"GET", fmt.Sprintf("/api/v1/webhooks/%d", id)},
				{"PATCH", fmt.Sprintf("/api/v1/webhooks/%d", id)},
				{"DELETE", fmt.Sprintf("/api/v1/webhooks/%d", id)},
				{"POST", fmt.Sprintf("/api/v1/webhooks/%d/rotate-secret", id)},
				{"POST", fmt.Sprintf("/api/v1/webhooks/%d/test", id)},
				{"GET", fmt.Sprintf("/api/v1/webhooks/%d/deliveries", id)},
				{"GET", fmt.Sprintf("/api/v1/webhook-deliveries/%d", delivery)},
				{"POST", fmt.Sprintf("/api/v1/webhook-deliveries/%d/redeliver", delivery)},
			} {
				var body any
				if req.method == "PATCH" {
					body = map[string]any{"enabled": false}
				}
				if r := e.do(nil, req.method, req.path, body, bearer(ot)); r.StatusCode != http.StatusNotFound {
					t.Errorf("%s %s %s: %d %s", who, req.method, req.path, r.StatusCode, r.body)
				}
			}
		}
		if g := e.do(nil, "GET", fmt.Sprintf("/api/v1/webhooks/%d", id), nil, bearer(tok)).json(t); g["enabled"] != true || g["url"] != "https://hooks.example.com/ok" {
			t.Errorf("changed by others: %v", g)
		}
		// DNS rebinding, as it looks to the dispatcher: the endpoint's
		// host now leads to loopback. The dial is refused; nothing reaches
		// the receiver.
		if _, err := e.st.DB().Exec(`UPDATE webhook_endpoints SET url = '` + rc.srv.URL + `/rebound'`); err != nil {
			t.Fatal(err)
		}
		if n, err := e.srv.WebhookDispatcher().Step(context.Background()); err != nil || n != 1 {
			t.Fatalf("step: %d %v", n, err)
		}
		d := e.do(nil, "GET", fmt.Sprintf("/api/v1/webhook-deliveries/%d", delivery), nil, bearer(tok)).json(t)
		if d["state"] != "failed" || !strings.Contains(d["error"].(string), "refused") || d["http_status"].(float64) != 0 {
			t.Errorf("delivery to loopback: %v", d)
		}
		if n := len(rc.requests("/rebound")); n != 0 {
			t.Errorf("the loopback receiver got %d requests", n)
		}
		// The bound: 20 endpoints.
		for i := 1; i < model.MaxWebhookEndpoints; i++ {
			e.createHook(tok, fmt.Sprintf("https://hooks.example.com/%d", i), "*")
		}
		if r := e.do(nil, "POST", "/api/v1/webhooks", map[string]any{"url": "https://hooks.example.com/21", "events": []string{"*"}}, bearer(tok)); r.StatusCode != http.StatusConflict {
			t.Errorf("a 21st endpoint: %d %s", r.StatusCode, r.body)
		}
	})
}

// TestWebhooksPortal: an installer adds an endpoint in the portal (its
// secret shown once), sends a test event, sees the delivery in the log
// with its status and latency, and redelivers it; a bad URL re-renders
// the form naming the field; another account's endpoint page is 404.
func TestWebhooksPortal(t *testing.T) {
	rc := newReceiver(t)
	e, _ := newHookEnv(t, "sqlite", rc)
	b := e.browserLogin("demo-installer")
	if acc := e.do(b.c, "GET", "/account", nil); !strings.Contains(string(acc.body), `href="/webhooks"`) {
		t.Fatalf("no Webhooks link on the account page")
	}
	if r := e.form(b.c, "/webhooks", url.Values{"csrf_token": {b.csrf}, "url": {"ftp://x"}, "events": {"device.online"}}); r.StatusCode != 400 ||
		!strings.Contains(string(r.body), "must start with https://") {
		t.Fatalf("bad URL: %d %s", r.StatusCode, r.body)
	}
	r := e.form(b.c, "/webhooks", url.Values{"csrf_token": {b.csrf}, "url": {rc.srv.URL + "/portal"}, "description": {"CRM"},
		"events": {"device.online", "order.completed"}})
	if r.StatusCode != 200 || !strings.Contains(string(r.body), `id="secret-value">whsec_`) {
		t.Fatalf("create: %d %s", r.StatusCode, r.body)
	}
	l := e.do(nil, "GET", "/api/v1/webhooks", nil, bearer(e.token("demo-installer"))).json(t)
	id := int64(l["items"].([]any)[0].(map[string]any)["id"].(float64))
	page := fmt.Sprintf("/webhooks/%d", id)
	if r := e.do(b.c, "GET", page, nil); r.StatusCode != 200 || strings.Contains(string(r.body), "whsec_") {
		t.Fatalf("endpoint page: %d, secret shown again: %v", r.StatusCode, strings.Contains(string(r.body), "whsec_"))
	}
	if r := e.form(b.c, page+"/test", url.Values{"csrf_token": {b.csrf}}); r.StatusCode != http.StatusSeeOther {
		t.Fatalf("test: %d %s", r.StatusCode, r.body)
	}
	if n := step(t, e.srv.WebhookDispatcher()); n != 1 {
		t.Fatalf("attempted %d", n)
	}
	p := string(e.do(b.c, "GET", page, nil).body)
	if !strings.Contains(p, `data-state="succeeded"`) || !strings.Contains(p, "webhook.test") || !strings.Contains(p, " ms") ||
		!strings.Contains(p, "status 200 from /portal") || !strings.Contains(p, "Redeliver") {
		t.Fatalf("log: %s", p)
	}
	dl := e.do(nil, "GET", fmt.Sprintf("/api/v1/webhooks/%d/deliveries", id), nil, bearer(e.token("demo-installer"))).json(t)
	did := int64(dl["items"].([]any)[0].(map[string]any)["id"].(float64))
	if r := e.form(b.c, fmt.Sprintf("/webhooks/deliveries/%d/redeliver", did), url.Values{"csrf_token": {b.csrf}}); r.StatusCode != http.StatusSeeOther {
		t.Fatalf("redeliver: %d %s", r.StatusCode, r.body)
	}
	step(t, e.srv.WebhookDispatcher())
	if n := len(rc.requests("/portal")); n != 2 {
		t.Errorf("receiver got %d requests, want 2", n)
	}
	// Turn it off in the form, then delete it.
	if r := e.form(b.c, page, url.Values{"csrf_token": {b.csrf}, "url": {rc.srv.URL + "/portal"}, "events": {"device.online"}}); r.StatusCode != http.StatusSeeOther {
		t.Fatalf("save: %d %s", r.StatusCode, r.body)
	}
	if p := string(e.do(b.c, "GET", page, nil).body); !strings.Contains(p, `id="webhook-state">Off.`) {
		t.Errorf("not off after saving unchecked")
	}
	other := e.browserLogin("demo-subdistributor")
	if r := e.do(other.c, "GET", page, nil); r.StatusCode != http.StatusNotFound {
		t.Errorf("another account's endpoint page: %d", r.StatusCode)
	}
	if r := e.form(b.c, page+"/delete", url.Values{"csrf_token": {b.csrf}}); r.StatusCode != http.StatusSeeOther {
		t.Fatalf("delete: %d", r.StatusCode)
	}
	if r := e.do(b.c, "GET", page, nil); r.StatusCode != http.StatusNotFound {
		t.Errorf("deleted endpoint page: %d", r.StatusCode)
	}
}
