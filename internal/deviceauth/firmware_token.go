package deviceauth

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"time"
)

// A firmware download token lets one device fetch one firmware image until
// it expires (docs/device-protocol.md, "upgrade"). It is made by the node
// that sends the upgrade command and checked by whichever node serves the
// download, with a key every node derives from the cluster's secret key, so
// nothing is stored. Layout, base64url without padding: device id (8 bytes),
// firmware id (8), expiry in Unix seconds (8), then the first 16 bytes of
// HMAC-SHA256 over those 24 bytes.

const firmwareTokenLen = 24 + 16

// ErrFirmwareToken is every refusal of a download token: malformed, forged,
// for another image, or expired — one answer, so a guesser learns nothing.
var ErrFirmwareToken = errors.New("firmware download token is not valid")

// FirmwareTokenKey derives the token key from the cluster's secret key, so
// that the key sealing secrets at rest is never used for anything else.
func FirmwareTokenKey(secret []byte) []byte {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte("gatehouse firmware download token v1"))
	return m.Sum(nil)
}

// FirmwareToken makes the token that lets device deviceID download
// firmware firmwareID until exp.
func FirmwareToken(key []byte, deviceID, firmwareID int64, exp time.Time) string {
	var b [firmwareTokenLen]byte
	binary.BigEndian.PutUint64(b[0:], uint64(deviceID))
	binary.BigEndian.PutUint64(b[8:], uint64(firmwareID))
	binary.BigEndian.PutUint64(b[16:], uint64(exp.Unix()))
	copy(b[24:], firmwareMAC(key, b[:24]))
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// CheckFirmwareToken returns the device a token was made for, when it is
// genuine, for firmwareID, and not expired at now.
func CheckFirmwareToken(key []byte, token string, firmwareID int64, now time.Time) (deviceID int64, err error) {
	if len(token) != base64.RawURLEncoding.EncodedLen(firmwareTokenLen) {
		return 0, ErrFirmwareToken
	}
	b, err := base64.RawURLEncoding.DecodeString(token)
	if err != nil || len(b) != firmwareTokenLen {
		return 0, ErrFirmwareToken
	}
	if !hmac.Equal(b[24:], firmwareMAC(key, b[:24])) {
		return 0, ErrFirmwareToken
	}
	if int64(binary.BigEndian.Uint64(b[8:])) != firmwareID || now.Unix() >= int64(binary.BigEndian.Uint64(b[16:])) {
		return 0, ErrFirmwareToken
	}
	return int64(binary.BigEndian.Uint64(b[0:])), nil
}

func firmwareMAC(key, msg []byte) []byte {
	m := hmac.New(sha256.New, key)
	m.Write(msg)
	return m.Sum(nil)[:16]
}
