package usecase

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/bus"
	"github.com/gatehouse-dev/gatehouse/internal/gateway"
	"github.com/gatehouse-dev/gatehouse/internal/model"
	"github.com/gatehouse-dev/gatehouse/internal/store"
)

// The devices module's fixtures: two sub-distributors, each with an
// installer, a community and a device, and a gateway whose messages to the
// nodes (kick, deleted, revoked) are recorded.

var deviceSys = model.WithActor(context.Background(), model.System)

func deviceAs(a *model.Account) context.Context {
	return model.WithActor(context.Background(), model.ActorOf(a))
}

// deviceBranch is one sub-distributor's part of the tree.
type deviceBranch struct {
	sub, installer *model.Account
	project        *model.Project
	device         *model.Device
}

// deviceTree is admin → dist → (sub "own" → installer, sub "other" → installer).
type deviceTree struct {
	own, other deviceBranch
}

func deviceAccount(t *testing.T, st *store.Store, role model.Role, name string, parent *model.Account) *model.Account {
	t.Helper()
	a := &model.Account{Role: role, Username: name, Email: name + "@example.com"}
	if parent != nil {
		a.ParentID = parent.ID
	}
	if err := st.CreateAccount(deviceSys, a, "x"); err != nil {
		t.Fatalf("create %s: %v", name, err)
	}
	return a
}

func newDeviceTree(t *testing.T, st *store.Store) *deviceTree {
	t.Helper()
	admin := deviceAccount(t, st, model.RoleAdmin, "root", nil)
	dist := deviceAccount(t, st, model.RoleDistributor, "dist", admin)
	branch := func(name string, n int) deviceBranch {
		b := deviceBranch{sub: deviceAccount(t, st, model.RoleSubdistributor, "sub-"+name, dist)}
		b.installer = deviceAccount(t, st, model.RoleInstaller, "inst-"+name, b.sub)
		b.project = &model.Project{Kind: model.ProjectCommunity, Name: name + " Gardens"}
		if err := st.CreateProject(deviceAs(b.installer), b.project); err != nil {
			t.Fatal(err)
		}
		b.device = &model.Device{MAC: fmt.Sprintf("0C110500000%d", n), ProjectID: b.project.ID, Type: model.DoorPhone, Name: "Gate " + name}
		if err := st.CreateDevice(deviceAs(b.installer), b.device); err != nil {
			t.Fatal(err)
		}
		return b
	}
	return &deviceTree{own: branch("own", 1), other: branch("other", 2)}
}

// deviceMore adds n devices to b's community in one statement, and returns
// their MACs.
func deviceMore(t *testing.T, st *store.Store, b deviceBranch, n int) []string {
	t.Helper()
	id, err := st.MaxID(deviceSys, "devices")
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC()
	var rows [][]any
	var macs []string
	for i := 0; i < n; i++ {
		id++
		mac := fmt.Sprintf("0CAB%08X", id)
		macs = append(macs, mac)
		rows = append(rows, []any{id, mac, b.installer.ID, b.project.ID, string(model.IndoorMonitor), fmt.Sprintf("Batch %d", i), now,
			string(model.ProjectCommunity), b.sub.ParentID, b.sub.ID})
	}
	if err := st.BulkInsert(deviceSys, "devices", []string{"id", "mac", "installer_id", "project_id", "type", "name", "created_at",
		"project_kind", "distributor_id", "subdistributor_id"}, rows); err != nil {
		t.Fatal(err)
	}
	return macs
}

// deviceCount counts the rows of a table (a fixed query: no arguments to
// spell per back end).
func deviceCount(t *testing.T, st *store.Store, table string) int {
	t.Helper()
	var n int
	if err := st.DB().QueryRow(`SELECT count(*) FROM ` + table).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// deviceNodes records what the gateway told the nodes, by subject.
type deviceNodes struct {
	mu  sync.Mutex
	got map[string][][]string
}

// The gateway's bus subjects (internal/gateway) this module's use cases
// publish on.
const (
	deviceSubjectKick    = "gatehouse.device.kick"
	deviceSubjectDeleted = "gatehouse.device.deleted"
	deviceSubjectRevoked = "gatehouse.device.revoked"
)

// withDeviceGateway gives the use cases a gateway on an in-process bus
// and records every message it publishes.
func withDeviceGateway(t *testing.T, nodes *deviceNodes) func(*Deps) {
	return func(d *Deps) {
		b := bus.NewLocal()
		nodes.got = map[string][][]string{}
		for _, subject := range []string{deviceSubjectKick, deviceSubjectDeleted, deviceSubjectRevoked} {
			if _, err := b.Subscribe(subject, func(data []byte) {
				var macs []string
				if err := json.Unmarshal(data, &macs); err != nil {
					t.Errorf("%s: %v", subject, err)
				}
				nodes.mu.Lock()
				nodes.got[subject] = append(nodes.got[subject], macs)
				nodes.mu.Unlock()
			}); err != nil {
				t.Fatal(err)
			}
		}
		g := gateway.New(d.Store, b, nil, gateway.Options{Node: "test"})
		t.Cleanup(func() { g.Close() })
		d.Bus, d.Gateway = b, g
	}
}

// take returns and forgets the messages published on subject.
func (n *deviceNodes) take(subject string) [][]string {
	n.mu.Lock()
	defer n.mu.Unlock()
	out := n.got[subject]
	delete(n.got, subject)
	return out
}

// none fails the test when anything was published.
func (n *deviceNodes) none(t *testing.T, when string) {
	t.Helper()
	n.mu.Lock()
	defer n.mu.Unlock()
	for subject, msgs := range n.got {
		if len(msgs) > 0 {
			t.Errorf("%s: the nodes were told %s %v", when, subject, msgs)
		}
	}
}
