// Package mail sends Gatehouse's emails: over SMTP when GATEHOUSE_SMTP_* is
// configured, else as .eml files in <data dir>/outbox/. Both write the same
// RFC 5322 message (built with go-mail), so what lands in the outbox is what
// an SMTP server would have received.
package mail

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	gomail "github.com/wneessen/go-mail"
)

// Message is one email.
type Message struct {
	To      []string
	ReplyTo string
	Subject string
	Text    string // plain-text body
}

// Sender delivers messages.
type Sender interface {
	Send(ctx context.Context, m Message) error
}

// DefaultFrom is the sender of mail written to the outbox when no SMTP
// server is configured.
const DefaultFrom = "Gatehouse <noreply@localhost>"

// compose builds the RFC 5322 message of m: UTF-8, quoted-printable body,
// RFC 2047 encoded headers, Date and Message-ID.
func compose(from string, m Message, now time.Time) (*gomail.Msg, error) {
	if len(m.To) == 0 {
		return nil, errors.New("mail: the message has no recipient")
	}
	msg := gomail.NewMsg(gomail.WithNoDefaultUserAgent())
	if err := msg.From(from); err != nil {
		return nil, fmt.Errorf("mail: sender %q: %w", from, err)
	}
	if err := msg.To(m.To...); err != nil {
		return nil, fmt.Errorf("mail: recipient %q: %w", strings.Join(m.To, ", "), err)
	}
	if m.ReplyTo != "" {
		if err := msg.ReplyTo(m.ReplyTo); err != nil {
			return nil, fmt.Errorf("mail: reply-to %q: %w", m.ReplyTo, err)
		}
	}
	msg.Subject(oneLine(m.Subject))
	msg.SetDateWithValue(now)
	msg.SetMessageID()
	msg.SetUserAgent("Gatehouse")
	msg.SetBodyString(gomail.TypeTextPlain, strings.ReplaceAll(m.Text, "\r\n", "\n"))
	return msg, nil
}

// oneLine folds a header value onto one line: a subject never carries a
// line break into the header block.
func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }
