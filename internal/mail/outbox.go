package mail

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"
)

// Outbox writes each message as an .eml file into a directory: the default
// when no SMTP server is configured.
type Outbox struct {
	Dir  string
	From string
	seq  atomic.Int64
}

// NewOutbox returns an outbox writing to dir.
func NewOutbox(dir, from string) *Outbox { return &Outbox{Dir: dir, From: from} }

// Send writes m to a new file.
func (o *Outbox) Send(ctx context.Context, m Message) error {
	if err := os.MkdirAll(o.Dir, 0o750); err != nil {
		return err
	}
	now := time.Now().UTC()
	name := fmt.Sprintf("%s-%04d.eml", now.Format("20060102T150405.000000000"), o.seq.Add(1))
	var b strings.Builder
	fmt.Fprintf(&b, "From: %s\r\nTo: %s\r\nSubject: %s\r\nDate: %s\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n",
		o.From, strings.Join(m.To, ", "), m.Subject, now.Format(time.RFC1123Z))
	if m.ReplyTo != "" {
		fmt.Fprintf(&b, "Reply-To: %s\r\n", m.ReplyTo)
	}
	b.WriteString("\r\n" + strings.ReplaceAll(m.Text, "\n", "\r\n"))
	return os.WriteFile(filepath.Join(o.Dir, name), []byte(b.String()), 0o640)
}
