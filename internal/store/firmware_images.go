package store

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"

	"github.com/gatehouse-dev/gatehouse/internal/model"
)

// Firmware images the cloud keeps live in the database, in chunks
// (firmware_chunks), so that every node can serve every image: a node
// copies an image into its own cache file on its first download of it
// (internal/fwimage) and checks it against the sha256.

// FirmwareChunkSize is the size of one stored chunk of an image: big enough
// that a 512 MiB image is 512 rows, small enough for one row to be cheap to
// hold in memory on both engines.
const FirmwareChunkSize = 1 << 20

// CreateFirmwareImage adds a catalogue entry with its image (admin only),
// in one transaction: the row, then the image read from image in chunks,
// its sha256 and size computed on the way. f.Checksum, when set, is the
// sha256 the uploader expects: another one is refused (EINVALID, field
// sha256) and nothing is kept; so is an image of more than maxBytes
// (ETOOLARGE, field file). On success f holds the id, size and checksum.
func (s *Store) CreateFirmwareImage(ctx context.Context, f *model.Firmware, image io.Reader, maxBytes int64) error {
	act, err := actor(ctx)
	if err != nil {
		return err
	}
	if act.Role != model.RoleAdmin {
		return model.Errorf(model.EFORBIDDEN, "Only the admin adds firmware.")
	}
	f.Normalize()
	f.FileURL, f.Stored, f.Size = "", true, 0
	if err := f.ValidateUpload(); err != nil {
		return err
	}
	want := f.SHA256()
	return s.inTx(ctx, func(tx *Tx) error {
		// The row first: a clash of version and model is refused before
		// any byte of the image is read.
		f.Checksum = want
		if err := insertFirmware(ctx, s, tx, f); err != nil {
			return err
		}
		h := sha256.New()
		buf := make([]byte, FirmwareChunkSize)
		var size int64
		for seq := 0; ; seq++ {
			n, err := io.ReadFull(image, buf)
			if n > 0 {
				if size += int64(n); size > maxBytes {
					return FirmwareTooLarge(maxBytes)
				}
				h.Write(buf[:n])
				if _, err := tx.exec(ctx, `INSERT INTO firmware_chunks (firmware_id, seq, data) VALUES (?,?,?)`, f.ID, seq, buf[:n]); err != nil {
					return err
				}
			}
			if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
				break
			} else if err != nil {
				return firmwareReadError(err)
			}
		}
		if size == 0 {
			return model.Invalid("file", "is empty")
		}
		got := hex.EncodeToString(h.Sum(nil))
		if want != "" && got != want {
			return model.Invalid("sha256", "does not match the image: its SHA-256 is %s", got)
		}
		f.Checksum, f.Size = got, size
		if _, err := tx.exec(ctx, `UPDATE firmware SET checksum = ?, size = ? WHERE id = ?`, f.Checksum, f.Size, f.ID); err != nil {
			return err
		}
		return s.audit(ctx, tx, "firmware.upload", "firmware", f.ID,
			map[string]any{"version": f.Version, "model": f.Model, "size": f.Size, "sha256": f.Checksum})
	})
}

// FirmwareTooLarge is the refusal of an image over the size limit.
func FirmwareTooLarge(maxBytes int64) error {
	return model.TooLarge("file", "is larger than the limit of %s (%d bytes)", humanBytes(maxBytes), maxBytes)
}

// firmwareReadError keeps a size limit's error (a body bounded by
// http.MaxBytesReader, or a model error from a reader of the caller's) and
// names the file for the rest: an upload that broke off.
func firmwareReadError(err error) error {
	var me *model.Error
	if errors.As(err, &me) {
		return me
	}
	return model.Invalid("file", "could not be read to its end (the upload broke off?)")
}

func humanBytes(n int64) string {
	switch {
	case n >= 1<<30 && n%(1<<30) == 0:
		return fmt.Sprintf("%d GiB", n>>30)
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%d MiB", n>>20)
	case n >= 1<<10 && n%(1<<10) == 0:
		return fmt.Sprintf("%d KiB", n>>10)
	}
	return fmt.Sprintf("%d bytes", n)
}

// FirmwareImage is what the download endpoint needs of a catalogue entry.
// (System side: the device's download token is the credential.)
func (s *Store) FirmwareImage(ctx context.Context, id int64) (*model.Firmware, error) {
	f, err := scanFirmware(s.queryRow(ctx, `SELECT `+firmwareCols+` FROM firmware WHERE id = ?`, id))
	if isNoRows(err) {
		return nil, model.NotFound("firmware")
	}
	return f, err
}

// CopyFirmwareImage writes the stored image of firmware id to w, one chunk
// at a time, and returns how many bytes it wrote; ENOTFOUND when no image is
// stored for id. The caller checks the bytes against the sha256. (System
// side: a node filling its cache.)
func (s *Store) CopyFirmwareImage(ctx context.Context, id int64, w io.Writer) (int64, error) {
	var written int64
	for seq := 0; ; seq++ {
		var data []byte
		err := s.queryRow(ctx, `SELECT data FROM firmware_chunks WHERE firmware_id = ? AND seq = ?`, id, seq).Scan(&data)
		if isNoRows(err) {
			if seq == 0 {
				return 0, model.NotFound("firmware image")
			}
			return written, nil
		} else if err != nil {
			return written, err
		}
		n, err := w.Write(data)
		written += int64(n)
		if err != nil {
			return written, err
		}
	}
}
