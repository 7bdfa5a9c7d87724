package auth_test

import (
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/auth"
	"github.com/gatehouse-dev/gatehouse/internal/model"
	"github.com/gatehouse-dev/gatehouse/internal/testutil"
)

// TestConcurrentLoginsOfOneUserAnswerOnlyDomainErrors: many logins of one
// user from one address at once, right and wrong passwords mixed, answer a
// session, "wrong password" or "throttled" — never an internal error (a good
// login clearing the pair's rows between the throttle's count and its read
// of the oldest row used to answer 500).
func TestConcurrentLoginsOfOneUserAnswerOnlyDomainErrors(t *testing.T) {
	for _, b := range testutil.Backends(t) {
		t.Run(b, func(t *testing.T) {
			cfg := auth.DefaultConfig
			cfg.MaxFailures = 3 // most rounds cross the budget
			s, _ := newService(t, b, cfg)
			for round := 0; round < 6; round++ {
				const n = 24
				errs := make([]error, n)
				var wg sync.WaitGroup
				for i := range n {
					wg.Add(1)
					go func() {
						defer wg.Done()
						pw := "wrong"
						if i%3 == 0 {
							pw = "right-password"
						}
						errs[i] = login(s, "alice", pw, fmt.Sprintf("198.51.100.%d", round))
					}()
				}
				wg.Wait()
				for i, err := range errs {
					var te *auth.ThrottledError
					// busy
					if err == nil || model.ErrorCode(err) == model.EUNAUTHORIZED || errors.As(err, &te) {
						continue
					}
					t.Errorf("round %d login %d: %v", round, i, err)
				}
			}
		})
	}
}

// TestConcurrentRightPasswordsAreNotThrottled: attempts still being decided
// are not failures. 20 logins with the right password at once, from one
// address, all sign in, though the budget is 3 failures (each attempt used
// to count the others' undecided rows, so most answered 429).
func TestConcurrentRightPasswordsAreNotThrottled(t *testing.T) {
	for _, b := range testutil.Backends(t) {
		t.Run(b, func(t *testing.T) {
			cfg := auth.DefaultConfig
			cfg.MaxFailures = 3
			s, _ := newService(t, b, cfg)
			errs := make([]error, 20)
			var wg sync.WaitGroup
			for i := range errs {
				wg.Add(1)
				go func() {
					defer wg.Done()
					errs[i] = login(s, "alice", "right-password", "198.51.100.77")
				}()
			}
			wg.Wait()
			for i, err := range errs {
				if err != nil {
					t.Errorf("login %d: %v", i, err)
				}
			}
		})
	}
}
