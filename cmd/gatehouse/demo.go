package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/demo"
	"github.com/gatehouse-dev/gatehouse/internal/model"
)

func runDemo(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := newFlagSet("demo", stderr, "demo --password P [flags]\n\nFills an empty database with demo data and prints the logins.")
	var d dbFlags
	d.register(fs, getenv)
	password := fs.String("password", getenv("GATEHOUSE_DEMO_PASSWORD"), "password of every demo account (required) (env GATEHOUSE_DEMO_PASSWORD)")
	users := fs.Int("users", demo.DefaultUsers, "about this many end users")
	devices := fs.Int("devices", demo.DefaultDevices, "about this many devices")
	seed := fs.Uint64("seed", 1, "random seed: the same seed gives the same data")
	ifEmpty := fs.Bool("if-empty", false, "do nothing, successfully, when the database is not empty (for make run)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	var v model.Validator
	model.ValidatePassword(&v, "password", *password)
	v.Check(*users >= 1 && *users <= 10_000_000, "users", "must be from 1 to 10,000,000")
	v.Check(*devices >= 1 && *devices <= 10_000_000, "devices", "must be from 1 to 10,000,000")
	if err := v.Err(); err != nil {
		return describe(err)
	}
	st, err := openStore(ctx, d)
	if err != nil {
		return err
	}
	defer st.Close()
	start := time.Now()
	res, err := demo.Load(ctx, st, demo.Options{Password: *password, Users: *users, Devices: *devices, Seed: *seed}, stdout)
	if model.ErrorCode(err) == model.ECONFLICT && *ifEmpty {
		fmt.Fprintln(stdout, "The database already has data: demo data not loaded.")
		return nil
	} else if model.ErrorCode(err) == model.ECONFLICT {
		return errors.New(model.ErrorMessage(err))
	} else if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "Demo data loaded in %s: %d accounts, %d projects, %d end users, %d devices, %d cameras, %d firmware entries.\n",
		time.Since(start).Round(time.Millisecond), res.Accounts, res.Projects, res.EndUsers, res.Devices, res.ThirdParty, res.Firmware)
	fmt.Fprintf(stdout, "\nLog in with password %q as:\n", *password)
	for _, l := range [][2]string{
		{demo.AdminUser, "admin: distributors, firmware"},
		{demo.DistributorUser, "distributor: sub-distributors and their payment switches"},
		{demo.SubdistributorUser, "sub-distributor: the 8 modules of the guide (payment feature on)"},
		{demo.InstallerUser, "installer under demo-subdistributor"},
	} {
		fmt.Fprintf(stdout, "  %-22s %s\n", l[0], l[1])
	}
	fmt.Fprintln(stdout, "  (every other account listed by 'gatehouse admin list-accounts' has the same password)")
	return nil
}
