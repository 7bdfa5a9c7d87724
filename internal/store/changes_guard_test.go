package store_test

import (
	"context"
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/model"
	"github.com/gatehouse-dev/gatehouse/internal/store"
)

// autoPInputWrite matches a statement that may change a row an AutoP file is
// read from (autoPFrom): an UPDATE or DELETE of devices, accounts, projects
// or device_autop, an INSERT that replaces (OR REPLACE, ON CONFLICT … DO
// UPDATE) into them, or any INSERT into device_autop (its lists). A plain
// INSERT of a device, account or project adds a row no served file was
// read from.
var autoPInputWrite = regexp.MustCompile(`(?is)\bupdate\s+(devices|accounts|projects|device_autop)\b` +
	`|\bdelete\s+from\s+(devices|accounts|projects|device_autop)\b` +
	`|\binsert\s+or\s+replace\s+into\s+(devices|accounts|projects|device_autop)\b` +
	`|\binsert\s+into\s+(devices|accounts|projects)\b[^;]*\bon\s+conflict\b[^;]*\bdo\s+update\b` +
	`|\binsert\s+into\s+device_autop\b`)

// notAutoPChanges are the functions that write an AutoP input table without
// declaring a change, each with why no served file can change.
var notAutoPChanges = map[string]string{
	// Columns the file does not read.
	"createAccount":                "sets distributor_id/subdistributor_id of the account it just inserted",
	"SetSubdistributorSwitches":    "accounts.payment_enabled, pay_by_distributor",
	"setPasswordHash":              "accounts.password_hash, updated_at",
	"endCredentials":               "accounts.credential_epoch",
	"credentialsCurrent":           "accounts.credential_epoch = credential_epoch: a row lock, no change",
	"SetAccessWithoutPassword":     "accounts.access_without_password",
	"DeleteEndUser":                "devices.owner_id",
	"DeviceConnected":              "devices.online, ip, model, firmware, node, connected_at, last_seen (the gateway)",
	"DeviceReported":               "devices.ip, model, firmware, uptime, config_version, last_seen (the gateway)",
	"setModelFirmware":             "devices.model, firmware, only when the device reports others (the gateway)",
	"SetChildrenTwoFactorRequired": "accounts.require_2fa_children: sign-in only",
	"SetOwnEmail":                  "accounts.email: no AutoP file holds an account's address",
	"SetOwnLanguage":               "accounts.language: the portal's and e-mails' language; no AutoP file holds it",
	"DevicesSeen":                  "devices.last_seen",
	"DeviceDisconnected":           "devices.online, node, last_seen",
	"offlineChunks":                "devices.online, node (NodeOffline and StaleOffline)",
	"offlineWithEvents":            "devices.online, node (NodeOffline and StaleOffline with webhook events)",
	"AutoPFetched":                 "devices.autop_fetched_at (the AutoP server's own record of fetches)",
	"recomputeAvailabilityOf":      "devices.availability_7d (the lists' sort; no AutoP file reads it)",
	// Helpers whose callers declare.
	"lockAutoP": "creates empty lists (a file without lists reads the same); callers declare their own writes",
}

// Every store function that writes an input of the AutoP server's files
// declares the change on its transaction (tx.changed), or is listed in
// notAutoPChanges with the reason none of its writes changes a served file.
// The cache of every node trusts these declarations alone: a write that
// declares nothing is served stale until the cache's max age.
func TestWritesDeclareChanges(t *testing.T) {
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	writers := map[string]bool{}
	var missing []string
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, parser.SkipObjectResolution)
		if err != nil {
			t.Fatal(err)
		}
		for _, decl := range f.Decls {
			switch d := decl.(type) {
			case *ast.GenDecl:
				// A write kept in a package-level constant or variable
				// could be run by any function: not allowed.
				ast.Inspect(d, func(n ast.Node) bool {
					if lit, ok := n.(*ast.BasicLit); ok && writesAutoPInput(lit) {
						t.Errorf("%s: a write to an AutoP input outside a function; write it in the function that declares its change",
							fset.Position(lit.Pos()))
					}
					return true
				})
			case *ast.FuncDecl:
				if d.Body == nil {
					continue
				}
				writes, declares := false, false
				ast.Inspect(d.Body, func(n ast.Node) bool {
					switch n := n.(type) {
					case *ast.BasicLit:
						writes = writes || writesAutoPInput(n)
					case *ast.CallExpr:
						if sel, ok := n.Fun.(*ast.SelectorExpr); ok && sel.Sel.Name == "changed" {
							declares = true
						}
					}
					return true
				})
				name := d.Name.Name
				if !writes {
					continue
				}
				writers[name] = true
				if _, ok := notAutoPChanges[name]; declares && ok {
					t.Errorf("%s declares a change yet is listed in notAutoPChanges: take it off the list", name)
				}
				if !declares && notAutoPChanges[name] == "" {
					missing = append(missing, name+" ("+fset.Position(d.Pos()).String()+")")
				}
			}
		}
	}
	sort.Strings(missing)
	for _, m := range missing {
		t.Errorf("%s writes an input of the AutoP files but declares no change: call tx.changed(model.AutoPChange{…}) "+
			"beside the write, or list it in notAutoPChanges with the reason no served file changes", m)
	}
	for name := range notAutoPChanges {
		if !writers[name] {
			t.Errorf("notAutoPChanges lists %s, which writes no AutoP input (any more): take it off the list", name)
		}
	}
}

func writesAutoPInput(lit *ast.BasicLit) bool {
	if lit.Kind != token.STRING {
		return false
	}
	s, err := strconv.Unquote(lit.Value)
	if err != nil {
		return false
	}
	return autoPInputWrite.MatchString(s)
}

func init() {
	// Plumbing of change events and the AutoP cache: no actor, no rows.
	for _, m := range []string{"OnCommit", "DropAutoPCache", "CacheAutoPWhile", "AutoPCacheHits"} {
		coveredElsewhere[m] = "plumbing (TestWritesDeclareChanges, TestAutoPCacheFollowsWrites)"
	}
}

// The subscriber hears a transaction's changes once it committed (what it
// reads then is the new state), and never those of a transaction that
// rolled back.
func TestOnCommitAfterCommitOnly(t *testing.T) {
	eachBackend(t, func(t *testing.T, st *store.Store) {
		tr := mustTree(t, st)
		mac := tr.a1.device.MAC
		var heard []model.Change
		var seen string
		st.OnCommit(func(ctx context.Context, changes []model.Change) {
			heard = append(heard, changes...)
			if sv, err := st.AutoPServe(sys, mac); err == nil {
				seen = string(sv.File.Body)
			}
		})
		defer st.OnCommit(func(context.Context, []model.Change) {})
		line := "Config.DoorSetting.RELAY.HoldDelayA = 7"
		if _, err := st.SetDeviceAutoP(as(tr.subA1), mac, []string{line}, nil); err != nil {
			t.Fatal(err)
		}
		if len(heard) != 1 {
			t.Fatalf("one save: heard %v", heard)
		}
		if c, ok := heard[0].(model.AutoPChange); !ok || len(c.MACs) != 1 || c.MACs[0] != mac {
			t.Errorf("the change names the device: %#v", heard[0])
		}
		if !strings.Contains(seen, line) {
			t.Errorf("the subscriber ran before the commit: it read\n%s", seen)
		}
		// Refused inside the transaction (another sub-distributor's
		// device): rolled back, nothing heard.
		heard = nil
		if _, err := st.SetDeviceAutoP(as(tr.subA1), tr.b.device.MAC, []string{line}, nil); model.ErrorCode(err) != model.ENOTFOUND {
			t.Fatalf("foreign device: %v", err)
		}
		// Unchanged lists: no change declared.
		if _, err := st.SetDeviceAutoP(as(tr.subA1), mac, []string{line}, nil); err != nil {
			t.Fatal(err)
		}
		if len(heard) != 0 {
			t.Errorf("heard %v from writes that changed nothing", heard)
		}
	})
}
