package usecase

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"os"

	"github.com/gatehouse-dev/gatehouse/internal/model"
	"github.com/gatehouse-dev/gatehouse/internal/store"
)

// DefaultFirmwareMaxBytes bounds an uploaded firmware image unless the node
// is told otherwise (serve --firmware-max-bytes).
const DefaultFirmwareMaxBytes = 512 << 20

// FirmwareMaxBytes is this node's bound of an uploaded image.
func (c *Cases) FirmwareMaxBytes() int64 { return c.fwMax }

// UploadFirmware adds a catalogue entry with its image, read from image
// (the admin only). The image is first spooled to a file of the node's
// firmware directory — its sha256 and size computed, the size limit
// enforced as it arrives — and only then copied into the database in one
// transaction: SQLite has one writer, and a transaction held open while a
// slow upload trickles in would stall every other write. An image over the
// limit (ETOOLARGE naming it) or not matching the sha256 given in
// f.Checksum (EINVALID, field sha256) leaves nothing behind.
func (c *Cases) UploadFirmware(ctx context.Context, f *model.Firmware, image io.Reader) error {
	act := model.ActorFrom(ctx)
	if act == nil || act.Role != model.RoleAdmin {
		return model.Errorf(model.EFORBIDDEN, "Only the admin adds firmware.")
	}
	// What describes the image is checked before a byte of it is read.
	f.Normalize()
	if err := f.ValidateUpload(); err != nil {
		return err
	}
	spool, err := c.spoolFirmware(image, f.SHA256())
	if spool != nil {
		defer func() {
			spool.Close()
			os.Remove(spool.Name())
		}()
	}
	if err != nil {
		return c.internal(ctx, "receiving the firmware image", err)
	}
	return c.internal(ctx, "storing the firmware image", c.store.CreateFirmwareImage(ctx, f, spool, c.fwMax))
}

// spoolFirmware copies image into a new temporary file, refusing it when it
// is over the size limit or its sha256 is not want (when want is set), and
// returns the file rewound (the caller removes it, also on error).
func (c *Cases) spoolFirmware(image io.Reader, want string) (*os.File, error) {
	dir := c.fwDir
	if dir == "" {
		dir = os.TempDir()
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	spool, err := os.CreateTemp(dir, ".upload-*")
	if err != nil {
		return nil, err
	}
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(spool, h), io.LimitReader(image, c.fwMax+1))
	var me *model.Error
	switch {
	case errors.As(err, &me):
		return spool, me // the caller's reader knew better (a bound of its own)
	case err != nil && !isWriteError(err, spool):
		return spool, model.Invalid("file", "could not be read to its end (the upload broke off?)")
	case err != nil:
		return spool, err // the disk: logged, not shown
	case n > c.fwMax:
		return spool, store.FirmwareTooLarge(c.fwMax)
	case n == 0:
		return spool, model.Invalid("file", "is empty")
	}
	if got := hex.EncodeToString(h.Sum(nil)); want != "" && got != want {
		return spool, model.Invalid("sha256", "does not match the image: its SHA-256 is %s", got)
	}
	if _, err := spool.Seek(0, io.SeekStart); err != nil {
		return spool, err
	}
	return spool, nil
}

// isWriteError tells a failed write of the spool file (the node's disk)
// from a failed read of the upload: the *os.PathError names the file.
func isWriteError(err error, f *os.File) bool {
	var pe *os.PathError
	return errors.As(err, &pe) && pe.Path == f.Name()
}
