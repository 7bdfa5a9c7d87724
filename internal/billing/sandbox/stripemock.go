package sandbox

import (
	"context"
	"errors"

	"github.com/gatehouse-dev/gatehouse/internal/billing/stripe/stripetest"
)

// ErrNoStripeMock: stripe-mock is neither on $PATH nor in $(go env GOPATH)/bin.
var ErrNoStripeMock = errors.New("stripe-mock not found (go install github.com/stripe/stripe-mock@latest)")

// StartStripeMock starts stripe-mock on free local ports until ctx ends (or
// stop is called) and answers its base URL.
func StartStripeMock(ctx context.Context) (base string, stop func(), err error) {
	bin, ok := stripetest.Binary()
	if !ok {
		return "", nil, ErrNoStripeMock
	}
	return stripetest.Launch(ctx, bin)
}
