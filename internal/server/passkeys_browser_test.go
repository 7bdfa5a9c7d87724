package server_test

import (
	"crypto/x509"
	"encoding/base64"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/webauthn"
	"github.com/chromedp/chromedp"
)

// waitPath waits until the tab is at path.
func (c *chromeTab) waitPath(want string, timeout time.Duration) {
	c.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		if p := c.path(); p == want {
			return
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("the tab is at %s, waited %s for %s (page says %q)", c.path(), timeout, want, c.text("main"))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestBrowserPasskey: in Chromium with a virtual authenticator (CTAP2,
// internal, user verification), the installer adds a passkey on the
// Two-factor page (the page's script, navigator.credentials.create; the
// recovery codes shown once), logs out, logs in with the password and the
// passkey (navigator.credentials.get) and has a session. At the second
// step, an assertion with a bogus signature and one made with another
// account's passkey are refused on the page; the real one then signs in,
// and turns two-factor sign-in off with the password.
func TestBrowserPasskey(t *testing.T) {
	execPath := requireChromium(t)
	e := newEnvNamed(t, "sqlite")
	c := newChrome(t, execPath, e.url, 1280, 900, 2*chromeTimeout)
	if _, err := chromedp.Call(c.ctx, webauthn.Enable, webauthn.EnableParams{}); err != nil {
		t.Fatalf("enable WebAuthn: %v", err)
	}
	va, err := chromedp.Call(c.ctx, webauthn.AddVirtualAuthenticator, webauthn.AddVirtualAuthenticatorParams{Options: &webauthn.VirtualAuthenticatorOptions{
		Protocol: webauthn.AuthenticatorProtocolCtap2, Ctap2version: webauthn.Ctap2versionCtap21, Transport: webauthn.AuthenticatorTransportInternal,
		HasResidentKey: true, HasUserVerification: true, IsUserVerified: true, AutomaticPresenceSimulation: true}})
	if err != nil {
		t.Fatalf("virtual authenticator: %v", err)
	}
	auth := va.AuthenticatorID

	// Add the passkey on the Two-factor page.
	c.login("demo-installer")
	if st := c.open("/account/two-factor"); st != 200 {
		t.Fatalf("two-factor page: %d", st)
	}
	c.do("name the passkey", chromedp.WaitVisible(chromedp.ID("passkey-name")), chromedp.SendKeys(chromedp.ID("passkey-name"), "Virtual key"))
	c.do("add the passkey", chromedp.Click(chromedp.ID("add-passkey-button")))
	c.waitText(".notice", "two-factor sign-in is on", 20*time.Second)
	if n := chromeEval[int](c, `document.querySelectorAll('#recovery-codes li').length`); n != 10 {
		t.Errorf("recovery codes shown: %d", n)
	}
	creds, err := chromedp.Call(c.ctx, webauthn.GetCredentials, webauthn.GetCredentialsParams{AuthenticatorID: auth})
	if err != nil || len(creds.Credentials) != 1 || creds.Credentials[0].RpID != "localhost" {
		t.Fatalf("the authenticator's credentials: %+v %v", creds, err)
	}
	var stored string
	if err := e.st.DB().QueryRow(`SELECT k.name FROM account_passkeys k JOIN accounts a ON a.id = k.account_id WHERE a.username = 'demo-installer'`).Scan(&stored); err != nil || stored != "Virtual key" {
		t.Fatalf("stored passkey: %q %v", stored, err)
	}
	if st := c.open("/account/two-factor"); st != 200 || !strings.Contains(c.text("#passkey-list"), "never") {
		t.Errorf("the list before use: %q", c.text("#passkey-list"))
	}
	saveShot(t, c, "passkeys.png")

	// Another account's passkey, in the same authenticator (a software key
	// registered through the API, its private key imported).
	theirs := newSoftKey(t, e.url)
	if r := e.registerKey(e.token("demo-subdistributor"), theirs, "theirs"); r.StatusCode != 201 {
		t.Fatalf("the sub-distributor's key: %d %s", r.StatusCode, r.body)
	}
	der, err := x509.MarshalPKCS8PrivateKey(theirs.priv)
	if err != nil {
		t.Fatal(err)
	}
	// (cdproto's Credential always sends generateCmtgKeyOnNextOperation,
	// which this Chromium refuses: the command with the fields it knows.)
	type importedCredential struct {
		CredentialID         []byte  `json:"credentialId"`
		IsResidentCredential bool    `json:"isResidentCredential"`
		RpID                 string  `json:"rpId"`
		PrivateKey           []byte  `json:"privateKey"`
		SignCount            float64 `json:"signCount"`
	}
	type addCredential struct {
		AuthenticatorID webauthn.AuthenticatorID `json:"authenticatorId"`
		Credential      importedCredential       `json:"credential"`
	}
	add := cdp.Command[addCredential, cdp.Empty]{Method: webauthn.CommandAddCredential}
	if _, err := chromedp.Call(c.ctx, add, addCredential{AuthenticatorID: auth, Credential: importedCredential{
		CredentialID: theirs.id, RpID: "localhost", PrivateKey: der, SignCount: 10}}); err != nil {
		t.Fatalf("import the other key: %v", err)
	}

	// Log out; log in with the password: the second step offers a passkey.
	if st := c.clickAndLoad("#logout"); st != 200 || c.path() != "/login" {
		t.Fatalf("log out: %d %s", st, c.path())
	}
	c.do("fill the login form",
		chromedp.WaitVisible(chromedp.ID("username")),
		chromedp.SendKeys(chromedp.ID("username"), "demo-installer"),
		chromedp.SendKeys(chromedp.ID("password"), demoPassword))
	if st := c.clickAndLoad("#login"); st != 200 {
		t.Fatalf("password step: %d", st)
	}
	c.do("the second step", chromedp.WaitVisible(chromedp.ID("use-passkey")))

	// A bogus signature: refused on the page.
	if _, err := chromedp.Call(c.ctx, webauthn.SetResponseOverrideBits, webauthn.SetResponseOverrideBitsParams{AuthenticatorID: auth, IsBogusSignature: ptrTo(true)}); err != nil {
		t.Fatal(err)
	}
	c.do("use the passkey (bogus signature)", chromedp.Click(chromedp.ID("use-passkey")))
	c.waitText(".error", "not accepted", 20*time.Second)
	if _, err := chromedp.Call(c.ctx, webauthn.SetResponseOverrideBits, webauthn.SetResponseOverrideBitsParams{AuthenticatorID: auth}); err != nil {
		t.Fatal(err)
	}
	// A client that asks the authenticator for the other account's
	// credential instead: signed right, refused.
	c.do("wait for the page again", chromedp.WaitVisible(chromedp.ID("use-passkey")))
	chromeEval[bool](c, fmt.Sprintf(`(() => {
		const id = Uint8Array.from(atob(%q), ch => ch.charCodeAt(0));
		const get = navigator.credentials.get.bind(navigator.credentials);
		navigator.credentials.get = (o) => { o.publicKey.allowCredentials = [{type: "public-key", id: id.buffer}]; return get(o); };
		document.querySelector('.error').textContent = '';
		return true; })()`, base64.StdEncoding.EncodeToString(theirs.id)))
	c.do("use the other account's passkey", chromedp.Click(chromedp.ID("use-passkey")))
	c.waitText(".error", "not accepted", 20*time.Second)
	if c.path() != "/login/second-factor" {
		t.Errorf("after another account's passkey the tab is at %s", c.path())
	}
	var theirCount int64
	e.st.DB().QueryRow(`SELECT k.sign_count FROM account_passkeys k JOIN accounts a ON a.id = k.account_id WHERE a.username = 'demo-subdistributor'`).Scan(&theirCount)
	if theirCount != 0 {
		t.Errorf("the other account's counter moved: %d", theirCount)
	}

	// The real passkey signs in.
	c.do("wait for the page again", chromedp.WaitVisible(chromedp.ID("use-passkey")))
	c.do("use the passkey", chromedp.Click(chromedp.ID("use-passkey")))
	c.waitPath("/", 20*time.Second)
	if who := chromeEval[string](c, `(document.querySelector('.topbar .account') || {}).title || ''`); !strings.Contains(who, "demo-installer") {
		t.Errorf("after the passkey the top bar says %q", who)
	}
	var count int64
	var used bool
	if err := e.st.DB().QueryRow(`SELECT k.sign_count, k.last_used_at IS NOT NULL FROM account_passkeys k JOIN accounts a ON a.id = k.account_id
		WHERE a.username = 'demo-installer'`).Scan(&count, &used); err != nil || count < 1 || !used {
		t.Errorf("the passkey after signing in: counter %d, used %v, %v", count, used, err)
	}
	var attempts int
	e.st.DB().QueryRow(`SELECT count(*) FROM login_challenges`).Scan(&attempts)
	if attempts != 0 {
		t.Errorf("login challenges left: %d", attempts)
	}

	// Turn two-factor sign-in off with the password and the passkey.
	if st := c.open("/account/two-factor"); st != 200 {
		t.Fatalf("two-factor page: %d", st)
	}
	c.do("type the password", chromedp.WaitVisible(chromedp.CSS("#disable-passkey input[name=password]")),
		chromedp.SendKeys(chromedp.CSS("#disable-passkey input[name=password]"), demoPassword))
	c.do("turn off with the passkey", chromedp.Click(chromedp.ID("disable-with-passkey")))
	c.waitText("#two-factor-state", "is off", 20*time.Second)
	var left int
	e.st.DB().QueryRow(`SELECT count(*) FROM account_passkeys k JOIN accounts a ON a.id = k.account_id WHERE a.username = 'demo-installer'`).Scan(&left)
	if left != 0 {
		t.Errorf("passkeys after turning off: %d", left)
	}
}

func ptrTo[T any](v T) *T { return &v }
