package model

import (
	"strconv"
	"time"
)

// Firmware rollouts (issue 15): one firmware put on many devices in waves,
// wave 0 being the canary. See internal/store/migrations/*/00022_firmware_rollouts.sql.

// RolloutStatus is a rollout's state: draft → running ⇄ paused → done, or
// canceled from any but done.
type RolloutStatus string

const (
	RolloutDraft    RolloutStatus = "draft"
	RolloutRunning  RolloutStatus = "running"
	RolloutPaused   RolloutStatus = "paused"
	RolloutCanceled RolloutStatus = "canceled"
	RolloutDone     RolloutStatus = "done"
)

// UpgradeState is one device's upgrade within a rollout: pending (waits
// for its wave, its maintenance window and the device online) → queued
// (released: the gateway sends the upgrade command) → sent → downloading →
// verifying → installing → rebooting → done | failed; canceled and
// skipped end an upgrade never sent.
type UpgradeState string

const (
	UpgradePending     UpgradeState = "pending"
	UpgradeQueued      UpgradeState = "queued"
	UpgradeSent        UpgradeState = "sent"
	UpgradeDownloading UpgradeState = "downloading"
	UpgradeVerifying   UpgradeState = "verifying"
	UpgradeInstalling  UpgradeState = "installing"
	UpgradeRebooting   UpgradeState = "rebooting"
	UpgradeDone        UpgradeState = "done"
	UpgradeFailed      UpgradeState = "failed"
	UpgradeCanceled    UpgradeState = "canceled"
	UpgradeSkipped     UpgradeState = "skipped"
)

// UpgradeStates lists every state in its order, for counts and filters.
var UpgradeStates = []UpgradeState{UpgradePending, UpgradeQueued, UpgradeSent, UpgradeDownloading, UpgradeVerifying,
	UpgradeInstalling, UpgradeRebooting, UpgradeDone, UpgradeFailed, UpgradeCanceled, UpgradeSkipped}

// Open says whether an upgrade in state s is still under way (a device is
// in at most one open upgrade).
func (s UpgradeState) Open() bool {
	switch s {
	case UpgradeDone, UpgradeFailed, UpgradeCanceled, UpgradeSkipped:
		return false
	}
	return true
}

// Stage says whether s is a stage a device reports in a progress message.
func (s UpgradeState) Stage() bool {
	switch s {
	case UpgradeDownloading, UpgradeVerifying, UpgradeInstalling, UpgradeRebooting:
		return true
	}
	return false
}

// UpgradeCommandID is the command id a device is sent for upgrade id: "u"
// and the number (commands of device_commands are "c…").
func UpgradeCommandID(id int64) string { return "u" + strconv.FormatInt(id, 10) }

// UpgradeCommand is what the gateway sends a device for one upgrade
// (docs/device-protocol.md §4.2 "upgrade"); URL carries a short-lived
// per-device download token.
type UpgradeCommand struct {
	ID         int64 // firmware_upgrades.id
	DeviceID   int64
	FirmwareID int64
	Version    string
	URL        string // external file_url, or "" when the cloud stores the image (the gateway makes the URL)
	Size       int64
	SHA256     string // 64 hex digits, no prefix
	Deadline   time.Time
}
