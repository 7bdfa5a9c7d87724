package auth_test

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/auth"
	"github.com/gatehouse-dev/gatehouse/internal/model"
	"github.com/gatehouse-dev/gatehouse/internal/testutil"
)

// TestPasswordHashingIsBounded: while 20 logins, password changes and
// hashes run at once, no more argon2 derivations run together than the
// gate's slots (half the cores, at least one), and every caller is served.
func TestPasswordHashingIsBounded(t *testing.T) {
	if want := max(1, runtime.GOMAXPROCS(0)/2); auth.PasswordGateSlots() != want {
		t.Errorf("the gate has %d slots, want %d (half the cores)", auth.PasswordGateSlots(), want)
	}
	s, st := newService(t, "sqlite", auth.DefaultConfig)
	var running, most atomic.Int64
	auth.SetPasswordGateForTest(t, auth.PasswordGateSlots(), 64, func(derive func()) {
		n := running.Add(1)
		for m := most.Load(); n > m && !most.CompareAndSwap(m, n); m = most.Load() {
		}
		derive()
		running.Add(-1)
	})
	bob, _, err := st.AccountForLogin(context.Background(), "bob")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 30)
	for i := range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			pw := "right-password"
			if i%4 == 0 {
				pw = "wrong"
			}
			if err := login(s, "alice", pw, fmt.Sprintf("192.0.2.%d", i)); err != nil && (pw != "wrong" || model.ErrorCode(err) != model.EUNAUTHORIZED) {
				errs <- err
			}
		}()
	}
	for range 5 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := auth.HashPasswordContext(context.Background(), "some-password"); err != nil {
				errs <- err
			}
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		if _, _, err := s.ChangePassword(context.Background(), &auth.Identity{Account: bob}, "right-password", "a-new-password-1", "192.0.2.200", "test"); err != nil {
			errs <- err
		}
	}()
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if m := most.Load(); m > int64(auth.PasswordGateSlots()) || m == 0 {
		t.Errorf("%d derivations ran at once; the bound is %d", m, auth.PasswordGateSlots())
	}
}

// TestPasswordGateWaitingEnds: a login waiting for a turn returns when its
// context ends, with an error that says busy (429, not 500) and wraps the
// context's error, and its attempt does not count as a failure; past the
// queue bound a hash is refused at once.
func TestPasswordGateWaitingEnds(t *testing.T) {
	for _, b := range testutil.Backends(t) {
		t.Run(b, func(t *testing.T) {
			s, st := newService(t, b, auth.DefaultConfig)
			entered, release := make(chan struct{}, 8), make(chan struct{})
			auth.SetPasswordGateForTest(t, 1, 2, func(derive func()) {
				entered <- struct{}{}
				<-release
				derive()
			})
			holder := make(chan error, 1)
			go func() { holder <- login(s, "alice", "right-password", "203.0.113.1") }()
			<-entered // the one slot is taken

			ctx, cancel := context.WithCancel(context.Background())
			waiter := make(chan error, 1)
			go func() {
				_, _, _, err := s.Login(ctx, "bob", "right-password", "203.0.113.2", "test")
				waiter <- err
			}()
			waitFor(t, func() bool { return auth.PasswordGateWaiting() == 1 })
			cancel()
			select {
			case err := <-waiter:
				var be *auth.BusyError
				if !errors.As(err, &be) || !errors.Is(err, context.Canceled) || model.ErrorCode(err) != model.ETOOMANY || be.RetryAfterSeconds() < 1 {
					t.Errorf("cancelled while waiting: %v (code %s)", err, model.ErrorCode(err))
				}
			case <-time.After(10 * time.Second):
				t.Fatal("a cancelled login kept waiting")
			}
			var n int
			if err := st.DB().QueryRow(`SELECT count(*) FROM login_failures WHERE ip = '203.0.113.2'`).Scan(&n); err != nil || n != 0 {
				t.Errorf("the undecided attempt left %d failures (%v)", n, err)
			}

			// Two wait; a third is refused at once.
			queued := make(chan error, 2)
			for range 2 {
				go func() {
					_, err := auth.HashPasswordContext(context.Background(), "p")
					queued <- err
				}()
			}
			waitFor(t, func() bool { return auth.PasswordGateWaiting() == 2 })
			_, err := auth.HashPasswordContext(context.Background(), "p")
			var be *auth.BusyError
			if !errors.As(err, &be) || be.Cause != nil || model.ErrorCode(err) != model.ETOOMANY {
				t.Errorf("past the queue bound: %v", err)
			}
			close(release)
			if err := <-holder; err != nil {
				t.Errorf("the login holding the slot: %v", err)
			}
			for range 2 {
				if err := <-queued; err != nil {
					t.Errorf("a queued hash: %v", err)
				}
			}
		})
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(); time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("condition not reached")
		}
	}
}
