package devicesim

import (
	"bufio"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/gatehouse-dev/gatehouse/internal/model"
)

// ParseMAC reads a MAC in any common notation (0C:11:05:AA:BB:CC,
// 0c-11-05-aa-bb-cc, 0C11.05AA.BBCC, 0C1105AABBCC) and returns it as the
// protocol writes it: 12 upper-case hex digits.
func ParseMAC(s string) (string, error) {
	if m, ok := model.NormalizeMAC(strings.ReplaceAll(s, " ", "")); ok {
		return m, nil
	}
	return "", fmt.Errorf("MAC %q: not a MAC address of 12 hex digits", s)
}

// ParseMACList reads one MAC a line in any notation; blank lines and
// comments (from #) are skipped. Errors name the line.
func ParseMACList(r io.Reader) ([]string, error) {
	var macs []string
	seen := map[string]bool{}
	sc := bufio.NewScanner(r)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		if i := strings.IndexByte(line, '#'); i >= 0 {
			line = line[:i]
		}
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		mac, err := ParseMAC(line)
		if err != nil {
			return nil, fmt.Errorf("line %d: %w", n, err)
		}
		if !seen[mac] {
			seen[mac] = true
			macs = append(macs, mac)
		}
	}
	return macs, sc.Err()
}

// newKey is a fresh device key: 32 random bytes, 43 characters of
// base64url (protocol §1).
func newKey() string {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err)
	}
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// validKey is the protocol's key form: 32 to 128 of A–Z a–z 0–9 - _.
func validKey(k string) bool {
	if len(k) < 32 || len(k) > 128 {
		return false
	}
	for _, r := range k {
		if !(r >= 'A' && r <= 'Z' || r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-' || r == '_') {
			return false
		}
	}
	return true
}

// state is what a device keeps in non-volatile storage:
// StateDir/<MAC>.json.
type state struct {
	MAC           string            `json:"mac"`
	Key           string            `json:"key"`
	ConfigVersion string            `json:"config_version"`
	Config        map[string]string `json:"config,omitempty"`
	Executed      []ackRecord       `json:"executed,omitempty"` // last 256 executed commands, oldest first
	Firmware      string            `json:"firmware,omitempty"` // after an upgrade: what it runs
	Upgrade       *upgradeJob       `json:"upgrade,omitempty"`  // installed, or silent by design
}

func ensureDir(dir string) error { return os.MkdirAll(dir, 0o700) }

func (d *Device) statePath() string {
	if d.f.cfg.StateDir == "" {
		return ""
	}
	return filepath.Join(d.f.cfg.StateDir, d.mac+".json")
}

// load reads the device's state, or makes a first-boot one (a new key).
func (d *Device) load() error {
	p := d.statePath()
	if p != "" {
		b, err := os.ReadFile(p)
		switch {
		case errors.Is(err, fs.ErrNotExist):
		case err != nil:
			return err
		default:
			var st state
			if err := json.Unmarshal(b, &st); err != nil {
				return fmt.Errorf("%s: %w", p, err)
			}
			d.mu.Lock()
			if validKey(st.Key) {
				d.key = st.Key
			}
			d.config, d.version = st.Config, st.ConfigVersion
			if n := len(st.Executed); n > rememberCommands {
				st.Executed = st.Executed[n-rememberCommands:]
			}
			d.acks = st.Executed
			d.firmware = st.Firmware
			if st.Upgrade != nil && st.Upgrade.Phase != phaseDownloading {
				d.job = st.Upgrade // a partial download is not kept: it starts again
				d.boot()           // a restart is a reboot: into what was installed
			}
			d.mu.Unlock()
		}
	}
	d.mu.Lock()
	fresh := d.key == ""
	if fresh {
		d.key = d.factoryKey
		if !validKey(d.key) {
			d.key = newKey()
		}
	}
	d.mu.Unlock()
	if fresh {
		return d.saveFile(false)
	}
	return nil
}

// save writes the state file (atomically: a temporary file renamed).
func (d *Device) save() error { return d.saveFile(true) }

// saveFile writes the state file; atomic renames a temporary file over the
// old one (a new file is written in place: there is nothing to lose).
func (d *Device) saveFile(atomic bool) error {
	p := d.statePath()
	if p == "" {
		return nil
	}
	d.saveMu.Lock()
	defer d.saveMu.Unlock()
	d.mu.Lock()
	st := state{MAC: d.mac, Key: d.key, ConfigVersion: d.version, Config: d.config, Executed: d.acks, Firmware: d.firmware}
	if d.job != nil && d.job.Phase != phaseDownloading {
		j := *d.job
		st.Upgrade = &j
	}
	b, err := json.Marshal(st)
	d.mu.Unlock()
	if err != nil {
		return err
	}
	if !atomic {
		return os.WriteFile(p, append(b, '\n'), 0o600)
	}
	tmp := p + ".tmp"
	if err := os.WriteFile(tmp, append(b, '\n'), 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, p)
}

// Keys returns the key of each device (MAC, any notation) as kept in
// stateDir, making a first-boot key (and its state file) for a device that
// has none yet: what a maker's factory would register in the cloud as the
// devices' credentials before they ship.
func Keys(stateDir string, macs []string) (map[string]string, error) {
	if stateDir == "" {
		return nil, errors.New("devicesim: keys need a state directory")
	}
	if err := ensureDir(stateDir); err != nil {
		return nil, fmt.Errorf("devicesim: state directory: %w", err)
	}
	f := &Fleet{cfg: Config{StateDir: stateDir}}
	out := make(map[string]string, len(macs))
	for _, m := range macs {
		mac, err := ParseMAC(m)
		if err != nil {
			return nil, fmt.Errorf("devicesim: %w", err)
		}
		d := newDevice(f, mac)
		if err := d.load(); err != nil {
			return nil, fmt.Errorf("devicesim: %s: %w", mac, err)
		}
		out[mac] = d.Key()
	}
	return out, nil
}
