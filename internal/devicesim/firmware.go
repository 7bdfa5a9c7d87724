package devicesim

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Firmware upgrades (protocol §5.1), as a device does them: download the
// image (resuming with Range after a broken download), check its size and
// SHA-256, install, reboot into it, and acknowledge once back with the new
// firmware — reporting progress on the way. A share of the fleet can be
// told to fail (Config.UpgradeFail…), chosen by MAC so that the same
// devices fail every run.

// Upgrade stages a device reports (protocol §5.1).
const (
	stageDownloading = "downloading"
	stageVerifying   = "verifying"
	stageInstalling  = "installing"
	stageRebooting   = "rebooting"
)

// Phases of an upgrade the device keeps across reconnects.
const (
	phaseDownloading = "downloading" // the image is (partly) here
	phaseRebooting   = "rebooting"   // installed: acknowledge after the reboot
	phaseSilent      = "silent"      // failure injection: never heard of again
)

// upgradeFault is the failure a device was told to have.
type upgradeFault int

const (
	faultNone upgradeFault = iota
	faultChecksum
	faultTimeout
	faultOldVersion
)

// maxDownloadFailures bounds the broken downloads in a row (no byte gained)
// before the device gives up with ok:false.
const maxDownloadFailures = 5

// upgradeJob is the device's upgrade under way. The image itself is not
// kept: its hash state and length are (a simulator of 10,000 devices
// downloading a 32 MiB image would otherwise hold 320 GB).
type upgradeJob struct {
	ID         string `json:"id"`
	Version    string `json:"version"`
	FirmwareID int64  `json:"firmware_id,omitempty"`
	Phase      string `json:"phase"`
	Booted     string `json:"booted,omitempty"` // the firmware it booted into (rebooting)

	got  int64     // bytes downloaded
	hash hash.Hash // over those bytes
}

// upgradeMessage is the upgrade command's fields.
type upgradeMessage struct {
	FirmwareID int64  `json:"firmware_id"`
	Version    string `json:"version"`
	Size       int64  `json:"size"`
	SHA256     string `json:"sha256"`
	Deadline   string `json:"deadline"`
}

// late says the upgrade's deadline has passed (a device begins nothing
// after it).
func (u *upgradeMessage) late() bool {
	t, err := time.Parse(time.RFC3339, u.Deadline)
	return err == nil && time.Now().After(t)
}

// progressMessage is what a device reports of its upgrade.
type progressMessage struct {
	Type    string `json:"type"`
	ID      string `json:"id"`
	Stage   string `json:"stage"`
	Percent *int   `json:"percent,omitempty"`
}

// Firmware is the firmware the device runs (it changes with an upgrade,
// and is kept in its state file).
func (d *Device) Firmware() string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.firmwareLocked()
}

func (d *Device) firmwareLocked() string {
	if d.firmware != "" {
		return d.firmware
	}
	return d.f.cfg.Firmware
}

// WaitFirmware blocks until the device runs firmware v or ctx ends.
func (d *Device) WaitFirmware(ctx context.Context, v string) error {
	return d.wait(ctx, func() bool { return d.firmwareLocked() == v })
}

// Downloaded counts the image bytes the device received (resumed downloads
// add only what was missing).
func (d *Device) Downloaded() int64 {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.downloaded
}

// fault is the failure Config assigns this device: the MAC's place in
// [0, 1) against the shares, checksum first, then timeout, then old version.
func (d *Device) fault() upgradeFault {
	x := macShare(d.mac)
	c := &d.f.cfg
	switch {
	case x < c.UpgradeFailChecksum:
		return faultChecksum
	case x < c.UpgradeFailChecksum+c.UpgradeFailTimeout:
		return faultTimeout
	case x < c.UpgradeFailChecksum+c.UpgradeFailTimeout+c.UpgradeFailOldVersion:
		return faultOldVersion
	}
	return faultNone
}

// upgrade acts on an upgrade command (its id not executed before); reboot
// says the connection must end for the reboot into the new firmware.
func (l *link) upgrade(m *message, id string) (reboot bool, err error) {
	d := l.d
	u := m.upgradeMessage
	d.mu.Lock()
	running := d.firmwareLocked()
	j := d.job
	if j != nil && j.ID != id {
		j = nil // another upgrade replaces one the cloud gave up on
	}
	if j == nil {
		j = &upgradeJob{ID: id, Version: u.Version, FirmwareID: u.FirmwareID, Phase: phaseDownloading, hash: sha256.New()}
		d.job = j
	}
	d.mu.Unlock()
	switch {
	case j.Phase == phaseSilent, j.Phase == phaseRebooting:
		return false, nil // silent by design; or installed, acknowledged after the reboot
	case u.Version != "" && u.Version == running:
		d.endJob()
		return false, l.finish(m, id, ackRecord{OK: true, Version: running})
	case u.late():
		d.endJob()
		return false, l.finish(m, id, ackRecord{OK: false, Error: "deadline passed"})
	}
	if err := l.download(j, m.URL, u.Size); err != nil {
		var fail *downloadFailure
		if !errors.As(err, &fail) {
			return false, err // the connection ended: resumed on the next one
		}
		d.endJob()
		return false, l.finish(m, id, ackRecord{OK: false, Error: fail.msg})
	}
	fault := d.fault()
	if fault == faultTimeout {
		d.mu.Lock()
		j.Phase = phaseSilent
		d.mu.Unlock()
		return false, d.save()
	}
	l.progress(id, stageVerifying, nil)
	l.pause()
	sum := hex.EncodeToString(j.hash.Sum(nil))
	switch {
	case j.got != u.Size:
		d.endJob()
		return false, l.finish(m, id, ackRecord{OK: false, Error: fmt.Sprintf("size mismatch: got %d bytes, expected %d", j.got, u.Size)})
	case fault == faultChecksum || !strings.EqualFold(sum, strings.TrimPrefix(u.SHA256, "sha256:")):
		d.endJob()
		return false, l.finish(m, id, ackRecord{OK: false, Error: "checksum mismatch"})
	}
	if u.late() { // too late to begin installing: the cloud has given up
		d.endJob()
		return false, l.finish(m, id, ackRecord{OK: false, Error: "deadline passed"})
	}
	// Installed and rebooting from here on, whether the connection lasts
	// or not: a device does not stop installing for a network fault.
	l.progress(id, stageInstalling, nil)
	l.pause()
	d.mu.Lock()
	j.Phase, j.Booted = phaseRebooting, u.Version
	if fault == faultOldVersion {
		j.Booted = running // the new firmware did not boot: back in the old one
	}
	d.mu.Unlock()
	if err := d.save(); err != nil {
		return false, err
	}
	l.progress(id, stageRebooting, nil)
	return true, nil
}

// endJob forgets the upgrade under way.
func (d *Device) endJob() {
	d.mu.Lock()
	d.job = nil
	d.mu.Unlock()
}

// finish remembers an upgrade's outcome (once per id) and acknowledges it.
func (l *link) finish(m *message, id string, rec ackRecord) error {
	if err := l.d.remember(id, rec, nil); err != nil {
		return err
	}
	if ok := rec.OK; ok {
		l.d.f.upgraded.Add(1)
	} else {
		l.d.f.upgradeFailed.Add(1)
	}
	return l.ack(m, rec)
}

// boot applies an installed upgrade at a reboot: the device runs what it
// booted into from now on.
func (d *Device) boot() {
	if j := d.job; j != nil && j.Phase == phaseRebooting && j.Booted != "" {
		d.firmware = j.Booted
	}
}

// ackAfterReboot acknowledges an upgrade the device rebooted for, once
// welcomed back: ok with the version it runs (the cloud judges it).
func (l *link) ackAfterReboot() error {
	d := l.d
	d.mu.Lock()
	j := d.job
	if j == nil || j.Phase != phaseRebooting {
		d.mu.Unlock()
		return nil
	}
	d.job = nil
	rec := ackRecord{OK: true, Version: d.firmwareLocked()}
	d.mu.Unlock()
	if err := d.remember(j.ID, rec, nil); err != nil {
		return err
	}
	if rec.Version == j.Version {
		d.f.upgraded.Add(1)
	} else {
		d.f.upgradeFailed.Add(1)
	}
	return l.ack(&message{ID: []byte(strconv.Quote(j.ID))}, rec)
}

// pause is the time verifying or installing takes.
func (l *link) pause() {
	t := time.NewTimer(l.d.f.cfg.UpgradeStepTime)
	defer t.Stop()
	select {
	case <-t.C:
	case <-l.ctx.Done():
	}
}

// progress reports a stage (errors are the connection's: its reader sees
// them too).
func (l *link) progress(id, stage string, percent *int) {
	if percent == nil || *percent == 0 || *percent == 100 {
		l.d.logf("upgraded[90]", "upgrade %s: %s", id, stage)
	}
	l.send(progressMessage{Type: "progress", ID: id, Stage: stage, Percent: percent})
}

// downloadFailure is a download that will not succeed: the device gives
// up and says why.
type downloadFailure struct{ msg string }

func (e *downloadFailure) Error() string { return e.msg }

// download fetches the image into j (from where it stopped: Range),
// reporting the percent at most once a second. A refusal (4xx) fails the
// upgrade; a busy server (503, 429) is waited for as it asks; a broken
// transfer is resumed after a short back-off. It returns the link's error
// when the connection ends: the next connection's resend resumes it.
func (l *link) download(j *upgradeJob, url string, size int64) error {
	d := l.d
	f := d.f
	var last time.Time
	report := func(force bool) {
		if size <= 0 || (!force && time.Since(last) < time.Second) {
			return
		}
		pct := int(min(j.got*100/size, 100))
		last = time.Now()
		l.progress(j.ID, stageDownloading, &pct)
	}
	report(true)
	failures := 0
	for {
		if err := l.ctx.Err(); err != nil {
			return err
		}
		req, err := http.NewRequestWithContext(l.ctx, http.MethodGet, url, nil)
		if err != nil {
			return &downloadFailure{"download failed: " + err.Error()}
		}
		from := j.got
		if from > 0 {
			req.Header.Set("Range", "bytes="+strconv.FormatInt(from, 10)+"-")
		}
		resp, err := f.downloadClient.Do(req)
		var wait time.Duration
		switch {
		case err != nil:
		case resp.StatusCode == http.StatusServiceUnavailable || resp.StatusCode == http.StatusTooManyRequests:
			// The server bounds its downloads: come back when it says.
			s, _ := strconv.Atoi(resp.Header.Get("Retry-After"))
			wait = time.Duration(max(s, 1))*time.Second + time.Duration(rand.Float64()*float64(time.Second))
			failures-- // not counted
		case resp.StatusCode == http.StatusRequestedRangeNotSatisfiable:
			j.got, j.hash = 0, sha256.New() // start again
			failures--
		case resp.StatusCode == http.StatusOK || resp.StatusCode == http.StatusPartialContent:
			if resp.StatusCode == http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Range"), "bytes "+strconv.FormatInt(from, 10)+"-") {
				j.got, j.hash = 0, sha256.New() // the whole image
			}
			err = l.receive(j, resp.Body, size, report)
			var fail *downloadFailure
			if err == nil || errors.As(err, &fail) {
				resp.Body.Close()
				if err == nil {
					report(true)
				}
				return err
			}
		default:
			resp.Body.Close()
			return &downloadFailure{fmt.Sprintf("download failed: HTTP %d", resp.StatusCode)}
		}
		if resp != nil {
			resp.Body.Close()
		}
		if err := l.ctx.Err(); err != nil {
			return err
		}
		if j.got > from {
			failures = 0 // it moved on
		} else {
			failures++
		}
		if failures >= maxDownloadFailures {
			why := "download failed"
			if err != nil {
				why += ": " + err.Error()
			}
			return &downloadFailure{why}
		}
		if wait == 0 {
			wait = backoff(f.cfg.Backoff, f.cfg.BackoffMax, max(failures, 0), rand.Float64())
		}
		f.log.Debug("firmware download broken, resuming", "mac", d.mac, "got", j.got, "err", err, "retry_in", wait)
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-l.ctx.Done():
			t.Stop()
			return l.ctx.Err()
		}
	}
}

// receive reads a download's body into j; an image longer than announced
// is refused.
func (l *link) receive(j *upgradeJob, body io.Reader, size int64, report func(bool)) error {
	buf := make([]byte, 32<<10)
	rate := l.d.f.cfg.DownloadRate
	if rate > 0 {
		buf = buf[:min(int64(len(buf)), max(rate/10, 1))] // a tenth of a second a read
	}
	start, from := time.Now(), j.got
	for {
		if rate > 0 { // wait until the bytes so far took as long as the rate says
			due := start.Add(time.Duration(float64(j.got-from) / float64(rate) * float64(time.Second)))
			if wait := time.Until(due); wait > 0 {
				t := time.NewTimer(wait)
				select {
				case <-t.C:
				case <-l.ctx.Done():
					t.Stop()
					return l.ctx.Err()
				}
			}
		}
		n, err := body.Read(buf)
		if n > 0 {
			if size > 0 && j.got+int64(n) > size {
				return &downloadFailure{fmt.Sprintf("size mismatch: more than %d bytes", size)}
			}
			j.hash.Write(buf[:n])
			j.got += int64(n)
			l.d.mu.Lock()
			l.d.downloaded += int64(n)
			l.d.mu.Unlock()
			report(false)
		}
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
	}
}

// macShare maps a MAC to [0, 1), evenly however alike the MACs: sequential
// MACs (a demo's, a production batch's) differ in their last digits only,
// which FNV leaves in its low bits — by FNV's top bits every device of a
// run failed or none did.
func macShare(mac string) float64 {
	sum := sha256.Sum256([]byte(mac))
	return float64(binary.BigEndian.Uint64(sum[:8])>>11) / (1 << 53)
}
