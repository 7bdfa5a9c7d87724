package devicesim

import (
	"fmt"
	"testing"
)

// TestFailureSharesSpreadOverSequentialMACs: a share of the fleet fails,
// even when the MACs are sequential, as a demo's and a production batch's
// are (by FNV's top bits, every device of a run failed or none did).
func TestFailureSharesSpreadOverSequentialMACs(t *testing.T) {
	for _, c := range []struct {
		n   int
		tol float64
	}{{300, 0.08}, {2000, 0.03}} {
		for _, share := range []float64{0.05, 0.3, 0.5} {
			failing := 0
			for i := 1; i <= c.n; i++ {
				if macShare(fmt.Sprintf("0C1105%06X", i)) < share {
					failing++
				}
			}
			if got := float64(failing) / float64(c.n); got < share-c.tol || got > share+c.tol {
				t.Errorf("share %.2f: %d of %d sequential MACs (%.3f)", share, failing, c.n, got)
			}
		}
	}
}
