package store

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/gatehouse-dev/gatehouse/internal/deviceauth"
)

// Secrets such as camera passwords are stored encrypted with AES-256-GCM
// under a key that is not in the database: GATEHOUSE_SECRET_KEY, or a key
// file in the data directory made on first start. Every node of a cluster
// must share the key.

// SecretKeyFile is the key file's name inside the data directory.
const SecretKeyFile = "secret.key"

// LoadOrCreateSecretKey returns the key from hexKey when set, else from the
// key file in dataDir, creating the file with a new random key if missing.
func LoadOrCreateSecretKey(hexKey, dataDir string) ([]byte, error) {
	if hexKey != "" {
		k, err := hex.DecodeString(strings.TrimSpace(hexKey))
		if err != nil || len(k) != 32 {
			return nil, errors.New("GATEHOUSE_SECRET_KEY must be 64 hex digits (32 bytes)")
		}
		return k, nil
	}
	path := filepath.Join(dataDir, SecretKeyFile)
	if b, err := os.ReadFile(path); err == nil {
		k, err := hex.DecodeString(strings.TrimSpace(string(b)))
		if err != nil || len(k) != 32 {
			return nil, fmt.Errorf("%s does not hold a 64-hex-digit key", path)
		}
		return k, nil
	} else if !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	k := make([]byte, 32)
	if _, err := rand.Read(k); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dataDir, 0o750); err != nil {
		return nil, err
	}
	// O_EXCL: two processes starting at once must not write different keys.
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, os.ErrExist) {
		return LoadOrCreateSecretKey("", dataDir)
	} else if err != nil {
		return nil, err
	}
	defer f.Close()
	if _, err := f.WriteString(hex.EncodeToString(k) + "\n"); err != nil {
		return nil, err
	}
	return k, nil
}

// SetSecretKey sets the key that encrypts secrets at rest.
func (s *Store) SetSecretKey(key []byte) error {
	block, err := aes.NewCipher(key)
	if err != nil {
		return err
	}
	s.aead, err = cipher.NewGCM(block)
	s.fwTokenKey = deviceauth.FirmwareTokenKey(key)
	return err
}

var errNoKey = errors.New("store: no secret key set")

// encryptSecret seals plain text; the empty string stays empty.
func (s *Store) encryptSecret(plain string) (string, error) {
	if plain == "" {
		return "", nil
	}
	if s.aead == nil {
		return "", errNoKey
	}
	nonce := make([]byte, s.aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return "", err
	}
	return "v1:" + base64.StdEncoding.EncodeToString(s.aead.Seal(nonce, nonce, []byte(plain), nil)), nil
}

// decryptSecret opens a value sealed by encryptSecret.
func (s *Store) decryptSecret(sealed string) (string, error) {
	if sealed == "" {
		return "", nil
	}
	if s.aead == nil {
		return "", errNoKey
	}
	raw, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(sealed, "v1:"))
	if err != nil || len(raw) < s.aead.NonceSize() {
		return "", errors.New("store: malformed secret")
	}
	n := s.aead.NonceSize()
	plain, err := s.aead.Open(nil, raw[:n], raw[n:], nil)
	if err != nil {
		return "", errors.New("store: secret does not open with this key")
	}
	return string(plain), nil
}

// EncryptSecret seals a secret for the demo loader's bulk rows.
func (s *Store) EncryptSecret(plain string) (string, error) { return s.encryptSecret(plain) }

// FirmwareTokenKey is the key of firmware download tokens
// (deviceauth.FirmwareToken), derived from the secret key so that every
// node of a cluster makes and checks the same tokens; nil before
// SetSecretKey.
func (s *Store) FirmwareTokenKey() []byte { return s.fwTokenKey }
