// Package stripetest helps tests that talk to Stripe: it starts stripe-mock
// (the official mock of Stripe's API) and builds Stripe webhook deliveries
// signed the way Stripe signs them.
//
//	url := stripetest.StartMock(t)                 // base URL for stripe.Config.BackendURL
//	body := stripetest.SessionEvent("evt_1", "checkout.session.completed",
//		stripetest.Session{ID: "cs_1", OrderNumber: "A100", Amount: 1234, Currency: "eur", PaymentStatus: "paid"})
//	req.Header.Set("Stripe-Signature", stripetest.Sign(body, "whsec_test", time.Now()))
package stripetest

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	sgo "github.com/stripe/stripe-go/v85"
	"github.com/stripe/stripe-go/v85/webhook"
)

// SecretKey is a test-mode key stripe-mock accepts.
const SecretKey = "sk_test_gatehouse"

// Binary finds stripe-mock: on $PATH, else in $(go env GOPATH)/bin.
func Binary() (string, bool) {
	if p, err := exec.LookPath("stripe-mock"); err == nil {
		return p, true
	}
	var dirs []string
	if gp := os.Getenv("GOPATH"); gp != "" {
		dirs = append(dirs, filepath.SplitList(gp)...)
	} else if out, err := exec.Command("go", "env", "GOPATH").Output(); err == nil {
		dirs = append(dirs, filepath.SplitList(strings.TrimSpace(string(out)))...)
	}
	if home, err := os.UserHomeDir(); err == nil {
		dirs = append(dirs, filepath.Join(home, "go"))
	}
	for _, d := range dirs {
		p := filepath.Join(d, "bin", "stripe-mock")
		if fi, err := os.Stat(p); err == nil && !fi.IsDir() {
			return p, true
		}
	}
	return "", false
}

var listening = regexp.MustCompile(`Listening for HTTP at address: (\S+)`)

// StartMock starts a stripe-mock on a free local port for this test and
// stops it when the test ends; it returns the base URL ("http://127.0.0.1:N").
// Without stripe-mock the test fails when CI=true and is skipped otherwise
// (install it with `go install github.com/stripe/stripe-mock@latest`).
func StartMock(t testing.TB) string {
	t.Helper()
	bin, ok := Binary()
	if !ok {
		msg := "stripe-mock not found on PATH or in $(go env GOPATH)/bin: go install github.com/stripe/stripe-mock@latest"
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip("SKIPPING STRIPE TESTS: " + msg)
	}
	base, stop, err := Launch(context.Background(), bin)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(stop)
	return base
}

// Launch starts the stripe-mock at bin on free local ports until ctx ends
// (or stop is called) and answers its base URL ("http://127.0.0.1:N"): the
// tests' StartMock and the payment sandbox share it.
func Launch(ctx context.Context, bin string) (base string, stop func(), err error) {
	// Both listeners on free ports: with -http-addr alone stripe-mock still
	// binds HTTPS on the fixed port 12112, and a second stripe-mock running
	// at the same time (parallel tests) exits after printing its HTTP address.
	cmd := exec.CommandContext(ctx, bin, "-http-addr", "127.0.0.1:0", "-https-addr", "127.0.0.1:0")
	out, err := cmd.StdoutPipe()
	if err != nil {
		return "", nil, err
	}
	cmd.Stderr = cmd.Stdout
	if err := cmd.Start(); err != nil {
		return "", nil, fmt.Errorf("starting stripe-mock: %w", err)
	}
	stop = func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	}
	addr := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		sent := false
		for sc.Scan() { // keep draining so stripe-mock never blocks on its output
			if m := listening.FindStringSubmatch(sc.Text()); m != nil && !sent {
				addr <- m[1]
				sent = true
			}
		}
		if !sent {
			close(addr)
		}
	}()
	select {
	case a, ok := <-addr:
		if !ok {
			stop()
			return "", nil, errors.New("stripe-mock exited before listening")
		}
		return "http://" + a, stop, nil
	case <-time.After(20 * time.Second):
		stop()
		return "", nil, errors.New("stripe-mock did not start within 20s")
	}
}

// Session is the part of a Checkout Session that webhooks carry.
type Session struct {
	ID            string
	OrderNumber   string // put in metadata.order_number and client_reference_id
	Amount        int64  // amount_total, minor units
	Currency      string // lower case, as Stripe sends it
	PaymentStatus string // "paid", "unpaid", "no_payment_required"
	Status        string // "complete", "open", "expired"
	NoMetadata    bool   // leave metadata empty (order number only in client_reference_id)
}

// SessionEvent is the JSON body of a Stripe event of type typ about s, with
// the SDK's API version.
func SessionEvent(id, typ string, s Session) []byte {
	return Event(id, typ, sgo.APIVersion, s)
}

// Event is SessionEvent with an explicit api_version.
func Event(id, typ, apiVersion string, s Session) []byte {
	md := map[string]string{}
	if !s.NoMetadata && s.OrderNumber != "" {
		md["order_number"] = s.OrderNumber
	}
	status := s.Status
	if status == "" {
		status = "complete"
	}
	obj := map[string]any{
		"id":                  s.ID,
		"object":              "checkout.session",
		"mode":                "payment",
		"amount_total":        s.Amount,
		"currency":            s.Currency,
		"client_reference_id": s.OrderNumber,
		"metadata":            md,
		"payment_status":      s.PaymentStatus,
		"status":              status,
	}
	ev := map[string]any{
		"id":               id,
		"object":           "event",
		"api_version":      apiVersion,
		"created":          time.Now().Unix(),
		"livemode":         false,
		"pending_webhooks": 1,
		"type":             typ,
		"data":             map[string]any{"object": obj},
	}
	b, err := json.Marshal(ev)
	if err != nil {
		panic(err)
	}
	return b
}

// Sign is the Stripe-Signature header Stripe sends for body signed with
// secret at time at ("t=<unix>,v1=<hex HMAC-SHA256 of "<unix>.<body>">").
func Sign(body []byte, secret string, at time.Time) string {
	return webhook.GenerateTestSignedPayload(&webhook.UnsignedPayload{
		Payload: body, Secret: secret, Timestamp: at,
	}).Header
}

// String is a short description for test logs.
func (s Session) String() string {
	return fmt.Sprintf("%s(%s %d %s %s)", s.ID, s.OrderNumber, s.Amount, s.Currency, s.PaymentStatus)
}
