package server_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/go-webauthn/webauthn/protocol/webauthncbor"

	"github.com/gatehouse-dev/gatehouse/internal/auth"
	"github.com/gatehouse-dev/gatehouse/internal/demo"
	"github.com/gatehouse-dev/gatehouse/internal/mail"
	"github.com/gatehouse-dev/gatehouse/internal/mail/mailtest"
	"github.com/gatehouse-dev/gatehouse/internal/server"
	"github.com/gatehouse-dev/gatehouse/internal/testutil"
)

// newEnvNamed is newEnv with a public URL that names a host,
// http://localhost:PORT, so that the node is a WebAuthn relying party
// (an IP address cannot be an RP ID). Everything reaches it at that URL.
func newEnvNamed(t testing.TB, backend string) *env {
	t.Helper()
	st := testutil.NewStore(t, backend)
	if _, err := demo.Load(context.Background(), st, demo.Options{Password: demoPassword, Users: 300, Devices: 200, Seed: 7}, io.Discard); err != nil {
		t.Fatal(err)
	}
	var logBuf bytes.Buffer
	log := slog.New(slog.NewTextHandler(&logBuf, nil))
	au := &auth.Service{Store: st, Config: auth.DefaultConfig, Log: log}
	smtpd := mailtest.Start(t)
	mailer, err := mail.NewSMTP(smtpd.Config())
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	public := fmt.Sprintf("http://localhost:%d", ln.Addr().(*net.TCPAddr).Port)
	srv, err := server.New(server.Config{PublicURL: public}, st, au, mailer, log)
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewUnstartedServer(srv.Handler())
	ts.Listener.Close()
	front := srv.FrontDoor(ln, nil)
	ts.Listener = front
	ts.Start()
	t.Cleanup(ts.Close)
	return &env{t: t, st: st, auth: au, srv: srv, ts: ts, front: front, url: public, log: &logBuf, mail: mailer, smtpd: smtpd}
}

// eachBackendNamed is eachBackend on newEnvNamed.
func eachBackendNamed(t *testing.T, fn func(t *testing.T, e *env)) {
	for _, b := range testutil.Backends(t) {
		t.Run(b, func(t *testing.T) {
			t.Parallel()
			fn(t, newEnvNamed(t, b))
		})
	}
}

// softKey is a software authenticator following WebAuthn Level 3: an ES256
// credential, attestation "none", user present and verified, a signature
// counter that moves forward at each assertion.
type softKey struct {
	t      testing.TB
	priv   *ecdsa.PrivateKey
	id     []byte
	count  uint32
	origin string // the origin the "browser" reports
}

func newSoftKey(t testing.TB, origin string) *softKey {
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	id := make([]byte, 32)
	rand.Read(id)
	return &softKey{t: t, priv: priv, id: id, origin: origin}
}

var b64u = base64.RawURLEncoding

// publicKey is the "publicKey" member of a creation or request options
// answer.
func publicKey(t testing.TB, r *resp) map[string]any {
	t.Helper()
	if r.StatusCode != 200 {
		t.Fatalf("options: %d %s", r.StatusCode, r.body)
	}
	pk, ok := r.json(t)["publicKey"].(map[string]any)
	if !ok {
		t.Fatalf("no publicKey in %s", r.body)
	}
	return pk
}

func (k *softKey) clientData(typ string, challenge any) []byte {
	b, _ := json.Marshal(map[string]any{"type": typ, "challenge": challenge, "origin": k.origin, "crossOrigin": false})
	return b
}

func (k *softKey) authData(rpID string, flags byte, attested []byte) []byte {
	h := sha256.Sum256([]byte(rpID))
	out := append(h[:], flags)
	out = binary.BigEndian.AppendUint32(out, k.count)
	return append(out, attested...)
}

// create answers navigator.credentials.create's options as the browser's
// PublicKeyCredential JSON.
func (k *softKey) create(opts map[string]any) map[string]any {
	k.t.Helper()
	rp := opts["rp"].(map[string]any)["id"].(string)
	x, y := k.priv.PublicKey.X.FillBytes(make([]byte, 32)), k.priv.PublicKey.Y.FillBytes(make([]byte, 32))
	cose, err := webauthncbor.Marshal(map[int]any{1: 2, 3: -7, -1: 1, -2: x, -3: y})
	if err != nil {
		k.t.Fatal(err)
	}
	att := make([]byte, 16) // AAGUID: none
	att = binary.BigEndian.AppendUint16(att, uint16(len(k.id)))
	att = append(append(att, k.id...), cose...)
	obj, err := webauthncbor.Marshal(map[string]any{"fmt": "none", "attStmt": map[string]any{}, "authData": k.authData(rp, 0x45, att)})
	if err != nil {
		k.t.Fatal(err)
	}
	return map[string]any{"id": b64u.EncodeToString(k.id), "rawId": b64u.EncodeToString(k.id), "type": "public-key",
		"clientExtensionResults": map[string]any{},
		"response": map[string]any{"clientDataJSON": b64u.EncodeToString(k.clientData("webauthn.create", opts["challenge"])),
			"attestationObject": b64u.EncodeToString(obj), "transports": []string{"usb"}}}
}

// get answers navigator.credentials.get's options; the counter moves on.
func (k *softKey) get(opts map[string]any) map[string]any {
	k.t.Helper()
	k.count++
	cd := k.clientData("webauthn.get", opts["challenge"])
	ad := k.authData(opts["rpId"].(string), 0x05, nil)
	h := sha256.Sum256(cd)
	digest := sha256.Sum256(append(append([]byte{}, ad...), h[:]...))
	sig, err := ecdsa.SignASN1(rand.Reader, k.priv, digest[:])
	if err != nil {
		k.t.Fatal(err)
	}
	return map[string]any{"id": b64u.EncodeToString(k.id), "rawId": b64u.EncodeToString(k.id), "type": "public-key",
		"clientExtensionResults": map[string]any{},
		"response": map[string]any{"clientDataJSON": b64u.EncodeToString(cd), "authenticatorData": b64u.EncodeToString(ad),
			"signature": b64u.EncodeToString(sig)}}
}

// registerKey registers k for the session tok through the API; it returns
// the answer.
func (e *env) registerKey(tok string, k *softKey, name string) *resp {
	e.t.Helper()
	opts := publicKey(e.t, e.do(nil, "POST", "/api/v1/me/passkeys/options", nil, bearer(tok)))
	return e.do(nil, "POST", "/api/v1/me/passkeys", map[string]any{"name": name, "credential": k.create(opts)}, bearer(tok))
}

// passwordStep logs username in with the password and returns the login
// challenge (two-factor sign-in is on).
func (e *env) passwordStep(username string) map[string]any {
	e.t.Helper()
	r := e.do(nil, "POST", "/api/v1/auth/login", map[string]string{"username": username, "password": demoPassword})
	j := r.json(e.t)
	if r.StatusCode != 200 || j["challenge"] == nil || j["token"] != nil {
		e.t.Fatalf("password step of %s: %d %s", username, r.StatusCode, r.body)
	}
	return j
}

func (e *env) loginOptions(ch string) *resp {
	return e.do(nil, "POST", "/api/v1/auth/login/passkey-options", map[string]string{"challenge": ch})
}

func (e *env) passkeyStep(ch string, assertion any) *resp {
	return e.do(nil, "POST", "/api/v1/auth/login/second-factor", map[string]any{"challenge": ch, "passkey": assertion})
}

// Passkeys through the API, end to end with a software authenticator: the
// registration's options name this node (RP ID localhost); an answer for
// another origin, for another challenge, or garbage is refused with the
// field named; the first passkey turns two-factor sign-in on with recovery
// codes; the login's second step takes an assertion, checks the counter and
// stores it; a replayed assertion, one for another challenge, another
// account's key and a cloned key's stale counter are refused and counted
// as wrong codes (five end the sign-in); listing, renaming, removing are
// the account's own (another's passkey is 404).
func TestPasskeysAPI(t *testing.T) {
	eachBackendNamed(t, func(t *testing.T, e *env) {
		inst := e.token("demo-installer")
		if r := e.do(nil, "GET", "/api/v1/me/passkeys", nil, bearer(inst)); r.StatusCode != 200 || len(r.json(t)["passkeys"].([]any)) != 0 {
			t.Fatalf("list: %d %s", r.StatusCode, r.body)
		}
		opts := publicKey(t, e.do(nil, "POST", "/api/v1/me/passkeys/options", nil, bearer(inst)))
		if rp := opts["rp"].(map[string]any); rp["id"] != "localhost" || rp["name"] != "Gatehouse" {
			t.Errorf("relying party: %v", rp)
		}
		if u := opts["user"].(map[string]any); u["name"] != "demo-installer" || u["id"] == "" {
			t.Errorf("user: %v", u)
		}
		key := newSoftKey(t, e.url)
		add := func(cred any) *resp {
			return e.do(nil, "POST", "/api/v1/me/passkeys", map[string]any{"name": "Laptop", "credential": cred}, bearer(inst))
		}
		if r := add("garbage"); r.StatusCode != 400 || r.errorField(t, "credential") == "" {
			t.Errorf("garbage: %d %s", r.StatusCode, r.body)
		}
		if r := add(nil); r.StatusCode != 400 || r.errorField(t, "credential") == "" {
			t.Errorf("no credential: %d %s", r.StatusCode, r.body)
		}
		phish := newSoftKey(t, "http://evil.example")
		if r := add(phish.create(opts)); r.StatusCode != 400 || r.errorField(t, "credential") == "" {
			t.Errorf("another origin: %d %s", r.StatusCode, r.body)
		}
		stale := map[string]any{"challenge": b64u.EncodeToString([]byte("another challenge, 32 bytes long")), "rp": opts["rp"]}
		if r := add(key.create(stale)); r.StatusCode != 400 || r.errorField(t, "credential") == "" {
			t.Errorf("another challenge: %d %s", r.StatusCode, r.body)
		}
		if r := e.do(nil, "GET", "/api/v1/me/two-factor", nil, bearer(inst)).json(t); r["enabled"] != false {
			t.Fatalf("two-factor on after refused registrations: %v", r)
		}
		r := add(key.create(opts))
		if r.StatusCode != 201 {
			t.Fatalf("register: %d %s", r.StatusCode, r.body)
		}
		j := r.json(t)
		codes, _ := j["recovery_codes"].([]any)
		pkID := j["passkey"].(map[string]any)["id"].(float64)
		if len(codes) != 10 || j["passkey"].(map[string]any)["name"] != "Laptop" {
			t.Errorf("registered: %s", r.body)
		}
		if st := e.do(nil, "GET", "/api/v1/me/two-factor", nil, bearer(inst)).json(t); st["enabled"] != true || st["totp"] != false || st["passkeys"] != float64(1) {
			t.Errorf("status: %v", st)
		}
		// The same key again: its options exclude it; registered anyway, a
		// conflict. A second key keeps the recovery codes.
		opts2 := publicKey(t, e.do(nil, "POST", "/api/v1/me/passkeys/options", nil, bearer(inst)))
		if ex, _ := opts2["excludeCredentials"].([]any); len(ex) != 1 || ex[0].(map[string]any)["id"] != b64u.EncodeToString(key.id) {
			t.Errorf("exclusions: %v", opts2["excludeCredentials"])
		}
		if r := e.do(nil, "POST", "/api/v1/me/passkeys", map[string]any{"credential": key.create(opts2)}, bearer(inst)); r.StatusCode != 409 {
			t.Errorf("the same key twice: %d %s", r.StatusCode, r.body)
		}
		key2 := newSoftKey(t, e.url)
		if r := e.registerKey(inst, key2, "YubiKey"); r.StatusCode != 201 || r.json(t)["recovery_codes"] != nil {
			t.Errorf("a second key: %d %s", r.StatusCode, r.body)
		}

		// The login: the password step says a passkey will do.
		lj := e.passwordStep("demo-installer")
		if m := fmt.Sprint(lj["methods"]); m != "[totp passkey]" {
			t.Errorf("methods: %s", m)
		}
		ch := lj["challenge"].(string)
		lo := publicKey(t, e.loginOptions(ch))
		if lo["rpId"] != "localhost" || len(lo["allowCredentials"].([]any)) != 2 {
			t.Errorf("request options: %v", lo)
		}
		good := key.get(lo)
		r = e.passkeyStep(ch, good)
		if r.StatusCode != 200 || r.json(t)["token"] == nil {
			t.Fatalf("passkey step: %d %s", r.StatusCode, r.body)
		}
		sess := r.json(t)["token"].(string)
		if r := e.do(nil, "GET", "/api/v1/me", nil, bearer(sess)); r.StatusCode != 200 {
			t.Errorf("the session: %d", r.StatusCode)
		}
		var count int64
		if err := e.st.DB().QueryRow(fmt.Sprintf(`SELECT sign_count FROM account_passkeys WHERE id = %d`, int64(pkID))).Scan(&count); err != nil || count != 1 {
			t.Errorf("the stored counter: %d %v", count, err)
		}
		if l := e.do(nil, "GET", "/api/v1/me/passkeys", nil, bearer(inst)).json(t)["passkeys"].([]any); l[0].(map[string]any)["last_used_at"] == nil {
			t.Errorf("last used not recorded: %v", l)
		}
		// Replayed: on its used challenge; on a new login (another challenge).
		if r := e.passkeyStep(ch, good); r.StatusCode != 401 {
			t.Errorf("the used challenge: %d %s", r.StatusCode, r.body)
		}
		ch = e.passwordStep("demo-installer")["challenge"].(string)
		lo = publicKey(t, e.loginOptions(ch))
		if r := e.passkeyStep(ch, good); r.StatusCode != 401 {
			t.Errorf("a replayed assertion: %d %s", r.StatusCode, r.body)
		}
		// A cloned key: a valid signature, a counter not past the stored one.
		clone := *key
		clone.count = 0
		if r := e.passkeyStep(ch, clone.get(lo)); r.StatusCode != 401 {
			t.Errorf("a stale counter: %d %s", r.StatusCode, r.body)
		}
		// Another account's key.
		sub := e.token("demo-subdistributor")
		theirs := newSoftKey(t, e.url)
		sr := e.registerKey(sub, theirs, "theirs")
		if sr.StatusCode != 201 {
			t.Fatalf("the sub-distributor's key: %d %s", sr.StatusCode, sr.body)
		}
		if r := e.passkeyStep(ch, theirs.get(lo)); r.StatusCode != 401 {
			t.Errorf("another account's key: %d %s", r.StatusCode, r.body)
		}
		// An assertion signed by another key under this key's id.
		forged := newSoftKey(t, e.url)
		forged.id, forged.count = key.id, 50
		if r := e.passkeyStep(ch, forged.get(lo)); r.StatusCode != 401 {
			t.Errorf("a forged signature: %d %s", r.StatusCode, r.body)
		}
		if r := e.passkeyStep(ch, map[string]any{"id": "x"}); r.StatusCode != 400 || r.errorField(t, "passkey") == "" {
			t.Errorf("a malformed assertion: %d %s", r.StatusCode, r.body)
		}
		// Four refusals counted; the fifth ends the sign-in, the right key too.
		if r := e.passkeyStep(ch, theirs.get(lo)); r.StatusCode != 401 {
			t.Errorf("fifth: %d", r.StatusCode)
		}
		if r := e.passkeyStep(ch, key.get(lo)); r.StatusCode != 401 {
			t.Errorf("after five refusals the sign-in goes on: %d %s", r.StatusCode, r.body)
		}
		// A recovery code still works (a code for the challenge).
		ch = e.passwordStep("demo-installer")["challenge"].(string)
		if r := e.do(nil, "POST", "/api/v1/auth/login/second-factor", map[string]any{"challenge": ch, "code": codes[0]}); r.StatusCode != 200 {
			t.Errorf("a recovery code: %d %s", r.StatusCode, r.body)
		}
		// Without options first: a wrong attempt, not a session.
		ch = e.passwordStep("demo-installer")["challenge"].(string)
		if r := e.passkeyStep(ch, key.get(lo)); r.StatusCode != 401 {
			t.Errorf("an assertion before the options: %d %s", r.StatusCode, r.body)
		}

		// Rename and remove: the account's own.
		theirID := sr.json(t)["passkey"].(map[string]any)["id"].(float64)
		mine := fmt.Sprintf("/api/v1/me/passkeys/%d", int64(pkID))
		if r := e.do(nil, "PATCH", mine, map[string]string{"name": "Work laptop"}, bearer(inst)); r.StatusCode != 200 || r.json(t)["name"] != "Work laptop" {
			t.Errorf("rename: %d %s", r.StatusCode, r.body)
		}
		if r := e.do(nil, "PATCH", mine, map[string]string{"name": strings.Repeat("x", 65)}, bearer(inst)); r.StatusCode != 400 || r.errorField(t, "name") == "" {
			t.Errorf("a long name: %d %s", r.StatusCode, r.body)
		}
		if r := e.do(nil, "PATCH", mine, map[string]any{}, bearer(inst)); r.StatusCode != 400 || r.errorField(t, "name") == "" {
			t.Errorf("no name: %d %s", r.StatusCode, r.body)
		}
		theirPath := fmt.Sprintf("/api/v1/me/passkeys/%d", int64(theirID))
		if r := e.do(nil, "PATCH", theirPath, map[string]string{"name": "mine"}, bearer(inst)); r.StatusCode != 404 {
			t.Errorf("renaming another account's passkey: %d", r.StatusCode)
		}
		if r := e.do(nil, "DELETE", theirPath, nil, bearer(inst)); r.StatusCode != 404 {
			t.Errorf("removing another account's passkey: %d", r.StatusCode)
		}
		if r := e.do(nil, "DELETE", mine, nil, bearer(inst)); r.StatusCode != 204 {
			t.Errorf("remove: %d %s", r.StatusCode, r.body)
		}
		l := e.do(nil, "GET", "/api/v1/me/passkeys", nil, bearer(inst)).json(t)["passkeys"].([]any)
		if len(l) != 1 || l[0].(map[string]any)["name"] != "YubiKey" {
			t.Errorf("after removing: %v", l)
		}
		// The removed key signs in no more.
		ch = e.passwordStep("demo-installer")["challenge"].(string)
		lo = publicKey(t, e.loginOptions(ch))
		if r := e.passkeyStep(ch, key.get(lo)); r.StatusCode != 401 {
			t.Errorf("a removed key: %d", r.StatusCode)
		}
		if r := e.passkeyStep(ch, key2.get(lo)); r.StatusCode != 200 {
			t.Errorf("the other key: %d %s", r.StatusCode, r.body)
		}
		last := fmt.Sprintf("/api/v1/me/passkeys/%d", int64(l[0].(map[string]any)["id"].(float64)))
		if r := e.do(nil, "DELETE", last, nil, bearer(inst)); r.StatusCode != 409 {
			t.Errorf("removing the last second factor: %d %s", r.StatusCode, r.body)
		}
		// Turning two-factor sign-in off (password and a recovery code)
		// removes the passkeys too.
		if r := e.do(nil, "POST", "/api/v1/me/two-factor/disable", map[string]string{"password": demoPassword, "code": codes[1].(string)}, bearer(inst)); r.StatusCode != 204 {
			t.Fatalf("turning off: %d %s", r.StatusCode, r.body)
		}
		if l := e.do(nil, "GET", "/api/v1/me/passkeys", nil, bearer(inst)).json(t)["passkeys"].([]any); len(l) != 0 {
			t.Errorf("passkeys after turning off: %v", l)
		}
		if r := e.do(nil, "POST", "/api/v1/auth/login", map[string]string{"username": "demo-installer", "password": demoPassword}); r.json(t)["token"] == nil {
			t.Errorf("login after turning off: %s", r.body)
		}
	})
}

// A node whose public URL is an IP address (or none) is no relying party:
// the passkey routes say why, nothing is stored; the rest of two-factor
// sign-in works as before.
func TestPasskeysNeedAHostName(t *testing.T) {
	e := newEnv(t, "sqlite")
	inst := e.token("demo-installer")
	r := e.do(nil, "POST", "/api/v1/me/passkeys/options", nil, bearer(inst))
	if r.StatusCode != 409 || !strings.Contains(string(r.body), "public URL") {
		t.Errorf("options without a host name: %d %s", r.StatusCode, r.body)
	}
	b := e.browserLogin("demo-installer")
	if p := e.do(b.c, "GET", "/account/two-factor", nil); !strings.Contains(string(p.body), "Passkeys are not available on this server") || strings.Contains(string(p.body), `id="add-passkey"`) {
		t.Error("the page offers passkeys without a relying party")
	}
}

// A parent requires two-factor sign-in: a passkey satisfies it (the
// session that had to set it up goes on), the child cannot remove it
// as its last factor, and the parent's reset of the lost factor removes
// the child's passkeys (audited).
func TestPasskeySatisfiesParentRequirement(t *testing.T) {
	eachBackendNamed(t, func(t *testing.T, e *env) {
		sess := e.token("demo-installer")
		if r := e.do(nil, "PUT", "/api/v1/me/two-factor/policy", map[string]bool{"require_for_children": true}, bearer(e.token("demo-subdistributor"))); r.StatusCode != 200 {
			t.Fatalf("policy: %d", r.StatusCode)
		}
		if r := e.do(nil, "GET", "/api/v1/projects", nil, bearer(sess)); r.StatusCode != 403 {
			t.Fatalf("before setting up: %d", r.StatusCode)
		}
		key := newSoftKey(t, e.url)
		if r := e.registerKey(sess, key, "Laptop"); r.StatusCode != 201 {
			t.Fatalf("registering while required: %d %s", r.StatusCode, r.body)
		}
		if r := e.do(nil, "GET", "/api/v1/projects", nil, bearer(sess)); r.StatusCode != 200 {
			t.Errorf("the session after adding a passkey: %d %s", r.StatusCode, r.body)
		}
		if r := e.do(nil, "POST", "/api/v1/me/two-factor/disable", map[string]string{"password": demoPassword, "code": "aaaaa-aaaaa"}, bearer(sess)); r.StatusCode == 204 {
			t.Error("turned off with a wrong code")
		}
		var id int64
		e.st.DB().QueryRow(`SELECT id FROM accounts WHERE username = 'demo-installer'`).Scan(&id)
		if r := e.do(nil, "POST", fmt.Sprintf("/api/v1/accounts/%d/two-factor/reset", id), nil, bearer(e.token("demo-subdistributor"))); r.StatusCode != 204 {
			t.Fatalf("reset: %d %s", r.StatusCode, r.body)
		}
		var n int
		var details string
		e.st.DB().QueryRow(fmt.Sprintf(`SELECT count(*) FROM account_passkeys WHERE account_id = %d`, id)).Scan(&n)
		e.st.DB().QueryRow(`SELECT details FROM audit_log WHERE action = 'auth.two_factor_reset' ORDER BY id DESC LIMIT 1`).Scan(&details)
		if n != 0 || !strings.Contains(details, `"passkeys_removed":1`) {
			t.Errorf("after the reset: %d passkeys, audit %s", n, details)
		}
		// Its next login has no second step, and must set one up again.
		r := e.do(nil, "POST", "/api/v1/auth/login", map[string]string{"username": "demo-installer", "password": demoPassword})
		tok, _ := r.json(t)["token"].(string)
		if tok == "" {
			t.Fatalf("login after the reset: %s", r.body)
		}
		if r := e.do(nil, "GET", "/api/v1/projects", nil, bearer(tok)); r.StatusCode != 403 {
			t.Errorf("a session after the reset, still required: %d", r.StatusCode)
		}
	})
}

// The portal's forms without a browser: the Two-factor page adds a passkey
// from the script's hidden field (recovery codes shown once), renames and
// removes it; the login's second step takes the assertion in its form and
// a wrong one is refused on the page. (The Chromium test drives the
// script itself.)
func TestPasskeysPortalForms(t *testing.T) {
	eachBackendNamed(t, func(t *testing.T, e *env) {
		b := e.browserLogin("demo-installer")
		page := e.do(b.c, "GET", "/account/two-factor", nil)
		if !strings.Contains(string(page.body), `id="add-passkey"`) || !strings.Contains(string(page.body), `/static/passkeys.js`) {
			t.Fatalf("no passkey form on the page")
		}
		opts := publicKey(t, e.do(b.c, "POST", "/api/v1/me/passkeys/options", nil, "X-CSRF-Token: "+b.csrf))
		if r := e.do(b.c, "POST", "/api/v1/me/passkeys/options", nil); r.StatusCode != 403 {
			t.Errorf("options with the session cookie and no CSRF token: %d", r.StatusCode)
		}
		key := newSoftKey(t, e.url)
		cred, _ := json.Marshal(key.create(opts))
		if r := e.form(b.c, "/account/two-factor/passkeys", url.Values{"csrf_token": {b.csrf}, "name": {"Desk key"}, "credential": {"{}"}}); r.StatusCode != 400 {
			t.Errorf("an empty answer: %d", r.StatusCode)
		}
		r := e.form(b.c, "/account/two-factor/passkeys", url.Values{"csrf_token": {b.csrf}, "name": {"Desk key"}, "credential": {string(cred)}})
		if r.StatusCode != 200 || !strings.Contains(string(r.body), `id="recovery-codes"`) || strings.Count(string(r.body), "<li>") < 10 {
			t.Fatalf("add: %d", r.StatusCode)
		}
		page = e.do(b.c, "GET", "/account/two-factor", nil)
		if !strings.Contains(string(page.body), `value="Desk key"`) || !strings.Contains(string(page.body), "1 passkey)") {
			t.Errorf("the list: %s", regexpFind(t, string(page.body), `id="two-factor-state">([^\n]*)`))
		}
		id := regexpFind(t, string(page.body), `data-passkey="(\d+)"`)
		if r := e.form(b.c, "/account/two-factor/passkeys/"+id+"/rename", url.Values{"csrf_token": {b.csrf}, "name": {"Desk"}}); r.StatusCode != 303 {
			t.Errorf("rename: %d", r.StatusCode)
		}
		if r := e.form(b.c, "/account/two-factor/passkeys/"+id+"/delete", url.Values{"csrf_token": {b.csrf}}); r.StatusCode != 409 {
			t.Errorf("removing the only factor: %d", r.StatusCode)
		}

		// The login's second step.
		jar, _ := cookiejar.New(nil)
		c := noRedirect(jar)
		r = e.form(c, "/login", url.Values{"username": {"demo-installer"}, "password": {demoPassword}, "next": {"/devices"}})
		if r.StatusCode != 200 || !strings.Contains(string(r.body), `id="use-passkey"`) {
			t.Fatalf("the second step offers no passkey: %d", r.StatusCode)
		}
		ch := regexpFind(t, string(r.body), `name="challenge" value="([^"]+)"`)
		lo := publicKey(t, e.loginOptions(ch))
		other := newSoftKey(t, e.url)
		bad, _ := json.Marshal(other.get(lo))
		if r := e.form(c, "/login/second-factor", url.Values{"challenge": {ch}, "has_passkey": {"1"}, "passkey": {string(bad)}, "next": {"/devices"}}); r.StatusCode != 401 ||
			!strings.Contains(string(r.body), "not accepted") || !strings.Contains(string(r.body), `id="use-passkey"`) {
			t.Errorf("an unknown key on the page: %d", r.StatusCode)
		}
		good, _ := json.Marshal(key.get(lo))
		r = e.form(c, "/login/second-factor", url.Values{"challenge": {ch}, "has_passkey": {"1"}, "passkey": {string(good)}, "next": {"/devices"}})
		if r.StatusCode != 303 || r.Header.Get("Location") != "/devices" {
			t.Fatalf("passkey on the page: %d %s", r.StatusCode, r.body)
		}
		if r := e.do(c, "GET", "/account/two-factor", nil); r.StatusCode != 200 || !strings.Contains(string(r.body), "Desk") {
			t.Errorf("the session: %d", r.StatusCode)
		}
	})
}

// Turning two-factor sign-in off with the password and a passkey: the
// ceremony is the account's own (a challenge of its own); a wrong
// password, another key, or a challenge used up is refused naming the
// field and turns nothing off; the right ones remove the passkeys too.
func TestPasskeyTurnsTwoFactorOff(t *testing.T) {
	eachBackendNamed(t, func(t *testing.T, e *env) {
		inst := e.token("demo-installer")
		key := newSoftKey(t, e.url)
		if r := e.registerKey(inst, key, "Laptop"); r.StatusCode != 201 {
			t.Fatalf("register: %d %s", r.StatusCode, r.body)
		}
		check := func() (string, map[string]any) {
			r := e.do(nil, "POST", "/api/v1/me/two-factor/passkey-options", nil, bearer(inst))
			ch, _ := r.json(t)["challenge"].(string)
			return ch, publicKey(t, r)
		}
		off := func(password, ch string, assertion any) *resp {
			return e.do(nil, "POST", "/api/v1/me/two-factor/disable", map[string]any{"password": password, "challenge": ch, "passkey": assertion}, bearer(inst))
		}
		// A check's challenge never completes a login: with a bearer token
		// and the key, it would open a session without the password.
		ch2, opts2 := check()
		if r := e.do(nil, "POST", "/api/v1/auth/login/second-factor", map[string]any{"challenge": ch2, "passkey": key.get(opts2)}); r.StatusCode != 401 {
			t.Errorf("a check's challenge at the login's second step: %d %s", r.StatusCode, r.body)
		}
		ch, opts := check()
		if r := off("wrong-password", ch, key.get(opts)); r.StatusCode != 400 || r.errorField(t, "password") == "" {
			t.Errorf("a wrong password: %d %s", r.StatusCode, r.body)
		}
		other := newSoftKey(t, e.url)
		if r := off(demoPassword, ch, other.get(opts)); r.StatusCode != 400 || r.errorField(t, "passkey") == "" {
			t.Errorf("another key: %d %s", r.StatusCode, r.body)
		}
		good := key.get(opts)
		if r := off(demoPassword, ch, good); r.StatusCode != 204 {
			t.Fatalf("turning off: %d %s", r.StatusCode, r.body)
		}
		if st := e.do(nil, "GET", "/api/v1/me/two-factor", nil, bearer(inst)).json(t); st["enabled"] != false || st["passkeys"] != float64(0) {
			t.Errorf("status after turning off: %v", st)
		}
		// Off now: a replay has nothing to turn off, and finds no challenge.
		if r := off(demoPassword, ch, good); r.StatusCode != 400 || r.errorField(t, "challenge") == "" {
			t.Errorf("the challenge again: %d %s", r.StatusCode, r.body)
		}
		if r := e.do(nil, "POST", "/api/v1/me/two-factor/passkey-options", nil, bearer(inst)); r.StatusCode != 409 {
			t.Errorf("options without passkeys: %d %s", r.StatusCode, r.body)
		}
	})
}
