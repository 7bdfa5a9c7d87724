package store

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

func TestSecretsAtRest(t *testing.T) {
	s := &Store{}
	if _, err := s.encryptSecret("x"); err == nil {
		t.Error("encrypted without a key")
	}
	if err := s.SetSecretKey(bytes.Repeat([]byte{1}, 32)); err != nil {
		t.Fatal(err)
	}
	a, _ := s.encryptSecret("cam-pass")
	b, _ := s.encryptSecret("cam-pass")
	if a == b || bytes.Contains([]byte(a), []byte("cam-pass")) {
		t.Errorf("sealed values %q %q", a, b)
	}
	if p, err := s.decryptSecret(a); err != nil || p != "cam-pass" {
		t.Errorf("open: %q %v", p, err)
	}
	other := &Store{}
	other.SetSecretKey(bytes.Repeat([]byte{2}, 32))
	if _, err := other.decryptSecret(a); err == nil {
		t.Error("opened with the wrong key")
	}
	dir := t.TempDir()
	k1, err := LoadOrCreateSecretKey("", dir)
	k2, _ := LoadOrCreateSecretKey("", dir)
	if err != nil || !bytes.Equal(k1, k2) || len(k1) != 32 {
		t.Errorf("key file: %x %x %v", k1, k2, err)
	}
	if fi, _ := os.Stat(filepath.Join(dir, SecretKeyFile)); fi.Mode().Perm() != 0o600 {
		t.Errorf("key file mode %v", fi.Mode())
	}
	if _, err := LoadOrCreateSecretKey("abc", dir); err == nil {
		t.Error("short hex key accepted")
	}
}
