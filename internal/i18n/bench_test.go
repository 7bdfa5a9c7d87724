package i18n_test

import (
	"net/http"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/i18n"
)

// BenchmarkT: one message through the catalog, as a page asks for each of its texts.
func BenchmarkT(b *testing.B) {
	l := i18n.For("ru", "Europe/Moscow")
	for b.Loop() {
		_ = l.T("%d days ago", 21)
	}
}

// BenchmarkLocaleOfRequest: choosing a request's language and zone.
func BenchmarkLocaleOfRequest(b *testing.B) {
	r, _ := http.NewRequest("GET", "/", nil)
	r.Header.Set("Accept-Language", "de-DE,de;q=0.9,en;q=0.8")
	for b.Loop() {
		_ = i18n.For(i18n.Match(r.Header.Get("Accept-Language")), "Europe/Berlin")
	}
}
