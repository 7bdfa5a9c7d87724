package tabular

import (
	"strconv"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/model"
)

// UpgradeColumns are the columns of a rollout's devices as a table (the
// API's format=csv and the portal's export alike).
var UpgradeColumns = []string{"mac", "device_name", "wave", "state", "percent", "from_version", "to_version", "error", "attempts",
	"time_zone", "queued_at", "sent_at", "updated_at", "finished_at", "deadline_at"}

// UpgradeRow is one device's upgrade in UpgradeColumns; times in RFC 3339
// UTC, empty when not yet.
func UpgradeRow(u *model.DeviceUpgrade) []string {
	return []string{u.MAC, u.DeviceName, strconv.Itoa(u.Wave), string(u.State), strconv.Itoa(u.Percent), u.FromVersion, u.ToVersion,
		u.Error, strconv.Itoa(u.Attempts), u.TimeZone, optTime(u.Queued), optTime(u.Sent), optTime(u.Updated), optTime(u.Finished),
		optTime(u.Deadline)}
}

func optTime(t *time.Time) string {
	if t == nil {
		return ""
	}
	return t.UTC().Format(time.RFC3339)
}
