package auth

import (
	"context"
	"runtime"
	"sync/atomic"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/model"
)

// hashGate bounds the argon2id work running at once. Each hash takes 19 MiB
// and a core for tens of milliseconds; unbounded, 20 concurrent logins took
// every core and multiplied everyone else's response time by ten. Past the
// gate's slots a hash waits its turn, for as long as its request's context
// allows and only while few enough others wait: a burst beyond that is
// answered at once with BusyError rather than queued for seconds.
type hashGate struct {
	slots      chan struct{}
	waiting    atomic.Int64
	maxWaiting int64
}

func newHashGate(slots, maxWaiting int) *hashGate {
	return &hashGate{slots: make(chan struct{}, slots), maxWaiting: int64(maxWaiting)}
}

// Half the cores hash, the other half stay for every other request; 64
// waiting hashes are a second or two of queue at ~30 ms a hash per slot.
var passwordGate = newHashGate(max(1, runtime.GOMAXPROCS(0)/2), 64)

// busyRetryAfter is what a refused hash tells the client to wait: the
// queue drains in about this long.
const busyRetryAfter = time.Second

// BusyError answers a password check or hash that could not get a turn:
// too many were waiting, or its context ended while it waited (Cause). Its
// model code is ETOOMANY (HTTP 429) with a Retry-After.
type BusyError struct {
	Cause error // the context's error when waiting was cut short, else nil
}

func (e *BusyError) Error() string {
	if e.Cause != nil {
		return "password check not started: " + e.Cause.Error()
	}
	return "too many password checks waiting"
}

// Unwrap gives the model error (for the status) and the context's error.
func (e *BusyError) Unwrap() []error {
	errs := []error{model.Errorf(model.ETOOMANY, "The server is busy checking other passwords. Try again in a moment.")}
	if e.Cause != nil {
		errs = append(errs, e.Cause)
	}
	return errs
}

// RetryAfterSeconds is the Retry-After header value.
func (e *BusyError) RetryAfterSeconds() int { return int(busyRetryAfter / time.Second) }

// do runs fn in a slot, waiting for one under ctx and the queue bound.
func (g *hashGate) do(ctx context.Context, fn func()) error {
	select {
	case g.slots <- struct{}{}:
	default:
		if g.waiting.Add(1) > g.maxWaiting {
			g.waiting.Add(-1)
			return &BusyError{}
		}
		select {
		case g.slots <- struct{}{}:
			g.waiting.Add(-1)
		case <-ctx.Done():
			g.waiting.Add(-1)
			return &BusyError{Cause: ctx.Err()}
		}
	}
	defer func() { <-g.slots }()
	fn()
	return nil
}

// HashPasswordContext is HashPassword through the gate: it waits for a turn
// under ctx and answers BusyError when it cannot get one. Request handlers
// use it; HashPassword is for tools and tests.
func HashPasswordContext(ctx context.Context, pw string) (string, error) {
	var hash string
	var err error
	if gerr := passwordGate.do(ctx, func() { hash, err = hashPassword(pw) }); gerr != nil {
		return "", gerr
	}
	return hash, err
}
