package model

// Change is something a committed write changed that other parts of the
// system act on: the store's write methods declare it on their transaction,
// and the store hands a transaction's changes, after COMMIT, to the one
// subscriber the application layer registers (Store.OnCommit), which
// publishes them on the bus. A change is a typed fact, never SQL.
type Change interface {
	ChangeKind() string
}

// ChangeKindAutoP names AutoPChange on the bus.
const ChangeKindAutoP = "autop"

// AutoPChange: a write changed an input of the files the AutoP server serves
// (GET /autop/{MAC}.cfg): a device's row (MAC, installer, project, key
// binding, connect type) or its AutoP lists, an installer's settings the
// file is rendered with, a project's time zone, or a deletion of any of
// these. It names what it knows; All when the write cannot say which devices.
type AutoPChange struct {
	All          bool     `json:"all,omitempty"`
	DeviceIDs    []int64  `json:"device_ids,omitempty"`
	MACs         []string `json:"macs,omitempty"`
	InstallerIDs []int64  `json:"installer_ids,omitempty"`
	ProjectIDs   []int64  `json:"project_ids,omitempty"`
}

func (AutoPChange) ChangeKind() string { return ChangeKindAutoP }
