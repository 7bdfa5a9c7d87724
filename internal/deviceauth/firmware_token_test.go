package deviceauth_test

import (
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/deviceauth"
)

func TestFirmwareToken(t *testing.T) {
	key := deviceauth.FirmwareTokenKey([]byte("0123456789abcdef0123456789abcdef"))
	now := time.Unix(1_800_000_000, 0)
	tok := deviceauth.FirmwareToken(key, 42, 7, now.Add(time.Hour))
	if id, err := deviceauth.CheckFirmwareToken(key, tok, 7, now); err != nil || id != 42 {
		t.Fatalf("genuine token: device %d, %v; want 42, nil", id, err)
	}
	other := deviceauth.FirmwareTokenKey([]byte("another cluster's secret key....."))
	flip := []byte(tok)
	flip[3] ^= 1
	for name, c := range map[string]struct {
		key   []byte
		token string
		fw    int64
		at    time.Time
	}{
		"other image":    {key, tok, 8, now},
		"expired":        {key, tok, 7, now.Add(time.Hour)},
		"other key":      {other, tok, 7, now},
		"altered":        {key, string(flip), 7, now},
		"truncated":      {key, tok[:len(tok)-1], 7, now},
		"empty":          {key, "", 7, now},
		"not base64url":  {key, strings.Repeat("*", len(tok)), 7, now},
		"padded":         {key, tok + "=", 7, now},
		"device id swap": {key, deviceauth.FirmwareToken(other, 43, 7, now.Add(time.Hour)), 7, now},
	} {
		if id, err := deviceauth.CheckFirmwareToken(c.key, c.token, c.fw, c.at); err == nil {
			t.Errorf("%s: accepted (device %d), want refused", name, id)
		}
	}
}

func FuzzCheckFirmwareToken(f *testing.F) {
	key := deviceauth.FirmwareTokenKey([]byte("k"))
	f.Add(deviceauth.FirmwareToken(key, 1, 1, time.Unix(2_000_000_000, 0)))
	f.Add("")
	f.Fuzz(func(t *testing.T, token string) {
		id, err := deviceauth.CheckFirmwareToken(key, token, 1, time.Unix(1_900_000_000, 0))
		if err == nil && token != deviceauth.FirmwareToken(key, id, 1, time.Unix(2_000_000_000, 0)) {
			t.Fatalf("accepted a token that is not one we made: %q", token)
		}
	})
}
