package auth

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base32"
	"encoding/hex"
	"image/png"
	"strings"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"

	"github.com/gatehouse-dev/gatehouse/internal/model"
)

// Two-factor sign-in (issue 16): TOTP (RFC 6238: 6 digits, 30 s, SHA-1, as
// every authenticator app reads it from the QR code), one step of clock
// drift either way, each step used once; and ten single-use recovery codes.

const (
	totpPeriod = 30
	// challengeTTL is how long a login waits for its second factor.
	challengeTTL = 5 * time.Minute
	// recoveryCodes is how many recovery codes an account gets.
	recoveryCodes = 10
	// ChallengePrefix marks a login challenge token.
	ChallengePrefix = "ghc_"
	// CheckPrefix marks the challenge of a passkey check of the signed-in
	// account (turning two-factor sign-in off): never a login's.
	CheckPrefix = "ghk_"
)

var totpOpts = totp.ValidateOpts{Period: totpPeriod, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1}

// SecondFactorNeeded is Login's answer when the password was right and the
// account signs in with a second factor: no session yet, a challenge to
// complete with CompleteLogin before Expires.
type SecondFactorNeeded struct {
	Challenge string
	Expires   time.Time
	TOTP      bool // the account has an authenticator app
	Passkey   bool // the account has passkeys (and this node is their relying party)
}

// Methods names the second factors the login may use: "totp" (a code,
// also a recovery code), "passkey".
func (e *SecondFactorNeeded) Methods() []string {
	m := []string{"totp"} // recovery codes are typed as codes
	if e.Passkey {
		m = append(m, "passkey")
	}
	return m
}

func (e *SecondFactorNeeded) Error() string { return "a second factor is needed" }

// totpVerifier accepts code at now, one step either side, after lastStep.
func totpVerifier(code string, now time.Time) func(secret string, lastStep int64) (int64, bool) {
	return func(secret string, lastStep int64) (int64, bool) {
		cur := now.Unix() / totpPeriod
		for _, step := range []int64{cur, cur - 1, cur + 1} {
			if step <= lastStep {
				continue
			}
			want, err := totp.GenerateCodeCustom(secret, time.Unix(step*totpPeriod, 0), totpOpts)
			if err == nil && subtle.ConstantTimeCompare([]byte(want), []byte(code)) == 1 {
				return step, true
			}
		}
		return 0, false
	}
}

// normalCode is a code as typed, without spaces and dashes, lower case;
// and whether it has the shape of a TOTP code (6 digits) or of a recovery
// code (10 letters and digits). Anything else is refused unread.
func normalCode(code string) (norm string, isTOTP, isRecovery bool) {
	norm = strings.ToLower(strings.NewReplacer(" ", "", "-", "", "\t", "").Replace(strings.TrimSpace(code)))
	if len(norm) > 32 {
		return "", false, false
	}
	digits := strings.Trim(norm, "0123456789") == ""
	if len(norm) == 6 && digits {
		return norm, true, false
	}
	if len(norm) == 10 && strings.Trim(norm, "abcdefghijklmnopqrstuvwxyz234567") == "" {
		return norm, false, true
	}
	return "", false, false
}

func recoveryHash(norm string) string {
	h := sha256.Sum256([]byte("gatehouse-recovery:" + norm))
	return hex.EncodeToString(h[:])
}

// CompleteLogin finishes a login that awaits its second factor: code is
// the authenticator's current code or an unused recovery code. It opens
// the session. A wrong code counts against the challenge (5 attempts) and
// as a failed login of the account from ip.
func (s *Service) CompleteLogin(ctx context.Context, challenge, code, ip, userAgent string) (string, *model.Session, *model.Account, error) {
	norm, isTOTP, isRecovery := normalCode(code)
	if !isTOTP && !isRecovery {
		return "", nil, nil, model.Invalid("code", "must be the 6 digits your app shows, or a recovery code (10 letters and digits)")
	}
	if !strings.HasPrefix(challenge, ChallengePrefix) || len(challenge) > 128 {
		return "", nil, nil, model.Errorf(model.EUNAUTHORIZED, "This sign-in has expired or had too many wrong codes: log in again.")
	}
	rh := ""
	if isRecovery {
		rh = recoveryHash(norm)
	}
	acc, wrong, err := s.Store.UseLoginChallenge(ctx, HashToken(challenge), totpVerifier(norm, s.Store.Now()), rh)
	if wrong {
		return "", nil, nil, err
	}
	if err != nil {
		return "", nil, nil, err
	}
	return s.openSession(ctx, acc, ip, userAgent)
}

// TOTPSetup is what a person needs to add the account to an authenticator
// app: the secret (to type), its otpauth:// URL, and that URL as a QR code
// (PNG).
type TOTPSetup struct {
	Secret string `json:"secret"`
	URL    string `json:"otpauth_url"`
	QRPNG  []byte `json:"qr_png"`
}

// StartTwoFactor makes a new secret for the signed-in account (not one it
// works as) and keeps it unconfirmed until ConfirmTwoFactor.
func (s *Service) StartTwoFactor(ctx context.Context, id *Identity) (*TOTPSetup, error) {
	if id == nil || id.ActingAs != nil {
		return nil, model.Errorf(model.EFORBIDDEN, "Working in another account, you cannot set its two-factor sign-in.")
	}
	key, err := totp.Generate(totp.GenerateOpts{Issuer: "Gatehouse", AccountName: id.Account.Username, Period: totpPeriod,
		Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
	if err != nil {
		return nil, err
	}
	if err := s.Store.StartTOTP(ctx, key.Secret()); err != nil {
		return nil, err
	}
	img, err := key.Image(240, 240)
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		return nil, err
	}
	return &TOTPSetup{Secret: key.Secret(), URL: key.URL(), QRPNG: buf.Bytes()}, nil
}

// ConfirmTwoFactor turns two-factor sign-in on with the first code from
// the app, and returns the recovery codes, shown this once.
func (s *Service) ConfirmTwoFactor(ctx context.Context, code string) ([]string, error) {
	norm, isTOTP, _ := normalCode(code)
	if !isTOTP {
		return nil, model.Invalid("code", "must be the 6 digits your app shows")
	}
	codes, hashes, err := newRecoveryCodes()
	if err != nil {
		return nil, err
	}
	if err := s.Store.ConfirmTOTP(ctx, totpVerifier(norm, s.Store.Now()), hashes); err != nil {
		return nil, err
	}
	return codes, nil
}

// newRecoveryCodes makes an account's recovery codes (as shown: xxxxx-xxxxx)
// and their hashes (as stored).
func newRecoveryCodes() (codes, hashes []string, err error) {
	codes = make([]string, recoveryCodes)
	hashes = make([]string, recoveryCodes)
	for i := range codes {
		b := make([]byte, 7)
		if _, err := rand.Read(b); err != nil {
			return nil, nil, err
		}
		c := strings.ToLower(base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(b))[:10]
		codes[i], hashes[i] = c[:5]+"-"+c[5:], recoveryHash(c)
	}
	return codes, hashes, nil
}

// DisableTwoFactor turns the signed-in account's two-factor sign-in off,
// with its password and a current code (or a recovery code): a stolen
// session alone cannot.
func (s *Service) DisableTwoFactor(ctx context.Context, id *Identity, password, code, ip string) error {
	if id == nil || id.ActingAs != nil {
		return model.Errorf(model.EFORBIDDEN, "Working in another account, you cannot change its two-factor sign-in.")
	}
	acc, ok, err := s.checkThrottled(ctx, id.Account.Username, AddressKey(ip), password)
	if err != nil {
		return err
	}
	if !ok || acc.ID != id.Account.ID {
		return model.Invalid("password", "is not your password")
	}
	norm, isTOTP, isRecovery := normalCode(code)
	if !isTOTP && !isRecovery {
		return model.Invalid("code", "must be the 6 digits your app shows, or a recovery code")
	}
	// The code is checked like a login's, through a challenge of its own.
	tok := ChallengePrefix + NewToken()
	if err := s.Store.CreateLoginChallenge(ctx, HashToken(tok), acc.ID, s.Store.Now().Add(time.Minute)); err != nil {
		return err
	}
	rh := ""
	if isRecovery {
		rh = recoveryHash(norm)
	}
	if _, wrong, err := s.Store.UseLoginChallenge(ctx, HashToken(tok), totpVerifier(norm, s.Store.Now()), rh); wrong {
		return model.Invalid("code", "is not the code your app shows now, nor an unused recovery code")
	} else if err != nil {
		return err
	}
	return s.Store.DisableTOTP(ctx)
}
