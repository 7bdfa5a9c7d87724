package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/billing/sandbox"
)

const sandboxHelp = `sandbox [--addr HOST:PORT] [--gatehouse URL] [--stripe-mock auto|off|URL] [--env FILE]

Runs the payment sandbox of "make run PAYMENTS=sandbox": the in-repo PayPal fake
and, when stripe-mock is installed, a front of stripe-mock with a Stripe
Checkout page of its own, so the demo's orders can be paid by Stripe and
PayPal end to end without any account. It prints (and with --env writes, one
NAME=value a line) the environment "gatehouse serve" needs to use them.`

func runSandbox(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := newFlagSet("sandbox", stderr, sandboxHelp)
	addr := fs.String("addr", "127.0.0.1:8070", "listen address of the sandbox")
	gh := fs.String("gatehouse", "http://127.0.0.1:8080", "Gatehouse's address, where the Stripe webhooks go")
	mock := fs.String("stripe-mock", "auto", "auto: start stripe-mock when installed; off: PayPal only; or stripe-mock's URL")
	envFile := fs.String("env", "", "also write the environment of gatehouse serve to this file")
	if err := fs.Parse(args); err != nil {
		return err
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return err
	}
	defer ln.Close()
	cfg := sandbox.Config{URL: "http://" + ln.Addr().String(), Gatehouse: *gh}
	switch *mock {
	case "off", "":
	case "auto":
		base, stop, err := sandbox.StartStripeMock(ctx)
		if errors.Is(err, sandbox.ErrNoStripeMock) {
			fmt.Fprintln(stderr, "sandbox: Stripe left out:", err)
		} else if err != nil {
			return err
		} else {
			defer stop()
			cfg.StripeMock = base
		}
	default:
		cfg.StripeMock = *mock
	}
	sb, err := sandbox.New(cfg)
	if err != nil {
		return err
	}
	env := sb.Env()
	if *envFile != "" {
		if err := os.WriteFile(*envFile, []byte(strings.Join(env, "\n")+"\n"), 0o600); err != nil {
			return err
		}
	}
	fmt.Fprintf(stdout, "Payment sandbox at %s (PayPal fake%s). Gatehouse's environment:\n", cfg.URL,
		map[bool]string{true: ", Stripe through stripe-mock " + cfg.StripeMock, false: ""}[cfg.StripeMock != ""])
	for _, kv := range env {
		fmt.Fprintln(stdout, "  "+kv)
	}
	srv := &http.Server{Handler: sb.Handler(), ReadHeaderTimeout: 10 * time.Second}
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(sctx)
	}()
	if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
