package auth

import "testing"

// SetPasswordGateForTest replaces the password gate and wraps the argon2
// derivation for the test's duration.
func SetPasswordGateForTest(t *testing.T, slots, maxWaiting int, wrap func(derive func())) {
	t.Helper()
	gate, key := passwordGate, argonKey
	passwordGate = newHashGate(slots, maxWaiting)
	if wrap != nil {
		argonKey = func(password, salt []byte, time, memory uint32, threads uint8, keyLen uint32) []byte {
			var k []byte
			wrap(func() { k = key(password, salt, time, memory, threads, keyLen) })
			return k
		}
	}
	t.Cleanup(func() { passwordGate, argonKey = gate, key })
}

// PasswordGateWaiting is how many hashes wait for a turn.
func PasswordGateWaiting() int64 { return passwordGate.waiting.Load() }

// PasswordGateSlots is the gate's bound.
func PasswordGateSlots() int { return cap(passwordGate.slots) }
