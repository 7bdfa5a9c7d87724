package mail

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"sync/atomic"
	"time"
)

// Outbox writes each message as an .eml file into a directory: the default
// when no SMTP server is configured. File names start with the UTC time to
// the nanosecond and a sequence number, so they sort in sending order; a
// random suffix keeps them unique across processes sharing the directory.
// A file appears whole or not at all (written aside, then renamed).
type Outbox struct {
	Dir  string
	From string
	seq  atomic.Int64
}

// NewOutbox returns an outbox writing to dir.
func NewOutbox(dir, from string) *Outbox { return &Outbox{Dir: dir, From: from} }

// String describes the outbox for the log.
func (o *Outbox) String() string { return "outbox " + o.Dir }

// Send writes m to a new file.
func (o *Outbox) Send(ctx context.Context, m Message) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	now := time.Now().UTC()
	msg, err := compose(o.From, m, now)
	if err != nil {
		return err
	}
	var buf bytes.Buffer
	if _, err := msg.WriteTo(&buf); err != nil {
		return fmt.Errorf("mail: render message: %w", err)
	}
	if err := os.MkdirAll(o.Dir, 0o750); err != nil {
		return fmt.Errorf("mail: outbox: %w", err)
	}
	var rnd [4]byte
	if _, err := rand.Read(rnd[:]); err != nil {
		return err
	}
	name := fmt.Sprintf("%s-%06d-%s.eml", now.Format("20060102T150405.000000000Z"), o.seq.Add(1), hex.EncodeToString(rnd[:]))
	tmp, err := os.CreateTemp(o.Dir, ".writing-*.eml")
	if err != nil {
		return fmt.Errorf("mail: outbox: %w", err)
	}
	_, werr := tmp.Write(buf.Bytes())
	if cerr := tmp.Close(); werr == nil {
		werr = cerr
	}
	if werr == nil {
		werr = os.Chmod(tmp.Name(), 0o640)
	}
	if werr == nil {
		werr = os.Rename(tmp.Name(), filepath.Join(o.Dir, name))
	}
	if werr != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("mail: outbox: %w", werr)
	}
	return nil
}
