package model

import (
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
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

// UpgradeState is one device's upgrade within a rollout: draft (its
// rollout is a draft: it holds no device, so other rollouts may take the
// device meanwhile) → pending at the start (waits
// for its wave, its maintenance window and the device online) → queued
// (released: the gateway sends the upgrade command) → sent → downloading →
// verifying → installing → rebooting → done | failed; canceled and
// skipped end an upgrade never sent.
type UpgradeState string

const (
	UpgradeDraft       UpgradeState = "draft"
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
var UpgradeStates = []UpgradeState{UpgradeDraft, UpgradePending, UpgradeQueued, UpgradeSent, UpgradeDownloading, UpgradeVerifying,
	UpgradeInstalling, UpgradeRebooting, UpgradeDone, UpgradeFailed, UpgradeCanceled, UpgradeSkipped}

// Open says whether an upgrade in state s is still under way (a device is
// in at most one open upgrade). A draft's upgrade is not open (it holds
// its device only once its rollout starts) nor ended.
func (s UpgradeState) Open() bool {
	switch s {
	case UpgradeDraft, UpgradeDone, UpgradeFailed, UpgradeCanceled, UpgradeSkipped:
		return false
	}
	return true
}

// Ended says whether an upgrade in state s is over: done, failed,
// canceled or skipped.
func (s UpgradeState) Ended() bool {
	switch s {
	case UpgradeDone, UpgradeFailed, UpgradeCanceled, UpgradeSkipped:
		return true
	}
	return false
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

// Rollout is one firmware put on the devices its creator chose, in waves
// (wave 0 is the canary). Firmware* and Account name what the ids point at.
type Rollout struct {
	ID              int64          `json:"id"`
	FirmwareID      int64          `json:"firmware_id"`
	FirmwareVersion string         `json:"firmware_version"`
	FirmwareModel   string         `json:"firmware_model"`
	AccountID       int64          `json:"account_id"` // the creator's account: it and its ancestors see the rollout
	Account         string         `json:"account"`
	Name            string         `json:"name"`
	Status          RolloutStatus  `json:"status"`
	Targets         RolloutTargets `json:"targets"`
	Plan            RolloutPlan    `json:"plan"`
	Total           int            `json:"total"`        // devices in the rollout
	Waves           int            `json:"waves"`        // waves, the canary included
	CurrentWave     int            `json:"current_wave"` // the wave being released (0: the canary)
	PauseReason     string         `json:"pause_reason,omitempty"`
	Created         time.Time      `json:"created_at"`
	Started         *time.Time     `json:"started_at,omitempty"`
	Finished        *time.Time     `json:"finished_at,omitempty"`
	Updated         time.Time      `json:"updated_at"`
}

// RolloutTargets chooses a rollout's devices: the caller's devices of the
// firmware's model, narrowed by the device lists' filters. Model, when set,
// must be the firmware's model (it is not a separate choice).
type RolloutTargets struct {
	Model          string      `json:"model,omitempty"`
	Scope          ProjectKind `json:"scope,omitempty"` // community, office or personal; "" all
	ProjectID      int64       `json:"project_id,omitempty"`
	InstallerID    int64       `json:"installer_id,omitempty"`
	CurrentVersion string      `json:"current_version,omitempty"` // the device's firmware now, exactly
	Online         *bool       `json:"online,omitempty"`
}

// Check validates and normalises t into v.
func (t *RolloutTargets) Check(v *Validator) {
	t.Model = strings.TrimSpace(t.Model)
	t.CurrentVersion = strings.TrimSpace(t.CurrentVersion)
	v.Check(t.Scope == "" || t.Scope.Valid(), "targets.scope", "must be community, office or personal")
	v.Check(t.ProjectID >= 0, "targets.project_id", "must be a project id")
	v.Check(t.InstallerID >= 0, "targets.installer_id", "must be an installer id")
	v.Check(len(t.Model) <= 64, "targets.model", "must be at most 64 characters")
	v.Check(len(t.CurrentVersion) <= 64, "targets.current_version", "must be at most 64 characters")
	v.Check(!strings.ContainsFunc(t.CurrentVersion, isControl), "targets.current_version", "must not hold control characters")
}

// RolloutPlan is how a rollout goes: a canary of CanaryCount devices or
// CanaryPercent of them (one of the two; both 0: no canary), then waves of
// WaveSize devices or WavePercent of them (both 0: one wave of the rest);
// devices are released only inside [WindowStart, WindowEnd) of their local
// time ("HH:MM"; a window may cross midnight, equal ends: all day); a
// wave whose failed share of ended upgrades exceeds FailureThreshold
// percent pauses the rollout before the next wave; a released device with
// no outcome after DeviceTimeout seconds fails.
type RolloutPlan struct {
	CanaryCount      int    `json:"canary_count"`
	CanaryPercent    int    `json:"canary_percent"`
	WaveSize         int    `json:"wave_size"`
	WavePercent      int    `json:"wave_percent"`
	WindowStart      string `json:"window_start"` // "HH:MM", device local time; "" 00:00
	WindowEnd        string `json:"window_end"`   // "HH:MM"; "" 24:00
	FailureThreshold int    `json:"failure_threshold"`
	DeviceTimeout    int    `json:"device_timeout"` // seconds; 0: DefaultDeviceTimeout
}

// Rollout plan bounds.
const (
	DefaultDeviceTimeout    = 3600
	MinDeviceTimeout        = 60
	MaxDeviceTimeout        = 7 * 24 * 3600
	DefaultFailureThreshold = 10
	// MaxPlanDevices bounds canary_count and wave_size (the columns are
	// 32-bit; a fleet is far smaller).
	MaxPlanDevices = 1_000_000
)

// Check validates and normalises p into v (empty window ends become
// 00:00 and 24:00, a 0 timeout the default).
func (p *RolloutPlan) Check(v *Validator) {
	v.Check(p.CanaryCount >= 0 && p.CanaryCount <= MaxPlanDevices, "plan.canary_count", "must be from 0 to %d", MaxPlanDevices)
	v.Check(p.CanaryPercent >= 0 && p.CanaryPercent <= 100, "plan.canary_percent", "must be from 0 to 100")
	v.Check(p.CanaryCount == 0 || p.CanaryPercent == 0, "plan.canary_percent", "give canary_count or canary_percent, not both")
	v.Check(p.WaveSize >= 0 && p.WaveSize <= MaxPlanDevices, "plan.wave_size", "must be from 0 to %d", MaxPlanDevices)
	v.Check(p.WavePercent >= 0 && p.WavePercent <= 100, "plan.wave_percent", "must be from 0 to 100")
	v.Check(p.WaveSize == 0 || p.WavePercent == 0, "plan.wave_percent", "give wave_size or wave_percent, not both")
	v.Check(p.FailureThreshold >= 0 && p.FailureThreshold <= 100, "plan.failure_threshold", "must be a percentage from 0 to 100")
	if p.DeviceTimeout == 0 {
		p.DeviceTimeout = DefaultDeviceTimeout
	}
	v.Check(p.DeviceTimeout >= MinDeviceTimeout && p.DeviceTimeout <= MaxDeviceTimeout, "plan.device_timeout",
		"must be from %d seconds to %d seconds (7 days)", MinDeviceTimeout, MaxDeviceTimeout)
	p.WindowStart, p.WindowEnd = strings.TrimSpace(p.WindowStart), strings.TrimSpace(p.WindowEnd)
	if p.WindowStart == "" {
		p.WindowStart = "00:00"
	}
	if p.WindowEnd == "" {
		p.WindowEnd = "24:00"
	}
	_, ok := ParseClock(p.WindowStart)
	v.Check(ok && p.WindowStart != "24:00", "plan.window_start", "must be a time HH:MM from 00:00 to 23:59")
	_, ok = ParseClock(p.WindowEnd)
	v.Check(ok, "plan.window_end", "must be a time HH:MM from 00:00 to 24:00")
}

// ParseClock reads "HH:MM" (00:00–24:00) as minutes after midnight.
func ParseClock(s string) (int, bool) {
	if len(s) != 5 || s[2] != ':' {
		return 0, false
	}
	h, err1 := strconv.Atoi(s[:2])
	m, err2 := strconv.Atoi(s[3:])
	if err1 != nil || err2 != nil || h < 0 || m < 0 || m > 59 || h > 24 || (h == 24 && m != 0) {
		return 0, false
	}
	return h*60 + m, true
}

// FormatClock writes minutes after midnight as "HH:MM".
func FormatClock(min int) string {
	return fmt.Sprintf("%02d:%02d", min/60, min%60)
}

// InWindow says whether local time t (the device's) lies in the window
// [start, end) minutes after midnight; start > end crosses midnight
// (22:00–04:00), start == end (or 0–1440) is all day.
func InWindow(t time.Time, start, end int) bool {
	if start == end || (start == 0 && end >= 1440) {
		return true
	}
	m := t.Hour()*60 + t.Minute()
	if start < end {
		return m >= start && m < end
	}
	return m >= start || m < end
}

// WindowEnd returns the end of the window occurrence [start, end) (minutes
// after midnight, as for InWindow) that local time t lies in, in t's
// location, and false for an all-day window (no end). For t outside the
// window it returns the end of the next occurrence.
func WindowEnd(t time.Time, start, end int) (time.Time, bool) {
	if start == end || (start == 0 && end >= 1440) {
		return time.Time{}, false
	}
	y, mo, d := t.Date()
	m := t.Hour()*60 + t.Minute()
	// The occurrence ends today unless the window crosses midnight and t
	// is in its evening part (or past today's end: the next one).
	if m >= end && (start > end || m >= start) {
		d++
	}
	return time.Date(y, mo, d, end/60, end%60, 0, 0, t.Location()), true
}

// PlanWaves splits total devices into wave sizes: wave 0 the canary (when
// the plan has one), then waves of the plan's size or share of the total
// (a share rounds up, at least 1 device); no wave size: one wave of the
// rest. A canary as large as the total leaves no further wave.
func PlanWaves(total int, p RolloutPlan) []int {
	if total <= 0 {
		return nil
	}
	var waves []int
	canary := p.CanaryCount
	if p.CanaryPercent > 0 {
		canary = ceilShare(total, p.CanaryPercent)
	}
	canary = min(canary, total)
	if canary > 0 {
		waves = append(waves, canary)
	}
	rest := total - canary
	size := p.WaveSize
	if p.WavePercent > 0 {
		size = ceilShare(total, p.WavePercent)
	}
	if size <= 0 {
		size = rest
	}
	for rest > 0 {
		n := min(size, rest)
		waves = append(waves, n)
		rest -= n
	}
	return waves
}

func ceilShare(total, percent int) int { return max(1, (total*percent+99)/100) }

// RolloutInput is what creating a rollout takes.
type RolloutInput struct {
	FirmwareID int64          `json:"firmware_id"`
	Name       string         `json:"name"`
	Targets    RolloutTargets `json:"targets"`
	Plan       RolloutPlan    `json:"plan"`
}

// MaxRolloutName bounds a rollout's name.
const MaxRolloutName = 100

// Check validates and normalises in, naming each bad field.
func (in *RolloutInput) Check() error {
	var v Validator
	v.Check(in.FirmwareID > 0, "firmware_id", "is required")
	in.Name = strings.TrimSpace(in.Name)
	v.Check(utf8.RuneCountInString(in.Name) <= MaxRolloutName, "name", "must be at most %d characters", MaxRolloutName)
	v.Check(!strings.ContainsFunc(in.Name, isControl), "name", "must not hold control characters")
	in.Targets.Check(&v)
	in.Plan.Check(&v)
	return v.Err()
}

// RolloutTargetCount is the preview of a rollout's targets: Matching
// devices would be in it; the others match the filters but are left out.
type RolloutTargetCount struct {
	Matching       int   `json:"matching"`         // devices the rollout would upgrade
	InOtherRollout int   `json:"in_other_rollout"` // in another open upgrade: skipped
	OnVersion      int   `json:"on_version"`       // already on the firmware's version: skipped
	WrongModel     int   `json:"wrong_model"`      // match the filters but are of another model
	Waves          []int `json:"waves"`            // the plan's wave sizes for Matching (wave 0 the canary when the plan has one)
}

// RolloutProgress counts a rollout's upgrades per state, in total and per
// wave.
type RolloutProgress struct {
	RolloutID int64                `json:"rollout_id"`
	Status    RolloutStatus        `json:"status"`
	Total     int                  `json:"total"`
	ByState   map[UpgradeState]int `json:"by_state"`
	ByWave    []WaveProgress       `json:"by_wave"`
	Ended     int                  `json:"ended"`   // done, failed, canceled or skipped
	Percent   int                  `json:"percent"` // ended share of the total, 0–100
}

// WaveProgress is one wave's counts.
type WaveProgress struct {
	Wave    int                  `json:"wave"`
	Canary  bool                 `json:"canary"`
	Total   int                  `json:"total"`
	ByState map[UpgradeState]int `json:"by_state"`
}

// DeviceUpgrade is one device's upgrade: a row of a rollout's device table
// and of a device's firmware history.
type DeviceUpgrade struct {
	ID          int64        `json:"id"`
	RolloutID   int64        `json:"rollout_id"`
	RolloutName string       `json:"rollout_name"`
	DeviceID    int64        `json:"device_id"`
	MAC         string       `json:"mac"`
	DeviceName  string       `json:"device_name"`
	FirmwareID  int64        `json:"firmware_id"`
	Wave        int          `json:"wave"`
	TimeZone    string       `json:"time_zone"`
	State       UpgradeState `json:"state"`
	Percent     int          `json:"percent"`
	FromVersion string       `json:"from_version"`
	ToVersion   string       `json:"to_version"`
	Error       string       `json:"error,omitempty"`
	Attempts    int          `json:"attempts"`
	Queued      *time.Time   `json:"queued_at,omitempty"`
	Sent        *time.Time   `json:"sent_at,omitempty"`
	Updated     *time.Time   `json:"updated_at,omitempty"`
	Finished    *time.Time   `json:"finished_at,omitempty"`
	Deadline    *time.Time   `json:"deadline_at,omitempty"`
}

// RolloutFilter is the rollout list's search.
type RolloutFilter struct {
	FirmwareID int64
	Status     RolloutStatus // "" all
	Name       string        // case-insensitive "contains"
	Page
}

// Valid says whether s is a rollout status.
func (s RolloutStatus) Valid() bool {
	switch s {
	case RolloutDraft, RolloutRunning, RolloutPaused, RolloutCanceled, RolloutDone:
		return true
	}
	return false
}

// Valid says whether s is an upgrade state.
func (s UpgradeState) Valid() bool { return slices.Contains(UpgradeStates, s) }

// RolloutDeviceFilter searches a rollout's devices: MAC as in the device
// lists (hex digits, any part), State exactly, Error "contains".
type RolloutDeviceFilter struct {
	MAC   string
	State UpgradeState
	Error string
	Wave  *int
	Page
}

// Check validates and normalises f into v.
func (f *RolloutDeviceFilter) Check(v *Validator) {
	if f.MAC = strings.TrimSpace(f.MAC); f.MAC != "" {
		hex, ok := PartialMAC(f.MAC)
		v.Check(ok, "mac", "must be a MAC or a part of one: hex digits, optionally separated by : - or .")
		if ok {
			f.MAC = hex
		}
	}
	v.Check(f.State == "" || f.State.Valid(), "state", "must be one of draft, pending, queued, sent, downloading, verifying, installing, rebooting, done, failed, canceled, skipped")
	f.Error = strings.TrimSpace(f.Error)
	v.Check(utf8.RuneCountInString(f.Error) <= MaxDeviceQuery, "error", "must be at most %d characters", MaxDeviceQuery)
	v.Check(f.Wave == nil || *f.Wave >= 0, "wave", "must be 0 or more")
}

// Rollout status actions.
const (
	RolloutStart  = "start"
	RolloutPause  = "pause"
	RolloutResume = "resume"
	RolloutCancel = "cancel"
)

// RolloutTransition returns the status action leads to from status from,
// or false when the action is not allowed there.
func RolloutTransition(from RolloutStatus, action string) (RolloutStatus, bool) {
	switch {
	case action == RolloutStart && from == RolloutDraft:
		return RolloutRunning, true
	case action == RolloutPause && from == RolloutRunning:
		return RolloutPaused, true
	case action == RolloutResume && from == RolloutPaused:
		return RolloutRunning, true
	case action == RolloutCancel && (from == RolloutDraft || from == RolloutRunning || from == RolloutPaused):
		return RolloutCanceled, true
	}
	return from, false
}

// RolloutStep is what one scheduler step did to one rollout.
type RolloutStep struct {
	RolloutID int64
	Released  []string      // MACs of the devices released (pending → queued): the gateway is told
	Advanced  int           // waves that finished in this step
	Status    RolloutStatus // the status after the step (paused: the threshold paused it; done)
	Reason    string        // why it paused
}

// ParseRolloutFilter reads the rollout list's search from a query:
// firmware_id, status, name, page, per_page.
func ParseRolloutFilter(q url.Values, v *Validator) RolloutFilter {
	f := RolloutFilter{Status: RolloutStatus(strings.TrimSpace(q.Get("status"))), Name: strings.TrimSpace(q.Get("name")), Page: ParsePage(q, v)}
	if s := q.Get("firmware_id"); s != "" {
		n, err := strconv.ParseInt(s, 10, 64)
		v.Check(err == nil && n > 0, "firmware_id", "must be a firmware id")
		f.FirmwareID = n
	}
	v.Check(f.Status == "" || f.Status.Valid(), "status", "must be draft, running, paused, canceled or done")
	v.Check(utf8.RuneCountInString(f.Name) <= MaxRolloutName, "name", "must be at most %d characters", MaxRolloutName)
	return f
}

// ParseRolloutDeviceFilter reads a rollout's device search from a query:
// mac, state, error, wave, page, per_page.
func ParseRolloutDeviceFilter(q url.Values, v *Validator) RolloutDeviceFilter {
	f := RolloutDeviceFilter{MAC: q.Get("mac"), State: UpgradeState(strings.TrimSpace(q.Get("state"))), Error: q.Get("error"), Page: ParsePage(q, v)}
	if s := q.Get("wave"); s != "" {
		n, err := strconv.Atoi(s)
		v.Check(err == nil && n >= 0, "wave", "must be a wave number from 0")
		f.Wave = &n
	}
	f.Check(v)
	return f
}
