package model

import (
	"net/url"
	"regexp"
	"strings"
	"time"
)

// Firmware is one entry of the firmware catalogue kept by the admin.
type Firmware struct {
	ID        int64     `json:"id"`
	Version   string    `json:"version"`
	Model     string    `json:"model"`
	ChangeLog string    `json:"change_log"`
	FileURL   string    `json:"file_url"`
	Checksum  string    `json:"checksum"`
	Size      int64     `json:"size"`   // bytes; 0 when not known
	Stored    bool      `json:"stored"` // the cloud keeps the image (uploaded), else FileURL is external
	Created   time.Time `json:"created_at"`
}

var (
	versionRE  = regexp.MustCompile(`^[0-9A-Za-z][0-9A-Za-z._+-]{0,63}$`)
	modelRE    = regexp.MustCompile(`^[0-9A-Za-z][0-9A-Za-z ._+-]{0,63}$`)
	checksumRE = regexp.MustCompile(`^(sha256:)?[0-9a-f]{64}$`)
)

// Normalize trims the fields and lower-cases the checksum.
func (f *Firmware) Normalize() {
	f.Version = strings.TrimSpace(f.Version)
	f.Model = strings.TrimSpace(f.Model)
	f.ChangeLog = strings.TrimSpace(f.ChangeLog)
	f.FileURL = strings.TrimSpace(f.FileURL)
	f.Checksum = strings.ToLower(strings.TrimSpace(f.Checksum))
}

// Validate checks a catalogue entry before it is stored: an image the cloud
// keeps (Stored) has no file_url — devices fetch it from the cloud — and one
// registered by URL names its http(s) file_url.
func (f *Firmware) Validate() error {
	var v Validator
	f.validateMeta(&v)
	if f.Stored {
		v.Check(f.FileURL == "", "file_url", "must be empty for an uploaded image")
	} else {
		u, err := url.Parse(f.FileURL)
		v.Check(err == nil && (u.Scheme == "https" || u.Scheme == "http") && u.Host != "", "file_url", "must be an http or https URL")
	}
	v.Check(checksumRE.MatchString(f.Checksum), "checksum", "must be a SHA-256 in hex (64 digits, optionally prefixed sha256:)")
	v.Check(f.Size >= 0, "size", "must be 0 (not known) or the image's length in bytes")
	return v.Err()
}

// ValidateUpload checks what describes an image before its bytes are read:
// version, model, change log, and the sha256 the uploader expects, if any.
func (f *Firmware) ValidateUpload() error {
	var v Validator
	f.validateMeta(&v)
	v.Check(f.Checksum == "" || checksumRE.MatchString(f.Checksum), "sha256", "must be a SHA-256 in hex (64 digits, optionally prefixed sha256:)")
	return v.Err()
}

func (f *Firmware) validateMeta(v *Validator) {
	v.Check(versionRE.MatchString(f.Version), "version", "is required: letters, digits and . _ + -, at most 64")
	v.Check(modelRE.MatchString(f.Model), "model", "is required: letters, digits, spaces and . _ + -, at most 64")
	v.Check(len(f.ChangeLog) <= 10000, "change_log", "must be at most 10,000 characters")
}

// SHA256 is the image's SHA-256 in hex, without the optional "sha256:".
func (f *Firmware) SHA256() string { return strings.TrimPrefix(f.Checksum, "sha256:") }

// FirmwareFilter is the Firmware module's search: by version and model.
type FirmwareFilter struct {
	Version string
	Model   string
	Page
}
