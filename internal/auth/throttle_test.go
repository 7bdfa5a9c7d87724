package auth_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/auth"
	"github.com/gatehouse-dev/gatehouse/internal/model"
	"github.com/gatehouse-dev/gatehouse/internal/store"
	"github.com/gatehouse-dev/gatehouse/internal/testutil"
)

func newService(t *testing.T, backend string, cfg auth.Config) (*auth.Service, *store.Store) {
	t.Helper()
	st := testutil.NewStore(t, backend)
	ctx := model.WithActor(context.Background(), model.System)
	hash, _ := auth.HashPassword("right-password")
	root := &model.Account{Role: model.RoleAdmin, Username: "root"}
	if err := st.CreateAccount(ctx, root, hash); err != nil {
		t.Fatal(err)
	}
	for _, u := range []string{"alice", "bob"} {
		if err := st.CreateAccount(ctx, &model.Account{Role: model.RoleDistributor, Username: u, ParentID: root.ID}, hash); err != nil {
			t.Fatal(err)
		}
	}
	return &auth.Service{Store: st, Config: cfg, Log: slog.New(slog.NewTextHandler(io.Discard, nil))}, st
}

func login(s *auth.Service, user, pw, ip string) error {
	_, _, _, err := s.Login(context.Background(), user, pw, ip, "test")
	return err
}

func throttled(err error) bool {
	var te *auth.ThrottledError
	return errors.As(err, &te)
}

// TestThrottlePerUserAndAddress: failures lock a (user name, address)
// pair; a stranger elsewhere cannot lock a user name for everybody, one
// user cannot lock the rest of an office behind one address, and the
// address as a whole has a larger budget.
func TestThrottlePerUserAndAddress(t *testing.T) {
	for _, b := range testutil.Backends(t) {
		t.Run(b, func(t *testing.T) {
			cfg := auth.Config{IdleTimeout: time.Hour, AbsoluteTimeout: time.Hour, MaxFailures: 3, MaxAddressFailures: 8, FailureWindow: 15 * time.Minute}
			s, st := newService(t, b, cfg)
			const office, stranger = "198.51.100.7", "203.0.113.9"
			for i := 0; i < 3; i++ {
				if err := login(s, "alice", "wrong", stranger); model.ErrorCode(err) != model.EUNAUTHORIZED {
					t.Fatalf("failure %d: %v", i+1, err)
				}
			}
			err := login(s, "alice", "right-password", stranger)
			var te *auth.ThrottledError
			if !errors.As(err, &te) || te.RetryAfterSeconds() < 14*60 || te.RetryAfterSeconds() > 15*60 {
				t.Fatalf("4th attempt of the pair: %v", err)
			}
			// The stranger has not locked alice out of her office, nor bob
			// out from the stranger's address.
			if err := login(s, "alice", "right-password", office); err != nil {
				t.Errorf("alice from her office: %v", err)
			}
			if err := login(s, "bob", "right-password", stranger); err != nil {
				t.Errorf("another user from the stranger's address: %v", err)
			}
			// A success clears only its own pair.
			for i := 0; i < 2; i++ {
				login(s, "bob", "wrong", office)
				login(s, "alice", "wrong", office)
			}
			if err := login(s, "alice", "right-password", office); err != nil {
				t.Fatal(err)
			}
			login(s, "bob", "wrong", office) // bob's third from the office
			if err := login(s, "bob", "right-password", office); !throttled(err) {
				t.Errorf("alice's success cleared bob's failures: %v", err)
			}
			// The address budget: 8 failures from one address over many
			// user names lock it for every name.
			const nat = "192.0.2.50"
			for i := 0; i < 8; i++ {
				if err := login(s, fmt.Sprintf("guess%d", i), "wrong", nat); model.ErrorCode(err) != model.EUNAUTHORIZED {
					t.Fatalf("address failure %d: %v", i+1, err)
				}
			}
			if err := login(s, "alice", "right-password", nat); !throttled(err) {
				t.Errorf("9th from one address: %v", err)
			}
			// IPv6: one /64 is one address.
			for i := 0; i < 3; i++ {
				login(s, "alice", "wrong", fmt.Sprintf("2001:db8:1:2::%x", i+1))
			}
			if err := login(s, "alice", "right-password", "2001:db8:1:2:aaaa:bbbb:cccc:dddd"); !throttled(err) {
				t.Errorf("another address of the same /64: %v", err)
			}
			if err := login(s, "alice", "right-password", "2001:db8:1:3::1"); err != nil {
				t.Errorf("another /64: %v", err)
			}
			// Past the window everything is open again, and old rows go.
			st.SetClock(func() time.Time { return time.Now().UTC().Add(16 * time.Minute) })
			if err := login(s, "bob", "right-password", office); err != nil {
				t.Errorf("after the window: %v", err)
			}
			if err := s.PruneLoginFailures(context.Background()); err != nil {
				t.Fatal(err)
			}
			var n int
			if err := st.DB().QueryRow(`SELECT count(*) FROM login_failures`).Scan(&n); err != nil || n != 0 {
				t.Errorf("failures left after the window: %d %v", n, err)
			}
		})
	}
}

// TestLoginFieldsBounded: over-long fields are refused naming the field,
// and what is stored of an attempt is bounded whatever the name's length.
func TestLoginFieldsBounded(t *testing.T) {
	for _, b := range testutil.Backends(t) {
		t.Run(b, func(t *testing.T) {
			s, st := newService(t, b, auth.DefaultConfig)
			for field, args := range map[string][2]string{
				"username": {strings.Repeat("a", 4000), "wrong"},
				"password": {"alice", strings.Repeat("p", 4000)},
			} {
				err := login(s, args[0], args[1], "192.0.2.1")
				if model.ErrorCode(err) != model.EINVALID || model.ErrorFields(err)[field] == "" {
					t.Errorf("over-long %s: %v", field, err)
				}
			}
			// The longest accepted name, and an address of any length.
			long := strings.Repeat("b", auth.MaxUsernameBytes)
			if err := login(s, long, "wrong", strings.Repeat("x", 500)); model.ErrorCode(err) != model.EUNAUTHORIZED {
				t.Fatalf("longest name: %v", err)
			}
			rows, err := st.DB().Query(`SELECT * FROM login_failures`)
			if err != nil {
				t.Fatal(err)
			}
			defer rows.Close()
			cols, _ := rows.Columns()
			for rows.Next() {
				vals := make([]any, len(cols))
				ptrs := make([]any, len(cols))
				for i := range vals {
					ptrs[i] = &vals[i]
				}
				if err := rows.Scan(ptrs...); err != nil {
					t.Fatal(err)
				}
				for i, v := range vals {
					if s := fmt.Sprint(v); len(s) > 64 {
						t.Errorf("login_failures.%s stores %d bytes", cols[i], len(s))
					}
				}
			}
		})
	}
}
