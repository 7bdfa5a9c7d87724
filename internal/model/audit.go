package model

import "time"

// AuditEntry records who did what to which object, when; OnBehalfOf is set
// when the actor worked inside another account (access without password).
type AuditEntry struct {
	ID         int64          `json:"id"`
	At         time.Time      `json:"at"`
	ActorID    int64          `json:"actor_id,omitempty"`
	Actor      string         `json:"actor"`
	AccountID  int64          `json:"account_id,omitempty"` // whose data it is
	Account    string         `json:"account,omitempty"`
	RealActor  string         `json:"real_actor,omitempty"`
	Action     string         `json:"action"`
	ObjectType string         `json:"object_type"`
	ObjectID   string         `json:"object_id"`
	Details    map[string]any `json:"details,omitempty"`
}

// AuditFilter selects audit entries.
type AuditFilter struct {
	Action     string
	ObjectType string
	ObjectID   string
	// FromAction, with ObjectType and ObjectID, keeps the entries from the
	// object's latest FromAction entry on: an object's page passes the
	// action that created it ("account.create"), so that entries about an
	// earlier object that had the same id stay off it. (Audit ids, unlike
	// clocks, follow the order things happened in.)
	FromAction string
	Page
}
