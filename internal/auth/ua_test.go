package auth_test

import (
	"context"
	"strings"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/auth"
	"github.com/gatehouse-dev/gatehouse/internal/testutil"
)

// TestLoginUserAgentStored: the user agent is the client's text, kept
// bounded with the session: a header of bytes that are not UTF-8, or a
// multi-byte character cut by the bound, must not fail the login.
func TestLoginUserAgentStored(t *testing.T) {
	for _, b := range testutil.Backends(t) {
		t.Run(b, func(t *testing.T) {
			s, _ := newService(t, b, auth.DefaultConfig)
			for _, ua := range []string{"Mozilla \xff\xfe", strings.Repeat("a", 255) + "é"} {
				if _, _, _, err := s.Login(context.Background(), "alice", "right-password", "192.0.2.1", ua); err != nil {
					t.Errorf("user agent %q: %v", ua, err)
				}
			}
		})
	}
}
