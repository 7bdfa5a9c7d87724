package model

import "time"

// Session is a signed-in browser or API client. Only the hash of its token
// is stored, so a copy of the database does not hand out sessions.
type Session struct {
	TokenHash  string
	AccountID  int64
	ActingAsID int64 // set while working inside another account
	CSRFToken  string
	UserAgent  string
	IP         string
	Created    time.Time
	LastSeen   time.Time
	Expires    time.Time // absolute expiry
	// The credential epochs of the account and of the installer it acts as
	// when the session was made; see Account.CredentialEpoch.
	Epoch       int64
	ActingEpoch int64
	// MustEnrollTwoFactor: the account's parent requires two-factor
	// sign-in and the account has none yet (read with the session, not
	// stored in it).
	MustEnrollTwoFactor bool
}

// APIToken is a long-lived bearer token for scripts.
type APIToken struct {
	ID        int64      `json:"id"`
	AccountID int64      `json:"account_id"`
	Name      string     `json:"name"`
	Created   time.Time  `json:"created_at"`
	LastUsed  *time.Time `json:"last_used_at"`
	Expires   *time.Time `json:"expires_at"`
}
