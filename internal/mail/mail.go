// Package mail sends Gatehouse's emails: over SMTP when GATEHOUSE_SMTP_* is
// configured, else as .eml files in <data dir>/outbox/.
package mail

import "context"

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
