package model

// TwoFactorStatus is an account's two-factor sign-in as its owner sees it.
type TwoFactorStatus struct {
	Enabled            bool `json:"enabled"`              // a confirmed TOTP authenticator or a passkey
	TOTP               bool `json:"totp"`                 // a confirmed TOTP authenticator
	Passkeys           int  `json:"passkeys"`             // passkeys and security keys (WebAuthn)
	RecoveryCodesLeft  int  `json:"recovery_codes_left"`  // unused recovery codes
	RequiredByParent   bool `json:"required_by_parent"`   // the parent account requires it: it cannot be turned off
	RequireForChildren bool `json:"require_for_children"` // this account requires it of its children
}

// ValidOwnEmail checks an address a person gives for their own account:
// one plain address (no name, no angle brackets), at most 254 bytes.
func ValidOwnEmail(v *Validator, field, s string) {
	v.Check(s != "", field, "is required: password links and notices are sent there")
	if s != "" {
		v.Check(settingsEmail(s) && len(s) <= 254, field, "is not a valid email address")
	}
}
