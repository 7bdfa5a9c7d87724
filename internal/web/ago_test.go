package web

import (
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/i18n"
)

func TestAgo(t *testing.T) {
	now := time.Date(2026, 12, 4, 12, 0, 0, 0, time.UTC)
	at := func(d time.Duration) time.Time { return now.Add(-d) }
	p := at(3 * time.Hour)
	for _, c := range []struct {
		in   any
		want string
	}{
		{at(10 * time.Second), "just now"},
		{at(5 * time.Minute), "5 min ago"},
		{&p, "3 h ago"},
		{at(47 * time.Hour), "47 h ago"},
		{at(12 * 24 * time.Hour), "12 days ago"},
		{(*time.Time)(nil), ""},
		{time.Time{}, ""},
	} {
		if got := i18n.For("en", "UTC").Ago(c.in, now); got != c.want {
			t.Errorf("ago(%v) = %q, want %q", c.in, got, c.want)
		}
	}
}
