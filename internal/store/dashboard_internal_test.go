package store

import (
	"fmt"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/model"
)

// The top DashboardTop names are kept, largest first (ties by name), and
// the rest summed as "others", per list too.
func TestTopShares(t *testing.T) {
	m := map[string]*model.DashboardShare{}
	for i, n := range []int64{5, 9, 1, 9, 3, 7, 2} {
		addShare(m, fmt.Sprintf("m%d", i), model.ProjectCommunity, n)
		addShare(m, fmt.Sprintf("m%d", i), model.ProjectPersonal, 1)
	}
	got := fmt.Sprint(topShares(m))
	want := "[{m1 10 false 9 0 1} {m3 10 false 9 0 1} {m5 8 false 7 0 1} {m0 6 false 5 0 1} {m4 4 false 3 0 1} { 5 true 3 0 2}]"
	if got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
	if s := topShares(map[string]*model.DashboardShare{}); len(s) != 0 {
		t.Errorf("no devices: %v", s)
	}
}

// The months are the last DashboardMonths, oldest first, this one last.
func TestDashboardMonths(t *testing.T) {
	ms := dashboardMonths(time.Date(2026, 3, 31, 23, 0, 0, 0, time.UTC))
	if len(ms) != 12 || ms[0].name != "2025-04" || ms[11].name != "2026-03" || !ms[11].start.Equal(time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)) {
		t.Errorf("%v", ms)
	}
}
