package model

// TwoFactorStatus is an account's two-factor sign-in as its owner sees it.
type TwoFactorStatus struct {
	Enabled            bool `json:"enabled"`              // a confirmed TOTP authenticator
	RecoveryCodesLeft  int  `json:"recovery_codes_left"`  // unused recovery codes
	RequiredByParent   bool `json:"required_by_parent"`   // the parent account requires it: it cannot be turned off
	RequireForChildren bool `json:"require_for_children"` // this account requires it of its children
}
