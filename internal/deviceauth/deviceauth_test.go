package deviceauth

import (
	"net/http/httptest"
	"testing"
	"time"
)

func TestLimiter(t *testing.T) {
	now := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	l := NewLimiter(Limits{SourceBurst: 4, SourceEvery: time.Second, MACBurst: 2, MACEvery: 10 * time.Second, MaxEntries: 3,
		ReportEvery: time.Minute, ReportMax: 2})
	l.SetClock(func() time.Time { return now })
	// Per MAC: 2, then refused (reported once), refilled after 10 s.
	for i := 0; i < 2; i++ {
		if o := l.Take("192.0.2.1", "A"); !o.OK {
			t.Fatalf("attempt %d: %+v", i, o)
		}
	}
	o := l.Take("192.0.2.1", "A")
	if o.OK || o.Why != "mac" || o.RetryAfter != 10*time.Second || !o.Report {
		t.Errorf("third attempt for A: %+v", o)
	}
	if o := l.Take("192.0.2.1", "A"); o.OK || o.Report {
		t.Errorf("fourth: reported again within the minute: %+v", o)
	}
	// A refusal spends nothing: the source still has 2.
	if o := l.Take("192.0.2.1", "B"); !o.OK {
		t.Errorf("another MAC: %+v", o)
	}
	if o := l.Take("192.0.2.1", "C"); !o.OK {
		t.Errorf("a third MAC: %+v", o)
	}
	if o := l.Take("192.0.2.1", "B"); o.OK || o.Why != "source" {
		t.Errorf("the source's budget: %+v", o)
	}
	// Full tables of active entries: deny by default.
	if o := l.Take("192.0.2.9", "D"); o.OK || o.Why != "capacity" {
		t.Errorf("over capacity: %+v", o)
	}
	// Idle entries are forgotten to make room.
	now = now.Add(time.Hour)
	if o := l.Take("192.0.2.9", "D"); !o.OK {
		t.Errorf("after an hour: %+v", o)
	}
	now = now.Add(10 * time.Second)
	if o := l.Take("192.0.2.1", "A"); !o.OK {
		t.Errorf("refilled: %+v", o)
	}
}

func TestSource(t *testing.T) {
	for in, want := range map[string]string{"192.0.2.1:4000": "192.0.2.1", "[2001:db8:1:2:3::4]:80": "2001:db8:1:2::/64", "x": "x"} {
		if got := Source(in); got != want {
			t.Errorf("Source(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestRefuseIsOneAnswer(t *testing.T) {
	a, b := httptest.NewRecorder(), httptest.NewRecorder()
	Refuse(a)
	Refuse(b)
	if a.Code != 403 || a.Body.String() != RefusedBody || a.Header().Get("Retry-After") != "60" || a.Body.String() != b.Body.String() {
		t.Errorf("refusal: %d %v %q", a.Code, a.Header(), a.Body)
	}
}
