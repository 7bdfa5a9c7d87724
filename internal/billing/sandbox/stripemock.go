package sandbox

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os/exec"
	"regexp"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/billing/stripe/stripetest"
)

// ErrNoStripeMock: stripe-mock is neither on $PATH nor in $(go env GOPATH)/bin.
var ErrNoStripeMock = errors.New("stripe-mock not found (go install github.com/stripe/stripe-mock@latest)")

var listening = regexp.MustCompile(`Listening for HTTP at address: (\S+)`)

// StartStripeMock starts stripe-mock on free local ports until ctx ends (or
// stop is called) and answers its base URL.
func StartStripeMock(ctx context.Context) (base string, stop func(), err error) {
	bin, ok := stripetest.Binary()
	if !ok {
		return "", nil, ErrNoStripeMock
	}
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
		for sc.Scan() { // keep draining: stripe-mock must never block on its output
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
