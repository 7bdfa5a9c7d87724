package main

import (
	"context"
	"os"
	"strings"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/auth"
	"github.com/gatehouse-dev/gatehouse/internal/model"
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
