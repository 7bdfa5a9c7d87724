package model

import "time"

// CommandKind is what a device is told to do (docs/device-protocol.md).
type CommandKind string

const (
	CommandReboot CommandKind = "reboot"
	CommandReset  CommandKind = "reset" // Mode factory | config
	CommandAutoP  CommandKind = "autop" // fetch your config now
)

// CommandStatus follows queued → sent → done | failed | expired.
type CommandStatus string

const (
	CommandQueued  CommandStatus = "queued"
	CommandSent    CommandStatus = "sent"
	CommandDone    CommandStatus = "done"
	CommandFailed  CommandStatus = "failed"
	CommandExpired CommandStatus = "expired"
)

// Reset modes.
const (
	ResetFactory = "factory"
	ResetConfig  = "config"
)

// DeviceCommand is one command for one device. Its ID is what the device
// deduplicates on: delivery is at least once, execution once per ID.
type DeviceCommand struct {
	ID        int64         `json:"id"`
	MAC       string        `json:"mac"`
	Kind      CommandKind   `json:"kind"`
	Mode      string        `json:"mode,omitempty"`
	Status    CommandStatus `json:"status"`
	BatchID   int64         `json:"batch_id,omitempty"`
	CreatedBy string        `json:"created_by,omitempty"`
	Created   time.Time     `json:"created_at"`
	Sent      *time.Time    `json:"sent_at"`
	Finished  *time.Time    `json:"finished_at"`
	Expires   time.Time     `json:"expires_at"`
	Attempts  int           `json:"attempts"`
	Error     string        `json:"error,omitempty"`
	Version   string        `json:"version,omitempty"` // config version acknowledged, for autop
}

// DeviceAutoP is a device's kept AutoP commands, one normalised command a line.
type DeviceAutoP struct {
	MAC     string     `json:"mac"`
	Regular []string   `json:"regular"`
	Once    []string   `json:"once"`
	Updated *time.Time `json:"updated_at"`
	// ConnectType is the device's own data transmission type (udp, tcp,
	// tls), over its installer's Connect Type; "" follows the installer's.
	ConnectType string `json:"connect_type"`
}

// AutoP types of a batch.
const (
	AutoPRegular = "regular"
	AutoPOnce    = "once"
)

// MaxAutoPBatch is the guide's limit of devices in one Batch AutoP.
const MaxAutoPBatch = 500

// AutoPBatch is one Batch AutoP request and its progress.
type AutoPBatch struct {
	ID       int64     `json:"id"`
	Scope    string    `json:"scope"` // community | office | personal
	Type     string    `json:"type"`  // regular | once
	Commands []string  `json:"commands"`
	Devices  int       `json:"devices"`
	Created  time.Time `json:"created_at"`
	// Progress: how many of its devices are at each step.
	Queued  int              `json:"queued"`  // offline: told when it connects
	Sent    int              `json:"sent"`    // told to fetch
	Fetched int              `json:"fetched"` // fetched its file since the batch
	Done    int              `json:"done"`    // acknowledged the new config
	Failed  int              `json:"failed"`  // reported an error
	Expired int              `json:"expired"` // never came online in time
	Items   []AutoPBatchItem `json:"items,omitempty"`
}

// AutoPBatchItem is one device of a batch.
type AutoPBatchItem struct {
	MAC     string        `json:"mac"`
	Name    string        `json:"name"`
	Status  CommandStatus `json:"status"`
	Fetched bool          `json:"fetched"`
	Version string        `json:"version,omitempty"`
	Error   string        `json:"error,omitempty"`
}

// RemoteSession is a Remote Control session: a short-lived token bound to
// the account that opened it. The token itself is shown once, as URL.
type RemoteSession struct {
	MAC       string    `json:"mac"`
	AccountID int64     `json:"account_id"`
	URL       string    `json:"url"`
	Created   time.Time `json:"created_at"`
	Expires   time.Time `json:"expires_at"`
	// Handoff is the single-use code in URL when Remote Control is served
	// on a separate origin (the link's first use claims the session).
	Handoff string `json:"-"`
}

// DeviceHello is what a device reports when it connects and in its status
// messages (docs/device-protocol.md).
type DeviceHello struct {
	Model         string `json:"model"`
	Firmware      string `json:"firmware"`
	IP            string `json:"ip"`
	Uptime        int64  `json:"uptime"`
	ConfigVersion string `json:"config_version"`
}
