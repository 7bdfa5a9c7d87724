// Package faults is the fault suite: its tests run the gatehouse binary as
// real processes (nodes, the device simulator) against PostgreSQL, SQLite
// and NATS, break them on purpose — kill -9 in the middle of a multi-step
// operation, flaky device links, a restarted database, a bus that is down, a
// full disk — and then check invariants over what was recorded: every
// operation whole or absent, nothing applied twice, every acknowledged write
// kept, audit entries matching effects.
//
// `make test` runs a short subset; `make faults` (GATEHOUSE_FAULTS=full)
// runs every scenario at full size. The package holds no code the app runs.
package faults
