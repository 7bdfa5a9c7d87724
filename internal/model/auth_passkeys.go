package model

import (
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// Passkey is a WebAuthn credential (a passkey or a security key) an
// account signs in with as its second factor (issue 16), as its owner sees
// it: the name they gave it and when it was added and last used.
type Passkey struct {
	ID       int64      `json:"id"`
	Name     string     `json:"name"`
	Created  time.Time  `json:"created_at"`
	LastUsed *time.Time `json:"last_used_at"`
}

// MaxPasskeys bounds the passkeys of one account.
const MaxPasskeys = 10

// MaxPasskeyName bounds a passkey's name, in characters.
const MaxPasskeyName = 64

// PasskeyName is the name a person gives a passkey, trimmed; empty is
// "Passkey". It must be printable and at most MaxPasskeyName characters.
func PasskeyName(v *Validator, field, name string) string {
	name = strings.TrimSpace(name)
	if name == "" {
		return "Passkey"
	}
	v.Check(utf8.ValidString(name) && utf8.RuneCountInString(name) <= MaxPasskeyName, field, "must be at most %d characters", MaxPasskeyName)
	v.Check(!strings.ContainsFunc(name, func(r rune) bool { return !unicode.IsPrint(r) }), field, "must not contain control characters")
	return name
}
