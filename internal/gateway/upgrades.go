package gateway

import (
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/deviceauth"
	"github.com/gatehouse-dev/gatehouse/internal/model"
)

// Firmware upgrades (docs/device-protocol.md §5.1): the gateway tells a
// device its open upgrade — on connect, and when a rollout releases it (a
// Kick) — and records what the device reports: progress, its
// acknowledgement, and (at hello) the firmware it came back with.

// upgradeCommand is the "upgrade" line.
type upgradeCommand struct {
	Type       string `json:"type"`
	ID         string `json:"id"`
	FirmwareID int64  `json:"firmware_id"`
	Version    string `json:"version"`
	URL        string `json:"url"`
	Size       int64  `json:"size"`
	SHA256     string `json:"sha256"`
	Deadline   string `json:"deadline"`
}

// upgradeTokenLife is how long a download token lasts for an upgrade
// without a deadline.
const upgradeTokenLife = 24 * time.Hour

// progressEvery bounds how often a download's percent is recorded per
// device; stages are recorded whenever they change.
const progressEvery = time.Second

// FirmwarePath is where a node serves a stored firmware image:
// FirmwarePath + "{id}?token=…".
const FirmwarePath = "/device/v1/firmware/"

// upgradeGateTTL is how long the gateway trusts its answer to "is any
// upgrade in flight?".
const upgradeGateTTL = time.Second

// upgradeGate spares a connect the upgrade lookup while no upgrade is in
// flight anywhere — nearly always, outside rollouts; the connect storm of
// a node restarting pays one atomic load per device. The answer is at most
// upgradeGateTTL old: a device connecting in the first second of a rollout
// is told by the rollout's Kick or by Run's sweep (ResendEvery) instead.
type upgradeGate struct {
	until atomic.Int64 // UnixNano: the answer holds until then
	any   atomic.Bool
	mu    sync.Mutex // one lookup at a time
}

func (u *upgradeGate) inFlight(g *Gateway) bool {
	if time.Now().UnixNano() < u.until.Load() {
		return u.any.Load()
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	if time.Now().UnixNano() < u.until.Load() {
		return u.any.Load()
	}
	ctx, cancel := g.within(g.ctx, commandsTimeout)
	any, err := g.st.UpgradesInFlight(ctx)
	cancel()
	if err != nil {
		g.log.Warn("gateway: any upgrades in flight", "err", err)
		return true // look for the device's own
	}
	u.any.Store(any)
	u.until.Store(time.Now().Add(upgradeGateTTL).UnixNano())
	return any
}

// seen: upgrades are in flight (a kick found some).
func (u *upgradeGate) seen() {
	u.any.Store(true)
	u.until.Store(time.Now().Add(upgradeGateTTL).UnixNano())
}

// deliverUpgradesOnConnect applies the hello to the device's open upgrade
// (done when it came back with the target, failed with another version
// after installing) and sends what is still open, marked sent. One
// prepared index probe for a device without an upgrade.
func (g *Gateway) deliverUpgradesOnConnect(c *conn) {
	if !g.upgrades.inFlight(g) {
		return
	}
	ctx, cancel := g.within(g.ctx, commandsTimeout)
	ups, err := g.st.UpgradeConnect(ctx, c.id, c.state.Firmware)
	cancel()
	if err != nil {
		g.log.Error("gateway: open upgrades", "mac", c.mac, "err", err)
		return
	}
	if len(ups) > 0 {
		g.sendUpgrades(map[int64][]*model.UpgradeCommand{c.id: ups}, []*conn{c})
	}
}

// deliverQueuedUpgrades sends the upgrades released since these devices
// connected (a Kick, or Run's safety net).
func (g *Gateway) deliverQueuedUpgrades(conns []*conn) {
	ids := make([]int64, len(conns))
	for i, c := range conns {
		ids[i] = c.id
	}
	ctx, cancel := g.within(g.ctx, commandsTimeout)
	ups, err := g.st.QueuedUpgrades(ctx, ids...)
	cancel()
	if err != nil {
		g.log.Error("gateway: queued upgrades", "err", err)
		return
	}
	if len(ups) > 0 {
		g.upgrades.seen()
		g.sendUpgrades(ups, conns)
	}
}

// sendUpgrades marks the upgrades sent, then writes each to its device.
func (g *Gateway) sendUpgrades(ups map[int64][]*model.UpgradeCommand, conns []*conn) {
	var ids []int64
	for _, us := range ups {
		for _, u := range us {
			ids = append(ids, u.ID)
		}
	}
	ctx, cancel := g.within(g.ctx, commandsTimeout)
	marked, err := g.st.MarkUpgradesSent(ctx, ids...)
	cancel()
	if err != nil {
		g.log.Error("gateway: mark upgrades sent", "err", err)
		return
	}
	// Only those still open when marked: one canceled or ended since it
	// was read is not sent.
	ok := make(map[int64]bool, len(marked))
	for _, id := range marked {
		ok[id] = true
	}
	for _, c := range conns {
		var us []*model.UpgradeCommand
		for _, u := range ups[c.id] {
			if ok[u.ID] {
				us = append(us, u)
			}
		}
		if len(us) > 0 {
			g.spawn(func() { c.sendUpgrades(us) })
		}
	}
}

// sendUpgrades writes upgrade commands to the device.
func (c *conn) sendUpgrades(us []*model.UpgradeCommand) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	for _, u := range us {
		if c.closing.Load() {
			return
		}
		if err := c.writeLocked(c.upgradeLine(u)); err != nil {
			return
		}
	}
}

// upgradeLine is the command for u: a stored image's URL is this node's
// origin (that of the autop_url) with a download token for this device,
// valid until the upgrade's deadline.
func (c *conn) upgradeLine(u *model.UpgradeCommand) upgradeCommand {
	exp := u.Deadline
	if exp.IsZero() {
		exp = c.g.st.Now().Add(upgradeTokenLife)
	}
	link := u.URL
	if link == "" {
		base := strings.TrimSuffix(c.autopURL, "/autop/"+c.mac+".cfg")
		token := deviceauth.FirmwareToken(c.g.st.FirmwareTokenKey(), c.id, u.FirmwareID, exp)
		link = base + FirmwarePath + strconv.FormatInt(u.FirmwareID, 10) + "?token=" + url.QueryEscape(token)
	}
	return upgradeCommand{Type: "upgrade", ID: model.UpgradeCommandID(u.ID), FirmwareID: u.FirmwareID, Version: u.Version,
		URL: link, Size: u.Size, SHA256: u.SHA256, Deadline: exp.UTC().Format(time.RFC3339)}
}

// progress records a progress message: the stage, and while downloading
// the percent (at most once per progressEvery; the stage's first report
// and 100 % always).
func (c *conn) progress(m *message) {
	g := c.g
	id, ok := parseUpgradeID(m.ID)
	stage := model.UpgradeState(m.Stage)
	if !ok || !stage.Stage() {
		return // not one of ours
	}
	pct := 0
	if m.Percent != nil {
		pct = *m.Percent
	}
	now := time.Now()
	if stage == model.UpgradeDownloading && pct < 100 && pct > 0 && now.Sub(c.lastProgress) < progressEvery {
		return
	}
	c.lastProgress = now
	ctx, cancel := g.within(g.ctx, reportTimeout)
	_, err := g.st.UpgradeProgress(ctx, c.id, id, stage, pct)
	cancel()
	if err != nil {
		g.log.Warn("gateway: record upgrade progress", "mac", c.mac, "upgrade", m.ID, "err", err)
	}
}

// upgradeAck records the device's acknowledgement of its upgrade id.
func (c *conn) upgradeAck(id int64, m *message) {
	g := c.g
	ctx, cancel := g.within(g.ctx, reportTimeout)
	_, err := g.st.FinishUpgrade(ctx, c.id, id, m.OK, m.Error, m.Version)
	cancel()
	if err != nil {
		g.log.Error("gateway: record upgrade ack", "mac", c.mac, "upgrade", m.ID, "err", err)
	}
}
