package store_test

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/model"
	"github.com/gatehouse-dev/gatehouse/internal/store"
)

// TestRolloutLoad times the preview (count), the creation and the first
// step of rollouts on a big demo database (opt-in: GATEHOUSE_ROLLOUT_DB
// names a COPY of one, e.g. of `gatehouse demo --devices 1000000`; it is
// migrated and written to). Figures are logged, min/median/max of 3.
func TestRolloutLoad(t *testing.T) {
	dsn := os.Getenv("GATEHOUSE_ROLLOUT_DB")
	if dsn == "" {
		t.Skip("GATEHOUSE_ROLLOUT_DB is not set (opt-in load test)")
	}
	ctx := context.Background()
	st, err := store.Open(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	var modelName string
	if err := st.DB().QueryRow(`SELECT model FROM devices GROUP BY model ORDER BY count(*) DESC LIMIT 1`).Scan(&modelName); err != nil {
		t.Fatal(err)
	}
	fw := &model.Firmware{Version: fmt.Sprintf("99.%d", time.Now().Unix()), Model: modelName, FileURL: "https://fw.example/load.rom",
		Checksum: strings.Repeat("e", 64), Size: 1 << 20}
	if err := st.CreateFirmware(sys, fw); err != nil {
		t.Fatal(err)
	}
	account := func(role model.Role) *model.Account {
		var id int64
		if err := st.DB().QueryRow(`SELECT id FROM accounts WHERE role = '` + string(role) + `' ORDER BY id LIMIT 1`).Scan(&id); err != nil {
			t.Fatal(err)
		}
		a, err := st.GetAccount(sys, id)
		if err != nil {
			t.Fatal(err)
		}
		return a
	}
	stats := func(d []time.Duration) string {
		slices.Sort(d)
		return fmt.Sprintf("min %v median %v max %v", d[0].Round(time.Millisecond), d[len(d)/2].Round(time.Millisecond), d[len(d)-1].Round(time.Millisecond))
	}
	in := model.RolloutInput{FirmwareID: fw.ID, Plan: model.RolloutPlan{CanaryPercent: 1, WavePercent: 20}}
	for _, role := range []model.Role{model.RoleAdmin, model.RoleDistributor, model.RoleSubdistributor, model.RoleInstaller} {
		a := account(role)
		actx := as(a)
		var counts, creates, steps []time.Duration
		var n model.RolloutTargetCount
		for range 3 {
			start := time.Now()
			n, err = st.CountRolloutTargets(actx, in)
			if err != nil {
				t.Fatal(err)
			}
			counts = append(counts, time.Since(start))
			if role == model.RoleAdmin || role == model.RoleDistributor {
				continue // creating rollouts of hundreds of thousands is not this test's
			}
			start = time.Now()
			r, err := st.CreateRollout(actx, in)
			if err != nil {
				t.Fatal(err)
			}
			creates = append(creates, time.Since(start))
			if _, err := st.SetRolloutStatus(actx, r.ID, model.RolloutStart); err != nil {
				t.Fatal(err)
			}
			if _, err := st.LeaseRollouts(sys, "load", time.Minute); err != nil {
				t.Fatal(err)
			}
			start = time.Now()
			if _, err := st.StepRollout(sys, r.ID, "load", time.Minute); err != nil {
				t.Fatal(err)
			}
			steps = append(steps, time.Since(start))
			if _, err := st.SetRolloutStatus(actx, r.ID, model.RolloutCancel); err != nil {
				t.Fatal(err)
			}
		}
		t.Logf("%s %s: %d matching (%d on version, %d other model); count %s", role, a.Username, n.Matching, n.OnVersion, n.WrongModel, stats(counts))
		if len(creates) > 0 {
			t.Logf("%s %s: create %s; first step %s", role, a.Username, stats(creates), stats(steps))
		}
	}
}
