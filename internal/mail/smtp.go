package mail

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/mail"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	gomail "github.com/wneessen/go-mail"
)

// SMTPConfig is where and how mail is sent over SMTP.
type SMTPConfig struct {
	Host               string
	Port               int // 0: 465 with TLS "tls", else 587
	Username, Password string
	From               string // the sender, e.g. "Gatehouse <noreply@example.com>"
	TLS                string // "starttls" (default), "tls" (implicit, port 465) or "none"
}

// TLS modes of SMTPConfig.
const (
	TLSStartTLS = "starttls"
	TLSImplicit = "tls"
	TLSNone     = "none"
)

// sendTimeout bounds one delivery when the caller's context has no deadline.
const sendTimeout = 30 * time.Second

// SMTP delivers mail to an SMTP server (a relay or a mail provider). It
// opens one connection per message and is safe for concurrent use.
type SMTP struct {
	cfg  SMTPConfig
	opts []gomail.Option
}

// NewSMTP checks cfg and returns a sender for it. Errors name the
// GATEHOUSE_SMTP_* variable to fix.
func NewSMTP(cfg SMTPConfig) (*SMTP, error) {
	cfg.Host = strings.TrimSpace(cfg.Host)
	cfg.From = strings.TrimSpace(cfg.From)
	cfg.TLS = strings.ToLower(strings.TrimSpace(cfg.TLS))
	if cfg.TLS == "" {
		cfg.TLS = TLSStartTLS
	}
	if cfg.Port == 0 {
		cfg.Port = 587
		if cfg.TLS == TLSImplicit {
			cfg.Port = 465
		}
	}
	var errs []error
	switch {
	case cfg.Host == "":
		errs = append(errs, errors.New("GATEHOUSE_SMTP_HOST is empty: name the SMTP server"))
	case strings.Contains(cfg.Host, "://") || strings.ContainsAny(cfg.Host, "/ "):
		errs = append(errs, fmt.Errorf("GATEHOUSE_SMTP_HOST=%q must be a host name or address, not a URL", cfg.Host))
	default:
		if _, _, err := net.SplitHostPort(cfg.Host); err == nil {
			errs = append(errs, fmt.Errorf("GATEHOUSE_SMTP_HOST=%q must not hold a port: put the port in GATEHOUSE_SMTP_PORT", cfg.Host))
		}
	}
	if cfg.Port < 1 || cfg.Port > 65535 {
		errs = append(errs, fmt.Errorf("GATEHOUSE_SMTP_PORT=%d is not a port number (1-65535)", cfg.Port))
	}
	if cfg.From == "" {
		errs = append(errs, errors.New("GATEHOUSE_SMTP_FROM is required with SMTP: the sender address, e.g. \"Gatehouse <noreply@example.com>\""))
	} else if _, err := mail.ParseAddress(cfg.From); err != nil {
		errs = append(errs, fmt.Errorf("GATEHOUSE_SMTP_FROM=%q is not an email address such as \"Gatehouse <noreply@example.com>\"", cfg.From))
	}
	if cfg.TLS != TLSStartTLS && cfg.TLS != TLSImplicit && cfg.TLS != TLSNone {
		errs = append(errs, fmt.Errorf("GATEHOUSE_SMTP_TLS=%q must be starttls, tls or none", cfg.TLS))
	}
	if cfg.Password != "" && cfg.Username == "" {
		errs = append(errs, errors.New("GATEHOUSE_SMTP_PASSWORD is set but GATEHOUSE_SMTP_USERNAME is empty"))
	}
	if cfg.Username != "" && cfg.Password == "" {
		errs = append(errs, errors.New("GATEHOUSE_SMTP_USERNAME is set but GATEHOUSE_SMTP_PASSWORD is empty"))
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("mail: %w", errors.Join(errs...))
	}
	opts := []gomail.Option{gomail.WithPort(cfg.Port), gomail.WithTimeout(sendTimeout)}
	switch cfg.TLS {
	case TLSImplicit:
		opts = append(opts, gomail.WithSSL())
	case TLSNone:
		opts = append(opts, gomail.WithTLSPolicy(gomail.NoTLS))
	default:
		opts = append(opts, gomail.WithTLSPolicy(gomail.TLSMandatory))
	}
	if cfg.Username != "" {
		auth := gomail.SMTPAuthAutoDiscover
		if cfg.TLS == TLSNone {
			// The operator chose a plain connection (a relay on a trusted
			// network): PLAIN is the mechanism such relays offer.
			auth = gomail.SMTPAuthPlainNoEnc
		}
		opts = append(opts, gomail.WithSMTPAuth(auth), gomail.WithUsername(cfg.Username), gomail.WithPassword(cfg.Password))
	}
	if _, err := gomail.NewClient(cfg.Host, opts...); err != nil {
		return nil, fmt.Errorf("mail: GATEHOUSE_SMTP_*: %w", err)
	}
	return &SMTP{cfg: cfg, opts: opts}, nil
}

// Config is the checked configuration, defaults filled in.
func (s *SMTP) Config() SMTPConfig { return s.cfg }

// String describes the sender for the log (never the password).
func (s *SMTP) String() string {
	d := fmt.Sprintf("SMTP %s (TLS %s) from %s", net.JoinHostPort(s.cfg.Host, strconv.Itoa(s.cfg.Port)), s.cfg.TLS, s.cfg.From)
	if s.cfg.Username != "" {
		d += " as " + s.cfg.Username
	}
	return d
}

// Send delivers m over one SMTP connection.
func (s *SMTP) Send(ctx context.Context, m Message) error {
	msg, err := compose(s.cfg.From, m, time.Now())
	if err != nil {
		return err
	}
	c, err := gomail.NewClient(s.cfg.Host, s.opts...)
	if err != nil {
		return fmt.Errorf("mail: %w", err)
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, sendTimeout)
		defer cancel()
	}
	if err := c.DialAndSendWithContext(ctx, msg); err != nil {
		return fmt.Errorf("mail: send to %s via %s: %w", strings.Join(m.To, ", "), net.JoinHostPort(s.cfg.Host, strconv.Itoa(s.cfg.Port)), err)
	}
	return nil
}

// SMTP environment variables, read by FromEnv.
const (
	EnvSMTPHost     = "GATEHOUSE_SMTP_HOST"
	EnvSMTPPort     = "GATEHOUSE_SMTP_PORT"
	EnvSMTPUsername = "GATEHOUSE_SMTP_USERNAME"
	EnvSMTPPassword = "GATEHOUSE_SMTP_PASSWORD"
	EnvSMTPFrom     = "GATEHOUSE_SMTP_FROM"
	EnvSMTPTLS      = "GATEHOUSE_SMTP_TLS"
)

// EnvHelp describes the GATEHOUSE_SMTP_* variables, for `serve -h`.
const EnvHelp = `Mail (environment only):
  GATEHOUSE_SMTP_HOST      SMTP server; unset: each mail is written as an .eml file to <data>/outbox/
  GATEHOUSE_SMTP_PORT      port (default 587; 465 with GATEHOUSE_SMTP_TLS=tls)
  GATEHOUSE_SMTP_USERNAME  user name for SMTP AUTH (with GATEHOUSE_SMTP_PASSWORD)
  GATEHOUSE_SMTP_PASSWORD  password for SMTP AUTH
  GATEHOUSE_SMTP_FROM      sender address, required with SMTP, e.g. "Gatehouse <noreply@example.com>"
  GATEHOUSE_SMTP_TLS       starttls (default), tls (implicit TLS) or none`

// FromEnv chooses the mail sender from the environment: SMTP when
// GATEHOUSE_SMTP_HOST is set, else an outbox in <dataDir>/outbox. It also
// returns a description for the log.
func FromEnv(getenv func(string) string, dataDir string) (Sender, string, error) {
	host := strings.TrimSpace(getenv(EnvSMTPHost))
	if host == "" {
		for _, k := range []string{EnvSMTPPort, EnvSMTPUsername, EnvSMTPPassword, EnvSMTPFrom, EnvSMTPTLS} {
			if strings.TrimSpace(getenv(k)) != "" {
				return nil, "", fmt.Errorf("mail: %s is set but %s is empty: set the host to send mail over SMTP, or unset %s to write mail to the outbox", k, EnvSMTPHost, k)
			}
		}
		o := NewOutbox(filepath.Join(dataDir, "outbox"), DefaultFrom)
		return o, o.String() + " (no " + EnvSMTPHost + ")", nil
	}
	cfg := SMTPConfig{Host: host, Username: getenv(EnvSMTPUsername), Password: getenv(EnvSMTPPassword),
		From: getenv(EnvSMTPFrom), TLS: getenv(EnvSMTPTLS)}
	if p := strings.TrimSpace(getenv(EnvSMTPPort)); p != "" {
		n, err := strconv.Atoi(p)
		if err != nil || n < 1 || n > 65535 {
			return nil, "", fmt.Errorf("mail: %s=%q is not a port number (1-65535)", EnvSMTPPort, p)
		}
		cfg.Port = n
	}
	s, err := NewSMTP(cfg)
	if err != nil {
		return nil, "", err
	}
	return s, s.String(), nil
}
