package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/auth"
	"github.com/gatehouse-dev/gatehouse/internal/model"
	"github.com/gatehouse-dev/gatehouse/internal/store"
	"github.com/gatehouse-dev/gatehouse/internal/testutil"
	"github.com/gatehouse-dev/gatehouse/internal/usecase"
)

// TestResetPasswordEndsCredentials: `gatehouse admin reset-password` ends
// every session and API token of the account, and every session of it
// acting in an installer, on both back ends.
func TestResetPasswordEndsCredentials(t *testing.T) {
	backends := map[string]dbFlags{"sqlite": {data: t.TempDir()}}
	if os.Getenv(testutil.PostgresEnv) != "" {
		backends["postgres"] = dbFlags{db: testutil.PostgresDSN(t), data: t.TempDir()}
	} else {
		testutil.Backends(t)
	}
	for name, d := range backends {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			admin := func(args ...string) string {
				t.Helper()
				args = append([]string{"admin"}, args...)
				if d.db != "" {
					args = append(args, "--db", d.db)
				}
				out, err := runCmd(t, env(nil), append(args, "--data", d.data)...)
				if err != nil {
					t.Fatalf("%v: %v\n%s", args, err, out)
				}
				return strings.TrimSpace(out)
			}
			admin("create-account", "--role", "admin", "--username", "root", "--password", "root-password")
			admin("create-account", "--role", "distributor", "--username", "dist", "--parent", "root", "--password", "dist-password")
			admin("create-account", "--role", "subdistributor", "--username", "sub", "--parent", "dist", "--password", "sub-password")
			admin("create-account", "--role", "installer", "--username", "inst", "--parent", "sub", "--password", "inst-password")
			subToken := admin("create-token", "--username", "sub", "--name", "ci")
			instToken := admin("create-token", "--username", "inst", "--name", "ci")

			st, err := openStore(ctx, d)
			if err != nil {
				t.Fatal(err)
			}
			defer st.Close()
			svc := &auth.Service{Store: st, Config: auth.DefaultConfig}
			subSession, _, sub, err := svc.Login(ctx, "sub", "sub-password", "192.0.2.1", "test")
			if err != nil {
				t.Fatal(err)
			}
			instSession, _, inst, err := svc.Login(ctx, "inst", "inst-password", "192.0.2.1", "test")
			if err != nil {
				t.Fatal(err)
			}
			if err := st.SetAccessWithoutPassword(model.WithActor(ctx, model.ActorOf(inst)), true); err != nil {
				t.Fatal(err)
			}
			actingSession, _, err := usecase.New(usecase.Deps{Store: st}).StartActing(model.WithActor(ctx, model.ActorOf(sub)), usecase.ActingStart{InstallerID: inst.ID, IP: "192.0.2.1", UserAgent: "test"})
			if err != nil {
				t.Fatal(err)
			}
			works := func(tok string) bool {
				_, err := svc.Authenticate(ctx, tok)
				return err == nil
			}
			for _, tok := range []string{subToken, instToken, subSession, instSession, actingSession} {
				if !works(tok) {
					t.Fatalf("%.8s… refused before any reset", tok)
				}
			}

			admin("reset-password", "--username", "inst", "--password", "inst-password-2")
			for kind, tok := range map[string]string{"API token": instToken, "session": instSession, "acting session": actingSession} {
				if works(tok) {
					t.Errorf("the installer's %s works after its reset-password", kind)
				}
			}
			if !works(subToken) || !works(subSession) {
				t.Error("the installer's reset ended the sub-distributor's credentials")
			}

			actingSession, _, err = usecase.New(usecase.Deps{Store: st}).StartActing(model.WithActor(ctx, model.ActorOf(sub)), usecase.ActingStart{InstallerID: inst.ID, IP: "192.0.2.1", UserAgent: "test"})
			if err != nil {
				t.Fatal(err)
			}
			admin("reset-password", "--username", "sub", "--password", "sub-password-2")
			for kind, tok := range map[string]string{"API token": subToken, "session": subSession, "acting session": actingSession} {
				if works(tok) {
					t.Errorf("the sub-distributor's %s works after its reset-password", kind)
				}
			}
		})
	}
}

// TestAdminEnrollKeys: `gatehouse admin enroll-keys` accepts a maker's keys
// for devices without one, leaves a device's accepted key alone, and refuses
// a malformed file naming the line, changing nothing.
func TestAdminEnrollKeys(t *testing.T) {
	d := dbFlags{data: t.TempDir()}
	if out, err := runCmd(t, env(nil), "demo", "--data", d.data, "--password", "demo-password-1", "--devices", "30", "--users", "30"); err != nil {
		t.Fatalf("demo: %v\n%s", err, out)
	}
	ctx := context.Background()
	st, err := openStore(ctx, d)
	if err != nil {
		t.Fatal(err)
	}
	var macs []string
	rows, err := st.DB().QueryContext(ctx, `SELECT mac FROM devices WHERE key_hash = '' ORDER BY id LIMIT 2`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var m string
		rows.Scan(&m)
		macs = append(macs, m)
	}
	rows.Close()
	st.Close()
	if len(macs) != 2 {
		t.Fatalf("the demo has %d devices without a key, want 2", len(macs))
	}
	keyA, keyB := strings.Repeat("a", 32), strings.Repeat("b", 40)
	file := filepath.Join(t.TempDir(), "keys.txt")
	write := func(s string) {
		if err := os.WriteFile(file, []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	hashOf := func(mac string) string {
		st, err := openStore(ctx, d)
		if err != nil {
			t.Fatal(err)
		}
		defer st.Close()
		var h string
		if err := st.DB().QueryRowContext(ctx, `SELECT key_hash FROM devices WHERE mac = '`+mac+`'`).Scan(&h); err != nil {
			t.Fatal(err)
		}
		return h
	}

	write("# from the factory\n" + macs[0] + " " + keyA + "\n0C1105FFFFFF," + keyA + "\n")
	out, err := runCmd(t, env(nil), "admin", "enroll-keys", "--data", d.data, "--file", file)
	if err != nil || !strings.Contains(out, "1 keys accepted; 1 devices were unknown or had a key already") {
		t.Fatalf("enroll-keys: %v\n%s", err, out)
	}
	if hashOf(macs[0]) != store.DeviceKeyHash(keyA) {
		t.Error("the key was not accepted")
	}

	// A second file cannot replace an accepted key.
	write(macs[0] + "\t" + keyB + "\n")
	if out, err := runCmd(t, env(nil), "admin", "enroll-keys", "--data", d.data, "--file", file); err != nil || !strings.Contains(out, "0 keys accepted") {
		t.Fatalf("enroll-keys again: %v\n%s", err, out)
	}
	if hashOf(macs[0]) != store.DeviceKeyHash(keyA) {
		t.Error("an accepted key was replaced")
	}

	// Bad files change nothing and name the line.
	for _, bad := range []struct{ file, want string }{
		{macs[1] + " " + keyB + "\nnot-a-mac " + keyB + "\n", "line 2: want a MAC and a key"},
		{macs[1] + " " + keyB + "\n" + macs[1] + " " + keyA + "\n", "line 2: " + macs[1] + " is repeated"},
		{macs[1] + " short\n", "must be 32 to 128 characters"},
	} {
		write(bad.file)
		out, err := runCmd(t, env(nil), "admin", "enroll-keys", "--data", d.data, "--file", file)
		if err == nil || !strings.Contains(out+err.Error(), bad.want) {
			t.Errorf("file %q: %v\n%s; want %q", bad.file, err, out, bad.want)
		}
		if hashOf(macs[1]) != "" {
			t.Fatalf("file %q enrolled a key", bad.file)
		}
	}
}
