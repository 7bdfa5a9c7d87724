package auth_test

import (
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/auth"
)

// The relying party is the public URL's host name, its origin the URL's
// scheme://host[:port] as browsers write it; an IP address, a URL without
// a host or of another scheme makes none.
func TestRelyingPartyFromPublicURL(t *testing.T) {
	for _, c := range []struct{ url, id, origin string }{
		{"https://Gatehouse.Example.com", "gatehouse.example.com", "https://gatehouse.example.com"},
		{"https://gatehouse.example.com:443/", "gatehouse.example.com", "https://gatehouse.example.com"},
		{"https://gatehouse.example.com:8443", "gatehouse.example.com", "https://gatehouse.example.com:8443"},
		{"http://localhost:8080", "localhost", "http://localhost:8080"},
		{"http://localhost:80", "localhost", "http://localhost"},
	} {
		rp, err := auth.NewRelyingParty(c.url)
		if err != nil || rp.ID != c.id || rp.Origin != c.origin {
			t.Errorf("%s: %+v %v, want %s %s", c.url, rp, err, c.id, c.origin)
		}
	}
	for _, u := range []string{"http://127.0.0.1:8080", "https://[::1]:8443", "http://", "http://:8080", "ftp://example.com", "example.com", ""} {
		if rp, err := auth.NewRelyingParty(u); err == nil {
			t.Errorf("%q made a relying party: %+v", u, rp)
		}
	}
}
