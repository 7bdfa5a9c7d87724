package auth

import (
	"context"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
	"time"

	"github.com/go-webauthn/webauthn/protocol"
	"github.com/go-webauthn/webauthn/webauthn"

	"github.com/gatehouse-dev/gatehouse/internal/model"
	"github.com/gatehouse-dev/gatehouse/internal/store"
)

// Passkeys and security keys (WebAuthn, go-webauthn) as a second factor
// (issue 16). The relying party is the node's public URL: its host name is
// the RP ID and its scheme://host[:port] the one origin accepted. An IP
// address cannot be an RP ID (browsers refuse it), so a node without a
// public URL with a host name has no passkeys.

// MaxPasskeyResponse bounds a registration's or an assertion's JSON.
const MaxPasskeyResponse = 64 << 10

// registrationTTL is how long a begun registration waits for its key.
const registrationTTL = 5 * time.Minute

// RelyingParty is this node as a WebAuthn relying party.
type RelyingParty struct {
	ID     string // the RP ID: the public URL's host name
	Origin string // the one origin accepted
	wa     *webauthn.WebAuthn
}

// NewRelyingParty makes the relying party of publicURL, or says why there
// is none (no host name, an IP address, not http(s)).
func NewRelyingParty(publicURL string) (*RelyingParty, error) {
	u, err := url.Parse(publicURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Hostname() == "" {
		return nil, fmt.Errorf("passkeys need the public URL (--public-url) as http(s)://host[:port], not %q", publicURL)
	}
	name := strings.ToLower(u.Hostname())
	if net.ParseIP(name) != nil {
		return nil, fmt.Errorf("passkeys need a host name in the public URL, not the IP address %s (WebAuthn refuses IP addresses)", name)
	}
	// The origin as browsers write it: without the scheme's default port.
	host := strings.ToLower(u.Host)
	if p := u.Port(); (u.Scheme == "http" && p == "80") || (u.Scheme == "https" && p == "443") {
		host = strings.TrimSuffix(host, ":"+p)
	}
	origin := u.Scheme + "://" + host
	wa, err := webauthn.New(&webauthn.Config{
		RPID: name, RPDisplayName: "Gatehouse", RPOrigins: []string{origin},
		AttestationPreference: protocol.PreferNoAttestation,
		AuthenticatorSelection: protocol.AuthenticatorSelection{
			ResidentKey: protocol.ResidentKeyRequirementPreferred, UserVerification: protocol.VerificationPreferred},
	})
	if err != nil {
		return nil, fmt.Errorf("passkeys: %w", err)
	}
	return &RelyingParty{ID: name, Origin: origin, wa: wa}, nil
}

// errNoPasskeys answers every passkey use on a node without a relying party.
var errNoPasskeys = model.Errorf(model.ECONFLICT, "Passkeys are not available on this server: its public URL (--public-url) must name a host, such as https://gatehouse.example.com (not an IP address).")

func (s *Service) relyingParty() (*RelyingParty, error) {
	if s.Passkeys == nil {
		return nil, errNoPasskeys
	}
	return s.Passkeys, nil
}

// passkeyUser is an account as go-webauthn sees it: its user handle is
// the account's id (8 bytes), its credentials the stored records.
type passkeyUser struct {
	id          int64
	name        string
	credentials []webauthn.Credential
}

func (u *passkeyUser) WebAuthnID() []byte {
	return binary.BigEndian.AppendUint64(nil, uint64(u.id))
}
func (u *passkeyUser) WebAuthnName() string                       { return u.name }
func (u *passkeyUser) WebAuthnDisplayName() string                { return u.name }
func (u *passkeyUser) WebAuthnCredentials() []webauthn.Credential { return u.credentials }

// userOf makes the account's user with its stored credentials, each with
// the signature counter last seen.
func userOf(accountID int64, name string, creds []store.StoredPasskey) (*passkeyUser, error) {
	u := &passkeyUser{id: accountID, name: name}
	for _, c := range creds {
		var wc webauthn.Credential
		if err := json.Unmarshal([]byte(c.Credential), &wc); err != nil {
			return nil, fmt.Errorf("passkey %d: %w", c.ID, err)
		}
		wc.Authenticator.SignCount = c.SignCount
		u.credentials = append(u.credentials, wc)
	}
	return u, nil
}

func credentialID(id []byte) string { return base64.RawURLEncoding.EncodeToString(id) }

// notAccepted is a WebAuthn response refused, naming the field and, when
// the library says, why.
func notAccepted(field string, err error) error {
	why := "the passkey's answer was not accepted"
	var pe *protocol.Error
	if errors.As(err, &pe) && pe.Details != "" {
		why += ": " + pe.Details
	}
	return model.Invalid(field, "%s", why)
}

// BeginPasskeyRegistration begins adding a passkey to the signed-in
// account (not one it works as): the options for
// navigator.credentials.create ({"publicKey": …}), valid a few minutes.
func (s *Service) BeginPasskeyRegistration(ctx context.Context, id *Identity) (*protocol.CredentialCreation, error) {
	if id == nil || id.ActingAs != nil {
		return nil, model.Errorf(model.EFORBIDDEN, "Working in another account, you cannot add a passkey to it.")
	}
	rp, err := s.relyingParty()
	if err != nil {
		return nil, err
	}
	var creation *protocol.CredentialCreation
	err = s.Store.StartPasskeyRegistration(ctx, func(accountID int64, creds []store.StoredPasskey) (string, error) {
		u, err := userOf(accountID, id.Account.Username, creds)
		if err != nil {
			return "", err
		}
		exclude := webauthn.Credentials(u.credentials).CredentialDescriptors()
		c, sess, err := rp.wa.BeginRegistration(u, webauthn.WithExclusions(exclude))
		if err != nil {
			return "", err
		}
		creation = c
		b, err := json.Marshal(sess)
		return string(b), err
	}, s.Store.Now().Add(registrationTTL))
	if err != nil {
		return nil, err
	}
	return creation, nil
}

// FinishPasskeyRegistration checks the authenticator's answer
// (navigator.credentials.create's PublicKeyCredential as JSON) against the
// registration begun, and stores the passkey under name. When two-factor
// sign-in was off (no recovery codes) it is on now, and the recovery codes
// are returned, shown this once; else codes is nil.
func (s *Service) FinishPasskeyRegistration(ctx context.Context, id *Identity, name string, response []byte) (pk model.Passkey, codes []string, err error) {
	if id == nil || id.ActingAs != nil {
		return pk, nil, model.Errorf(model.EFORBIDDEN, "Working in another account, you cannot add a passkey to it.")
	}
	rp, err := s.relyingParty()
	if err != nil {
		return pk, nil, err
	}
	if len(response) == 0 {
		return pk, nil, model.Invalid("credential", "is required: the answer of navigator.credentials.create")
	}
	if len(response) > MaxPasskeyResponse {
		return pk, nil, model.Invalid("credential", "must be at most %d bytes", MaxPasskeyResponse)
	}
	parsed, err := protocol.ParseCredentialCreationResponseBytes(response)
	if err != nil {
		return pk, nil, notAccepted("credential", err)
	}
	codes, hashes, err := newRecoveryCodes()
	if err != nil {
		return pk, nil, err
	}
	pk, stored, err := s.Store.AddPasskey(ctx, name, func(accountID int64, session string) (*store.NewPasskey, error) {
		var sess webauthn.SessionData
		if err := json.Unmarshal([]byte(session), &sess); err != nil {
			return nil, err
		}
		cred, err := rp.wa.CreateCredential(&passkeyUser{id: accountID, name: id.Account.Username}, sess, parsed)
		if err != nil {
			return nil, notAccepted("credential", err)
		}
		b, err := json.Marshal(cred)
		if err != nil {
			return nil, err
		}
		return &store.NewPasskey{CredentialID: credentialID(cred.ID), Credential: string(b), SignCount: cred.Authenticator.SignCount}, nil
	}, hashes)
	if err != nil {
		return pk, nil, err
	}
	if !stored {
		codes = nil
	}
	return pk, codes, nil
}

// BeginPasskeyLogin begins the passkey ceremony of a login waiting for its
// second factor: the options for navigator.credentials.get ({"publicKey":
// …}), bound to the login challenge and ending with it.
func (s *Service) BeginPasskeyLogin(ctx context.Context, challenge string) (*protocol.CredentialAssertion, error) {
	return s.beginPasskey(ctx, challenge, ChallengePrefix)
}

// beginPasskey begins a passkey ceremony bound to a challenge of the kind
// prefix names (a login's, or a check's).
func (s *Service) beginPasskey(ctx context.Context, challenge, prefix string) (*protocol.CredentialAssertion, error) {
	rp, err := s.relyingParty()
	if err != nil {
		return nil, err
	}
	if !strings.HasPrefix(challenge, prefix) || len(challenge) > 128 {
		return nil, model.Errorf(model.EUNAUTHORIZED, "This sign-in has expired or had too many wrong codes: log in again.")
	}
	var assertion *protocol.CredentialAssertion
	err = s.Store.BeginLoginPasskey(ctx, HashToken(challenge), func(accountID int64, creds []store.StoredPasskey) (string, error) {
		u, err := userOf(accountID, "", creds)
		if err != nil {
			return "", err
		}
		a, sess, err := rp.wa.BeginLogin(u)
		if err != nil {
			return "", err
		}
		assertion = a
		b, err := json.Marshal(sess)
		return string(b), err
	})
	if err != nil {
		return nil, err
	}
	return assertion, nil
}

// CompletePasskeyLogin finishes a login waiting for its second factor with
// a passkey's assertion (navigator.credentials.get's PublicKeyCredential as
// JSON) for the ceremony BeginPasskeyLogin made, and opens the session. An
// assertion refused (another credential, another challenge, a signature
// counter that did not move forward) counts as a wrong code.
func (s *Service) CompletePasskeyLogin(ctx context.Context, challenge string, response []byte, ip, userAgent string) (string, *model.Session, *model.Account, error) {
	rp, err := s.relyingParty()
	if err != nil {
		return "", nil, nil, err
	}
	if len(response) > MaxPasskeyResponse {
		return "", nil, nil, model.Invalid("passkey", "must be at most %d bytes", MaxPasskeyResponse)
	}
	parsed, err := protocol.ParseCredentialRequestResponseBytes(response)
	if err != nil {
		return "", nil, nil, notAccepted("passkey", err)
	}
	if !strings.HasPrefix(challenge, ChallengePrefix) || len(challenge) > 128 {
		return "", nil, nil, model.Errorf(model.EUNAUTHORIZED, "This sign-in has expired or had too many wrong codes: log in again.")
	}
	acc, wrong, err := s.Store.UseLoginPasskey(ctx, HashToken(challenge), s.passkeyVerifier(rp, parsed))
	if wrong || err != nil {
		return "", nil, nil, err
	}
	return s.openSession(ctx, acc, ip, userAgent)
}

// passkeyVerifier checks parsed against a ceremony and the account's
// credentials: the credential used and its new signature counter.
func (s *Service) passkeyVerifier(rp *RelyingParty, parsed *protocol.ParsedCredentialAssertionData) store.PasskeyVerify {
	return func(accountID int64, session string, creds []store.StoredPasskey) (int64, uint32, bool) {
		var sess webauthn.SessionData
		if json.Unmarshal([]byte(session), &sess) != nil {
			return 0, 0, false
		}
		u, err := userOf(accountID, "", creds)
		if err != nil {
			s.Log.Error("passkey record", "account", accountID, "err", err)
			return 0, 0, false
		}
		cred, err := rp.wa.ValidateLogin(u, sess, parsed)
		if err != nil {
			return 0, 0, false
		}
		// A counter that did not move forward: a cloned key, or an answer
		// replayed.
		if cred.Authenticator.CloneWarning {
			return 0, 0, false
		}
		for _, c := range creds {
			if c.CredentialID == credentialID(cred.ID) {
				return c.ID, cred.Authenticator.SignCount, true
			}
		}
		return 0, 0, false
	}
}

// PasskeyCheck is a passkey ceremony for the signed-in account itself (to
// turn two-factor sign-in off with a passkey): the challenge it is bound
// to and the options for navigator.credentials.get.
type PasskeyCheck struct {
	Challenge string `json:"challenge"`
	*protocol.CredentialAssertion
}

// BeginPasskeyCheck begins a passkey ceremony for the signed-in account
// (not one it works as), bound to a challenge of its own that lasts a few
// minutes and five wrong attempts, like a login's.
func (s *Service) BeginPasskeyCheck(ctx context.Context, id *Identity) (*PasskeyCheck, error) {
	if id == nil || id.ActingAs != nil {
		return nil, model.Errorf(model.EFORBIDDEN, "Working in another account, you cannot change its two-factor sign-in.")
	}
	if _, err := s.relyingParty(); err != nil {
		return nil, err
	}
	// Its own prefix: a check's challenge never completes a login (it
	// would open a session without the password), nor a login's a check.
	tok := CheckPrefix + NewToken()
	if err := s.Store.CreateLoginChallenge(ctx, HashToken(tok), id.Account.ID, s.Store.Now().Add(challengeTTL)); err != nil {
		return nil, err
	}
	a, err := s.beginPasskey(ctx, tok, CheckPrefix)
	if err != nil {
		return nil, err
	}
	return &PasskeyCheck{Challenge: tok, CredentialAssertion: a}, nil
}

// DisableTwoFactorPasskey turns the signed-in account's two-factor sign-in
// off with its password and a passkey's assertion for the ceremony
// BeginPasskeyCheck made.
func (s *Service) DisableTwoFactorPasskey(ctx context.Context, id *Identity, password, challenge string, assertion []byte, ip string) error {
	if id == nil || id.ActingAs != nil {
		return model.Errorf(model.EFORBIDDEN, "Working in another account, you cannot change its two-factor sign-in.")
	}
	rp, err := s.relyingParty()
	if err != nil {
		return err
	}
	acc, ok, err := s.checkThrottled(ctx, id.Account.Username, AddressKey(ip), password)
	if err != nil {
		return err
	}
	if !ok || acc.ID != id.Account.ID {
		return model.Invalid("password", "is not your password")
	}
	if len(assertion) > MaxPasskeyResponse {
		return model.Invalid("passkey", "must be at most %d bytes", MaxPasskeyResponse)
	}
	parsed, err := protocol.ParseCredentialRequestResponseBytes(assertion)
	if err != nil {
		return notAccepted("passkey", err)
	}
	if !strings.HasPrefix(challenge, CheckPrefix) || len(challenge) > 128 {
		return model.Invalid("challenge", "has expired: try again")
	}
	who, wrong, err := s.Store.UseLoginPasskey(ctx, HashToken(challenge), s.passkeyVerifier(rp, parsed))
	if wrong {
		return model.Invalid("passkey", "was not accepted: use a passkey registered for your account")
	} else if model.ErrorCode(err) == model.EUNAUTHORIZED {
		return model.Invalid("challenge", "has expired or had too many wrong attempts: try again")
	} else if err != nil {
		return err
	}
	if who.ID != id.Account.ID {
		return model.Invalid("challenge", "is not yours")
	}
	return s.Store.DisableTOTP(ctx)
}
