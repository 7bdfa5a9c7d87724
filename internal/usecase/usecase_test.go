package usecase

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/mail"
	"github.com/gatehouse-dev/gatehouse/internal/mail/mailtest"
	"github.com/gatehouse-dev/gatehouse/internal/model"
	"github.com/gatehouse-dev/gatehouse/internal/store"
	"github.com/gatehouse-dev/gatehouse/internal/testutil"
)

// testCases is one use-case layer over a real store of one back end, sending
// mail to a real SMTP server in process; log holds what it logged.
type testCases struct {
	*Cases
	store *store.Store
	smtp  *mailtest.Server
	log   *bytes.Buffer
}

// newTestCases builds the use cases on backend ("sqlite" or "postgres").
// Each test module adds what else it needs (providers, gateway) to Deps
// through opts.
func newTestCases(t *testing.T, backend string, opts ...func(*Deps)) *testCases {
	t.Helper()
	st := testutil.NewStore(t, backend)
	srv := mailtest.Start(t)
	sender, err := mail.NewSMTP(srv.Config())
	if err != nil {
		t.Fatal(err)
	}
	var logged bytes.Buffer
	d := Deps{Store: st, Mail: sender, Log: slog.New(slog.NewTextHandler(&logged, nil)), PublicURL: "https://portal.example"}
	for _, o := range opts {
		o(&d)
	}
	return &testCases{Cases: New(d), store: st, smtp: srv, log: &logged}
}

// forEachBackend runs fn as a subtest on SQLite and, when configured, PostgreSQL.
func forEachBackend(t *testing.T, fn func(t *testing.T, backend string)) {
	for _, b := range testutil.Backends(t) {
		t.Run(b, func(t *testing.T) { fn(t, b) })
	}
}

func TestInternalErrorsHideTheirCause(t *testing.T) {
	var logged bytes.Buffer
	c := New(Deps{Log: slog.New(slog.NewTextHandler(&logged, nil))})
	cause := errors.New("554 5.7.1 relay access denied for secret-host.internal")
	err := c.internal(context.Background(), "sending the email", cause)
	if model.ErrorCode(err) != model.EINTERNAL {
		t.Fatalf("code = %q, want internal", model.ErrorCode(err))
	}
	msg := model.ErrorMessage(err)
	if strings.Contains(msg, "relay") || strings.Contains(msg, "secret-host") || !strings.HasPrefix(msg, "Sending the email failed") {
		t.Errorf("message shown to the user = %q: it must name the step, not the cause", msg)
	}
	if !strings.Contains(logged.String(), "secret-host.internal") {
		t.Errorf("the cause was not logged: %q", logged.String())
	}
	// A model error was written for users: it passes through as it is.
	in := model.Invalid("email", "is not an email address")
	if got := c.internal(context.Background(), "x", in); got != in {
		t.Errorf("a model error was replaced: %v", got)
	}
	if c.internal(context.Background(), "x", nil) != nil {
		t.Error("nil became an error")
	}
}
