package mail_test

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/mail"
	"github.com/gatehouse-dev/gatehouse/internal/mail/mailtest"
)

func TestSMTPRoundTrip(t *testing.T) {
	srv := mailtest.Start(t)
	s, err := mail.NewSMTP(srv.Config())
	if err != nil {
		t.Fatal(err)
	}
	text := "Здравствуйте!\n\nСсылка: https://gh.example/p/абв?x=1&y=2\nA long line " + strings.Repeat("word ", 40) + "\n.\nA line that is only a dot, above.\n"
	m := mail.Message{To: []string{"fitter@example.com"}, ReplyTo: "installer@example.org", Subject: "Ваш аккаунт", Text: text}
	if err := s.Send(context.Background(), m); err != nil {
		t.Fatal(err)
	}
	got := srv.Wait(t, 1, 5*time.Second)[0]
	if got.Subject != "Ваш аккаунт" {
		t.Errorf("subject %q", got.Subject)
	}
	if raw := string(got.Raw); strings.Contains(strings.SplitN(raw, "\r\n\r\n", 2)[0], "Ваш") {
		t.Errorf("the non-ASCII subject is not RFC 2047 encoded in the header block:\n%s", raw)
	}
	if got.Text != text {
		t.Errorf("body changed in transit:\n got %q\nwant %q", got.Text, text)
	}
	if !slices.Equal(got.To, []string{"fitter@example.com"}) || !slices.Equal(got.Rcpt, []string{"fitter@example.com"}) {
		t.Errorf("to %q, rcpt %q", got.To, got.Rcpt)
	}
	if got.ReplyTo != "installer@example.org" || got.MailFrom != "noreply@gatehouse.test" || !strings.Contains(got.From, "Gatehouse") {
		t.Errorf("reply-to %q, mail from %q, from %q", got.ReplyTo, got.MailFrom, got.From)
	}
	for _, h := range []string{"Date", "Message-Id", "Mime-Version"} {
		if got.Header.Get(h) == "" {
			t.Errorf("no %s header", h)
		}
	}
	if d, err := got.Header.Date(); err != nil || time.Since(d) > time.Minute {
		t.Errorf("Date header %v %v", d, err)
	}
}

func TestSMTPAuthAndFailures(t *testing.T) {
	srv := mailtest.Start(t, mailtest.WithAuth("relay-user", "relay-secret"))
	good := srv.Config()
	s, err := mail.NewSMTP(good)
	if err != nil {
		t.Fatal(err)
	}
	msg := mail.Message{To: []string{"a@example.com"}, Subject: "hello", Text: "hi"}
	if err := s.Send(context.Background(), msg); err != nil {
		t.Fatalf("send with the right credentials: %v", err)
	}
	srv.Wait(t, 1, 5*time.Second)

	bad := good
	bad.Password = "wrong"
	sb, err := mail.NewSMTP(bad)
	if err != nil {
		t.Fatal(err)
	}
	if err := sb.Send(context.Background(), msg); err == nil {
		t.Error("wrong password: sent anyway")
	}
	srv.Reject(true)
	if err := s.Send(context.Background(), msg); err == nil || !strings.Contains(err.Error(), "a@example.com") {
		t.Errorf("a refused message: %v", err)
	}
	srv.Reject(false)
	if n := len(srv.Messages()); n != 1 {
		t.Errorf("%d messages arrived, want 1", n)
	}

	// Nobody listens: a clear error, not a hang.
	closed := good
	closed.Port = 1
	sc, _ := mail.NewSMTP(closed)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := sc.Send(ctx, msg); err == nil {
		t.Error("send to a closed port succeeded")
	}
	if err := s.Send(context.Background(), mail.Message{Subject: "nobody"}); err == nil {
		t.Error("a message without a recipient was accepted")
	}
}

func TestSMTPConfigErrorsNameTheVariable(t *testing.T) {
	ok := mail.SMTPConfig{Host: "smtp.example.com", From: "Gatehouse <noreply@example.com>"}
	s, err := mail.NewSMTP(ok)
	if err != nil {
		t.Fatal(err)
	}
	if c := s.Config(); c.Port != 587 || c.TLS != "starttls" {
		t.Errorf("defaults: %+v", c)
	}
	tls := ok
	tls.TLS = "TLS"
	if s, err := mail.NewSMTP(tls); err != nil || s.Config().Port != 465 {
		t.Errorf("implicit TLS default port: %v %v", s, err)
	}
	for _, c := range []struct {
		mod  func(*mail.SMTPConfig)
		want string
	}{
		{func(c *mail.SMTPConfig) { c.Host = "" }, "GATEHOUSE_SMTP_HOST"},
		{func(c *mail.SMTPConfig) { c.Host = "smtp.example.com:25" }, "GATEHOUSE_SMTP_PORT"},
		{func(c *mail.SMTPConfig) { c.Host = "smtp://smtp.example.com" }, "GATEHOUSE_SMTP_HOST"},
		{func(c *mail.SMTPConfig) { c.Port = 70000 }, "GATEHOUSE_SMTP_PORT"},
		{func(c *mail.SMTPConfig) { c.From = "" }, "GATEHOUSE_SMTP_FROM"},
		{func(c *mail.SMTPConfig) { c.From = "not an address" }, "GATEHOUSE_SMTP_FROM"},
		{func(c *mail.SMTPConfig) { c.TLS = "ssl3" }, "GATEHOUSE_SMTP_TLS"},
		{func(c *mail.SMTPConfig) { c.Password = "p" }, "GATEHOUSE_SMTP_USERNAME"},
		{func(c *mail.SMTPConfig) { c.Username = "u" }, "GATEHOUSE_SMTP_PASSWORD"},
	} {
		cfg := ok
		c.mod(&cfg)
		if _, err := mail.NewSMTP(cfg); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: %v, want an error naming %s", cfg, err, c.want)
		}
	}
}

func env(kv map[string]string) func(string) string { return func(k string) string { return kv[k] } }

func TestFromEnv(t *testing.T) {
	data := t.TempDir()
	s, desc, err := mail.FromEnv(env(nil), data)
	if err != nil {
		t.Fatal(err)
	}
	o, ok := s.(*mail.Outbox)
	if !ok || o.Dir != filepath.Join(data, "outbox") || o.From != mail.DefaultFrom || !strings.Contains(desc, "outbox") {
		t.Fatalf("no SMTP host: %T %+v %q", s, s, desc)
	}
	if _, _, err := mail.FromEnv(env(map[string]string{"GATEHOUSE_SMTP_FROM": "a@example.com"}), data); err == nil ||
		!strings.Contains(err.Error(), "GATEHOUSE_SMTP_HOST") {
		t.Errorf("FROM without HOST: %v", err)
	}
	if _, _, err := mail.FromEnv(env(map[string]string{"GATEHOUSE_SMTP_HOST": "mx.example.com"}), data); err == nil ||
		!strings.Contains(err.Error(), "GATEHOUSE_SMTP_FROM") {
		t.Errorf("HOST without FROM: %v", err)
	}
	if _, _, err := mail.FromEnv(env(map[string]string{"GATEHOUSE_SMTP_HOST": "mx.example.com", "GATEHOUSE_SMTP_FROM": "a@example.com",
		"GATEHOUSE_SMTP_PORT": "smtp"}), data); err == nil || !strings.Contains(err.Error(), "GATEHOUSE_SMTP_PORT") {
		t.Errorf("bad port: %v", err)
	}

	// The variables drive a real delivery.
	srv := mailtest.Start(t, mailtest.WithAuth("u1", "p1"))
	cfg := srv.Config()
	s, desc, err = mail.FromEnv(env(map[string]string{"GATEHOUSE_SMTP_HOST": cfg.Host, "GATEHOUSE_SMTP_PORT": strconv.Itoa(cfg.Port),
		"GATEHOUSE_SMTP_USERNAME": "u1", "GATEHOUSE_SMTP_PASSWORD": "p1", "GATEHOUSE_SMTP_FROM": "Acme <mail@acme.example>",
		"GATEHOUSE_SMTP_TLS": "none"}), data)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(desc, "p1") || !strings.Contains(desc, cfg.Host) {
		t.Errorf("description %q", desc)
	}
	if err := s.Send(context.Background(), mail.Message{To: []string{"x@example.com"}, Subject: "via env", Text: "ok"}); err != nil {
		t.Fatal(err)
	}
	if got := srv.Wait(t, 1, 5*time.Second)[0]; got.MailFrom != "mail@acme.example" || got.Subject != "via env" {
		t.Errorf("received %+v", got)
	}
}

func TestOutbox(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "outbox")
	o := mail.NewOutbox(dir, mail.DefaultFrom)
	ctx := context.Background()
	const n = 25
	for i := 0; i < n; i++ {
		m := mail.InstallerWelcome("ru", mail.LinkMail{Account: "fitter-" + strconv.Itoa(i), Link: "https://gh.example/l/" + strconv.Itoa(i)})
		m.To = []string{"fitter@example.com"}
		m.ReplyTo = "sub@example.com"
		if err := o.Send(ctx, m); err != nil {
			t.Fatal(err)
		}
	}
	names := emlFiles(t, dir)
	if len(names) != n {
		t.Fatalf("%d files, want %d", len(names), n)
	}
	// Sorted names are in sending order, and every file is a message.
	for i, name := range names {
		raw, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		got, err := mailtest.Parse(raw)
		if err != nil {
			t.Fatalf("%s is not a message: %v\n%s", name, err, raw)
		}
		want := "Ваш аккаунт монтажника Gatehouse fitter-" + strconv.Itoa(i)
		if got.Subject != want || !strings.Contains(got.Text, "https://gh.example/l/"+strconv.Itoa(i)+"\n") {
			t.Errorf("%s: subject %q (want %q), text %q", name, got.Subject, want, got.Text)
		}
		if got.ReplyTo != "sub@example.com" || !slices.Equal(got.To, []string{"fitter@example.com"}) || got.Header.Get("Message-Id") == "" {
			t.Errorf("%s: headers %v", name, got.Header)
		}
		if strings.Contains(strings.SplitN(string(raw), "\r\n\r\n", 2)[0], "Ваш") {
			t.Errorf("%s: raw non-ASCII subject", name)
		}
	}
	// Concurrent senders never overwrite each other.
	var wg sync.WaitGroup
	for i := 0; i < 40; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := o.Send(ctx, mail.Message{To: []string{"a@example.com"}, Subject: "c", Text: "c"}); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if got := len(emlFiles(t, dir)); got != n+40 {
		t.Errorf("%d files after concurrent sends, want %d", got, n+40)
	}
	all, _ := os.ReadDir(dir)
	if len(all) != n+40 {
		t.Errorf("the outbox holds %d entries, want only the %d messages (no temporary files)", len(all), n+40)
	}
}

func emlFiles(t *testing.T, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range ents {
		if strings.HasSuffix(e.Name(), ".eml") && !strings.HasPrefix(e.Name(), ".") {
			names = append(names, e.Name())
		}
	}
	sort.Strings(names)
	return names
}
